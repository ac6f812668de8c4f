//! Lambda's memory setting: its bounds, the step recommendations round to,
//! and the sizes after an out-of-memory. The host's guard, its sweep, the AI's
//! answer schema and the rules all read these; nothing else spells them.

/// Lambda's smallest memory setting, in MB.
pub const MIN_MB: u32 = 128;
/// Lambda's largest memory setting, in MB.
pub const MAX_MB: u32 = 10_240;

/// Recommendations are rounded up to this many MB. Lambda takes any whole MB;
/// coarse steps keep the audit trail readable and avoid chasing noise one MB
/// at a time.
pub const STEP_MB: u32 = 64;

/// After an out-of-memory failure the true need is unknown (max used is capped
/// at the limit), so the bump is like the Kubernetes VPA recommender's
/// (`max(+100 MiB, ×1.2)`), with a larger ratio: a Lambda repair is rate
/// limited (cooldown, a few changes a day), so a timid step costs hours of
/// failures. ×1.5 reaches twice the memory in two steps, where ×1.2 needs four.
pub const OOM_BUMP_RATIO: f64 = 1.5;
/// The smallest bump after an out-of-memory, in MB (VPA's 100 MiB, rounded to
/// the step).
pub const OOM_MIN_BUMP_MB: u32 = 128;

/// Below this ratio a step after an out-of-memory most likely fails again:
/// the host's guard escalates instead of making one so small.
pub const OOM_LEAST_RATIO: f64 = 1.25;

/// Whether `mb` is a memory setting Lambda accepts.
pub fn is_valid(mb: u32) -> bool {
    (MIN_MB..=MAX_MB).contains(&mb)
}

/// Rounds `mb` up to a multiple of [`STEP_MB`], within Lambda's bounds.
pub fn round_up_mb(mb: f64) -> u32 {
    if !mb.is_finite() || mb <= MIN_MB as f64 {
        return MIN_MB;
    }
    let rounded = (mb / STEP_MB as f64).ceil() * STEP_MB as f64;
    if rounded >= MAX_MB as f64 {
        MAX_MB
    } else {
        rounded as u32
    }
}

/// The memory to try after an out-of-memory failure at `current_mb`:
/// `max(current + 128, current × 1.5)`, rounded up to the step.
pub fn after_out_of_memory(current_mb: u32) -> u32 {
    let by_ratio = current_mb as f64 * OOM_BUMP_RATIO;
    let by_min = current_mb.saturating_add(OOM_MIN_BUMP_MB) as f64;
    round_up_mb(by_ratio.max(by_min))
}

/// The least step worth making after an out-of-memory at `current_mb`:
/// `max(current × 1.25, current + one step)`, rounded up to the step. A
/// recommendation the limits cut below it is escalated, not applied.
pub fn least_after_out_of_memory(current_mb: u32) -> u32 {
    let wanted = (current_mb as f64 * OOM_LEAST_RATIO).max(current_mb as f64 + STEP_MB as f64);
    ((wanted / STEP_MB as f64).ceil() as u32).saturating_mul(STEP_MB)
}

/// `peak_mb × (1 + margin)`, rounded up to the step and at least one step
/// above `current_mb`.
pub fn with_margin(current_mb: u32, peak_mb: f64, margin: f64) -> u32 {
    let wanted = round_up_mb(peak_mb * (1.0 + margin));
    wanted.max(round_up_mb(current_mb as f64 + 1.0))
}

/// The smallest multiple of [`STEP_MB`] at or above `mb` (no bounds applied).
pub fn to_step(mb: u32) -> u32 {
    mb.div_ceil(STEP_MB).saturating_mul(STEP_MB)
}

/// What an invocation that ran out of memory at `size_mb` needed at least:
/// more than it died at, so a step multiple above it and at least one step
/// more (a sweep never sizes a function below this).
pub fn needed_after_out_of_memory(size_mb: u32) -> u32 {
    to_step(size_mb.saturating_add(1)).max(size_mb.saturating_add(STEP_MB))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oom_bump_takes_the_larger_of_ratio_and_minimum() {
        assert_eq!(after_out_of_memory(128), 256); // +128 beats ×1.5 = 192
        assert_eq!(after_out_of_memory(1024), 1536); // ×1.5
        assert_eq!(after_out_of_memory(3008), 4544); // 4512 rounded up to 64
        assert_eq!(after_out_of_memory(MAX_MB), MAX_MB);
    }

    #[test]
    fn the_least_step_after_an_oom_is_a_quarter_or_one_step() {
        assert_eq!(least_after_out_of_memory(512), 640);
        assert_eq!(least_after_out_of_memory(128), 192);
        // The proposal always clears the least step it is checked against.
        for mb in (MIN_MB..=MAX_MB / 2).step_by(7) {
            assert!(
                after_out_of_memory(mb) >= least_after_out_of_memory(mb),
                "{mb}"
            );
        }
    }

    #[test]
    fn margin_is_rounded_and_always_above_current() {
        assert_eq!(with_margin(1024, 950.0, 0.25), 1216); // 1187.5 → 1216
        assert_eq!(with_margin(1024, 500.0, 0.25), 1088); // never below current + 1 step
        assert_eq!(round_up_mb(f64::NAN), MIN_MB);
    }

    #[test]
    fn bounds_and_steps() {
        assert!(is_valid(MIN_MB) && is_valid(MAX_MB) && is_valid(1769));
        assert!(!is_valid(127) && !is_valid(MAX_MB + 1));
        assert_eq!(
            (to_step(0), to_step(1), to_step(64), to_step(65)),
            (0, 64, 64, 128)
        );
        assert_eq!(needed_after_out_of_memory(512), 576);
        assert_eq!(needed_after_out_of_memory(500), 564);
    }
}
