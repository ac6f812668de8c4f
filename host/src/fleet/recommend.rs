//! A sweep's standing recommendation for one function, from what the rules
//! decided and the window's [`Figures`]. Pure.
//!
//! A downsizing must not be able to hurt: it covers the window's largest
//! Max Memory Used with a margin (never a percentile: the 1 % above p99 are
//! invocations too), rests on enough invocations over enough days since the
//! function last changed, never goes below a size that ran out of memory,
//! and never takes CPU (which Lambda gives in proportion to memory) from a
//! function whose duration is near its timeout or is known to fall with
//! memory.

use autorepair_lambda::memory;

use crate::decide::{Action, Decision, FunctionMode, LAMBDA_MAX_MB, LAMBDA_MIN_MB, MODE_TAG};
use crate::figures::{DAY_MS, Figures};
use crate::model::{Direction, FunctionInfo, Window};

pub use crate::tuning::ONE_VCPU_MB;

/// A size's figures say something about its duration from this many
/// invocations.
const MIN_TO_COMPARE: u64 = 20;

/// A downsizing leaves even a CPU-bound function's longest invocation under
/// this share of its timeout.
const TIMEOUT_SHARE_AFTER: f64 = 0.8;

/// What a recommendation is computed under.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub window_days: u32,
    pub margin_percent: u32,
    pub min_saving_mb: u32,
    pub min_invocations: u64,
    pub min_days: u32,
    pub near_timeout_percent: u32,
    /// The function's floor and ceiling (the policy as its tags narrow it).
    pub min_memory_mb: u32,
    pub ceiling_mb: u32,
    /// What autorepair may do to it (`autorepair:mode`).
    pub mode: FunctionMode,
    /// Its price per GB-second (its architecture, its region).
    pub usd_per_gb_second: f64,
}

/// What the window showed about one function.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    pub function: &'a FunctionInfo,
    pub figures: &'a Figures,
    pub window: Window,
    /// The rules' decision over the window, under the policy.
    pub decision: &'a Decision,
    /// The floor an earlier sweep remembered (an out-of-memory invocation
    /// older than this window, or a downsizing that was rolled back).
    pub previous_floor_mb: Option<u32>,
    /// The sizes incidents raised the function from, over the audit table's
    /// whole retained history: each proved too small, whether or not its
    /// out-of-memory invocation falls in this window.
    pub raised_from_mb: &'a [u32],
    /// Why the window's invocation reports cannot be trusted, if they cannot
    /// (`logs::report_doubt`): a downsizing never rests on them.
    pub report_doubt: Option<&'a str>,
    /// The function's last tune, if any.
    pub tuning: Option<&'a crate::tuning::Tuning>,
}

/// The recommendation's numbers and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub direction: Direction,
    pub target_mb: u32,
    pub monthly_cost_delta_usd: f64,
    pub invocations: u64,
    pub p99_used_mb: Option<u32>,
    pub max_used_mb: Option<u32>,
    pub oom_floor_mb: Option<u32>,
    pub reasons: Vec<String>,
}

/// The share of a vCPU Lambda gives at `mb` (a single thread never uses
/// more than one).
fn cpu_share(mb: u32) -> f64 {
    f64::from(mb.min(ONE_VCPU_MB)) / f64::from(ONE_VCPU_MB)
}

/// Sizes whose durations show that duration falls with memory, if any:
/// (smaller size, its median, larger size, its median).
fn duration_falls_with_memory(figures: &Figures) -> Option<(u32, f64, u32, f64)> {
    let medians: Vec<(u32, f64)> = figures
        .by_size()
        .into_iter()
        .filter(|(_, s)| s.invocations >= MIN_TO_COMPARE)
        .map(|(mb, s)| (mb, s.p50_ms))
        .collect();
    crate::tuning::duration_falls(&medians)
}

/// The standing recommendation for what `observed` shows.
pub fn recommend(observed: Observed<'_>, settings: Settings) -> Outcome {
    let function = observed.function;
    let current = function.memory_mb;
    let figures = observed.figures;
    let source = figures.source;
    let whole = figures.summary(|_| true);
    // A deployment, an architecture or any configuration change (a memory
    // change included) restarts the window: the figures that size the
    // function are those of the function as it is.
    let since = function
        .last_modified_ms
        .map_or(observed.window.start_ms, |m| {
            m.max(observed.window.start_ms)
        });
    let now = figures.summary(|r| r.memory_mb == current && r.day_ms + DAY_MS > since);
    let oom_floor = figures
        .out_of_memory_sizes()
        .into_iter()
        .chain(observed.raised_from_mb.iter().copied())
        .map(memory::needed_after_out_of_memory)
        .chain(observed.previous_floor_mb)
        .max();
    // Duration known to fall with memory: from a kept tune, or the window's
    // own sizes.
    let tuned_cpu_bound = observed.tuning.and_then(|t| t.duration_falls_with_memory());
    let seen_cpu_bound = duration_falls_with_memory(figures);
    let mut reasons = Vec::new();
    let keep = |why: String, reasons: &mut Vec<String>| {
        reasons.push(why);
        (Direction::Keep, current)
    };
    let (direction, target) = match (observed.decision.action, observed.decision.target_memory_mb) {
        _ if settings.mode == FunctionMode::Off => keep(
            format!("{MODE_TAG}=off: autorepair recommends nothing for this function"),
            &mut reasons,
        ),
        (Action::SetMemory, Some(target)) if target > current => {
            reasons.extend(observed.decision.reasons.iter().cloned());
            let floor = oom_floor.unwrap_or(0).min(LAMBDA_MAX_MB);
            if floor > target {
                reasons.push(format!(
                    "raised to {floor} MB, what the last out-of-memory invocation needed"
                ));
            }
            (Direction::Up, target.max(floor))
        }
        (Action::Escalate, _) => {
            reasons.push("the rules escalated: a person should look before any resize".into());
            reasons.extend(observed.decision.reasons.iter().cloned());
            (Direction::Keep, current)
        }
        _ if whole.out_of_memory > 0 => keep(
            format!(
                "{} invocations ran out of memory in the window, and the rules did not raise it: never smaller",
                whole.out_of_memory
            ),
            &mut reasons,
        ),
        _ if !figures.complete => keep(
            format!(
                "the window's logs were not all read from {source} (capped, failed or timed out): an out-of-memory invocation may be in what was not, so never smaller"
            ),
            &mut reasons,
        ),
        _ if observed.report_doubt.is_some() => keep(
            format!(
                "the invocation reports cannot be trusted ({}): never smaller on their figures",
                observed.report_doubt.unwrap_or_default()
            ),
            &mut reasons,
        ),
        _ if now.invocations < settings.min_invocations => keep(
            format!(
                "{} invocations at {current} MB since {} ({source}): too few to size down on (at least {})",
                now.invocations,
                crate::dates::date_time(since),
                settings.min_invocations
            ),
            &mut reasons,
        ),
        _ if now.days < settings.min_days => keep(
            format!(
                "traffic on {} day{} at {current} MB since {} ({source}): too few to size down on (at least {}); a deployment or a change restarts the count",
                now.days,
                if now.days == 1 { "" } else { "s" },
                crate::dates::date_time(since),
                settings.min_days
            ),
            &mut reasons,
        ),
        _ if now.max_ms
            >= f64::from(function.timeout_s)
                * 1000.0
                * f64::from(settings.near_timeout_percent)
                / 100.0 =>
        {
            keep(
                format!(
                    "the longest invocation took {:.0} ms of the {} s timeout (fleet.near_timeout_percent = {}): less memory is less CPU, so never smaller",
                    now.max_ms, function.timeout_s, settings.near_timeout_percent
                ),
                &mut reasons,
            )
        }
        _ if tuned_cpu_bound.is_some() => {
            let (small, slow, large, fast) = tuned_cpu_bound.unwrap_or_default();
            keep(
                format!(
                    "autorepair tune measured duration falling with memory (median {slow:.0} ms at {small} MB, {fast:.0} ms at {large} MB): CPU-bound, never smaller"
                ),
                &mut reasons,
            )
        }
        _ if seen_cpu_bound.is_some() => {
            let (small, slow, large, fast) = seen_cpu_bound.unwrap_or_default();
            keep(
                format!(
                    "duration falls with memory (median {slow:.0} ms at {small} MB, {fast:.0} ms at {large} MB): CPU-bound, so a smaller size would be slower; never smaller"
                ),
                &mut reasons,
            )
        }
        _ => {
            let used = now.max_used_mb;
            let with_margin = u64::from(used) * u64::from(100 + settings.margin_percent) / 100;
            let mut candidate = memory::to_step(u32::try_from(with_margin).unwrap_or(u32::MAX));
            let mut why = format!(
                "largest Max Memory Used {used} MB over {} invocations on {} days ({source}), +{}% margin → {candidate} MB",
                now.invocations, now.days, settings.margin_percent
            );
            if let Some(floor) = oom_floor
                && floor > candidate
            {
                candidate = floor;
                why.push_str(&format!(
                    "; raised to {floor} MB, what the last out-of-memory invocation needed"
                ));
            }
            // Even if every ms of the longest invocation were CPU, it would
            // stay under the timeout at the smaller CPU share.
            let timeout_ms = f64::from(function.timeout_s) * 1000.0;
            if now.max_ms > 0.0 {
                let share = cpu_share(current) * now.max_ms / (timeout_ms * TIMEOUT_SHARE_AFTER);
                let needed = memory::to_step((share * f64::from(ONE_VCPU_MB)).ceil() as u32);
                if needed > candidate {
                    candidate = needed;
                    why.push_str(&format!(
                        "; raised to {needed} MB so that even a CPU-bound run of its longest invocation ({:.0} ms) stays under {:.0}% of the timeout",
                        now.max_ms,
                        TIMEOUT_SHARE_AFTER * 100.0
                    ));
                }
            }
            let floor = settings.min_memory_mb.max(LAMBDA_MIN_MB);
            if candidate < floor {
                candidate = floor;
                why.push_str(&format!("; the function's floor is {floor} MB"));
            }
            candidate = candidate.min(LAMBDA_MAX_MB);
            reasons.push(why);
            if current >= candidate.saturating_add(settings.min_saving_mb) {
                (Direction::Down, candidate)
            } else {
                reasons.push(format!(
                    "{current} MB is within {} MB of that: keep",
                    settings.min_saving_mb
                ));
                (Direction::Keep, current)
            }
        }
    };
    let (direction, target) = if direction == Direction::Up && target > settings.ceiling_mb {
        if settings.ceiling_mb > current {
            reasons.push(format!(
                "clamped to the function's ceiling of {} MB",
                settings.ceiling_mb
            ));
            (Direction::Up, settings.ceiling_mb)
        } else {
            reasons.push(format!(
                "{current} MB is already at the function's ceiling of {} MB",
                settings.ceiling_mb
            ));
            (Direction::Keep, current)
        }
    } else {
        (direction, target)
    };
    // Money at the window's traffic; duration at the target size where the
    // window measured it, today's otherwise.
    let days = f64::from(settings.window_days.max(1));
    let monthly_invocations = whole.invocations as f64 * 30.0 / days;
    let today_ms = if now.invocations > 0 {
        now.mean_billed_ms
    } else {
        whole.mean_billed_ms
    };
    let at_target = figures
        .by_size()
        .remove(&target)
        .filter(|s| target != current && s.invocations >= MIN_TO_COMPARE)
        .map(|s| s.mean_billed_ms);
    let target_ms = at_target.unwrap_or(today_ms);
    let gb_seconds = |mb: u32, ms: f64| f64::from(mb) / 1024.0 * ms / 1000.0;
    let monthly_cost_delta_usd = monthly_invocations
        * (gb_seconds(target, target_ms) - gb_seconds(current, today_ms))
        * settings.usd_per_gb_second;
    if direction != Direction::Keep {
        reasons.push(format!(
            "priced at ${}/GB-s ({}{}), {}",
            settings.usd_per_gb_second,
            function.architecture,
            function
                .region()
                .map(|r| format!(", {r}"))
                .unwrap_or_default(),
            if at_target.is_some() {
                format!("with the duration measured at {target} MB")
            } else {
                "at today's duration".to_owned()
            }
        ));
    }
    Outcome {
        direction,
        target_mb: target,
        monthly_cost_delta_usd,
        invocations: whole.invocations,
        p99_used_mb: (now.invocations > 0).then_some(now.p99_used_mb),
        max_used_mb: (now.invocations > 0).then_some(now.max_used_mb),
        oom_floor_mb: oom_floor,
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figures::DayFigures;
    use crate::model::{InvocationReport, InvocationStatus};
    use proptest::prelude::*;

    const NOW: i64 = 20 * DAY_MS;

    /// `n` reports a day for the 14 days before [`NOW`], at `size`, using `used`.
    fn days(size: u32, used: u32, ms: f64, n: usize) -> Vec<InvocationReport> {
        (0..14)
            .flat_map(|d| {
                (0..n).map(move |i| report(NOW - (d + 1) * DAY_MS + i as i64, size, used, ms))
            })
            .collect()
    }

    fn report(at: i64, size: u32, used: u32, ms: f64) -> InvocationReport {
        InvocationReport {
            request_id: "r".into(),
            timestamp_ms: at,
            duration_ms: ms,
            billed_duration_ms: ms,
            memory_size_mb: size,
            max_memory_used_mb: used,
            init_duration_ms: None,
            status: InvocationStatus::Success,
            error_type: None,
            log_stream: None,
            function_error: None,
        }
    }

    fn oom(at: i64, size: u32) -> InvocationReport {
        InvocationReport {
            status: InvocationStatus::Error,
            error_type: Some(crate::logs::OUT_OF_MEMORY_ERROR.to_owned()),
            ..report(at, size, size, 100.0)
        }
    }

    fn none() -> Decision {
        Decision {
            action: Action::None,
            current_memory_mb: 0,
            target_memory_mb: None,
            reasons: Vec::new(),
        }
    }

    const SETTINGS: Settings = Settings {
        window_days: 14,
        margin_percent: 20,
        min_saving_mb: 64,
        min_invocations: 100,
        min_days: 7,
        near_timeout_percent: 50,
        min_memory_mb: 128,
        ceiling_mb: 3008,
        mode: FunctionMode::Auto,
        usd_per_gb_second: 0.000_016_666_7,
    };

    fn function(memory_mb: u32) -> FunctionInfo {
        FunctionInfo {
            name: "f".into(),
            arn: "arn:aws:lambda:eu-west-1:123456789012:function:f".into(),
            architecture: "x86_64".into(),
            memory_mb,
            timeout_s: 30,
            ..FunctionInfo::default()
        }
    }

    fn with<'a>(f: &'a FunctionInfo, figures: &'a Figures, decision: &'a Decision) -> Observed<'a> {
        Observed {
            function: f,
            figures,
            window: Window {
                start_ms: NOW - 14 * DAY_MS,
                end_ms: NOW,
            },
            decision,
            previous_floor_mb: None,
            raised_from_mb: &[],
            report_doubt: None,
            tuning: None,
        }
    }

    fn sized(memory_mb: u32, reports: &[InvocationReport]) -> Outcome {
        let (f, figures, d) = (
            function(memory_mb),
            Figures::of_reports(reports, true),
            none(),
        );
        recommend(with(&f, &figures, &d), SETTINGS)
    }

    #[test]
    fn far_below_the_size_is_down_on_the_largest_use_not_a_percentile() {
        let mut reports = days(1024, 150, 200.0, 20);
        // One invocation in 280 used 300 MB: p99 would ignore it.
        reports[7].max_memory_used_mb = 300;
        let o = sized(1024, &reports);
        assert_eq!(o.direction, Direction::Down, "{o:?}");
        // 300 × 1.2 = 360 → 384 MB.
        assert_eq!((o.max_used_mb, o.target_mb), (Some(300), 384));
        assert!(
            o.reasons[0].contains(
                "largest Max Memory Used 300 MB over 280 invocations on 14 days (the raw log lines)"
            ),
            "{o:?}"
        );
        let expected = 280.0 * 30.0 / 14.0 * (0.375 - 1.0) * 0.2 * 0.000_016_666_7;
        assert!((o.monthly_cost_delta_usd - expected).abs() < 1e-12, "{o:?}");
    }

    #[test]
    fn an_arm64_function_is_priced_at_the_arm64_rate() {
        let reports = days(1024, 150, 200.0, 20);
        let (mut f, figures, d) = (function(1024), Figures::of_reports(&reports, true), none());
        let x86 = recommend(with(&f, &figures, &d), SETTINGS);
        f.architecture = "arm64".into();
        let arm = recommend(
            with(&f, &figures, &d),
            Settings {
                usd_per_gb_second: 0.000_013_333_4,
                ..SETTINGS
            },
        );
        let ratio = arm.monthly_cost_delta_usd / x86.monthly_cost_delta_usd;
        assert!((ratio - 0.8).abs() < 1e-4, "{ratio}");
        assert!(
            arm.reasons.iter().any(|r| r.contains("(arm64, eu-west-1)")),
            "{arm:?}"
        );
    }

    #[test]
    fn a_cpu_bound_function_near_its_timeout_is_never_downsized() {
        // Little memory used, but the longest run takes 20 of 30 s.
        let mut reports = days(2048, 120, 9_000.0, 20);
        reports[3].duration_ms = 20_000.0;
        let o = sized(2048, &reports);
        assert_eq!(o.direction, Direction::Keep, "{o:?}");
        assert!(o.reasons[0].contains("of the 30 s timeout"), "{o:?}");
        // Further from it, a CPU-bound run of the longest invocation still
        // bounds the target: 10 s at 1 vCPU needs 10/24 of one at 80 %.
        let mut reports = days(2048, 120, 4_000.0, 20);
        reports[3].duration_ms = 10_000.0;
        let o = sized(2048, &reports);
        assert_eq!(o.direction, Direction::Down, "{o:?}");
        assert_eq!(o.target_mb, 768, "{o:?}");
        assert!(o.reasons[0].contains("CPU-bound run"), "{o:?}");
    }

    #[test]
    fn duration_that_fell_with_memory_is_cpu_bound_and_never_downsized() {
        // Last week at 512 MB: 800 ms; since the change to 1024 MB: 400 ms.
        let mut reports: Vec<_> = days(1024, 150, 400.0, 20)
            .into_iter()
            .filter(|r| r.timestamp_ms >= NOW - 8 * DAY_MS)
            .collect();
        reports.extend((0..40).map(|i| report(NOW - 12 * DAY_MS + i, 512, 150, 800.0)));
        let o = sized(1024, &reports);
        assert_eq!(o.direction, Direction::Keep, "{o:?}");
        assert!(
            o.reasons[0].contains(
                "duration falls with memory (median 800 ms at 512 MB, 400 ms at 1024 MB)"
            ),
            "{o:?}"
        );
    }

    #[test]
    fn a_change_inside_the_window_restarts_it() {
        let reports = days(1024, 150, 200.0, 50);
        let (mut f, figures, d) = (function(1024), Figures::of_reports(&reports, true), none());
        // Deployed three days ago: three days of traffic count.
        f.last_modified_ms = Some(NOW - 3 * DAY_MS + 5);
        let o = recommend(with(&f, &figures, &d), SETTINGS);
        assert_eq!(o.direction, Direction::Keep, "{o:?}");
        assert!(o.reasons[0].contains("traffic on 3 days"), "{o:?}");
    }

    #[test]
    fn reports_in_doubt_never_size_down() {
        let reports = days(1024, 150, 200.0, 20);
        let (f, figures, d) = (function(1024), Figures::of_reports(&reports, true), none());
        let why = "140 REPORT lines but 100 invocations counted by CloudWatch";
        let o = recommend(
            Observed {
                report_doubt: Some(why),
                ..with(&f, &figures, &d)
            },
            SETTINGS,
        );
        assert_eq!((o.direction, o.target_mb), (Direction::Keep, 1024));
        assert!(o.reasons.iter().any(|r| r.contains(why)), "{o:?}");
    }

    #[test]
    fn the_rules_raising_it_is_up_within_the_functions_ceiling() {
        let reports: Vec<_> = (0..10).map(|i| oom(NOW - DAY_MS + i, 512)).collect();
        let (f, figures) = (function(512), Figures::of_reports(&reports, true));
        let d = Decision {
            action: Action::SetMemory,
            current_memory_mb: 512,
            target_memory_mb: Some(1024),
            reasons: vec!["oom: ran out of memory".into()],
        };
        let o = recommend(with(&f, &figures, &d), SETTINGS);
        assert_eq!((o.direction, o.target_mb), (Direction::Up, 1024));
        assert!(o.monthly_cost_delta_usd > 0.0);
        assert_eq!(o.oom_floor_mb, Some(576));
        let o = recommend(
            with(&f, &figures, &d),
            Settings {
                ceiling_mb: 768,
                ..SETTINGS
            },
        );
        assert_eq!((o.direction, o.target_mb), (Direction::Up, 768), "{o:?}");
    }

    #[test]
    fn never_below_what_the_last_oom_needed() {
        let mut reports = days(2048, 100, 200.0, 20);
        reports.push(oom(NOW - 13 * DAY_MS, 512));
        let o = sized(2048, &reports);
        assert_eq!(o.direction, Direction::Keep, "an OOM in the window: {o:?}");
        let reports = days(2048, 100, 200.0, 20);
        let (f, figures, d) = (function(2048), Figures::of_reports(&reports, true), none());
        let o = recommend(
            Observed {
                previous_floor_mb: Some(576),
                ..with(&f, &figures, &d)
            },
            SETTINGS,
        );
        assert_eq!((o.direction, o.target_mb), (Direction::Down, 576), "{o:?}");
        let o = recommend(
            Observed {
                raised_from_mb: &[256, 512],
                ..with(&f, &figures, &d)
            },
            SETTINGS,
        );
        assert_eq!((o.direction, o.target_mb), (Direction::Down, 576), "{o:?}");
        assert_eq!(o.oom_floor_mb, Some(576));
        // An out-of-memory line outside any REPORT (a runtime's own) counts.
        let mut figures = figures.clone();
        figures.rows.push(DayFigures {
            out_of_memory: 1,
            ..DayFigures::default()
        });
        let o = recommend(with(&f, &figures, &d), SETTINGS);
        assert_eq!(o.direction, Direction::Keep, "{o:?}");
    }

    #[test]
    fn logs_not_all_read_too_few_days_or_a_small_saving_keeps() {
        let reports = days(1024, 100, 200.0, 20);
        let (f, mut figures, d) = (function(1024), Figures::of_reports(&reports, true), none());
        figures.complete = false;
        assert_eq!(
            recommend(with(&f, &figures, &d), SETTINGS).direction,
            Direction::Keep
        );
        let few = days(1024, 100, 200.0, 5);
        assert_eq!(sized(1024, &few).direction, Direction::Keep, "70 < 100");
        let close = days(320, 200, 100.0, 10);
        // 200 × 1.2 = 240 → 256: saves 64 MB, exactly the minimum.
        assert_eq!(sized(320, &close).direction, Direction::Down);
        let close = days(300, 200, 100.0, 10);
        assert_eq!(sized(300, &close).direction, Direction::Keep);
    }

    #[test]
    fn a_function_in_mode_off_gets_nothing() {
        let reports = days(1024, 100, 200.0, 20);
        let (f, figures, d) = (function(1024), Figures::of_reports(&reports, true), none());
        let o = recommend(
            with(&f, &figures, &d),
            Settings {
                mode: FunctionMode::Off,
                ..SETTINGS
            },
        );
        assert_eq!(o.direction, Direction::Keep);
        assert!(o.reasons[0].contains("mode=off"), "{o:?}");
        // Its floor tag holds a downsizing up.
        let o = recommend(
            with(&f, &figures, &d),
            Settings {
                min_memory_mb: 512,
                ..SETTINGS
            },
        );
        assert_eq!((o.direction, o.target_mb), (Direction::Down, 512), "{o:?}");
    }

    proptest! {
        /// Whatever the traffic: a downsizing never goes below the largest
        /// use, the OOM floor or the policy's minimum, never takes a
        /// CPU-bound run past the timeout, and always saves money.
        #[test]
        fn a_downsizing_is_always_safe(
            current in 128u32..=10_240,
            used in proptest::collection::vec(1u32..=10_240, 100..300),
            longest_ms in 1.0f64..30_000.0,
            floor in proptest::option::of(128u32..=10_240),
            raised in proptest::collection::vec(128u32..=10_240, 0..3),
        ) {
            let reports: Vec<_> = used
                .iter()
                .enumerate()
                .map(|(i, u)| report(NOW - (i as i64 % 14 + 1) * DAY_MS, current, (*u).min(current), longest_ms))
                .collect();
            let (f, figures, d) = (function(current), Figures::of_reports(&reports, true), none());
            let o = recommend(
                Observed { previous_floor_mb: floor, raised_from_mb: &raised, ..with(&f, &figures, &d) },
                SETTINGS,
            );
            if o.direction == Direction::Down {
                let max = *used.iter().map(|u| u.min(&current)).max().unwrap();
                prop_assert!(o.target_mb > max);
                prop_assert!(o.target_mb >= floor.unwrap_or(0));
                prop_assert!(raised.iter().all(|r| o.target_mb > *r));
                prop_assert!(o.target_mb >= 128 && o.target_mb < current);
                prop_assert!(longest_ms * cpu_share(current) / cpu_share(o.target_mb) < 30_000.0 * TIMEOUT_SHARE_AFTER + 1.0);
                prop_assert!(o.monthly_cost_delta_usd <= 0.0);
            } else {
                prop_assert_eq!(o.target_mb, current);
            }
        }
    }
}
