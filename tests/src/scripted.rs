//! A loopback HTTP server that answers each accepted request with the next
//! scripted reply, recording what it received: the shared body of the model
//! stand-ins (Bedrock's Converse, an OpenAI-compatible Chat Completions
//! server, Bedrock Knowledge Bases' Retrieve), which differ only in the
//! requests they accept and the shape of their replies.

use std::io::Write;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::http::{Request, read_request, response};

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// AWS's `x-amzn-ErrorType` header, for AWS-shaped errors.
    pub error_type: Option<&'static str>,
    pub body: Value,
    /// Wait this long before answering.
    pub delay: Duration,
}

impl Reply {
    /// A 200 with `body`.
    pub fn ok(body: Value) -> Reply {
        Reply {
            status: 200,
            error_type: None,
            body,
            delay: Duration::ZERO,
        }
    }

    pub fn after(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
}

/// What a stand-in received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub head: Vec<String>,
    pub body: Value,
}

impl Received {
    /// The value of header `name` (any case), trimmed.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.iter().find_map(|h| {
            let (k, v) = h.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

pub struct Scripted {
    pub endpoint: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Scripted {
    /// Serves `script` in order to the requests `accepts` takes (once it
    /// runs out, the last reply repeats); anything else gets `refused`.
    pub fn start(accepts: fn(&Request) -> bool, script: Vec<Reply>, refused: Reply) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a stand-in");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let received = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new((script, 0usize)));
        let log = received.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (script, log, refused) = (script.clone(), log.clone(), refused.clone());
                std::thread::spawn(move || {
                    let Ok(Some(request)) = read_request(&client) else {
                        return;
                    };
                    let reply = if accepts(&request) {
                        let mut s = script.lock().unwrap();
                        let i = s.1.min(s.0.len().saturating_sub(1));
                        s.1 += 1;
                        s.0.get(i).cloned()
                    } else {
                        None
                    }
                    .unwrap_or(refused);
                    log.lock().unwrap().push(Received {
                        path: request.path.clone(),
                        head: request.head.clone(),
                        body: serde_json::from_slice(&request.body).unwrap_or(Value::Null),
                    });
                    std::thread::sleep(reply.delay);
                    let text = response(reply.status, reply.error_type, &reply.body.to_string());
                    let mut client = client;
                    let _ = client.write_all(text.as_bytes());
                });
            }
        });
        Scripted { endpoint, received }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}
