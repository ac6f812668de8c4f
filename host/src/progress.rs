//! Where long work stands, for a person watching: the CLI draws it (on a
//! terminal only), Lambda and the tests pass [`Silent`]. The work reports
//! its steps; how they are shown is the caller's business.

/// What long work reports as it goes.
pub trait Progress: Send + Sync {
    /// A new step: what it does and, when known, how many items it has.
    fn step(&self, what: &str, items: Option<u64>);
    /// `n` more items of the current step are done.
    fn advance(&self, n: u64);
}

/// Progress nobody watches.
pub struct Silent;

impl Progress for Silent {
    fn step(&self, _: &str, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
}

/// Progress written down, for tests: each step with its items, and how many
/// were reported done in it.
#[derive(Default)]
pub struct Recorded(std::sync::Mutex<Vec<(String, Option<u64>, u64)>>);

impl Recorded {
    /// (step, items, done) in order.
    pub fn steps(&self) -> Vec<(String, Option<u64>, u64)> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Progress for Recorded {
    fn step(&self, what: &str, items: Option<u64>) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((what.to_owned(), items, 0));
    }

    fn advance(&self, n: u64) {
        if let Some(last) = self.0.lock().unwrap_or_else(|e| e.into_inner()).last_mut() {
            last.2 += n;
        }
    }
}
