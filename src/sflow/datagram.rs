//! The datagram view and the (tag, length) envelope walk shared by samples and records.
//!
//! [`Datagram`] follows smoltcp's `wire` layering: `new_checked` validates the version, the
//! agent address type and that the whole header is present, after which every accessor is a
//! plain read that cannot run past the buffer. [`Elements`] walks a list of tagged, length-
//! prefixed structures (samples in a datagram, records in a sample) and always advances by the
//! declared length, so an unknown or vendor structure can never derail what follows it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::error::{DecodeError, Structure};
use super::xdr::{padded, u32_at};

mod field {
    pub use crate::sflow::layout::datagram::{ADDRESS, ADDRESS_TYPE, VERSION};
    /// The rest follow the address, whose length depends on its type: sub-agent id,
    /// sequence number, uptime, sample count (4 words).
    pub const TAIL_WORDS: usize = crate::sflow::layout::datagram::TAIL_LEN;
}

/// An sFlow address type (datagram agent, next hops, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddressType {
    Ipv4,
    Ipv6,
    Unknown(u32),
}

impl From<u32> for AddressType {
    fn from(v: u32) -> Self {
        match v {
            1 => AddressType::Ipv4,
            2 => AddressType::Ipv6,
            n => AddressType::Unknown(n),
        }
    }
}

/// A structure tag: `enterprise << 12 | format`, as on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(pub u32);

impl Tag {
    pub const fn new(enterprise: u32, format: u32) -> Tag {
        Tag((enterprise << 12) | (format & 0xFFF))
    }
    pub const fn enterprise(self) -> u32 {
        self.0 >> 12
    }
    pub const fn format(self) -> u32 {
        self.0 & 0xFFF
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.enterprise(), self.format())
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tag({}:{})", self.enterprise(), self.format())
    }
}

/// The datagram header fields, as plain data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DatagramHeader {
    pub agent: IpAddr,
    pub sub_agent: u32,
    pub sequence: u32,
    /// Agent uptime in milliseconds.
    pub uptime_ms: u32,
    /// The number of samples the header declares (not necessarily present).
    pub sample_count: u32,
}

/// A zero-copy view of an sFlow v5 datagram (the UDP payload).
#[derive(Clone, Copy, Debug)]
pub struct Datagram<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Datagram<T> {
    /// Wrap a buffer without checking it; accessors then return 0 for missing bytes.
    pub const fn new_unchecked(buffer: T) -> Datagram<T> {
        Datagram { buffer }
    }

    /// Wrap a buffer after [`Datagram::check`]: version 5, a known agent address type, and
    /// the whole header present.
    pub fn new_checked(buffer: T) -> Result<Datagram<T>, DecodeError> {
        let d = Self::new_unchecked(buffer);
        d.check()?;
        Ok(d)
    }

    /// Validate what `new_checked` promises.
    pub fn check(&self) -> Result<(), DecodeError> {
        let len = self.buffer.as_ref().len();
        if len < field::ADDRESS {
            return Err(DecodeError::Truncated {
                what: Structure::Datagram,
                needed: field::ADDRESS,
                available: len,
            });
        }
        if self.version() != 5 {
            return Err(DecodeError::UnsupportedVersion(self.version()));
        }
        if let AddressType::Unknown(t) = self.agent_address_type() {
            return Err(DecodeError::UnknownAddressType(t));
        }
        if len < self.header_len() {
            return Err(DecodeError::Truncated {
                what: Structure::Datagram,
                needed: self.header_len(),
                available: len,
            });
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn address_len(&self) -> usize {
        match self.agent_address_type() {
            AddressType::Ipv6 => 16,
            _ => 4,
        }
    }

    /// Length of the datagram header, up to the first sample.
    pub fn header_len(&self) -> usize {
        field::ADDRESS + self.address_len() + field::TAIL_WORDS
    }

    fn tail(&self, word: usize) -> u32 {
        u32_at(
            self.buffer.as_ref(),
            field::ADDRESS + self.address_len() + 4 * word,
        )
    }

    pub fn version(&self) -> u32 {
        u32_at(self.buffer.as_ref(), field::VERSION)
    }

    pub fn agent_address_type(&self) -> AddressType {
        AddressType::from(u32_at(self.buffer.as_ref(), field::ADDRESS_TYPE))
    }

    pub fn agent_address(&self) -> IpAddr {
        let b = self.buffer.as_ref();
        match self.agent_address_type() {
            AddressType::Ipv6 => {
                let mut a = [0u8; 16];
                if let Some(s) = b.get(field::ADDRESS..field::ADDRESS + 16) {
                    a.copy_from_slice(s);
                }
                IpAddr::V6(Ipv6Addr::from(a))
            }
            _ => IpAddr::V4(Ipv4Addr::from(u32_at(b, field::ADDRESS))),
        }
    }

    pub fn sub_agent_id(&self) -> u32 {
        self.tail(0)
    }

    pub fn sequence_number(&self) -> u32 {
        self.tail(1)
    }

    /// Agent uptime in milliseconds.
    pub fn uptime(&self) -> u32 {
        self.tail(2)
    }

    /// The number of samples the header declares.
    pub fn sample_count(&self) -> u32 {
        self.tail(3)
    }

    /// All header fields at once.
    pub fn header(&self) -> DatagramHeader {
        DatagramHeader {
            agent: self.agent_address(),
            sub_agent: self.sub_agent_id(),
            sequence: self.sequence_number(),
            uptime_ms: self.uptime(),
            sample_count: self.sample_count(),
        }
    }

    /// The samples, each as a tagged slice. See [`Elements`] for the walk's guarantees.
    pub fn samples(&self) -> Elements<'_> {
        let b = self.buffer.as_ref();
        Elements::new(
            b.get(self.header_len()..).unwrap_or(&[]),
            self.sample_count(),
            Structure::Sample,
        )
    }
}

/// One tagged, length-delimited structure: a sample in a datagram or a record in a sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Element<'a> {
    /// Position in its list (0-based).
    pub index: u32,
    pub tag: Tag,
    /// The body: exactly the declared length.
    pub data: &'a [u8],
}

/// Walks `count` (tag, length, body) structures. Each step advances by the declared length
/// (padded to 4 bytes, but never past the list), so unknown structures are skipped whole.
/// The walk yields an error and stops when an envelope or a body does not fit: the bytes
/// after it cannot be trusted to start a structure. The declared count is never used to
/// size anything, so an absurd count costs nothing but the bytes really present.
#[derive(Clone, Debug)]
pub struct Elements<'a> {
    rest: &'a [u8],
    declared: u32,
    index: u32,
    what: Structure,
    done: bool,
}

impl<'a> Elements<'a> {
    pub(crate) fn new(list: &'a [u8], declared: u32, what: Structure) -> Self {
        Elements {
            rest: list,
            declared,
            index: 0,
            what,
            done: false,
        }
    }

    /// Bytes left after the structures walked so far (trailing bytes once the walk is done).
    pub fn remaining(&self) -> &'a [u8] {
        self.rest
    }

    fn fail(&mut self, e: DecodeError) -> Option<Result<Element<'a>, DecodeError>> {
        self.done = true;
        Some(Err(e))
    }
}

impl<'a> Iterator for Elements<'a> {
    type Item = Result<Element<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.index >= self.declared {
            return None;
        }
        if self.rest.len() < 8 {
            let e = if self.rest.is_empty() {
                DecodeError::CountOverrun {
                    what: self.what,
                    declared: self.declared,
                    found: self.index,
                }
            } else {
                DecodeError::Truncated {
                    what: self.what,
                    needed: 8,
                    available: self.rest.len(),
                }
            };
            return self.fail(e);
        }
        let tag = Tag(u32_at(self.rest, 0));
        let declared = u32_at(self.rest, 4);
        let body = self.rest.get(8..).unwrap_or(&[]);
        let len = declared as usize;
        let Some(data) = body.get(..len) else {
            return self.fail(DecodeError::LengthOverrun {
                what: self.what,
                declared,
                available: body.len(),
            });
        };
        let step = padded(len).min(body.len());
        self.rest = body.get(step..).unwrap_or(&[]);
        let index = self.index;
        self.index += 1;
        Some(Ok(Element { index, tag, data }))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// Header of an IPv4-agent datagram: agent 10.0.0.1, sub-agent 7, seq 42, uptime 1000.
    fn header_v4(samples: u32) -> Vec<u8> {
        let mut v = vec![0, 0, 0, 5, 0, 0, 0, 1, 10, 0, 0, 1];
        for w in [7u32, 42, 1000, samples] {
            v.extend_from_slice(&w.to_be_bytes());
        }
        v
    }

    #[test]
    fn ipv4_header_fields() {
        let b = header_v4(0);
        let d = Datagram::new_checked(&b[..]).unwrap();
        assert_eq!(d.header_len(), 28);
        assert_eq!(d.agent_address(), "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(d.sub_agent_id(), 7);
        assert_eq!(d.sequence_number(), 42);
        assert_eq!(d.uptime(), 1000);
        assert_eq!(d.sample_count(), 0);
        assert_eq!(d.samples().count(), 0);
    }

    #[test]
    fn ipv6_agent() {
        let mut b = vec![0, 0, 0, 5, 0, 0, 0, 2];
        b.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9]);
        b.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0]);
        let d = Datagram::new_checked(&b[..]).unwrap();
        assert_eq!(d.header_len(), 40);
        assert_eq!(d.agent_address(), "2001:db8::9".parse::<IpAddr>().unwrap());
        assert_eq!(d.sequence_number(), 2);
        // one byte short
        assert!(matches!(
            Datagram::new_checked(&b[..39]),
            Err(DecodeError::Truncated { needed: 40, .. })
        ));
    }

    #[test]
    fn bad_headers() {
        assert!(matches!(
            Datagram::new_checked(&[0u8, 0, 0][..]),
            Err(DecodeError::Truncated { .. })
        ));
        let mut b = header_v4(0);
        b[3] = 4;
        assert_eq!(
            Datagram::new_checked(&b[..]).unwrap_err(),
            DecodeError::UnsupportedVersion(4)
        );
        let mut b = header_v4(0);
        b[7] = 3;
        assert_eq!(
            Datagram::new_checked(&b[..]).unwrap_err(),
            DecodeError::UnknownAddressType(3)
        );
        let b = header_v4(0);
        assert!(Datagram::new_checked(&b[..27]).is_err());
    }

    #[test]
    fn walk_skips_by_length_and_stops_on_overrun() {
        let mut b = header_v4(3);
        // sample 0: enterprise 9, format 9, 4 bytes
        b.extend_from_slice(&[0, 0, 0x90, 0x09, 0, 0, 0, 4, 1, 2, 3, 4]);
        // sample 1: 0:2, 0 bytes
        b.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 0]);
        // sample 2: claims 100 bytes, has 4
        b.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 100, 0, 0, 0, 0]);
        let d = Datagram::new_checked(&b[..]).unwrap();
        let items: Vec<_> = d.samples().collect();
        assert_eq!(items.len(), 3);
        let s0 = items[0].unwrap();
        assert_eq!((s0.tag.enterprise(), s0.tag.format()), (9, 9));
        assert_eq!(s0.data, &[1, 2, 3, 4]);
        assert_eq!(items[1].unwrap().tag, Tag::new(0, 2));
        assert_eq!(
            items[2],
            Err(DecodeError::LengthOverrun {
                what: Structure::Sample,
                declared: 100,
                available: 4
            })
        );
    }

    #[test]
    fn absurd_count_costs_nothing() {
        let mut b = header_v4(u32::MAX);
        b.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 0]);
        let d = Datagram::new_checked(&b[..]).unwrap();
        let items: Vec<_> = d.samples().collect();
        assert_eq!(items.len(), 2);
        assert!(matches!(
            items[1],
            Err(DecodeError::CountOverrun {
                declared: u32::MAX,
                found: 1,
                ..
            })
        ));
    }

    #[test]
    fn unpadded_length_is_tolerated() {
        // 0:5 with a 6-byte body, unpadded, then the next element straight after the padding.
        let mut list = vec![0, 0, 0, 5, 0, 0, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0];
        list.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0]);
        let e: Vec<_> = Elements::new(&list, 2, Structure::Record).collect();
        assert_eq!(e[0].unwrap().data, &[1, 2, 3, 4, 5, 6]);
        assert_eq!(e[1].unwrap().tag, Tag::new(0, 1));
        // body ends without its padding: still one element, no error
        let list = [0, 0, 0, 5, 0, 0, 0, 2, 1, 2];
        let e: Vec<_> = Elements::new(&list, 1, Structure::Record).collect();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].unwrap().data, &[1, 2]);
    }
}
