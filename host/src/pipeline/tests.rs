//! The orchestrator through in-memory ports and a fake clock: every stage
//! transition, each stage failing, the 412 re-read, the window extended, dry
//! runs, duplicates and locks — in milliseconds, without moto. The moto
//! end-to-end tests (tests/tests/closed_loop.rs) prove the adapters.

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::*;
use crate::ai::AiStatus;
use crate::model::{Finding, FindingKind, Millis, Recommendation};
use crate::ports::StoreError;
use crate::rules::{Compiler, Sandbox};
use crate::testing::alarm_event;
use crate::testing::ports::{
    AlarmStates, AuditOp, FakeClock, LambdaOp, MemoryAudit, MemoryExecutions, MemoryLambda,
    MemoryMetrics, MemoryNotifier, MemoryTelemetry, ScriptedAi,
};
use crate::testing::workload::{Behaviour, traffic};

mod members;
mod protocol;
mod sweep;
mod tune;

/// 2026-01-01T00:00:00Z: where the fake clock starts.
const T0: Millis = 1_767_225_600_000;
const WINDOW: Duration = Duration::from_secs(600);
/// The state machine the test host serves.
const STATE_MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:autorepair-test";

fn compiler() -> &'static Compiler {
    static COMPILER: OnceLock<Compiler> = OnceLock::new();
    COMPILER.get_or_init(|| Compiler::new(Arc::new(Sandbox::new(64).expect("sandbox")), None))
}

/// One function's world: the ports, the clock and a context over them.
struct World {
    lambda: Arc<MemoryLambda>,
    telemetry: Arc<MemoryTelemetry>,
    audit: Arc<MemoryAudit>,
    notifier: Arc<MemoryNotifier>,
    clock: Arc<FakeClock>,
    metrics: Arc<MemoryMetrics>,
    alarms: Arc<AlarmStates>,
    executions: Arc<MemoryExecutions>,
    ctx: Context,
}

impl World {
    fn new() -> World {
        World::with(|_| {})
    }

    fn with(tweak: impl FnOnce(&mut Config)) -> World {
        let mut config = Config::default();
        config.run.state_machine_arn = Some(STATE_MACHINE.into());
        tweak(&mut config);
        let (specs, _) = config.rule_specs();
        let lambda = Arc::new(MemoryLambda::default());
        let telemetry = Arc::new(MemoryTelemetry::default());
        let audit = Arc::new(MemoryAudit::default());
        let notifier = Arc::new(MemoryNotifier::default());
        let clock = Arc::new(FakeClock::at(T0));
        let metrics = Arc::new(MemoryMetrics::default());
        let alarms = Arc::new(AlarmStates::default());
        let executions = Arc::new(MemoryExecutions::default());
        let ctx = Context {
            functions: lambda.clone(),
            telemetry: telemetry.clone(),
            audit: audit.clone(),
            notifier: Some(notifier.clone()),
            ai: None,
            clock: clock.clone(),
            alarms: alarms.clone(),
            executions: executions.clone(),
            metrics: Some((metrics.clone(), "autorepair-test-host".into())),
            changes: None,
            members: None,
            rules: Arc::new(RuleSet::load(compiler(), &specs)),
            config,
        };
        World {
            lambda,
            telemetry,
            audit,
            notifier,
            clock,
            metrics,
            alarms,
            executions,
            ctx,
        }
    }

    /// A function of `memory_mb` behaving as `behaviour`, with 80 invocations
    /// in the ten minutes before now; after every sleep, the traffic of the
    /// time slept at the memory it then has (through `alias` when given).
    fn function(&self, name: &str, memory_mb: u32, behaviour: Behaviour, opted_in: bool) {
        self.lambda.add(name, memory_mb, opted_in);
        self.write(name, behaviour, memory_mb, 80, T0 - 600_000, T0 - 1_000, 0);
        let (lambda, telemetry, name) =
            (self.lambda.clone(), self.telemetry.clone(), name.to_owned());
        let seq = std::sync::atomic::AtomicU64::new(1_000);
        self.clock.on_sleep(move |from, to| {
            let Some(memory) = lambda.memory_mb(&name) else {
                return;
            };
            let first = seq.fetch_add(40, Ordering::SeqCst);
            let t = traffic(behaviour, memory, 40, from + 1, to, first);
            for (at, line) in t.lines {
                telemetry.log(&format!("/aws/lambda/{name}"), at, line);
            }
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn write(
        &self,
        name: &str,
        behaviour: Behaviour,
        memory_mb: u32,
        count: usize,
        from: Millis,
        to: Millis,
        first: u64,
    ) {
        let t = traffic(behaviour, memory_mb, count, from, to, first);
        for (at, line) in t.lines {
            self.telemetry.log(&format!("/aws/lambda/{name}"), at, line);
        }
    }

    /// The common case: 256 MB, needs ~350 MB, opted in.
    fn oom(&self, name: &str) {
        self.function(name, 256, Behaviour::NeedsMemory { need_mb: 350 }, true);
    }

    /// The parse stage of alarm `alarm` on `function` (a name or an ARN), in
    /// ALARM at T0.
    async fn parsed(&self, alarm: &str, function: &str) -> Run {
        let event = alarm_event(alarm, function, None, "ALARM", T0);
        self.alarms.raise(&event);
        parse(&self.ctx, &event, self.options(), None)
            .await
            .unwrap()
    }

    /// Parse, diagnose and decide, as the workflow runs them up to execute.
    async fn decided(&self, name: &str) -> Run {
        let mut run = self.parsed(&format!("{name}-errors"), name).await;
        diagnose(&self.ctx, &mut run, Diagnosers::BOTH).await;
        decide(&self.ctx, &mut run).await;
        run
    }

    async fn run(&self, name: &str) -> Run {
        self.run_event(&alarm_event(
            &format!("{name}-errors"),
            name,
            None,
            "ALARM",
            T0,
        ))
        .await
    }

    /// `name`'s alarm raised now (the fake clock moves on with each run's
    /// verification window), and its run.
    async fn run_now(&self, name: &str) -> Run {
        self.run_event(&alarm_event(
            &format!("{name}-errors"),
            name,
            None,
            "ALARM",
            self.clock.now_ms(),
        ))
        .await
    }

    /// CloudWatch raises the alarm `event` describes, and the event runs.
    async fn run_event(&self, event: &Value) -> Run {
        self.alarms.raise(event);
        run(&self.ctx, event, self.options()).await.expect("parses")
    }

    fn options(&self) -> Options {
        Options {
            verify_after: WINDOW,
            ..Options::from_config(&self.ctx.config)
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_memory_is_repaired_verified_recorded_and_notified() {
    let w = World::new();
    w.oom("orders");
    let run = w.run("orders").await;
    assert_eq!(run.status, Status::Repaired, "{run:#?}");
    let change = run.change.as_ref().expect("a change");
    assert_eq!(
        (change.previous_memory_mb, change.new_memory_mb),
        (256, 384)
    );
    assert!(change.request_id.is_some(), "our request's id is kept");
    assert_eq!(w.lambda.memory_mb("orders"), Some(384));
    assert_eq!(w.clock.slept(), vec![WINDOW], "one verification window");
    assert_eq!(
        w.audit.status(&run.incident.id).as_deref(),
        Some("repaired")
    );
    assert_eq!(w.audit.changes().len(), 1, "the change is in the history");
    assert_eq!(w.audit.lock_holder("orders"), None, "the lock is released");
    let sent = w.notifier.sent.lock().unwrap();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].0.contains("repaired"), "{}", sent[0].0);
    assert_eq!(run.notification_id.as_deref(), Some("message-1"));
    for stage in [
        "parse", "collect", "rules", "decide", "execute", "verify", "record",
    ] {
        assert!(run.stage_ms.contains_key(stage), "{stage} not timed");
    }
}

/// A person who stops the verification wait (Ctrl-C in `autorepair run`)
/// chooses: the change undone, or left and recorded as unverified — the
/// run is recorded and notified either way, never left half done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_wait_rolls_back_or_leaves_the_change_recorded_as_unverified() {
    struct Stop(Waited);
    #[async_trait::async_trait]
    impl Waiter for Stop {
        async fn wait(&self, _: Duration, run: &Run) -> Waited {
            assert!(run.change.is_some(), "asked only once a change is made");
            self.0
        }
    }
    for (how, name) in [
        (Waited::RollBack, "undone"),
        (Waited::LeaveUnverified, "left"),
    ] {
        let w = World::new();
        w.oom(name);
        let event = alarm_event(&format!("{name}-errors"), name, None, "ALARM", T0);
        w.alarms.raise(&event);
        let run = run_waiting(&w.ctx, &event, w.options(), &Stop(how))
            .await
            .unwrap();
        let recorded = w.audit.status(&run.incident.id);
        assert_eq!(recorded.as_deref(), Some(run.status.to_string().as_str()));
        assert_eq!(w.notifier.sent.lock().unwrap().len(), 1, "{name}: notified");
        assert_eq!(
            w.audit.lock_holder(name),
            None,
            "{name}: the lock is released"
        );
        match how {
            Waited::RollBack => {
                assert_eq!(run.status, Status::RolledBack, "{run:#?}");
                assert_eq!(w.lambda.memory_mb(name), Some(256));
            }
            _ => {
                assert_eq!(run.status, Status::Inconclusive, "{run:#?}");
                assert_eq!(w.lambda.memory_mb(name), Some(384));
                let reasons = &run.decision.as_ref().unwrap().reasons;
                assert!(
                    reasons
                        .iter()
                        .any(|r| r.contains("stopped the wait before verification")),
                    "{reasons:?}"
                );
            }
        }
    }
}

/// `autorepair undo`: a person takes back what an ended incident changed,
/// only if nothing changed the function since, and the record, the notice
/// and the history say who.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undo_puts_back_what_the_incident_changed_and_says_who() {
    let w = World::new();
    w.oom("taken-back");
    let run = w.run("taken-back").await;
    assert_eq!(run.status, Status::Repaired, "{run:#?}");
    assert_eq!(w.lambda.memory_mb("taken-back"), Some(384));
    let alice = Undo {
        by: "alice (arn:aws:sts::123456789012:assumed-role/OnCall/alice)".into(),
        reason: Some("the errors are a bug, not memory".into()),
    };
    // A pause stops changes, never their undoing.
    w.audit
        .pause(&crate::model::Pause {
            function: None,
            by: "bob".into(),
            reason: None,
            at_ms: T0,
        })
        .await
        .unwrap();
    let undone = undo(&w.ctx, &run.incident.id, &alice).await.unwrap();
    assert_eq!(undone.status, Status::RolledBack);
    assert_eq!(w.lambda.memory_mb("taken-back"), Some(256));
    let reasons = undone.decision.as_ref().unwrap().reasons.join("\n");
    assert!(
        reasons.contains("undone by alice (arn:aws:sts::123456789012:assumed-role/OnCall/alice) (384 MB → 256 MB put back): the errors are a bug, not memory"),
        "{reasons}"
    );
    assert_eq!(
        w.audit.status(&run.incident.id).as_deref(),
        Some("rolled_back")
    );
    assert_eq!(
        w.notifier.sent.lock().unwrap().len(),
        2,
        "the repair, the undo"
    );
    assert_eq!(w.notifier.attributes.lock().unwrap()[1].kind, "undo");
    assert_eq!(w.audit.lock_holder("taken-back"), None);
    // Twice: refused, nothing touched.
    let again = undo(&w.ctx, &run.incident.id, &alice).await;
    assert!(
        matches!(again, Err(ProtocolError::Refused { .. })),
        "{again:?}"
    );
    assert!(w.audit.resume(None).await.unwrap());

    // Someone changed the function since: refused, theirs stands.
    w.oom("moved-on");
    let run = w.run_now("moved-on").await;
    assert_eq!(run.status, Status::Repaired);
    w.lambda.set_memory_behind_our_back("moved-on", 1024);
    let refused = undo(&w.ctx, &run.incident.id, &alice).await;
    assert!(
        matches!(refused, Err(ProtocolError::Refused { .. })),
        "{refused:?}"
    );
    assert_eq!(w.lambda.memory_mb("moved-on"), Some(1024));
    assert_eq!(
        w.audit.status(&run.incident.id).as_deref(),
        Some("repaired")
    );
    // Nothing to undo; an incident never claimed.
    w.oom("untouched");
    let dry = run_event_dry(&w, "untouched").await;
    assert!(matches!(
        undo(&w.ctx, &dry.incident.id, &alice).await,
        Err(ProtocolError::Refused { .. })
    ));
    assert!(matches!(
        undo(&w.ctx, "no-such-incident", &alice).await,
        Err(ProtocolError::NeverClaimed(_))
    ));
}

/// A dry run of `name`'s alarm: decided and recorded, nothing changed.
async fn run_event_dry(w: &World, name: &str) -> Run {
    let event = alarm_event(
        &format!("{name}-errors"),
        name,
        None,
        "ALARM",
        w.clock.now_ms(),
    );
    w.alarms.raise(&event);
    let options = Options {
        dry_run: true,
        ..w.options()
    };
    run(&w.ctx, &event, options).await.unwrap()
}

/// A pause on every function, or on one, stops every change — decided
/// ones become escalations naming the pause, the notice says so — and
/// `resume` lifts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_stops_changes_and_resume_lifts_it() {
    use crate::model::Pause;
    let w = World::new();
    let pause = |function: Option<&str>| Pause {
        function: function.map(str::to_owned),
        by: "alice".into(),
        reason: Some("deploy freeze".into()),
        at_ms: T0,
    };
    w.audit.pause(&pause(Some("frozen"))).await.unwrap();
    w.oom("frozen");
    w.oom("free");
    let frozen = w.run("frozen").await;
    assert_eq!(frozen.status, Status::Escalated, "{frozen:#?}");
    assert_eq!(w.lambda.memory_mb("frozen"), Some(256));
    let reasons = frozen.decision.as_ref().unwrap().reasons.join("\n");
    assert!(reasons.contains("paused for frozen by alice"), "{reasons}");
    let notice = w.notifier.sent.lock().unwrap()[0].1.clone();
    assert!(
        notice.starts_with("autorepair is paused for frozen"),
        "{notice}"
    );
    // Another function's pause does not hold this one.
    assert_eq!(w.run_now("free").await.status, Status::Repaired);
    // Every function.
    w.audit.pause(&pause(None)).await.unwrap();
    w.oom("later");
    assert_eq!(w.run_now("later").await.status, Status::Escalated);
    assert!(w.audit.resume(None).await.unwrap());
    assert!(w.audit.resume(Some("frozen")).await.unwrap());
    assert!(!w.audit.resume(Some("frozen")).await.unwrap());
    w.oom("thawed");
    assert_eq!(w.run_now("thawed").await.status, Status::Repaired);
    // Unreadable pauses fail closed: nothing changes.
    w.audit.fail(crate::testing::ports::AuditOp::Pauses);
    w.oom("unsure");
    assert_eq!(w.run_now("unsure").await.status, Status::Escalated);
    assert_eq!(w.lambda.memory_mb("unsure"), Some(256));
}

/// On-call routes notices by their attributes (SNS subscription filter
/// policies): the status and its severity, the function, the incident as
/// the paging key, the stack's environment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_carry_the_attributes_on_call_routes_by() {
    let w = World::with(|c| c.run.environment = Some("prod".into()));
    w.oom("routed");
    let run = w.run("routed").await;
    assert_eq!(run.status, Status::Repaired, "{run:#?}");
    let sent = w.notifier.attributes.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    let a = &sent[0];
    assert_eq!(
        (a.kind, a.status.as_str(), a.severity),
        ("incident", "repaired", crate::model::Severity::Info)
    );
    assert_eq!(a.function.as_deref(), Some("routed"));
    assert_eq!(a.dedup_key.as_deref(), Some(run.incident.id.as_str()));
    assert_eq!(
        a.pairs(),
        [
            ("kind", "incident".to_owned()),
            ("status", "repaired".to_owned()),
            ("severity", "info".to_owned()),
            ("function", "routed".to_owned()),
            ("dedup_key", run.incident.id.clone()),
            ("stack", "prod".to_owned()),
        ]
    );
}

/// A deployment just before the alarm is what on-call asks about first: the
/// collect stage reads the day's changes, the record keeps them, the notice
/// names the newest, and the function's history keeps what this incident
/// came to for the AI's next look.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_before_the_alarm_is_named_in_the_notice_and_the_incident_remembered() {
    let mut w = World::new();
    let trail = Arc::new(crate::testing::ports::MemoryChangeLog::default());
    trail.record(
        "orders",
        "UpdateFunctionCode",
        T0 - 12 * 60_000,
        "deploy-bot",
    );
    trail.record(
        "orders",
        "UpdateFunctionConfiguration",
        T0 - 3 * 3_600_000,
        "alice",
    );
    trail.record(
        "orders",
        "UpdateFunctionCode",
        T0 - 2 * 86_400_000,
        "deploy-bot",
    );
    trail.record("payments", "UpdateFunctionCode", T0 - 60_000, "deploy-bot");
    w.ctx.changes = Some(trail);
    w.oom("orders");
    let run = w.run("orders").await;
    assert_eq!(run.status, Status::Repaired, "{run:#?}");
    let kept = &run.evidence.as_ref().unwrap().recent_changes;
    assert_eq!(
        kept.len(),
        2,
        "the day's changes to this function: {kept:?}"
    );
    let notice = w.notifier.sent.lock().unwrap()[0].1.clone();
    assert!(
        notice.contains(
            "Code deployed 12 min before the alarm (UpdateFunctionCode by deploy-bot); 2 change(s) in the day before"
        ),
        "{notice}"
    );
    let past = crate::ports::AuditStore::past_incidents(&*w.audit, "orders", 5)
        .await
        .unwrap();
    assert_eq!(past.len(), 1);
    assert_eq!(past[0].incident_id, run.incident.id);
    assert_eq!((past[0].from_mb, past[0].to_mb), (Some(256), Some(384)));
    assert_eq!(past[0].status, "repaired");
    assert!(
        past[0].kinds.contains(&"memory-exhaustion".to_owned()),
        "{past:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_finished_incident_emits_its_metrics_once() {
    let w = World::new();
    w.oom("measured");
    let run = w.run("measured").await;
    assert_eq!(run.status, Status::Repaired);
    let docs = w.metrics.documents.lock().unwrap().clone();
    let incidents: Vec<&serde_json::Value> = docs
        .iter()
        .filter(|d| d.get("Incidents").is_some())
        .collect();
    assert_eq!(incidents.len(), 1, "{docs:#?}");
    assert_eq!(incidents[0]["Status"], "repaired");
    assert_eq!(incidents[0]["Changes"], 1);
    assert_eq!(incidents[0]["Host"], "autorepair-test-host");
    let stages: Vec<&str> = docs
        .iter()
        .filter_map(|d| d.get("Stage").and_then(|s| s.as_str()))
        .collect();
    for stage in ["collect", "rules", "decide", "execute", "verify", "record"] {
        assert!(stages.contains(&stage), "no {stage} duration: {stages:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_that_does_not_help_is_rolled_back() {
    let w = World::new();
    // Needs far more than one step gives: still out of memory at 512 MB.
    w.function(
        "hungry",
        256,
        Behaviour::NeedsMemory { need_mb: 4000 },
        true,
    );
    let run = w.run("hungry").await;
    assert_eq!(run.status, Status::RolledBack, "{run:#?}");
    assert_eq!(w.lambda.memory_mb("hungry"), Some(256));
    let rollback = run.rollback.expect("a rollback");
    assert!(rollback.ok);
    assert_eq!(rollback.restored_memory_mb, 256);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_need_of_three_times_the_memory_converges_step_by_step_within_the_caps() {
    let w = World::new();
    // At 256 MB six inputs in eight run out of memory; 768 MB fits all.
    w.function(
        "growing",
        256,
        Behaviour::Varied {
            need_mb: 768,
            breaks_at_mb: None,
        },
        true,
    );
    let run = w.run("growing").await;
    assert_eq!(run.status, Status::Repaired, "{run:#?}");
    let memory = w.lambda.memory_mb("growing").unwrap();
    assert!(memory >= 768, "{memory} MB");
    let steps = run.steps.len() + 1;
    assert!((2..=3).contains(&steps), "{steps} steps: {run:#?}");
    // Every step is in the history and within the guard's step limits.
    let mut from = 256;
    for s in run
        .steps
        .iter()
        .map(|s| &s.change)
        .chain(run.change.as_ref())
    {
        assert_eq!(s.previous_memory_mb, from);
        assert!(s.new_memory_mb <= from * 2, "×2 per step at most: {s:?}");
        from = s.new_memory_mb;
    }
    for earlier in &run.steps {
        assert_eq!(
            earlier.verification.verdict,
            crate::verify::Verdict::Improved
        );
        assert!(earlier.verification.after.out_of_memory > 0);
    }
    assert_eq!(w.audit.changes().len(), steps);
    assert_eq!(
        w.clock.slept().len(),
        steps,
        "one verification window per step"
    );
    let sent = w.notifier.sent.lock().unwrap();
    assert_eq!(sent.len(), 1, "one notice for the incident");
    for step in run
        .steps
        .iter()
        .map(|s| &s.change)
        .chain(run.change.as_ref())
    {
        let shown = format!("{} MB → {} MB", step.previous_memory_mb, step.new_memory_mb);
        assert!(
            sent[0].1.contains(&shown),
            "the notice shows {shown}: {}",
            sent[0].1
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_stop_at_the_daily_cap_and_keep_what_helped() {
    let w = World::with(|c| c.policy.max_changes_per_day = 1);
    w.function(
        "capped",
        256,
        Behaviour::Varied {
            need_mb: 768,
            breaks_at_mb: None,
        },
        true,
    );
    let run = w.run("capped").await;
    assert_eq!(run.status, Status::Escalated, "{run:#?}");
    assert!(run.steps.is_empty());
    let change = run.change.as_ref().expect("the step that helped");
    assert_eq!(
        w.lambda.memory_mb("capped"),
        Some(change.new_memory_mb),
        "kept"
    );
    let reasons = run.decision.as_ref().unwrap().reasons.join("\n");
    assert!(reasons.contains("reach the cap of 1"), "{reasons}");
    assert_eq!(w.audit.changes().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_that_makes_things_worse_is_rolled_back_to_the_step_that_helped() {
    let w = World::new();
    w.function(
        "fragile",
        256,
        Behaviour::Varied {
            need_mb: 768,
            breaks_at_mb: Some(700),
        },
        true,
    );
    let run = w.run("fragile").await;
    assert_eq!(run.status, Status::Escalated, "{run:#?}");
    let helped = &run.steps.last().expect("earlier steps that helped").change;
    let last = run.change.as_ref().unwrap();
    assert_eq!(last.previous_memory_mb, helped.new_memory_mb);
    assert!(last.new_memory_mb >= 700);
    let verdict = run.verification.as_ref().unwrap().verdict;
    assert_eq!(verdict, crate::verify::Verdict::Worse);
    assert!(run.rollback.as_ref().unwrap().ok);
    assert_eq!(
        w.lambda.memory_mb("fragile"),
        Some(helped.new_memory_mb),
        "back to the step that helped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_little_traffic_extends_the_window_once_then_is_inconclusive() {
    let w = World::new();
    w.lambda.add("quiet", 256, true);
    w.write(
        "quiet",
        Behaviour::NeedsMemory { need_mb: 350 },
        256,
        80,
        T0 - 600_000,
        T0 - 1_000,
        0,
    );
    let run = w.run("quiet").await;
    assert_eq!(run.status, Status::Inconclusive, "{run:#?}");
    assert_eq!(w.clock.slept(), vec![WINDOW, WINDOW], "extended once");
    assert!(run.verification.expect("verified").extended);
    assert_eq!(w.lambda.memory_mb("quiet"), Some(384), "kept, not judged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_in_the_extended_window_is_judged() {
    let w = World::new();
    w.lambda.add("late", 256, true);
    w.write(
        "late",
        Behaviour::NeedsMemory { need_mb: 350 },
        256,
        80,
        T0 - 600_000,
        T0 - 1_000,
        0,
    );
    // Nothing in the first window; healthy traffic in the second.
    let (lambda, telemetry) = (w.lambda.clone(), w.telemetry.clone());
    let sleeps = std::sync::atomic::AtomicU32::new(0);
    w.clock.on_sleep(move |from, to| {
        if sleeps.fetch_add(1, Ordering::SeqCst) == 1 {
            let memory = lambda.memory_mb("late").unwrap();
            let t = traffic(
                Behaviour::NeedsMemory { need_mb: 350 },
                memory,
                40,
                from + 1,
                to,
                500,
            );
            for (at, line) in t.lines {
                telemetry.log("/aws/lambda/late", at, line);
            }
        }
    });
    let run = w.run("late").await;
    assert_eq!(run.status, Status::Repaired, "{run:#?}");
    assert_eq!(w.clock.slept().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_decides_and_changes_nothing() {
    let w = World::with(|c| c.run.dry_run = true);
    w.oom("dry");
    let run = w.run("dry").await;
    assert_eq!(run.status, Status::DryRun);
    assert_eq!(run.decision.unwrap().target_memory_mb, Some(384));
    assert_eq!(w.lambda.memory_mb("dry"), Some(256));
    assert_eq!(w.lambda.calls(LambdaOp::UpdateMemory), 0);
    assert!(w.clock.slept().is_empty(), "no window without a change");
    assert_eq!(w.audit.status(&run.incident.id).as_deref(), Some("dry_run"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_alarm_is_a_duplicate_and_changes_nothing_more() {
    let w = World::new();
    w.oom("twice");
    let first = w.run("twice").await;
    assert_eq!(first.status, Status::Repaired);
    let second = w.run("twice").await;
    assert_eq!(second.status, Status::Duplicate);
    assert_eq!(second.incident.id, first.incident.id);
    assert_eq!(w.lambda.calls(LambdaOp::UpdateMemory), 1);
    assert_eq!(w.notifier.sent.lock().unwrap().len(), 1, "one notice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_locked_by_another_incident_is_skipped() {
    let w = World::new();
    w.oom("busy");
    w.audit.hold_lock("busy", "someone-else", T0 + 3_600_000);
    let run = w.run("busy").await;
    assert_eq!(run.status, Status::Skipped);
    assert_eq!(w.lambda.memory_mb("busy"), Some(256));
    assert_eq!(
        w.audit.lock_holder("busy").as_deref(),
        Some("someone-else"),
        "another incident's lock is never released"
    );
    assert_eq!(w.audit.status(&run.incident.id).as_deref(), Some("skipped"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ok_alarm_claims_and_collects_nothing() {
    let w = World::new();
    w.oom("fine");
    let run = w
        .run_event(&alarm_event("fine-errors", "fine", None, "OK", T0))
        .await;
    assert_eq!(run.status, Status::NoAction);
    assert_eq!(w.lambda.calls(LambdaOp::Read), 0);
    assert_eq!(w.audit.status(&run.incident.id), None, "nothing claimed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_not_opted_in_is_left_alone() {
    let w = World::new();
    w.function(
        "theirs",
        256,
        Behaviour::NeedsMemory { need_mb: 350 },
        false,
    );
    let run = w.run("theirs").await;
    assert_eq!(run.status, Status::NoAction, "{run:#?}");
    assert_eq!(w.lambda.calls(LambdaOp::UpdateMemory), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_downstream_timeouts_never_change_memory() {
    for behaviour in [Behaviour::Throttled, Behaviour::DownstreamTimeouts] {
        let w = World::new();
        w.function("f", 256, behaviour, true);
        let run = w.run("f").await;
        assert!(
            matches!(run.status, Status::NoAction | Status::Escalated),
            "{behaviour:?}: {run:#?}"
        );
        assert_eq!(w.lambda.memory_mb("f"), Some(256), "{behaviour:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_412_rereads_the_function_and_decides_again() {
    let w = World::new();
    w.oom("raced");
    w.lambda
        .fail(LambdaOp::UpdateMemory, vec![StoreError::Precondition]);
    let run = w.run("raced").await;
    assert_eq!(run.status, Status::Repaired, "{run:#?}");
    assert_eq!(
        w.lambda.calls(LambdaOp::Read),
        4,
        "collect, execute's own read, the re-read after the 412, verify"
    );
    assert_eq!(w.lambda.memory_mb("raced"), Some(384));
}

/// After a 412 the history is read again and only this incident's own intent
/// is left out: another incident's change that raced ours (it updated first,
/// hence our 412) counts, so its cooldown holds and no second step is made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_412_counts_the_change_that_raced_ours() {
    let w = World::new();
    w.oom("contested");
    let mut run = w.decided("contested").await;
    assert_eq!(run.decision.as_ref().unwrap().action, Action::SetMemory);
    // Another incident records its change right after our intent, and its
    // update lands first: ours meets a 412.
    w.audit.race_next_change(
        "contested",
        crate::model::RecordedChange {
            incident_id: "another-incident".into(),
            at_ms: T0,
            from_mb: 256,
            to_mb: 384,
        },
    );
    w.lambda
        .fail(LambdaOp::UpdateMemory, vec![StoreError::Precondition]);
    execute(&w.ctx, &mut run).await;
    assert!(run.change.is_none(), "{run:#?}");
    assert_eq!(w.lambda.memory_mb("contested"), Some(256), "no second step");
    let reasons = run.decision.as_ref().unwrap().reasons.join("; ");
    assert!(reasons.contains("cooldown"), "{reasons}");
}

/// One function named by its name in one alarm and by its ARN in another:
/// one lock, so one incident repairs it and the other changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_and_an_arn_of_one_function_share_one_lock() {
    let w = World::new();
    w.oom("orders");
    let arn = format!(
        "arn:aws:lambda:{}:{}:function:orders",
        crate::testing::REGION,
        crate::testing::ACCOUNT
    );
    let by_name = w.parsed("orders-errors", "orders").await;
    let by_arn = w.parsed("orders-by-arn", &arn).await;
    assert_eq!(by_name.status, Status::Started);
    assert_eq!(by_arn.incident.function_name, "orders");
    assert_eq!(by_arn.status, Status::Skipped, "{:#?}", by_arn.decision);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_412_after_someone_raised_the_memory_changes_nothing() {
    let w = World::new();
    w.oom("raised");
    // Between collect and execute, someone else set 2048 MB: our revision is stale.
    let lambda = w.lambda.clone();
    w.lambda.fail(LambdaOp::UpdateMemory, vec![]);
    let run = {
        let mut run = w.decided("raised").await;
        lambda.set_memory_behind_our_back("raised", 2048);
        execute(&w.ctx, &mut run).await;
        run
    };
    assert!(run.change.is_none(), "{run:#?}");
    assert_eq!(w.lambda.memory_mb("raised"), Some(2048), "theirs stands");
    assert!(matches!(run.status, Status::NoAction | Status::Escalated));
    assert_eq!(
        run.function.unwrap().memory_mb,
        2048,
        "decided on fresh state"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_409_busy_function_is_retried_with_backoff() {
    let w = World::new();
    w.oom("busy409");
    w.lambda.fail(
        LambdaOp::UpdateMemory,
        vec![StoreError::Busy, StoreError::Busy],
    );
    let run = w.run("busy409").await;
    assert_eq!(run.status, Status::Repaired, "{run:#?}");
    assert_eq!(
        w.clock.slept()[..2],
        [Duration::from_millis(200), Duration::from_millis(400)],
        "backoff doubles"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_claim_is_a_failure_at_parse_and_changes_nothing() {
    let w = World::new();
    w.oom("noclaim");
    w.audit.fail(AuditOp::Claim);
    let run = w.run("noclaim").await;
    assert_eq!(run.status, Status::Failed);
    assert_eq!(run.failure.unwrap().stage.name(), "parse");
    assert_eq!(w.lambda.calls(LambdaOp::UpdateMemory), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_that_cannot_be_read_is_a_failure_at_collect() {
    let w = World::new();
    w.oom("unreadable");
    w.lambda.fail(
        LambdaOp::Read,
        vec![StoreError::Other("AccessDeniedException".into())],
    );
    let run = w.run("unreadable").await;
    assert_eq!(run.status, Status::Failed);
    let failure = run.failure.unwrap();
    assert_eq!(failure.stage.name(), "collect");
    assert!(failure.message.contains("AccessDenied"), "{failure:?}");
    assert_eq!(w.audit.status(&run.incident.id).as_deref(), Some("failed"));
    assert_eq!(
        w.notifier.sent.lock().unwrap().len(),
        1,
        "failures are notified"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_that_cannot_be_read_escalates_and_changes_nothing() {
    let w = World::new();
    w.oom("nohistory");
    w.audit.fail(AuditOp::History);
    let run = w.run("nohistory").await;
    assert_eq!(run.status, Status::Escalated);
    let decision = run.decision.unwrap();
    assert!(
        decision
            .reasons
            .iter()
            .any(|r| r.contains("history could not be read"))
    );
    assert_eq!(w.lambda.memory_mb("nohistory"), Some(256));
    assert_eq!(w.lambda.calls(LambdaOp::UpdateMemory), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_intent_that_cannot_be_recorded_means_no_change() {
    for op in [AuditOp::RecordChange, AuditOp::Update] {
        let w = World::new();
        w.oom("nointent");
        w.audit.fail(op);
        let run = w.run("nointent").await;
        assert_eq!(run.status, Status::Escalated, "{op:?}");
        assert_eq!(w.lambda.calls(LambdaOp::UpdateMemory), 0, "{op:?}");
        assert_eq!(w.lambda.memory_mb("nointent"), Some(256));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_intent_is_in_the_history_before_the_change() {
    let w = World::new();
    w.oom("ahead");
    // The update itself fails: the intent written ahead of it still holds the
    // cooldown (fail closed), so a second incident right after changes nothing.
    w.lambda.fail(
        LambdaOp::UpdateMemory,
        vec![StoreError::Other("crashed half-way".into())],
    );
    let first = w.run("ahead").await;
    assert_eq!(first.status, Status::Failed);
    assert_eq!(w.audit.changes().len(), 1, "the intent");
    let second = w
        .run_event(&alarm_event(
            "ahead-duration",
            "ahead",
            None,
            "ALARM",
            T0 + 60_000,
        ))
        .await;
    assert_eq!(second.status, Status::Escalated, "{:#?}", second.decision);
    assert!(
        second
            .decision
            .unwrap()
            .reasons
            .iter()
            .any(|r| r.contains("cooldown"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_update_is_a_failure_at_execute_and_nothing_changed() {
    let w = World::new();
    w.oom("stuck");
    w.lambda.fail(
        LambdaOp::UpdateMemory,
        vec![StoreError::Other("ServiceException: 500".into())],
    );
    let run = w.run("stuck").await;
    assert_eq!(run.status, Status::Failed);
    assert_eq!(run.failure.unwrap().stage.name(), "execute");
    assert_eq!(w.lambda.memory_mb("stuck"), Some(256));
    assert_eq!(
        w.audit.changes().len(),
        1,
        "the intent, written ahead, stays"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_deleted_during_the_window_is_a_failure_at_verify() {
    let w = World::new();
    w.oom("gone");
    let lambda = w.lambda.clone();
    w.clock.on_sleep(move |_, _| lambda.delete("gone"));
    let run = w.run("gone").await;
    // Verify could not collect, so the change was to be undone; the restore
    // then finds no function either.
    assert_eq!(run.status, Status::Failed);
    let verification = run.verification.as_ref().expect("a verdict");
    assert!(verification.reasons[0].contains("could not be verified"));
    assert_eq!(run.failure.unwrap().stage.name(), "rollback");
    assert_eq!(w.audit.status(&run.incident.id).as_deref(), Some("failed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_that_cannot_be_verified_is_undone_not_left_raised() {
    let w = World::new();
    w.oom("unjudged");
    // The function cannot be read after the change (once): verify has
    // nothing to judge.
    let lambda = w.lambda.clone();
    w.clock.on_sleep(move |_, _| {
        lambda.fail(LambdaOp::Read, vec![StoreError::Other("throttled".into())])
    });
    let run = w.run("unjudged").await;
    assert_eq!(run.status, Status::RolledBack, "{:#?}", run.verification);
    assert_eq!(w.lambda.memory_mb("unjudged"), Some(256), "put back");
    assert_eq!(run.failure.unwrap().stage.name(), "verify");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_rollback_is_recorded_as_such() {
    let w = World::new();
    w.function(
        "stubborn",
        256,
        Behaviour::NeedsMemory { need_mb: 4000 },
        true,
    );
    let lambda = w.lambda.clone();
    w.clock.on_sleep(move |_, _| {
        lambda.fail(
            LambdaOp::UpdateMemory,
            vec![StoreError::Other("ServiceException".into())],
        )
    });
    let run = w.run("stubborn").await;
    assert_eq!(run.status, Status::Failed, "{run:#?}");
    assert_eq!(run.failure.unwrap().stage.name(), "rollback");
    assert!(!run.rollback.unwrap().ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_that_cannot_be_written_is_reported_and_the_notice_still_goes() {
    let w = World::new();
    w.oom("norecord");
    // The intent and the change are recorded; the final record is not.
    w.audit.fail_after(AuditOp::Update, 2);
    let run = w.run("norecord").await;
    assert_eq!(run.status, Status::Repaired);
    assert_eq!(run.failure.unwrap().stage.name(), "record");
    assert_eq!(w.notifier.sent.lock().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notifier_that_is_down_does_not_lose_the_record() {
    let w = World::new();
    w.oom("nonotice");
    w.notifier.failing.store(true, Ordering::SeqCst);
    let run = w.run("nonotice").await;
    assert_eq!(run.status, Status::Repaired);
    assert_eq!(run.notification_id, None);
    assert_eq!(
        w.audit.status(&run.incident.id).as_deref(),
        Some("repaired")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alias_is_repaired_through_a_new_version() {
    let w = World::new();
    w.oom("aliased");
    w.lambda.add_alias("aliased", "live");
    let run = w
        .run_event(&alarm_event(
            "aliased-errors",
            "aliased",
            Some("live"),
            "ALARM",
            T0,
        ))
        .await;
    let change = run.change.as_ref().expect("changed");
    assert_eq!(change.alias.as_deref(), Some("live"));
    assert_eq!(change.previous_version.as_deref(), Some("1"));
    assert_eq!(change.published_version.as_deref(), Some("2"));
    assert_eq!(w.lambda.alias_memory_mb("aliased", "live"), Some(384));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alias_whose_code_differs_from_latest_escalates() {
    let w = World::new();
    w.oom("drifted");
    w.lambda.add_alias("drifted", "live");
    w.lambda.deploy_code("drifted", "code-2");
    let run = w
        .run_event(&alarm_event(
            "drifted-errors",
            "drifted",
            Some("live"),
            "ALARM",
            T0,
        ))
        .await;
    assert_eq!(run.status, Status::Escalated, "{run:#?}");
    assert!(run.change.is_none());
    assert_eq!(w.lambda.calls(LambdaOp::Publish), 0);
    assert_eq!(w.lambda.alias_memory_mb("drifted", "live"), Some(256));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_ai_mode_the_ai_decides_and_the_rules_are_recorded() {
    let mut w = World::with(|c| c.mode = MergeMode::Ai);
    w.oom("ai");
    w.ctx.ai = Some(Arc::new(ScriptedAi(crate::ai::AiRun {
        model_id: "test-model".into(),
        status: AiStatus::Answered,
        finding: Some(Finding {
            kind: FindingKind::MemoryExhaustion,
            confidence: 0.9,
            summary: "heap exhausted".into(),
            evidence: vec![],
            recommendation: Recommendation::SetMemory { memory_mb: 512 },
        }),
        reason: None,
        latency_ms: 5,
        attempts: 1,
        input_tokens: 100,
        output_tokens: 20,
        stop_reason: Some("tool_use".into()),
        cost_usd: 0.0,
        prompt_tokens_estimated: 100,
        sample_lines: 3,
        redactions: 0,
        shadow: false,
        ..crate::ai::AiRun::failed("test-model", false)
    })));
    let run = w.run("ai").await;
    assert_eq!(run.status, Status::Repaired, "{run:#?}");
    assert_eq!(run.change.unwrap().new_memory_mb, 512, "the AI's size");
    assert!(
        run.findings.iter().any(|f| !f.source.is_ai()),
        "rules recorded"
    );
    assert!(run.would_have.iter().any(|w| w.by == "mode:rules"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_memory_at_lambdas_maximum_is_escalated_not_dropped() {
    let w = World::new();
    w.function(
        "biggest",
        10_240,
        Behaviour::NeedsMemory { need_mb: 12_000 },
        true,
    );
    let run = w.run("biggest").await;
    assert_eq!(run.status, Status::Escalated, "{:#?}", run.decision);
    assert_eq!(w.lambda.memory_mb("biggest"), Some(10_240));
    assert_eq!(
        w.notifier.sent.lock().unwrap().len(),
        1,
        "somebody hears of it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_veto_rule_that_fails_escalates_instead_of_a_memory_change() {
    let mut w = World::new();
    w.oom("vetoed");
    // A rule that would have vetoed (say, the throttling check) traps.
    let path = crate::testing::hostile::path("trap");
    let mut specs = w.ctx.config.rule_specs().0;
    specs.push(crate::rules::RuleSpec {
        origin: crate::rules::Origin::External(path.into()),
        bytes: std::sync::Arc::from(std::fs::read(path).unwrap()),
        grants: crate::model::Grants::ALL,
        limits: crate::rules::Limits::default(),
        shadow: false,
        trust: crate::trust::Trust::Pinned,
        veto_on_failure: true,
    });
    w.ctx.rules = Arc::new(RuleSet::load(compiler(), &specs));
    let run = w.run("vetoed").await;
    assert_eq!(run.status, Status::Escalated, "{:#?}", run.decision);
    assert!(run.plugin_failures.iter().any(|f| f.veto));
    assert_eq!(w.lambda.memory_mb("vetoed"), Some(256));
}

fn alias_event(name: &str) -> Value {
    alarm_event(&format!("{name}-errors"), name, Some("live"), "ALARM", T0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alias_whose_settings_differ_from_latest_escalates_and_publishes_nothing() {
    let w = World::new();
    w.oom("settings");
    w.lambda.add_alias("settings", "live");
    // Same code, but a new environment variable waits in $LATEST.
    w.lambda.deploy_config("settings", "config-2");
    let run = w.run_event(&alias_event("settings")).await;
    assert_eq!(run.status, Status::Escalated, "{:#?}", run.decision);
    assert_eq!(w.lambda.calls(LambdaOp::Publish), 0);
    assert_eq!(w.lambda.alias_memory_mb("settings", "live"), Some(256));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_during_the_window_is_never_rolled_back() {
    let w = World::new();
    w.function(
        "released",
        256,
        Behaviour::NeedsMemory { need_mb: 4000 },
        true,
    );
    w.lambda.add_alias("released", "live");
    // During the verification window the team releases a new version.
    let lambda = w.lambda.clone();
    w.clock
        .on_sleep(move |_, _| lambda.release("released", "live"));
    let run = w.run_event(&alias_event("released")).await;
    let change = run.change.clone().expect("changed");
    let theirs = w.lambda.alias_version("released", "live").unwrap();
    assert_ne!(
        Some(&theirs),
        change.published_version.as_ref(),
        "their release"
    );
    assert_eq!(run.status, Status::Escalated, "{:#?}", run.decision);
    assert!(
        run.decision
            .unwrap()
            .reasons
            .iter()
            .any(|r| r.contains("someone released")),
        "the reason names the release"
    );
    assert_eq!(
        w.lambda.alias_version("released", "live").unwrap(),
        theirs,
        "their release still serves"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_alias_move_puts_latest_back_and_is_recorded() {
    let w = World::new();
    w.oom("halfway");
    w.lambda.add_alias("halfway", "live");
    w.lambda.fail(
        LambdaOp::MoveAlias,
        vec![StoreError::Other("ServiceException".into())],
    );
    let run = w.run_event(&alias_event("halfway")).await;
    assert_eq!(run.status, Status::Failed, "{:#?}", run.failure);
    let failure = run.failure.unwrap();
    assert!(
        failure.message.contains("put back to 256 MB"),
        "{failure:?}"
    );
    assert_eq!(w.lambda.memory_mb("halfway"), Some(256), "$LATEST undone");
    assert_eq!(w.lambda.alias_memory_mb("halfway", "live"), Some(256));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alias_rollback_restores_latest_to_its_own_memory() {
    let w = World::new();
    w.function(
        "twosizes",
        256,
        Behaviour::NeedsMemory { need_mb: 4000 },
        true,
    );
    w.lambda.add_alias("twosizes", "live");
    // $LATEST was raised to 384 MB after the alias's version was published.
    w.lambda.set_memory_behind_our_back("twosizes", 384);
    let run = w.run_event(&alias_event("twosizes")).await;
    let change = run.change.clone().expect("changed");
    assert_eq!(change.previous_memory_mb, 256, "what the alias served");
    assert_eq!(change.previous_latest_memory_mb, Some(384));
    assert_eq!(run.status, Status::RolledBack, "{:#?}", run.decision);
    assert_eq!(
        w.lambda.memory_mb("twosizes"),
        Some(384),
        "$LATEST's own memory"
    );
    assert_eq!(w.lambda.alias_memory_mb("twosizes", "live"), Some(256));
}

fn with_smoke(c: &mut Config) {
    c.smoke.enabled = true;
    c.smoke
        .payloads
        .insert("smoked".into(), r#"{"ping": true}"#.into());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passing_smoke_test_lets_the_change_be_verified_as_usual() {
    let w = World::with(with_smoke);
    w.oom("smoked");
    let run = w.run("smoked").await;
    assert_eq!(run.status, Status::Repaired, "{:#?}", run.smoke);
    let smoke = run.smoke.expect("smoke-tested");
    assert!(smoke.ok);
    assert_eq!(smoke.memory_size_mb, Some(384), "it ran at the new size");
    assert_eq!(w.lambda.calls(LambdaOp::Invoke), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_smoke_test_rolls_back_at_once_without_waiting() {
    let w = World::with(with_smoke);
    w.oom("smoked");
    w.lambda.fail_invocations("smoked", "Unhandled");
    let run = w.run("smoked").await;
    assert_eq!(run.status, Status::RolledBack, "{:#?}", run.smoke);
    assert!(
        w.clock.slept().is_empty(),
        "no verification window was waited"
    );
    assert_eq!(w.lambda.memory_mb("smoked"), Some(256));
    let verification = run.verification.expect("judged by the smoke test");
    assert!(
        verification.reasons[0].contains("smoke test failed"),
        "{verification:?}"
    );
    assert!(!run.smoke.unwrap().ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_payload_there_is_no_smoke_test() {
    let w = World::with(|c| c.smoke.enabled = true);
    w.oom("unsmoked");
    let run = w.run("unsmoked").await;
    assert_eq!(run.status, Status::Repaired);
    assert!(run.smoke.is_none());
    assert_eq!(w.lambda.calls(LambdaOp::Invoke), 0);
}

/// A model that records every request and answers with one OOM finding.
#[derive(Default)]
struct RecordingModel {
    requests: std::sync::Mutex<Vec<crate::ports::ModelRequest>>,
}

#[async_trait::async_trait]
impl crate::ports::Model for RecordingModel {
    async fn converse(
        &self,
        request: &crate::ports::ModelRequest,
    ) -> Result<crate::ports::ModelReply, crate::ports::ModelError> {
        self.requests.lock().unwrap().push(request.clone());
        Ok(crate::ports::ModelReply {
            input_tokens: 10,
            output_tokens: 10,
            stop_reason: "tool_use".into(),
            text: String::new(),
            tool_uses: vec![crate::ports::ToolUse {
                id: "t1".into(),
                name: crate::ai::prompt::TOOL_NAME.to_owned(),
                input: serde_json::json!({
                    "kind": "memory-exhaustion", "confidence": 0.9,
                    "summary": "out of memory",
                    "recommendation": {"action": "set_memory", "memory_mb": 512}
                }),
            }],
        })
    }
}

/// A secret a function prints beside its out-of-memory (Python's `print`,
/// a logger that echoes input) reaches neither the audit record, nor the
/// notice, nor the model: the bundled rules copy such lines into their
/// findings, and every text is redacted before it leaves the host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_in_log_lines_never_leave_the_host() {
    const SECRETS: [&str; 8] = [
        "AKIAIOSFODNN7EXAMPLE",
        r#"{"password": "hunter2-orders"}"#,
        "postgres://orders:Sup3rS3cret@db.internal/orders",
        "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
        "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
        "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        "access_token=ya29.a0AfH6SMBx3-orders",
        "-----BEGIN PRIVATE KEY----- MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
    ];
    const LEAKS: [&str; 8] = [
        "AKIAIOSFODNN7EXAMPLE",
        "hunter2-orders",
        "Sup3rS3cret",
        "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
        "xoxb-123456789012",
        "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        "ya29.a0AfH6SMBx3",
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
    ];
    let model = Arc::new(RecordingModel::default());
    let mut w = World::with(|c| c.ai.enabled = true);
    w.ctx.ai = Some(Arc::new(crate::ai::Diagnoser::new(
        model.clone(),
        &w.ctx.config.ai,
    )));
    w.oom("leaky");
    for (i, secret) in SECRETS.iter().enumerate() {
        w.telemetry.log(
            "/aws/lambda/leaky",
            // Before the workload's own lines: the rules quote the first ones.
            T0 - 900_000 + i as Millis,
            format!("{secret} FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory"),
        );
    }
    let run = w.run("leaky").await;
    // The line was seen: the rules' findings quote it, redacted.
    let quoted = run
        .findings
        .iter()
        .flat_map(|f| f.finding.evidence.iter())
        .any(|e| e.contains("[REDACTED"));
    assert!(quoted, "{:#?}", run.findings);
    let record = w.audit.stored(&run.incident.id).expect("a record").document;
    let notices: Vec<String> = w
        .notifier
        .sent
        .lock()
        .unwrap()
        .iter()
        .map(|(subject, text, json)| format!("{subject}\n{text}\n{json}"))
        .collect();
    assert!(!notices.is_empty());
    let prompts: Vec<String> = model
        .requests
        .lock()
        .unwrap()
        .iter()
        .map(|r| format!("{}\n{:?}", r.system, r.turns))
        .collect();
    assert_eq!(prompts.len(), 1, "the model was asked");
    for leak in LEAKS {
        assert!(!record.contains(leak), "{leak} in the audit record");
        for notice in &notices {
            assert!(!notice.contains(leak), "{leak} in a notice");
        }
        assert!(!prompts[0].contains(leak), "{leak} in the prompt");
    }
}

/// A healthy function that prints its callers' input raw, and a caller who
/// sends lines in REPORT's shape claiming out-of-memory failures: the reports
/// outnumber the invocations CloudWatch counted, so they are in doubt and
/// nothing is changed (a person is told why).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn printed_report_lines_change_nothing() {
    let w = World::new();
    w.function(
        "printer",
        512,
        Behaviour::NeedsMemory { need_mb: 200 },
        true,
    );
    w.telemetry.add_metric(
        "printer",
        crate::model::MetricSeries {
            namespace: "AWS/Lambda".into(),
            name: "Invocations".into(),
            statistic: "Sum".into(),
            unit: "Count".into(),
            // CloudWatch's one-minute points: 8 a minute, 80 in all.
            points: (0..10)
                .map(|m| crate::model::Point {
                    timestamp_ms: T0 - 600_000 + m * 60_000,
                    value: 8.0,
                })
                .collect(),
        },
    );
    for i in 0..12 {
        w.telemetry.log(
            "/aws/lambda/printer",
            T0 - 300_000 + i * 1_000,
            format!(
                "REPORT RequestId: 6d0c8f7e-0000-4000-8000-{i:012}\tDuration: 812.00 ms\tBilled Duration: 812 ms\tMemory Size: 512 MB\tMax Memory Used: 512 MB\tStatus: error\tError Type: Runtime.OutOfMemory"
            ),
        );
    }
    let run = w.run("printer").await;
    assert_eq!(w.lambda.memory_mb("printer"), Some(512), "{run:#?}");
    assert!(run.change.is_none());
    assert_eq!(run.status, Status::Escalated, "{:#?}", run.decision);
    let reasons = run.decision.as_ref().unwrap().reasons.join("; ");
    assert!(reasons.contains("cannot be trusted"), "{reasons}");
    assert!(
        run.evidence
            .as_ref()
            .and_then(|e| e.report_doubt.as_deref())
            .is_some_and(|why| why.contains("92 REPORT lines but 80 invocations")),
        "{:#?}",
        run.evidence
    );
}

/// The alias must still serve the version the guard judged when the change
/// is made: a release in between (here: the function as read before it)
/// stands, nothing is published or moved, and the change is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alias_released_since_it_was_judged_is_left_alone() {
    let w = World::new();
    w.oom("racing");
    w.lambda.add_alias("racing", "live");
    let judged = w.ctx.functions.read("racing", Some("live")).await.unwrap();
    assert_eq!(judged.version, "1");
    w.lambda.release("racing", "live");
    let refused = w.ctx.repairer().set_memory(&judged, 384).await;
    assert!(
        matches!(&refused, Err(crate::repair::RepairError::Moved(why)) if why.contains("version 2")),
        "{refused:?}"
    );
    assert_eq!(
        w.lambda.alias_version("racing", "live").as_deref(),
        Some("2")
    );
    assert_eq!(w.lambda.memory_mb("racing"), Some(256), "$LATEST untouched");
}

/// Only a state change CloudWatch recorded starts anything: events naming an
/// opted-in function that CloudWatch does not back are refused at parse —
/// nothing claimed, locked, changed or notified.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_alarm_event_changes_nothing() {
    use crate::incident::IncidentError;
    use crate::origin::Unverified;
    let w = World::new();
    w.oom("target");
    let parse_of = |event: Value| {
        let ctx = &w.ctx;
        let options = w.options();
        async move { parse(ctx, &event, options, None).await }
    };
    // No such alarm.
    let forged = alarm_event("target-errors", "target", None, "ALARM", T0);
    assert!(matches!(
        parse_of(forged.clone()).await,
        Err(IncidentError::Unverified(Unverified::NoSuchAlarm(_)))
    ));
    // A real alarm, replayed with the window of an old out-of-memory: too old.
    let old = alarm_event("target-errors", "target", None, "ALARM", T0 - 3_600_000);
    w.alarms.raise(&old);
    assert!(matches!(
        parse_of(old).await,
        Err(IncidentError::Unverified(Unverified::TooOld { .. }))
    ));
    // …and with a new timestamp, which would be a new incident: the alarm
    // entered ALARM an hour ago, not then.
    assert!(matches!(
        parse_of(forged.clone()).await,
        Err(IncidentError::Unverified(Unverified::NoSuchChange { .. }))
    ));
    // The alarm is back in OK, and never was in ALARM at the event's time.
    w.alarms.raise(&alarm_event(
        "target-errors",
        "target",
        None,
        "OK",
        T0 - 60_000,
    ));
    assert!(matches!(
        parse_of(forged).await,
        Err(IncidentError::Unverified(Unverified::NoSuchChange { .. }))
    ));
    // An alarm that watches another function, named in the event as this one.
    w.alarms
        .raise(&alarm_event("other-errors", "other", None, "ALARM", T0));
    assert!(matches!(
        parse_of(alarm_event("other-errors", "target", None, "ALARM", T0)).await,
        Err(IncidentError::Unverified(Unverified::OtherFunction { .. }))
    ));
    assert!(
        w.audit.records().await.unwrap().is_empty(),
        "nothing claimed"
    );
    assert_eq!(w.audit.lock_holder("target"), None);
    assert!(w.notifier.sent.lock().unwrap().is_empty(), "nobody told");
    assert_eq!(w.lambda.memory_mb("target"), Some(256));
    // The real change goes through.
    let real = w.run("target").await;
    assert_eq!(real.status, Status::Repaired, "{real:#?}");
}

/// An alarm flapping (or events sent in a loop) puts at most
/// `max_notices_per_function_hour` notices about one function in front of
/// people; the rest are recorded as not sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_about_one_function_are_bounded_per_hour() {
    let w = World::with(|c| c.run.max_notices_per_function_hour = 2);
    w.oom("flappy");
    let mut runs = Vec::new();
    for i in 0..4 {
        let state = if i % 2 == 0 {
            "OK"
        } else {
            "INSUFFICIENT_DATA"
        };
        runs.push(
            w.run_event(&alarm_event("flappy-errors", "flappy", None, state, T0 + i))
                .await,
        );
    }
    assert_eq!(w.notifier.sent.lock().unwrap().len(), 2);
    let last = runs
        .last()
        .unwrap()
        .notification_id
        .as_deref()
        .unwrap_or_default();
    assert!(last.starts_with("not sent"), "{last}");
    // Another function is not held back by this one's flapping.
    w.oom("steady");
    w.run_event(&alarm_event("steady-errors", "steady", None, "OK", T0))
        .await;
    assert_eq!(w.notifier.sent.lock().unwrap().len(), 3);
}

/// Two deployments in one account: each acts only on alarms named with its
/// own prefix, even a real alarm of the other's sent its way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_acts_only_on_its_own_alarms() {
    use crate::incident::IncidentError;
    use crate::origin::Unverified;
    let w = World::with(|c| {
        c.run.own_alarms_only = true;
        c.fleet.alarm_prefix = "autorepair-prod-".into();
    });
    w.oom("shared");
    let theirs = alarm_event("autorepair-dev-shared-errors", "shared", None, "ALARM", T0);
    w.alarms.raise(&theirs);
    assert!(matches!(
        parse(&w.ctx, &theirs, w.options(), None).await,
        Err(IncidentError::Unverified(Unverified::NotOurs { .. }))
    ));
    let ours = w
        .run_event(&alarm_event(
            "autorepair-prod-shared-errors",
            "shared",
            None,
            "ALARM",
            T0,
        ))
        .await;
    assert_eq!(ours.status, Status::Repaired, "{ours:#?}");
}
