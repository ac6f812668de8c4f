//! A local Lambda for the real `bootstrap`, in front of moto.
//!
//! moto's Step Functions interpreter runs the workflow's Lambda tasks by
//! calling the Invoke API at `localhost:$MOTO_PORT`. Started with `MOTO_PORT`
//! naming this router instead of itself, its Invoke calls come here and go to
//! the real `bootstrap` binary through the Lambda Runtime API (the one its
//! `lambda_runtime` client polls, served here too); every other call goes on
//! to moto. Faults can be injected, which no emulator produces on demand: a
//! task that fails; the bootstrap killed as a stage starts, or after it
//! committed and before its answer, or in the middle of `execute` (right
//! after UpdateFunctionConfiguration reached moto, before the record) — each
//! time a new bootstrap starts, as Lambda starts a new environment, and Step
//! Functions sees `Lambda.Unknown`; and an AWS call the bootstrap makes
//! answered with a 500. Loopback only.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::http::{Request, forward, read_request, reply};

/// How long an invocation may wait for the bootstrap's answer.
const INVOKE_LIMIT: Duration = Duration::from_secs(300);

enum Outcome {
    Response(Vec<u8>),
    Error(Vec<u8>),
    /// The bootstrap died before it answered.
    Crashed,
}

/// When the bootstrap is killed around a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crash {
    /// As the invocation arrives: nothing of the stage ran.
    Before,
    /// After the stage answered (and committed), before Step Functions
    /// hears the answer.
    After,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<VecDeque<(String, Vec<u8>)>>,
    ready: Condvar,
    waiting: Mutex<HashMap<String, mpsc::Sender<Outcome>>>,
    /// (stage, times): the next `times` invocations of `stage` fail.
    faults: Mutex<Vec<(String, usize)>>,
    /// (stage, when, times): the bootstrap is killed around the next
    /// `times` invocations of `stage`.
    crashes: Mutex<Vec<(String, Crash, usize)>>,
    /// The bootstrap is killed after the next this many
    /// UpdateFunctionConfiguration calls reach moto.
    crash_after_update: Mutex<usize>,
    /// (operation, times): the next `times` calls of the AWS operation
    /// (`X-Amz-Target`, or `METHOD /path-suffix`) are answered with a 500.
    aws_faults: Mutex<Vec<(String, usize)>>,
    /// Faults injected so far.
    injected: Mutex<usize>,
    /// Which bootstrap process is current: a `/next` from an earlier one
    /// never takes an invocation.
    generation: Mutex<u64>,
    /// `/next` calls of the current bootstrap waiting for work.
    idle: Mutex<usize>,
    /// The stage of every invocation, in order.
    invoked: Mutex<Vec<String>>,
    next_id: Mutex<u64>,
}

/// The `bootstrap` process, and how to start another.
struct Process {
    child: Mutex<Child>,
    spawn: Box<dyn Fn() -> Child + Send + Sync>,
}

/// The router, the Runtime API and the `bootstrap` child process.
pub struct LocalLambda {
    /// Where moto must send its Invoke calls (its `MOTO_PORT`).
    pub router_port: u16,
    shared: Arc<Shared>,
    process: Arc<Process>,
    /// The function's own environment variables, as deployed (`redeploy`).
    deployed: Arc<Mutex<Vec<(String, String)>>>,
}

impl LocalLambda {
    /// Serves `bootstrap` as function `arn`, with the environment `env` makes
    /// from the router's port; everything that is not an Invoke goes to moto
    /// on `moto_port`. The router is bound before moto starts; `moto_port` is
    /// read when a call comes.
    pub fn start(
        bootstrap: &Path,
        arn: &str,
        env: &dyn Fn(u16) -> Vec<(String, String)>,
        moto_port: Arc<Mutex<u16>>,
    ) -> LocalLambda {
        let shared = Arc::new(Shared::default());
        let runtime = TcpListener::bind("127.0.0.1:0").expect("bind the runtime API");
        let runtime_addr = runtime.local_addr().expect("addr");
        let router = TcpListener::bind("127.0.0.1:0").expect("bind the router");
        let router_port = router.local_addr().expect("addr").port();
        {
            let (shared, arn) = (shared.clone(), arn.to_owned());
            thread::spawn(move || {
                for client in runtime.incoming().flatten() {
                    let (shared, arn) = (shared.clone(), arn.clone());
                    thread::spawn(move || {
                        let _ = serve_runtime(client, &shared, &arn);
                    });
                }
            });
        }
        let (bootstrap, name) = (
            bootstrap.to_owned(),
            arn.rsplit(':').next().unwrap_or(arn).to_owned(),
        );
        let env = env(router_port);
        let deployed = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
        let deployed_env = deployed.clone();
        let spawn = move || {
            Command::new(&bootstrap)
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env("AWS_LAMBDA_RUNTIME_API", runtime_addr.to_string())
                .env("AWS_LAMBDA_FUNCTION_NAME", &name)
                .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
                .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
                .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/autorepair-host")
                .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
                .envs(env.iter().cloned())
                .envs(deployed_env.lock().unwrap().iter().cloned())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start bootstrap")
        };
        let process = Arc::new(Process {
            child: Mutex::new(spawn()),
            spawn: Box::new(spawn),
        });
        {
            let (shared, process) = (shared.clone(), process.clone());
            thread::spawn(move || {
                for client in router.incoming().flatten() {
                    let (shared, process, moto_port) =
                        (shared.clone(), process.clone(), moto_port.clone());
                    thread::spawn(move || {
                        let port = *moto_port.lock().unwrap();
                        let _ = serve_router(client, &shared, &process, port);
                    });
                }
            });
        }
        LocalLambda {
            router_port,
            shared,
            process,
            deployed,
        }
    }

    /// The function's configuration changed to `variables` (over the
    /// environment given at start): as Lambda does after
    /// UpdateFunctionConfiguration, the next invocations run in a new
    /// environment that has them.
    pub fn redeploy(&self, variables: Vec<(String, String)>) {
        *self.deployed.lock().unwrap() = variables;
        replace(&self.shared, &self.process, true);
    }

    /// The bootstrap is killed around the next `times` invocations of `stage`.
    pub fn crash_stage(&self, stage: &str, when: Crash, times: usize) {
        self.shared
            .crashes
            .lock()
            .unwrap()
            .push((stage.to_owned(), when, times));
    }

    /// The bootstrap is killed right after its next `times`
    /// UpdateFunctionConfiguration calls reach moto (the change made, its
    /// record not yet written).
    pub fn crash_after_update(&self, times: usize) {
        *self.shared.crash_after_update.lock().unwrap() += times;
    }

    /// The next `times` calls of AWS `operation` the bootstrap makes are
    /// answered with a 500: an `X-Amz-Target` (`DynamoDB_20120810.UpdateItem`)
    /// or a REST call as `METHOD /path-suffix` (`PUT /configuration`).
    pub fn fail_aws(&self, operation: &str, times: usize) {
        self.shared
            .aws_faults
            .lock()
            .unwrap()
            .push((operation.to_owned(), times));
    }

    /// How many faults have been injected so far.
    pub fn injected(&self) -> usize {
        *self.shared.injected.lock().unwrap()
    }

    /// The next `times` invocations of `stage` fail (an unhandled error).
    pub fn fail_stage(&self, stage: &str, times: usize) {
        self.shared
            .faults
            .lock()
            .unwrap()
            .push((stage.to_owned(), times));
    }

    /// The stage of every invocation so far, in order.
    pub fn invoked(&self) -> Vec<String> {
        self.shared.invoked.lock().unwrap().clone()
    }
}

impl Drop for LocalLambda {
    fn drop(&mut self) {
        let mut child = self.process.child.lock().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Kills the bootstrap and starts a new one, as Lambda replaces a crashed
/// environment: every invocation it held ends `Crashed`, and its waiting
/// `/next` calls never take another.
fn crash(shared: &Shared, process: &Process, when_idle: bool) {
    replace(shared, process, when_idle);
    *shared.injected.lock().unwrap() += 1;
}

/// A new bootstrap in place of the current one (what `crash` does, and a
/// configuration change).
fn replace(shared: &Shared, process: &Process, when_idle: bool) {
    // Killed when idle where it can be (its `/next` waiting, so no call of
    // its is half read), or after two seconds whatever it is doing.
    let started = std::time::Instant::now();
    while when_idle
        && *shared.idle.lock().unwrap() == 0
        && started.elapsed() < Duration::from_secs(2)
    {
        thread::sleep(Duration::from_millis(5));
    }
    let mut child = process.child.lock().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    {
        // What it had not taken yet is answered `Crashed` below and retried
        // by Step Functions: it must not also run on the next bootstrap.
        let mut queue = shared.queue.lock().unwrap();
        queue.clear();
        *shared.generation.lock().unwrap() += 1;
        *shared.idle.lock().unwrap() = 0;
        shared.ready.notify_all();
    }
    for (_, waiter) in shared.waiting.lock().unwrap().drain() {
        let _ = waiter.send(Outcome::Crashed);
    }
    *child = (process.spawn)();
}

/// Takes one of the next `times` of a fault matching `matches`.
fn take<T>(faults: &Mutex<Vec<T>>, matches: impl FnMut(&mut T) -> bool) -> bool {
    faults.lock().unwrap().iter_mut().any(matches)
}

/// The Lambda Runtime API, as much as `lambda_runtime` uses.
fn serve_runtime(mut client: TcpStream, shared: &Shared, arn: &str) -> std::io::Result<()> {
    let Some(request) = read_request(&client)? else {
        return Ok(());
    };
    let path = request.path.as_str();
    if request.method == "GET" && path.ends_with("/runtime/invocation/next") {
        let (id, payload) = {
            let mut queue = shared.queue.lock().unwrap();
            let generation = *shared.generation.lock().unwrap();
            *shared.idle.lock().unwrap() += 1;
            loop {
                if *shared.generation.lock().unwrap() != generation {
                    // Its bootstrap was killed: leave the work to the next.
                    return Ok(());
                }
                if let Some(next) = queue.pop_front() {
                    let mut idle = shared.idle.lock().unwrap();
                    *idle = idle.saturating_sub(1);
                    break next;
                }
                queue = shared.ready.wait(queue).unwrap();
            }
        };
        let deadline = (SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + INVOKE_LIMIT)
            .as_millis()
            .to_string();
        return reply(
            &mut client,
            "200 OK",
            &[
                ("Content-Type", "application/json"),
                ("Lambda-Runtime-Aws-Request-Id", &id),
                ("Lambda-Runtime-Deadline-Ms", &deadline),
                ("Lambda-Runtime-Invoked-Function-Arn", arn),
                (
                    "Lambda-Runtime-Trace-Id",
                    "Root=1-00000000-000000000000000000000000;Sampled=0",
                ),
            ],
            &payload,
        );
    }
    let answered = path
        .strip_prefix("/2018-06-01/runtime/invocation/")
        .and_then(|rest| rest.split_once('/'));
    if let Some((id, what)) = answered {
        let outcome = match what {
            "response" => Outcome::Response(request.body),
            _ => Outcome::Error(request.body),
        };
        if let Some(waiter) = shared.waiting.lock().unwrap().remove(id) {
            let _ = waiter.send(outcome);
        }
        return reply(&mut client, "202 Accepted", &[], b"{}");
    }
    if path.ends_with("/runtime/init/error") {
        eprintln!(
            "bootstrap failed to start: {}",
            String::from_utf8_lossy(&request.body)
        );
        return reply(&mut client, "202 Accepted", &[], b"{}");
    }
    reply(&mut client, "404 Not Found", &[], b"{}")
}

/// The AWS operation a request names: its `X-Amz-Target`, else its method
/// and path.
fn operation(request: &Request) -> String {
    request
        .header("x-amz-target")
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{} {}", request.method, request.path))
}

/// Whether operation `op` is the one a fault names: the same target, or
/// the same method on a path ending as named (`PUT /configuration`).
fn names(op: &str, name: &str) -> bool {
    if op == name {
        return true;
    }
    match (op.split_once(' '), name.split_once(' ')) {
        (Some((method, path)), Some((m, suffix))) => {
            method == m && path.split('?').next().unwrap_or_default().ends_with(suffix)
        }
        _ => false,
    }
}

/// Invoke calls to the bootstrap (or an injected failure); the rest to moto.
fn serve_router(
    mut client: TcpStream,
    shared: &Shared,
    process: &Process,
    moto_port: u16,
) -> std::io::Result<()> {
    let Some(request) = read_request(&client)? else {
        return Ok(());
    };
    if !is_invoke(&request) {
        let op = operation(&request);
        let failed = take(&shared.aws_faults, |(name, times)| {
            let hit = *times > 0 && names(&op, name);
            if hit {
                *times -= 1;
            }
            hit
        });
        if failed {
            *shared.injected.lock().unwrap() += 1;
            let body = r#"{"__type":"InternalServerError","message":"injected by the test"}"#;
            return client.write_all(
                crate::http::response(500, Some("InternalServerError"), body).as_bytes(),
            );
        }
        let response = forward(&request, moto_port)?;
        let updated = request.method == "PUT"
            && request
                .path
                .split('?')
                .next()
                .unwrap_or_default()
                .ends_with("/configuration")
            && response.starts_with(b"HTTP/1.1 200");
        let crash_now = updated && {
            let mut left = shared.crash_after_update.lock().unwrap();
            let hit = *left > 0;
            *left = left.saturating_sub(1);
            hit
        };
        if crash_now {
            // The change is made; the bootstrap dies before it hears so.
            crash(shared, process, false);
            return Ok(());
        }
        return client.write_all(&response);
    }
    let stage = serde_json::from_slice::<serde_json::Value>(&request.body)
        .ok()
        .and_then(|v| v["stage"].as_str().map(str::to_owned))
        .unwrap_or_default();
    shared.invoked.lock().unwrap().push(stage.clone());
    let injected = {
        let mut faults = shared.faults.lock().unwrap();
        faults
            .iter_mut()
            .find(|(s, times)| *s == stage && *times > 0)
            .map(|(_, times)| *times -= 1)
            .is_some()
    };
    let function_error = [
        ("Content-Type", "application/json"),
        ("X-Amz-Function-Error", "Unhandled"),
    ];
    // A runtime that dies without an answer: Step Functions reports it as
    // Lambda.Unknown, which the workflow retries.
    let crashed = |client: &mut TcpStream| {
        reply(
            client,
            "200 OK",
            &function_error,
            br#"{"errorType":"Lambda.Unknown","errorMessage":"the bootstrap was killed (injected by the test)"}"#,
        )
    };
    // Takes one kill of `stage` at `when`, if one is set up.
    let crash_at = |when: Crash| {
        take(&shared.crashes, |(s, w, times)| {
            let hit = *s == stage && *w == when && *times > 0;
            if hit {
                *times -= 1;
            }
            hit
        })
    };
    if crash_at(Crash::Before) {
        crash(shared, process, true);
        return crashed(&mut client);
    }
    if injected {
        let body = format!(
            "{{\"errorType\":\"InjectedFault\",\"errorMessage\":\"the {stage} task failed (injected by the test)\"}}"
        );
        return reply(&mut client, "200 OK", &function_error, body.as_bytes());
    }
    let (tx, rx) = mpsc::channel();
    let id = {
        let mut n = shared.next_id.lock().unwrap();
        *n += 1;
        format!("00000000-0000-4000-8000-{:012x}", *n)
    };
    shared.waiting.lock().unwrap().insert(id.clone(), tx);
    shared.queue.lock().unwrap().push_back((id, request.body));
    shared.ready.notify_one();
    let outcome = rx.recv_timeout(INVOKE_LIMIT);
    if !matches!(outcome, Ok(Outcome::Crashed)) && crash_at(Crash::After) {
        crash(shared, process, true);
        return crashed(&mut client);
    }
    match outcome {
        Ok(Outcome::Crashed) => crashed(&mut client),
        Ok(Outcome::Response(body)) => reply(
            &mut client,
            "200 OK",
            &[("Content-Type", "application/json"), ("X-Amz-Executed-Version", "$LATEST")],
            &body,
        ),
        Ok(Outcome::Error(body)) => reply(&mut client, "200 OK", &function_error, &body),
        Err(_) => reply(
            &mut client,
            "200 OK",
            &function_error,
            br#"{"errorType":"Sandbox.Timedout","errorMessage":"the local bootstrap did not answer"}"#,
        ),
    }
}

fn is_invoke(request: &Request) -> bool {
    request.method == "POST"
        && request.path.starts_with("/2015-03-31/functions/")
        && request
            .path
            .split('?')
            .next()
            .unwrap_or("")
            .ends_with("/invocations")
}
