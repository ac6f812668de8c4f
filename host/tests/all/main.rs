//! The host's integration tests, one binary (wasmtime's habit): the CLI as a
//! process, and the sandbox against the hostile plugins.

mod cli;
mod docs;
mod fuzz;
mod sandbox;
