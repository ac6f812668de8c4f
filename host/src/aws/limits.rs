//! Client-side call rates, one per AWS API family (Lambda's control plane,
//! CloudWatch, CloudWatch Logs), so a sweep of thousands of functions stays
//! inside the account's quotas — which deployments and every other tool
//! share — instead of leaning on the service's throttling. Each client's
//! HTTP connector waits for its family's next slot before every attempt
//! (retries included). A throttling answer that still comes back is
//! counted, retried by the SDK with its backoff, and halves the family's
//! pace, which then climbs back to the configured rate a step per answered
//! call: a budget set above what the account has left (deployments share
//! the quota) settles under it instead of spending the SDK's retries.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Paces calls to `per_second` on average, with at most a second's worth at
/// once after a quiet spell; slower for a while after a throttling answer.
#[derive(Debug)]
pub struct Pace {
    /// The configured rate, calls a second: the most the pace climbs to.
    rate: f64,
    burst: Duration,
    slots: Mutex<Slots>,
}

#[derive(Debug)]
struct Slots {
    next: Option<Instant>,
    /// The rate now: `rate`, or less after throttling.
    now: f64,
}

/// The slowest a throttled pace goes, calls a second.
const SLOWEST: f64 = 0.5;
/// Answered calls a halved pace takes to climb back to its configured rate:
/// each adds this fraction of the configured rate (additive increase after a
/// multiplicative decrease, as TCP does), so a pace above the quota
/// oscillates just under it.
const CLIMB_STEPS: f64 = 32.0;

impl Pace {
    pub fn new(per_second: f64) -> Pace {
        let rate = if per_second.is_finite() && per_second > 0.0 {
            per_second
        } else {
            f64::MAX
        };
        Pace {
            rate,
            burst: Duration::from_secs(1),
            slots: Mutex::new(Slots {
                next: None,
                now: rate,
            }),
        }
    }

    /// Waits for the next slot.
    pub async fn slot(&self) {
        let at = {
            let mut slots = self.slots.lock().await;
            let now = Instant::now();
            // A quiet spell banks at most `burst` of slots.
            let earliest = now.checked_sub(self.burst).unwrap_or(now);
            let at = slots.next.map_or(now, |n| n.max(earliest));
            slots.next = Some(at + Duration::from_secs_f64(1.0 / slots.now));
            at
        };
        tokio::time::sleep_until(at).await;
    }

    /// A throttling answer: halve the pace, and bank no burst until the
    /// next slot at that pace.
    pub async fn throttled(&self) {
        let mut slots = self.slots.lock().await;
        slots.now = (slots.now / 2.0).max(SLOWEST.min(self.rate));
        let gap = Instant::now() + Duration::from_secs_f64(1.0 / slots.now);
        slots.next = Some(slots.next.map_or(gap, |n| n.max(gap)));
    }

    /// An answered call: a step back towards the configured rate.
    pub async fn answered(&self) {
        let mut slots = self.slots.lock().await;
        if slots.now < self.rate {
            slots.now = (slots.now + self.rate / CLIMB_STEPS).min(self.rate);
        }
    }

    /// The rate now, calls a second.
    pub async fn rate(&self) -> f64 {
        self.slots.lock().await.now
    }
}

/// Throttling answers seen, per process (every client shares the count).
#[derive(Debug, Default)]
pub struct Throttles(AtomicU64);

impl Throttles {
    pub fn count(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The process's count: a sweep batch reports what it met.
pub static THROTTLES: Throttles = Throttles(AtomicU64::new(0));

/// Whether a response says the caller is throttled: HTTP 429, or an error
/// type that says so (the JSON and query protocols answer 400).
fn throttled(status: u16, error_type: Option<&str>) -> bool {
    status == 429
        || error_type.is_some_and(|t| {
            let t = t.split(':').next().unwrap_or(t);
            t.contains("Throttl") || t.contains("TooManyRequests") || t == "RequestLimitExceeded"
        })
}

#[derive(Debug, Clone)]
struct Paced {
    inner: SharedHttpClient,
    pace: Arc<Pace>,
}

impl HttpClient for Paced {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(PacedConnector {
            inner: self.inner.http_connector(settings, components),
            pace: self.pace.clone(),
        })
    }
}

#[derive(Debug)]
struct PacedConnector {
    inner: SharedHttpConnector,
    pace: Arc<Pace>,
}

impl HttpConnector for PacedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (inner, pace) = (self.inner.clone(), self.pace.clone());
        HttpConnectorFuture::new(async move {
            pace.slot().await;
            let response = inner.call(request).await?;
            let error_type = response
                .headers()
                .get("x-amzn-errortype")
                .map(str::to_owned);
            if throttled(response.status().as_u16(), error_type.as_deref()) {
                THROTTLES.0.fetch_add(1, Ordering::Relaxed);
                pace.throttled().await;
            } else {
                pace.answered().await;
            }
            Ok(response)
        })
    }
}

/// `config` with every call paced to `per_second`: its HTTP client wrapped,
/// or, when it leaves the client to each service's default, that default
/// (hyper 1 with rustls, proxies from the environment) built here.
pub fn paced(config: &SdkConfig, per_second: f64) -> SdkConfig {
    let inner = config.http_client().unwrap_or_else(default_https_client);
    config
        .to_builder()
        .http_client(Paced {
            inner,
            pace: Arc::new(Pace::new(per_second)),
        })
        .build()
}

/// The SDK's default HTTPS client, as each service client would make it.
fn default_https_client() -> SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::{Builder, ConnectorBuilder, tls};
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector = ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

impl fmt::Display for Throttles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn calls_are_paced_with_a_seconds_burst_at_most() {
        let pace = Pace::new(10.0);
        let start = Instant::now();
        for _ in 0..31 {
            pace.slot().await;
        }
        // 31 calls at 10 a second: the last waits three seconds.
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(2_990) && took <= Duration::from_millis(3_010),
            "{took:?}"
        );
        // After a quiet spell, a second's worth goes at once, no more.
        tokio::time::sleep(Duration::from_secs(60)).await;
        let start = Instant::now();
        for _ in 0..10 {
            pace.slot().await;
        }
        assert!(
            start.elapsed() < Duration::from_millis(10),
            "{:?}",
            start.elapsed()
        );
        for _ in 0..10 {
            pace.slot().await;
        }
        // …and then the pace again: 20 calls within 0.9 s, not at once.
        assert!(
            start.elapsed() >= Duration::from_millis(890),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttling_answer_halves_the_pace_until_answers_bring_it_back() {
        let pace = Pace::new(10.0);
        pace.slot().await;
        pace.throttled().await;
        assert_eq!(pace.rate().await, 5.0);
        // The next slot is a throttled interval away, with no burst banked.
        let start = Instant::now();
        for _ in 0..5 {
            pace.slot().await;
        }
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(990) && took <= Duration::from_millis(1_010),
            "5 calls at 5 a second: {took:?}"
        );
        // Throttled again and again: never slower than the floor.
        for _ in 0..10 {
            pace.throttled().await;
        }
        assert_eq!(pace.rate().await, SLOWEST);
        // Answers climb back, a step each, and never past the configured rate.
        for _ in 0..CLIMB_STEPS as usize {
            pace.answered().await;
        }
        assert_eq!(pace.rate().await, 10.0);
        pace.answered().await;
        assert_eq!(pace.rate().await, 10.0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pace_below_the_floor_is_not_raised_by_throttling() {
        let pace = Pace::new(0.2);
        pace.throttled().await;
        assert_eq!(pace.rate().await, 0.2);
    }

    #[test]
    fn throttling_answers_are_recognised() {
        assert!(throttled(429, None));
        assert!(throttled(400, Some("ThrottlingException")));
        assert!(throttled(
            400,
            Some("TooManyRequestsException:http://internal")
        ));
        assert!(throttled(400, Some("Throttling")));
        assert!(!throttled(400, Some("ValidationException")));
        assert!(!throttled(500, None));
    }
}
