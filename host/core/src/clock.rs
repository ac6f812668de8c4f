//! Time, as a port: the stages read the clock and wait through [`Clock`] so the
//! orchestrator can be driven by a fake clock in tests; production uses
//! [`SystemClock`]. A leaf: it depends on nothing of ours but [`Millis`].

use std::time::Duration;

use crate::model::Millis;

/// Milliseconds since the Unix epoch, from the system clock.
pub fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as Millis)
}

/// The time source the stages read and wait on.
#[async_trait::async_trait]
pub trait Clock: Send + Sync {
    /// Now, in ms since the Unix epoch.
    fn now_ms(&self) -> Millis;
    /// Waits `duration` (the verification window, a retry's backoff).
    async fn sleep(&self, duration: Duration);
}

/// The system's clock and tokio's timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

#[async_trait::async_trait]
impl Clock for SystemClock {
    fn now_ms(&self) -> Millis {
        now_ms()
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}
