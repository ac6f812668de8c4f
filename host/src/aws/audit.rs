//! [`AuditStore`] on DynamoDB: one table holds
//! the audit record of every incident (idempotency by a conditional write on
//! the incident id), a lock per function, and the history of changes per
//! function (cooldown and changes per day).
//!
//! | item | pk | sk |
//! |---|---|---|
//! | incident record | `incident#<id>` | `record` (with `version` and `stages`: each stage commits on the version it read) |
//! | function lock | `lock#<function>` | `lock` |
//! | change | `function#<function>` | `change#<ms, 13 digits>` |

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, SseSpecification, TimeToLiveSpecification,
};

use async_trait::async_trait;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::error::SdkError;

use super::describe;
use crate::decide::History;
use crate::model::Millis;
use crate::ports::{AuditError, AuditStore, Claim, StoredRecord};
use crate::stage::Stage;

/// The TTL attribute (epoch seconds), as DynamoDB's TTL wants it.
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// An audit log in one DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoAudit {
    client: aws_sdk_dynamodb::Client,
    table: String,
    ttl_days: u32,
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

impl DynamoAudit {
    pub fn new(
        client: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        ttl_days: u32,
    ) -> DynamoAudit {
        DynamoAudit {
            client,
            table: table.into(),
            ttl_days,
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn err(&self, message: String) -> AuditError {
        AuditError {
            table: self.table.clone(),
            message,
        }
    }

    /// A conditional write's outcome: the condition failing means someone was
    /// there first.
    /// The record's document and status, set (no condition yet).
    fn record_update(
        &self,
        incident_id: &str,
        status: &str,
        record_json: &str,
        now_ms: Millis,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("incident#{incident_id}")))
            .key("sk", s("record"))
            .update_expression("SET #status = :status, #record = :record, updated_ms = :now")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#record", "record")
            .expression_attribute_values(":status", s(status))
            .expression_attribute_values(":record", s(record_json))
            .expression_attribute_values(":now", n(now_ms))
    }

    fn claimed<O, E, R>(
        &self,
        result: Result<O, SdkError<E, R>>,
        what: &str,
    ) -> Result<Claim, AuditError>
    where
        E: std::error::Error + ProvideErrorMetadata,
        R: std::fmt::Debug,
    {
        match result {
            Ok(_) => Ok(Claim::Won),
            Err(e)
                if e.as_service_error().and_then(ProvideErrorMetadata::code)
                    == Some("ConditionalCheckFailedException") =>
            {
                Ok(Claim::Taken)
            }
            Err(e) => Err(self.err(format!("{what}: {}", describe(&e)))),
        }
    }

    fn expires_at(&self, now_ms: Millis) -> AttributeValue {
        n(now_ms / 1000 + i64::from(self.ttl_days) * 86_400)
    }

    /// Creates the table (on-demand, TTL on) when it does not exist: for local
    /// runs and tests; in AWS the deployment template creates it, with KMS.
    pub async fn ensure_table(&self) -> Result<(), AuditError> {
        let exists = self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .is_ok();
        if exists {
            return Ok(());
        }
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        let key = |name: &str, kind| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
        };
        let build = |e: aws_sdk_dynamodb::error::BuildError| self.err(e.to_string());
        self.client
            .create_table()
            .table_name(&self.table)
            .attribute_definitions(attr("pk").map_err(build)?)
            .attribute_definitions(attr("sk").map_err(build)?)
            .key_schema(key("pk", KeyType::Hash).map_err(build)?)
            .key_schema(key("sk", KeyType::Range).map_err(build)?)
            .billing_mode(BillingMode::PayPerRequest)
            // Encrypted with a KMS key (the account's aws/dynamodb), as the
            // template's table is with its own.
            .sse_specification(SseSpecification::builder().enabled(true).build())
            .send()
            .await
            .map_err(|e| self.err(format!("creating the table: {}", describe(&e))))?;
        let ttl = TimeToLiveSpecification::builder()
            .enabled(true)
            .attribute_name(TTL_ATTRIBUTE)
            .build()
            .map_err(build)?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(ttl)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.err(format!("enabling TTL: {}", describe(&e))))
    }
}

#[async_trait]
impl AuditStore for DynamoAudit {
    /// Claims `incident_id`: the first delivery wins, a redelivery is `Taken`.
    async fn claim(
        &self,
        incident_id: &str,
        function: &str,
        record_json: &str,
        now_ms: Millis,
    ) -> Result<Claim, AuditError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("incident#{incident_id}")))
            .item("sk", s("record"))
            .item("function", s(function))
            .item("status", s("started"))
            .item("record", s(record_json))
            .item("version", n(0))
            .item("stages", AttributeValue::L(Vec::new()))
            .item("created_ms", n(now_ms))
            .item("updated_ms", n(now_ms))
            .item(TTL_ATTRIBUTE, self.expires_at(now_ms))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        self.claimed(result, "recording the incident")
    }

    /// Writes the incident's record as it now stands.
    async fn update(
        &self,
        incident_id: &str,
        status: &str,
        record_json: &str,
        now_ms: Millis,
    ) -> Result<(), AuditError> {
        self.record_update(incident_id, status, record_json, now_ms)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.err(format!("updating the incident record: {}", describe(&e))))
    }

    /// `update`, on the condition that the record is still at `version`.
    async fn update_at(
        &self,
        incident_id: &str,
        version: u64,
        status: &str,
        record_json: &str,
        now_ms: Millis,
    ) -> Result<Claim, AuditError> {
        let result = self
            .record_update(incident_id, status, record_json, now_ms)
            .condition_expression(version_condition(version))
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":expected", n(version))
            .send()
            .await;
        self.claimed(result, "updating the incident record")
    }

    /// Saves a stage's run if the record is still at version `expected`.
    async fn commit(
        &self,
        incident_id: &str,
        stage: Stage,
        status: &str,
        record_json: &str,
        expected: u64,
        now_ms: Millis,
    ) -> Result<Claim, AuditError> {
        // Every attribute goes by a placeholder: no reserved word can bite.
        let condition = version_condition(expected);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("incident#{incident_id}")))
            .key("sk", s("record"))
            .update_expression(
                "SET #status = :status, #record = :record, updated_ms = :now, #version = :next, \
                 #stages = list_append(if_not_exists(#stages, :none), :stage)",
            )
            .condition_expression(condition)
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#record", "record")
            .expression_attribute_names("#version", "version")
            .expression_attribute_names("#stages", "stages")
            .expression_attribute_values(":status", s(status))
            .expression_attribute_values(":record", s(record_json))
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":expected", n(expected))
            .expression_attribute_values(":next", n(expected + 1))
            .expression_attribute_values(":none", AttributeValue::L(Vec::new()))
            .expression_attribute_values(":stage", AttributeValue::L(vec![s(stage.name())]))
            .send()
            .await;
        self.claimed(result, "committing the incident record")
    }

    /// The stored record of `incident_id`.
    async fn get(&self, incident_id: &str) -> Result<Option<StoredRecord>, AuditError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(format!("incident#{incident_id}")))
            .key("sk", s("record"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.err(format!("reading the incident record: {}", describe(&e))))?;
        let Some(item) = out.item() else {
            return Ok(None);
        };
        // `stages[v]` made version `v + 1`: a name dropped or unknown would
        // shift every stage after it, so the record is refused instead.
        let stages = item
            .get("stages")
            .and_then(|v| v.as_l().ok())
            .map(|l| {
                l.iter()
                    .map(|v| {
                        v.as_s().ok().and_then(|name| name.parse::<Stage>().ok()).ok_or_else(|| {
                            self.err(format!(
                                "incident {incident_id}: the record names a stage this host does not know ({v:?})"
                            ))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        Ok(Some(StoredRecord {
            status: string(item, "status"),
            document: string(item, "record"),
            version: item
                .get("version")
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            stages,
        }))
    }

    /// Takes the lock on `function` for `incident_id` until `now + ttl`; an
    /// expired lock (its holder died) can be taken over.
    async fn lock(
        &self,
        function: &str,
        incident_id: &str,
        now_ms: Millis,
        ttl_ms: i64,
    ) -> Result<Claim, AuditError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("lock#{function}")))
            .item("sk", s("lock"))
            .item("incident_id", s(incident_id))
            .item("lock_expires_ms", n(now_ms + ttl_ms))
            .item(TTL_ATTRIBUTE, self.expires_at(now_ms))
            .condition_expression(
                "attribute_not_exists(pk) OR lock_expires_ms < :now OR incident_id = :me",
            )
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":me", s(incident_id))
            .send()
            .await;
        self.claimed(result, &format!("locking {function}"))
    }

    /// Releases the lock if `incident_id` still holds it.
    async fn unlock(&self, function: &str, incident_id: &str) -> Result<(), AuditError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(format!("lock#{function}")))
            .key("sk", s("lock"))
            .condition_expression("incident_id = :me")
            .expression_attribute_values(":me", s(incident_id))
            .send()
            .await;
        // Not ours (any more): nothing to release.
        self.claimed(result, &format!("unlocking {function}"))
            .map(|_| ())
    }

    /// Records a change to `function` (for cooldown and the daily cap).
    async fn record_change(
        &self,
        function: &str,
        incident_id: &str,
        from_mb: u32,
        to_mb: u32,
        at_ms: Millis,
    ) -> Result<(), AuditError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("function#{function}")))
            .item("sk", s(format!("change#{at_ms:013}")))
            .item("incident_id", s(incident_id))
            .item("from_mb", n(from_mb))
            .item("to_mb", n(to_mb))
            .item(TTL_ATTRIBUTE, self.expires_at(at_ms))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.err(format!("recording the change: {}", describe(&e))))
    }

    /// Every change item of `function` the table still keeps (its TTL is the
    /// records'), page by page; the sizes incidents raised it from.
    async fn raised_from(&self, function: &str) -> Result<Vec<u32>, AuditError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :change)")
            .expression_attribute_values(":pk", s(format!("function#{function}")))
            .expression_attribute_values(":change", s("change#"))
            .into_paginator()
            .send();
        let mut sizes = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page
                .map_err(|e| self.err(format!("reading the change history: {}", describe(&e))))?;
            for item in page.items() {
                let number = |key: &str| {
                    item.get(key)
                        .and_then(|v| v.as_n().ok())
                        .and_then(|v| v.parse::<u32>().ok())
                };
                let by_sweep =
                    string(item, "incident_id").starts_with(crate::ports::SWEEP_CHANGE_PREFIX);
                if let (Some(from), Some(to)) = (number("from_mb"), number("to_mb"))
                    && to > from
                    && !by_sweep
                {
                    sizes.push(from);
                }
            }
        }
        Ok(sizes)
    }

    /// Every incident's record document (the run JSON), for the A/B report.
    /// A scan: the report reads the whole table, page by page.
    async fn records(&self) -> Result<Vec<String>, AuditError> {
        let mut pages = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("sk = :record")
            .expression_attribute_values(":record", s("record"))
            .into_paginator()
            .send();
        let mut documents = Vec::new();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| self.err(format!("reading incident records: {}", describe(&e))))?;
            documents.extend(page.items().iter().map(|item| string(item, "record")));
        }
        Ok(documents)
    }

    /// Changes to `function` in the 24 hours before `now_ms`.
    async fn history(&self, function: &str, now_ms: Millis) -> Result<History, AuditError> {
        let since = now_ms - 24 * 3_600_000;
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk > :since")
            .expression_attribute_values(":pk", s(format!("function#{function}")))
            .expression_attribute_values(":since", s(format!("change#{since:013}")))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.err(format!("reading change history: {}", describe(&e))))?;
        let times: Vec<Millis> = out
            .items()
            .iter()
            .filter(|item| {
                !string(item, "incident_id").starts_with(crate::ports::SWEEP_CHANGE_PREFIX)
            })
            .filter_map(|item| string(item, "sk").strip_prefix("change#")?.parse().ok())
            .collect();
        Ok(History {
            last_change_ms: times.iter().copied().max(),
            changes_last_24h: times.len() as u32,
        })
    }
}

/// The record exists at version `:expected` (`#version`); a record claimed
/// before versions existed counts as version 0.
fn version_condition(expected: u64) -> &'static str {
    if expected == 0 {
        "attribute_exists(pk) AND (attribute_not_exists(#version) OR #version = :expected)"
    } else {
        "attribute_exists(pk) AND #version = :expected"
    }
}

fn string(item: &HashMap<String, AttributeValue>, key: &str) -> String {
    item.get(key)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

/// Standing recommendations live beside the incidents, one item a function
/// (`recommendation#<function>` / `current`), replaced by each sweep and kept
/// (no expiry): the report reads the newest.
#[async_trait]
impl crate::ports::RecommendationStore for DynamoAudit {
    async fn put_recommendation(
        &self,
        recommendation: &crate::model::StandingRecommendation,
    ) -> Result<(), crate::ports::FleetError> {
        let document =
            serde_json::to_string(recommendation).map_err(|e| fleet_error("PutItem", e))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item(
                "pk",
                s(format!("recommendation#{}", recommendation.function)),
            )
            .item("sk", s("current"))
            .item("direction", s(recommendation.direction.to_string()))
            .item("document", s(document))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| fleet_error("PutItem (recommendation)", describe(&e)))
    }

    async fn recommendation(
        &self,
        function: &str,
    ) -> Result<Option<crate::model::StandingRecommendation>, crate::ports::FleetError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(format!("recommendation#{function}")))
            .key("sk", s("current"))
            .send()
            .await
            .map_err(|e| fleet_error("GetItem (recommendation)", describe(&e)))?;
        match out.item() {
            None => Ok(None),
            Some(item) => serde_json::from_str(&string(item, "document"))
                .map(Some)
                .map_err(|e| fleet_error("a stored recommendation", e)),
        }
    }

    async fn recommendations(
        &self,
    ) -> Result<Vec<crate::model::StandingRecommendation>, crate::ports::FleetError> {
        let mut pages = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("sk = :current")
            .expression_attribute_values(":current", s("current"))
            .into_paginator()
            .send();
        let mut all = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| fleet_error("Scan (recommendations)", describe(&e)))?;
            for item in page.items() {
                match serde_json::from_str(&string(item, "document")) {
                    Ok(r) => all.push(r),
                    Err(e) => {
                        tracing::warn!(error = %e, "a stored recommendation does not parse; left out")
                    }
                }
            }
        }
        Ok(all)
    }
}

fn fleet_error(what: &str, message: impl ToString) -> crate::ports::FleetError {
    crate::ports::FleetError {
        what: what.to_owned(),
        message: message.to_string(),
    }
}
