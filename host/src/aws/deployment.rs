//! [`Deployment`] on AWS: what `autorepair doctor` reads of a stack — Lambda,
//! Step Functions, EventBridge, IAM, DynamoDB, SNS — and the probe execution.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::SseStatus;

use super::describe;
use crate::checkup::{AlarmRule, Deployment, HostFunction, Policy, StateMachine};

/// How long the probe execution may take.
const PROBE_LIMIT: Duration = Duration::from_secs(120);

pub struct AwsDeployment {
    lambda: aws_sdk_lambda::Client,
    sfn: aws_sdk_sfn::Client,
    events: aws_sdk_eventbridge::Client,
    iam: aws_sdk_iam::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    sns: aws_sdk_sns::Client,
}

impl AwsDeployment {
    pub fn new(sdk: &SdkConfig) -> AwsDeployment {
        AwsDeployment {
            lambda: aws_sdk_lambda::Client::new(sdk),
            sfn: aws_sdk_sfn::Client::new(sdk),
            events: aws_sdk_eventbridge::Client::new(sdk),
            iam: aws_sdk_iam::Client::new(sdk),
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            sns: aws_sdk_sns::Client::new(sdk),
        }
    }
}

/// The last part of an ARN (`…:role/path/name` → `name`).
fn last_part(arn: &str) -> &str {
    arn.rsplit(['/', ':']).next().unwrap_or(arn)
}

#[async_trait]
impl Deployment for AwsDeployment {
    async fn function(&self, name: &str) -> Result<Option<HostFunction>, String> {
        match self
            .lambda
            .get_function_configuration()
            .function_name(name)
            .send()
            .await
        {
            Ok(out) => Ok(Some(HostFunction {
                arn: out.function_arn().unwrap_or_default().to_owned(),
                role_arn: out.role().unwrap_or_default().to_owned(),
                config_toml: out
                    .environment()
                    .and_then(|e| e.variables())
                    .and_then(|v| v.get("AUTOREPAIR_CONFIG_TOML"))
                    .cloned(),
            })),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(describe(&e)),
        }
    }

    async fn state_machine(&self, name: &str) -> Result<Option<StateMachine>, String> {
        let mut pages = self.sfn.list_state_machines().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| describe(&e))?;
            if let Some(found) = page.state_machines().iter().find(|m| m.name() == name) {
                let described = self
                    .sfn
                    .describe_state_machine()
                    .state_machine_arn(found.state_machine_arn())
                    .send()
                    .await
                    .map_err(|e| describe(&e))?;
                return Ok(Some(StateMachine {
                    arn: found.state_machine_arn().to_owned(),
                    definition: described.definition().to_owned(),
                }));
            }
        }
        Ok(None)
    }

    async fn rule(&self, name: &str) -> Result<Option<AlarmRule>, String> {
        let rule = match self.events.describe_rule().name(name).send().await {
            Ok(rule) => rule,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(describe(&e)),
        };
        let targets = self
            .events
            .list_targets_by_rule()
            .rule(name)
            .send()
            .await
            .map_err(|e| describe(&e))?;
        Ok(Some(AlarmRule {
            enabled: rule.state() == Some(&aws_sdk_eventbridge::types::RuleState::Enabled),
            pattern: rule.event_pattern().unwrap_or_default().to_owned(),
            targets: targets
                .targets()
                .iter()
                .map(|t| t.arn().to_owned())
                .collect(),
        }))
    }

    async fn role_policies(&self, role_arn: &str) -> Result<Vec<Policy>, String> {
        let role = last_part(role_arn);
        let mut policies = Vec::new();
        let names = self
            .iam
            .list_role_policies()
            .role_name(role)
            .send()
            .await
            .map_err(|e| describe(&e))?;
        for name in names.policy_names() {
            let policy = self
                .iam
                .get_role_policy()
                .role_name(role)
                .policy_name(name)
                .send()
                .await
                .map_err(|e| describe(&e))?;
            // IAM returns the document URL-encoded.
            let document = urlencoding_decode(policy.policy_document());
            policies.push(Policy::Inline(document));
        }
        let attached = self
            .iam
            .list_attached_role_policies()
            .role_name(role)
            .send()
            .await
            .map_err(|e| describe(&e))?;
        for policy in attached.attached_policies() {
            policies.push(Policy::Managed(
                policy.policy_arn().unwrap_or_default().to_owned(),
            ));
        }
        Ok(policies)
    }

    async fn table(&self, name: &str) -> Result<Option<(String, bool)>, String> {
        match self.dynamodb.describe_table().table_name(name).send().await {
            Ok(out) => {
                let table = out.table();
                let status = table
                    .and_then(|t| t.table_status())
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default();
                let encrypted = table.and_then(|t| t.sse_description()).is_some_and(|s| {
                    s.status() == Some(&SseStatus::Enabled) && s.kms_master_key_arn().is_some()
                });
                Ok(Some((status, encrypted)))
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(describe(&e)),
        }
    }

    async fn topic(&self, arn: &str) -> Result<Option<bool>, String> {
        match self.sns.get_topic_attributes().topic_arn(arn).send().await {
            Ok(out) => Ok(Some(
                out.attributes()
                    .and_then(|a| a.get("KmsMasterKeyId"))
                    .is_some_and(|k| !k.is_empty()),
            )),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(describe(&e)),
        }
    }

    async fn execute(
        &self,
        state_machine_arn: &str,
        input: &str,
    ) -> Result<(String, String), String> {
        let name = format!("doctor-{}", crate::clock::now_ms());
        let started = self
            .sfn
            .start_execution()
            .state_machine_arn(state_machine_arn)
            .name(name)
            .input(input)
            .send()
            .await
            .map_err(|e| format!("cannot start an execution: {}", describe(&e)))?;
        let began = Instant::now();
        loop {
            let described = self
                .sfn
                .describe_execution()
                .execution_arn(started.execution_arn())
                .send()
                .await
                .map_err(|e| describe(&e))?;
            let status = described.status().as_str().to_owned();
            if status != "RUNNING" {
                let output = described
                    .output()
                    .or(described.cause())
                    .or(described.error())
                    .unwrap_or_default()
                    .to_owned();
                return Ok((status, output));
            }
            if began.elapsed() > PROBE_LIMIT {
                return Err(format!(
                    "the probe execution still runs after {} s",
                    PROBE_LIMIT.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// Percent-decoding (IAM's policy documents are URL-encoded); a document that
/// is not (moto, some SDKs) passes through unchanged.
fn urlencoding_decode(text: &str) -> String {
    if !text.contains('%') {
        return text.to_owned();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_documents_are_decoded_and_plain_ones_kept() {
        assert_eq!(
            urlencoding_decode("%7B%22Version%22%3A%222012-10-17%22%7D"),
            r#"{"Version":"2012-10-17"}"#
        );
        assert_eq!(urlencoding_decode(r#"{"a": 1}"#), r#"{"a": 1}"#);
        assert_eq!(urlencoding_decode("100%"), "100%");
        assert_eq!(
            last_part("arn:aws:iam::1:role/service/host-role"),
            "host-role"
        );
    }
}
