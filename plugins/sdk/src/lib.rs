//! The Rust SDK for autorepair rule plugins.
//!
//! A rule is a type that implements [`Rule`] and is exported with
//! [`export_rule!`]. It is compiled for `wasm32-wasip2` into a component the host
//! runs in its sandbox, and natively for its own unit tests:
//!
//! ```ignore
//! use autorepair_rule_sdk::prelude::*;
//!
//! pub struct Throttles;
//!
//! impl Rule for Throttles {
//!     fn describe() -> RuleInfo {
//!         info("throttles", "0.1.0", "Throttled invocations", Wants::METRICS)
//!     }
//!     fn evaluate(evidence: Evidence) -> Result<Vec<Finding>, String> {
//!         let throttles = metric_sum(&evidence, "Throttles");
//!         if throttles == 0.0 {
//!             return Ok(vec![]);
//!         }
//!         Ok(vec![finding(FindingKind::Throttling, 0.9, "throttled",
//!             Recommendation::Escalate("raise reserved concurrency".into()))])
//!     }
//! }
//!
//! export_rule!(Throttles);
//! ```

pub mod changes;
pub mod environments;
pub mod leak;
pub mod log;
pub mod reports;
pub mod sizing;
pub mod stats;
pub mod testing;

/// The generated bindings for `autorepair:rules@0.2.3` (world `rule-plugin`).
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "rule-plugin",
        // The crate's own copy of wit/rules.wit (a published crate carries
        // its files; a test keeps the two identical).
        path: "wit",
        pub_export_macro: true,
        export_macro_name: "__export_rule_plugin",
        default_bindings_module: "autorepair_rule_sdk::bindings",
        additional_derives: [PartialEq],
    });
}

pub use autorepair_lambda::signatures;
pub use bindings::autorepair::rules::types::{
    AlarmInfo, Evidence, Finding, FindingKind, FunctionInfo, InvocationReports, InvocationStatus,
    LogLine, MetricSeries, Recommendation, RuleInfo, Wants, Window,
};
/// What a rule implements: `describe` says who it is and what it wants,
/// `evaluate` turns evidence into findings.
pub use bindings::exports::autorepair::rules::rule::Guest as Rule;
pub use reports::Report;

/// Exports a type implementing [`Rule`] as the component's `rule` interface.
///
/// Only on wasm targets, so that native builds (unit tests, the host's
/// benchmarks) can link several rules into one binary.
#[macro_export]
macro_rules! export_rule {
    ($rule:ident) => {
        #[cfg(target_family = "wasm")]
        $crate::bindings::__export_rule_plugin!($rule with_types_in $crate::bindings);
    };
}

/// Everything a rule usually needs, in one `use`.
pub mod prelude {
    pub use crate::changes::{self, FunctionChange};
    pub use crate::leak::{self, Leak};
    pub use crate::log;
    pub use crate::sizing::{bump_after_oom, round_up_mb, with_margin};
    pub use crate::stats::{Stats, metric_max, metric_sum, percentile};
    pub use crate::{
        Evidence, Finding, FindingKind, InvocationReports, InvocationStatus, LogLine,
        Recommendation, Report, Rule, RuleInfo, Wants, export_rule, finding, info,
    };
}

/// Builds a [`RuleInfo`].
pub fn info(name: &str, version: &str, summary: &str, wants: Wants) -> RuleInfo {
    RuleInfo {
        name: name.to_owned(),
        version: version.to_owned(),
        summary: summary.to_owned(),
        wants,
    }
}

/// Builds a [`Finding`] with no evidence lines; push onto `.evidence` to add some.
pub fn finding(
    kind: FindingKind,
    confidence: f64,
    summary: impl Into<String>,
    recommendation: Recommendation,
) -> Finding {
    Finding {
        kind,
        confidence,
        summary: summary.into(),
        evidence: Vec::new(),
        recommendation,
    }
}
