//! Replay throughput and prompt building, measured in one run.
//!
//!     cargo bench -p autorepair --bench replay
//!
//! Replay: the labelled corpus (tests/fixtures/corpus) cycled to 10,000
//! incidents through the bundled rules and the decision step, on 1 and on all
//! cores. Prompt: one incident of 20,000 log lines. Prints Markdown rows
//! (copied into docs/benchmarks.md).

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use autorepair::ai::prompt;
use autorepair::config::{AiConfig, Config};
use autorepair::decide::MergeMode;
use autorepair::diagnosis::{self, Threads};
use autorepair::model::{Grants, LogLine};
use autorepair::replay::{self, Case, Options};
use autorepair::rules::{Compiler, RuleSet, Sandbox, compute_statistics};

/// mimalloc: per-thread heaps for the many small allocations of rules'
/// evidence and records (docs/benchmarks.md, "Replay on 2 cores").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const INCIDENTS: usize = 10_000;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/corpus");
    let corpus = replay::load_dir(&dir).expect("the corpus loads");
    let cases: Vec<Case> = corpus.iter().cycle().take(INCIDENTS).cloned().collect();
    let config = Config::default();
    let compiler = Compiler::new(Arc::new(Sandbox::new(64).expect("sandbox")), None);
    let rules = RuleSet::load(&compiler, &config.rule_specs().0);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let lines: usize = corpus.iter().map(|c| c.evidence.logs.len()).sum::<usize>() / corpus.len();
    let reports: usize = corpus
        .iter()
        .map(|c| c.evidence.reports.len())
        .sum::<usize>()
        / corpus.len();
    println!(
        "corpus: {} incidents (mean {lines} log lines, {reports} reports), cycled to {INCIDENTS}\n",
        corpus.len()
    );
    println!("| measure | result |");
    println!("|---|---|");
    for jobs in [1, cores] {
        let stop = AtomicBool::new(false);
        let options = Options {
            mode: MergeMode::Rules,
            jobs,
            ai: None,
            stop: &stop,
        };
        // Warm up: every rule instantiated on every thread's first use.
        let _ = replay::replay(&rules, &config, &cases[..200], &options, |r| {
            black_box(r);
            Ok::<_, ()>(())
        });
        let started = Instant::now();
        let done = replay::replay(&rules, &config, &cases, &options, |r| {
            black_box(r);
            Ok::<_, ()>(())
        })
        .expect("replay");
        let elapsed = started.elapsed();
        println!(
            "| replay, {jobs} thread(s), bundled rules | {:.0} incidents/s ({:.1} µs each) |",
            done as f64 / elapsed.as_secs_f64(),
            elapsed.as_secs_f64() * 1e6 / done as f64
        );
    }

    // Where an incident's time goes, on one thread.
    let sample = &cases[..2000];
    let started = Instant::now();
    for c in sample {
        black_box(diagnosis::run_rules(&rules, &c.evidence, Threads::Caller));
    }
    let rules_us = started.elapsed().as_secs_f64() * 1e6 / sample.len() as f64;
    let started = Instant::now();
    for c in sample {
        compute_statistics(black_box(&c.evidence), Grants::ALL);
    }
    let statistics_us = started.elapsed().as_secs_f64() * 1e6 / sample.len() as f64;
    let started = Instant::now();
    for c in sample {
        for i in 0..rules.rules().len() {
            let _ = black_box(rules.instantiate(i));
        }
        black_box(&c.evidence);
    }
    let instantiate_us = started.elapsed().as_secs_f64() * 1e6 / sample.len() as f64;
    println!(
        "| of which: the five rules (statistics, convert, evaluate; bundled instances kept) | {rules_us:.1} µs per incident |"
    );
    println!(
        "| of which: the host's statistics, once per incident | {statistics_us:.1} µs per incident |"
    );
    println!(
        "| for comparison: a fresh instance of each of the five rules (what third-party rules pay) | {instantiate_us:.1} µs per incident |"
    );

    let mut evidence = corpus[0].evidence.clone();
    evidence.logs = (0..20_000)
        .map(|i| LogLine {
            timestamp_ms: i,
            message: match i % 10 {
                0 => format!(
                    "2026-01-05T07:47:{:02}.000Z\t{i:08x}-aaaa-bbbb\tERROR\tInvoke Error {{\"errorType\":\"TypeError\",\"errorMessage\":\"Cannot read properties of undefined (reading 'id{}')\",\"user\":\"u{i}@example.com\"}}",
                    i % 60,
                    i % 40
                ),
                1 => format!("REPORT RequestId: {i:08x}-aaaa\tDuration: 812.20 ms\tBilled Duration: 813 ms\tMemory Size: 512 MB\tMax Memory Used: 498 MB\t"),
                _ => format!("2026-01-05T07:47:00.000Z\t{i:08x}\tINFO\tprocessed order {i} in {} ms", i % 900),
            },
            log_stream: None,
        })
        .collect();
    let ai = AiConfig::default();
    let mut times: Vec<Duration> = (0..50)
        .map(|_| {
            let started = Instant::now();
            black_box(prompt::build(black_box(&evidence), &ai));
            started.elapsed()
        })
        .collect();
    times.sort();
    let p = prompt::build(&evidence, &ai);
    println!(
        "| prompt for a 20,000-line incident (median of 50) | {:.2} ms ({} tokens, {} of {} distinct error lines) |",
        times[times.len() / 2].as_secs_f64() * 1e3,
        p.estimated_tokens,
        p.sample_lines,
        p.distinct_error_lines
    );
}
