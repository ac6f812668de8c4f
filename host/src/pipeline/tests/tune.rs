//! `autorepair tune` over the in-memory ports: every size on a version of
//! its own, everything put back whatever happens, the result kept for the
//! sweeps, and `--apply` under the guard.

use super::*;
use crate::model::Direction;
use crate::ports::{FunctionStore, RecommendationStore};
use crate::testing::ports::MemoryRecommendations;
use crate::tune::{self, Request, Strategy};

fn request<'a>(sizes: &'a [u32]) -> Request<'a> {
    Request {
        sizes,
        payload: b"{}",
        invocations: 3,
        strategy: Strategy::Cost,
        usd_per_gb_second: 0.000_016_666_7,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_size_runs_on_its_own_version_and_everything_is_put_back() {
    let w = World::new();
    w.function("tuned", 1024, Behaviour::Throttled, true);
    let function = w.lambda.read("tuned", None).await.unwrap();
    let sizes = [128, 512, 2048];
    let tuning = tune::measure(&w.ctx.repairer(), &function, &request(&sizes), T0)
        .await
        .unwrap();
    assert_eq!(
        tuning.sizes.iter().map(|s| s.memory_mb).collect::<Vec<_>>(),
        sizes
    );
    // Each size's invocations ran at that size (the twin's REPORT says so).
    assert!(
        tuning
            .sizes
            .iter()
            .all(|s| s.invocations == 3 && s.errors == 0 && s.max_used_mb == s.memory_mb / 3),
        "{tuning:?}"
    );
    // The same duration everywhere: the cheapest is the smallest.
    assert_eq!(tuning.best_mb, Some(128));
    assert_eq!(w.lambda.memory_mb("tuned"), Some(1024), "$LATEST is back");
    assert_eq!(w.lambda.live_versions("tuned"), 0, "every version deleted");
    assert_eq!(
        w.lambda.calls(LambdaOp::Invoke),
        3 * 4,
        "a warm-up and three each"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tune_that_fails_midway_still_puts_everything_back() {
    let w = World::new();
    w.function("broken", 1024, Behaviour::Throttled, true);
    let function = w.lambda.read("broken", None).await.unwrap();
    // The second size's first invocation fails at the service.
    w.lambda.fail(
        LambdaOp::Invoke,
        vec![StoreError::Other("ServiceException".into())],
    );
    let err = tune::measure(&w.ctx.repairer(), &function, &request(&[256, 512]), T0)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("invoking version"), "{err}");
    assert_eq!(w.lambda.memory_mb("broken"), Some(1024));
    assert_eq!(w.lambda.live_versions("broken"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tune_is_kept_for_the_sweeps_and_applied_only_under_the_guard() {
    let w = World::new();
    let recommendations = MemoryRecommendations::default();
    w.function("applied", 1024, Behaviour::Throttled, true);
    let function = w.lambda.read("applied", None).await.unwrap();
    let tuning = tune::measure(&w.ctx.repairer(), &function, &request(&[256, 512]), T0)
        .await
        .unwrap();
    tune::keep(&recommendations, &function, &tuning)
        .await
        .unwrap();
    let kept = recommendations
        .recommendation("applied")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.direction, Direction::Keep);
    assert_eq!(kept.tuning.as_ref(), Some(&tuning));

    // An out-of-memory at 256 MB on record: 256 is never applied.
    w.audit
        .record_change(
            "applied",
            &crate::model::RecordedChange {
                incident_id: "incident-1".into(),
                at_ms: T0 - 40 * 86_400_000,
                from_mb: 256,
                to_mb: 1024,
            },
        )
        .await
        .unwrap();
    let why = tune::apply(&w.ctx, &recommendations, &function, &tuning)
        .await
        .unwrap_err();
    assert!(why.contains("out-of-memory"), "{why}");
    assert_eq!(w.lambda.memory_mb("applied"), Some(1024));

    // Without it, applied: the lock, the history.
    let w = World::new();
    w.function("applied", 1024, Behaviour::Throttled, true);
    let function = w.lambda.read("applied", None).await.unwrap();
    let mb = tune::apply(&w.ctx, &recommendations, &function, &tuning)
        .await
        .unwrap();
    assert_eq!((mb, w.lambda.memory_mb("applied")), (256, Some(256)));
    let change = w.audit.changes().pop().unwrap();
    assert!(change.incident_id.starts_with("tune:"), "{change:?}");
    assert_eq!(w.audit.lock_holder("applied"), None);

    // A function in recommend mode: a person makes the change.
    w.function("advised", 1024, Behaviour::Throttled, true);
    w.lambda.tag("advised", "autorepair:mode", "recommend");
    let advised = w.lambda.read("advised", None).await.unwrap();
    let why = tune::apply(&w.ctx, &recommendations, &advised, &tuning)
        .await
        .unwrap_err();
    assert!(why.contains("a person makes this change"), "{why}");
    // Not opted in: no tune at all.
    w.function("outsider", 1024, Behaviour::Throttled, false);
    let outsider = w.lambda.read("outsider", None).await.unwrap();
    assert!(tune::check(&outsider, &w.ctx.config.policy).is_err());
}

/// A tune that measured duration falling with memory keeps a sweep from
/// sizing the function down, however idle its memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_reads_a_tune_as_evidence() {
    let w = World::new();
    w.telemetry.serve_insights();
    let recommendations = std::sync::Arc::new(MemoryRecommendations::default());
    w.function("cpu", 1024, Behaviour::NeedsMemory { need_mb: 200 }, true);
    w.write(
        "cpu",
        Behaviour::NeedsMemory { need_mb: 200 },
        1024,
        280,
        T0 - 13 * 86_400_000,
        T0 - 700_000,
        50_000,
    );
    let function = w.lambda.read("cpu", None).await.unwrap();
    let size = |mb: u32, ms: f64| crate::tuning::SizeResult {
        memory_mb: mb,
        invocations: 10,
        errors: 0,
        p50_ms: ms,
        p95_ms: ms,
        mean_billed_ms: ms,
        max_used_mb: 60,
        usd_per_million: tune::usd_per_million(mb, ms, 0.000_016_666_7),
    };
    let tuning = crate::tuning::Tuning {
        function: "cpu".into(),
        architecture: "x86_64".into(),
        strategy: Strategy::Balanced,
        sizes: vec![size(256, 4_000.0), size(1024, 1_000.0)],
        best_mb: Some(1024),
        current_mb: 1024,
        reasons: vec![],
        at_ms: T0 - 1_000,
    };
    tune::keep(recommendations.as_ref(), &function, &tuning)
        .await
        .unwrap();
    let ports = crate::fleet::FleetPorts {
        inventory: w.lambda.clone(),
        alarms: std::sync::Arc::new(crate::testing::ports::MemoryAlarms::default()),
        recommendations: recommendations.clone(),
        items: std::sync::Arc::new(crate::testing::ports::MemoryItems::default()),
        throttled: || 0,
    };
    let r = crate::fleet::sweep::function(&w.ctx, &ports, "cpu", "weekly")
        .await
        .unwrap();
    assert_eq!(r.direction, Direction::Keep, "{r:?}");
    assert!(
        r.reasons
            .iter()
            .any(|x| x.contains("autorepair tune measured duration falling")),
        "{r:?}"
    );
    assert_eq!(r.tuning, Some(tuning), "carried to the next sweep");
}
