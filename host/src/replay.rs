//! `autorepair replay DIR`: the rules (and the AI when enabled) over a
//! directory of recorded evidence files, each optionally labelled with what a
//! careful operator would do. Incidents are spread over threads; every record
//! is handed out as soon as it is done, so an interrupted replay loses nothing
//! it finished.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use serde::Serialize;

use crate::ai::AiDiagnoser;
use crate::comparison::{self, Label, Record};
use crate::config::Config;
use crate::decide::{Action, History, MergeMode};
use crate::diagnosis::{self, EvidenceError, Threads};
use crate::model::Evidence;

/// One recorded incident.
#[derive(Debug, Clone)]
pub struct Case {
    pub path: PathBuf,
    pub evidence: Evidence,
    pub label: Option<Label>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("cannot read the corpus directory {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: label is not valid: {message}")]
    Label { path: PathBuf, message: String },
    #[error(transparent)]
    Evidence(#[from] EvidenceError),
}

/// Every `*.json` file in `dir` (sorted by name), with its label if any.
pub fn load_dir(dir: &Path) -> Result<Vec<Case>, ReplayError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ReplayError::Dir {
        path: dir.to_owned(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json") && p.is_file())
        .collect();
    paths.sort();
    paths.iter().map(|p| load_case(p)).collect()
}

pub fn load_case(path: &Path) -> Result<Case, ReplayError> {
    let text = std::fs::read_to_string(path).map_err(|source| EvidenceError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| EvidenceError::Json {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
    let label = match value.as_object_mut().and_then(|o| o.remove("label")) {
        None | Some(serde_json::Value::Null) => None,
        Some(l) => Some(
            serde_json::from_value::<Label>(l).map_err(|e| ReplayError::Label {
                path: path.to_owned(),
                message: e.to_string(),
            })?,
        ),
    };
    let evidence = diagnosis::evidence_from_value(path, value)?;
    Ok(Case {
        path: path.to_owned(),
        evidence,
        label,
    })
}

/// Records a worker hands over at once, at most…
const HANDOVER_BATCH: usize = 16;
/// …and at the latest this long after the first of them was done.
const HANDOVER_WAIT: std::time::Duration = std::time::Duration::from_millis(50);

/// How to replay.
pub struct Options<'a> {
    pub mode: MergeMode,
    /// Threads to spread incidents over (at least 1).
    pub jobs: usize,
    /// The AI, and the runtime to call it on, when enabled.
    pub ai: Option<(&'a dyn AiDiagnoser, tokio::runtime::Handle)>,
    /// Set (e.g. by Ctrl-C) to stop taking new incidents.
    pub stop: &'a AtomicBool,
}

/// Replays `cases`; `each` sees every record as it completes (in completion
/// order) and may stop the replay by returning an error. Returns how many
/// incidents were replayed.
pub fn replay<E>(
    rules: &crate::rules::RuleSet,
    config: &Config,
    cases: &[Case],
    options: &Options<'_>,
    mut each: impl FnMut(Record) -> Result<(), E>,
) -> Result<usize, E> {
    let next = AtomicUsize::new(0);
    // Records travel in batches: one hand-over (and one wake-up of the
    // consumer) per incident cost more than the incident's rules on two cores.
    let (tx, rx) = mpsc::sync_channel::<Vec<Record>>(options.jobs * 2);
    std::thread::scope(|scope| {
        for _ in 0..options.jobs.max(1) {
            let tx = tx.clone();
            let next = &next;
            scope.spawn(move || {
                let mut batch = Vec::with_capacity(HANDOVER_BATCH);
                let mut since = std::time::Instant::now();
                while !options.stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(case) = cases.get(i) else { break };
                    batch.push(replay_one(rules, config, case, options));
                    // Full, or slow incidents (the AI): never held long.
                    if batch.len() == HANDOVER_BATCH || since.elapsed() >= HANDOVER_WAIT {
                        if tx.send(std::mem::take(&mut batch)).is_err() {
                            return;
                        }
                        since = std::time::Instant::now();
                    }
                }
                if !batch.is_empty() {
                    let _ = tx.send(batch);
                }
            });
        }
        drop(tx);
        let mut done = 0;
        for record in rx.into_iter().flatten() {
            if let Err(e) = each(record) {
                // Stop the workers; the channel closing ends them.
                options.stop.store(true, Ordering::Relaxed);
                return Err(e);
            }
            done += 1;
        }
        Ok(done)
    })
}

fn replay_one(
    rules: &crate::rules::RuleSet,
    config: &Config,
    case: &Case,
    options: &Options<'_>,
) -> Record {
    let evidence = &case.evidence;
    let report = diagnosis::run_rules(rules, evidence, Threads::Caller);
    let ai = options
        .ai
        .as_ref()
        .map(|(ai, handle)| handle.block_on(ai.diagnose(evidence)));
    let diagnosis = diagnosis::conclude(
        report,
        evidence,
        &config.policy,
        options.mode,
        History::default(),
        evidence.window.end_ms,
        ai,
    );
    let id = case.path.file_name().map_or_else(
        || case.path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    Record::from_diagnosis(id, evidence.window.end_ms, &diagnosis, case.label.clone())
}

/// Expected (label) against decided, for one source or mode.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Confusion {
    /// `mode:<mode>` or `source:<source>`.
    pub by: String,
    /// counts[expected][decided], in [`ACTIONS`] order.
    pub counts: [[usize; 3]; 3],
    /// Memory changes expected and decided whose target fell outside the range.
    pub out_of_range: usize,
    /// Labelled incidents decided exactly right (action, and target in range).
    pub correct: usize,
    pub labelled: usize,
}

pub const ACTIONS: [Action; 3] = [Action::SetMemory, Action::None, Action::Escalate];

fn index(a: Action) -> usize {
    ACTIONS.iter().position(|x| *x == a).unwrap_or(1)
}

impl Confusion {
    pub fn accuracy(&self) -> f64 {
        if self.labelled == 0 {
            0.0
        } else {
            self.correct as f64 / self.labelled as f64
        }
    }
}

/// One confusion matrix per mode and per source, over labelled records.
pub fn confusion(records: &[Record]) -> Vec<Confusion> {
    let mut by: BTreeMap<(bool, String), Confusion> = BTreeMap::new();
    let all: Vec<&Record> = records.iter().collect();
    for r in records {
        let Some(label) = &r.label else { continue };
        for w in r
            .would_have
            .iter()
            .filter(|w| comparison::informative(&w.by, &all))
        {
            let c = by
                .entry((!w.by.starts_with("mode:"), w.by.clone()))
                .or_insert_with(|| Confusion {
                    by: w.by.clone(),
                    ..Confusion::default()
                });
            c.labelled += 1;
            c.counts[index(label.action)][index(w.action)] += 1;
            if label.accepts(w.action, w.target_memory_mb) {
                c.correct += 1;
            } else if label.action == Action::SetMemory && w.action == Action::SetMemory {
                c.out_of_range += 1;
            }
        }
    }
    by.into_values().collect()
}

/// The matrices as text, one block each.
pub fn confusion_text(matrices: &[Confusion]) -> String {
    let mut out = String::new();
    for c in matrices {
        let _ = writeln!(
            out,
            "{}: {}/{} right ({:.0}%){}",
            c.by,
            c.correct,
            c.labelled,
            c.accuracy() * 100.0,
            if c.out_of_range > 0 {
                format!(
                    ", {} memory targets outside the label's range",
                    c.out_of_range
                )
            } else {
                String::new()
            }
        );
        let _ = writeln!(out, "  expected \\ decided  set_memory  none  escalate");
        for (i, expected) in ACTIONS.iter().enumerate() {
            let row = c.counts[i];
            let _ = writeln!(
                out,
                "  {:<19} {:>10}  {:>4}  {:>8}",
                expected.to_string(),
                row[0],
                row[1],
                row[2]
            );
        }
    }
    out
}
