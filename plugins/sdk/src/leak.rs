//! Memory that grows with every invocation of an execution environment.
//!
//! Reports carry no environment id, so environments are rebuilt from the
//! reports in time order: a cold start (`Init Duration`) opens one; a warm
//! invocation continues the open environment whose last figure is the highest
//! at or below its own (a leaking environment never shrinks); a failure at the
//! limit closes it (Lambda replaces a crashed environment). Random per-request
//! variation also forms rising runs this way, so a leak asks for more: a long
//! run opened by a cold start, rising at a steady pace (small spread of the
//! steps, nearly every step up) over a large share of the memory, with nearly
//! every warm invocation fitting an environment — and two such environments,
//! or one that reached the limit.

use crate::{InvocationStatus, Report};

/// The fewest invocations of one environment that can show a leak.
pub const MIN_RUN: usize = 6;
/// The least growth over one environment, as a share of the memory size.
pub const MIN_GROWTH_SHARE: f64 = 0.35;
/// The largest coefficient of variation of the steps: a leak grows by about
/// the same amount each time; noise does not.
pub const MAX_STEP_CV: f64 = 0.75;
/// How close to the limit an environment must get for one alone to count.
pub const NEAR_LIMIT_SHARE: f64 = 0.9;
/// The largest share of warm invocations that fit no open environment (below
/// every one's last figure). In a leak nearly every warm invocation continues
/// its environment; per-request noise leaves many that fit none.
pub const MAX_ORPHAN_SHARE: f64 = 0.25;
/// The least share of steps that must grow: a plateau (memory a runtime
/// keeps after warming up) is not a leak.
pub const MIN_RISING_SHARE: f64 = 0.8;

/// What a leak looks like in the evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct Leak {
    /// Environments that grew steadily from their cold start.
    pub environments: usize,
    /// The median growth per invocation, in MB.
    pub step_mb: f64,
    /// From the cold start to the last invocation, of the steepest one.
    pub from_mb: u32,
    pub to_mb: u32,
}

#[derive(Debug)]
struct Environment {
    cold: bool,
    used: Vec<u32>,
}

/// The incident's leak, as the host found it for every rule (since 0.2.1;
/// see [`crate::stats::Stats::incident`]), or natively computed here.
pub fn of_incident(evidence: &crate::Evidence, memory_mb: u32) -> Option<Leak> {
    #[cfg(all(target_family = "wasm", not(feature = "local-statistics")))]
    {
        let _ = (evidence, memory_mb);
        from_host()
    }
    #[cfg(not(all(target_family = "wasm", not(feature = "local-statistics"))))]
    {
        detect(evidence.reports.iter(), memory_mb)
    }
}

/// The leak the host found in the incident's reports, if any.
#[cfg(all(target_family = "wasm", not(feature = "local-statistics")))]
fn from_host() -> Option<Leak> {
    crate::bindings::autorepair::rules::statistics::find_leak().map(|l| Leak {
        environments: l.environments as usize,
        step_mb: l.step_mb,
        from_mb: l.from_mb,
        to_mb: l.to_mb,
    })
}

/// The leak in `reports` on a function of `memory_mb`, if there is one.
pub fn detect<'a>(reports: impl IntoIterator<Item = Report<'a>>, memory_mb: u32) -> Option<Leak> {
    if memory_mb == 0 {
        return None;
    }
    let reports = reports.into_iter();
    let mut rows: Vec<Report<'a>> = Vec::with_capacity(reports.size_hint().0);
    rows.extend(reports.filter(|r| !r.is_init_phase() && r.memory_size_mb > 0));
    rows.sort_by_key(|r| r.timestamp_ms);
    // Orphans only add up: once they are over their share of every warm
    // invocation, no leak can be found, and the rest need not be matched
    // (matching is the costly part with many environments open).
    let warm = rows.iter().filter(|r| r.init_duration_ms.is_none()).count();
    let too_many_orphans = |orphans: usize| orphans as f64 > MAX_ORPHAN_SHARE * warm as f64;
    let mut environments: Vec<Environment> = Vec::new();
    // Each environment's last figure, or None once closed, side by side:
    // every warm invocation looks along all of them.
    let mut lasts: Vec<Option<u32>> = Vec::new();
    let mut orphans = 0usize;
    for r in &rows {
        let used = r.max_memory_used_mb;
        let open = if r.init_duration_ms.is_some() {
            None
        } else {
            // The highest last figure at or below `used`; of equals, the
            // newest environment.
            let mut best: Option<(usize, u32)> = None;
            for (i, last) in lasts.iter().enumerate() {
                if let Some(last) = *last
                    && last <= used
                    && best.is_none_or(|(_, b)| last >= b)
                {
                    best = Some((i, last));
                }
            }
            best.map(|(i, _)| i)
        };
        if r.init_duration_ms.is_none() && open.is_none() {
            orphans += 1;
            if too_many_orphans(orphans) {
                return None;
            }
        }
        let i = match open {
            Some(i) => i,
            None => {
                environments.push(Environment {
                    cold: r.init_duration_ms.is_some(),
                    used: Vec::new(),
                });
                lasts.push(None);
                environments.len() - 1
            }
        };
        let env = &mut environments[i];
        env.used.push(used);
        lasts[i] = Some(used);
        // A failure at the limit closes the environment.
        if r.status != InvocationStatus::Success && used >= r.memory_size_mb {
            lasts[i] = None;
        }
    }
    judge(&environments, memory_mb)
}

/// The leak in reports already grouped by execution environment (each
/// group one environment's log stream), if there is one. Lambda's own
/// grouping is sturdier than rebuilding environments from the order of the
/// figures: a warm-up that plateaus and per-request noise cannot pass for
/// growth, whatever runs beside them. Each group counts from its first
/// invocation in the evidence.
pub fn detect_by_environment<'a, G>(
    environments: impl IntoIterator<Item = G>,
    memory_mb: u32,
) -> Option<Leak>
where
    G: IntoIterator<Item = Report<'a>>,
{
    if memory_mb == 0 {
        return None;
    }
    let environments: Vec<Environment> = environments
        .into_iter()
        .map(|group| {
            let mut rows: Vec<Report<'a>> = group
                .into_iter()
                .filter(|r| !r.is_init_phase() && r.memory_size_mb > 0)
                .collect();
            rows.sort_by_key(|r| r.timestamp_ms);
            Environment {
                cold: true,
                used: rows.iter().map(|r| r.max_memory_used_mb).collect(),
            }
        })
        .collect();
    judge(&environments, memory_mb)
}

/// A leak: environments that grew steadily from their first invocation, two
/// of them or one that reached the limit.
fn judge(environments: &[Environment], memory_mb: u32) -> Option<Leak> {
    let memory = f64::from(memory_mb);
    let leaking: Vec<(&Environment, f64)> = environments
        .iter()
        .filter(|e| e.cold && e.used.len() >= MIN_RUN)
        .filter_map(|e| {
            let steps: Vec<f64> = e
                .used
                .windows(2)
                .map(|w| f64::from(w[1]) - f64::from(w[0]))
                .collect();
            let growth = f64::from(*e.used.last()?) - f64::from(*e.used.first()?);
            let mean = steps.iter().sum::<f64>() / steps.len() as f64;
            let var = steps.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / steps.len() as f64;
            let cv = var.sqrt() / mean;
            let rising = steps.iter().filter(|s| **s > 0.0).count() as f64;
            (growth >= MIN_GROWTH_SHARE * memory
                && mean > 0.0
                && cv <= MAX_STEP_CV
                && rising >= MIN_RISING_SHARE * steps.len() as f64)
                .then(|| {
                    let mut sorted = steps.clone();
                    sorted.sort_by(f64::total_cmp);
                    (e, sorted[sorted.len() / 2])
                })
        })
        .collect();
    let near_limit = leaking.iter().any(|(e, _)| {
        e.used
            .last()
            .is_some_and(|&u| f64::from(u) >= NEAR_LIMIT_SHARE * memory)
    });
    if leaking.len() < 2 && !near_limit {
        return None;
    }
    let (steepest, step_mb) = leaking.iter().max_by(|a, b| {
        let growth = |e: &Environment| e.used.last().unwrap_or(&0) - e.used.first().unwrap_or(&0);
        growth(a.0).cmp(&growth(b.0))
    })?;
    Some(Leak {
        environments: leaking.len(),
        step_mb: *step_mb,
        from_mb: *steepest.used.first()?,
        to_mb: *steepest.used.last()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::report;

    fn row(at: i64, used: u32, cold: bool, status: InvocationStatus) -> Report<'static> {
        Report {
            timestamp_ms: at,
            init_duration_ms: cold.then_some(200.0),
            ..report(1024, used, status)
        }
    }

    /// Two environments side by side, each growing ~25 MB an invocation from
    /// a low cold start until it dies at the limit.
    fn sawtooth() -> Vec<Report<'static>> {
        let mut rows = Vec::new();
        let mut at = 0;
        for env in 0..2u32 {
            for i in 0..30u32 {
                let used = (190 + env * 10 + i * 28 + (i * 7) % 5).min(1024);
                let status = if used >= 1024 {
                    InvocationStatus::Error
                } else {
                    InvocationStatus::Success
                };
                rows.push(row(at + i64::from(env), used, i == 0, status));
                at += 1_000;
                if used >= 1024 {
                    break;
                }
            }
        }
        rows
    }

    /// One environment's reports: Max Memory Used is the environment's
    /// peak so far, as Lambda reports it (it never falls).
    fn environment(at: i64, usage: &[u32], limit: u32) -> Vec<Report<'static>> {
        let mut peak = 0;
        usage
            .iter()
            .enumerate()
            .map(|(i, &used)| {
                peak = peak.max(used.min(limit));
                let status = if used >= limit {
                    InvocationStatus::Error
                } else {
                    InvocationStatus::Success
                };
                Report {
                    memory_size_mb: limit,
                    ..row(at + i as i64 * 1_000, peak, i == 0, status)
                }
            })
            .collect()
    }

    #[test]
    fn growth_in_each_environment_is_a_leak_whatever_runs_beside_it() {
        // Measured on a real Node.js function keeping 12 MB a request at
        // 128 MB (tests/functions/leak): 45 MB after its cold start, then
        // 12 MB more each invocation until the OOM killer ends it.
        let leaking = |at| environment(at, &[45, 57, 69, 81, 93, 105, 117, 129], 128);
        let leak = detect_by_environment([leaking(0), leaking(500)], 128).expect("a leak");
        assert_eq!(leak.environments, 2);
        assert!((11.0..=13.0).contains(&leak.step_mb), "{leak:?}");
        // One environment that reached the limit is enough.
        assert!(detect_by_environment([leaking(0)], 128).is_some());
    }

    #[test]
    fn a_warm_up_plateau_is_not_a_leak() {
        // A cache filled over the first invocations, then flat (measured
        // on tests/functions/warm-up at 256 MB).
        let warming = |at| environment(at, &[52, 60, 68, 76, 84, 84, 84, 84, 84, 84, 84, 84], 256);
        assert_eq!(detect_by_environment([warming(0), warming(300)], 256), None);
    }

    #[test]
    fn random_figures_that_end_at_the_limit_are_not_a_leak() {
        // Requests of random size: the peak so far climbs in a few jumps,
        // mostly flat, and the largest request reaches the limit.
        let noisy = |at| {
            environment(
                at,
                &[80, 140, 95, 150, 60, 170, 120, 90, 200, 110, 256],
                256,
            )
        };
        assert_eq!(detect_by_environment([noisy(0), noisy(400)], 256), None);
    }

    #[test]
    fn a_steady_climb_from_cold_starts_is_a_leak() {
        let leak = detect(sawtooth(), 1024).expect("a leak");
        assert_eq!(leak.environments, 2);
        assert!((20.0..=35.0).contains(&leak.step_mb), "{leak:?}");
        assert!(leak.from_mb < 300 && leak.to_mb >= 1000, "{leak:?}");
    }

    #[test]
    fn requests_of_varying_size_are_not_a_leak() {
        // Usage set by each request's size: 300..900 MB in a fixed shuffle.
        let rows: Vec<Report<'static>> = (0..200u32)
            .map(|i| {
                let hash = (u64::from(i) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
                let used = 300 + (hash % 601) as u32;
                row(
                    i64::from(i) * 1_000,
                    used,
                    i % 40 == 0,
                    InvocationStatus::Success,
                )
            })
            .collect();
        assert_eq!(detect(rows, 1024), None);
    }

    #[test]
    fn a_big_request_at_a_steady_baseline_is_not_a_leak() {
        let mut rows: Vec<Report<'static>> = (0..60u32)
            .map(|i| {
                row(
                    i64::from(i) * 1_000,
                    700 + (i * 13) % 60,
                    i == 0,
                    InvocationStatus::Success,
                )
            })
            .collect();
        rows.push(row(61_000, 1024, false, InvocationStatus::Error));
        assert_eq!(detect(rows, 1024), None);
    }
}

#[cfg(test)]
mod plateau {
    use super::*;
    use crate::testing::report;

    #[test]
    fn memory_that_rises_then_stays_is_not_a_leak() {
        // Each environment warms up to ~700 MB in three invocations, then stays.
        let rows: Vec<Report<'static>> = (0..120u32)
            .map(|i| {
                let k = i % 30;
                let used = [250, 480, 690]
                    .get(k as usize)
                    .copied()
                    .unwrap_or(700 + k % 3);
                Report {
                    timestamp_ms: i64::from(i) * 1_000,
                    init_duration_ms: (k == 0).then_some(200.0),
                    ..report(1024, used, InvocationStatus::Success)
                }
            })
            .collect();
        assert_eq!(detect(rows, 1024), None);
    }
}
