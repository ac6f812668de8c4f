//! The same rule in two guest languages: the bundled `throttles` (Rust) and
//! its twin `throttles-py` (Python, componentize-py, built by
//! plugins/python/build.sh). Size, load time (compile, and deserialize from the
//! artifact cache), instantiation, and per-incident time in the production
//! sandbox, measured in one run so the ratios compare like with like.
//!
//! ```sh
//! plugins/python/build.sh && cargo bench -p autorepair --bench guest_languages
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use autorepair::diagnosis::load_evidence;
use autorepair::digest::sha256_hex;
use autorepair::model::Grants;
use autorepair::rules::{
    ArtifactCache, Compiler, Limits, Origin, RuleSet, RuleSpec, Sandbox, artifacts,
};
use autorepair::trust::Trust;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

struct Figures {
    compile: Duration,
    deserialize: Duration,
    instantiate: Duration,
    incident: Duration,
}

fn measure(name: &str, bytes: Arc<[u8]>, compiles: usize) -> Figures {
    let sandbox = Arc::new(Sandbox::new(Limits::default().memory_mib).expect("sandbox"));
    let digest = sha256_hex(&bytes);
    let compile = median(
        (0..compiles)
            .map(|_| {
                let started = Instant::now();
                sandbox
                    .engine()
                    .precompile_component(&bytes)
                    .expect("compiles");
                started.elapsed()
            })
            .collect(),
    );
    // A warm start: the artifact cache on disk, as a second process sees it
    // (stored directly: a bundled rule's code would come from the binary).
    let dir = tempfile::tempdir().unwrap();
    let cache = ArtifactCache::new(dir.path().join("cache"), sandbox.engine())
        .expect("a private cache directory");
    cache.store(
        &digest,
        &sandbox
            .engine()
            .precompile_component(&bytes)
            .expect("compiles"),
    );
    let deserialize = median(
        (0..20)
            .map(|_| {
                let started = Instant::now();
                cache.load(sandbox.engine(), &digest).expect("cached");
                started.elapsed()
            })
            .collect(),
    );

    let compiler = Compiler::new(sandbox, Some(dir.path().join("cache")));
    let spec = RuleSpec {
        origin: Origin::External(name.to_owned()),
        bytes,
        grants: Grants::ALL,
        limits: Limits::default(),
        shadow: false,
        trust: Trust::Pinned,
        veto_on_failure: false,
    };
    let rules = RuleSet::load(&compiler, &[spec]);
    assert!(
        rules.load_failures().is_empty(),
        "{:?}",
        rules.load_failures()
    );
    let instantiate = median(
        (0..200)
            .map(|_| {
                let started = Instant::now();
                rules.instantiate(0).expect("instantiates");
                started.elapsed()
            })
            .collect(),
    );
    let fixture =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/evidence/throttles.json");
    let evidence = load_evidence(&fixture).expect("fixture");
    let incident = median(
        (0..200)
            .map(|_| {
                let started = Instant::now();
                let outcome = rules.evaluate_serial(&evidence);
                let elapsed = started.elapsed();
                assert_eq!(outcome[0].result.as_ref().map(Vec::len), Ok(1));
                elapsed
            })
            .collect(),
    );
    Figures {
        compile,
        deserialize,
        instantiate,
        incident,
    }
}

fn main() {
    let python_dir = std::env::var_os("AUTOREPAIR_PYTHON_RULES").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/python-rules"),
        PathBuf::from,
    );
    let python_path = python_dir.join("throttles-py.wasm");
    let Ok(python) = std::fs::read(&python_path) else {
        eprintln!(
            "{} is missing: run plugins/python/build.sh first",
            python_path.display()
        );
        std::process::exit(1);
    };
    let (_, rust) = artifacts::BUNDLED
        .iter()
        .find(|(n, _)| *n == "throttles")
        .expect("bundled throttles");

    let sizes = [rust.len(), python.len()];
    let rust = measure("throttles", Arc::from(*rust), 5);
    let python = measure("throttles-py", Arc::from(python), 3);
    let rows = [
        (
            "component size (KiB)",
            sizes[0] as f64 / 1024.0,
            sizes[1] as f64 / 1024.0,
        ),
        (
            "compile, cold start (ms)",
            micros(rust.compile) / 1e3,
            micros(python.compile) / 1e3,
        ),
        (
            "load from the artifact cache (ms)",
            micros(rust.deserialize) / 1e3,
            micros(python.deserialize) / 1e3,
        ),
        (
            "instantiate (µs)",
            micros(rust.instantiate),
            micros(python.instantiate),
        ),
        (
            "per incident: instantiate + evaluate (µs)",
            micros(rust.incident),
            micros(python.incident),
        ),
    ];
    println!("{:<44} {:>12} {:>14} {:>8}", "", "Rust", "Python", "ratio");
    for (what, r, p) in rows {
        println!("{what:<44} {r:>12.1} {p:>14.1} {:>7.0}×", p / r);
    }
}
