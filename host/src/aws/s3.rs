//! [`ObjectStore`] on S3: where third-party rules can be fetched from.

use async_trait::async_trait;
use aws_sdk_s3::operation::get_object::GetObjectError;

use super::describe;
use crate::ports::{ObjectError, ObjectStore};

#[derive(Debug, Clone)]
pub struct S3 {
    client: aws_sdk_s3::Client,
}

impl S3 {
    pub fn new(sdk: &aws_config::SdkConfig) -> S3 {
        // Path-style addressing works with every endpoint, emulators included;
        // virtual-host style needs DNS for each bucket name.
        let force_path_style = sdk.endpoint_url().is_some();
        let config = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(force_path_style)
            .build();
        S3 {
            client: aws_sdk_s3::Client::from_conf(config),
        }
    }
}

#[async_trait]
impl ObjectStore for S3 {
    async fn get(
        &self,
        bucket: &str,
        key: &str,
        max_bytes: usize,
    ) -> Result<Option<Vec<u8>>, ObjectError> {
        let failed = |message: String| ObjectError::Failed {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            message,
        };
        match self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            // Not even read when too large: whoever can write the bucket must
            // not be able to exhaust the host's memory with a rule it refuses.
            Ok(object) if object.content_length().unwrap_or(0) > max_bytes as i64 => {
                Err(ObjectError::TooLarge {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                    bytes: object.content_length().unwrap_or(0).max(0) as u64,
                    limit: max_bytes,
                })
            }
            Ok(object) => object
                .body
                .collect()
                .await
                .map(|data| Some(data.into_bytes().to_vec()))
                .map_err(|e| failed(format!("reading the body: {e}"))),
            Err(e) if matches!(e.as_service_error(), Some(GetObjectError::NoSuchKey(_))) => {
                Ok(None)
            }
            Err(e) => Err(failed(describe(&e))),
        }
    }
}

#[async_trait]
impl crate::ports::ItemStore for S3 {
    async fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
    ) -> Result<(), crate::ports::FleetError> {
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/json")
            .body(body.into())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| crate::ports::FleetError {
                what: format!("PutObject s3://{bucket}/{key}"),
                message: describe(&e),
            })
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<Vec<u8>, crate::ports::FleetError> {
        // The map's manifest and result files: a few MB at 100,000 functions.
        const RESULTS_MAX_BYTES: usize = 256 * 1024 * 1024;
        let failed = |message: String| crate::ports::FleetError {
            what: format!("GetObject s3://{bucket}/{key}"),
            message,
        };
        match crate::ports::ObjectStore::get(self, bucket, key, RESULTS_MAX_BYTES).await {
            Ok(Some(body)) => Ok(body),
            Ok(None) => Err(failed("no such object".into())),
            Err(e) => Err(failed(e.to_string())),
        }
    }
}
