//! Time-to-stop and peak memory of every hostile test plugin, each in a
//! process of its own so its peak RSS is its own:
//!
//!     cargo bench -p autorepair --bench hostile
//!
//! For each plugin: where it was stopped (load: instantiate + `describe`;
//! or the call: instantiate + `evaluate`), why, how long that took against
//! its budget, and the process's peak RSS next to a process that loads and runs
//! nothing hostile. Prints a Markdown table (copied into docs/benchmarks.md).

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use autorepair::diagnosis::load_evidence;
use autorepair::rules::{Compiler, Limits, Origin, RuleSet, RuleSpec, Sandbox};
use autorepair::testing::hostile::HOSTILE;
use autorepair::trust::Trust;

/// The production defaults: what every hostile plugin is held to here.
const LIMITS: Limits = Limits {
    cpu_budget_ms: 50,
    memory_mib: 64,
};

fn peak_rss_kib() -> i64 {
    // SAFETY: getrusage only writes the struct it is given.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage.ru_maxrss
    }
}

/// One plugin in this process: prints `stage|cause|ms|peak KiB`.
fn one(name: &str) {
    let sandbox = Arc::new(Sandbox::new(LIMITS.memory_mib).expect("sandbox"));
    let compiler = Compiler::new(sandbox, None);
    let fixture =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/evidence/oom-node.json");
    let evidence = load_evidence(&fixture).expect("fixture");
    let Some((_, path)) = HOSTILE.iter().find(|(n, _)| *n == name) else {
        // The baseline: the sandbox and the evidence, nothing hostile.
        println!("-|-|0|{}", peak_rss_kib());
        return;
    };
    let bytes = std::fs::read(path).expect("hostile plugin built");
    // Compiled before the clock starts: compiling is not the rule's doing.
    if let Err(e) = compiler.component(&bytes, &autorepair::digest::sha256_hex(&bytes)) {
        println!("compile|could not be loaded: {e}|0|{}", peak_rss_kib());
        return;
    }
    let spec = RuleSpec {
        origin: Origin::External((*path).to_owned()),
        bytes: Arc::from(bytes),
        grants: autorepair::model::Grants::ALL,
        limits: LIMITS,
        shadow: false,
        trust: Trust::Pinned,
        veto_on_failure: false,
    };
    let started = Instant::now();
    let set = RuleSet::load(&compiler, &[spec]);
    let load_ms = started.elapsed().as_secs_f64() * 1e3;
    if let Some(failure) = set.load_failures().first() {
        println!("load|{}|{load_ms:.1}|{}", failure.cause, peak_rss_kib());
        return;
    }
    let started = Instant::now();
    let outcome = set.evaluate(&evidence).pop().expect("one outcome");
    let call_ms = started.elapsed().as_secs_f64() * 1e3;
    let cause = match &outcome.result {
        Ok(findings) => format!(
            "contained: {} findings, {} logs kept",
            findings.len(),
            outcome.report.logs.len()
        ),
        Err(cause) => cause.to_string(),
    };
    println!("call|{cause}|{call_ms:.1}|{}", peak_rss_kib());
}

fn main() {
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--one" {
            return one(&args.next().expect("a plugin name"));
        }
    }
    let me = std::env::current_exe().expect("own path");
    let run = |name: &str| {
        let out = Command::new(&me)
            .args(["--one", name])
            .output()
            .expect("child");
        let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let mut parts = line.splitn(4, '|').map(str::to_owned);
        let mut next = || parts.next().unwrap_or_default();
        (next(), next(), next(), next())
    };
    let (_, _, _, base) = run("-");
    println!(
        "budget {} ms CPU, {} MiB memory; baseline process (sandbox + incident, nothing hostile): peak RSS {} MiB\n",
        LIMITS.cpu_budget_ms,
        LIMITS.memory_mib,
        base.parse::<f64>().unwrap_or(0.0) / 1024.0
    );
    println!("| hostile plugin | stopped at | how | time to stop | peak RSS (above baseline) |");
    println!("|---|---|---|---|---|");
    for (name, _) in HOSTILE {
        let (stage, cause, ms, rss) = run(name);
        let rss = rss.parse::<f64>().unwrap_or(0.0);
        let extra = (rss - base.parse::<f64>().unwrap_or(0.0)).max(0.0) / 1024.0;
        let cause: String = cause.chars().take(90).collect();
        println!(
            "| {name} | {stage} | {} | {ms} ms | {:.1} MiB (+{extra:.1}) |",
            cause.replace('|', "/"),
            rss / 1024.0
        );
    }
}
