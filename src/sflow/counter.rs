//! Counter records: what a counter sample reports about one data source.
//!
//! Most counter blocks are fixed sequences of 32- and 64-bit counters, so they are declared
//! once in a table (`counter_block!`) that generates a plain struct with one field per
//! counter, its parser, and a name/value list (the spec's field names) for printers. The
//! variable ones (port name, host description, host adapters) borrow their strings and lists
//! from the datagram. Nothing here allocates; unknown records come back as
//! [`CounterRecord::Unknown`] with their tag and bytes.

use std::fmt;

use super::datagram::Tag;
use super::error::{DecodeError, Structure};
use super::xdr::{u32_at, Reader};

/// Counter record formats of enterprise 0.
pub mod format {
    pub const GENERIC_INTERFACE: u32 = 1;
    pub const ETHERNET: u32 = 2;
    pub const VLAN: u32 = 5;
    pub const LACP: u32 = 7;
    pub const PROCESSOR: u32 = 1001;
    pub const OPENFLOW_PORT: u32 = 1004;
    pub const PORT_NAME: u32 = 1005;
    pub const HOST_DESCRIPTION: u32 = 2000;
    pub const HOST_ADAPTERS: u32 = 2001;
    pub const HOST_PARENT: u32 = 2002;
    pub const HOST_CPU: u32 = 2003;
    pub const HOST_MEMORY: u32 = 2004;
    pub const HOST_DISK_IO: u32 = 2005;
    pub const HOST_NET_IO: u32 = 2006;
    pub const MIB2_IP: u32 = 2007;
    pub const MIB2_ICMP: u32 = 2008;
    pub const MIB2_TCP: u32 = 2009;
    pub const MIB2_UDP: u32 = 2010;
}

/// Whether this decoder has a typed view for a counter record tag.
pub const fn is_known(tag: Tag) -> bool {
    use format::*;
    tag.enterprise() == 0
        && matches!(
            tag.format(),
            GENERIC_INTERFACE
                | ETHERNET
                | VLAN
                | LACP
                | PROCESSOR
                | OPENFLOW_PORT
                | PORT_NAME
                | HOST_DESCRIPTION..=MIB2_UDP
        )
}

/// One counter value, for printers that walk a block's fields by name.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CounterValue {
    Int(u64),
    Float(f32),
    Mac([u8; 6]),
}

impl fmt::Display for CounterValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CounterValue::Int(v) => write!(f, "{v}"),
            CounterValue::Float(v) => write!(f, "{v}"),
            CounterValue::Mac(m) => write!(
                f,
                "{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
                m[0], m[1], m[2], m[3], m[4], m[5]
            ),
        }
    }
}

/// The XDR types a counter block is made of.
trait Field: Sized {
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError>;
    fn value(self) -> CounterValue;
}

impl Field for u32 {
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.u32()
    }
    fn value(self) -> CounterValue {
        CounterValue::Int(u64::from(self))
    }
}

impl Field for u64 {
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.u64()
    }
    fn value(self) -> CounterValue {
        CounterValue::Int(self)
    }
}

impl Field for f32 {
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.u32().map(f32::from_bits)
    }
    fn value(self) -> CounterValue {
        CounterValue::Float(self)
    }
}

impl Field for [u8; 6] {
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.mac()
    }
    fn value(self) -> CounterValue {
        CounterValue::Mac(self)
    }
}

/// Declares a fixed-layout counter block: the struct (fields in wire order), `parse`, and
/// `fields()` giving (spec name, value) pairs in wire order.
macro_rules! counter_block {
    ($(#[$meta:meta])* $name:ident {
        $($(#[$fmeta:meta])* $field:ident : $ty:ty => $spec:literal),* $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl $name {
            /// Parse the block; bytes after the known fields (later revisions) are ignored.
            pub fn parse(data: &[u8]) -> Result<$name, DecodeError> {
                let mut r = Reader::new(data, Structure::Record);
                Ok($name { $($field: <$ty as Field>::read(&mut r)?,)* })
            }

            /// (spec field name, value) in wire order.
            pub fn fields(&self) -> impl Iterator<Item = (&'static str, CounterValue)> {
                [$(($spec, Field::value(self.$field))),*].into_iter()
            }
        }
    };
}

counter_block! {
    /// Generic interface counters (format 1, RFC 2233 ifTable).
    GenericInterface {
        if_index: u32 => "ifIndex",
        if_type: u32 => "ifType",
        if_speed: u64 => "ifSpeed",
        /// 0 unknown, 1 full duplex, 2 half duplex, 3 in, 4 out.
        if_direction: u32 => "ifDirection",
        /// Bit 0 admin up, bit 1 operational up.
        if_status: u32 => "ifStatus",
        if_in_octets: u64 => "ifInOctets",
        if_in_ucast_pkts: u32 => "ifInUcastPkts",
        if_in_multicast_pkts: u32 => "ifInMulticastPkts",
        if_in_broadcast_pkts: u32 => "ifInBroadcastPkts",
        if_in_discards: u32 => "ifInDiscards",
        if_in_errors: u32 => "ifInErrors",
        if_in_unknown_protos: u32 => "ifInUnknownProtos",
        if_out_octets: u64 => "ifOutOctets",
        if_out_ucast_pkts: u32 => "ifOutUcastPkts",
        if_out_multicast_pkts: u32 => "ifOutMulticastPkts",
        if_out_broadcast_pkts: u32 => "ifOutBroadcastPkts",
        if_out_discards: u32 => "ifOutDiscards",
        if_out_errors: u32 => "ifOutErrors",
        if_promiscuous_mode: u32 => "ifPromiscuousMode",
    }
}

counter_block! {
    /// Ethernet interface counters (format 2, RFC 2358 dot3StatsTable).
    EthernetCounters {
        alignment_errors: u32 => "dot3StatsAlignmentErrors",
        fcs_errors: u32 => "dot3StatsFCSErrors",
        single_collision_frames: u32 => "dot3StatsSingleCollisionFrames",
        multiple_collision_frames: u32 => "dot3StatsMultipleCollisionFrames",
        sqe_test_errors: u32 => "dot3StatsSQETestErrors",
        deferred_transmissions: u32 => "dot3StatsDeferredTransmissions",
        late_collisions: u32 => "dot3StatsLateCollisions",
        excessive_collisions: u32 => "dot3StatsExcessiveCollisions",
        internal_mac_transmit_errors: u32 => "dot3StatsInternalMacTransmitErrors",
        carrier_sense_errors: u32 => "dot3StatsCarrierSenseErrors",
        frame_too_longs: u32 => "dot3StatsFrameTooLongs",
        internal_mac_receive_errors: u32 => "dot3StatsInternalMacReceiveErrors",
        symbol_errors: u32 => "dot3StatsSymbolErrors",
    }
}

counter_block! {
    /// VLAN counters (format 5).
    VlanCounters {
        vlan_id: u32 => "vlan_id",
        octets: u64 => "octets",
        ucast_pkts: u32 => "ucastPkts",
        multicast_pkts: u32 => "multicastPkts",
        broadcast_pkts: u32 => "broadcastPkts",
        discards: u32 => "discards",
    }
}

counter_block! {
    /// LACP counters (format 7, IEEE 802.1AX).
    LacpCounters {
        actor_system_id: [u8; 6] => "actorSystemID",
        partner_system_id: [u8; 6] => "partnerSystemID",
        attached_agg_id: u32 => "attachedAggID",
        /// Actor admin, actor oper, partner admin, partner oper state, one byte each.
        port_state: u32 => "portState",
        lacpdus_rx: u32 => "LACPDUsRx",
        marker_pdus_rx: u32 => "markerPDUsRx",
        marker_response_pdus_rx: u32 => "markerResponsePDUsRx",
        unknown_rx: u32 => "unknownRx",
        illegal_rx: u32 => "illegalRx",
        lacpdus_tx: u32 => "LACPDUsTx",
        marker_pdus_tx: u32 => "markerPDUsTx",
        marker_response_pdus_tx: u32 => "markerResponsePDUsTx",
    }
}

counter_block! {
    /// Processor counters (format 1001); CPU loads in hundredths of a percent.
    ProcessorCounters {
        cpu_5s: u32 => "5s_cpu",
        cpu_1m: u32 => "1m_cpu",
        cpu_5m: u32 => "5m_cpu",
        total_memory: u64 => "total_memory",
        free_memory: u64 => "free_memory",
    }
}

counter_block! {
    /// OpenFlow port (format 1004).
    OpenFlowPort {
        datapath_id: u64 => "datapath_id",
        port_no: u32 => "port_no",
    }
}

counter_block! {
    /// Host parent (format 2002): the container this host runs in.
    HostParent {
        container_type: u32 => "container_type",
        container_index: u32 => "container_index",
    }
}

counter_block! {
    /// Host CPU (format 2003).
    HostCpu {
        load_one: f32 => "load_one",
        load_five: f32 => "load_five",
        load_fifteen: f32 => "load_fifteen",
        proc_run: u32 => "proc_run",
        proc_total: u32 => "proc_total",
        cpu_num: u32 => "cpu_num",
        cpu_speed: u32 => "cpu_speed",
        uptime: u32 => "uptime",
        cpu_user: u32 => "cpu_user",
        cpu_nice: u32 => "cpu_nice",
        cpu_system: u32 => "cpu_system",
        cpu_idle: u32 => "cpu_idle",
        cpu_wio: u32 => "cpu_wio",
        cpu_intr: u32 => "cpu_intr",
        cpu_sintr: u32 => "cpu_sintr",
        interrupts: u32 => "interrupts",
        contexts: u32 => "contexts",
    }
}

counter_block! {
    /// Host memory (format 2004), in bytes.
    HostMemory {
        mem_total: u64 => "mem_total",
        mem_free: u64 => "mem_free",
        mem_shared: u64 => "mem_shared",
        mem_buffers: u64 => "mem_buffers",
        mem_cached: u64 => "mem_cached",
        swap_total: u64 => "swap_total",
        swap_free: u64 => "swap_free",
        page_in: u32 => "page_in",
        page_out: u32 => "page_out",
        swap_in: u32 => "swap_in",
        swap_out: u32 => "swap_out",
    }
}

counter_block! {
    /// Host disk I/O (format 2005).
    HostDiskIo {
        disk_total: u64 => "disk_total",
        disk_free: u64 => "disk_free",
        part_max_used: u32 => "part_max_used",
        reads: u32 => "reads",
        bytes_read: u64 => "bytes_read",
        read_time: u32 => "read_time",
        writes: u32 => "writes",
        bytes_written: u64 => "bytes_written",
        write_time: u32 => "write_time",
    }
}

counter_block! {
    /// Host network I/O (format 2006).
    HostNetIo {
        bytes_in: u64 => "bytes_in",
        pkts_in: u32 => "pkts_in",
        errs_in: u32 => "errs_in",
        drops_in: u32 => "drops_in",
        bytes_out: u64 => "bytes_out",
        pkts_out: u32 => "pkts_out",
        errs_out: u32 => "errs_out",
        drops_out: u32 => "drops_out",
    }
}

counter_block! {
    /// MIB-II IP group (format 2007).
    Mib2Ip {
        ip_forwarding: u32 => "ipForwarding",
        ip_default_ttl: u32 => "ipDefaultTTL",
        ip_in_receives: u32 => "ipInReceives",
        ip_in_hdr_errors: u32 => "ipInHdrErrors",
        ip_in_addr_errors: u32 => "ipInAddrErrors",
        ip_forw_datagrams: u32 => "ipForwDatagrams",
        ip_in_unknown_protos: u32 => "ipInUnknownProtos",
        ip_in_discards: u32 => "ipInDiscards",
        ip_in_delivers: u32 => "ipInDelivers",
        ip_out_requests: u32 => "ipOutRequests",
        ip_out_discards: u32 => "ipOutDiscards",
        ip_out_no_routes: u32 => "ipOutNoRoutes",
        ip_reasm_timeout: u32 => "ipReasmTimeout",
        ip_reasm_reqds: u32 => "ipReasmReqds",
        ip_reasm_oks: u32 => "ipReasmOKs",
        ip_reasm_fails: u32 => "ipReasmFails",
        ip_frag_oks: u32 => "ipFragOKs",
        ip_frag_fails: u32 => "ipFragFails",
        ip_frag_creates: u32 => "ipFragCreates",
    }
}

counter_block! {
    /// MIB-II ICMP group (format 2008), in the sFlow host structure's order.
    Mib2Icmp {
        in_msgs: u32 => "icmpInMsgs",
        in_errors: u32 => "icmpInErrors",
        in_dest_unreachs: u32 => "icmpInDestUnreachs",
        in_time_excds: u32 => "icmpInTimeExcds",
        in_param_probs: u32 => "icmpInParamProbs",
        in_src_quenchs: u32 => "icmpInSrcQuenchs",
        in_redirects: u32 => "icmpInRedirects",
        in_echos: u32 => "icmpInEchos",
        in_echo_reps: u32 => "icmpInEchoReps",
        in_timestamps: u32 => "icmpInTimestamps",
        in_addr_masks: u32 => "icmpInAddrMasks",
        in_addr_mask_reps: u32 => "icmpInAddrMaskReps",
        out_msgs: u32 => "icmpOutMsgs",
        out_errors: u32 => "icmpOutErrors",
        out_dest_unreachs: u32 => "icmpOutDestUnreachs",
        out_time_excds: u32 => "icmpOutTimeExcds",
        out_param_probs: u32 => "icmpOutParamProbs",
        out_src_quenchs: u32 => "icmpOutSrcQuenchs",
        out_redirects: u32 => "icmpOutRedirects",
        out_echos: u32 => "icmpOutEchos",
        out_echo_reps: u32 => "icmpOutEchoReps",
        out_timestamps: u32 => "icmpOutTimestamps",
        out_timestamp_reps: u32 => "icmpOutTimestampReps",
        out_addr_masks: u32 => "icmpOutAddrMasks",
        out_addr_mask_reps: u32 => "icmpOutAddrMaskReps",
    }
}

counter_block! {
    /// MIB-II TCP group (format 2009).
    Mib2Tcp {
        rto_algorithm: u32 => "tcpRtoAlgorithm",
        rto_min: u32 => "tcpRtoMin",
        rto_max: u32 => "tcpRtoMax",
        max_conn: u32 => "tcpMaxConn",
        active_opens: u32 => "tcpActiveOpens",
        passive_opens: u32 => "tcpPassiveOpens",
        attempt_fails: u32 => "tcpAttemptFails",
        estab_resets: u32 => "tcpEstabResets",
        curr_estab: u32 => "tcpCurrEstab",
        in_segs: u32 => "tcpInSegs",
        out_segs: u32 => "tcpOutSegs",
        retrans_segs: u32 => "tcpRetransSegs",
        in_errs: u32 => "tcpInErrs",
        out_rsts: u32 => "tcpOutRsts",
        in_csum_errors: u32 => "tcpInCsumErrors",
    }
}

counter_block! {
    /// MIB-II UDP group (format 2010).
    Mib2Udp {
        in_datagrams: u32 => "udpInDatagrams",
        no_ports: u32 => "udpNoPorts",
        in_errors: u32 => "udpInErrors",
        out_datagrams: u32 => "udpOutDatagrams",
        rcvbuf_errors: u32 => "udpRcvbufErrors",
        sndbuf_errors: u32 => "udpSndbufErrors",
        in_csum_errors: u32 => "udpInCsumErrors",
    }
}

/// Host description (format 2000).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostDescription<'a> {
    pub hostname: &'a [u8],
    pub uuid: [u8; 16],
    /// Enumerated machine type (x86_64 = 3, ...).
    pub machine_type: u32,
    /// Enumerated OS name (linux = 2, ...).
    pub os_name: u32,
    pub os_release: &'a [u8],
}

/// Host adapters (format 2001): each adapter's ifIndex and MAC addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostAdapters<'a> {
    /// The adapters' bytes, checked to hold `count` well-formed adapters.
    bytes: &'a [u8],
    count: u32,
}

/// One host adapter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostAdapter<'a> {
    pub if_index: u32,
    /// MAC addresses, 8 bytes each on the wire (6 used).
    macs: &'a [u8],
}

impl<'a> HostAdapter<'a> {
    pub fn macs(&self) -> impl Iterator<Item = [u8; 6]> + 'a {
        self.macs.chunks_exact(8).map(|c| {
            let mut m = [0u8; 6];
            m.copy_from_slice(c.get(..6).unwrap_or(&[0; 6]));
            m
        })
    }
}

impl<'a> HostAdapters<'a> {
    pub fn len(&self) -> u32 {
        self.count
    }
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
    pub fn iter(&self) -> impl Iterator<Item = HostAdapter<'a>> + 'a {
        let mut rest = self.bytes;
        (0..self.count).map_while(move |_| {
            let if_index = u32_at(rest, 0);
            let end = (u32_at(rest, 4) as usize).checked_mul(8)?.checked_add(8)?;
            let macs = rest.get(8..end)?;
            rest = rest.get(end..).unwrap_or(&[]);
            Some(HostAdapter { if_index, macs })
        })
    }
}

/// A decoded counter record.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CounterRecord<'a> {
    GenericInterface(GenericInterface),
    Ethernet(EthernetCounters),
    Vlan(VlanCounters),
    Lacp(LacpCounters),
    Processor(ProcessorCounters),
    OpenFlowPort(OpenFlowPort),
    /// Format 1005: the interface name.
    PortName {
        name: &'a [u8],
    },
    HostDescription(HostDescription<'a>),
    HostAdapters(HostAdapters<'a>),
    HostParent(HostParent),
    HostCpu(HostCpu),
    HostMemory(HostMemory),
    HostDiskIo(HostDiskIo),
    HostNetIo(HostNetIo),
    Mib2Ip(Mib2Ip),
    Mib2Icmp(Mib2Icmp),
    Mib2Tcp(Mib2Tcp),
    Mib2Udp(Mib2Udp),
    /// A record type this decoder does not know.
    Unknown {
        tag: Tag,
        data: &'a [u8],
    },
}

impl<'a> CounterRecord<'a> {
    /// Parse a counter record body. Missing bytes are an error; extra bytes are ignored.
    pub fn parse(tag: Tag, data: &'a [u8]) -> Result<CounterRecord<'a>, DecodeError> {
        use format::*;
        if tag.enterprise() != 0 {
            return Ok(CounterRecord::Unknown { tag, data });
        }
        Ok(match tag.format() {
            GENERIC_INTERFACE => CounterRecord::GenericInterface(GenericInterface::parse(data)?),
            ETHERNET => CounterRecord::Ethernet(EthernetCounters::parse(data)?),
            VLAN => CounterRecord::Vlan(VlanCounters::parse(data)?),
            LACP => CounterRecord::Lacp(LacpCounters::parse(data)?),
            PROCESSOR => CounterRecord::Processor(ProcessorCounters::parse(data)?),
            OPENFLOW_PORT => CounterRecord::OpenFlowPort(OpenFlowPort::parse(data)?),
            PORT_NAME => CounterRecord::PortName {
                name: Reader::new(data, Structure::Record).opaque()?,
            },
            HOST_DESCRIPTION => {
                let mut r = Reader::new(data, Structure::Record);
                let hostname = r.opaque()?;
                let mut uuid = [0u8; 16];
                uuid.copy_from_slice(r.bytes(16)?);
                CounterRecord::HostDescription(HostDescription {
                    hostname,
                    uuid,
                    machine_type: r.u32()?,
                    os_name: r.u32()?,
                    os_release: r.opaque()?,
                })
            }
            HOST_ADAPTERS => {
                let mut r = Reader::new(data, Structure::Record);
                let count = r.u32()?;
                let start = r.rest();
                let mut used = 0usize;
                for _ in 0..count {
                    r.u32()?;
                    let n = r.u32()? as usize;
                    r.bytes(n.saturating_mul(8))?;
                    used += 8 + 8 * n;
                }
                CounterRecord::HostAdapters(HostAdapters {
                    bytes: start.get(..used).unwrap_or(&[]),
                    count,
                })
            }
            HOST_PARENT => CounterRecord::HostParent(HostParent::parse(data)?),
            HOST_CPU => CounterRecord::HostCpu(HostCpu::parse(data)?),
            HOST_MEMORY => CounterRecord::HostMemory(HostMemory::parse(data)?),
            HOST_DISK_IO => CounterRecord::HostDiskIo(HostDiskIo::parse(data)?),
            HOST_NET_IO => CounterRecord::HostNetIo(HostNetIo::parse(data)?),
            MIB2_IP => CounterRecord::Mib2Ip(Mib2Ip::parse(data)?),
            MIB2_ICMP => CounterRecord::Mib2Icmp(Mib2Icmp::parse(data)?),
            MIB2_TCP => CounterRecord::Mib2Tcp(Mib2Tcp::parse(data)?),
            MIB2_UDP => CounterRecord::Mib2Udp(Mib2Udp::parse(data)?),
            _ => CounterRecord::Unknown { tag, data },
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn words(ws: &[u32]) -> Vec<u8> {
        ws.iter().flat_map(|w| w.to_be_bytes()).collect()
    }

    #[test]
    fn generic_interface() {
        // ifIndex 3, type 6, speed 1e9, dir 1, status 3, in octets 2^32 + 5, ...
        let mut ws = vec![3, 6, 0, 1_000_000_000, 1, 3, 1, 5];
        ws.extend_from_slice(&[10, 11, 12, 13, 14, 15]);
        ws.extend_from_slice(&[0, 99]);
        ws.extend_from_slice(&[20, 21, 22, 23, 24, 1]);
        let b = words(&ws);
        assert_eq!(b.len(), 88);
        let CounterRecord::GenericInterface(g) = CounterRecord::parse(Tag::new(0, 1), &b).unwrap()
        else {
            panic!("not generic")
        };
        assert_eq!((g.if_index, g.if_type, g.if_speed), (3, 6, 1_000_000_000));
        assert_eq!(g.if_in_octets, (1 << 32) + 5);
        assert_eq!(g.if_in_unknown_protos, 15);
        assert_eq!(g.if_out_octets, 99);
        assert_eq!(g.if_promiscuous_mode, 1);
        let names: Vec<_> = g.fields().map(|(n, _)| n).collect();
        assert_eq!(names.len(), 19);
        assert_eq!(names[0], "ifIndex");
        assert!(CounterRecord::parse(Tag::new(0, 1), &b[..87]).is_err());
    }

    #[test]
    fn lacp_and_strings() {
        let mut b = vec![0, 1, 2, 3, 4, 5, 0, 0, 6, 7, 8, 9, 10, 11, 0, 0];
        b.extend(words(&[1, 0x0102_0304, 1, 2, 3, 4, 5, 6, 7, 8]));
        let CounterRecord::Lacp(l) = CounterRecord::parse(Tag::new(0, 7), &b).unwrap() else {
            panic!("not lacp")
        };
        assert_eq!(l.actor_system_id, [0, 1, 2, 3, 4, 5]);
        assert_eq!(l.partner_system_id, [6, 7, 8, 9, 10, 11]);
        assert_eq!(l.marker_response_pdus_tx, 8);
        let b = [0, 0, 0, 4, b'e', b't', b'h', b'0'];
        assert_eq!(
            CounterRecord::parse(Tag::new(0, 1005), &b).unwrap(),
            CounterRecord::PortName { name: b"eth0" }
        );
        assert!(is_known(Tag::new(0, 2010)));
        assert!(!is_known(Tag::new(0, 2203)));
    }

    #[test]
    fn host_adapters() {
        let mut b = words(&[2, 1, 1]);
        b.extend_from_slice(&[0, 1, 2, 3, 4, 5, 0, 0]);
        b.extend(words(&[2, 0]));
        let CounterRecord::HostAdapters(a) = CounterRecord::parse(Tag::new(0, 2001), &b).unwrap()
        else {
            panic!("not adapters")
        };
        let v: Vec<_> = a.iter().collect();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].macs().collect::<Vec<_>>(), vec![[0, 1, 2, 3, 4, 5]]);
        assert_eq!(v[1].if_index, 2);
        // a count that cannot fit fails on the bytes
        let b = words(&[u32::MAX, 1, u32::MAX]);
        assert!(CounterRecord::parse(Tag::new(0, 2001), &b).is_err());
    }
}
