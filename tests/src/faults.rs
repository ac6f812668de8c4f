//! A fault-injecting HTTP proxy on 127.0.0.1 in front of moto: forwards every
//! request, except that the first N requests matching a rule get a canned error
//! — the faults an emulator cannot produce (409 conflicts, 412 revision
//! mismatches, 5xx). One request per connection (`Connection: close`).

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

use crate::http::{forward, read_request, response};

/// Answer the first `times` requests whose method and path start as given
/// with `status` and AWS error type `error_type`.
#[derive(Debug, Clone)]
pub struct Fault {
    pub method: &'static str,
    pub path_prefix: String,
    pub status: u16,
    pub error_type: &'static str,
    pub times: usize,
}

pub struct FaultProxy {
    pub endpoint: String,
    /// Added before forwarding each request: a stand-in for the network
    /// latency real AWS has and loopback does not.
    latency: std::time::Duration,
    faults: Arc<Mutex<Vec<Fault>>>,
    /// Requests answered with a fault, for assertions.
    pub injected: Arc<Mutex<Vec<String>>>,
}

impl FaultProxy {
    pub fn start(upstream_port: u16, faults: Vec<Fault>) -> FaultProxy {
        Self::start_with_latency(upstream_port, faults, std::time::Duration::ZERO)
    }

    pub fn start_with_latency(
        upstream_port: u16,
        faults: Vec<Fault>,
        latency: std::time::Duration,
    ) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let faults = Arc::new(Mutex::new(faults));
        let injected = Arc::new(Mutex::new(Vec::new()));
        let (f, i) = (faults.clone(), injected.clone());
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (f, i) = (f.clone(), i.clone());
                thread::spawn(move || {
                    thread::sleep(latency);
                    let _ = serve(client, upstream_port, &f, &i);
                });
            }
        });
        FaultProxy {
            endpoint,
            latency,
            faults,
            injected,
        }
    }

    pub fn latency(&self) -> std::time::Duration {
        self.latency
    }

    pub fn injected(&self) -> Vec<String> {
        self.injected.lock().unwrap().clone()
    }

    pub fn remaining(&self) -> usize {
        self.faults.lock().unwrap().iter().map(|f| f.times).sum()
    }
}

fn serve(
    client: TcpStream,
    upstream_port: u16,
    faults: &Mutex<Vec<Fault>>,
    injected: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let Some(request) = read_request(&client)? else {
        return Ok(());
    };
    let (method, path) = (request.method.as_str(), request.path.as_str());

    let fault = {
        let mut faults = faults.lock().unwrap();
        faults
            .iter_mut()
            .find(|f| f.times > 0 && f.method == method && path.starts_with(&f.path_prefix))
            .map(|f| {
                f.times -= 1;
                f.clone()
            })
    };
    let mut client = client;
    if let Some(f) = fault {
        injected
            .lock()
            .unwrap()
            .push(format!("{method} {path} -> {}", f.status));
        let body = format!(
            "{{\"Type\":\"User\",\"message\":\"injected {}\"}}",
            f.error_type
        );
        return client.write_all(response(f.status, Some(f.error_type), &body).as_bytes());
    }
    client.write_all(&forward(&request, upstream_port)?)
}
