//! Flow engine: sFlow-RT flow definitions, filters, sharded flow tables on pinned workers.
//!
//! Workers turn [`crate::record::SampleRecord`]s into [`FlowEvent`]s, the records sFlow-RT
//! hands to its flow handlers.

pub mod definition;
pub mod event;
pub mod filter;
pub mod key;
pub mod table;

pub use definition::{FlowDefinition, FlowDefinitions, FlowSpec, Scope, ValueKind};
pub use event::FlowEvent;
pub use filter::{Filter, FilterError};
