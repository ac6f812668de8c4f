//! The Lambda Runtime API of one execution environment, on its own loopback
//! port: the runtime loop inside the environment takes invocations from
//! `/invocation/next` and posts each answer back.

use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use crate::http::{read_request, reply};

/// An invocation handed to the runtime.
pub struct Delivery {
    pub request_id: String,
    pub payload: Vec<u8>,
    pub deadline_ms: i64,
    pub function_arn: String,
}

/// What the runtime posted back.
#[derive(Debug)]
pub enum Answer {
    Response {
        request_id: String,
        body: Vec<u8>,
    },
    Error {
        request_id: String,
        body: Vec<u8>,
    },
    /// The handler could not be loaded (the runtime logged why).
    InitError,
}

struct State {
    deliveries: Mutex<Receiver<Delivery>>,
    answers: UnboundedSender<Answer>,
    /// When the runtime first asked for an invocation: the end of its init.
    ready: Mutex<Option<Instant>>,
    closed: AtomicBool,
}

/// The server; stops accepting when dropped.
pub struct RuntimeApi {
    pub address: String,
    state: Arc<State>,
    deliver: Sender<Delivery>,
    pub answers: UnboundedReceiver<Answer>,
}

impl RuntimeApi {
    pub fn start() -> std::io::Result<RuntimeApi> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?.to_string();
        let (deliver, deliveries) = channel();
        let (answer, answers) = unbounded_channel();
        let state = Arc::new(State {
            deliveries: Mutex::new(deliveries),
            answers: answer,
            ready: Mutex::new(None),
            closed: AtomicBool::new(false),
        });
        let serving = state.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if serving.closed.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(client) = client else { continue };
                let state = serving.clone();
                std::thread::spawn(move || {
                    let _ = serve(client, &state);
                });
            }
        });
        Ok(RuntimeApi {
            address,
            state,
            deliver,
            answers,
        })
    }

    /// Hands `delivery` to the runtime's next `/invocation/next`.
    pub fn deliver(&self, delivery: Delivery) {
        let _ = self.deliver.send(delivery);
    }

    /// When the runtime first asked for work, if it has.
    pub fn ready_at(&self) -> Option<Instant> {
        *self.state.ready.lock().expect("ready")
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.state.closed.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees `closed` and ends.
        let _ = TcpStream::connect(&self.address);
    }
}

fn serve(mut client: TcpStream, state: &State) -> std::io::Result<()> {
    let Some(request) = read_request(&client)? else {
        return Ok(());
    };
    let path = request.path.as_str();
    if request.method == "GET" && path.ends_with("/runtime/invocation/next") {
        state
            .ready
            .lock()
            .expect("ready")
            .get_or_insert_with(Instant::now);
        // One invocation at a time: the environment delivers the next only
        // after this one's answer.
        let next = state.deliveries.lock().expect("deliveries").recv();
        let Ok(d) = next else {
            return reply(&mut client, "500 Internal Server Error", &[], b"{}");
        };
        let deadline = d.deadline_ms.to_string();
        return reply(
            &mut client,
            "200 OK",
            &[
                ("Content-Type", "application/json"),
                ("Lambda-Runtime-Aws-Request-Id", &d.request_id),
                ("Lambda-Runtime-Deadline-Ms", &deadline),
                ("Lambda-Runtime-Invoked-Function-Arn", &d.function_arn),
            ],
            &d.payload,
        );
    }
    if path.ends_with("/runtime/init/error") {
        let _ = state.answers.send(Answer::InitError);
        return reply(&mut client, "202 Accepted", &[], b"{}");
    }
    let answered = path
        .strip_prefix("/2018-06-01/runtime/invocation/")
        .and_then(|rest| rest.split_once('/'));
    if let Some((id, what)) = answered {
        let request_id = id.to_owned();
        let answer = match what {
            "response" => Answer::Response {
                request_id,
                body: request.body,
            },
            _ => Answer::Error {
                request_id,
                body: request.body,
            },
        };
        let _ = state.answers.send(answer);
        return reply(&mut client, "202 Accepted", &[], b"{}");
    }
    reply(&mut client, "404 Not Found", &[], b"{}")
}
