//! The end-to-end tests, one binary (each module a former test file) so the
//! AWS SDK, wasmtime and the host link once, not once per file.

mod ai;
mod cli_run;
mod closed_loop;
mod diagnose_fixtures;
mod execution_environment;
mod fleet;
mod grounding;
mod infrastructure;
mod organization;
mod real_functions;
mod replay;
mod rule_toolkit;
mod stack;
mod tune;
mod workflow;
