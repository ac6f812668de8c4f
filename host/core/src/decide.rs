//! The decision step: findings from every source in, one decision and its
//! reasons out. Pure (no I/O, no clock): this is where the safety promises live,
//! so it is property-tested below.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::{
    FindingKind, FunctionInfo, Millis, Recommendation, RecordedChange, RuleFailure, SourcedFinding,
};

/// Lambda's own bounds on memory, in MB (from the `autorepair-lambda` crate
/// the rules read too).
pub use autorepair_lambda::memory::{MAX_MB as LAMBDA_MAX_MB, MIN_MB as LAMBDA_MIN_MB};

/// The safety guard. Every field has a default and can be set in config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Never set memory below this (MB); Lambda's floor is 128.
    pub min_memory_mb: u32,
    /// The operator's ceiling (MB): no repair goes above it. 3008 MB is the
    /// largest size every region and account offers by default.
    pub ceiling_mb: u32,
    /// One step at most multiplies memory by this.
    pub max_step_ratio: f64,
    /// One step at most adds this many MB.
    pub max_step_mb: u32,
    /// After a change, the function is left alone this long (minutes), so the
    /// verification window sees the change and not the next one.
    pub cooldown_minutes: u32,
    /// At most this many changes per function in 24 hours.
    pub max_changes_per_day: u32,
    /// At most this many memory steps per incident: when a step helped but
    /// out-of-memory failures remain at the new size, another step is taken
    /// (each verified on its own) until this many were made.
    pub max_steps_per_incident: u32,
    /// Only functions carrying this tag with this value are repaired.
    pub opt_in_tag_key: String,
    /// The value the opt-in tag must have.
    pub opt_in_tag_value: String,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            min_memory_mb: LAMBDA_MIN_MB,
            ceiling_mb: 3008,
            max_step_ratio: 2.0,
            max_step_mb: 2048,
            cooldown_minutes: 60,
            max_changes_per_day: 3,
            max_steps_per_incident: 3,
            opt_in_tag_key: "autorepair".into(),
            opt_in_tag_value: "enabled".into(),
        }
    }
}

impl Policy {
    /// Whether a function with these tags opted in to autorepair (the opt-in
    /// tag with its exact value): nothing else is ever changed.
    pub fn opts_in(&self, tags: &std::collections::BTreeMap<String, String>) -> bool {
        tags.get(&self.opt_in_tag_key) == Some(&self.opt_in_tag_value)
    }

    /// This policy as one function's tags narrow it: `autorepair:min-mb`
    /// raises the floor, `autorepair:max-mb` lowers the ceiling,
    /// `autorepair:mode` (`off`, `recommend`, `auto`) says whether
    /// autorepair may change it. A tag only narrows the operator's policy: a
    /// value outside it, not a number, or a floor above the ceiling is named
    /// in the notes and the stack's policy holds.
    pub fn for_function(&self, tags: &std::collections::BTreeMap<String, String>) -> Tailored {
        let mut t = Tailored {
            policy: self.clone(),
            mode: FunctionMode::Auto,
            notes: Vec::new(),
        };
        let mb = |key: &str, notes: &mut Vec<String>| -> Option<u32> {
            let raw = tags.get(key)?.trim();
            match raw.trim_end_matches("MB").trim().parse::<u32>() {
                Ok(v) if (LAMBDA_MIN_MB..=LAMBDA_MAX_MB).contains(&v) => Some(v),
                _ => {
                    notes.push(format!(
                        "warning: tag {key}={raw:?} is not a size in MB ({LAMBDA_MIN_MB}..={LAMBDA_MAX_MB}); the stack's policy holds"
                    ));
                    None
                }
            }
        };
        let min = mb(MIN_MB_TAG, &mut t.notes);
        let max = mb(MAX_MB_TAG, &mut t.notes);
        match (min, max) {
            (Some(lo), Some(hi)) if lo > hi => t.notes.push(format!(
                "warning: tags {MIN_MB_TAG}={lo} and {MAX_MB_TAG}={hi} contradict each other; the stack's policy holds"
            )),
            _ => {
                if let Some(lo) = min {
                    if lo <= self.min_memory_mb.max(LAMBDA_MIN_MB) {
                        t.notes.push(format!(
                            "warning: tag {MIN_MB_TAG}={lo} is not above the stack's floor of {} MB; the stack's floor holds",
                            self.min_memory_mb.max(LAMBDA_MIN_MB)
                        ));
                    } else if lo > self.ceiling_mb {
                        t.notes.push(format!(
                            "warning: tag {MIN_MB_TAG}={lo} is above the stack's ceiling of {} MB; the stack's policy holds",
                            self.ceiling_mb
                        ));
                    } else {
                        t.policy.min_memory_mb = lo;
                        t.notes.push(format!("{MIN_MB_TAG}={lo}: this function's floor"));
                    }
                }
                if let Some(hi) = max {
                    if hi >= self.ceiling_mb {
                        t.notes.push(format!(
                            "warning: tag {MAX_MB_TAG}={hi} is not below the stack's ceiling of {} MB; the stack's ceiling holds",
                            self.ceiling_mb
                        ));
                    } else if hi < t.policy.min_memory_mb {
                        t.notes.push(format!(
                            "warning: tag {MAX_MB_TAG}={hi} is below the floor of {} MB; the stack's policy holds",
                            t.policy.min_memory_mb
                        ));
                    } else {
                        t.policy.ceiling_mb = hi;
                        t.notes.push(format!("{MAX_MB_TAG}={hi}: this function's ceiling"));
                    }
                }
            }
        }
        if let Some(raw) = tags.get(MODE_TAG) {
            match raw.trim().to_ascii_lowercase().as_str() {
                "off" => t.mode = FunctionMode::Off,
                "recommend" => t.mode = FunctionMode::Recommend,
                "auto" => {}
                // Fails towards doing less: a misspelt mode is not `auto`.
                _ => {
                    t.mode = FunctionMode::Recommend;
                    t.notes.push(format!(
                        "warning: tag {MODE_TAG}={raw:?} is not off, recommend or auto; treated as recommend (nothing changes by itself)"
                    ));
                }
            }
        }
        t
    }

    /// Errors in a policy an operator wrote, each phrased as what to fix.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !(LAMBDA_MIN_MB..=LAMBDA_MAX_MB).contains(&self.ceiling_mb) {
            problems.push(format!(
                "policy.ceiling_mb = {} must be within {LAMBDA_MIN_MB}..={LAMBDA_MAX_MB}",
                self.ceiling_mb
            ));
        }
        if self.min_memory_mb > self.ceiling_mb {
            problems.push(format!(
                "policy.min_memory_mb = {} is above policy.ceiling_mb = {}",
                self.min_memory_mb, self.ceiling_mb
            ));
        }
        if !(self.max_step_ratio.is_finite() && self.max_step_ratio > 1.0) {
            problems.push(format!(
                "policy.max_step_ratio = {} must be a number above 1",
                self.max_step_ratio
            ));
        }
        if self.max_steps_per_incident == 0 {
            problems.push("policy.max_steps_per_incident must be at least 1".into());
        }
        if self.max_step_mb == 0 {
            problems.push("policy.max_step_mb must be above 0".into());
        }
        if self.opt_in_tag_key.is_empty() {
            problems.push("policy.opt_in_tag_key must not be empty".into());
        }
        problems
    }
}

/// The tag that raises one function's floor (MB).
pub const MIN_MB_TAG: &str = "autorepair:min-mb";
/// The tag that lowers one function's ceiling (MB).
pub const MAX_MB_TAG: &str = "autorepair:max-mb";
/// The tag that says what autorepair may do to one function.
pub const MODE_TAG: &str = "autorepair:mode";

/// What autorepair may do to one function (its `autorepair:mode` tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FunctionMode {
    /// Nothing: no change, no recommendation acted on.
    Off,
    /// Diagnose and recommend; a person makes every change.
    Recommend,
    /// Repair by itself (the default).
    Auto,
}

/// The policy for one function, after its tags ([`Policy::for_function`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Tailored {
    /// The stack's policy, narrowed by the function's size tags.
    pub policy: Policy,
    /// What autorepair may do to it.
    pub mode: FunctionMode,
    /// Each tag honoured or refused, for the decision's reasons.
    pub notes: Vec<String>,
}

/// How findings from rules and the AI are merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MergeMode {
    /// Rules decide; the AI is recorded only.
    #[default]
    Rules,
    /// The AI decides; rules are recorded only.
    Ai,
    /// Change only when rules and AI both recommend more memory (the larger wins).
    Consensus,
    /// The AI decides only when no rule has an opinion.
    RulesFirst,
    /// Rules decide only when the AI has no opinion.
    AiFirst,
}

impl MergeMode {
    /// Every mode, in declaration order: what [`would_have`] compares.
    pub const ALL: [MergeMode; 5] = [
        MergeMode::Rules,
        MergeMode::Ai,
        MergeMode::Consensus,
        MergeMode::RulesFirst,
        MergeMode::AiFirst,
    ];
}

impl std::str::FromStr for MergeMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MergeMode::ALL
            .into_iter()
            .find(|m| m.to_string() == s)
            .ok_or_else(|| format!("unknown merge mode {s:?}: expected rules, ai, consensus, rules-first or ai-first"))
    }
}

impl fmt::Display for MergeMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MergeMode::Rules => "rules",
            MergeMode::Ai => "ai",
            MergeMode::Consensus => "consensus",
            MergeMode::RulesFirst => "rules-first",
            MergeMode::AiFirst => "ai-first",
        })
    }
}

/// How far back the guard counts a function's changes (the daily cap).
pub const HISTORY_WINDOW_MS: Millis = 24 * 3_600_000;

/// What the guard knows of the function's past changes (kept by the audit log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct History {
    /// When an incident last changed the function (ms since the Unix epoch); `None`
    /// when none did in the window.
    pub last_change_ms: Option<Millis>,
    /// How many changes incidents made in the last 24 hours (the daily cap's count).
    pub changes_last_24h: u32,
}

impl History {
    /// Where the window the guard counts changes in starts, at `now_ms`.
    pub fn since(now_ms: Millis) -> Millis {
        now_ms - HISTORY_WINDOW_MS
    }

    /// The history the guard judges by at `now_ms`: incidents' changes in
    /// the [`HISTORY_WINDOW_MS`] before it. A sweep's downsizing is not one,
    /// so an out-of-memory right after it is repaired at once.
    pub fn at(changes: &[RecordedChange], now_ms: Millis) -> History {
        let since = History::since(now_ms);
        let times: Vec<Millis> = changes
            .iter()
            .filter(|c| c.at_ms > since && !c.by_sweep())
            .map(|c| c.at_ms)
            .collect();
        History {
            last_change_ms: times.iter().copied().max(),
            changes_last_24h: times.len() as u32,
        }
    }
}

/// What the decision step resolved to do about one incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Change the function's memory to [`Decision::target_memory_mb`].
    SetMemory,
    /// Change nothing: no source asked for a change the guard allows, or it
    /// is not needed.
    None,
    /// Change nothing and hand the incident to a person (a leak, a hang, a
    /// source that asked for it, a vetoing rule that failed).
    Escalate,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::SetMemory => "set_memory",
            Action::None => "none",
            Action::Escalate => "escalate",
        })
    }
}

/// The outcome of the pure decision step: the merged findings of every
/// source, passed through the safety guard. `execute` acts on it only after
/// re-reading the function and deciding again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// What to do.
    pub action: Action,
    /// The function's memory when the decision was made (MB).
    pub current_memory_mb: u32,
    /// Set only when `action` is `set_memory`.
    pub target_memory_mb: Option<u32>,
    /// Every source's view and every clamp applied, in order, for people.
    pub reasons: Vec<String>,
}

/// Everything the decision depends on besides the policy and the mode.
#[derive(Debug, Clone, Copy)]
pub struct Situation<'a> {
    /// The function as read now: its memory and tags.
    pub function: &'a FunctionInfo,
    /// Every source's findings, shadow ones included.
    pub findings: &'a [SourcedFinding],
    /// Rules that failed on this incident (or never loaded); those marked
    /// `veto` could have vetoed a memory change.
    pub failures: &'a [RuleFailure],
    /// The function's recent changes, for the cooldown and the daily cap.
    pub history: History,
    /// The time the decision is made at (ms since the Unix epoch).
    pub now_ms: Millis,
    /// Why the invocation reports cannot be trusted, if they cannot (a
    /// function printed lines in REPORT's shape): no memory change then.
    pub report_doubt: Option<&'a str>,
}

/// What one group of sources proposes.
#[derive(Debug, Clone, PartialEq)]
enum Proposal {
    Memory { target_mb: u32, by: Vec<String> },
    Escalate(Vec<String>),
    Nothing,
}

/// Decides what to do about an incident.
pub fn decide(situation: &Situation<'_>, policy: &Policy, mode: MergeMode) -> Decision {
    let current = situation.function.memory_mb;
    let mut reasons: Vec<String> = situation.findings.iter().map(describe_view).collect();
    let done = |action, target, reasons| Decision {
        action,
        current_memory_mb: current,
        target_memory_mb: target,
        reasons,
    };

    if !policy.opts_in(&situation.function.tags) {
        reasons.push(format!(
            "function is not opted in (tag {}={} missing): nothing will be changed",
            policy.opt_in_tag_key, policy.opt_in_tag_value
        ));
        return done(Action::None, None, reasons);
    }
    let tailored = policy.for_function(&situation.function.tags);
    reasons.extend(tailored.notes.iter().cloned());
    let policy = &tailored.policy;
    if tailored.mode == FunctionMode::Off {
        reasons.push(format!(
            "{MODE_TAG}=off: autorepair changes nothing on this function"
        ));
        return done(Action::None, None, reasons);
    }
    let decision = decide_tailored(situation, policy, mode, reasons);
    only_recommended(decision, tailored.mode)
}

/// In `recommend` mode a change becomes a recommendation a person acts on.
/// A change decided while a person has paused autorepair (on every
/// function, or on this one) becomes an escalation: nothing changes, and
/// the notice says what would have.
pub fn unless_paused(mut decision: Decision, pause: Option<&crate::model::Pause>) -> Decision {
    if let Some(pause) = pause
        && decision.action == Action::SetMemory
    {
        decision.reasons.push(format!(
            "{}: {} MB → {} MB was decided, not made (`autorepair resume` lifts the pause)",
            pause.describe(),
            decision.current_memory_mb,
            decision
                .target_memory_mb
                .map_or_else(|| "?".to_owned(), |t| t.to_string())
        ));
        decision.action = Action::Escalate;
        decision.target_memory_mb = None;
    }
    decision
}

fn only_recommended(mut decision: Decision, mode: FunctionMode) -> Decision {
    if mode == FunctionMode::Recommend
        && decision.action == Action::SetMemory
        && let Some(target) = decision.target_memory_mb
    {
        decision.reasons.push(format!(
            "{MODE_TAG}=recommend: {} MB → {target} MB is recommended, not made; a person makes the change",
            decision.current_memory_mb
        ));
        decision.action = Action::Escalate;
        decision.target_memory_mb = None;
    }
    decision
}

fn decide_tailored(
    situation: &Situation<'_>,
    policy: &Policy,
    mode: MergeMode,
    mut reasons: Vec<String>,
) -> Decision {
    let current = situation.function.memory_mb;
    let done = |action, target, reasons| Decision {
        action,
        current_memory_mb: current,
        target_memory_mb: target,
        reasons,
    };

    let deciding = |ai: bool| -> Vec<&SourcedFinding> {
        situation
            .findings
            .iter()
            .filter(|f| !f.shadow && f.source.is_ai() == ai)
            .collect()
    };
    let (rules, ai) = (deciding(false), deciding(true));
    let proposal = match mode {
        MergeMode::Rules => propose(&rules, current, &mut reasons),
        MergeMode::Ai => propose(&ai, current, &mut reasons),
        MergeMode::RulesFirst if !rules.is_empty() => propose(&rules, current, &mut reasons),
        MergeMode::RulesFirst => propose(&ai, current, &mut reasons),
        MergeMode::AiFirst if !ai.is_empty() => propose(&ai, current, &mut reasons),
        MergeMode::AiFirst => propose(&rules, current, &mut reasons),
        MergeMode::Consensus => {
            let from_rules = propose(&rules, current, &mut reasons);
            let from_ai = propose(&ai, current, &mut reasons);
            consensus(from_rules, from_ai)
        }
    };
    reasons.push(format!("merge mode {mode}"));

    // A rule that could have said "memory will not help" failed: its silence
    // is not consent. Escalate rather than let a memory rule win unopposed.
    let failed_vetoes: Vec<String> = situation
        .failures
        .iter()
        .filter(|f| f.veto)
        .map(|f| {
            let cause: String = f.cause.to_string().chars().take(120).collect();
            format!("{} ({cause})", f.rule)
        })
        .collect();
    let proposal = match proposal {
        Proposal::Memory { target_mb, by } if !failed_vetoes.is_empty() => {
            Proposal::Escalate(vec![format!(
                "{target_mb} MB recommended by {}, but rules that could veto a memory change failed: {}",
                by.join(", "),
                failed_vetoes.join("; ")
            )])
        }
        other => other,
    };

    match proposal {
        Proposal::Nothing => {
            reasons.push("no deciding source recommends a change".into());
            done(Action::None, None, reasons)
        }
        Proposal::Escalate(why) => {
            reasons.extend(why);
            done(Action::Escalate, None, reasons)
        }
        Proposal::Memory { target_mb, by } if situation.report_doubt.is_some() => {
            reasons.push(format!("{target_mb} MB recommended by {}", by.join(", ")));
            reasons.push(format!(
                "the invocation reports cannot be trusted ({}): no memory change on their figures; a person should look",
                situation.report_doubt.unwrap_or_default()
            ));
            done(Action::Escalate, None, reasons)
        }
        Proposal::Memory { target_mb, by } => {
            reasons.push(format!("{target_mb} MB recommended by {}", by.join(", ")));
            let (history, now) = (situation.history, situation.now_ms);
            match guard(current, target_mb, history, now, policy, &mut reasons) {
                // After an out of memory the need is unknown: a step the
                // limits cut below a quarter more would most likely fail again.
                Some(target)
                    if target < smallest_oom_step(current)
                        && situation.findings.iter().any(|f| {
                            !f.shadow
                                && f.finding.kind == FindingKind::MemoryExhaustion
                                && by.contains(&f.source.to_string())
                        }) =>
                {
                    reasons.push(format!(
                        "out of memory at {current} MB, and the limits leave a step to {target} MB only (under {} MB, a quarter more): too small to fix it",
                        smallest_oom_step(current)
                    ));
                    done(Action::Escalate, None, reasons)
                }
                Some(target) => done(Action::SetMemory, Some(target), reasons),
                None => done(Action::Escalate, None, reasons),
            }
        }
    }
}

/// The least step worth making after an out of memory at `current`:
/// `max(current × 1.25, current + 64)`, rounded up to 64 MB.
pub use autorepair_lambda::memory::least_after_out_of_memory as smallest_oom_step;

fn describe_view(f: &SourcedFinding) -> String {
    let shadow = if f.shadow {
        " (shadow, not deciding)"
    } else {
        ""
    };
    format!(
        "{}{shadow}: {} ({:.2}) {} → {}",
        f.source, f.finding.kind, f.finding.confidence, f.finding.summary, f.finding.recommendation
    )
}

/// One group's proposal: the largest memory step a memory finding asks for;
/// otherwise escalation if anyone asks for it; otherwise nothing.
fn propose(findings: &[&SourcedFinding], current: u32, reasons: &mut Vec<String>) -> Proposal {
    let mut target = None::<u32>;
    let mut by = Vec::new();
    let mut escalations = Vec::new();
    for f in findings {
        let kind = f.finding.kind;
        match &f.finding.recommendation {
            Recommendation::SetMemory { memory_mb } if !kind.memory_can_help() => {
                reasons.push(format!(
                    "ignored {}'s {memory_mb} MB: a {kind} finding never changes memory",
                    f.source
                ));
                escalations.push(format!("{} found {kind}", f.source));
            }
            // Out of memory and nothing higher to ask for (at Lambda's
            // maximum, or the source's own limit): a person must look.
            Recommendation::SetMemory { memory_mb }
                if *memory_mb <= current && kind == FindingKind::MemoryExhaustion =>
            {
                escalations.push(format!(
                    "{} found memory exhaustion at {current} MB and asks for no more ({memory_mb} MB): memory cannot fix this here",
                    f.source
                ));
            }
            Recommendation::SetMemory { memory_mb } if *memory_mb <= current => {
                reasons.push(format!(
                    "ignored {}'s {memory_mb} MB: a repair never lowers memory (now {current} MB)",
                    f.source
                ));
            }
            Recommendation::SetMemory { memory_mb } => {
                target = Some(target.map_or(*memory_mb, |t| t.max(*memory_mb)));
                by.push(f.source.to_string());
            }
            Recommendation::Escalate { reason } => {
                escalations.push(format!("{} escalates: {reason}", f.source))
            }
            Recommendation::Keep if blocks_memory(kind) => {
                escalations.push(format!("{} found {kind}", f.source))
            }
            Recommendation::Keep => {}
        }
    }
    // A leak is not fixed by memory: whoever asks for more, a person looks.
    if let Some(leak) = findings
        .iter()
        .find(|f| f.finding.kind == FindingKind::MemoryLeak)
        && let Some(target_mb) = target
    {
        escalations.push(format!(
            "{target_mb} MB recommended, but {} found a memory leak: more memory only postpones the failure",
            leak.source
        ));
        return Proposal::Escalate(escalations);
    }
    match target {
        Some(target_mb) => {
            if !escalations.is_empty() {
                reasons.push(format!("also noted: {}", escalations.join("; ")));
            }
            Proposal::Memory { target_mb, by }
        }
        None if !escalations.is_empty() => Proposal::Escalate(escalations),
        None => Proposal::Nothing,
    }
}

fn blocks_memory(kind: FindingKind) -> bool {
    matches!(
        kind,
        FindingKind::Throttling | FindingKind::CodeError | FindingKind::DownstreamTimeout
    )
}

fn consensus(rules: Proposal, ai: Proposal) -> Proposal {
    match (rules, ai) {
        (
            Proposal::Memory {
                target_mb: a,
                by: mut by_a,
            },
            Proposal::Memory {
                target_mb: b,
                by: by_b,
            },
        ) => {
            by_a.extend(by_b);
            Proposal::Memory {
                target_mb: a.max(b),
                by: by_a,
            }
        }
        (Proposal::Memory { by, .. }, _) | (_, Proposal::Memory { by, .. }) => {
            Proposal::Escalate(vec![format!(
                "consensus not reached: only {} recommend more memory",
                by.join(", ")
            )])
        }
        (Proposal::Escalate(mut a), Proposal::Escalate(b)) => {
            a.extend(b);
            Proposal::Escalate(a)
        }
        (Proposal::Escalate(a), Proposal::Nothing) | (Proposal::Nothing, Proposal::Escalate(a)) => {
            Proposal::Escalate(a)
        }
        (Proposal::Nothing, Proposal::Nothing) => Proposal::Nothing,
    }
}

/// Why a change now would break the rate limits — the cooldown since the
/// last change, the daily cap — or `None` when it may go ahead.
pub fn rate_limited(history: History, now_ms: Millis, policy: &Policy) -> Option<String> {
    if let Some(last) = history.last_change_ms {
        let since_min = (now_ms - last).max(0) / 60_000;
        if since_min < i64::from(policy.cooldown_minutes) {
            return Some(format!(
                "refused: last change {since_min} min ago, inside the {} min cooldown",
                policy.cooldown_minutes
            ));
        }
    }
    if history.changes_last_24h >= policy.max_changes_per_day {
        return Some(format!(
            "refused: {} changes in the last 24 h reach the cap of {}",
            history.changes_last_24h, policy.max_changes_per_day
        ));
    }
    None
}

/// The safety guard on a memory step: rate limits first, then every clamp, each
/// named in the reasons. `None` means the step is refused (escalate).
fn guard(
    current: u32,
    wanted: u32,
    history: History,
    now_ms: Millis,
    policy: &Policy,
    reasons: &mut Vec<String>,
) -> Option<u32> {
    if let Some(refused) = rate_limited(history, now_ms, policy) {
        reasons.push(refused);
        return None;
    }
    let floor = policy.min_memory_mb.max(LAMBDA_MIN_MB);
    let by_ratio = (f64::from(current) * policy.max_step_ratio)
        .floor()
        .min(f64::from(LAMBDA_MAX_MB)) as u32;
    let limits = [
        (by_ratio, format!("×{} per step", policy.max_step_ratio)),
        (
            current.saturating_add(policy.max_step_mb),
            format!("+{} MB per step", policy.max_step_mb),
        ),
        (policy.ceiling_mb, "the operator's ceiling".to_owned()),
        (LAMBDA_MAX_MB, "Lambda's maximum".to_owned()),
    ];
    let mut target = wanted;
    for (limit, what) in limits {
        if target > limit {
            reasons.push(format!("clamped {target} MB to {limit} MB ({what})"));
            target = limit;
        }
    }
    if target < floor {
        reasons.push(format!("raised {target} MB to the floor of {floor} MB"));
        target = floor;
    }
    if target <= current {
        reasons.push(format!(
            "refused: {current} MB is already at the limit the policy allows ({} MB ceiling)",
            policy.ceiling_mb.min(LAMBDA_MAX_MB)
        ));
        return None;
    }
    reasons.push(format!("set memory {current} MB → {target} MB"));
    Some(target)
}

/// One memory step an incident made: from and to (MB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// The memory before the step.
    pub from_mb: u32,
    /// The memory the step set.
    pub to_mb: u32,
}

/// What the guard knows when a step helped, yet invocations still ran out
/// of memory at the new size.
#[derive(Debug, Clone, Copy)]
pub struct Converging<'a> {
    /// The function as read now (its memory: the last step's target).
    pub function: &'a FunctionInfo,
    /// Every step this incident made, in order, the last one included.
    pub steps: &'a [Step],
    /// Invocations that ran out of memory at the current size since the last step.
    pub out_of_memory: usize,
    /// Other incidents' changes (this incident's own steps are in `steps`).
    pub history: History,
    /// The time the decision is made at (ms since the Unix epoch).
    pub now_ms: Millis,
}

/// Another step after one that helped but left out-of-memory failures: the
/// last step's ratio again (at least a quarter more), under the whole guard.
/// The incident's own steps are exempt from the cooldown (each was verified
/// before the next) but count towards the daily cap; at most
/// [`Policy::max_steps_per_incident`] steps. Anything but `set_memory` keeps
/// the memory that helped and hands the rest to a person.
pub fn step_again(c: &Converging<'_>, policy: &Policy) -> Decision {
    let current = c.function.memory_mb;
    let taken = c.steps.len() as u32;
    let mut reasons = vec![format!(
        "step {taken} ({}) helped, yet {} invocations still ran out of memory at {current} MB",
        describe_steps(c.steps),
        c.out_of_memory
    )];
    let settle = |action, reasons| Decision {
        action,
        current_memory_mb: current,
        target_memory_mb: None,
        reasons,
    };
    if !policy.opts_in(&c.function.tags) {
        reasons.push(format!(
            "function is no longer opted in (tag {}={} missing): no further step",
            policy.opt_in_tag_key, policy.opt_in_tag_value
        ));
        return settle(Action::Escalate, reasons);
    }
    let tailored = policy.for_function(&c.function.tags);
    reasons.extend(tailored.notes.iter().cloned());
    let policy = &tailored.policy;
    if tailored.mode == FunctionMode::Off {
        reasons.push(format!(
            "{MODE_TAG}=off: no further step; the memory that helped is kept"
        ));
        return settle(Action::Escalate, reasons);
    }
    if let Some(last) = c.steps.last()
        && last.to_mb != current
    {
        reasons.push(format!(
            "the function changed since step {taken} set {} MB (now {current} MB): theirs stands, no further step; a person should look",
            last.to_mb
        ));
        return settle(Action::Escalate, reasons);
    }
    if taken >= policy.max_steps_per_incident {
        reasons.push(format!(
            "{taken} steps taken, the most policy.max_steps_per_incident allows: the memory that helped is kept and a person should look"
        ));
        return settle(Action::Escalate, reasons);
    }
    let ratio = c
        .steps
        .last()
        .filter(|s| s.from_mb > 0 && s.to_mb > s.from_mb)
        .map_or(policy.max_step_ratio, |s| {
            f64::from(s.to_mb) / f64::from(s.from_mb)
        });
    let least = smallest_oom_step(current);
    let wanted = autorepair_lambda::memory::round_up_mb(f64::from(current) * ratio).max(least);
    reasons.push(format!(
        "the last step's ratio again (×{ratio:.2}): {wanted} MB"
    ));
    let history = History {
        last_change_ms: c.history.last_change_ms,
        changes_last_24h: c.history.changes_last_24h.saturating_add(taken),
    };
    match guard(current, wanted, history, c.now_ms, policy, &mut reasons) {
        Some(target) if target >= least => only_recommended(
            Decision {
                action: Action::SetMemory,
                current_memory_mb: current,
                target_memory_mb: Some(target),
                reasons,
            },
            tailored.mode,
        ),
        Some(target) => {
            reasons.push(format!(
                "the limits leave a step to {target} MB only (under {least} MB, a quarter more): too small to fix it; the memory that helped is kept"
            ));
            settle(Action::Escalate, reasons)
        }
        None => settle(Action::Escalate, reasons),
    }
}

fn describe_steps(steps: &[Step]) -> String {
    let mut text = String::new();
    for (i, s) in steps.iter().enumerate() {
        if i == 0 {
            text.push_str(&s.from_mb.to_string());
        }
        text.push_str(&format!(" → {}", s.to_mb));
    }
    text.push_str(" MB");
    text
}

/// What one merge mode, or one source on its own, would have decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WouldHave {
    /// `mode:<mode>` or `source:<source>` (e.g. `source:rule:oom`, `source:ai`).
    pub by: String,
    /// What it would have done.
    pub action: Action,
    /// The memory it would have set (MB), for `set_memory`.
    pub target_memory_mb: Option<u32>,
}

/// Every merge mode's decision and every source's decision on its own (a
/// shadow source counted as if it decided), so any mode or source can be
/// compared against what happened without rerunning the incident.
pub fn would_have(situation: &Situation<'_>, policy: &Policy) -> Vec<WouldHave> {
    let mut out: Vec<WouldHave> = MergeMode::ALL
        .into_iter()
        .map(|mode| {
            let d = decide(situation, policy, mode);
            WouldHave {
                by: format!("mode:{mode}"),
                action: d.action,
                target_memory_mb: d.target_memory_mb,
            }
        })
        .collect();
    let mut sources: Vec<&crate::model::Source> =
        situation.findings.iter().map(|f| &f.source).collect();
    sources.sort();
    sources.dedup();
    for source in sources {
        let alone: Vec<SourcedFinding> = situation
            .findings
            .iter()
            .filter(|f| &f.source == source)
            .map(|f| SourcedFinding {
                shadow: false,
                ..f.clone()
            })
            .collect();
        let mode = if source.is_ai() {
            MergeMode::Ai
        } else {
            MergeMode::Rules
        };
        let d = decide(
            &Situation {
                findings: &alone,
                ..*situation
            },
            policy,
            mode,
        );
        out.push(WouldHave {
            by: format!("source:{source}"),
            action: d.action,
            target_memory_mb: d.target_memory_mb,
        });
    }
    out
}

#[cfg(test)]
mod tests;
