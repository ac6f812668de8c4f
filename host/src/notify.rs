//! Stage 8 (notify): one SNS message per terminal state. The message is SNS's
//! JSON structure: readable text for email and SMS, the JSON record for
//! machines (SQS, Lambda, HTTPS subscribers).

use crate::aws::{Aws, describe};

/// SNS subjects: ASCII, no line breaks, at most 100 characters.
pub fn subject(text: &str) -> String {
    let ascii: String = text
        .chars()
        .map(|c| match c {
            '→' => '>',
            c if c.is_ascii() && !c.is_ascii_control() => c,
            _ => ' ',
        })
        .collect();
    ascii.chars().take(100).collect()
}

pub async fn publish(
    aws: &Aws,
    topic_arn: &str,
    subject_text: &str,
    readable: &str,
    record_json: &str,
) -> Result<String, String> {
    let message = serde_json::json!({
        "default": readable,
        "email": readable,
        "sqs": record_json,
        "lambda": record_json,
        "https": record_json,
    });
    aws.sns
        .publish()
        .topic_arn(topic_arn)
        .subject(subject(subject_text))
        .message_structure("json")
        .message(message.to_string())
        .send()
        .await
        .map(|out| out.message_id().unwrap_or_default().to_owned())
        .map_err(|e| describe(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_ascii_single_line_and_short() {
        let s = subject(&format!(
            "orders-api repaired 512 → 768 MB\n{}",
            "x".repeat(200)
        ));
        assert!(s.starts_with("orders-api repaired 512 > 768 MB "));
        assert!(s.is_ascii() && !s.contains('\n'));
        assert_eq!(s.chars().count(), 100);
    }
}
