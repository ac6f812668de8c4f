//! Client-side call rates, one per AWS API family (Lambda's control plane,
//! CloudWatch, CloudWatch Logs), so a sweep of thousands of functions stays
//! inside the account's quotas — which deployments and every other tool
//! share — instead of leaning on the service's throttling. Each client's
//! HTTP connector waits for its family's next slot before every attempt
//! (retries included), and counts the throttling answers that still come
//! back (the SDK's standard retry backs off and tries again).

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
/// once after a quiet spell.
#[derive(Debug)]
pub struct Pace {
    interval: Duration,
    burst: Duration,
    next: Mutex<Option<Instant>>,
}

impl Pace {
    pub fn new(per_second: f64) -> Pace {
        let per_second = if per_second.is_finite() && per_second > 0.0 {
            per_second
        } else {
            f64::MAX
        };
        Pace {
            interval: Duration::from_secs_f64(1.0 / per_second),
            burst: Duration::from_secs(1),
            next: Mutex::new(None),
        }
    }

    /// Waits for the next slot.
    pub async fn slot(&self) {
        let at = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            // A quiet spell banks at most `burst` of slots.
            let earliest = now.checked_sub(self.burst).unwrap_or(now);
            let at = next.map_or(now, |n| n.max(earliest));
            *next = Some(at + self.interval);
            at
        };
        tokio::time::sleep_until(at).await;
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
