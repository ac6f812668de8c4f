//! What AWS Lambda prints and allows, in one place for the host and the rule
//! SDK alike: the text signatures of failures in log lines ([`signatures`]),
//! memory's bounds and the sizing arithmetic over them ([`memory`]), its
//! request ids ([`request_id`]), and the one percentile every figure is read
//! with ([`percentile`]).
//!
//! No dependencies: the host links it natively, every rule links it in
//! WebAssembly.

pub mod memory;
pub mod request_id;
pub mod signatures;

mod percentile;

pub use percentile::{percentile, percentile_index};
