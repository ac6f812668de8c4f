//! [`Notifier`] on SNS. The message is SNS's JSON structure: readable text for
//! email and SMS, the JSON record for machines (SQS, Lambda), and for HTTPS
//! subscribers the record or an AWS Chatbot card.

use async_trait::async_trait;

use super::describe;
use crate::model::NoticeAttributes;
use crate::notify::{HttpsNotices, chatbot_card, sns_message, subject};
use crate::ports::{Notifier, NotifyError};
use aws_sdk_sns::types::MessageAttributeValue;

#[derive(Debug, Clone)]
pub struct Sns {
    client: aws_sdk_sns::Client,
    topic_arn: String,
    https: HttpsNotices,
}

impl Sns {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Sns {
        Sns {
            client,
            topic_arn: topic_arn.into(),
            https: HttpsNotices::Record,
        }
    }

    /// What HTTPS subscribers get (`[run] https_notices`).
    pub fn with_https(mut self, https: HttpsNotices) -> Sns {
        self.https = https;
        self
    }
}

#[async_trait]
impl Notifier for Sns {
    async fn publish(
        &self,
        subject_text: &str,
        readable: &str,
        record_json: &str,
        attributes: &NoticeAttributes,
    ) -> Result<String, NotifyError> {
        let card;
        let https = match self.https {
            HttpsNotices::Record => record_json,
            HttpsNotices::Chatbot => {
                card = chatbot_card(subject_text, readable, attributes);
                card.as_str()
            }
        };
        let message = sns_message(readable, record_json, https);
        let mut publish = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(subject(subject_text))
            .message_structure("json")
            .message(message);
        // For subscription filter policies: route by status, severity,
        // function, stack.
        for (name, value) in attributes.pairs() {
            let value = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| NotifyError(format!("message attribute {name}: {e}")))?;
            publish = publish.message_attributes(name, value);
        }
        publish
            .send()
            .await
            .map(|out| out.message_id().unwrap_or_default().to_owned())
            .map_err(|e| NotifyError(describe(&e)))
    }
}
