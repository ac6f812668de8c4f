//! In-memory twins of the ports in `autorepair-core`, evidence made in code
//! ([`EvidenceBuilder`]) and a simulated workload's log lines: what the unit
//! tests of every layer and the benchmarks drive the stages with. Depends on
//! the core alone, so a test of a stage never links an AWS client.

pub mod evidence;
pub mod ports;
pub mod workload;

pub use autorepair_core::fixtures::{ACCOUNT, REGION, alarm_event, iso};
pub use evidence::EvidenceBuilder;
