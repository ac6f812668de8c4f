//! The rule sandbox: loads WebAssembly rule components, checks what they are,
//! and runs them on an incident's evidence under CPU, memory and data limits.
//!
//! The promise (see design.md): a rule has no network, files, env or args, runs
//! within its budget, sees only what it was granted, changes nothing, and whatever
//! it does wrong becomes a recorded [`RuleFailure`] while other rules still count.

pub mod artifacts;
mod bindings;
mod cache;
mod plugin;
mod sandbox;
pub mod source;
pub mod validate;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;
use wasmtime::component::{Component, types::ComponentItem};

pub use bindings::{INTERFACE_VERSION, LINES, RULE_INTERFACE};
pub use cache::{ArtifactCache, default_dir as default_cache_dir};
pub use sandbox::{
    CallReport, EPOCH_TICK, Limits, MAX_LOG_BYTES, MAX_LOG_CALLS, RuleLog, Sandbox, SandboxError,
};

use crate::digest::sha256_hex;
use crate::model::{Evidence, FailureCause, Finding, Grants, RuleFailure};
use crate::text::clean;
use crate::trust::Trust;
use bindings::{Line, View};
use plugin::Plugin;

/// Where a rule came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Built into this binary.
    Bundled,
    /// A component named in the configuration: a file or `s3://bucket/key`.
    External(String),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Bundled => f.write_str("bundled"),
            Origin::External(source) => f.write_str(source),
        }
    }
}

/// A rule to load: its bytes and what the operator allows it.
#[derive(Debug, Clone)]
pub struct RuleSpec {
    pub origin: Origin,
    pub bytes: Arc<[u8]>,
    /// What the operator granted; the rule sees the intersection with what it wants.
    pub grants: Grants,
    pub limits: Limits,
    /// Evaluated and recorded, never deciding.
    pub shadow: bool,
    /// Why it may load; `Unsigned` (development only) is flagged everywhere.
    pub trust: Trust,
    /// Its failure vetoes a memory change (see [`RuleFailure::veto`]).
    pub veto_on_failure: bool,
}

/// What a rule says about itself in `describe`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleInfo {
    pub name: String,
    pub version: String,
    pub summary: String,
    pub wants: Grants,
}

/// A rule ready to run: compiled, linked, described and validated.
pub struct LoadedRule {
    pub info: RuleInfo,
    pub origin: Origin,
    /// The sha256 of the component's bytes.
    pub digest: String,
    pub grants: Grants,
    pub limits: Limits,
    pub shadow: bool,
    pub trust: Trust,
    pub veto_on_failure: bool,
    plugin: Plugin,
}

impl LoadedRule {
    /// What the rule actually sees: what it wants, as far as it was granted.
    pub fn effective_grants(&self) -> Grants {
        self.info.wants.intersect(self.grants)
    }
}

/// One rule's result on one incident.
#[derive(Debug, Clone, Serialize)]
pub struct RuleOutcome {
    pub rule: String,
    pub version: String,
    pub shadow: bool,
    /// Loaded under `allow_unsigned`: flagged wherever the outcome is shown.
    pub unsigned: bool,
    /// Its failure vetoes a memory change.
    pub veto_on_failure: bool,
    /// Instantiation plus evaluation, in microseconds.
    pub elapsed_us: u64,
    #[serde(skip)]
    pub result: Result<Vec<Finding>, FailureCause>,
    pub report: CallReport,
}

impl RuleOutcome {
    pub fn failure(&self) -> Option<RuleFailure> {
        self.result.as_ref().err().map(|cause| RuleFailure {
            rule: self.rule.clone(),
            veto: self.veto_on_failure,
            cause: cause.clone(),
        })
    }
}

/// Compiles components once per process, and through the on-disk cache.
pub struct Compiler {
    sandbox: Arc<Sandbox>,
    cache: Option<ArtifactCache>,
    memo: Mutex<HashMap<String, Component>>,
}

impl Compiler {
    pub fn new(sandbox: Arc<Sandbox>, cache_dir: Option<PathBuf>) -> Compiler {
        let cache = cache_dir.and_then(|dir| ArtifactCache::new(dir, sandbox.engine()));
        Compiler {
            sandbox,
            cache,
            memo: Mutex::new(HashMap::new()),
        }
    }

    pub fn sandbox(&self) -> &Arc<Sandbox> {
        &self.sandbox
    }

    /// The compiled component for `bytes`, whose sha256 is `digest`.
    pub fn component(&self, bytes: &[u8], digest: &str) -> Result<Component, String> {
        if let Some(component) = self
            .memo
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(digest)
        {
            return Ok(component.clone());
        }
        let engine = self.sandbox.engine();
        let cached = self.cache.as_ref().and_then(|c| c.load(engine, digest));
        let component = match cached {
            Some(component) => component,
            None => {
                let artifact = engine
                    .precompile_component(bytes)
                    .map_err(|e| format!("{e:#}"))?;
                if let Some(cache) = &self.cache {
                    cache.store(digest, &artifact);
                }
                // SAFETY: `artifact` was produced just above by this engine.
                unsafe { Component::deserialize(engine, &artifact) }
                    .map_err(|e| format!("{e:#}"))?
            }
        };
        self.memo
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(digest.to_owned(), component.clone());
        Ok(component)
    }

    /// Compiles, checks and describes one rule.
    pub fn load(&self, spec: &RuleSpec) -> Result<LoadedRule, RuleFailure> {
        let label = match &spec.origin {
            Origin::Bundled => "bundled rule".to_owned(),
            Origin::External(source) => source
                .rsplit(['/', '\\'])
                .next()
                .filter(|n| !n.is_empty())
                .unwrap_or(source)
                .to_owned(),
        };
        let fail = |cause| RuleFailure {
            rule: label.clone(),
            veto: spec.veto_on_failure,
            cause,
        };
        let digest = sha256_hex(&spec.bytes);
        let component = self
            .component(&spec.bytes, &digest)
            .map_err(|e| fail(FailureCause::Load(e)))?;
        let line = check_interface(&component, self.sandbox.engine())
            .map_err(|e| fail(FailureCause::Incompatible(e)))?;
        let instance_pre = self
            .sandbox
            .linker
            .instantiate_pre(&component)
            .map_err(|e| fail(FailureCause::Load(format!("{e:#}"))))?;
        let plugin = Plugin::new(line, instance_pre)
            .map_err(|e| fail(FailureCause::Incompatible(format!("{e:#}"))))?;

        let mut store = self.sandbox.store(&label, spec.limits);
        let info = plugin
            .describe(&mut store)
            .map_err(|e| fail(sandbox::classify(e, &store, spec.limits)))?;
        let info = rule_info(info).map_err(|e| fail(FailureCause::InvalidOutput(e)))?;
        Ok(LoadedRule {
            info,
            origin: spec.origin.clone(),
            digest,
            grants: spec.grants,
            limits: spec.limits,
            shadow: spec.shadow,
            trust: spec.trust.clone(),
            veto_on_failure: spec.veto_on_failure,
            plugin,
        })
    }
}

fn rule_info(info: bindings::RawInfo) -> Result<RuleInfo, String> {
    validate::rule_name(&info.name)?;
    validate::rule_text("version", &info.version)?;
    validate::rule_text("summary", &info.summary)?;
    Ok(RuleInfo {
        wants: info.wants,
        name: info.name,
        version: clean(&info.version),
        summary: clean(&info.summary),
    })
}

/// The line of `autorepair:rules/rule` the component exports, when this host
/// speaks it (see [`LINES`]: for 0.x the minor number is the line, semver's
/// rule for 0.x); anything else is refused, naming what it found and what
/// this host runs.
fn check_interface(component: &Component, engine: &wasmtime::Engine) -> Result<Line, String> {
    let ours = LINES
        .iter()
        .map(|(major, minor)| format!("{RULE_INTERFACE}@{major}.{minor}.x"))
        .collect::<Vec<_>>()
        .join(" or ");
    let ty = component.component_type();
    let mut found = Vec::new();
    for (name, item) in ty.exports(engine) {
        let Some(version) = name
            .strip_prefix(RULE_INTERFACE)
            .and_then(|v| v.strip_prefix('@'))
        else {
            continue;
        };
        if !matches!(item.ty, ComponentItem::ComponentInstance(_)) {
            continue;
        }
        let mut parts = version
            .split(['.', '-', '+'])
            .map(|p| p.parse::<u64>().ok());
        if let (Some(major), Some(minor)) = (parts.next().flatten(), parts.next().flatten())
            && let Some(line) = Line::of(major, minor)
        {
            return Ok(line);
        }
        found.push(name.to_owned());
    }
    let (major, minor, _) = INTERFACE_VERSION;
    if found.is_empty() {
        Err(format!(
            "the component exports no {RULE_INTERFACE} interface; this host runs {ours}"
        ))
    } else {
        Err(format!(
            "the rule was built against {}; this host runs {ours}: rebuild it against autorepair:rules@{major}.{minor}",
            found.join(", ")
        ))
    }
}

/// The rules of one process, ready to evaluate incidents.
pub struct RuleSet {
    sandbox: Arc<Sandbox>,
    rules: Vec<LoadedRule>,
    load_failures: Vec<RuleFailure>,
}

impl RuleSet {
    /// Loads every spec; a rule that cannot be loaded is kept as a load failure
    /// and the others load all the same.
    pub fn load(compiler: &Compiler, specs: &[RuleSpec]) -> RuleSet {
        let mut rules: Vec<LoadedRule> = Vec::new();
        let mut load_failures = Vec::new();
        for spec in specs {
            match compiler.load(spec) {
                Ok(rule) => {
                    if let Some(twin) = rules.iter().find(|r| r.info.name == rule.info.name) {
                        load_failures.push(RuleFailure {
                            rule: rule.info.name.clone(),
                            veto: rule.veto_on_failure,
                            cause: FailureCause::Load(format!(
                                "a rule with this name is already loaded from {}; names must be unique",
                                twin.origin
                            )),
                        });
                    } else {
                        rules.push(rule);
                    }
                }
                Err(failure) => {
                    tracing::warn!(rule = %failure.rule, cause = %failure.cause, "rule not loaded");
                    load_failures.push(failure);
                }
            }
        }
        RuleSet {
            sandbox: compiler.sandbox.clone(),
            rules,
            load_failures,
        }
    }

    pub fn rules(&self) -> &[LoadedRule] {
        &self.rules
    }

    pub fn load_failures(&self) -> &[RuleFailure] {
        &self.load_failures
    }

    /// Records rules refused before loading (unreadable file, pin mismatch).
    pub fn add_load_failures(&mut self, failures: impl IntoIterator<Item = RuleFailure>) {
        self.load_failures.extend(failures);
    }

    /// Instantiates rule `index` in a fresh store without calling it: the fixed
    /// cost of every evaluation (benchmarks, health checks).
    pub fn instantiate(&self, index: usize) -> Result<(), FailureCause> {
        let rule = &self.rules[index];
        let mut store = self.sandbox.store(&rule.info.name, rule.limits);
        match rule.plugin.instantiate(&mut store) {
            Ok(()) => Ok(()),
            Err(e) => Err(sandbox::classify(e, &store, rule.limits)),
        }
    }

    /// Runs every rule on `evidence`, concurrently (one thread per rule).
    pub fn evaluate(&self, evidence: &Evidence) -> Vec<RuleOutcome> {
        let views = self.views(evidence);
        if self.rules.len() <= 1 {
            return self.evaluate_serial_with(&views);
        }
        std::thread::scope(|scope| {
            let handles: Vec<_> = self
                .rules
                .iter()
                .map(|rule| {
                    let view = &views[view_index(rule)];
                    scope.spawn(move || {
                        self.run(rule, view.as_ref().expect("view built for every grant set"))
                    })
                })
                .collect();
            handles
                .into_iter()
                .zip(&self.rules)
                .map(|(handle, rule)| {
                    handle.join().unwrap_or_else(|_| RuleOutcome {
                        rule: rule.info.name.clone(),
                        version: rule.info.version.clone(),
                        shadow: rule.shadow,
                        unsigned: rule.trust.is_unsigned(),
                        veto_on_failure: rule.veto_on_failure,
                        elapsed_us: 0,
                        result: Err(FailureCause::Trap(
                            "the host thread running the rule panicked".into(),
                        )),
                        report: CallReport::default(),
                    })
                })
                .collect()
        })
    }

    /// Runs every rule on `evidence`, one after the other on this thread: for
    /// callers that already spread incidents over threads.
    pub fn evaluate_serial(&self, evidence: &Evidence) -> Vec<RuleOutcome> {
        self.evaluate_serial_with(&self.views(evidence))
    }

    fn evaluate_serial_with(&self, views: &[Option<View>]) -> Vec<RuleOutcome> {
        self.rules
            .iter()
            .map(|rule| self.run(rule, views[view_index(rule)].as_ref().expect("view built")))
            .collect()
    }

    /// The evidence converted once per line and distinct set of effective
    /// grants.
    fn views(&self, evidence: &Evidence) -> Vec<Option<View>> {
        let mut views: Vec<Option<View>> = vec![None; 16 * LINES.len()];
        for rule in &self.rules {
            let at = view_index(rule);
            if views[at].is_none() {
                views[at] = Some(View::of(
                    rule.plugin.line(),
                    evidence,
                    rule.effective_grants(),
                ));
            }
        }
        views
    }

    fn run(&self, rule: &LoadedRule, evidence: &View) -> RuleOutcome {
        let span = tracing::debug_span!("rule", rule = %rule.info.name);
        let _guard = span.enter();
        let started = Instant::now();
        let mut store = self.sandbox.store(&rule.info.name, rule.limits);
        let called = rule.plugin.evaluate(&mut store, evidence);
        let result = match called {
            Err(e) => Err(sandbox::classify(e, &store, rule.limits)),
            Ok(Err(message)) => Err(FailureCause::RuleError(clean(
                &message
                    .chars()
                    .take(validate::MAX_TEXT_BYTES)
                    .collect::<String>(),
            ))),
            Ok(Ok(mut findings)) => validate::findings(&findings)
                .and_then(|()| over_budget(&findings))
                .map(|()| {
                    validate::clean_findings(&mut findings);
                    findings
                })
                .map_err(FailureCause::InvalidOutput),
        };
        let mut report = sandbox::take_report(&mut store);
        let used = result.as_ref().map_or(0, |f| validate::output_bytes(f));
        keep_logs_within(&mut report, validate::MAX_OUTPUT_BYTES.saturating_sub(used));
        let elapsed_us = started.elapsed().as_micros() as u64;
        if let Err(cause) = &result {
            tracing::warn!(%cause, elapsed_us, "rule failed");
        }
        RuleOutcome {
            rule: rule.info.name.clone(),
            version: rule.info.version.clone(),
            shadow: rule.shadow,
            unsigned: rule.trust.is_unsigned(),
            veto_on_failure: rule.veto_on_failure,
            elapsed_us,
            result,
            report,
        }
    }
}

/// Where a rule's view sits among [`RuleSet::views`]: one per line and set
/// of effective grants.
fn view_index(rule: &LoadedRule) -> usize {
    let line = match rule.plugin.line() {
        Line::V0_2 => 0,
        Line::V0_1 => 1,
    };
    line * 16 + rule.effective_grants().index()
}

/// Findings whose text is over the output budget are refused whole: half of
/// a hostile rule's answer is no safer than all of it.
fn over_budget(findings: &[Finding]) -> Result<(), String> {
    let bytes = validate::output_bytes(findings);
    if bytes > validate::MAX_OUTPUT_BYTES {
        Err(format!(
            "{} findings carry {bytes} bytes of text, over the rule's output budget of {} bytes; dropped",
            findings.len(),
            validate::MAX_OUTPUT_BYTES
        ))
    } else {
        Ok(())
    }
}

/// Keeps log messages while they fit in `room` bytes; the rest are dropped
/// (and counted), with a last line that says so.
fn keep_logs_within(report: &mut CallReport, room: usize) {
    let mut used = 0;
    let kept = report
        .logs
        .iter()
        .take_while(|log| {
            used += log.message.len();
            used <= room
        })
        .count();
    let dropped = report.logs.len() - kept;
    if dropped > 0 {
        report.logs.truncate(kept);
        report.logs_dropped += dropped;
        report.logs.push(RuleLog {
            level: "warn".into(),
            message: format!(
                "… {} log messages dropped: over the rule's output budget",
                report.logs_dropped
            ),
        });
    }
}
