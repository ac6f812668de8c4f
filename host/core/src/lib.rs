//! autorepair's core: what every other layer stands on, and nothing that
//! talks to AWS or runs WebAssembly (`cargo tree -p autorepair-core` shows
//! neither wasmtime nor an `aws-sdk-*` crate).
//!
//! - leaves: [`model`] (domain types), [`clock`], [`dates`], [`digest`], [`text`],
//!   [`redact`] (secrets out of text that leaves the host), [`logs`] (Lambda's
//!   platform lines), [`stats`], [`figures`] (a sweep's reports added up);
//! - pure steps: [`decide`] (merge + safety guard), [`verify`]'s verdict,
//!   [`incident`] (an alarm event to an incident);
//! - [`ports`]: what the stages need from outside, as traits, and
//!   [`metrics`]' sink;
//! - [`run`]: the run document every stage reads and writes; [`stage`]:
//!   the stages by name.
//!
//! The module map of the whole product is docs/architecture.md.

// Every public item says what it is: this crate is the vocabulary the rest
// of the product is written in (checked with `-D warnings` in CI).
#![warn(missing_docs)]

pub mod clock;
pub mod dates;
pub mod decide;
pub mod digest;
pub mod figures;
#[cfg(any(test, feature = "test-support"))]
pub mod fixtures;
pub mod incident;
pub mod logs;
pub mod metrics;
pub mod model;
pub mod origin;
pub mod ports;
pub mod redact;
pub mod run;
pub mod stage;
pub mod stats;
pub mod text;
pub mod tuning;
pub mod verify;
