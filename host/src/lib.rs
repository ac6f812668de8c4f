//! autorepair: repairs AWS Lambda functions that run out of memory.
//!
//! The layers, bottom up (docs/architecture.md walks one alarm through them):
//! - leaves: [`model`] (domain types), [`clock`], [`digest`], [`stats`], [`logs`],
//!   [`text`];
//! - pure steps: [`decide`] (merge + safety guard), [`verify`]'s verdict,
//!   [`iac`] (where memory is written in source);
//! - [`ports`]: what the stages need from outside, as traits;
//! - stages over ports: [`incident`] (parse), [`evidence`] (collect), [`rules`]
//!   (the WebAssembly sandbox) and [`ai`] (diagnose), [`repair`] (execute and
//!   roll back), [`notify`];
//! - [`pipeline`] wires the stages over a [`run::Run`];
//! - adapters: [`aws`] implements the ports; [`setup`] plugs them in;
//! - on top: [`fleet`] (onboarding, sweeps), [`diagnosis`] (offline),
//!   [`replay`], [`comparison`] (the A/B record), [`report`], [`render`],
//!   [`checkup`] (`autorepair doctor`), [`toolkit`] and the two binaries.

// The core's modules at their old paths, so `autorepair::model` and
// `crate::decide` name one thing wherever they are written.
pub use autorepair_core::{
    clock, dates, decide, digest, figures, incident, logs, metrics, model, origin, ports, redact,
    run, stage, stats, text, tuning, verify,
};

pub mod ai;
pub mod aws;
pub mod checkup;
pub mod comparison;
pub mod config;
pub mod diagnosis;
pub mod eval;
pub mod evidence;
pub mod fleet;
pub mod iac;
pub mod notify;
pub mod openai;
pub mod pipeline;
pub mod progress;
pub mod render;
pub mod repair;
pub mod replay;
pub mod report;
pub mod rules;
pub mod setup;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
pub mod toolkit;
pub mod trust;
pub mod tune;
