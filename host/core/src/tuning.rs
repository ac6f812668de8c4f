//! A tune's measurements and the choice among them (`autorepair tune`
//! measures; this is what it found and what a sweep reads back). Pure.

use serde::{Deserialize, Serialize};

use crate::model::Millis;

/// Lambda gives a function one full vCPU at this size, and CPU in
/// proportion to memory below it.
pub const ONE_VCPU_MB: u32 = 1_769;

/// Lambda's price per request (USD), every architecture.
pub const USD_PER_REQUEST: f64 = 0.20 / 1_000_000.0;

/// What `autorepair tune` optimises for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// The cheapest size per invocation.
    Cost,
    /// The fastest size (median duration).
    Speed,
    /// The least of cost and time, each relative to its best.
    Balanced,
}

impl Strategy {
    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Cost => "cost",
            Strategy::Speed => "speed",
            Strategy::Balanced => "balanced",
        }
    }
}

/// One size's measurements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SizeResult {
    /// The size (MB).
    pub memory_mb: u32,
    /// Invocations measured (the warm-up one not counted).
    pub invocations: u32,
    /// Invocations that failed (a function error, a timeout, out of memory).
    pub errors: u32,
    /// Median duration (ms).
    pub p50_ms: f64,
    /// The 95th percentile of duration (ms).
    pub p95_ms: f64,
    /// Mean billed duration (ms).
    pub mean_billed_ms: f64,
    /// The largest Max Memory Used (MB).
    pub max_used_mb: u32,
    /// What a million invocations cost at this size (USD, requests included).
    pub usd_per_million: f64,
}

/// A tune's result, kept with the function's standing recommendation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tuning {
    /// The function's name.
    pub function: String,
    /// Its architecture (the price per GB-second).
    pub architecture: String,
    /// What was optimised for.
    pub strategy: Strategy,
    /// Each size measured, in the order asked.
    pub sizes: Vec<SizeResult>,
    /// The size the strategy picks (none if every size failed).
    pub best_mb: Option<u32>,
    /// The size the function had.
    pub current_mb: u32,
    /// Why, for people.
    pub reasons: Vec<String>,
    /// When it was measured (ms since the Unix epoch).
    pub at_ms: Millis,
}

impl Tuning {
    /// Whether the measurements show duration falling with memory below one
    /// vCPU (the smaller size's median at least a quarter longer): a
    /// CPU-bound function, which a sweep never sizes down.
    pub fn duration_falls_with_memory(&self) -> Option<(u32, f64, u32, f64)> {
        let measured: Vec<(u32, f64)> = self
            .sizes
            .iter()
            .filter(|s| s.errors == 0 && s.invocations > 0)
            .map(|s| (s.memory_mb, s.p50_ms))
            .collect();
        duration_falls(&measured)
    }
}

/// Medians this much apart at two sizes mean duration falls with memory.
pub const CPU_BOUND_RATIO: f64 = 1.25;

/// Two of `medians` — (memory MB, median duration ms), any order — that
/// show duration falling with memory below one vCPU: the smaller size's
/// median at least [`CPU_BOUND_RATIO`] times the larger's. Returns (smaller
/// size, its median, larger size, its median). A tune and a sweep's figures
/// both judge with it.
pub fn duration_falls(medians: &[(u32, f64)]) -> Option<(u32, f64, u32, f64)> {
    let mut sorted: Vec<(u32, f64)> = medians
        .iter()
        .copied()
        .filter(|(_, ms)| *ms > 0.0)
        .collect();
    sorted.sort_by_key(|(mb, _)| *mb);
    for (i, &(small, slow)) in sorted.iter().enumerate() {
        for &(large, fast) in &sorted[i + 1..] {
            // Only below one vCPU does more memory mean more CPU for a thread.
            if small < large && small < ONE_VCPU_MB && slow >= fast * CPU_BOUND_RATIO {
                return Some((small, slow, large, fast));
            }
        }
    }
    None
}

/// USD per million invocations at `memory_mb` and `billed_ms`.
pub fn usd_per_million(memory_mb: u32, billed_ms: f64, usd_per_gb_second: f64) -> f64 {
    1e6 * (f64::from(memory_mb) / 1024.0 * billed_ms / 1000.0 * usd_per_gb_second + USD_PER_REQUEST)
}

/// The size `strategy` picks among those that never failed, and why.
pub fn choose(sizes: &[SizeResult], strategy: Strategy) -> (Option<u32>, String) {
    let ok: Vec<&SizeResult> = sizes
        .iter()
        .filter(|s| s.errors == 0 && s.invocations > 0)
        .collect();
    let Some(cheapest) = ok.iter().map(|s| s.usd_per_million).min_by(f64::total_cmp) else {
        return (None, "every size failed: nothing to choose".into());
    };
    let fastest = ok
        .iter()
        .map(|s| s.p50_ms)
        .min_by(f64::total_cmp)
        .unwrap_or(0.0);
    let score = |s: &SizeResult| match strategy {
        Strategy::Cost => (s.usd_per_million, s.p50_ms),
        Strategy::Speed => (s.p50_ms, s.usd_per_million),
        Strategy::Balanced => (
            s.usd_per_million / cheapest.max(f64::MIN_POSITIVE)
                + s.p50_ms / fastest.max(f64::MIN_POSITIVE),
            f64::from(s.memory_mb),
        ),
    };
    let best = ok.iter().min_by(|a, b| {
        let (a, b) = (score(a), score(b));
        a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1))
    });
    let failed: Vec<String> = sizes
        .iter()
        .filter(|s| s.errors > 0)
        .map(|s| {
            format!(
                "{} MB ({} of {} failed)",
                s.memory_mb, s.errors, s.invocations
            )
        })
        .collect();
    let mut why = match best {
        Some(b) => format!(
            "{}: {} MB — median {:.0} ms, ${:.2} per million invocations",
            strategy.name(),
            b.memory_mb,
            b.p50_ms,
            b.usd_per_million
        ),
        None => String::new(),
    };
    if !failed.is_empty() {
        why.push_str(&format!("; never chosen: {}", failed.join(", ")));
    }
    (best.map(|b| b.memory_mb), why)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(mb: u32, p50: f64, errors: u32) -> SizeResult {
        SizeResult {
            memory_mb: mb,
            invocations: 10,
            errors,
            p50_ms: p50,
            p95_ms: p50,
            mean_billed_ms: p50,
            max_used_mb: 60,
            usd_per_million: usd_per_million(mb, p50, 0.000_016_666_7),
        }
    }

    /// A CPU-bound function: duration halves as memory doubles up to one
    /// vCPU, so cost is flat there and speed keeps improving.
    fn cpu_bound() -> Vec<SizeResult> {
        vec![
            size(128, 8_000.0, 1),
            size(256, 4_000.0, 0),
            size(512, 2_000.0, 0),
            size(1024, 1_000.0, 0),
            size(2048, 880.0, 0),
        ]
    }

    #[test]
    fn each_strategy_picks_its_size_and_a_failing_size_is_never_picked() {
        let sizes = cpu_bound();
        assert_eq!(choose(&sizes, Strategy::Speed).0, Some(2048));
        // Cost: 256, 512 and 1024 cost the same GB-s; the faster wins the tie
        // only when exactly equal, so the cheapest by a hair is taken.
        let (cost, why) = choose(&sizes, Strategy::Cost);
        assert!(matches!(cost, Some(256 | 512 | 1024)), "{cost:?}");
        assert!(
            why.contains("never chosen: 128 MB (1 of 10 failed)"),
            "{why}"
        );
        assert_eq!(choose(&sizes, Strategy::Balanced).0, Some(1024));
        let all_failed = vec![size(128, 10.0, 3)];
        assert_eq!(choose(&all_failed, Strategy::Cost).0, None);
    }

    #[test]
    fn prices_include_the_request_and_follow_the_architecture() {
        let x86 = usd_per_million(1024, 100.0, 0.000_016_666_7);
        assert!(
            (x86 - (1e6 * 0.1 * 0.000_016_666_7 + 0.2)).abs() < 1e-9,
            "{x86}"
        );
        let arm = usd_per_million(1024, 100.0, 0.000_013_333_4);
        assert!(arm < x86);
    }

    #[test]
    fn a_tune_that_shows_duration_falling_is_cpu_bound() {
        let t = Tuning {
            function: "f".into(),
            architecture: "x86_64".into(),
            strategy: Strategy::Balanced,
            sizes: cpu_bound(),
            best_mb: Some(1024),
            current_mb: 1024,
            reasons: vec![],
            at_ms: 0,
        };
        assert_eq!(
            t.duration_falls_with_memory().map(|(s, _, l, _)| (s, l)),
            Some((256, 512))
        );
        let flat = Tuning {
            sizes: vec![size(256, 100.0, 0), size(1024, 98.0, 0)],
            ..t
        };
        assert_eq!(flat.duration_falls_with_memory(), None);
    }
}
