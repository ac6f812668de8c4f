//! The fleet's sweep and onboarding over the in-memory ports: what a
//! recommendation says, and when a sweep may change a function itself (an
//! opted-in downsizing, under the repair's guards).

use super::*;
use crate::fleet::FleetPorts;
use crate::fleet::sweep::{self, Item};
use crate::model::{Direction, RecordedChange, StandingRecommendation};
use crate::testing::ports::{MemoryAlarms, MemoryItems, MemoryRecommendations};
use serde_json::json;

struct Fleet {
    ports: FleetPorts,
    recommendations: Arc<MemoryRecommendations>,
    items: Arc<MemoryItems>,
    alarms: Arc<MemoryAlarms>,
}

fn fleet(w: &World) -> Fleet {
    w.telemetry.serve_insights();
    let recommendations = Arc::new(MemoryRecommendations::default());
    let items = Arc::new(MemoryItems::default());
    let alarms = Arc::new(MemoryAlarms::default());
    Fleet {
        ports: FleetPorts {
            inventory: w.lambda.clone(),
            alarms: alarms.clone(),
            recommendations: recommendations.clone(),
            items: items.clone(),
            throttled: || 0,
        },
        recommendations,
        items,
        alarms,
    }
}

/// A function far larger than it needs: 1024 MB, using 160.
/// A change on record: by `by` at `at_ms`, from `from_mb` to `to_mb`.
fn recorded(by: &str, from_mb: u32, to_mb: u32, at_ms: crate::model::Millis) -> RecordedChange {
    RecordedChange {
        incident_id: by.to_owned(),
        at_ms,
        from_mb,
        to_mb,
    }
}

fn oversized(w: &World, name: &str) {
    w.function(name, 1024, Behaviour::NeedsMemory { need_mb: 200 }, true);
    two_weeks(w, name, 1024);
}

/// Two weeks of the same light traffic before the last ten minutes': what
/// a downsizing needs (enough invocations on enough days).
fn two_weeks(w: &World, name: &str, memory_mb: u32) {
    const DAY: i64 = 86_400_000;
    w.write(
        name,
        Behaviour::NeedsMemory { need_mb: 200 },
        memory_mb,
        280,
        T0 - 13 * DAY,
        T0 - 700_000,
        50_000,
    );
}

async fn swept(w: &World, f: &Fleet, name: &str) -> StandingRecommendation {
    sweep::function(&w.ctx, &f.ports, name, "weekly")
        .await
        .unwrap()
}

/// A sweep never asks CloudTrail: two lookups a second an account would
/// pace a 10,000-function sweep to hours, for nothing it sizes by.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_reads_no_recent_changes() {
    let mut w = World::new();
    let trail = Arc::new(crate::testing::ports::MemoryChangeLog::default());
    w.ctx.changes = Some(trail.clone());
    let f = fleet(&w);
    oversized(&w, "quiet");
    let r = swept(&w, &f, "quiet").await;
    assert_eq!(r.direction, Direction::Down, "{r:?}");
    assert_eq!(trail.lookups(), 0);
    // The same context's incidents do look.
    w.oom("loud");
    w.run("loud").await;
    assert!(trail.lookups() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_downsizing_is_recommended_and_applied_only_where_opted_in() {
    let w = World::new();
    let f = fleet(&w);
    oversized(&w, "recommended");
    oversized(&w, "applied");
    w.lambda.tag("applied", "autorepair:downsize", "apply");
    let r = swept(&w, &f, "recommended").await;
    assert_eq!(r.direction, Direction::Down, "{r:?}");
    assert!(!r.applied && !r.downsize_opted_in);
    assert_eq!(w.lambda.memory_mb("recommended"), Some(1024));

    let r = swept(&w, &f, "applied").await;
    assert!(r.applied, "{r:?}");
    assert_eq!(w.lambda.memory_mb("applied"), Some(r.target_mb));
    let change = w
        .audit
        .changes()
        .pop()
        .expect("the change is in the history");
    assert_eq!((change.from_mb, change.to_mb), (1024, r.target_mb));
    assert_eq!(change.incident_id, "sweep:weekly");
    assert_eq!(w.audit.lock_holder("applied"), None, "the lock is released");
    assert_eq!(f.recommendations.stored.lock().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opted_in_downsizing_waits_for_the_cooldown_a_running_repair_and_dry_run() {
    // Changed ten minutes ago: the cooldown holds it.
    let w = World::new();
    let f = fleet(&w);
    oversized(&w, "cooling");
    w.lambda.tag("cooling", "autorepair:downsize", "apply");
    w.audit
        .record_change("cooling", &recorded("earlier", 512, 1024, T0 - 600_000))
        .await
        .unwrap();
    let r = swept(&w, &f, "cooling").await;
    assert!(!r.applied);
    assert!(r.reasons.iter().any(|x| x.contains("cooldown")), "{r:?}");
    assert_eq!(w.lambda.memory_mb("cooling"), Some(1024));

    // An incident holds the function: the sweep leaves it alone.
    let w = World::new();
    let f = fleet(&w);
    oversized(&w, "busy");
    w.lambda.tag("busy", "autorepair:downsize", "apply");
    w.audit.hold_lock("busy", "incident-7", T0 + 600_000);
    let r = swept(&w, &f, "busy").await;
    assert!(!r.applied);
    assert!(r.reasons.iter().any(|x| x.contains("repairing")), "{r:?}");
    assert_eq!(w.audit.lock_holder("busy").as_deref(), Some("incident-7"));

    let w = World::with(|c| c.run.dry_run = true);
    let f = fleet(&w);
    oversized(&w, "dry");
    w.lambda.tag("dry", "autorepair:downsize", "apply");
    let r = swept(&w, &f, "dry").await;
    assert!(
        !r.applied && r.reasons.iter().any(|x| x.contains("dry_run")),
        "{r:?}"
    );
    assert_eq!(w.lambda.calls(LambdaOp::UpdateMemory), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oom_remembered_from_an_earlier_sweep_is_a_floor() {
    let w = World::new();
    let f = fleet(&w);
    oversized(&w, "once-oom");
    let mut earlier = swept(&w, &f, "once-oom").await;
    assert_eq!(earlier.direction, Direction::Down);
    earlier.oom_floor_mb = Some(900);
    f.recommendations
        .stored
        .lock()
        .unwrap()
        .insert("once-oom".into(), earlier);
    let r = swept(&w, &f, "once-oom").await;
    assert!(r.target_mb >= 900, "{r:?}");
    assert_eq!(r.oom_floor_mb, Some(900));
    // Named by its ARN, the function finds the same floor (and is kept
    // under its name, not a second entry).
    let arn = "arn:aws:lambda:eu-west-1:123456789012:function:once-oom:live";
    let r = swept(&w, &f, arn).await;
    assert_eq!(r.function, "once-oom");
    assert!(r.target_mb >= 900, "{r:?}");
    assert_eq!(f.recommendations.stored.lock().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_size_an_incident_raised_the_function_from_is_a_floor_long_after() {
    let w = World::new();
    let f = fleet(&w);
    oversized(&w, "raised");
    w.lambda.tag("raised", "autorepair:downsize", "apply");
    // A month ago an incident raised it from 512 (the OOM is long out of
    // the sweep's window); a sweep's own change does not count.
    w.audit
        .record_change(
            "raised",
            &recorded("incident-1", 512, 1024, T0 - 30 * 86_400_000),
        )
        .await
        .unwrap();
    w.audit
        .record_change(
            "raised",
            &recorded("sweep:old", 1024, 640, T0 - 20 * 86_400_000),
        )
        .await
        .unwrap();
    w.audit
        .record_change(
            "raised",
            &recorded("sweep:older", 640, 1024, T0 - 19 * 86_400_000),
        )
        .await
        .unwrap();
    let r = swept(&w, &f, "raised").await;
    assert_eq!(r.direction, Direction::Down, "{r:?}");
    assert_eq!(r.oom_floor_mb, Some(576), "{r:?}");
    assert!(r.applied && r.target_mb >= 576, "{r:?}");
    assert_eq!(w.lambda.memory_mb("raised"), Some(r.target_mb));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_that_opted_out_is_never_downsized_by_its_downsize_tag_alone() {
    let w = World::new();
    let f = fleet(&w);
    w.function("left", 1024, Behaviour::NeedsMemory { need_mb: 200 }, false);
    two_weeks(&w, "left", 1024);
    w.lambda.tag("left", "autorepair:downsize", "apply");
    let r = swept(&w, &f, "left").await;
    assert_eq!(r.direction, Direction::Down, "{r:?}");
    assert!(!r.applied, "{r:?}");
    assert!(
        r.reasons.iter().any(|x| x.contains("not opted in")),
        "{r:?}"
    );
    assert_eq!(w.lambda.memory_mb("left"), Some(1024));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plan_batches_the_opted_in_functions_and_a_batch_survives_a_missing_one() {
    let w = World::with(|c| {
        c.fleet.sweep_bucket = "sweeps".into();
        c.fleet.batch_size = 2;
    });
    let f = fleet(&w);
    for name in ["a", "b", "c"] {
        oversized(&w, name);
    }
    w.function("outsider", 512, Behaviour::Throttled, false);
    let plan = sweep::plan(
        &w.ctx,
        &f.ports,
        "arn:aws:states:x:execution:sweep:weekly-3",
    )
    .await
    .unwrap();
    assert_eq!((plan.functions, plan.batches), (3, 2));
    assert_eq!(plan.key, "sweeps/weekly-3/items.json");
    let file = f.items.objects.lock().unwrap()[&("sweeps".to_owned(), plan.key.clone())].clone();
    let items: Vec<Item> = serde_json::from_slice(&file).unwrap();
    assert_eq!(items[0].functions, ["a", "b"]);
    assert_eq!(items[1].functions, ["c"]);

    let summary = sweep::batch(
        &w.ctx,
        &f.ports,
        &Item {
            sweep: "weekly-3".into(),
            functions: vec!["a".into(), "deleted-meanwhile".into()],
            member: None,
        },
        Duration::from_secs(45),
    )
    .await;
    assert_eq!((summary.swept, summary.down), (1, 1));
    assert!(
        summary.failed["deleted-meanwhile"].contains("not found"),
        "{summary:?}"
    );

    // Without a bucket the plan says what to set.
    let w = World::new();
    let err = sweep::plan(&w.ctx, &fleet(&w).ports, "s")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("fleet.sweep_bucket"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onboarding_reconciles_over_the_ports() {
    let w = World::new();
    let f = fleet(&w);
    w.function("on", 512, Behaviour::Throttled, true);
    w.function("off", 512, Behaviour::Throttled, false);
    let dry = crate::fleet::onboard::reconcile(&f.ports, &w.ctx.config, true, None)
        .await
        .unwrap();
    assert_eq!(dry.plan.count(), (3, 0, 0));
    assert!(
        f.alarms.alarms.lock().unwrap().is_empty(),
        "a dry run changes nothing"
    );
    // Where it stands is reported as it goes: the listing, then each
    // alarm written (or batch deleted) against the number of changes.
    let progress = crate::progress::Recorded::default();
    crate::fleet::onboard::reconcile_with(&f.ports, &w.ctx.config, false, None, &progress)
        .await
        .unwrap();
    assert_eq!(f.alarms.alarms.lock().unwrap().len(), 3);
    assert_eq!(
        progress.steps(),
        [
            ("listing functions and their alarms".to_owned(), None, 0),
            ("writing alarm changes".to_owned(), Some(3), 3)
        ]
    );
    w.lambda.opt_out("on");
    let progress = crate::progress::Recorded::default();
    let done =
        crate::fleet::onboard::reconcile_with(&f.ports, &w.ctx.config, false, None, &progress)
            .await
            .unwrap();
    assert_eq!(done.plan.count(), (0, 0, 3));
    assert_eq!(
        progress.steps()[1],
        ("writing alarm changes".to_owned(), Some(3), 3)
    );
    assert!(f.alarms.alarms.lock().unwrap().is_empty());

    // A console copy of a managed alarm keeps its description, not its tag:
    // when its function opts out, onboarding's own alarms go, the copy stays.
    w.function("copied", 512, Behaviour::Throttled, true);
    crate::fleet::onboard::reconcile(&f.ports, &w.ctx.config, false, None)
        .await
        .unwrap();
    let original = f
        .alarms
        .alarms
        .lock()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    let copy = format!("{original}-copy");
    let spec = f.alarms.alarms.lock().unwrap()[&original].clone();
    f.alarms.alarms.lock().unwrap().insert(
        copy.clone(),
        crate::model::AlarmSpec {
            name: copy.clone(),
            ..spec
        },
    );
    f.alarms.untagged.lock().unwrap().push(copy.clone());
    w.lambda.opt_out("copied");
    let done = crate::fleet::onboard::reconcile(&f.ports, &w.ctx.config, false, None)
        .await
        .unwrap();
    assert_eq!(done.plan.count(), (0, 0, 3), "{:?}", done.plan);
    assert!(done.plan.warnings.iter().any(|w| w.contains(&copy)));
    assert_eq!(
        f.alarms.alarms.lock().unwrap().keys().collect::<Vec<_>>(),
        [&copy]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_out_of_time_leaves_the_rest_for_the_next_sweep() {
    let w = World::new();
    let f = fleet(&w);
    oversized(&w, "late");
    let summary = sweep::batch(
        &w.ctx,
        &f.ports,
        &Item {
            sweep: "weekly".into(),
            functions: vec!["late".into()],
            member: None,
        },
        Duration::ZERO,
    )
    .await;
    assert_eq!(summary.swept, 0);
    assert!(summary.failed["late"].contains("budget"), "{summary:?}");
    assert!(f.recommendations.stored.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconcile_out_of_time_leaves_the_rest_for_the_next_run() {
    let w = World::new();
    let f = fleet(&w);
    w.function("on", 512, Behaviour::Throttled, true);
    let done = crate::fleet::onboard::reconcile(
        &f.ports,
        &w.ctx.config,
        false,
        Some(std::time::Duration::ZERO),
    )
    .await
    .unwrap();
    assert_eq!((done.left, done.failures.len()), (3, 0));
    assert!(f.alarms.alarms.lock().unwrap().is_empty());
    let done = crate::fleet::onboard::reconcile(&f.ports, &w.ctx.config, false, None)
        .await
        .unwrap();
    assert_eq!(done.left, 0);
    assert_eq!(f.alarms.alarms.lock().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_mode_covers_a_sweeps_downsizing_and_a_downsizing_never_blocks_a_repair() {
    let w = World::new();
    let f = fleet(&w);
    oversized(&w, "gated");
    w.lambda.tag("gated", "autorepair:downsize", "apply");
    w.lambda.tag("gated", "autorepair:approval", "required");
    let r = swept(&w, &f, "gated").await;
    assert!(
        !r.applied && r.reasons.iter().any(|x| x.contains("approval")),
        "{r:?}"
    );
    assert_eq!(w.lambda.memory_mb("gated"), Some(1024));

    // Applied, then an out-of-memory: the repair is not held by a cooldown
    // the downsizing started.
    oversized(&w, "shrunk");
    w.lambda.tag("shrunk", "autorepair:downsize", "apply");
    assert!(swept(&w, &f, "shrunk").await.applied);
    let history = w.audit.history("shrunk", T0 + 60_000).await.unwrap();
    assert_eq!(
        (history.last_change_ms, history.changes_last_24h),
        (None, 0)
    );
}

/// An incident and a sweep's downsizing at once on one function: one lock,
/// one history — never two changes, and the lock is free after both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_and_a_sweep_racing_change_a_function_once_at_most() {
    for _ in 0..20 {
        let w = World::new();
        let f = fleet(&w);
        oversized(&w, "contested");
        w.lambda.tag("contested", "autorepair:downsize", "apply");
        let (swept, run) = tokio::join!(swept(&w, &f, "contested"), w.run("contested"));
        let changes = w.audit.changes().len();
        assert!(
            changes <= 1,
            "{changes} changes: {swept:?} / {:?}",
            run.status
        );
        assert_eq!(
            usize::from(swept.applied) + usize::from(run.change.is_some()),
            changes
        );
        assert_eq!(w.audit.lock_holder("contested"), None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_functions_tags_bound_and_stop_a_sweep() {
    let w = World::new();
    let f = fleet(&w);
    // Its floor: the downsizing stops there, and says why.
    oversized(&w, "floored");
    w.lambda.tag("floored", "autorepair:min-mb", "512");
    let r = swept(&w, &f, "floored").await;
    assert_eq!((r.direction, r.target_mb), (Direction::Down, 512), "{r:?}");
    assert!(
        r.reasons
            .iter()
            .any(|x| x.contains("autorepair:min-mb=512: this function's floor")),
        "{r:?}"
    );
    // Recommend only: even opted in to downsizing, nothing is applied.
    oversized(&w, "advised");
    w.lambda.tag("advised", "autorepair:downsize", "apply");
    w.lambda.tag("advised", "autorepair:mode", "recommend");
    let r = swept(&w, &f, "advised").await;
    assert_eq!(r.direction, Direction::Down, "{r:?}");
    assert!(!r.applied, "{r:?}");
    assert!(
        r.reasons.iter().any(|x| x.contains("mode=recommend")),
        "{r:?}"
    );
    assert_eq!(w.lambda.memory_mb("advised"), Some(1024));
    // Off: no recommendation to act on.
    oversized(&w, "hands-off");
    w.lambda.tag("hands-off", "autorepair:mode", "off");
    let r = swept(&w, &f, "hands-off").await;
    assert_eq!(r.direction, Direction::Keep, "{r:?}");
    // A bad tag warns and the stack's policy holds.
    oversized(&w, "typo");
    w.lambda.tag("typo", "autorepair:max-mb", "a lot");
    let r = swept(&w, &f, "typo").await;
    assert_eq!(r.direction, Direction::Down, "{r:?}");
    assert!(
        r.reasons
            .iter()
            .any(|x| x.starts_with("warning: tag autorepair:max-mb")),
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_served_through_an_alias_is_not_downsized_on_latest_alone() {
    let w = World::new();
    let f = fleet(&w);
    oversized(&w, "aliased");
    w.lambda.tag("aliased", "autorepair:downsize", "apply");
    w.lambda.add_alias("aliased", "live");
    let r = swept(&w, &f, "aliased").await;
    assert_eq!(r.direction, Direction::Down, "{r:?}");
    assert!(!r.applied, "{r:?}");
    assert!(
        r.reasons
            .iter()
            .any(|x| x.contains("not applied: served through alias live")),
        "{r:?}"
    );
    assert_eq!(w.lambda.calls(LambdaOp::UpdateMemory), 0);
}

/// The lines read one by one stop at the cap, and a capped read never sizes
/// down; the service's figures count every line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn figures_from_logs_insights_size_a_function_the_capped_lines_cannot() {
    for (insights, expected) in [(false, Direction::Keep), (true, Direction::Down)] {
        let w = World::with(|c| {
            c.run.max_log_events = 100;
            if !insights {
                c.fleet.figures = crate::config::FiguresFrom::LogLines;
            }
        });
        let f = fleet(&w);
        oversized(&w, "busy");
        let r = swept(&w, &f, "busy").await;
        assert_eq!(r.direction, expected, "{r:?}");
        if insights {
            assert_eq!(r.figures, Some(crate::figures::FiguresSource::LogsInsights));
            assert!(r.reasons[0].contains("(CloudWatch Logs Insights)"), "{r:?}");
        } else {
            assert!(r.reasons[0].contains("not all read"), "{r:?}");
        }
    }
}

/// Applied, then judged over the traffic that followed: one that made
/// timeouts worse is rolled back and its old size becomes the floor; one
/// that held is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_downsizing_that_made_things_worse_is_rolled_back_and_floored() {
    use crate::clock::Clock as _;
    let w = World::new();
    let f = fleet(&w);
    for name in ["worse", "fine"] {
        oversized(&w, name);
        w.lambda.tag(name, "autorepair:downsize", "apply");
        // The twin reports 80 % of what it needs (200 MB) as its largest
        // use: its floor keeps it at what it needs.
        w.lambda.tag(name, "autorepair:min-mb", "256");
        let r = swept(&w, &f, name).await;
        assert!(r.applied && r.baseline.is_some(), "{r:?}");
    }
    let target = w.lambda.memory_mb("worse").unwrap();
    assert!(target < 1024);
    // Too soon to judge: nothing happens.
    let early = crate::fleet::downsizings::check(&w.ctx, &f.ports, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(early.waiting, 2, "{early:?}");
    // Two hours of traffic at the new size; one of them now times out
    // every fifth call.
    w.clock.sleep(Duration::from_secs(3_600)).await;
    w.clock.sleep(Duration::from_secs(3_600)).await;
    w.write(
        "worse",
        Behaviour::DownstreamTimeouts,
        target,
        100,
        T0 + 60_000,
        T0 + 3_600_000,
        90_000,
    );
    let done = crate::fleet::downsizings::check(&w.ctx, &f.ports, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(done.rolled_back.len(), 1, "{done:?}");
    assert!(done.rolled_back[0].contains("timeouts rose"), "{done:?}");
    assert_eq!(done.kept.len(), 1, "{done:?}");
    assert_eq!(w.lambda.memory_mb("worse"), Some(1024));
    assert_eq!(w.lambda.memory_mb("fine"), Some(target));
    let rolled = f.recommendations.stored.lock().unwrap()["worse"].clone();
    assert_eq!(
        rolled.check.as_ref().map(|c| c.verdict),
        Some(crate::model::DownsizeVerdict::RolledBack)
    );
    assert_eq!(rolled.oom_floor_mb, Some(1024));
    let back = w.audit.changes().pop().unwrap();
    assert_eq!((back.from_mb, back.to_mb), (target, 1024));
    assert!(back.incident_id.starts_with("sweep:rollback:"), "{back:?}");
    // Judged once: the next check leaves both alone.
    let again = crate::fleet::downsizings::check(&w.ctx, &f.ports, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(again, Default::default());
    // And no later sweep goes below the size that worked.
    let r = swept(&w, &f, "worse").await;
    assert_eq!(r.direction, Direction::Keep, "{r:?}");
}

/// The Distributed Map's ResultWriter leaves only where its results are:
/// the summary reads the manifest and every result file, a failed child's
/// error counted as a failed item.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_summary_reads_the_maps_results_from_s3() {
    let w = World::new();
    let f = fleet(&w);
    let put = |key: &str, body: serde_json::Value| {
        f.items.objects.lock().unwrap().insert(
            ("sweeps".to_owned(), key.to_owned()),
            serde_json::to_vec(&body).unwrap(),
        );
    };
    put(
        "sweeps/results/run-1/manifest.json",
        json!({
            "DestinationBucket": "sweeps",
            "MapRunArn": "arn:aws:states:us-east-1:123456789012:mapRun:sweep/run-1",
            "ResultFiles": {
                "FAILED": [{"Key": "sweeps/results/run-1/FAILED_0.json", "Size": 1}],
                "PENDING": [],
                "SUCCEEDED": [{"Key": "sweeps/results/run-1/SUCCEEDED_0.json", "Size": 1}],
            }
        }),
    );
    let batch = |up: usize, down: usize| {
        json!({
            "ExecutionArn": "arn:…", "Status": "SUCCEEDED", "Input": "{}",
            "Output": json!({"swept": up + down, "up": up, "down": down, "keep": 0, "applied": 0,
                              "monthly_delta_usd": -1.5, "throttled": 2}).to_string(),
        })
    };
    put(
        "sweeps/results/run-1/SUCCEEDED_0.json",
        json!([batch(1, 2), batch(0, 3)]),
    );
    put(
        "sweeps/results/run-1/FAILED_0.json",
        json!([{"ExecutionArn": "arn:…", "Status": "FAILED", "Error": "States.Timeout", "Cause": "took too long"}]),
    );
    let written = json!({
        "MapRunArn": "arn:…",
        "ResultWriterDetails": {"Bucket": "sweeps", "Key": "sweeps/results/run-1/manifest.json"}
    });
    let results = sweep::results(&f.ports, &written).await.unwrap();
    assert_eq!(results.len(), 3, "{results:?}");
    let total = sweep::summary(&w.ctx, "weekly", &sweep::parse_results(&results)).await;
    assert_eq!((total.swept, total.up, total.down), (6, 1, 5), "{total:?}");
    assert_eq!(total.throttled, 4);
    assert_eq!(total.failed_count, 1, "{total:?}");
    assert!(
        total
            .failed
            .values()
            .any(|why| why.contains("States.Timeout")),
        "{total:?}"
    );
    // Inline results (an engine without a ResultWriter) still add up.
    let inline = sweep::results(&f.ports, &json!([{"swept": 1, "up": 0, "down": 0, "keep": 1, "applied": 0, "monthly_delta_usd": 0.0}]))
        .await
        .unwrap();
    assert_eq!(sweep::parse_results(&inline)[0].swept, 1);
    // A manifest that is not there is an error that names it.
    let missing = json!({"ResultWriterDetails": {"Bucket": "sweeps", "Key": "nope.json"}});
    let err = sweep::results(&f.ports, &missing).await.unwrap_err();
    assert!(err.to_string().contains("nope.json"), "{err}");
}
