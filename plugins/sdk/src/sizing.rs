//! Memory sizing arithmetic shared by the rules. The host clamps whatever a rule
//! recommends to its safety policy; these formulas say what a rule believes.

/// Lambda's smallest and largest memory settings, in MB.
pub const LAMBDA_MIN_MB: u32 = 128;
pub const LAMBDA_MAX_MB: u32 = 10_240;

/// Recommendations are rounded up to this many MB: coarse steps keep the audit
/// trail readable and avoid chasing noise one MB at a time.
pub const STEP_MB: u32 = 64;

/// After an out-of-memory failure the true need is unknown (max used is capped at
/// the limit), so we bump like the Kubernetes VPA recommender does
/// (`max(+100 MiB, ×1.2)`), but with a larger ratio: a Lambda repair is rate
/// limited (cooldown, a few changes a day), so a timid step costs hours of
/// failures. ×1.5 reaches twice the memory in two steps, where ×1.2 needs four.
pub const OOM_BUMP_RATIO: f64 = 1.5;
/// The smallest bump after an OOM, in MB (VPA's 100 MiB, rounded to our step).
pub const OOM_MIN_BUMP_MB: u32 = 128;

/// Rounds `mb` up to a multiple of [`STEP_MB`], within Lambda's bounds.
pub fn round_up_mb(mb: f64) -> u32 {
    if !mb.is_finite() || mb <= LAMBDA_MIN_MB as f64 {
        return LAMBDA_MIN_MB;
    }
    let steps = (mb / STEP_MB as f64).ceil();
    let rounded = steps * STEP_MB as f64;
    if rounded >= LAMBDA_MAX_MB as f64 {
        LAMBDA_MAX_MB
    } else {
        rounded as u32
    }
}

/// The memory to try after an out-of-memory failure at `current_mb`:
/// `max(current + 128, current × 1.5)`, rounded up to 64 MB.
pub fn bump_after_oom(current_mb: u32) -> u32 {
    let by_ratio = current_mb as f64 * OOM_BUMP_RATIO;
    let by_min = current_mb.saturating_add(OOM_MIN_BUMP_MB) as f64;
    round_up_mb(by_ratio.max(by_min))
}

/// `peak_mb × (1 + margin)`, rounded up to 64 MB and at least one step above
/// `current_mb`.
pub fn with_margin(current_mb: u32, peak_mb: f64, margin: f64) -> u32 {
    let wanted = round_up_mb(peak_mb * (1.0 + margin));
    wanted.max(round_up_mb(current_mb as f64 + 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oom_bump_takes_the_larger_of_ratio_and_minimum() {
        assert_eq!(bump_after_oom(128), 256); // +128 beats ×1.5 = 192
        assert_eq!(bump_after_oom(1024), 1536); // ×1.5
        assert_eq!(bump_after_oom(3008), 4544); // 4512 rounded up to 64
        assert_eq!(bump_after_oom(10_240), LAMBDA_MAX_MB);
    }

    #[test]
    fn margin_is_rounded_and_always_above_current() {
        assert_eq!(with_margin(1024, 950.0, 0.25), 1216); // 1187.5 → 1216
        assert_eq!(with_margin(1024, 500.0, 0.25), 1088); // never below current + 1 step
        assert_eq!(round_up_mb(f64::NAN), LAMBDA_MIN_MB);
    }
}
