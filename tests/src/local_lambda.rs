//! A local Lambda for the real `bootstrap`, in front of moto.
//!
//! moto's Step Functions interpreter runs the workflow's Lambda tasks by
//! calling the Invoke API at `localhost:$MOTO_PORT`. Started with `MOTO_PORT`
//! naming this router instead of itself, its Invoke calls come here and go to
//! the real `bootstrap` binary through the Lambda Runtime API (the one its
//! `lambda_runtime` client polls, served here too); every other call goes on
//! to moto. A fault can be injected for a named stage — a task that fails,
//! which no emulator produces on demand. Loopback only.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::http::{Request, forward, read_request};

/// How long an invocation may wait for the bootstrap's answer.
const INVOKE_LIMIT: Duration = Duration::from_secs(300);

enum Outcome {
    Response(Vec<u8>),
    Error(Vec<u8>),
}

#[derive(Default)]
struct Shared {
    queue: Mutex<VecDeque<(String, Vec<u8>)>>,
    ready: Condvar,
    waiting: Mutex<HashMap<String, mpsc::Sender<Outcome>>>,
    /// (stage, times): the next `times` invocations of `stage` fail.
    faults: Mutex<Vec<(String, usize)>>,
    /// The stage of every invocation, in order.
    invoked: Mutex<Vec<String>>,
    next_id: Mutex<u64>,
}

/// The router, the Runtime API and the `bootstrap` child process.
pub struct LocalLambda {
    /// Where moto must send its Invoke calls (its `MOTO_PORT`).
    pub router_port: u16,
    shared: Arc<Shared>,
    child: Child,
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
        {
            let shared = shared.clone();
            thread::spawn(move || {
                for client in router.incoming().flatten() {
                    let (shared, moto_port) = (shared.clone(), moto_port.clone());
                    thread::spawn(move || {
                        let port = *moto_port.lock().unwrap();
                        let _ = serve_router(client, &shared, port);
                    });
                }
            });
        }
        let child = Command::new(bootstrap)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", runtime_addr.to_string())
            .env(
                "AWS_LAMBDA_FUNCTION_NAME",
                arn.rsplit(':').next().unwrap_or(arn),
            )
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/autorepair-host")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .envs(env(router_port))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start bootstrap");
        LocalLambda {
            router_port,
            shared,
            child,
        }
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
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn reply(
    client: &mut TcpStream,
    status: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    client.write_all(head.as_bytes())?;
    client.write_all(body)
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
            loop {
                if let Some(next) = queue.pop_front() {
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

/// Invoke calls to the bootstrap (or an injected failure); the rest to moto.
fn serve_router(mut client: TcpStream, shared: &Shared, moto_port: u16) -> std::io::Result<()> {
    let Some(request) = read_request(&client)? else {
        return Ok(());
    };
    if !is_invoke(&request) {
        return client.write_all(&forward(&request, moto_port)?);
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
    match rx.recv_timeout(INVOKE_LIMIT) {
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
