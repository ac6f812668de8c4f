//! autorepair: repairs AWS Lambda functions that run out of memory.
//!
//! Stages are modules over the domain [`model`]: [`incident`] parses the alarm,
//! [`evidence`] collects (with [`logs`] parsing Lambda log lines), [`rules`] runs
//! WebAssembly rule plugins in a sandbox, [`decide`] merges findings under the
//! safety guard, [`repair`] changes and restores memory, [`verify`] judges the
//! change, [`audit`] and [`notify`] record it. [`pipeline`] wires the stages;
//! [`ai`] asks an LLM on Bedrock beside the rules; [`diagnose`] is the offline subset,
//! [`replay`] runs it over recorded corpora and [`report`] compares AI against rules. AWS lives in [`aws`] and the adapters.

pub mod ai;
pub mod audit;
pub mod aws;
pub mod config;
pub mod decide;
pub mod diagnose;
pub mod evidence;
pub mod incident;
pub mod logs;
pub mod model;
pub mod notify;
pub mod pipeline;
pub mod record;
pub mod render;
pub mod repair;
pub mod replay;
pub mod report;
pub mod rules;
pub mod toolkit;
pub mod trust;
pub mod verify;
