//! Recent changes to a function from CloudTrail's event history
//! (LookupEvents by resource name): who deployed code, changed the
//! configuration, published a version or moved an alias, and when.

use async_trait::async_trait;
use aws_sdk_cloudtrail::primitives::DateTime;
use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};

use super::describe;
use crate::model::{FunctionChange, Window};
use crate::ports::{ChangeLog, GroundingError};

/// The management events that change what a function runs or how.
const ACTIONS: [&str; 4] = [
    "UpdateFunctionCode",
    "UpdateFunctionConfiguration",
    "PublishVersion",
    "UpdateAlias",
];
/// Pages read at most (50 events each): LookupEvents allows 2 calls a
/// second per account and region, and a day of one function's events
/// rarely fills one.
const MAX_PAGES: usize = 4;

#[derive(Debug, Clone)]
pub struct CloudTrail {
    client: aws_sdk_cloudtrail::Client,
}

impl CloudTrail {
    pub fn new(client: aws_sdk_cloudtrail::Client) -> CloudTrail {
        CloudTrail { client }
    }
}

/// `UpdateFunctionCode20150331v2` → `UpdateFunctionCode`: CloudTrail names
/// Lambda's actions with their API version.
pub fn action(event_name: &str) -> Option<&'static str> {
    ACTIONS.iter().copied().find(|a| {
        event_name
            .strip_prefix(a)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(|c: char| c.is_ascii_digit()))
    })
}

#[async_trait]
impl ChangeLog for CloudTrail {
    async fn changes(
        &self,
        function: &str,
        window: Window,
    ) -> Result<Vec<FunctionChange>, GroundingError> {
        let attribute = LookupAttribute::builder()
            .attribute_key(LookupAttributeKey::ResourceName)
            .attribute_value(function)
            .build()
            .map_err(|e| GroundingError(format!("building the lookup: {e}")))?;
        let mut changes = Vec::new();
        let mut next: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let out = self
                .client
                .lookup_events()
                .lookup_attributes(attribute.clone())
                .start_time(DateTime::from_millis(window.start_ms))
                .end_time(DateTime::from_millis(window.end_ms))
                .max_results(50)
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| {
                    GroundingError(format!("CloudTrail LookupEvents: {}", describe(&e)))
                })?;
            for event in out.events() {
                let Some(action) = event.event_name().and_then(action) else {
                    continue;
                };
                let detail: serde_json::Value = event
                    .cloud_trail_event()
                    .and_then(|d| serde_json::from_str(d).ok())
                    .unwrap_or_default();
                changes.push(FunctionChange {
                    action: action.to_owned(),
                    at_ms: event.event_time().map_or(0, |t| t.to_millis().unwrap_or(0)),
                    by: event.username().unwrap_or_default().to_owned(),
                    request_id: detail["requestID"].as_str().unwrap_or_default().to_owned(),
                });
            }
            match out.next_token() {
                Some(token) if !token.is_empty() => next = Some(token.to_owned()),
                _ => break,
            }
        }
        changes.sort_by_key(|c| std::cmp::Reverse(c.at_ms));
        Ok(changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_event_names_lose_their_api_version() {
        assert_eq!(
            action("UpdateFunctionCode20150331v2"),
            Some("UpdateFunctionCode")
        );
        assert_eq!(
            action("UpdateFunctionConfiguration20150331v2"),
            Some("UpdateFunctionConfiguration")
        );
        assert_eq!(action("PublishVersion20150331"), Some("PublishVersion"));
        assert_eq!(action("UpdateAlias20150331"), Some("UpdateAlias"));
        assert_eq!(action("UpdateFunctionCode"), Some("UpdateFunctionCode"));
        assert_eq!(action("GetFunction20150331v2"), None);
        assert_eq!(action("UpdateFunctionCodeSigningConfig"), None);
    }
}
