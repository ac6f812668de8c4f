//! The AWS adapters: each port on its AWS service, and the clients they share,
//! built once from one SDK config. The endpoint and credentials come from the
//! SDK's standard chain, so `AWS_ENDPOINT_URL=http://127.0.0.1:PORT` points
//! everything at a local emulator. Nothing outside this module (and the
//! binaries' wiring) names an AWS SDK type.

pub mod alarms;
pub mod audit;
pub mod bedrock;
pub mod cloudtrail;
pub mod deployment;
pub mod insights;
pub mod inventory;
pub mod knowledge;
pub mod lambda;
pub mod limits;
pub mod members;
pub mod notify;
pub mod s3;
pub mod secrets;
pub mod telemetry;
pub mod workflow;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

#[derive(Clone, Debug)]
pub struct Aws {
    pub lambda: aws_sdk_lambda::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sns: aws_sdk_sns::Client,
    /// The shared settings, for clients built with overrides (Bedrock's region
    /// and endpoint come from the `[ai]` section).
    pub sdk: SdkConfig,
}

/// Attempts per AWS call (the first plus retries on throttling and 5xx).
pub const MAX_ATTEMPTS: u32 = 4;
/// Bound on one AWS call, retries included.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(20);

impl Aws {
    pub fn new(config: &SdkConfig) -> Aws {
        Aws {
            lambda: aws_sdk_lambda::Client::new(config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(config),
            logs: aws_sdk_cloudwatchlogs::Client::new(config),
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            sns: aws_sdk_sns::Client::new(config),
            sdk: config.clone(),
        }
    }

    /// Clients from the standard chain (env, profile, IMDS/container role),
    /// with bounded retries and timeouts.
    pub async fn from_env() -> Aws {
        Aws::new(&sdk_from_env().await)
    }

    /// These clients, Lambda's, CloudWatch's and CloudWatch Logs' each paced
    /// to this process's share of `limits`.
    pub fn with_limits(mut self, limits: &crate::config::LimitsConfig) -> Aws {
        let paced = |budget| limits::paced(&self.sdk, limits.share(budget));
        self.lambda = aws_sdk_lambda::Client::new(&paced(limits.lambda_per_second));
        self.cloudwatch = aws_sdk_cloudwatch::Client::new(&paced(limits.cloudwatch_per_second));
        self.logs = aws_sdk_cloudwatchlogs::Client::new(&paced(limits.logs_per_second));
        self
    }
}

/// The SDK settings from the standard chain, with bounded retries and timeouts.
pub async fn sdk_from_env() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .timeout_config(
            TimeoutConfig::builder()
                .operation_timeout(CALL_TIMEOUT)
                .connect_timeout(Duration::from_secs(3))
                .build(),
        )
        .load()
        .await
}

/// A readable one-line description of an SDK error: the service's code and
/// message when there is one, else the transport's.
pub fn describe<E, R>(error: &aws_sdk_lambda::error::SdkError<E, R>) -> String
where
    E: std::error::Error + aws_sdk_lambda::error::ProvideErrorMetadata,
    R: std::fmt::Debug,
{
    use aws_sdk_lambda::error::SdkError;
    match error {
        SdkError::ServiceError(e) => {
            let err = e.err();
            match (err.code(), err.message()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_owned(),
                _ => err.to_string(),
            }
        }
        SdkError::TimeoutError(_) => "timed out".to_owned(),
        SdkError::DispatchFailure(e) => format!("could not reach the service: {e:?}"),
        other => other.to_string(),
    }
}
