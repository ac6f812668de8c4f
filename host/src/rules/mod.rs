//! The rule sandbox: loads WebAssembly rule components, checks what they are,
//! and runs them on an incident's evidence under CPU, memory and data limits.
//!
//! The promise (see design.md): a rule has no network, files, env or args, runs
//! within its budget, sees only what it was granted, changes nothing, and whatever
//! it does wrong becomes a recorded [`RuleFailure`] while other rules still count.

pub mod artifacts;
mod bindings;
mod cache;
mod engine;
mod plugin;
mod sandbox;
pub mod source;
mod statistics;
pub mod validate;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;
use wasmtime::component::{Component, types::ComponentItem};

pub use bindings::{INTERFACE_VERSION, LINES, RULE_INTERFACE};
pub use cache::{ArtifactCache, default_dir as default_cache_dir};
pub use engine::{MAX_INSTANCES, MAX_MEMORIES, MAX_TABLES};
pub use sandbox::{
    CallReport, EPOCH_TICK, Limits, MAX_LOG_BYTES, MAX_LOG_CALLS, RuleLog, Sandbox, SandboxError,
};

use crate::digest::sha256_hex;
use crate::model::{Evidence, FailureCause, Finding, Grants, RuleFailure};
use crate::text::clean;
use crate::trust::Trust;
use bindings::{Line, View};
use plugin::{Instance, Plugin};

/// Computes the incident statistics the host hands to rules, as it does once
/// per incident and set of grants (the leak only when a rule asks); the
/// result is dropped (benchmarks).
#[doc(hidden)]
pub fn compute_statistics(evidence: &Evidence, grants: Grants) {
    let statistics = statistics::Statistics::of(evidence, grants);
    std::hint::black_box(statistics.incident);
}

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

/// Where a rule's native code came from when it was loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NativeCode {
    /// Precompiled when this binary was built, embedded in it (bundled rules).
    Embedded,
    /// Deserialized from the on-disk artifact cache.
    Cache,
    /// Compiled from the component at load.
    Compiled,
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
    pub native_code: NativeCode,
    /// It imports `statistics` (since 0.2.1), `environments` (0.2.2) or
    /// `changes` (0.2.3): the host prepares them before calling it.
    uses_statistics: bool,
    plugin: Plugin,
    /// Instances kept between calls, for bundled rules only (see [`MAX_WARM`]).
    warm: Mutex<Vec<Warm>>,
}

/// A bundled rule's instance kept for its next call, with its store.
struct Warm {
    store: wasmtime::Store<sandbox::State>,
    instance: Instance,
}

/// Instances kept per bundled rule: as many as threads usually evaluate it
/// at once. Each holds a pooled slot and its memory (about a MiB).
const MAX_WARM: usize = 4;

impl LoadedRule {
    /// What the rule actually sees: what it wants, as far as it was granted.
    pub fn effective_grants(&self) -> Grants {
        self.info.wants.intersect(self.grants)
    }

    /// Whether its instance is kept between calls. Only for the rules built
    /// into this binary — our own code, whose only state is its evidence;
    /// every other rule gets a fresh instance, and a fresh store, per call,
    /// so nothing of one incident can reach the next. A call that fails
    /// (a trap, a budget) drops the instance whatever its origin.
    pub fn keeps_instance(&self) -> bool {
        self.origin == Origin::Bundled
    }

    /// Whether it imports the host's statistics (autorepair:rules@0.2.1), or
    /// the log streams (0.2.2) or recent changes (0.2.3) kept with them.
    pub fn uses_statistics(&self) -> bool {
        self.uses_statistics
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
    memo: Mutex<HashMap<String, (Component, NativeCode)>>,
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

    /// The compiled component for `bytes`, whose sha256 is `digest`, and
    /// where its code came from: this process's memo, the code embedded in
    /// the binary for the bundled rules, the artifact cache, or the compiler.
    pub fn component(&self, bytes: &[u8], digest: &str) -> Result<(Component, NativeCode), String> {
        if let Some(found) = lock(&self.memo).get(digest) {
            return Ok(found.clone());
        }
        let engine = self.sandbox.engine();
        let found = match embedded(engine, digest) {
            Some(component) => (component, NativeCode::Embedded),
            None => match self.cache.as_ref().and_then(|c| c.load(engine, digest)) {
                Some(component) => (component, NativeCode::Cache),
                None => {
                    let artifact = engine
                        .precompile_component(bytes)
                        .map_err(|e| format!("{e:#}"))?;
                    if let Some(cache) = &self.cache {
                        cache.store(digest, &artifact);
                    }
                    // SAFETY: `artifact` was produced just above by this engine.
                    let component = unsafe { Component::deserialize(engine, &artifact) }
                        .map_err(|e| format!("{e:#}"))?;
                    (component, NativeCode::Compiled)
                }
            },
        };
        lock(&self.memo).insert(digest.to_owned(), found.clone());
        Ok(found)
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
        let (component, native_code) = self
            .component(&spec.bytes, &digest)
            .map_err(|e| fail(FailureCause::Load(e)))?;
        let line = check_interface(&component, self.sandbox.engine())
            .map_err(|e| fail(FailureCause::Incompatible(e)))?;
        let uses_statistics = [
            STATISTICS_INTERFACE,
            ENVIRONMENTS_INTERFACE,
            CHANGES_INTERFACE,
        ]
        .iter()
        .any(|i| imports(&component, self.sandbox.engine(), i));
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
        // A signature binds a rule's name, version and interface: the
        // component must be what was signed.
        let interface = rule_export(&component, self.sandbox.engine()).unwrap_or_default();
        spec.trust
            .matches(&info.name, &info.version, &interface)
            .map_err(|e| fail(FailureCause::Untrusted(e)))?;
        Ok(LoadedRule {
            info,
            origin: spec.origin.clone(),
            digest,
            grants: spec.grants,
            limits: spec.limits,
            shadow: spec.shadow,
            trust: spec.trust.clone(),
            veto_on_failure: spec.veto_on_failure,
            native_code,
            uses_statistics,
            plugin,
            warm: Mutex::new(Vec::new()),
        })
    }
}

/// The code build.rs precompiled for the component with sha256 `digest`, when
/// it is a bundled rule's and matches this engine. wasmtime checks the match
/// (its version, the target and CPU features, the settings that shape code);
/// a mismatch — another CPU, a metered engine — costs a compile, nothing else.
fn embedded(engine: &wasmtime::Engine, digest: &str) -> Option<Component> {
    let (_, artifact) = artifacts::PRECOMPILED.iter().find(|(d, _)| *d == digest)?;
    // SAFETY: the artifact is part of this binary, written by build.rs from
    // `Engine::precompile_component`; wasmtime refuses it for an engine it
    // was not compiled for.
    match unsafe { Component::deserialize(engine, artifact) } {
        Ok(component) => Some(component),
        Err(e) => {
            tracing::info!(error = %format!("{e:#}"), "precompiled bundled rule does not match this engine; compiling it");
            None
        }
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

/// The interface through which the host hands over the incident's statistics.
const STATISTICS_INTERFACE: &str = "autorepair:rules/statistics";
/// The interface through which the host hands over the log streams (0.2.2),
/// which it keeps beside the statistics.
const ENVIRONMENTS_INTERFACE: &str = "autorepair:rules/environments";
/// The interface through which the host hands over the function's recent
/// changes (0.2.3), also kept beside the statistics.
const CHANGES_INTERFACE: &str = "autorepair:rules/changes";

/// Whether the component imports `interface` (any version).
fn imports(component: &Component, engine: &wasmtime::Engine, interface: &str) -> bool {
    component
        .component_type()
        .imports(engine)
        .any(|(name, _)| name.split('@').next() == Some(interface))
}

/// The line of `autorepair:rules/rule` the component exports, when this host
/// speaks it (see [`LINES`]: for 0.x the minor number is the line, semver's
/// rule for 0.x); anything else is refused, naming what it found and what
/// this host runs.
/// The rule interface a component exports, as named
/// (`autorepair:rules/rule@0.3.0`).
pub(crate) fn rule_export(component: &Component, engine: &wasmtime::Engine) -> Option<String> {
    component
        .component_type()
        .exports(engine)
        .map(|(name, _)| name)
        .find(|name| {
            name.strip_prefix(RULE_INTERFACE)
                .is_some_and(|v| v.starts_with('@'))
        })
        .map(str::to_owned)
}

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

    /// Takes every rule admitted by its signature back out, as refused for
    /// `reason` (pinned and bundled rules stay).
    pub fn refuse_signed(&mut self, reason: &str) {
        let (signed, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.rules)
            .into_iter()
            .partition(|r| matches!(r.trust, Trust::Signed { .. }));
        self.rules = kept;
        self.load_failures
            .extend(signed.into_iter().map(|r| RuleFailure {
                rule: r.info.name,
                veto: r.veto_on_failure,
                cause: FailureCause::Untrusted(reason.to_owned()),
            }));
    }

    /// (rule, version) of every rule loaded by a signature that names them.
    pub fn signed_versions(&self) -> Vec<(String, String)> {
        self.rules
            .iter()
            .filter_map(|r| match &r.trust {
                Trust::Signed { rule, version, .. } if !rule.is_empty() => {
                    Some((rule.clone(), version.clone()))
                }
                _ => None,
            })
            .collect()
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
        let prepared = self.prepare(evidence);
        if self.rules.len() <= 1 {
            return self.evaluate_serial_with(&prepared);
        }
        std::thread::scope(|scope| {
            let handles: Vec<_> = self
                .rules
                .iter()
                .map(|rule| {
                    let prepared = &prepared;
                    scope.spawn(move || self.run(rule, prepared))
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
        self.evaluate_serial_with(&self.prepare(evidence))
    }

    fn evaluate_serial_with(&self, prepared: &Prepared) -> Vec<RuleOutcome> {
        self.rules
            .iter()
            .map(|rule| self.run(rule, prepared))
            .collect()
    }

    /// The evidence converted once per line and distinct set of effective
    /// grants, and the statistics once per set of grants, for the rules that
    /// ask for them.
    fn prepare(&self, evidence: &Evidence) -> Prepared {
        let mut views: Vec<Option<View>> = vec![None; Grants::SETS * LINES.len()];
        let mut statistics: Vec<Option<Arc<statistics::Statistics>>> = vec![None; Grants::SETS];
        for rule in &self.rules {
            let at = view_index(rule);
            if views[at].is_none() {
                views[at] = Some(View::of(
                    rule.plugin.line(),
                    evidence,
                    rule.effective_grants(),
                ));
            }
            let at = rule.grants.index();
            if rule.uses_statistics && statistics[at].is_none() {
                statistics[at] = Some(Arc::new(statistics::Statistics::of(evidence, rule.grants)));
            }
        }
        Prepared { views, statistics }
    }

    fn run(&self, rule: &LoadedRule, prepared: &Prepared) -> RuleOutcome {
        let span = tracing::debug_span!("rule", rule = %rule.info.name);
        let _guard = span.enter();
        let started = Instant::now();
        let view = prepared.views[view_index(rule)]
            .as_ref()
            .expect("a view is prepared for every rule");
        let kept = if rule.keeps_instance() {
            lock(&rule.warm).pop()
        } else {
            None
        };
        let (mut store, instance) = match kept {
            Some(Warm {
                mut store,
                instance,
            }) => {
                sandbox::rearm(&mut store, rule.limits);
                (store, Ok(instance))
            }
            None => {
                let mut store = self.sandbox.store(&rule.info.name, rule.limits);
                let instance = rule.plugin.instance(&mut store);
                (store, instance)
            }
        };
        if rule.uses_statistics {
            store.data_mut().statistics = prepared.statistics[rule.grants.index()].clone();
        }
        let called = instance.and_then(|instance| {
            let called = instance.evaluate(&mut store, view)?;
            Ok((called, instance))
        });
        let (called, instance) = match called {
            Ok((called, instance)) => (Ok(called), Some(instance)),
            Err(e) => (Err(e), None),
        };
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
        if let Some(instance) = instance
            && rule.keeps_instance()
        {
            let mut warm = lock(&rule.warm);
            if warm.len() < MAX_WARM {
                warm.push(Warm { store, instance });
            }
        }
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

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// An incident made ready for the rules of a set.
struct Prepared {
    /// By [`view_index`].
    views: Vec<Option<View>>,
    /// By the rule's grants' index.
    statistics: Vec<Option<Arc<statistics::Statistics>>>,
}

/// Where a rule's view sits among [`Prepared::views`]: one per line and set
/// of effective grants.
fn view_index(rule: &LoadedRule) -> usize {
    let line = match rule.plugin.line() {
        Line::V0_2 => 0,
        Line::V0_1 => 1,
    };
    line * Grants::SETS + rule.effective_grants().index()
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
