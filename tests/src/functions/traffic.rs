//! Traffic for a real function: workers invoking it in a loop, each
//! invocation's payload from a closure, until stopped.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Functions, Invocation};

/// What the payload of invocation `n` is.
pub type Payload = Arc<dyn Fn(u64) -> serde_json::Value + Send + Sync>;

/// Workers invoking a function until stopped.
pub struct Traffic {
    running: Arc<AtomicBool>,
    done: Arc<Mutex<Vec<Invocation>>>,
    failures: Arc<Mutex<Vec<String>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Traffic {
    /// `workers` loops invoking `function` one invocation after another.
    pub fn start(
        functions: &Arc<Functions>,
        function: &str,
        workers: usize,
        payload: Payload,
    ) -> Traffic {
        let running = Arc::new(AtomicBool::new(true));
        let done = Arc::new(Mutex::new(Vec::new()));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let next = Arc::new(AtomicU64::new(0));
        let tasks = (0..workers)
            .map(|_| {
                let (functions, function) = (functions.clone(), function.to_owned());
                let (running, done, failures) = (running.clone(), done.clone(), failures.clone());
                let (next, payload) = (next.clone(), payload.clone());
                tokio::spawn(async move {
                    while running.load(Ordering::Relaxed) {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        match functions.invoke(&function, &payload(n)).await {
                            Ok(i) => done.lock().expect("done").push(i),
                            Err(e) => {
                                failures.lock().expect("failures").push(format!("{e:#}"));
                                tokio::time::sleep(Duration::from_millis(200)).await;
                            }
                        }
                    }
                })
            })
            .collect();
        Traffic {
            running,
            done,
            failures,
            tasks,
        }
    }

    /// How many invocations have ended.
    pub fn count(&self) -> usize {
        self.done.lock().expect("done").len()
    }

    /// How many invocations that ended `matches` so far.
    pub fn count_where(&self, matches: impl Fn(&Invocation) -> bool) -> usize {
        self.done
            .lock()
            .expect("done")
            .iter()
            .filter(|i| matches(i))
            .count()
    }

    /// Waits until `n` invocations have ended (at most `limit`).
    pub async fn wait_for(&self, n: usize, limit: Duration) -> usize {
        let started = Instant::now();
        while self.count() < n && started.elapsed() < limit {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.count()
    }

    /// Stops the workers (each finishes its invocation): every invocation
    /// made, and every error invoking (the environment's own, never the
    /// function's).
    pub async fn stop(self) -> (Vec<Invocation>, Vec<String>) {
        self.running.store(false, Ordering::Relaxed);
        for task in self.tasks {
            let _ = task.await;
        }
        let done = std::mem::take(&mut *self.done.lock().expect("done"));
        let failures = std::mem::take(&mut *self.failures.lock().expect("failures"));
        (done, failures)
    }
}
