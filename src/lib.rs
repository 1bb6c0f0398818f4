//! flowsift: an sFlow v5 collector for large data-center fabrics.
//!
//! The module layout follows the pipeline a datagram travels:
//!
//! ```text
//! rx (sockets, io_uring / recvmmsg)  ->  sflow (wire views)  ->  packet (sampled header keys)
//!     -> record (compact SampleRecord)  ->  ring (SPSC, one per receive thread x worker)
//!     -> flow (definitions, filters, sharded tables on pinned workers)  ->  FlowEvent queue
//!     -> sink (syslog formats and transports)
//! ```
//!
//! `cli` holds the subcommands (`run`, `decode`, `replay`, `blast`, `check-config`), `config`
//! the TOML configuration. See ARCHITECTURE.md for who may block, allocate, and what is bounded.

pub mod blast;
pub mod capture;
pub mod cli;
pub mod clock;
pub mod config;
pub mod decode_tool;
pub mod flow;
pub mod groups;
pub mod hash;
pub mod mem;
pub mod metrics;
pub mod notify;
pub mod packet;
pub mod pipeline;
pub mod record;
pub mod replay;
pub mod ring;
pub mod rx;
pub mod sched;
pub mod script;
pub mod sflow;
pub mod sink;
pub mod synth;
#[doc(hidden)]
pub mod testdata;
pub mod threshold;
pub mod udp;
pub mod wake;
