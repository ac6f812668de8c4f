//! [`FunctionStore`] on the Lambda API.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};

use super::describe;
use crate::model::FunctionInfo;
use crate::ports::{AliasTarget, FunctionStore, Invoked, StoreError, UpdateState};

#[derive(Debug, Clone)]
pub struct Lambda {
    client: aws_sdk_lambda::Client,
}

impl Lambda {
    pub fn new(client: aws_sdk_lambda::Client) -> Lambda {
        Lambda { client }
    }
}

/// An SDK error as the stages branch on it.
fn store_error<E, R>(name: &str, what: &str, error: &SdkError<E, R>) -> StoreError
where
    E: std::error::Error + ProvideErrorMetadata,
    R: std::fmt::Debug,
{
    match error.as_service_error().and_then(|s| s.code()) {
        Some("ResourceNotFoundException") => StoreError::NotFound(name.to_owned()),
        Some("PreconditionFailedException") => StoreError::Precondition,
        Some("ResourceConflictException") => StoreError::Busy,
        _ if what.is_empty() => StoreError::Other(describe(error)),
        _ => StoreError::Other(format!("{what}: {}", describe(error))),
    }
}

/// A digest of what `PublishVersion` snapshots, memory aside: code, runtime,
/// handler, role, environment, layers, VPC, architectures, timeout, storage,
/// file systems, image, dead-letter queue, tracing, key, SnapStart, logging,
/// description. Two configurations with the same digest differ at most in
/// memory, so publishing one in place of the other ships nothing unreleased.
fn snapshot_digest(
    c: &aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput,
) -> String {
    let snapshot = format!(
        "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
        c.code_sha256(),
        c.package_type(),
        c.runtime(),
        c.handler(),
        c.role(),
        c.environment().map(|e| e.variables()),
        c.layers().iter().map(|l| l.arn()).collect::<Vec<_>>(),
        c.vpc_config().map(|v| (
            v.subnet_ids(),
            v.security_group_ids(),
            v.ipv6_allowed_for_dual_stack()
        )),
        c.architectures(),
        c.timeout(),
        c.ephemeral_storage().map(|e| e.size()),
        c.file_system_configs(),
        c.image_config_response().map(|i| i.image_config()),
        c.dead_letter_config().map(|d| d.target_arn()),
        c.tracing_config().map(|t| t.mode()),
        c.kms_key_arn(),
        c.snap_start().map(|s| s.apply_on()),
        c.logging_config(),
        c.description(),
        c.runtime_version_config().map(|r| r.runtime_version_arn()),
    );
    crate::digest::sha256_hex(snapshot.as_bytes())
}

#[async_trait]
impl FunctionStore for Lambda {
    async fn read(&self, name: &str, qualifier: Option<&str>) -> Result<FunctionInfo, StoreError> {
        let config = self
            .client
            .get_function_configuration()
            .function_name(name)
            .set_qualifier(qualifier.map(str::to_owned))
            .send()
            .await
            .map_err(|e| store_error(name, "", &e))?;
        let mut info = FunctionInfo {
            // The API's own name, also when asked by ARN: callers key locks
            // and history by it.
            name: config.function_name().unwrap_or(name).to_owned(),
            arn: config.function_arn().unwrap_or_default().to_owned(),
            runtime: config
                .runtime()
                .map(|r| r.as_str().to_owned())
                .unwrap_or_default(),
            architecture: config
                .architectures()
                .first()
                .map_or("x86_64".to_owned(), |a| a.as_str().to_owned()),
            memory_mb: config.memory_size().unwrap_or(128).max(0) as u32,
            timeout_s: config.timeout().unwrap_or(3).max(0) as u32,
            qualifier: qualifier.map(str::to_owned),
            tags: BTreeMap::new(),
            revision_id: config.revision_id().map(str::to_owned),
            code_sha256: config.code_sha256().unwrap_or_default().to_owned(),
            log_group: config
                .logging_config()
                .and_then(|l| l.log_group())
                .unwrap_or_default()
                .to_owned(),
            config_sha256: snapshot_digest(&config),
            version: config.version().unwrap_or_default().to_owned(),
            last_modified_ms: config
                .last_modified()
                .and_then(|t| crate::dates::parse_timestamp(t).ok()),
            snap_start: config
                .snap_start()
                .and_then(|s| s.apply_on())
                .is_some_and(|a| *a == aws_sdk_lambda::types::SnapStartApplyOn::PublishedVersions),
        };
        // Tags live on the unqualified function.
        match self
            .client
            .list_tags()
            .resource(info.unqualified_arn())
            .send()
            .await
        {
            Ok(out) => {
                info.tags = out
                    .tags()
                    .map(|t| t.clone().into_iter().collect())
                    .unwrap_or_default();
            }
            Err(e) => {
                tracing::warn!(error = %describe(&e), "could not read tags; treating the function as not opted in");
            }
        }
        Ok(info)
    }

    async fn update_memory(
        &self,
        name: &str,
        memory_mb: u32,
        revision: Option<&str>,
    ) -> Result<crate::ports::Updated, StoreError> {
        use aws_sdk_lambda::operation::RequestId as _;
        self.client
            .update_function_configuration()
            .function_name(name)
            .memory_size(memory_mb as i32)
            .set_revision_id(revision.map(str::to_owned))
            .send()
            .await
            .map(|out| crate::ports::Updated {
                revision_id: out.revision_id().map(str::to_owned),
                request_id: out.request_id().map(str::to_owned),
            })
            .map_err(|e| store_error(name, "updating memory", &e))
    }

    async fn update_state(&self, name: &str) -> Result<UpdateState, StoreError> {
        let config = self
            .client
            .get_function_configuration()
            .function_name(name)
            .send()
            .await
            .map_err(|e| store_error(name, "", &e))?;
        Ok(match config.last_update_status().map(|s| s.as_str()) {
            Some("Failed") => UpdateState::Failed(
                config
                    .last_update_status_reason()
                    .unwrap_or("no reason given")
                    .to_owned(),
            ),
            Some("InProgress") => UpdateState::InProgress,
            _ => UpdateState::Successful(config.revision_id().map(str::to_owned)),
        })
    }

    async fn publish_version(
        &self,
        name: &str,
        code_sha256: &str,
        revision: Option<&str>,
    ) -> Result<String, StoreError> {
        self.client
            .publish_version()
            .function_name(name)
            .code_sha256(code_sha256)
            .set_revision_id(revision.map(str::to_owned))
            .send()
            .await
            .map(|out| out.version().unwrap_or_default().to_owned())
            .map_err(|e| store_error(name, "publishing a version", &e))
    }

    async fn alias(&self, name: &str, alias: &str) -> Result<AliasTarget, StoreError> {
        self.client
            .get_alias()
            .function_name(name)
            .name(alias)
            .send()
            .await
            .map(|out| AliasTarget {
                version: out.function_version().unwrap_or("$LATEST").to_owned(),
                revision_id: out.revision_id().map(str::to_owned),
            })
            .map_err(|e| store_error(name, "", &e))
    }

    async fn delete_version(&self, name: &str, version: &str) -> Result<(), StoreError> {
        self.client
            .delete_function()
            .function_name(name)
            .qualifier(version)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| store_error(name, "deleting a version", &e))
    }

    async fn aliases(&self, name: &str) -> Result<Vec<String>, StoreError> {
        let mut names = Vec::new();
        let mut pages = self
            .client
            .list_aliases()
            .function_name(name)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| store_error(name, "listing aliases", &e))?;
            names.extend(
                page.aliases()
                    .iter()
                    .filter_map(|a| a.name().map(str::to_owned)),
            );
        }
        Ok(names)
    }

    async fn invoke(
        &self,
        name: &str,
        qualifier: Option<&str>,
        payload: &[u8],
    ) -> Result<Invoked, StoreError> {
        use base64::Engine as _;
        let out = self
            .client
            .invoke()
            .function_name(name)
            .set_qualifier(qualifier.map(str::to_owned))
            .payload(aws_sdk_lambda::primitives::Blob::new(payload))
            .log_type(aws_sdk_lambda::types::LogType::Tail)
            .send()
            .await
            .map_err(|e| store_error(name, "invoking", &e))?;
        let log_tail = out
            .log_result()
            .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default();
        Ok(Invoked {
            function_error: out.function_error().map(str::to_owned),
            log_tail,
        })
    }

    async fn move_alias(
        &self,
        name: &str,
        alias: &str,
        version: &str,
        revision: Option<&str>,
    ) -> Result<(), StoreError> {
        self.client
            .update_alias()
            .function_name(name)
            .name(alias)
            .function_version(version)
            .set_revision_id(revision.map(str::to_owned))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| store_error(name, &format!("moving alias {alias}"), &e))
    }
}
