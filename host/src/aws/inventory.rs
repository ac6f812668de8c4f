//! [`Inventory`] on Lambda: ListFunctions for every function's size, timeout
//! and layers, and the opted-in functions' tags — from the Resource Groups
//! Tagging API (GetResources, 100 tagged functions a page, filtered by the
//! opt-in tag on the service's side) or, where that API does not serve
//! Lambda (local emulators), from ListTags per function.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_resourcegroupstagging::types::TagFilter;

use super::describe;
use crate::model::FleetFunction;
use crate::ports::{FleetError, Inventory};

/// ListTags calls in flight at once (Lambda's control-plane quota is about
/// 15 a second; the SDK's retries absorb a throttle).
const TAG_READS: usize = 8;

/// Where the tags come from.
#[derive(Debug, Clone)]
pub enum Tags {
    /// GetResources for functions tagged `key` = `value`.
    TaggingApi {
        client: aws_sdk_resourcegroupstagging::Client,
        key: String,
        value: String,
    },
    /// ListTags for every function.
    ListTags,
}

#[derive(Debug, Clone)]
pub struct LambdaInventory {
    lambda: aws_sdk_lambda::Client,
    tags: Tags,
}

impl LambdaInventory {
    pub fn new(lambda: aws_sdk_lambda::Client, tags: Tags) -> LambdaInventory {
        LambdaInventory { lambda, tags }
    }

    async fn list(&self) -> Result<Vec<(String, FleetFunction)>, FleetError> {
        let mut pages = self.lambda.list_functions().into_paginator().send();
        let mut listed = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| FleetError {
                what: "ListFunctions".into(),
                message: describe(&e),
            })?;
            for f in page.functions() {
                listed.push((
                    f.function_arn().unwrap_or_default().to_owned(),
                    FleetFunction {
                        name: f.function_name().unwrap_or_default().to_owned(),
                        memory_mb: f.memory_size().unwrap_or(128).max(0) as u32,
                        timeout_s: f.timeout().unwrap_or(3).max(0) as u32,
                        tags: BTreeMap::new(),
                        layers: f
                            .layers()
                            .iter()
                            .filter_map(|l| l.arn().map(str::to_owned))
                            .collect(),
                    },
                ));
            }
        }
        Ok(listed)
    }

    /// The tags of every function carrying `key` = `value`, by ARN.
    async fn tagged(
        client: &aws_sdk_resourcegroupstagging::Client,
        key: &str,
        value: &str,
    ) -> Result<HashMap<String, BTreeMap<String, String>>, FleetError> {
        let mut tagged = HashMap::new();
        let mut token: Option<String> = None;
        loop {
            let out = client
                .get_resources()
                .resource_type_filters("lambda:function")
                .tag_filters(TagFilter::builder().key(key).values(value).build())
                .resources_per_page(100)
                .set_pagination_token(token.take())
                .send()
                .await
                .map_err(|e| FleetError {
                    what: "tag:GetResources".into(),
                    message: describe(&e),
                })?;
            for mapping in out.resource_tag_mapping_list() {
                let Some(arn) = mapping.resource_arn() else {
                    continue;
                };
                let tags = mapping
                    .tags()
                    .iter()
                    .map(|t| (t.key().to_owned(), t.value().to_owned()))
                    .collect();
                tagged.insert(arn.to_owned(), tags);
            }
            match out.pagination_token().filter(|t| !t.is_empty()) {
                Some(next) => token = Some(next.to_owned()),
                None => break,
            }
        }
        Ok(tagged)
    }
}

#[async_trait]
impl Inventory for LambdaInventory {
    async fn functions(&self) -> Result<Vec<FleetFunction>, FleetError> {
        use futures_util::StreamExt;
        let listed = self.list().await?;
        match &self.tags {
            Tags::TaggingApi { client, key, value } => {
                let mut tagged = Self::tagged(client, key, value).await?;
                Ok(listed
                    .into_iter()
                    .map(|(arn, mut f)| {
                        f.tags = tagged.remove(&arn).unwrap_or_default();
                        f
                    })
                    .collect())
            }
            // A function whose tags cannot be read fails the listing: read
            // as "not opted in", its alarms would be deleted.
            Tags::ListTags => futures_util::stream::iter(listed)
                .map(|(arn, mut f)| async move {
                    let out = self
                        .lambda
                        .list_tags()
                        .resource(&arn)
                        .send()
                        .await
                        .map_err(|e| FleetError {
                            what: format!("ListTags {}", f.name),
                            message: describe(&e),
                        })?;
                    f.tags = out
                        .tags()
                        .cloned()
                        .unwrap_or_default()
                        .into_iter()
                        .collect();
                    Ok(f)
                })
                .buffered(TAG_READS)
                .collect::<Vec<Result<FleetFunction, FleetError>>>()
                .await
                .into_iter()
                .collect(),
        }
    }
}
