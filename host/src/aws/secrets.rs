//! An OpenAI-compatible server's API key from AWS Secrets Manager: read on
//! the first model call and kept for the process's life (a Lambda
//! container's), so a cold start pays one GetSecretValue and a warm one none.

use async_trait::async_trait;
use tokio::sync::OnceCell;

use super::describe;
use crate::openai::ApiKey;

pub struct SecretKey {
    client: aws_sdk_secretsmanager::Client,
    id: String,
    key: OnceCell<String>,
}

impl SecretKey {
    /// The secret `id` (a name or an ARN): its string value, or the
    /// `api_key` field when the value is a JSON object (the console's
    /// key/value form).
    pub fn new(client: aws_sdk_secretsmanager::Client, id: &str) -> SecretKey {
        SecretKey {
            client,
            id: id.to_owned(),
            key: OnceCell::new(),
        }
    }
}

#[async_trait]
impl ApiKey for SecretKey {
    async fn key(&self) -> Result<String, String> {
        self.key
            .get_or_try_init(|| async {
                let out = self
                    .client
                    .get_secret_value()
                    .secret_id(&self.id)
                    .send()
                    .await
                    .map_err(|e| {
                        format!(
                            "reading the API key from secret {}: {}",
                            self.id,
                            describe(&e)
                        )
                    })?;
                let value = out.secret_string().unwrap_or_default().trim();
                Ok(match serde_json::from_str::<serde_json::Value>(value) {
                    Ok(serde_json::Value::Object(fields)) => fields
                        .get("api_key")
                        .and_then(|v| v.as_str())
                        .ok_or_else(|| {
                            format!(
                                "secret {} is a JSON object without an \"api_key\" string",
                                self.id
                            )
                        })?
                        .to_owned(),
                    _ => value.to_owned(),
                })
            })
            .await
            .cloned()
    }
}
