//! What `flowsift decode` prints: `sflowtool -l` lines ([`line`](mod@line)) and JSON Lines
//! ([`json`]), rendered from the typed views of [`crate::sflow`] and the keys of the same
//! [`crate::sflow::decode_datagram`] walk the collector runs.
//!
//! The subcommand itself (flags, inputs, failure reports) is [`crate::cli::decode`]; reading
//! capture files is [`crate::capture`]. Nothing here is on the receive path: both formats
//! build strings and allocate.

pub mod json;
pub mod line;
