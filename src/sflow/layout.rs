//! Where every fixed field of an sFlow v5 datagram sits: the one table of offsets and sizes.
//!
//! The receive walk, the typed views, the synthetic encoder ([`crate::synth`]), `replay`'s
//! agent rewriting and `blast`'s patching all read and write the wire through these
//! constants, so that the layout is written down once (sFlow v5, sflow.org
//! `sflow_version_5.txt`). Offsets are in bytes from the start of their structure; `LEN` is
//! the size of the structure's fixed part, where its list or its variable bytes begin.
//! Every value is big-endian on the wire (XDR).

/// The datagram header. The agent address's length depends on its type, so the four words
/// after it are given from the address's end (`AFTER_ADDRESS + ..`).
pub mod datagram {
    pub const VERSION: usize = 0;
    pub const ADDRESS_TYPE: usize = 4;
    pub const ADDRESS: usize = 8;
    /// Address type 1 (IPv4) and 2 (IPv6), and their address lengths.
    pub const IPV4: u32 = 1;
    pub const IPV6: u32 = 2;
    pub const IPV4_LEN: usize = 4;
    pub const IPV6_LEN: usize = 16;
    /// From the address's end: sub-agent id, sequence number, uptime (ms), sample count.
    pub const SUB_AGENT: usize = 0;
    pub const SEQUENCE: usize = 4;
    pub const UPTIME: usize = 8;
    pub const SAMPLE_COUNT: usize = 12;
    /// The four words after the address.
    pub const TAIL_LEN: usize = 16;
    /// The whole header with an IPv4 agent (the usual one) and with an IPv6 agent.
    pub const LEN_IPV4: usize = ADDRESS + IPV4_LEN + TAIL_LEN;
    pub const LEN_IPV6: usize = ADDRESS + IPV6_LEN + TAIL_LEN;
    /// The only version decoded.
    pub const VERSION_5: u32 = 5;
}

/// The envelope of every sample and record: tag (`enterprise << 12 | format`), then the
/// body's length in bytes (the body padded to a whole number of words).
pub mod element {
    pub const TAG: usize = 0;
    pub const LENGTH: usize = 4;
    pub const LEN: usize = 8;
}

/// Extended switch record (flow record format 1001): the VLANs and 802.1p priorities.
pub mod extended_switch {
    pub const SRC_VLAN: usize = 0;
    pub const SRC_PRIORITY: usize = 4;
    pub const DST_VLAN: usize = 8;
    pub const DST_PRIORITY: usize = 12;
    pub const LEN: usize = 16;
}

/// Flow sample, format 1 (compact): data source and interfaces one word each, the type or
/// format in the top bits.
pub mod flow_sample {
    pub const SEQUENCE: usize = 0;
    pub const SOURCE_ID: usize = 4;
    pub const SAMPLING_RATE: usize = 8;
    pub const SAMPLE_POOL: usize = 12;
    pub const DROPS: usize = 16;
    pub const INPUT: usize = 20;
    pub const OUTPUT: usize = 24;
    pub const RECORD_COUNT: usize = 28;
    pub const LEN: usize = 32;
}

/// Expanded flow sample, format 3: data source as (type, index) and each interface as
/// (format, value), two words each.
pub mod expanded_flow_sample {
    pub const SEQUENCE: usize = 0;
    pub const SOURCE_TYPE: usize = 4;
    pub const SOURCE_INDEX: usize = 8;
    pub const SAMPLING_RATE: usize = 12;
    pub const SAMPLE_POOL: usize = 16;
    pub const DROPS: usize = 20;
    pub const INPUT_FORMAT: usize = 24;
    pub const INPUT_VALUE: usize = 28;
    pub const OUTPUT_FORMAT: usize = 32;
    pub const OUTPUT_VALUE: usize = 36;
    pub const RECORD_COUNT: usize = 40;
    pub const LEN: usize = 44;
}

/// Counter sample, format 2 (compact data source).
pub mod counter_sample {
    pub const SEQUENCE: usize = 0;
    pub const SOURCE_ID: usize = 4;
    pub const RECORD_COUNT: usize = 8;
    pub const LEN: usize = 12;
}

/// Expanded counter sample, format 4.
pub mod expanded_counter_sample {
    pub const SEQUENCE: usize = 0;
    pub const SOURCE_TYPE: usize = 4;
    pub const SOURCE_INDEX: usize = 8;
    pub const RECORD_COUNT: usize = 12;
    pub const LEN: usize = 16;
}

/// Discarded-packet sample, format 5 (drop notification; expanded data source).
pub mod discard_sample {
    pub const SEQUENCE: usize = 0;
    pub const SOURCE_TYPE: usize = 4;
    pub const SOURCE_INDEX: usize = 8;
    pub const DROPS: usize = 12;
    pub const INPUT: usize = 16;
    pub const OUTPUT: usize = 20;
    pub const REASON: usize = 24;
    pub const RECORD_COUNT: usize = 28;
    pub const LEN: usize = 32;
}

/// Flow record 1, the sampled header: its fixed part, then `HEADER_LENGTH` bytes of frame.
pub mod sampled_header {
    pub const PROTOCOL: usize = 0;
    pub const FRAME_LENGTH: usize = 4;
    pub const STRIPPED: usize = 8;
    pub const HEADER_LENGTH: usize = 12;
    pub const LEN: usize = 16;
    /// `header_protocol` 1, ETHERNET-ISO88023.
    pub const ETHERNET: u32 = 1;
}

/// The compact data-source word: type in the top 8 bits, index in the low 24.
pub mod source_id {
    pub const TYPE_SHIFT: u32 = 24;
    pub const INDEX_MASK: u32 = 0x00FF_FFFF;
}

/// The compact interface word: format in the top 2 bits, value in the low 30.
pub mod interface {
    pub const FORMAT_SHIFT: u32 = 30;
    pub const VALUE_MASK: u32 = 0x3FFF_FFFF;
}
