//! Test support shared by the host's unit tests and the end-to-end crate:
//! in-memory twins of the ports and the simulated workload whose log lines
//! both write. Compiled for tests and with the `test-support` feature only,
//! never into a release binary.

/// The hostile plugins host/build.rs built from `plugins/hostile`: (name, path).
pub mod hostile {
    include!(concat!(env!("OUT_DIR"), "/hostile.rs"));

    /// The path of the hostile test plugin `name` (e.g. "infinite-loop").
    pub fn path(name: &str) -> &'static str {
        HOSTILE
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, path)| *path)
            .unwrap_or_else(|| panic!("no hostile test plugin {name:?} under plugins/hostile"))
    }
}

pub use autorepair_core::fixtures::{ACCOUNT, REGION, alarm_event, iso};
pub use autorepair_twins::{EvidenceBuilder, evidence, ports, workload};
