//! A cold start as Lambda sees it, and the host's peak memory, measured in one
//! run:
//!
//!     cargo bench -p autorepair --bench start
//!
//! - **Start**: from exec to the first `GET …/invocation/next`, the moment a
//!   Lambda runtime is ready for work, for `bootstrap` (configuration, AWS
//!   clients, every bundled rule loaded and described) and for a bare
//!   lambda_runtime binary (this bench binary re-run as one: tokio and
//!   lambda_runtime, nothing else). Each run gets an empty `/tmp`, as a new
//!   execution environment does, so no artifact cache helps. The Runtime API
//!   is a loopback stand-in that records the time of that first request.
//! - **Peak RSS** of `autorepair diagnose` with ten rules loaded (the five
//!   bundled and five test rules from plugins/hostile, loaded from files) and
//!   one incident evaluated, from `wait4`'s `ru_maxrss` for that process.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 15;
/// Marks this binary, re-run, as the bare lambda_runtime baseline.
const BARE: &str = "AUTOREPAIR_BENCH_BARE_RUNTIME";

fn main() {
    if std::env::var_os(BARE).is_some() {
        bare_runtime();
        return;
    }
    let bootstrap = env!("CARGO_BIN_EXE_bootstrap");
    let me = std::env::current_exe().expect("this bench binary");

    // Interleaved, so drift on a busy machine hits both alike.
    let (mut bare, mut host) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        bare.push(time_to_ready(&me, true));
        host.push(time_to_ready(Path::new(bootstrap), false));
    }
    let (bare, host) = (median(bare), median(host));
    println!("| measure | median of {RUNS} |");
    println!("|---|---|");
    println!(
        "| bare lambda_runtime binary: exec → ready | {} |",
        ms(bare)
    );
    println!(
        "| bootstrap, every bundled rule loaded: exec → ready | {} |",
        ms(host)
    );
    println!(
        "| bootstrap above bare | {} (target ≤ 20 ms) |",
        ms(host.saturating_sub(bare))
    );

    let rss = peak_rss_ten_rules();
    println!(
        "| peak RSS, `autorepair diagnose`: ten rules loaded, one incident evaluated | {:.1} MiB (target < 64 MB) |",
        rss as f64 / 1024.0
    );
}

/// A Lambda function that does nothing: the floor any runtime pays.
fn bare_runtime() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    runtime
        .block_on(lambda_runtime::run(lambda_runtime::service_fn(
            |_: lambda_runtime::LambdaEvent<serde_json::Value>| async {
                Ok::<_, lambda_runtime::Error>(serde_json::Value::Null)
            },
        )))
        .expect("bare runtime");
}

/// Exec → the first request for work on a loopback Runtime API.
fn time_to_ready(program: &Path, bare: bool) -> Duration {
    let api = TcpListener::bind("127.0.0.1:0").expect("bind the runtime API");
    let tmp = tempfile::tempdir().expect("an empty /tmp");
    let mut command = Command::new(program);
    lambda_env(&mut command, &api, tmp.path());
    if bare {
        command.env(BARE, "1");
    }
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the runtime");
    let (stream, _) = api.accept().expect("the runtime connects");
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).expect("its first request");
    let ready = started.elapsed();
    assert!(
        line.contains("/runtime/invocation/next"),
        "the first request is for work: {line}"
    );
    stop(&mut child);
    ready
}

/// What Lambda puts in a runtime's environment; AWS pointed at a closed
/// loopback port (a start makes no AWS call).
fn lambda_env<'a>(command: &'a mut Command, api: &TcpListener, tmp: &Path) -> &'a mut Command {
    let addr = api.local_addr().expect("addr");
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TMPDIR", tmp)
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "autorepair-host")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/autorepair-host")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Peak RSS in KiB of one `autorepair diagnose` with ten rules.
// The child is reaped with `wait4`, which also gives its own rusage;
// `Child::wait` would not.
#[allow(clippy::zombie_processes)]
fn peak_rss_ten_rules() -> i64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = String::from("[sandbox]\ncache = false\n");
    for name in [
        "old-line",
        "earlier-minor",
        "greedy-logs",
        "log-flood",
        "escapes",
    ] {
        let path = autorepair::testing::hostile::path(name);
        let bytes = std::fs::read(path).expect("test rule built");
        config.push_str(&format!(
            "\n[[plugins]]\nsource = {path:?}\nsha256 = {:?}\n",
            autorepair::digest::sha256_hex(&bytes)
        ));
    }
    let file = dir.path().join("autorepair.toml");
    std::fs::File::create(&file)
        .and_then(|mut f| f.write_all(config.as_bytes()))
        .expect("config");
    let evidence =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/evidence/oom-node.json");
    let child = Command::new(env!("CARGO_BIN_EXE_autorepair"))
        .arg("--config")
        .arg(&file)
        .args(["diagnose", "--no-ai", "--format", "json", "--evidence"])
        .arg(&evidence)
        .env("AUTOREPAIR_CACHE_DIR", dir.path().join("cache"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run autorepair diagnose");
    let pid = child.id() as libc::pid_t;
    let mut out = String::new();
    let mut stdout = child.stdout.expect("stdout");
    std::io::Read::read_to_string(&mut stdout, &mut out).expect("read its output");
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our child, not yet waited for; both pointers are valid.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "autorepair diagnose failed: {status}"
    );
    let run: serde_json::Value = serde_json::from_str(&out).expect("a JSON document");
    let evaluated = run["rules"].as_array().map_or(0, Vec::len);
    assert_eq!(evaluated, 10, "ten rules evaluated: {out}");
    usage.ru_maxrss
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}
