//! The decoder tests' shared support, one module per job: `corpus` (the sFlow corpus as
//! datagrams), `frames` (hand-built frames and the records, samples and datagrams around
//! them, encoded by `flowsift::synth`), `layouts` (the bench's synthetic loads), `visit` (the
//! one collecting visitor), `events` (every visitor call in order, for comparing walks). A test declares `mod packet_support;` and uses what it needs.

#![allow(dead_code)]

pub mod corpus;
pub mod events;
pub mod frames;
pub mod layouts;
pub mod visit;
