//! A scheduled sweep, as three steps the Distributed Map drives: [`plan`]
//! lists the opted-in functions and writes them, in batches, where the map
//! reads its items; [`batch`] sweeps one item's functions; [`summary`] adds up
//! the batches and tells the team. Each function's sweep collects the
//! window's reports and metrics, runs the same rules as an incident, and
//! writes a standing recommendation (see [`super::recommend`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::FleetPorts;
use super::alarms::opted_in;
use super::recommend::{self, Observed, Settings};
use crate::config::FiguresFrom;
use crate::decide::{FunctionMode, MODE_TAG};
use crate::decide::{History, MergeMode};
use crate::diagnosis::{self, Threads};
use crate::evidence;
use crate::figures::Figures;
use crate::model::{
    AlarmInfo, Direction, DownsizeBaseline, Millis, RecordedChange, StandingRecommendation, Window,
};
use crate::pipeline::Context;
use crate::ports::FleetError;

/// What [`plan`] wrote: the map's ItemReader reads `bucket`/`key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepPlan {
    pub sweep: String,
    pub bucket: String,
    pub key: String,
    pub functions: usize,
    pub batches: usize,
}

/// One map item: a batch of functions (the engine fans the items out; a
/// batch keeps the invocations, and their cold starts, few).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub sweep: String,
    pub functions: Vec<String>,
    /// The member account (and region) the functions are in; null: the
    /// host's own. Always written, so the map's `$.member` always resolves.
    #[serde(default)]
    pub member: Option<crate::incident::MemberAccount>,
}

/// What one batch found.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BatchSummary {
    pub swept: usize,
    pub up: usize,
    pub down: usize,
    pub keep: usize,
    /// Downsizings applied (functions opted in to it).
    pub applied: usize,
    /// The sum of every up and down recommendation's monthly cost delta (USD).
    pub monthly_delta_usd: f64,
    /// Functions that could not be swept, with why: at most
    /// [`FAILED_EXAMPLES`] a batch (the map's results must stay small; every
    /// failure is in the host's log), the count in `failed_count`.
    #[serde(default)]
    pub failed: BTreeMap<String, String>,
    #[serde(default)]
    pub failed_count: usize,
    /// Throttling answers AWS gave while the batch ran (each retried after
    /// a backoff): above zero, the call rates (`[limits]`) are too high for
    /// what else shares the account's quotas.
    #[serde(default)]
    pub throttled: u64,
}

/// Failures a batch names in its result.
pub const FAILED_EXAMPLES: usize = 1;
/// Failures the whole sweep's summary names (the notice shows as many).
pub const FAILED_EXAMPLES_TOTAL: usize = 20;
/// The most of one failure's text a result carries: an SDK error can run to
/// kilobytes, and thousands of items' results share the 256 KiB state limit.
const FAILED_WHY_CHARS: usize = 240;

impl BatchSummary {
    /// An item none of whose `functions` could be swept, for `why`.
    fn all_failed(functions: &[String], why: &str) -> BatchSummary {
        BatchSummary {
            failed_count: functions.len(),
            failed: functions
                .iter()
                .take(FAILED_EXAMPLES)
                .map(|f| (f.clone(), clip(why)))
                .collect(),
            ..BatchSummary::default()
        }
    }

    /// Counts one function's recommendation.
    fn count(&mut self, r: &StandingRecommendation) {
        self.swept += 1;
        match r.direction {
            Direction::Up => self.up += 1,
            Direction::Down => self.down += 1,
            Direction::Keep => self.keep += 1,
        }
        self.applied += usize::from(r.applied);
        self.monthly_delta_usd += r.monthly_cost_delta_usd;
    }

    fn add(&mut self, other: &BatchSummary) {
        self.swept += other.swept;
        self.up += other.up;
        self.down += other.down;
        self.keep += other.keep;
        self.applied += other.applied;
        self.monthly_delta_usd += other.monthly_delta_usd;
        self.throttled += other.throttled;
        self.failed_count += other.failed_count.max(other.failed.len());
        for (k, v) in &other.failed {
            if self.failed.len() >= FAILED_EXAMPLES_TOTAL {
                break;
            }
            self.failed.insert(k.clone(), clip(v));
        }
    }
}

/// `why`, cut to [`FAILED_WHY_CHARS`] characters.
fn clip(why: &str) -> String {
    match why.char_indices().nth(FAILED_WHY_CHARS) {
        Some((at, _)) => format!("{}…", &why[..at]),
        None => why.to_owned(),
    }
}

/// Lists the opted-in functions and writes the map's items, `batch_size`
/// functions each, to the sweep bucket.
pub async fn plan(ctx: &Context, ports: &FleetPorts, sweep: &str) -> Result<SweepPlan, FleetError> {
    let fleet = &ctx.config.fleet;
    if fleet.sweep_bucket.is_empty() {
        return Err(FleetError {
            what: "sweep".into(),
            message:
                "fleet.sweep_bucket is not set: the Distributed Map reads its items from there"
                    .into(),
        });
    }
    let mut items = Vec::new();
    let mut functions = 0;
    for (member, names) in targets(ctx, ports).await? {
        functions += names.len();
        items.extend(names.chunks(fleet.batch_size.max(1)).map(|chunk| Item {
            sweep: sweep.to_owned(),
            functions: chunk.to_vec(),
            member: member.clone(),
        }));
    }
    let key = format!("sweeps/{}/items.json", key_safe(sweep));
    let body = serde_json::to_vec(&items).map_err(|e| FleetError {
        what: "sweep items".into(),
        message: e.to_string(),
    })?;
    ports.items.put(&fleet.sweep_bucket, &key, body).await?;
    Ok(SweepPlan {
        sweep: sweep.to_owned(),
        bucket: fleet.sweep_bucket.clone(),
        key,
        functions,
        batches: items.len(),
    })
}

/// The opted-in functions a sweep covers, sorted: the host's own account's,
/// then each enrolled member account's in each sweep region (listed through
/// its reading role).
pub async fn targets(
    ctx: &Context,
    ports: &FleetPorts,
) -> Result<Vec<(Option<crate::incident::MemberAccount>, Vec<String>)>, FleetError> {
    let policy = &ctx.config.policy;
    let opted = |listed: Vec<crate::model::FleetFunction>| {
        let mut names: Vec<String> = listed
            .into_iter()
            .filter(|f| opted_in(f, &policy.opt_in_tag_key, &policy.opt_in_tag_value))
            .map(|f| f.name)
            .collect();
        names.sort();
        names
    };
    let mut all = vec![(None, opted(ports.inventory.functions().await?))];
    let org = &ctx.config.organization;
    let (Some(members), true) = (ctx.members.as_ref(), org.enabled()) else {
        return Ok(all);
    };
    for member in org.enrolled(ctx.config.run.state_machine_arn.as_deref()) {
        let reached = members
            .reach(&member, crate::ports::Access::Read)
            .await
            .map_err(|message| FleetError {
                what: format!("member account {}", member.account),
                message,
            })?;
        all.push((Some(member), opted(reached.inventory.functions().await?)));
    }
    Ok(all)
}

/// An execution ARN's last part, usable in an S3 key.
fn key_safe(sweep: &str) -> String {
    sweep
        .rsplit(':')
        .next()
        .unwrap_or(sweep)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Sweeps one item's functions, a few at a time; a function that fails is
/// noted in the summary, and the others go on. A function not started within
/// `budget` is left for the next sweep, rather than the whole item timing out
/// with its work unsaved.
pub async fn batch(
    ctx: &Context,
    ports: &FleetPorts,
    item: &Item,
    budget: Duration,
) -> BatchSummary {
    use futures_util::StreamExt;
    // A member account's item: its functions read and (an applied
    // downsizing) changed through its acting role, where the batches run.
    let scoped = match &item.member {
        None => std::borrow::Cow::Borrowed(ctx),
        Some(member) => match ctx.for_member(member, crate::ports::Access::Act).await {
            Ok(reached) => std::borrow::Cow::Owned(reached),
            Err(why) => return BatchSummary::all_failed(&item.functions, &why),
        },
    };
    let ctx: &Context = &scoped;
    let member = item.member.as_ref();
    let started = std::time::Instant::now();
    let throttled_before = (ports.throttled)();
    // Each sweep starts the item at another function, so a tail left out
    // for time is not the same tail every week.
    let mut order = item.functions.clone();
    if !order.is_empty() {
        let turn = crate::digest::sha256_hex(item.sweep.as_bytes())
            .bytes()
            .fold(0usize, |a, b| {
                a.wrapping_mul(31).wrapping_add(usize::from(b))
            });
        let len = order.len();
        order.rotate_left(turn % len);
    }
    let results: Vec<(String, Result<StandingRecommendation, String>)> =
        futures_util::stream::iter(order)
            .map(|name| async move {
                if started.elapsed() >= budget {
                    let why = format!(
                        "not swept: the item's {} s budget was spent (fleet.batch_budget_seconds, within the host's timeout); the next sweep tries again",
                        budget.as_secs()
                    );
                    return (name, Err(why));
                }
                let result = function_in(ctx, ports, &name, &item.sweep, member).await;
                (name, result)
            })
            .buffer_unordered(ctx.config.fleet.concurrency.max(1))
            .collect()
            .await;
    let mut summary = BatchSummary {
        throttled: (ports.throttled)().saturating_sub(throttled_before),
        ..BatchSummary::default()
    };
    for (name, result) in results {
        match result {
            Ok(r) => summary.count(&r),
            Err(why) => {
                tracing::warn!(function = %name, %why, "not swept");
                summary.failed_count += 1;
                if summary.failed.len() < FAILED_EXAMPLES {
                    summary.failed.insert(name, clip(&why));
                }
            }
        }
    }
    summary
}

/// The window a sweep at `now_ms` reads.
pub fn window(now_ms: Millis, days: u32) -> Window {
    Window {
        start_ms: now_ms - i64::from(days) * 86_400_000,
        end_ms: now_ms,
    }
}

/// Sweeps one function: its window's figures and evidence, the rules'
/// decision, the recommendation (applied when it is a downsizing the
/// function opted in to), written over the last one.
pub async fn function(
    ctx: &Context,
    ports: &FleetPorts,
    name: &str,
    sweep: &str,
) -> Result<StandingRecommendation, String> {
    function_in(ctx, ports, name, sweep, None).await
}

/// [`function`], for a function of `member`'s account when given (`ctx`
/// reaching that account): its recommendation, floor and change history
/// are keyed by account, region and name, as an incident's.
pub async fn function_in(
    ctx: &Context,
    ports: &FleetPorts,
    name: &str,
    sweep: &str,
    member: Option<&crate::incident::MemberAccount>,
) -> Result<StandingRecommendation, String> {
    let config = &ctx.config;
    let fleet = &config.fleet;
    let now = ctx.clock.now_ms();
    // The lock, the change history and the stored recommendation (with its
    // OOM floor) are keyed by the function's name: an ARN must land on the
    // same keys, or the floor and the rate limits would be missed.
    let name = crate::model::function_name(name);
    let key = member.map_or_else(
        || name.to_owned(),
        |m| format!("{}/{}/{name}", m.account, m.region),
    );
    let alarm = AlarmInfo {
        name: format!("sweep {sweep}"),
        metric: String::new(),
        state: "OK".into(),
        reason: format!("scheduled sweep over {} days", fleet.sweep_days),
    };
    let window = window(now, fleet.sweep_days);
    // With the service adding up the whole window, the rules read only the
    // newest lines: reading every line of a busy function is what a sweep
    // cannot afford.
    let insights = fleet.figures == FiguresFrom::LogsInsights;
    let lines_window = if insights {
        Window {
            start_ms: window
                .start_ms
                .max(now - i64::from(fleet.rule_lines_hours) * 3_600_000),
            end_ms: now,
        }
    } else {
        window
    };
    // No CloudTrail lookup per function: LookupEvents allows two calls a
    // second an account, and a sweep sizes by weeks of figures, not by the
    // day's deployments.
    let sources = evidence::Sources {
        changes: None,
        ..ctx.sources()
    };
    let evidence = evidence::collect(sources, name, None, alarm, lines_window, &config.run)
        .await
        .map_err(|e| e.to_string())?;
    let held = (!insights).then(|| Figures::of_reports(&evidence.reports, evidence.logs_complete));
    let (figures, notes) = figures(ctx, &evidence.function.log_group(), window, held).await;
    for note in &notes {
        tracing::info!(function = %name, %note, "sweep figures");
    }
    let report = diagnosis::run_rules(&ctx.rules, &evidence, Threads::Caller);
    // A standing recommendation is not held back by a recent change's
    // cooldown: that guards applying, below.
    let diagnosis = diagnosis::conclude(
        report,
        &evidence,
        &config.policy,
        MergeMode::Rules,
        History::default(),
        now,
        None,
    );
    let previous = ports
        .recommendations
        .recommendation(&key)
        .await
        .map_err(|e| e.to_string())?;
    let raised_from = ctx
        .audit
        .raised_from(&key)
        .await
        .map_err(|e| e.to_string())?;
    let doubt = crate::logs::report_doubt(&evidence.reports, &evidence.metrics);
    let function = &evidence.function;
    let tailored = config.policy.for_function(&function.tags);
    let outcome = recommend::recommend(
        Observed {
            function,
            figures: &figures,
            window,
            decision: &diagnosis.decision,
            previous_floor_mb: previous.as_ref().and_then(|p| p.oom_floor_mb),
            raised_from_mb: &raised_from,
            report_doubt: doubt.as_deref(),
            tuning: previous.as_ref().and_then(|p| p.tuning.as_ref()),
        },
        Settings {
            window_days: fleet.sweep_days,
            margin_percent: fleet.down_margin_percent,
            min_saving_mb: fleet.min_saving_mb,
            min_invocations: fleet.min_invocations,
            min_days: fleet.min_days,
            near_timeout_percent: fleet.near_timeout_percent,
            min_memory_mb: tailored.policy.min_memory_mb,
            ceiling_mb: tailored.policy.ceiling_mb,
            mode: tailored.mode,
            usd_per_gb_second: config
                .pricing
                .usd_per_gb_second(&function.architecture, function.region()),
        },
    );
    let tags = &function.tags;
    let mut reasons = tailored.notes.clone();
    reasons.extend(outcome.reasons);
    reasons.extend(notes);
    let mut recommendation = StandingRecommendation {
        function: name.to_owned(),
        account: member.map(|m| m.account.clone()),
        region: member.map(|m| m.region.clone()),
        direction: outcome.direction,
        current_mb: function.memory_mb,
        target_mb: outcome.target_mb,
        monthly_cost_delta_usd: outcome.monthly_cost_delta_usd,
        invocations: outcome.invocations,
        p99_used_mb: outcome.p99_used_mb,
        oom_floor_mb: outcome.oom_floor_mb,
        reasons,
        sweep: sweep.to_owned(),
        at_ms: now,
        window_days: fleet.sweep_days,
        downsize_opted_in: tags
            .get(&fleet.downsize_tag)
            .is_some_and(|v| v.eq_ignore_ascii_case("apply")),
        applied: false,
        source_change: (outcome.direction != Direction::Keep)
            .then(|| crate::iac::change(tags, outcome.target_mb, &config.iac))
            .flatten(),
        max_used_mb: outcome.max_used_mb,
        figures: Some(figures.source),
        baseline: None,
        check: None,
        // A tune stays evidence until the next one.
        tuning: previous.and_then(|p| p.tuning),
    };
    if recommendation.direction == Direction::Down && recommendation.downsize_opted_in {
        let applied = if tailored.mode == FunctionMode::Recommend {
            Err(format!("{MODE_TAG}=recommend: a person makes this change"))
        } else if crate::pipeline::approval::required(&config.approval, function) {
            // Approval mode covers every change, a sweep's too: recommended only.
            Err("the function is in approval mode: a person makes this change".to_owned())
        } else {
            let holder = format!(
                "{}{}",
                crate::ports::SWEEP_CHANGE_PREFIX,
                recommendation.sweep
            );
            match served_by_latest(ctx, function).await {
                Ok(()) => {
                    let target = recommendation.target_mb;
                    apply_change_keyed(ctx, function, target, &holder, now, &key).await
                }
                Err(why) => Err(why),
            }
        };
        match applied {
            Ok(()) => {
                recommendation.applied = true;
                let before = figures.summary(|r| r.memory_mb == function.memory_mb);
                recommendation.baseline = Some(DownsizeBaseline {
                    from_mb: function.memory_mb,
                    applied_at_ms: now,
                    invocations: before.invocations,
                    failure_rate: before.failure_rate(),
                    timeout_rate: before.timeouts as f64 / before.invocations.max(1) as f64,
                    p95_ms: before.p95_ms,
                });
            }
            Err(why) => recommendation.reasons.push(format!("not applied: {why}")),
        }
    }
    ports
        .recommendations
        .put_recommendation(&recommendation)
        .await
        .map_err(|e| e.to_string())?;
    Ok(recommendation)
}

/// `group`'s figures over `window`: one Logs Insights query when so
/// configured — the raw lines, read over the whole window, when it fails
/// (said in the notes) — else `held` (figures the caller already made from
/// the same window's lines) or the raw lines.
pub(super) async fn figures(
    ctx: &Context,
    group: &str,
    window: Window,
    held: Option<Figures>,
) -> (Figures, Vec<String>) {
    let run = &ctx.config.run;
    let bound = Duration::from_secs(run.collect_timeout_seconds.max(1));
    let mut notes = Vec::new();
    if ctx.config.fleet.figures == FiguresFrom::LogsInsights {
        let why =
            match tokio::time::timeout(bound, ctx.telemetry.report_figures(group, window)).await {
                Ok(Ok(answer)) => return answer,
                Ok(Err(why)) => why,
                Err(_) => format!("timed out after {} s", bound.as_secs()),
            };
        notes.push(format!(
            "figures: Logs Insights failed ({why}); read the raw log lines instead (at most {}, run.max_log_events: a busier function is kept)",
            run.max_log_events
        ));
    } else if let Some(held) = held {
        return (held, notes);
    }
    let read = tokio::time::timeout(
        bound,
        ctx.telemetry.log_lines(group, window, run.max_log_events),
    )
    .await
    .unwrap_or_else(|_| crate::ports::LogRead {
        notes: vec![format!("logs: timed out after {} s", bound.as_secs())],
        ..Default::default()
    });
    let reports = crate::logs::parse_reports(&read.lines);
    notes.extend(read.notes);
    (Figures::of_reports(&reports, read.complete), notes)
}

/// Sets `function`'s memory to `target_mb` outside an incident (a sweep's
/// downsizing, a tune's `--apply`) under the same guards as a repair: the
/// function's lock (held as `holder`), the cooldown and the daily cap, the
/// write-ahead history, the revision guard; never in dry-run, never on a
/// function not opted in.
pub async fn apply_change(
    ctx: &Context,
    function: &crate::model::FunctionInfo,
    target_mb: u32,
    holder: &str,
    now: Millis,
) -> Result<(), String> {
    apply_change_keyed(ctx, function, target_mb, holder, now, &function.name).await
}

/// [`apply_change`], the function's lock and history under `key` (its
/// name, or account/region/name in a member account).
async fn apply_change_keyed(
    ctx: &Context,
    function: &crate::model::FunctionInfo,
    target_mb: u32,
    holder: &str,
    now: Millis,
    key: &str,
) -> Result<(), String> {
    let config = &ctx.config;
    if config.run.dry_run {
        return Err("run.dry_run is on".into());
    }
    let pauses = ctx
        .audit
        .pauses()
        .await
        .map_err(|e| format!("whether autorepair is paused could not be read ({e})"))?;
    if let Some(pause) = crate::model::Pause::on(&pauses, &function.name) {
        return Err(pause.describe());
    }
    // Opted out of autorepair (its alarms, the safety net, are gone): the
    // downsize tag alone does not let a sweep change it.
    let policy = &config.policy;
    if !policy.opts_in(&function.tags) {
        return Err(format!(
            "the function is not opted in ({}={})",
            policy.opt_in_tag_key, policy.opt_in_tag_value
        ));
    }
    let ttl_ms =
        i64::try_from(config.run.lock_ttl_seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
    match ctx.audit.lock(key, holder, now, ttl_ms).await {
        Ok(crate::ports::Claim::Won) => {}
        Ok(crate::ports::Claim::Taken) => {
            return Err("an incident is repairing the function right now".into());
        }
        Err(e) => return Err(e.to_string()),
    }
    let result = async {
        let history = ctx
            .audit
            .history(key, now)
            .await
            .map_err(|e| e.to_string())?;
        // The repair's own rate limits, the same check.
        if let Some(refused) = crate::decide::rate_limited(history, now, &config.policy) {
            return Err(refused);
        }
        ctx.audit
            .record_change(
                key,
                &RecordedChange {
                    incident_id: holder.to_owned(),
                    at_ms: now,
                    from_mb: function.memory_mb,
                    to_mb: target_mb,
                },
            )
            .await
            .map_err(|e| e.to_string())?;
        tokio::time::timeout(
            Duration::from_secs(config.run.collect_timeout_seconds.max(1)),
            ctx.repairer().set_memory(function, target_mb),
        )
        .await
        .map_err(|_| "timed out".to_owned())?
        .map(|_| ())
        .map_err(|e| e.to_string())
    }
    .await;
    if let Err(e) = ctx.audit.unlock(key, holder).await {
        tracing::warn!(error = %e, "could not release the lock (it expires by itself)");
    }
    result
}

/// Refuses a function whose traffic a change to `$LATEST` would not reach:
/// SnapStart runs snapshots of published versions, and an alias (with or
/// without provisioned concurrency) serves the version it names.
async fn served_by_latest(
    ctx: &Context,
    function: &crate::model::FunctionInfo,
) -> Result<(), String> {
    if function.snap_start {
        return Err(
            "SnapStart is on: what runs are snapshots of published versions, which a change to $LATEST alone does not reach; make it through the deployment".into(),
        );
    }
    let aliases =
        ctx.functions.aliases(&function.name).await.map_err(|e| {
            format!("its aliases could not be listed ({e}), so the change is not made")
        })?;
    if aliases.is_empty() {
        return Ok(());
    }
    Err(format!(
        "served through alias {}: a change to $LATEST alone would not reach that traffic; make it through the deployment that publishes the version",
        aliases.join(", ")
    ))
}

/// The map's results wherever they are: inline (an array, as an engine
/// without a ResultWriter leaves them in the state) or in S3, where the
/// ResultWriter put them — `{"ResultWriterDetails":{"Bucket","Key"}}` names
/// the manifest, whose result files hold every child execution, its output
/// (a batch's summary) or its error.
pub async fn results(
    ports: &FleetPorts,
    batches: &serde_json::Value,
) -> Result<Vec<serde_json::Value>, FleetError> {
    use serde_json::{Value, json};
    if let Some(items) = batches.as_array() {
        return Ok(items.clone());
    }
    let bad = |message: String| FleetError {
        what: "the sweep's results".into(),
        message,
    };
    let details = &batches["ResultWriterDetails"];
    let (Some(bucket), Some(key)) = (details["Bucket"].as_str(), details["Key"].as_str()) else {
        return Err(bad(format!(
            "neither results nor a ResultWriter manifest: {}",
            crate::text::clean(&batches.to_string().chars().take(300).collect::<String>())
        )));
    };
    let read = |bucket: String, key: String| async move {
        let body = ports.items.get(&bucket, &key).await?;
        serde_json::from_slice::<Value>(&body)
            .map_err(|e| bad(format!("s3://{bucket}/{key} is not JSON: {e}")))
    };
    let manifest = read(bucket.to_owned(), key.to_owned()).await?;
    let bucket = manifest["DestinationBucket"].as_str().unwrap_or(bucket);
    let mut out = Vec::new();
    let files = manifest["ResultFiles"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for (status, files) in files {
        for file in files.as_array().into_iter().flatten() {
            let Some(key) = file["Key"].as_str() else {
                continue;
            };
            let executions = read(bucket.to_owned(), key.to_owned()).await?;
            for e in executions.as_array().into_iter().flatten() {
                let output = e["Output"]
                    .as_str()
                    .and_then(|o| serde_json::from_str::<Value>(o).ok());
                out.push(match output {
                    Some(summary) if status == "SUCCEEDED" => summary,
                    _ => json!({"Status": status, "Error": e["Error"], "Cause": e["Cause"]}),
                });
            }
        }
    }
    Ok(out)
}

/// The recommendations `sweep` wrote, counted as one batch (failures are
/// not among them: those only the map's results name).
pub async fn tally(ports: &FleetPorts, sweep: &str) -> Result<BatchSummary, FleetError> {
    let mut total = BatchSummary::default();
    for r in ports.recommendations.recommendations().await? {
        if r.sweep != sweep {
            continue;
        }
        total.count(&r);
    }
    Ok(total)
}

/// The map's results as they come: a batch's summary, or — for an item
/// whose child execution failed — whatever the engine put in its place.
pub fn parse_results(results: &[serde_json::Value]) -> Vec<BatchSummary> {
    results
        .iter()
        .enumerate()
        .map(|(i, r)| {
            serde_json::from_value(r.clone()).unwrap_or_else(|_| BatchSummary {
                failed: [(
                    format!("item {i}"),
                    format!(
                        "the item failed: {}",
                        crate::text::clean(&r.to_string().chars().take(300).collect::<String>())
                    ),
                )]
                .into(),
                ..BatchSummary::default()
            })
        })
        .collect()
}

/// Adds up the batches and sends the sweep's notice.
pub async fn summary(ctx: &Context, sweep: &str, batches: &[BatchSummary]) -> BatchSummary {
    let mut total = BatchSummary::default();
    for b in batches {
        total.add(b);
    }
    if let Some(notifier) = &ctx.notifier {
        let text = notice(sweep, &total);
        let subject = format!(
            "autorepair sweep: {} up, {} down of {} functions",
            total.up, total.down, total.swept
        );
        let json = serde_json::to_string(&total).unwrap_or_default();
        let attributes = crate::model::NoticeAttributes {
            kind: "sweep",
            status: "swept".into(),
            severity: if total.failed_count > 0 {
                crate::model::Severity::Warning
            } else {
                crate::model::Severity::Info
            },
            function: None,
            dedup_key: Some(sweep.to_owned()),
            stack: ctx.config.run.environment.clone(),
        };
        if let Err(e) = notifier.publish(&subject, &text, &json, &attributes).await {
            tracing::error!(error = %e, "the sweep notice could not be sent");
        }
    }
    total
}

/// The sweep's notice: the counts, the money, what failed.
pub fn notice(sweep: &str, total: &BatchSummary) -> String {
    let mut out = format!(
        "autorepair swept {} functions ({sweep}).\n\n{} up, {} down, {} keep; {} downsizings applied (opted in).\n\
Together the recommendations change the monthly bill by ${:+.2}.\n",
        total.swept, total.up, total.down, total.keep, total.applied, total.monthly_delta_usd
    );
    if total.throttled > 0 {
        let _ = writeln!(
            out,
            "AWS throttled {} calls (each retried after a backoff): lower [limits] if other tools share these quotas.",
            total.throttled
        );
    }
    if total.failed_count > 0 || !total.failed.is_empty() {
        let _ = writeln!(
            out,
            "\n{} functions could not be swept (the host's log names each); for example:",
            total.failed_count.max(total.failed.len())
        );
        for (name, why) in total.failed.iter().take(FAILED_EXAMPLES_TOTAL) {
            let _ = writeln!(out, "- {name}: {}", crate::text::clean(why));
        }
    }
    out.push_str("\nThe list: autorepair recommendations (--format csv|json|html).\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_execution_arn_makes_a_clean_key() {
        assert_eq!(
            key_safe("arn:aws:states:us-east-1:123:execution:autorepair-sweep:weekly/2026 11"),
            "weekly-2026-11"
        );
    }

    #[test]
    fn a_failed_item_in_the_maps_results_is_counted_not_fatal() {
        let results = vec![
            serde_json::json!({"swept": 2, "up": 1, "down": 1, "keep": 0, "applied": 0, "monthly_delta_usd": -1.0}),
            serde_json::json!({"Error": "States.TaskFailed", "Cause": "boom"}),
        ];
        let parsed = parse_results(&results);
        assert_eq!(parsed[0].swept, 2);
        assert!(
            parsed[1].failed["item 1"].contains("States.TaskFailed"),
            "{:?}",
            parsed[1]
        );
    }

    #[test]
    fn summaries_add_up() {
        let mut a = BatchSummary {
            swept: 2,
            up: 1,
            down: 1,
            monthly_delta_usd: -3.5,
            ..BatchSummary::default()
        };
        let b = BatchSummary {
            swept: 1,
            keep: 1,
            failed: [("f".to_owned(), "gone".to_owned())].into(),
            ..BatchSummary::default()
        };
        a.add(&b);
        assert_eq!(
            (a.swept, a.up, a.down, a.keep, a.failed.len()),
            (3, 1, 1, 1, 1)
        );
    }

    #[test]
    fn a_whole_sweeps_failures_stay_small_and_counted() {
        let mut total = BatchSummary::default();
        let long = "é".repeat(10_000);
        for i in 0..1_000 {
            total.add(&BatchSummary {
                failed: [(format!("f{i}"), long.clone())].into(),
                failed_count: 3,
                ..BatchSummary::default()
            });
        }
        assert_eq!(total.failed_count, 3_000);
        assert_eq!(total.failed.len(), FAILED_EXAMPLES_TOTAL);
        assert!(
            total
                .failed
                .values()
                .all(|why| why.chars().count() == FAILED_WHY_CHARS + 1)
        );
        assert!(serde_json::to_vec(&total).unwrap().len() < 16 * 1024);
    }
}
