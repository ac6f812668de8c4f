//! Test support shared by the end-to-end tests and the demo: a moto_server per
//! test on its own loopback port, and a workload simulator that writes
//! Lambda-shaped logs and metrics according to the function's *current* memory,
//! so a real repair shows up as healthy data afterwards.

pub mod converse;
pub mod faults;
pub mod http;
pub mod moto;
pub mod scenario;
pub mod workload;

pub use moto::Moto;
pub use workload::{Behaviour, Workload};

pub use autorepair::testing::{alarm_event, iso};

/// The `autorepair` binary the tests run as a child process: `$AUTOREPAIR_BIN`,
/// or the one built next to the test executable.
pub fn autorepair_bin() -> std::path::PathBuf {
    if let Some(path) = std::env::var_os("AUTOREPAIR_BIN") {
        return path.into();
    }
    // target/<profile>/deps/<test>-… → target/<profile>/autorepair
    let exe = std::env::current_exe().expect("the test's own path");
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps")
        .join("autorepair");
    assert!(
        bin.exists(),
        "{} not built: run `cargo build -p autorepair` (tests/test.sh does)",
        bin.display()
    );
    bin
}
