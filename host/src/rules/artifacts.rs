//! The bundled rules host/build.rs built from `plugins/rules`, embedded in the
//! binary.
include!(concat!(env!("OUT_DIR"), "/plugins.rs"));
