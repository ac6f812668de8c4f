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
use crate::model::{Millis, RecordedChange};
use crate::ports::{AuditError, AuditStore, Claim, StoredRecord};
use crate::run::Status;
use crate::stage::Stage;

/// The table's keys (the table in the module docs), written in one place.
pub mod keys {
    use crate::model::Millis;

    /// The sort key of an incident's record.
    pub const RECORD: &str = "record";
    /// The sort key of a function's lock.
    pub const LOCK: &str = "lock";
    /// The sort key of a function's standing recommendation.
    pub const CURRENT: &str = "current";
    /// What every change item's sort key starts with.
    pub const CHANGE_PREFIX: &str = "change#";
    pub const INCIDENT_PREFIX: &str = "incident#";
    pub const FUNCTION_PREFIX: &str = "function#";
    pub const LOCK_PREFIX: &str = "lock#";
    pub const RECOMMENDATION_PREFIX: &str = "recommendation#";
    pub const RULE_PREFIX: &str = "rule#";
    pub const NOTICES_PREFIX: &str = "notices#";

    /// The partition key of a function's notice counts (one item an hour).
    pub fn notices(function: &str) -> String {
        format!("{NOTICES_PREFIX}{function}")
    }
    /// The sort key of a rule slot's floor.
    pub const FLOOR: &str = "floor";

    /// The partition key of a third-party rule's slot.
    pub fn rule(name: &str) -> String {
        format!("{RULE_PREFIX}{name}")
    }

    /// The partition key of an incident's record.
    pub fn incident(id: &str) -> String {
        format!("{INCIDENT_PREFIX}{id}")
    }

    /// The partition key of a function's lock.
    pub fn lock(function: &str) -> String {
        format!("{LOCK_PREFIX}{function}")
    }

    /// The partition key of a function's change history.
    pub fn function(function: &str) -> String {
        format!("{FUNCTION_PREFIX}{function}")
    }

    /// The partition of the pauses in force: one item each, under the
    /// paused function's name, or [`EVERY_FUNCTION`].
    pub const PAUSES: &str = "pause";
    /// The sort key of the pause on every function (no function is named
    /// "*": Lambda names are letters, digits, hyphens and underscores).
    pub const EVERY_FUNCTION: &str = "*";

    pub const PAST_PREFIX: &str = "past#";
    pub const SIMILAR_PREFIX: &str = "similar#";

    /// The partition key of a function's past incidents (apart from its
    /// change history, whose range queries must not meet them).
    pub fn past(function: &str) -> String {
        format!("{PAST_PREFIX}{function}")
    }

    /// The partition key of the past incidents on `runtime` with a finding
    /// of `kind`, across functions.
    pub fn similar(runtime: &str, kind: &str) -> String {
        format!("{SIMILAR_PREFIX}{runtime}#{kind}")
    }

    /// The sort key of a past incident: newest last in key order.
    pub fn past_incident(at_ms: Millis, incident_id: &str) -> String {
        format!("{INCIDENT_PREFIX}{at_ms:013}#{incident_id}")
    }

    /// The partition key of a function's standing recommendation.
    pub fn recommendation(function: &str) -> String {
        format!("{RECOMMENDATION_PREFIX}{function}")
    }

    /// The sort key of a change at `at_ms`: zero-padded so that the keys'
    /// order is time order (a range query by time is a range of keys).
    pub fn change(at_ms: Millis) -> String {
        format!("{CHANGE_PREFIX}{at_ms:013}")
    }

    /// When the change under sort key `sk` was made.
    pub fn change_time(sk: &str) -> Option<Millis> {
        sk.strip_prefix(CHANGE_PREFIX)?.parse().ok()
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn change_keys_sort_in_time_order_and_read_back() {
            let (early, late) = (change(999_999_999_999), change(1_000_000_000_000));
            assert!(early < late, "{early} < {late}");
            assert_eq!(change_time(&late), Some(1_000_000_000_000));
            assert_eq!(change_time("record"), None);
            assert_eq!(incident("a"), "incident#a");
        }
    }
}

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
        status: Status,
        record_json: &str,
        now_ms: Millis,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(keys::incident(incident_id)))
            .key("sk", s(keys::RECORD))
            .update_expression("SET #status = :status, #record = :record, updated_ms = :now")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#record", "record")
            .expression_attribute_values(":status", s(status.to_string()))
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
            .item("pk", s(keys::incident(incident_id)))
            .item("sk", s(keys::RECORD))
            .item("function", s(function))
            .item("status", s(Status::Started.to_string()))
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
        status: Status,
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
        status: Status,
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
        status: Status,
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
            .key("pk", s(keys::incident(incident_id)))
            .key("sk", s(keys::RECORD))
            .update_expression(
                "SET #status = :status, #record = :record, updated_ms = :now, #version = :next, \
                 #stages = list_append(if_not_exists(#stages, :none), :stage)",
            )
            .condition_expression(condition)
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#record", "record")
            .expression_attribute_names("#version", "version")
            .expression_attribute_names("#stages", "stages")
            .expression_attribute_values(":status", s(status.to_string()))
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
            .key("pk", s(keys::incident(incident_id)))
            .key("sk", s(keys::RECORD))
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
        let status = string(item, "status");
        let status = status.parse::<Status>().map_err(|e| {
            self.err(format!(
                "incident {incident_id}: the record's {e}: refused, not guessed"
            ))
        })?;
        Ok(Some(StoredRecord {
            status,
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
            .item("pk", s(keys::lock(function)))
            .item("sk", s(keys::LOCK))
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

    /// ADD 1 to the hour's count, only while it is below `max`.
    async fn notice_slot(
        &self,
        function: &str,
        hour_ms: Millis,
        max: u32,
    ) -> Result<bool, AuditError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(keys::notices(function)))
            .key("sk", s(format!("{hour_ms:013}")))
            .update_expression("ADD #count :one SET #ttl = :ttl")
            .condition_expression("attribute_not_exists(#count) OR #count < :max")
            .expression_attribute_names("#count", "count")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(i64::from(max)))
            // Kept two days: long enough to read, no longer.
            .expression_attribute_values(":ttl", n(hour_ms / 1000 + 2 * 86_400))
            .send()
            .await;
        self.claimed(result, &format!("counting a notice on {function}"))
            .map(|c| c == Claim::Won)
    }

    /// Releases the lock if `incident_id` still holds it.
    async fn unlock(&self, function: &str, incident_id: &str) -> Result<(), AuditError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(keys::lock(function)))
            .key("sk", s(keys::LOCK))
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
        change: &RecordedChange,
    ) -> Result<(), AuditError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(keys::function(function)))
            .item("sk", s(keys::change(change.at_ms)))
            .item("incident_id", s(&change.incident_id))
            .item("from_mb", n(change.from_mb))
            .item("to_mb", n(change.to_mb))
            .item(TTL_ATTRIBUTE, self.expires_at(change.at_ms))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.err(format!("recording the change: {}", describe(&e))))
    }

    /// The change items of `function` after `since_ms` (every one the table
    /// still keeps for `None`: their TTL is the records'), page by page.
    async fn list_changes(
        &self,
        function: &str,
        since_ms: Option<Millis>,
    ) -> Result<Vec<RecordedChange>, AuditError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .expression_attribute_values(":pk", s(keys::function(function)))
            .consistent_read(true);
        let query = match since_ms {
            Some(since) => query
                .key_condition_expression("pk = :pk AND sk > :since")
                .expression_attribute_values(":since", s(keys::change(since))),
            None => query
                .key_condition_expression("pk = :pk AND begins_with(sk, :change)")
                .expression_attribute_values(":change", s(keys::CHANGE_PREFIX)),
        };
        let mut pages = query.into_paginator().send();
        let mut changes = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page
                .map_err(|e| self.err(format!("reading the change history: {}", describe(&e))))?;
            for item in page.items() {
                let number = |key: &str| {
                    item.get(key)
                        .and_then(|v| v.as_n().ok())
                        .and_then(|v| v.parse::<u32>().ok())
                };
                let (Some(at_ms), Some(from_mb), Some(to_mb)) = (
                    keys::change_time(&string(item, "sk")),
                    number("from_mb"),
                    number("to_mb"),
                ) else {
                    continue;
                };
                changes.push(RecordedChange {
                    incident_id: string(item, "incident_id"),
                    at_ms,
                    from_mb,
                    to_mb,
                });
            }
        }
        Ok(changes)
    }

    /// Every incident's record document (the run JSON), for the A/B report.
    /// A scan: the report reads the whole table, page by page.
    async fn records(&self) -> Result<Vec<String>, AuditError> {
        let mut pages = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("sk = :record")
            .expression_attribute_values(":record", s(keys::RECORD))
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

    async fn remember(&self, incident: &crate::model::PastIncident) -> Result<(), AuditError> {
        let document = serde_json::to_string(incident)
            .map_err(|e| self.err(format!("writing the past incident: {e}")))?;
        let sk = keys::past_incident(incident.at_ms, &incident.incident_id);
        // Its function's history, and its runtime's for each kind found (a
        // few: the kinds of one incident's findings).
        let partitions = std::iter::once(keys::past(&incident.function)).chain(
            incident
                .kinds
                .iter()
                .take(MAX_REMEMBERED_KINDS)
                .filter(|_| !incident.runtime.is_empty())
                .map(|kind| keys::similar(&incident.runtime, kind)),
        );
        for pk in partitions {
            self.client
                .put_item()
                .table_name(&self.table)
                .item("pk", s(pk))
                .item("sk", s(&sk))
                .item("incident", s(&document))
                .item(TTL_ATTRIBUTE, self.expires_at(incident.at_ms))
                .send()
                .await
                .map_err(|e| self.err(format!("remembering the incident: {}", describe(&e))))?;
        }
        Ok(())
    }

    async fn past_incidents(
        &self,
        function: &str,
        limit: usize,
    ) -> Result<Vec<crate::model::PastIncident>, AuditError> {
        self.newest(keys::past(function), limit).await
    }

    /// One query: every pause is an item of the `pause` partition (never
    /// expiring: a pause lasts until a person lifts it).
    async fn pauses(&self) -> Result<Vec<crate::model::Pause>, AuditError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(keys::PAUSES))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.err(format!("reading the pauses: {}", describe(&e))))?;
        out.items()
            .iter()
            .map(|item| {
                serde_json::from_str(&string(item, "pause"))
                    // An unreadable pause still pauses: fail closed.
                    .map_err(|e| self.err(format!("a pause item does not parse: {e}")))
            })
            .collect()
    }

    async fn pause(&self, pause: &crate::model::Pause) -> Result<(), AuditError> {
        let document = serde_json::to_string(pause)
            .map_err(|e| self.err(format!("writing the pause: {e}")))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(keys::PAUSES))
            .item(
                "sk",
                s(pause.function.as_deref().unwrap_or(keys::EVERY_FUNCTION)),
            )
            .item("pause", s(document))
            .send()
            .await
            .map_err(|e| self.err(format!("writing the pause: {}", describe(&e))))?;
        Ok(())
    }

    async fn resume(&self, function: Option<&str>) -> Result<bool, AuditError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(keys::PAUSES))
            .key("sk", s(function.unwrap_or(keys::EVERY_FUNCTION)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| self.err(format!("lifting the pause: {}", describe(&e))))?;
        Ok(out.attributes().is_some_and(|a| !a.is_empty()))
    }

    async fn similar_incidents(
        &self,
        runtime: &str,
        kind: &str,
        limit: usize,
    ) -> Result<Vec<crate::model::PastIncident>, AuditError> {
        self.newest(keys::similar(runtime, kind), limit).await
    }
}

/// Kinds of one incident remembered across functions, at most.
const MAX_REMEMBERED_KINDS: usize = 4;

impl DynamoAudit {
    /// The newest `limit` past incidents under partition `pk`: one query,
    /// newest first (unreadable items skipped).
    async fn newest(
        &self,
        pk: String,
        limit: usize,
    ) -> Result<Vec<crate::model::PastIncident>, AuditError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :incident)")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":incident", s(keys::INCIDENT_PREFIX))
            .scan_index_forward(false)
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| self.err(format!("reading past incidents: {}", describe(&e))))?;
        Ok(out
            .items()
            .iter()
            .filter_map(|item| serde_json::from_str(&string(item, "incident")).ok())
            .take(limit)
            .collect())
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
            .item("pk", s(keys::recommendation(&recommendation.key())))
            .item("sk", s(keys::CURRENT))
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
            .key("pk", s(keys::recommendation(function)))
            .key("sk", s(keys::CURRENT))
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
            .expression_attribute_values(":current", s(keys::CURRENT))
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

#[async_trait]
impl crate::ports::RuleFloors for DynamoAudit {
    async fn floor(&self, rule: &str) -> Result<Option<String>, crate::ports::FleetError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(keys::rule(rule)))
            .key("sk", s(keys::FLOOR))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| fleet_error("GetItem (rule floor)", describe(&e)))?;
        Ok(out.item().map(|item| string(item, "version")))
    }

    async fn set_floor(&self, rule: &str, version: &str) -> Result<(), crate::ports::FleetError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(keys::rule(rule)))
            .item("sk", s(keys::FLOOR))
            .item("version", s(version.to_owned()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| fleet_error("PutItem (rule floor)", describe(&e)))
    }
}
