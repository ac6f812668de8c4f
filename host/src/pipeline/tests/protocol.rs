//! The Lambda stage protocol: the run by reference, the workflow's order as
//! the only one taken, retries that finish what a crashed attempt started.

use super::*;
use crate::pipeline::ProtocolError;
use crate::pipeline::protocol::{Next, next};
use crate::stage::Stage;

/// The request Step Functions sends after `reply`: from the execution that
/// claimed the incident.
fn request(w: &World, stage: &str, reply: &StageReply) -> StageRequest {
    let mut request = serde_json::json!({
        "stage": stage,
        "incident": reply.incident,
        "version": reply.version,
        "execution": claimant(w, reply),
    });
    if stage == "execute" {
        request["answer"] = reply.answer.clone().into();
    }
    serde_json::from_value(request).expect("a stage request")
}

/// The execution that claimed the incident `reply` names.
fn claimant(w: &World, reply: &StageReply) -> Option<String> {
    w.audit
        .stored(&reply.incident)
        .and_then(|r| serde_json::from_str::<Run>(&r.document).ok())
        .and_then(|r| r.claimed_by)
}

/// The stage's reply, or its error as the workflow's Catch would read it.
async fn send(w: &World, stage_name: &str, reply: &StageReply) -> Result<StageReply, String> {
    stage(&w.ctx, request(w, stage_name, reply))
        .await
        .map_err(|e| e.to_string())
}

/// The run as the audit table holds it.
fn stored(w: &World, id: &str) -> Run {
    let record = w.audit.stored(id).expect("a record");
    serde_json::from_str(&record.document).expect("a run")
}

/// Parse of an alarm on `name` in `state`, as the workflow sends it.
async fn parsed(w: &World, name: &str, state: &str) -> StageReply {
    let event = alarm_event(&format!("{name}-errors"), name, None, state, T0);
    w.alarms.raise(&event);
    let execution = format!("exec-{name}");
    w.executions.start(&execution, STATE_MACHINE);
    let request = StageRequest::Parse {
        event,
        execution: Some(execution),
    };
    stage(&w.ctx, request).await.unwrap()
}

/// Parse, both branches and decide, as the workflow sends them.
async fn decided(w: &World, name: &str) -> StageReply {
    let parsed = parsed(w, name, "ALARM").await;
    assert!(parsed.claimed);
    // Both branches start from parse's reply, as in the Parallel state.
    send(w, "rules", &parsed).await.unwrap();
    send(w, "ai", &parsed).await.unwrap();
    send(w, "decide", &parsed).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stage_protocol_runs_the_whole_loop_by_reference() {
    let w = World::new();
    w.oom("stepped");
    let decided = decided(&w, "stepped").await;
    assert_eq!(
        (decided.status, decided.action.as_str()),
        (Status::Started, "set_memory")
    );
    let executed = send(&w, "execute", &decided).await.unwrap();
    assert!(executed.changed);
    w.clock.sleep(WINDOW).await;
    let verified = send(&w, "verify", &executed).await.unwrap();
    assert_eq!(verified.verdict, "improved");
    let kept = send(&w, "rollback", &verified).await.unwrap();
    let recorded = send(&w, "record", &kept).await.unwrap();
    assert_eq!(recorded.status, Status::Repaired, "{recorded:#?}");
    assert_eq!(w.lambda.memory_mb("stepped"), Some(384));

    let record = w.audit.stored(&recorded.incident).unwrap();
    assert_eq!(
        record.stages.iter().map(|s| s.name()).collect::<Vec<_>>(),
        [
            "parse", "rules", "ai", "decide", "execute", "verify", "rollback", "record"
        ]
    );
    assert_eq!(record.version, recorded.version);
    let run = stored(&w, &recorded.incident);
    assert_eq!(run.status, Status::Repaired);
    assert!(run.findings.iter().any(|f| !f.source.is_ai()));
    let mut names: Vec<&str> = run.rules.iter().map(|r| r.rule.as_str()).collect();
    let ran = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), ran, "each rule once: {names:?}");
    assert_eq!(
        run.findings.len(),
        run.rules.iter().map(|r| r.findings).sum::<usize>(),
        "each finding once"
    );
    assert!(run.finished_ms.is_some());
    // What passes between states is a reference, whatever the run weighs.
    let payload = serde_json::to_vec(&recorded).unwrap().len();
    assert!(payload < 300, "{payload} bytes");
    assert!(json(&run).len() > 4 * payload);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_carrying_a_run_is_not_a_stage_request() {
    let w = World::new();
    w.oom("carried");
    let decided = decided(&w, "carried").await;
    let mut run = stored(&w, &decided.incident);
    run.decision.as_mut().unwrap().target_memory_mb = Some(10_240);
    for payload in [
        serde_json::json!({"stage": "execute", "run": run}),
        serde_json::json!({"stage": "execute", "incident": decided.incident,
                           "version": decided.version, "run": run}),
        serde_json::json!({"stage": "decide", "runs": [run]}),
    ] {
        let parsed: Result<StageRequest, _> = serde_json::from_value(payload);
        assert!(parsed.is_err(), "{parsed:?}");
    }
    assert_eq!(w.lambda.memory_mb("carried"), Some(256));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_out_of_order_is_refused() {
    let w = World::new();
    w.oom("skipper");
    let parsed = parsed(&w, "skipper", "ALARM").await;
    // Straight from parse to execute: no diagnosis, no decision.
    let refused = send(&w, "execute", &parsed).await.unwrap_err();
    assert!(refused.contains("cannot follow parse"), "{refused}");
    // The error a caller can match on, not only read.
    let typed = stage(&w.ctx, request(&w, "execute", &parsed))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &typed,
            ProtocolError::OutOfOrder {
                source: crate::pipeline::OrderError::CannotFollow {
                    stage: Stage::Execute,
                    unverified: false,
                    ..
                },
                ..
            }
        ),
        "{typed:?}"
    );
    // A version the record never had.
    let mut ahead = parsed.clone();
    ahead.version = 7;
    let refused = send(&w, "execute", &ahead).await.unwrap_err();
    assert!(refused.contains("version 7"), "{refused}");
    // Rollback and verify before anything changed.
    for stage_name in ["verify", "rollback", "decide"] {
        assert!(send(&w, stage_name, &parsed).await.is_err(), "{stage_name}");
    }
    assert_eq!(w.lambda.calls(LambdaOp::UpdateMemory), 0);
    assert_eq!(w.lambda.memory_mb("skipper"), Some(256));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_after_a_decision_of_none_changes_nothing() {
    let w = World::new();
    w.function(
        "outsider",
        256,
        Behaviour::NeedsMemory { need_mb: 350 },
        false,
    );
    let decided = decided(&w, "outsider").await;
    assert_eq!(decided.status, Status::NoAction, "not opted in");
    // Sent anyway, as an attacker with InvokeFunction would.
    let executed = send(&w, "execute", &decided).await.unwrap();
    assert!(!executed.changed);
    assert_eq!(w.lambda.calls(LambdaOp::UpdateMemory), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_runs_the_whole_guard_again_on_the_function_as_it_is() {
    let w = World::new();
    w.oom("opting-out");
    let decided = decided(&w, "opting-out").await;
    assert_eq!(decided.action, "set_memory");
    // The owner opts out between decide and execute.
    w.lambda.opt_out("opting-out");
    let executed = send(&w, "execute", &decided).await.unwrap();
    assert!(!executed.changed);
    assert_eq!(executed.status, Status::NoAction);
    assert_eq!(w.lambda.memory_mb("opting-out"), Some(256));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stage_requests_for_an_incident_never_claimed_are_refused() {
    let w = World::new();
    w.oom("real");
    let mut forged = decided(&w, "real").await;
    forged.incident = "0123456789abcdef0123456789abcdef".into();
    for stage_name in [
        "rules", "ai", "decide", "execute", "verify", "rollback", "record",
    ] {
        let refused = send(&w, stage_name, &forged).await.unwrap_err();
        assert!(refused.contains("never claimed"), "{stage_name}: {refused}");
    }
    assert_eq!(w.lambda.memory_mb("real"), Some(256));
    assert!(
        w.audit.stored(&forged.incident).is_none(),
        "nothing written"
    );
    assert!(
        w.notifier.sent.lock().unwrap().is_empty(),
        "nothing published"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_before_the_window_has_passed_is_refused() {
    let w = World::new();
    w.function("early", 256, Behaviour::NeedsMemory { need_mb: 4000 }, true);
    let executed = send(&w, "execute", &decided(&w, "early").await)
        .await
        .unwrap();
    assert!(executed.changed);
    // Sent right away, before the Wait state's window: it would judge on
    // nothing and could undo a good change.
    let refused = send(&w, "verify", &executed).await.unwrap_err();
    assert!(refused.contains("refusing to verify early"), "{refused}");
    let refused = send(&w, "rollback", &executed).await.unwrap_err();
    assert!(refused.contains("cannot follow"), "{refused}");
    assert_eq!(w.lambda.calls(LambdaOp::UpdateMemory), 1, "not undone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_request_after_the_loop_moved_on_is_refused() {
    let w = World::new();
    w.function("stale", 256, Behaviour::NeedsMemory { need_mb: 4000 }, true);
    let decided = decided(&w, "stale").await;
    let executed = send(&w, "execute", &decided).await.unwrap();
    w.clock.sleep(WINDOW).await;
    let verified = send(&w, "verify", &executed).await.unwrap();
    let rolled = send(&w, "rollback", &verified).await.unwrap();
    assert_eq!(rolled.status, Status::RolledBack);
    let updates = w.lambda.calls(LambdaOp::UpdateMemory);
    // An old decide reply replayed: execute again after the rollback.
    // A replay of a committed execute answers where the record stands, and
    // does nothing.
    let replayed = send(&w, "execute", &decided).await.unwrap();
    assert_eq!(replayed.status, Status::RolledBack);
    let mut replay = rolled.clone();
    replay.version -= 1;
    let again = send(&w, "rollback", &replay).await.unwrap();
    assert_eq!(again.status, Status::RolledBack);
    let refused = send(&w, "execute", &rolled).await.unwrap_err();
    assert!(refused.contains("cannot follow"), "{refused}");
    assert_eq!(
        w.lambda.calls(LambdaOp::UpdateMemory),
        updates,
        "nothing more changed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_sent_during_the_window_escalates_and_the_loop_stops() {
    let w = World::new();
    w.oom("interrupted");
    let executed = send(&w, "execute", &decided(&w, "interrupted").await)
        .await
        .unwrap();
    // A forged (or misrouted) record before the change was judged.
    let recorded = send(&w, "record", &executed).await.unwrap();
    assert_eq!(recorded.status, Status::Escalated, "never a quiet ending");
    let run = stored(&w, &recorded.incident);
    assert!(
        run.decision
            .unwrap()
            .reasons
            .iter()
            .any(|r| r.contains("before it was verified")),
        "the reason is on record"
    );
    let sent = w.notifier.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "a person is told");
    assert_eq!(w.audit.lock_holder("interrupted"), None);
    // The workflow's own verify, after its wait, finds the record ended.
    w.clock.sleep(WINDOW).await;
    assert!(send(&w, "verify", &executed).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_branches_commit_in_either_order_and_decide_sees_both() {
    let w = World::new();
    w.oom("branches");
    let parsed = parsed(&w, "branches", "ALARM").await;
    // Decide before the branches: refused.
    assert!(send(&w, "decide", &parsed).await.is_err());
    let ai = send(&w, "ai", &parsed).await.unwrap();
    // Decide after one branch: refused.
    assert!(send(&w, "decide", &parsed).await.is_err());
    let rules = send(&w, "rules", &parsed).await.unwrap();
    assert_eq!((ai.version, rules.version), (2, 3));
    // A retried branch finds its own commit.
    let again = send(&w, "rules", &parsed).await.unwrap();
    assert_eq!(again.version, 3);
    let decided = send(&w, "decide", &parsed).await.unwrap();
    assert_eq!(decided.action, "set_memory");
    let run = stored(&w, &decided.incident);
    assert!(
        !run.rules.is_empty(),
        "the rules branch's work survived the merge"
    );
    assert!(run.function.is_some() && run.before.is_some());
    assert_eq!(
        w.audit
            .stored(&decided.incident)
            .unwrap()
            .stages
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>(),
        ["parse", "ai", "rules", "decide"]
    );
}

/// CloudTrail answers two lookups a second an account: the workflow asks
/// once an incident, at parse, and both branches read the answer from the
/// record — the rules, the AI's prompt and the notice see the same changes,
/// and verification asks for none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parse_looks_up_the_recent_changes_once_for_both_branches() {
    let model = Arc::new(RecordingModel::default());
    let mut w = World::with(|c| c.ai.enabled = true);
    w.ctx.ai = Some(Arc::new(crate::ai::Diagnoser::new(
        model.clone(),
        &w.ctx.config.ai,
    )));
    let trail = Arc::new(crate::testing::ports::MemoryChangeLog::default());
    trail.record(
        "traced",
        "UpdateFunctionCode",
        T0 - 12 * 60_000,
        "deploy-bot",
    );
    w.ctx.changes = Some(trail.clone());
    w.oom("traced");
    let parsed = parsed(&w, "traced", "ALARM").await;
    assert_eq!(trail.lookups(), 1);
    let claimed = stored(&w, &parsed.incident);
    assert_eq!(claimed.recent_changes.as_ref().unwrap().changes.len(), 1);
    send(&w, "ai", &parsed).await.unwrap();
    send(&w, "rules", &parsed).await.unwrap();
    let decided = send(&w, "decide", &parsed).await.unwrap();
    let executed = send(&w, "execute", &decided).await.unwrap();
    w.clock.sleep(WINDOW).await;
    send(&w, "verify", &executed).await.unwrap();
    assert_eq!(trail.lookups(), 1, "one lookup for the whole incident");
    let run = stored(&w, &parsed.incident);
    assert_eq!(run.evidence.as_ref().unwrap().recent_changes.len(), 1);
    assert_eq!(run.ai.as_ref().unwrap().grounding.recent_changes, 1);
    let prompt = format!("{:?}", model.requests.lock().unwrap()[0].turns);
    assert!(prompt.contains("UpdateFunctionCode"), "{prompt}");
}

/// A record claimed by a host that did not look changes up (an older
/// version, or a trimmed record): each branch looks them up itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn branches_look_up_the_changes_themselves_when_parse_did_not() {
    let mut w = World::new();
    w.oom("older");
    let parsed = parsed(&w, "older", "ALARM").await;
    let trail = Arc::new(crate::testing::ports::MemoryChangeLog::default());
    trail.record("older", "UpdateFunctionCode", T0 - 5 * 60_000, "deploy-bot");
    w.ctx.changes = Some(trail.clone());
    send(&w, "rules", &parsed).await.unwrap();
    assert_eq!(trail.lookups(), 1);
    let run = stored(&w, &parsed.incident);
    assert_eq!(run.evidence.as_ref().unwrap().recent_changes.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_parse_of_the_same_execution_is_its_own_claim() {
    let w = World::new();
    w.oom("retried");
    let event = alarm_event("retried-errors", "retried", None, "ALARM", T0);
    w.alarms.raise(&event);
    w.executions.start("exec-1", STATE_MACHINE);
    w.executions.start("exec-2", STATE_MACHINE);
    let request = |execution: &str| StageRequest::Parse {
        event: event.clone(),
        execution: Some(execution.to_owned()),
    };
    let first = stage(&w.ctx, request("exec-1")).await.unwrap();
    assert_eq!((first.status, first.claimed), (Status::Started, true));
    // The task is retried (its answer was lost): the same execution again.
    let again = stage(&w.ctx, request("exec-1")).await.unwrap();
    assert_eq!(again, first, "not a duplicate of itself");
    // Another execution with the same alarm is a redelivery.
    let other = stage(&w.ctx, request("exec-2")).await.unwrap();
    assert_eq!((other.status, other.claimed), (Status::Duplicate, false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alarm_leaving_alarm_is_not_claimed_and_ends_the_workflow() {
    let w = World::new();
    w.oom("calm");
    let parsed = parsed(&w, "calm", "OK").await;
    assert_eq!((parsed.status, parsed.claimed), (Status::NoAction, false));
    assert!(w.audit.stored(&parsed.incident).is_none());
}

/// An execute that dies before its commit (whatever faults are set up
/// first), leaving the record marked `mark`; then its retry, as Step
/// Functions sends it.
async fn crashed_then_retried(w: &World, input: &StageReply, mark: &str) -> StageReply {
    w.audit.fail_next(AuditOp::Commit);
    assert!(send(w, "execute", input).await.is_err());
    assert_eq!(w.audit.status(&input.incident).as_deref(), Some(mark));
    send(w, "execute", input).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_before_the_update_is_retried_without_its_own_intent_blocking_it() {
    let w = World::new();
    w.oom("crash1");
    let input = decided(&w, "crash1").await;
    // The first attempt dies at the update: the intent is written, the
    // memory unchanged, nothing committed.
    w.lambda.fail(
        LambdaOp::UpdateMemory,
        vec![StoreError::Other("crash".into())],
    );
    let retried = crashed_then_retried(&w, &input, "executing").await;
    assert!(retried.changed, "{retried:#?}");
    assert_eq!(w.lambda.memory_mb("crash1"), Some(384));
    assert_eq!(w.audit.changes().len(), 1, "one intent, one change");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_the_update_is_finished_not_repeated() {
    let w = World::new();
    w.oom("crash2");
    let input = decided(&w, "crash2").await;
    // The first attempt changes the memory, then dies before recording it.
    w.audit.fail_after(AuditOp::Update, 1);
    let retried = crashed_then_retried(&w, &input, "executing").await;
    assert!(retried.changed);
    let change = stored(&w, &input.incident)
        .change
        .expect("the crashed attempt's change");
    assert_eq!(
        (change.previous_memory_mb, change.new_memory_mb),
        (256, 384)
    );
    assert_eq!(w.lambda.calls(LambdaOp::UpdateMemory), 1, "not made twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_an_update_that_kept_the_revision_id_is_finished_not_left_unrecorded() {
    let w = World::new();
    // moto's Lambda keeps the revision id on a memory update: the memory
    // itself shows the crashed attempt's change was made.
    w.lambda.keep_revisions();
    w.oom("crash4");
    let input = decided(&w, "crash4").await;
    w.audit.fail_after(AuditOp::Update, 1);
    let retried = crashed_then_retried(&w, &input, "executing").await;
    assert!(retried.changed, "{retried:#?}");
    assert_eq!(w.lambda.calls(LambdaOp::UpdateMemory), 1, "not made twice");
    let run = stored(&w, &input.incident);
    let change = run.change.expect("the crashed attempt's change, on record");
    assert_eq!(w.lambda.memory_mb("crash4"), Some(change.new_memory_mb));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_the_change_was_recorded_resumes_with_it() {
    let w = World::new();
    w.oom("crash3");
    let input = decided(&w, "crash3").await;
    // The change and its `changed` mark are written; the commit is not.
    let retried = crashed_then_retried(&w, &input, "changed").await;
    assert!(retried.changed);
    assert_eq!(w.lambda.calls(LambdaOp::UpdateMemory), 1);
    assert_eq!(w.audit.changes().len(), 1);
    // The loop goes on from there.
    w.clock.sleep(WINDOW).await;
    let verified = send(&w, "verify", &retried).await.unwrap();
    assert_eq!(verified.verdict, "improved");
}

/// A function whose need is three times its memory, decided.
async fn varied(w: &World, name: &str) -> StageReply {
    w.function(
        name,
        256,
        Behaviour::Varied {
            need_mb: 768,
            breaks_at_mb: None,
        },
        true,
    );
    decided(w, name).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workflow_steps_again_while_out_of_memory_failures_remain() {
    let w = World::new();
    let mut reply = send(&w, "execute", &varied(&w, "stepwise").await)
        .await
        .unwrap();
    let mut rounds = 0;
    // The workflow's loop: wait, verify, keep / roll back / step again.
    while reply.status == Status::Started && reply.changed {
        rounds += 1;
        assert!(rounds <= 3, "at most policy.max_steps_per_incident steps");
        w.clock.sleep(WINDOW).await;
        let verified = send(&w, "verify", &reply).await.unwrap();
        assert_eq!(verified.verdict, "improved");
        reply = send(&w, "rollback", &verified).await.unwrap();
        // Retried after its commit (a lost reply): nothing more happens.
        assert_eq!(send(&w, "rollback", &verified).await.unwrap(), reply);
    }
    let recorded = send(&w, "record", &reply).await.unwrap();
    assert_eq!(recorded.status, Status::Repaired, "{recorded:#?}");
    assert!(rounds >= 2, "{rounds} rounds");
    let run = stored(&w, &recorded.incident);
    assert_eq!(run.steps.len() + 1, rounds);
    assert_eq!(
        w.lambda.memory_mb("stepwise"),
        Some(run.change.unwrap().new_memory_mb)
    );
    assert_eq!(w.lambda.calls(LambdaOp::UpdateMemory), rounds);
    assert_eq!(w.audit.changes().len(), rounds);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_in_the_middle_of_a_further_step_is_finished_not_repeated() {
    let w = World::new();
    let executed = send(&w, "execute", &varied(&w, "midstep").await)
        .await
        .unwrap();
    w.clock.sleep(WINDOW).await;
    let verified = send(&w, "verify", &executed).await.unwrap();
    // The rollback stage makes the next step, then dies before recording
    // it; Step Functions retries it.
    w.audit.fail_after(AuditOp::Update, 1);
    w.audit.fail_next(AuditOp::Commit);
    assert!(send(&w, "rollback", &verified).await.is_err());
    let retried = send(&w, "rollback", &verified).await.unwrap();
    assert!(
        retried.changed && retried.status == Status::Started,
        "{retried:#?}"
    );
    assert_eq!(
        w.lambda.calls(LambdaOp::UpdateMemory),
        2,
        "the step is not made twice"
    );
    let run = stored(&w, &retried.incident);
    assert_eq!(run.steps.len(), 1);
    let step = run.change.expect("the second step");
    assert_eq!(step.previous_memory_mb, run.steps[0].change.new_memory_mb);
    assert_eq!(w.lambda.memory_mb("midstep"), Some(step.new_memory_mb));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_further_step_that_never_completed_leaves_the_last_step_on_record() {
    let w = World::new();
    let executed = send(&w, "execute", &varied(&w, "unfinished").await)
        .await
        .unwrap();
    w.clock.sleep(WINDOW).await;
    let verified = send(&w, "verify", &executed).await.unwrap();
    let first = stored(&w, &verified.incident).change.expect("step 1");
    // The rollback stage writes the next step's intent, then its update
    // fails and the task dies uncommitted; Step Functions' Catch records.
    w.lambda.fail(
        LambdaOp::UpdateMemory,
        vec![StoreError::Other("crash".into())],
    );
    w.audit.fail_next(AuditOp::Commit);
    assert!(send(&w, "rollback", &verified).await.is_err());
    let recorded = stage(&w.ctx, caught(&w, "record", &verified, "States.Timeout"))
        .await
        .unwrap();
    let run = stored(&w, &recorded.incident);
    assert!(run.status.is_terminal(), "{:?}", run.status);
    let change = run.change.expect("the last completed step, on record");
    assert_eq!(change, first);
    assert_eq!(w.lambda.memory_mb("unfinished"), Some(change.new_memory_mb));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_execute_after_its_commit_changes_nothing_more() {
    let w = World::new();
    w.oom("twice");
    let input = decided(&w, "twice").await;
    let first = send(&w, "execute", &input).await.unwrap();
    let retried = send(&w, "execute", &input).await.unwrap();
    assert_eq!(retried, first);
    assert_eq!(w.lambda.calls(LambdaOp::UpdateMemory), 1);
    assert_eq!(w.audit.changes().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_record_is_never_rewritten_nor_notified_twice() {
    let w = World::new();
    w.oom("recorded");
    let decided = decided(&w, "recorded").await;
    let recorded = send(&w, "record", &decided).await.unwrap();
    assert!(recorded.status.is_terminal());
    let before = w.audit.stored(&recorded.incident).unwrap();
    // A retry, or a replay with an older version.
    let again = send(&w, "record", &decided).await.unwrap();
    assert_eq!(again, recorded, "the record stands");
    assert_eq!(w.audit.stored(&recorded.incident).unwrap(), before);
    assert_eq!(w.notifier.sent.lock().unwrap().len(), 1, "told once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_failure_path_records_what_step_functions_caught() {
    let w = World::new();
    w.oom("caught");
    let decided = decided(&w, "caught").await;
    let request: StageRequest = serde_json::from_value(serde_json::json!({
        "stage": "record",
        "incident": decided.incident,
        "version": decided.version,
        "execution": claimant(&w, &decided),
        "step_error": {"Error": "Lambda.Unknown", "Cause": "the execute task timed out"},
    }))
    .unwrap();
    let recorded = stage(&w.ctx, request).await.unwrap();
    assert_eq!(recorded.status, Status::Failed);
    let run = stored(&w, &recorded.incident);
    let failure = run.failure.unwrap();
    assert_eq!(failure.stage.name(), "workflow");
    assert!(failure.message.contains("timed out"));
    assert_eq!(w.audit.lock_holder("caught"), None, "the lock is released");
}

#[test]
fn only_the_workflows_order_is_taken() {
    let s = |names: &[&str]| {
        names
            .iter()
            .map(|n| n.parse::<Stage>().unwrap())
            .collect::<Vec<_>>()
    };
    let claimed = s(&["parse"]);
    let branched = s(&["parse", "rules", "ai"]);
    let decided = s(&["parse", "ai", "rules", "decide"]);
    let executed = s(&["parse", "rules", "ai", "decide", "execute"]);
    let verified = s(&["parse", "rules", "ai", "decide", "execute", "verify"]);
    let twice = s(&[
        "parse", "rules", "ai", "decide", "execute", "verify", "verify",
    ]);
    // (stage, version asked, stages on record, what happens)
    type Case<'a> = (&'a str, u64, &'a [Stage], Result<Next, ()>);
    let cases: &[Case] = &[
        ("rules", 1, &claimed, Ok(Next::Run)),
        ("ai", 1, &s(&["parse", "rules"]), Ok(Next::Run)),
        ("rules", 1, &s(&["parse", "rules"]), Ok(Next::Done)),
        ("rules", 0, &claimed, Err(())),
        ("ai", 3, &branched, Err(())),
        ("decide", 1, &branched, Ok(Next::Run)),
        ("decide", 1, &s(&["parse", "rules"]), Err(())),
        ("decide", 1, &decided, Ok(Next::Done)),
        ("execute", 4, &decided, Ok(Next::Run)),
        ("execute", 1, &claimed, Err(())),
        ("execute", 4, &executed, Ok(Next::Done)),
        ("execute", 5, &executed, Err(())),
        ("verify", 5, &executed, Ok(Next::Run)),
        ("verify", 6, &verified, Ok(Next::Run)),
        ("verify", 7, &twice, Err(())),
        ("verify", 4, &executed, Err(())),
        ("rollback", 6, &verified, Ok(Next::Run)),
        ("rollback", 5, &executed, Err(())),
        ("rollback", 7, &twice, Ok(Next::Run)),
        ("record", 0, &verified, Ok(Next::Run)),
        ("record", 9, &verified, Err(())),
        ("execute", 9, &verified, Err(())),
        ("teleport", 1, &claimed, Err(())),
        ("rollback-unverified", 5, &executed, Ok(Next::Run)),
        ("rollback-unverified", 6, &verified, Ok(Next::Run)),
        ("rollback-unverified", 4, &decided, Err(())),
        ("await_approval", 4, &decided, Ok(Next::Run)),
        ("await_approval", 1, &branched, Err(())),
        // The wait's timeout is caught with decide's reference.
        (
            "approve",
            4,
            &s(&["parse", "rules", "ai", "decide", "await_approval"]),
            Ok(Next::Run),
        ),
        ("approve", 4, &decided, Err(())),
        (
            "execute",
            6,
            &s(&[
                "parse",
                "rules",
                "ai",
                "decide",
                "await_approval",
                "approve",
            ]),
            Ok(Next::Run),
        ),
        (
            "execute",
            5,
            &s(&["parse", "rules", "ai", "decide", "await_approval"]),
            Err(()),
        ),
        (
            "rollback-unverified",
            5,
            &s(&["parse", "ai", "rules", "decide", "execute", "rollback"]),
            Ok(Next::Done),
        ),
    ];
    // A step that helped but left out-of-memory failures: rollback made the
    // next step, which is verified (and extended once) and judged again.
    let stepped = s(&[
        "parse", "rules", "ai", "decide", "execute", "verify", "rollback",
    ]);
    let stepped_verified = s(&[
        "parse", "rules", "ai", "decide", "execute", "verify", "verify", "rollback", "verify",
    ]);
    let steps: &[Case] = &[
        ("verify", 7, &stepped, Ok(Next::Run)),
        ("verify", 9, &stepped_verified, Ok(Next::Run)),
        ("rollback", 9, &stepped_verified, Ok(Next::Run)),
        ("rollback-unverified", 7, &stepped, Ok(Next::Run)),
        ("execute", 7, &stepped, Err(())),
        ("rollback", 7, &stepped, Err(())),
    ];
    for (stage_name, version, stages, expected) in cases.iter().chain(steps) {
        // A name that is no stage never reaches `next`: the request does
        // not deserialize.
        let asked = match *stage_name {
            "rollback-unverified" => Ok((Stage::Rollback, true)),
            name => name.parse::<Stage>().map(|s| (s, false)).map_err(|_| ()),
        };
        let got = asked.and_then(|(stage, unverified)| {
            next(stage, unverified, *version, stages).map_err(|_| ())
        });
        assert_eq!(&got, expected, "{stage_name} at {version} after {stages:?}");
    }
}

fn caught(w: &World, stage_name: &str, reply: &StageReply, cause: &str) -> StageRequest {
    serde_json::from_value(serde_json::json!({
        "stage": stage_name,
        "incident": reply.incident,
        "version": reply.version,
        "execution": claimant(w, reply),
        "step_error": {"Error": "Lambda.Unknown", "Cause": cause},
    }))
    .expect("a stage request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_ai_branch_is_recorded_and_the_rules_still_decide() {
    let w = World::new();
    w.oom("ai-down");
    let parsed = parsed(&w, "ai-down", "ALARM").await;
    send(&w, "rules", &parsed).await.unwrap();
    // The AI task failed after its retries; the branch's Catch says so.
    stage(
        &w.ctx,
        caught(&w, "ai", &parsed, "Task timed out after 120.00 seconds"),
    )
    .await
    .unwrap();
    let decided = send(&w, "decide", &parsed).await.unwrap();
    assert_eq!(decided.action, "set_memory", "the rules decide");
    let ai = stored(&w, &decided.incident)
        .ai
        .expect("the AI's part recorded");
    assert_eq!(ai.status, crate::ai::AiStatus::Failed);
    assert!(ai.reason.unwrap().contains("timed out"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_verify_undoes_the_change() {
    let w = World::new();
    w.oom("verify-down");
    let executed = send(&w, "execute", &decided(&w, "verify-down").await)
        .await
        .unwrap();
    assert_eq!(w.lambda.memory_mb("verify-down"), Some(384));
    // Verify's Catch sends the rollback with what it caught.
    let rolled = stage(&w.ctx, caught(&w, "rollback", &executed, "States.Timeout"))
        .await
        .unwrap();
    assert_eq!(rolled.status, Status::RolledBack);
    assert_eq!(
        w.lambda.memory_mb("verify-down"),
        Some(256),
        "never left raised"
    );
    let run = stored(&w, &rolled.incident);
    assert!(run.verification.unwrap().reasons[0].contains("could not be verified"));
    // Retried: the rollback stands, nothing more.
    let again = stage(&w.ctx, caught(&w, "rollback", &executed, "States.Timeout"))
        .await
        .unwrap();
    assert_eq!(again, rolled);
}

fn waiting(w: &World, reply: &StageReply, token: &str) -> StageRequest {
    serde_json::from_value(serde_json::json!({
        "stage": "await_approval",
        "incident": reply.incident,
        "version": reply.version,
        "execution": claimant(w, reply),
        "token": token,
    }))
    .expect("a stage request")
}

/// `autorepair approve|reject` as the CLI sends it, at `now_ms`.
async fn answered(
    w: &World,
    incident: &str,
    approve: bool,
    by: &str,
    now_ms: Millis,
) -> Result<(StageReply, String), String> {
    answered_as(w, incident, approve, by, now_ms, &w.ctx.config.approval)
        .await
        .map(|(reply, token)| (reply, token.unwrap_or_default()))
}

/// The same, from a CLI with its own `[approval]` policy.
async fn answered_as(
    w: &World,
    incident: &str,
    approve: bool,
    by: &str,
    now_ms: Millis,
    policy: &crate::config::ApprovalConfig,
) -> Result<(StageReply, Option<String>), String> {
    crate::pipeline::answer_approval(
        w.ctx.audit.as_ref(),
        incident,
        &answer(approve, by),
        now_ms,
        policy,
    )
    .await
    .map_err(|e| e.to_string())
}

const ALICE: &str = "arn:aws:sts::123456789012:assumed-role/PlatformOnCall/alice";
const BOB: &str = "arn:aws:sts::123456789012:assumed-role/PlatformOnCall/bob";
const MALLORY: &str = "arn:aws:iam::123456789012:user/mallory";

/// Approval mode where only the on-call role answers, `min` of them.
fn gated(min: u32) -> World {
    World::with(|c| {
        c.approval.required = true;
        c.approval.approvers =
            vec!["arn:aws:sts::123456789012:assumed-role/PlatformOnCall/*".into()];
        c.approval.min_approvals = min;
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_approvers_approve_and_the_host_checks_it_again() {
    let w = gated(1);
    w.oom("gated");
    let d = decided(&w, "gated").await;
    stage(&w.ctx, waiting(&w, &d, "token-1")).await.unwrap();
    let refused = answered(&w, &d.incident, true, MALLORY, T0)
        .await
        .unwrap_err();
    assert!(
        refused.contains("not among [approval] approvers"),
        "{refused}"
    );
    // A CLI run with a laxer config records mallory's approval: the host's
    // own policy refuses it when the workflow resumes.
    let lax = crate::config::ApprovalConfig::default();
    let (reply, token) = answered_as(&w, &d.incident, true, MALLORY, T0, &lax)
        .await
        .unwrap();
    assert_eq!(token.as_deref(), Some("token-1"));
    let executed = send(&w, "execute", &reply).await.unwrap();
    assert_eq!(executed.status, Status::Escalated, "{executed:?}");
    assert_eq!(w.lambda.calls(LambdaOp::UpdateMemory), 0);
    let why = stored(&w, &d.incident).decision.unwrap().reasons.join(" ");
    assert!(why.contains("does not carry authority"), "{why}");

    // An approver's answer is made.
    let w = gated(1);
    w.oom("gated");
    let d = decided(&w, "gated").await;
    stage(&w.ctx, waiting(&w, &d, "token-1")).await.unwrap();
    let (reply, _) = answered(&w, &d.incident, true, ALICE, T0).await.unwrap();
    // Resumed with another answer than the one on record: nothing changes.
    let mut other = reply.clone();
    other.answer = "none".into();
    let wrong = send(&w, "execute", &other).await.unwrap();
    assert_eq!(wrong.status, Status::Escalated, "{wrong:?}");
    assert_eq!(w.lambda.calls(LambdaOp::UpdateMemory), 0);

    let w = gated(1);
    w.oom("gated");
    let d = decided(&w, "gated").await;
    stage(&w.ctx, waiting(&w, &d, "token-1")).await.unwrap();
    let (reply, _) = answered(&w, &d.incident, true, ALICE, T0).await.unwrap();
    let executed = send(&w, "execute", &reply).await.unwrap();
    assert!(executed.changed, "{executed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_distinct_approvers_are_needed_when_the_policy_says_two() {
    let w = gated(2);
    w.oom("gated");
    let d = decided(&w, "gated").await;
    stage(&w.ctx, waiting(&w, &d, "token-1")).await.unwrap();
    let (first, token) = answered_as(&w, &d.incident, true, ALICE, T0, &w.ctx.config.approval)
        .await
        .unwrap();
    assert_eq!(token, None, "the workflow waits for the second");
    assert_eq!(first.approval, "pending");
    let again = answered(&w, &d.incident, true, ALICE, T0)
        .await
        .unwrap_err();
    assert!(again.contains("approved it already"), "{again}");
    // Execute forged after one approval: the workflow still waits there.
    let early = send(&w, "execute", &first).await.unwrap_err();
    assert!(early.contains("cannot follow"), "{early}");
    assert_eq!(w.lambda.calls(LambdaOp::UpdateMemory), 0);

    let w = gated(2);
    w.oom("gated");
    let d = decided(&w, "gated").await;
    stage(&w.ctx, waiting(&w, &d, "token-1")).await.unwrap();
    answered(&w, &d.incident, true, ALICE, T0).await.unwrap();
    let (reply, token) = answered(&w, &d.incident, true, BOB, T0).await.unwrap();
    assert_eq!(
        (token.as_str(), reply.approval.as_str()),
        ("token-1", "approved")
    );
    let executed = send(&w, "execute", &reply).await.unwrap();
    assert!(executed.changed, "{executed:?}");
    let approval = stored(&w, &d.incident).approval.unwrap();
    assert_eq!(approval.approvals.len(), 2);
}

/// Editing the record to "approved" is no answer: the wait times out and
/// the incident escalates, whatever the record says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_edited_to_approved_then_timed_out_escalates() {
    for forge_the_stage in [false, true] {
        let w = gated(1);
        w.oom("gated");
        let d = decided(&w, "gated").await;
        stage(&w.ctx, waiting(&w, &d, "token-1")).await.unwrap();
        let record = w.audit.stored(&d.incident).unwrap();
        let mut run = stored(&w, &d.incident);
        let a = run.approval.as_mut().unwrap();
        a.state = crate::run::ApprovalState::Approved;
        a.by = Some(ALICE.into());
        a.approvals.push(crate::run::ApprovalGiven {
            identity: ALICE.into(),
            by: ALICE.into(),
            at_ms: T0,
        });
        let doc = serde_json::to_string(&run).unwrap();
        if forge_the_stage {
            w.ctx
                .audit
                .commit(
                    &d.incident,
                    Stage::Approve,
                    Status::Started,
                    &doc,
                    record.version,
                    T0,
                )
                .await
                .unwrap();
        } else {
            w.ctx
                .audit
                .update_at(&d.incident, record.version, Status::Started, &doc, T0)
                .await
                .unwrap();
        }
        let timed_out = stage(&w.ctx, caught(&w, "approve", &d, "States.Timeout"))
            .await
            .unwrap();
        assert_eq!(timed_out.status, Status::Escalated, "{timed_out:?}");
        assert_eq!(timed_out.approval, "expired");
        // The workflow's Choice ends it; an execute sent anyway changes nothing.
        let after = send(&w, "execute", &timed_out).await;
        assert!(after.is_err() || !after.unwrap().changed);
        assert_eq!(w.lambda.calls(LambdaOp::UpdateMemory), 0);
    }
}

fn answer(approve: bool, by: &str) -> crate::pipeline::approval::Answer {
    crate::pipeline::approval::Answer {
        approve,
        identity: by.into(),
        name: None,
        reason: Some("because".into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_mode_changes_only_what_a_person_approved() {
    let w = World::with(|c| c.approval.required = true);
    w.oom("gated");
    let d = decided(&w, "gated").await;
    assert_eq!(
        (d.action.as_str(), d.approval.as_str()),
        ("set_memory", "pending")
    );
    // Execute sent straight after decide, skipping the wait: nothing changes.
    let forged = send(&w, "execute", &d).await.unwrap();
    assert!(!forged.changed);
    assert_eq!(forged.status, Status::Escalated);
    assert_eq!(w.lambda.calls(LambdaOp::UpdateMemory), 0);

    let w = World::with(|c| c.approval.required = true);
    w.oom("gated");
    let d = decided(&w, "gated").await;
    let asked = stage(&w.ctx, waiting(&w, &d, "token-1")).await.unwrap();
    assert_eq!(asked.approval, "pending");
    let (subject, text, record) = w.notifier.sent.lock().unwrap().last().cloned().unwrap();
    assert!(
        subject.starts_with("autorepair: approve memory 256 MB -> "),
        "{subject}"
    );
    assert!(
        text.contains(&format!("autorepair approve {}", d.incident)),
        "{text}"
    );
    assert!(
        !record.contains("token-1"),
        "the task token never goes into a notice"
    );
    // The person answers: recorded with who, on the version that waits.
    let (reply, token) = answered(&w, &d.incident, true, "alice", T0).await.unwrap();
    assert_eq!(
        (token.as_str(), reply.approval.as_str()),
        ("token-1", "approved")
    );
    let twice = answered(&w, &d.incident, false, "mallory", T0)
        .await
        .unwrap_err();
    assert!(twice.contains("not waiting for approval"), "{twice}");
    let executed = send(&w, "execute", &reply).await.unwrap();
    assert!(executed.changed);
    let run = stored(&w, &d.incident);
    assert_eq!(run.approval.unwrap().by.as_deref(), Some("alice"));

    // Rejected: nothing changes.
    let w = World::with(|c| c.approval.required = true);
    w.oom("gated");
    let d = decided(&w, "gated").await;
    stage(&w.ctx, waiting(&w, &d, "token-2")).await.unwrap();
    let (reply, _) = answered(&w, &d.incident, false, "bob", T0).await.unwrap();
    assert_eq!(reply.status, Status::Rejected);
    // Execute sent anyway after a rejection changes nothing.
    let after = send(&w, "execute", &reply).await.unwrap();
    assert!(
        !after.changed && after.status == Status::Rejected,
        "{after:?}"
    );
    assert_eq!(w.lambda.calls(LambdaOp::UpdateMemory), 0);

    // Unanswered: the wait's timeout escalates.
    let w = World::with(|c| c.approval.required = true);
    w.oom("gated");
    let d = decided(&w, "gated").await;
    stage(&w.ctx, waiting(&w, &d, "token-3")).await.unwrap();
    let expired = stage(&w.ctx, caught(&w, "approve", &d, "States.Timeout"))
        .await
        .unwrap();
    assert_eq!(
        (expired.status, expired.approval.as_str()),
        (Status::Escalated, "expired")
    );
    // An answer after the timeout is refused.
    assert!(answered(&w, &d.incident, true, "late", T0).await.is_err());
    assert_eq!(w.lambda.calls(LambdaOp::UpdateMemory), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_wait_keeps_its_new_token_and_never_an_answer_less() {
    // Retried while the change waits: the answer resumes the newest token.
    let w = World::with(|c| c.approval.required = true);
    w.oom("gated");
    let d = decided(&w, "gated").await;
    stage(&w.ctx, waiting(&w, &d, "token-1")).await.unwrap();
    let sent = w.notifier.sent.lock().unwrap().len();
    stage(&w.ctx, waiting(&w, &d, "token-2")).await.unwrap();
    assert_eq!(
        w.notifier.sent.lock().unwrap().len(),
        sent,
        "asked once, not again"
    );
    let (_, token) = answered(&w, &d.incident, true, "alice", T0).await.unwrap();
    assert_eq!(token, "token-2");

    // Retried after the answer (its resume went to the old token): the
    // answer stands, the new token is kept beside it, and the same answer
    // again resumes the live wait; another answer is still refused.
    let w = World::with(|c| c.approval.required = true);
    w.oom("gated");
    let d = decided(&w, "gated").await;
    stage(&w.ctx, waiting(&w, &d, "token-1")).await.unwrap();
    let (_, token) = answered(&w, &d.incident, true, "alice", T0).await.unwrap();
    assert_eq!(token, "token-1");
    let retried = stage(&w.ctx, waiting(&w, &d, "token-2")).await.unwrap();
    assert_eq!(retried.approval, "approved");
    let run = stored(&w, &d.incident);
    let approval = run.approval.unwrap();
    assert_eq!(
        (approval.by.as_deref(), approval.token.as_deref()),
        (Some("alice"), Some("token-2"))
    );
    let (again, token) = answered(&w, &d.incident, true, "alice", T0).await.unwrap();
    assert_eq!(
        (token.as_str(), again.approval.as_str()),
        ("token-2", "approved")
    );
    assert!(
        answered(&w, &d.incident, false, "mallory", T0)
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conditional_update_never_overwrites_a_later_commit() {
    let w = World::with(|c| c.approval.required = true);
    w.oom("gated");
    let d = decided(&w, "gated").await;
    stage(&w.ctx, waiting(&w, &d, "token-1")).await.unwrap();
    let before = w.audit.stored(&d.incident).unwrap();
    // An answer commits: the version moves on.
    answered(&w, &d.incident, true, "alice", T0).await.unwrap();
    let answered_doc = w.audit.stored(&d.incident).unwrap();
    assert_eq!(answered_doc.version, before.version + 1);
    let stale = w
        .ctx
        .audit
        .update_at(
            &d.incident,
            before.version,
            Status::Started,
            &before.document,
            T0,
        )
        .await
        .unwrap();
    assert_eq!(stale, crate::ports::Claim::Taken);
    assert_eq!(
        w.audit.stored(&d.incident).unwrap().document,
        answered_doc.document,
        "the answer stands"
    );
    let current = w
        .ctx
        .audit
        .update_at(
            &d.incident,
            answered_doc.version,
            Status::Started,
            &answered_doc.document,
            T0,
        )
        .await
        .unwrap();
    assert_eq!(current, crate::ports::Claim::Won);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_approval_mode_nothing_waits() {
    let w = World::new();
    w.oom("free");
    let d = decided(&w, "free").await;
    assert_eq!(d.approval, "none");
    let refused = stage(&w.ctx, waiting(&w, &d, "t")).await.unwrap_err();
    assert!(
        matches!(&refused, ProtocolError::Refused { reason, .. } if reason == "no change waits for approval"),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_is_refused_after_the_deadline_and_can_be_resent_to_resume() {
    let w = World::with(|c| c.approval.required = true);
    w.oom("gated");
    let d = decided(&w, "gated").await;
    stage(&w.ctx, waiting(&w, &d, "token-9")).await.unwrap();
    let deadline = stored(&w, &d.incident).approval.unwrap().deadline_ms;
    let late = answered(&w, &d.incident, true, "late", deadline)
        .await
        .unwrap_err();
    assert!(late.contains("deadline"), "{late}");
    let (first, _) = answered(&w, &d.incident, true, "alice", deadline - 1)
        .await
        .unwrap();
    // The workflow could not be resumed: the same answer hands the token
    // back, records nothing new; the opposite answer is refused.
    let (again, token) = answered(&w, &d.incident, true, "alice", deadline - 1)
        .await
        .unwrap();
    assert_eq!((again.version, token.as_str()), (first.version, "token-9"));
    assert!(
        answered(&w, &d.incident, false, "bob", deadline - 1)
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_change_is_not_made_when_the_function_moved_meanwhile() {
    let w = World::with(|c| c.approval.required = true);
    w.oom("gated");
    let d = decided(&w, "gated").await;
    stage(&w.ctx, waiting(&w, &d, "t")).await.unwrap();
    let (reply, _) = answered(&w, &d.incident, true, "alice", T0).await.unwrap();
    // Someone resized it during the wait: what was approved no longer applies.
    w.lambda.set_memory_behind_our_back("gated", 320);
    let executed = send(&w, "execute", &reply).await.unwrap();
    assert!(!executed.changed, "{executed:?}");
    assert_eq!(executed.status, Status::Escalated);
    assert_eq!(w.lambda.memory_mb("gated"), Some(320));
}

/// Only a running execution of our state machine, the one that claimed the
/// incident, drives it: a forged `step_error` from anyone else undoes
/// nothing, a call without an execution or from an ended one is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_call_without_a_live_execution_of_ours_is_refused() {
    let w = World::new();
    w.oom("bound");
    let decided = decided(&w, "bound").await;
    let executed = send(&w, "execute", &decided).await.unwrap();
    assert_eq!(w.lambda.memory_mb("bound"), Some(384));
    let forged = |execution: Option<&str>| -> StageRequest {
        serde_json::from_value(serde_json::json!({
            "stage": "rollback",
            "incident": executed.incident,
            "version": executed.version,
            "execution": execution,
            "step_error": {"Error": "States.Timeout", "Cause": "forged"},
        }))
        .unwrap()
    };
    let refused = |r: Result<StageReply, ProtocolError>| match r {
        Err(ProtocolError::Unbound { source, .. }) => source,
        other => panic!("not refused: {other:?}"),
    };
    use crate::origin::Unbound;
    assert_eq!(
        refused(stage(&w.ctx, forged(None)).await),
        Unbound::NoExecution
    );
    // A running execution of ours, but not the one that claimed it.
    w.executions.start("exec-intruder", STATE_MACHINE);
    assert!(matches!(
        refused(stage(&w.ctx, forged(Some("exec-intruder"))).await),
        Unbound::NotTheClaimant { .. }
    ));
    // The claimant's id, once its execution has ended (or never existed).
    w.executions.stop("exec-bound", "ABORTED");
    assert!(matches!(
        refused(stage(&w.ctx, forged(Some("exec-bound"))).await),
        Unbound::NotRunning { .. }
    ));
    assert_eq!(w.lambda.memory_mb("bound"), Some(384), "the change stands");
    assert_eq!(
        w.audit.stored(&executed.incident).unwrap().version,
        executed.version,
        "nothing recorded"
    );
    // Without a state machine configured, nothing after parse is served.
    let mut unbound = World::with(|c| c.run.state_machine_arn = None);
    unbound.oom("loose");
    let parsed = parsed(&unbound, "loose", "ALARM").await;
    assert!(parsed.claimed, "parse stands on the alarm check");
    assert!(matches!(
        refused(stage(&unbound.ctx, request(&unbound, "rules", &parsed)).await),
        Unbound::NoStateMachine
    ));
    unbound.ctx.config.run.state_machine_arn = Some(format!("{STATE_MACHINE}-other"));
    assert!(matches!(
        refused(stage(&unbound.ctx, request(&unbound, "rules", &parsed)).await),
        Unbound::OtherStateMachine { .. }
    ));
}
