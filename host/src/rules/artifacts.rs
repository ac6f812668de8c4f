//! The components host/build.rs built from `plugins/`.
//!
//! `BUNDLED` is embedded in the binary; `HOSTILE` names files in the build's
//! output directory and is only for the sandbox tests.
include!(concat!(env!("OUT_DIR"), "/plugins.rs"));

/// The path of the hostile test plugin `name` (e.g. "infinite-loop").
#[doc(hidden)]
pub fn hostile(name: &str) -> &'static str {
    HOSTILE
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, path)| *path)
        .unwrap_or_else(|| panic!("no hostile test plugin {name:?} under plugins/hostile"))
}
