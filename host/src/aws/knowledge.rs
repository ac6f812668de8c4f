//! Passages from an Amazon Bedrock knowledge base (the team's runbooks and
//! post-mortems, synced from S3) for the AI's prompt: Retrieve with the
//! incident's query, the top passages and their sources.

use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_bedrockagentruntime::types::{
    KnowledgeBaseQuery, KnowledgeBaseRetrievalConfiguration,
    KnowledgeBaseVectorSearchConfiguration, RetrievalResultLocation,
};

use super::describe;
use crate::config::AiConfig;
use crate::ports::{GroundingError, Knowledge, Passage};

#[derive(Debug, Clone)]
pub struct KnowledgeBase {
    client: aws_sdk_bedrockagentruntime::Client,
    id: String,
}

impl KnowledgeBase {
    /// The knowledge base `[ai] knowledge_base_id` names, in the `[ai]`
    /// section's region (`AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME` points it
    /// elsewhere). Bounded by a few seconds: the prompt goes without it
    /// rather than waiting.
    pub fn new(sdk: &SdkConfig, config: &AiConfig, id: &str) -> KnowledgeBase {
        let mut builder = aws_sdk_bedrockagentruntime::config::Builder::from(sdk).timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(5))
                .connect_timeout(Duration::from_secs(3))
                .build(),
        );
        if let Some(region) = &config.region {
            builder = builder.region(aws_config::Region::new(region.clone()));
        }
        KnowledgeBase {
            client: aws_sdk_bedrockagentruntime::Client::from_conf(builder.build()),
            id: id.to_owned(),
        }
    }
}

#[async_trait]
impl Knowledge for KnowledgeBase {
    async fn retrieve(&self, query: &str, max: usize) -> Result<Vec<Passage>, GroundingError> {
        let out = self
            .client
            .retrieve()
            .knowledge_base_id(&self.id)
            .retrieval_query(KnowledgeBaseQuery::builder().text(query).build())
            .retrieval_configuration(
                KnowledgeBaseRetrievalConfiguration::builder()
                    .vector_search_configuration(
                        KnowledgeBaseVectorSearchConfiguration::builder()
                            .number_of_results(i32::try_from(max.max(1)).unwrap_or(10))
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .map_err(|e| GroundingError(format!("Retrieve from {}: {}", self.id, describe(&e))))?;
        Ok(out
            .retrieval_results()
            .iter()
            .filter_map(|r| {
                let text = r.content()?.text().to_owned();
                Some(Passage {
                    text,
                    source: r.location().map(source).unwrap_or_else(|| "unknown".into()),
                    score: r.score().unwrap_or(0.0),
                })
            })
            .take(max)
            .collect())
    }
}

/// Where a passage came from, as the AI cites it.
fn source(location: &RetrievalResultLocation) -> String {
    location
        .s3_location()
        .and_then(|l| l.uri())
        .or_else(|| location.web_location().and_then(|l| l.url()))
        .or_else(|| location.confluence_location().and_then(|l| l.url()))
        .or_else(|| location.share_point_location().and_then(|l| l.url()))
        .unwrap_or(location.r#type().as_str())
        .to_owned()
}
