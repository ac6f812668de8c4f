//! autorepair: repairs AWS Lambda functions that run out of memory.
//!
//! Stages are modules over the domain [`model`]: [`logs`] parses Lambda log lines,
//! [`rules`] runs WebAssembly rule plugins in a sandbox, [`decide`] merges findings
//! under the safety guard, and [`diagnose`] wires them for offline use.

pub mod config;
pub mod decide;
pub mod diagnose;
pub mod logs;
pub mod model;
pub mod render;
pub mod rules;
