//! moto_server, started on a free 127.0.0.1 port and stopped on drop.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";

pub struct Moto {
    child: Child,
    pub port: u16,
    pub endpoint: String,
    _log: tempfile::NamedTempFile,
}

/// Where tests/setup.sh installs moto_server, unless the environment says otherwise.
fn moto_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("AUTOREPAIR_MOTO_SERVER") {
        return PathBuf::from(path);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/moto_server")
}

/// The Python of the venv moto_server belongs to (moto, boto3 and
/// aws-sam-translator are installed there).
pub fn python() -> PathBuf {
    moto_binary().with_file_name("python")
}

impl Moto {
    /// Starts a fresh emulator; panics with what to do when moto is missing.
    pub fn start() -> Moto {
        Moto::start_with(&[], r#"{"lambda":{"use_docker":false}}"#)
    }

    /// Starts a fresh emulator with `env` and moto's `config` (the JSON of
    /// `/moto-api/config`).
    pub fn start_with(env: &[(&str, &str)], config: &str) -> Moto {
        let binary = moto_binary();
        assert!(
            binary.exists(),
            "moto_server not found at {}: run tests/setup.sh (tests/test.sh does) to install it",
            binary.display()
        );
        // moto_server itself, with DynamoDB's writes serialized as DynamoDB
        // serializes them (tests/moto/server.py says why): run
        // by the Python of the venv moto_server belongs to.
        let python = python();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("moto/server.py");
        let log = tempfile::NamedTempFile::new().expect("temp file for moto's log");
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new(&python)
                .arg(&script)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .envs(env.iter().copied())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log.reopen().map(Stdio::from).unwrap_or(Stdio::null()))
                .spawn()
                .expect("start moto_server");
            let mut moto = Moto {
                child,
                port,
                endpoint: format!("http://127.0.0.1:{port}"),
                _log: tempfile::NamedTempFile::new().expect("temp file"),
            };
            if moto.wait_ready(Duration::from_secs(30))
                && moto.configure(config, Duration::from_secs(30))
            {
                moto._log = log;
                return moto;
            }
            let _ = moto.child.kill();
        }
        panic!(
            "moto_server did not start; its log: {}",
            log.path().display()
        );
    }

    fn wait_ready(&mut self, limit: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// Sets moto up for the tests once it answers. A server still starting may
    /// reset the first connections, so this retries; and a child that exited
    /// meanwhile lost its port to another process, whose answers are not ours.
    fn configure(&mut self, config: &str, limit: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            let answer = self.try_request(
                "/moto-api/config",
                config,
                &[("Content-Type", "application/json")],
            );
            if let Ok((200..=299, _)) = answer {
                return matches!(self.child.try_wait(), Ok(None));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// A raw HTTP/1.1 POST to the emulator (moto's own API, or IAM which the
    /// host has no SDK for); returns the status code and body.
    pub fn post(&self, path: &str, body: &str) -> (u16, String) {
        self.request(path, body, &[("Content-Type", "application/json")])
    }

    fn request(&self, path: &str, body: &str, headers: &[(&str, &str)]) -> (u16, String) {
        self.try_request(path, body, headers)
            .unwrap_or_else(|e| panic!("POST {path} to moto on port {}: {e}", self.port))
    }

    fn try_request(
        &self,
        path: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> std::io::Result<(u16, String)> {
        post_at(self.port, path, body, headers)
    }

    /// One call of an AWS JSON-protocol API (`service` as SigV4 names it,
    /// `target` as `X-Amz-Target`): the host has no SDK for some services
    /// the tests drive (Step Functions).
    pub fn aws_json(&self, service: &str, target: &str, body: &str) -> (u16, String) {
        aws_json_at(self.port, service, target, body)
            .unwrap_or_else(|e| panic!("{target} to moto on port {}: {e}", self.port))
    }

    /// A state machine named `name` that waits an hour (moto runs nothing
    /// unless asked): its executions stay RUNNING, as the host's stage calls
    /// need them. Returns its ARN.
    pub fn waiting_state_machine(&self, name: &str) -> String {
        let role = self.role("autorepair-states");
        let definition =
            r#"{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":3600,"End":true}}}"#;
        let body = serde_json::json!({"name": name, "definition": definition, "roleArn": role});
        let (status, text) = self.aws_json(
            "states",
            "AWSStepFunctions.CreateStateMachine",
            &body.to_string(),
        );
        assert_eq!(status, 200, "CreateStateMachine: {text}");
        serde_json::from_str::<serde_json::Value>(&text).unwrap()["stateMachineArn"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Starts an execution of `state_machine`; returns its ARN.
    pub fn start_execution(&self, state_machine: &str) -> String {
        static STARTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let body = serde_json::json!({"stateMachineArn": state_machine, "name": format!("e{n}")});
        let (status, text) = self.aws_json(
            "states",
            "AWSStepFunctions.StartExecution",
            &body.to_string(),
        );
        assert_eq!(status, 200, "StartExecution: {text}");
        serde_json::from_str::<serde_json::Value>(&text).unwrap()["executionArn"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Stops an execution (it is ABORTED).
    pub fn stop_execution(&self, execution: &str) {
        let body = serde_json::json!({"executionArn": execution});
        let (status, text) = self.aws_json(
            "states",
            "AWSStepFunctions.StopExecution",
            &body.to_string(),
        );
        assert_eq!(status, 200, "StopExecution: {text}");
    }

    /// Creates an IAM role Lambda functions can be created with (moto checks).
    pub fn role(&self, name: &str) -> String {
        let body = format!(
            "Action=CreateRole&Version=2010-05-08&RoleName={name}&AssumeRolePolicyDocument=%7B%7D"
        );
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=test/20260101/{REGION}/iam/aws4_request, SignedHeaders=host, Signature=0"
        );
        let (status, text) = self.request(
            "/",
            &body,
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Authorization", &auth),
            ],
        );
        assert!(
            status == 200 || text.contains("EntityAlreadyExists"),
            "CreateRole: {status} {text}"
        );
        format!("arn:aws:iam::{ACCOUNT}:role/{name}")
    }

    /// SDK config pointing at this emulator, with few retries (moto's 500s are
    /// not worth waiting for).
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new("test", "test", None, None, "moto"))
            .retry_config(RetryConfig::standard().with_max_attempts(2))
            .load()
            .await
    }

    /// The environment a child `autorepair` process needs to use this emulator.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_ACCESS_KEY_ID", "test".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
            ("AWS_MAX_ATTEMPTS", "2".to_owned()),
        ]
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A raw HTTP/1.1 POST to 127.0.0.1:`port`; the status code and body.
pub fn post_at(
    port: u16,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// One call of an AWS JSON-protocol API on the emulator at `port`.
pub fn aws_json_at(
    port: u16,
    service: &str,
    target: &str,
    body: &str,
) -> std::io::Result<(u16, String)> {
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=test/20260101/{REGION}/{service}/aws4_request, SignedHeaders=host, Signature=0"
    );
    post_at(
        port,
        "/",
        body,
        &[
            ("Content-Type", "application/x-amz-json-1.0"),
            ("X-Amz-Target", target),
            ("Authorization", &auth),
        ],
    )
}
