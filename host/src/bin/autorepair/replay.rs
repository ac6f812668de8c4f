//! `autorepair replay`: the rules (and the AI when enabled) over a corpus of
//! recorded evidence, with a confusion matrix per merge mode and per source.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use autorepair::ai::AiDiagnoser;
use autorepair::aws::Aws;
use autorepair::comparison::{self, RecordWriter};
use autorepair::config::Config;
use autorepair::decide::MergeMode;
use autorepair::replay;
use autorepair::setup;

use crate::common::{Format, load_rules, parse_mode, runtime};
use crate::{Failure, bad_input};

#[derive(clap::Args)]
pub struct Args {
    /// The corpus directory (e.g. tests/fixtures/corpus).
    dir: PathBuf,
    /// Merge mode whose decision is recorded as the decision.
    #[arg(long, value_parser = parse_mode)]
    mode: Option<MergeMode>,
    /// Threads to spread incidents over; default: the machine's cores.
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Append one record per incident to this JSON-lines file.
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Do not ask the AI even if the config enables it.
    #[arg(long)]
    no_ai: bool,
}

/// What a corpus replay did.
pub struct Replayed {
    pub cases: usize,
    pub done: usize,
    pub records: Vec<comparison::Record>,
    pub elapsed: std::time::Duration,
    pub interrupted: bool,
}

/// Replays the corpus in `dir` (the AI asked when `with_ai`), with a
/// progress bar and Ctrl-C stopping cleanly; `each` sees every record.
pub fn replay_corpus(
    dir: &std::path::Path,
    config: &Config,
    mode: Option<MergeMode>,
    jobs: Option<usize>,
    with_ai: bool,
    no_cache: bool,
    mut each: impl FnMut(&comparison::Record) -> Result<(), comparison::RecordError>,
) -> Result<Replayed, Failure> {
    let cases = replay::load_dir(dir).map_err(bad_input)?;
    if cases.is_empty() {
        return Err(bad_input(anyhow::anyhow!(
            "{} holds no *.json evidence files",
            dir.display()
        )));
    }
    let rules = load_rules(config, no_cache)?;
    let runtime = runtime()?;
    let ai = with_ai
        .then(|| setup::offline_diagnoser(&runtime.block_on(Aws::from_env()), config))
        .transpose()
        .map_err(|e| bad_input(anyhow::anyhow!("the AI diagnoser: {e}")))?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // A second Ctrl-C ends the process the usual way.
        let _ = ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
            eprintln!("\ninterrupted: finishing the incidents under way, then stopping");
        });
    }
    let options = replay::Options {
        mode: mode.unwrap_or(config.mode),
        jobs: jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1),
        ai: ai
            .as_ref()
            .map(|a| (a as &dyn AiDiagnoser, runtime.handle().clone())),
        stop: &stop,
    };
    let bar = indicatif::ProgressBar::new(cases.len() as u64).with_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} incidents, {per_sec} ({eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    let mut records = Vec::with_capacity(cases.len());
    let done = replay::replay(&rules, config, &cases, &options, |r| {
        bar.inc(1);
        each(&r)?;
        records.push(r);
        Ok::<_, comparison::RecordError>(())
    })?;
    bar.finish_and_clear();
    let elapsed = started.elapsed();
    let interrupted = stop.load(Ordering::SeqCst) && done < cases.len();
    Ok(Replayed {
        cases: cases.len(),
        done,
        records,
        elapsed,
        interrupted,
    })
}

pub fn run(args: Args, config: &Config, no_cache: bool) -> Result<(), Failure> {
    let Args {
        dir,
        mode,
        jobs,
        record,
        format,
        no_ai,
    } = args;
    let mut writer = record
        .as_deref()
        .map(RecordWriter::append)
        .transpose()
        .map_err(bad_input)?;
    let replayed = replay_corpus(
        &dir,
        config,
        mode,
        jobs,
        config.ai.enabled && !no_ai,
        no_cache,
        |r| match writer.as_mut() {
            Some(w) => w.write(r),
            None => Ok(()),
        },
    )?;
    let Replayed {
        cases,
        done,
        records,
        elapsed,
        interrupted,
    } = replayed;
    let matrices = replay::confusion(&records);
    match format {
        Format::Text => {
            println!(
                "replayed {done} of {} incidents in {:.2} s ({:.0}/s){}",
                cases,
                elapsed.as_secs_f64(),
                done as f64 / elapsed.as_secs_f64().max(1e-9),
                if interrupted { "; interrupted" } else { "" }
            );
            print!("{}", replay::confusion_text(&matrices));
        }
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "incidents": cases,
                "replayed": done,
                "interrupted": interrupted,
                "seconds": elapsed.as_secs_f64(),
                "confusion": matrices,
                "records": records,
            }))?
        ),
    }
    if interrupted {
        return Err(Failure {
            code: 130,
            error: anyhow::anyhow!("interrupted after {done} of {} incidents", cases),
        });
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct EvalArgs {
    /// The labelled corpus directory (e.g. tests/fixtures/corpus).
    dir: PathBuf,
    /// Where to write eval.md and eval.html.
    #[arg(long, value_name = "DIR", default_value = "eval")]
    out: PathBuf,
    /// Threads to spread incidents over; default: the machine's cores.
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
}

/// `autorepair eval`: the corpus replayed with the configured model, and the
/// table a team would publish.
pub fn eval(args: EvalArgs, config: &Config, no_cache: bool) -> Result<(), Failure> {
    if !config.ai.enabled {
        return Err(bad_input(anyhow::anyhow!(
            "eval measures the AI: set [ai] enabled = true and its model (docs/ai.md)"
        )));
    }
    let replayed = replay_corpus(&args.dir, config, None, args.jobs, true, no_cache, |_| {
        Ok(())
    })?;
    let ai = &config.ai;
    let endpoint = ai.base_url.as_deref().or(ai.endpoint_url.as_deref());
    let model = format!(
        "{} {}{}",
        ai.provider,
        ai.model_id,
        endpoint.map(|e| format!(" at {e}")).unwrap_or_default()
    );
    let evaluation = autorepair::eval::evaluate(&replayed.records, &model);
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let markdown = autorepair::eval::markdown(&evaluation);
    for (name, text) in [
        ("eval.md", markdown.clone()),
        ("eval.html", autorepair::eval::html(&evaluation)),
    ] {
        let path = args.out.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    print!("{markdown}");
    eprintln!(
        "wrote {} and {}",
        args.out.join("eval.md").display(),
        args.out.join("eval.html").display()
    );
    if replayed.interrupted {
        return Err(Failure {
            code: 130,
            error: anyhow::anyhow!(
                "interrupted after {} of {} incidents (the table covers those)",
                replayed.done,
                replayed.cases
            ),
        });
    }
    Ok(())
}
