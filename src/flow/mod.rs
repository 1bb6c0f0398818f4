//! Flow engine: sFlow-RT flow definitions, filters, sharded flow tables on pinned workers.
//!
//! Workers turn [`crate::record::SampleRecord`]s into [`FlowEvent`]s, the records sFlow-RT
//! hands to its flow handlers.

pub mod event;

pub use event::FlowEvent;
