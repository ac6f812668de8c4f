//! Memory sizing arithmetic shared by the rules. The host clamps whatever a rule
//! recommends to its safety policy; these formulas say what a rule believes.
//!
//! They are the host's own (crate `autorepair-lambda`): a rule and the host
//! agree on Lambda's bounds, the 64 MB step and the size after an
//! out-of-memory because there is one copy of each.

pub use autorepair_lambda::memory::{
    MAX_MB as LAMBDA_MAX_MB, MIN_MB as LAMBDA_MIN_MB, OOM_BUMP_RATIO, OOM_MIN_BUMP_MB, STEP_MB,
    after_out_of_memory as bump_after_oom, round_up_mb, with_margin,
};
