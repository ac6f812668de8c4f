//! Test support shared by the end-to-end tests and the demo: the one launcher
//! of the `autorepair` binary, a moto_server per test on its own loopback
//! port, a workload that writes Lambda-shaped logs and metrics to moto
//! according to the function's *current* memory (so a real repair shows up as
//! healthy data afterwards), and the traffic clock that drives whole runs.

pub mod cli;
pub mod cloudtrail;
pub mod converse;
pub mod faults;
pub mod functions;
pub mod http;
pub mod insights;
pub mod knowledge;
pub mod local_lambda;
pub mod moto;
pub mod openai;
pub mod scenario;
pub mod scripted;
pub mod stack;
pub mod workload;

pub use cli::{autorepair_bin, autorepair_command, describe};
pub use moto::Moto;
pub use workload::{Behaviour, Workload};

pub use autorepair::testing::{alarm_event, iso};
