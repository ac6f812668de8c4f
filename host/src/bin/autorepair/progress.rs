//! Progress on stderr for a person at a terminal (indicatif draws nothing
//! when stderr is not one, and `-q` hides it): a spinner for a step of
//! unknown length, a bar for counted items. Cleared when the work ends, so
//! what the command prints stays as it was.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use autorepair::progress::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

static HIDDEN: AtomicBool = AtomicBool::new(false);

/// `-q`: no progress at all.
pub fn hide() {
    HIDDEN.store(true, Ordering::Relaxed);
}

/// Progress drawn on stderr; cleared on drop.
pub struct Shown(ProgressBar);

impl Shown {
    pub fn new() -> Shown {
        let target = if HIDDEN.load(Ordering::Relaxed) {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        Shown(ProgressBar::with_draw_target(None, target))
    }

    /// A line on stderr that the progress does not overwrite.
    pub fn note(&self, line: &str) {
        self.0.suspend(|| eprintln!("{line}"));
    }
}

impl Progress for Shown {
    fn step(&self, what: &str, items: Option<u64>) {
        let (template, tick) = match items {
            Some(_) => ("{bar:30} {pos}/{len} {msg} ({eta} left)", None),
            None => (
                "{spinner} {msg} ({elapsed})",
                Some(Duration::from_millis(120)),
            ),
        };
        // Style and message first: a frame drawn between two of these calls
        // never shows the last step's look or words.
        self.0.disable_steady_tick();
        self.0.set_style(
            ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        self.0.set_message(what.to_owned());
        self.0.set_length(items.unwrap_or(0));
        self.0.set_position(0);
        self.0.reset_elapsed();
        if let Some(every) = tick {
            self.0.enable_steady_tick(every);
        }
    }

    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
}

impl Drop for Shown {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}
