//! Flow engine: sFlow-RT flow definitions, filters, sharded flow tables on pinned workers.
//!
//! Workers turn samples ([`crate::record::SampleRecord`]) into [`FlowEvent`]s, the records sFlow-RT
//! hands to its flow handlers. The pieces, in the order a sample meets them:
//!
//! - [`definition`]: the `[[flow]]` spec (sFlow-RT attribute names) and its validated
//!   [`FlowDefinition`]; built-ins `uport` (on by default), `unet`, `uhost`, `uproto`, `uport6`,
//!   `tenantuport` (`uport` inside the first tunnel).
//! - [`filter`]: sFlow-RT's filter language, compiled once.
//! - [`group`]: the key function `group:KEY:SET` (address groups, [`crate::groups`]),
//!   usable as a key and in filters.
//! - [`router`]: on each receive thread, picks the worker owning each definition's flow
//!   (and evaluates filters there, so rejected samples never cross a ring).
//! - [`handoff`]: what crosses the ring to a worker: a [`WorkItem`] per sample and
//!   matching definition, the flow's identity already packed and hashed.
//! - [`key`]: definition keys packed into fixed-width words, and the flow hash.
//! - [`table`]: one worker's bounded shard of one definition (flowStart, idle and active
//!   timers, eviction).
//! - [`shard`]: a worker's tables and its batched, prefetching update path.
//! - [`worker`]: the pinned threads that own the tables and feed the event rings.

pub mod definition;
pub mod event;
pub mod filter;
pub mod group;
pub mod handoff;
pub mod key;
pub mod router;
pub mod shard;
pub mod table;
pub mod worker;

pub use definition::{
    builtin, default_specs, DefinitionError, FlowDefinition, FlowDefinitions, FlowSpec, KeyList,
    Scope, ValueKind,
};
pub use event::FlowEvent;
pub use filter::{Filter, FilterError};
pub use group::{FlowKey, GroupKey};
pub use handoff::{FlowId, Route, WorkItem};
pub use router::Router;
pub use shard::Shard;
pub use table::FlowTable;
pub use worker::{
    Clock, DefinitionStats, FlowStats, Joined, ManualClock, WorkerConfig, WorkerError, Workers,
};
