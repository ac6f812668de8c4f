//! Logging through the host. The host bounds what it accepts (message size and
//! calls per evaluation), so a chatty rule cannot flood the operator's logs.
//! Natively (unit tests, benchmarks) messages are dropped.

use crate::bindings::autorepair::rules::host::Level;

fn emit(level: Level, message: &str) {
    #[cfg(target_family = "wasm")]
    crate::bindings::autorepair::rules::host::log(level, message);
    #[cfg(not(target_family = "wasm"))]
    let _ = (level, message);
}

pub fn debug(message: &str) {
    emit(Level::Debug, message);
}

pub fn info(message: &str) {
    emit(Level::Info, message);
}

pub fn warn(message: &str) {
    emit(Level::Warn, message);
}
