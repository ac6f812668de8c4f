//! [`Workflow`] on Step Functions: an approval's answer resumes the waiting task.

use async_trait::async_trait;

use super::describe;
use crate::ports::{FleetError, Workflow};

#[derive(Debug, Clone)]
pub struct StepFunctions {
    client: aws_sdk_sfn::Client,
}

impl StepFunctions {
    pub fn new(sdk: &aws_config::SdkConfig) -> StepFunctions {
        StepFunctions {
            client: aws_sdk_sfn::Client::new(sdk),
        }
    }
}

#[async_trait]
impl Workflow for StepFunctions {
    async fn resume(&self, token: &str, output: &str) -> Result<(), FleetError> {
        self.client
            .send_task_success()
            .task_token(token)
            .output(output)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| FleetError {
                what: "SendTaskSuccess".into(),
                message: describe(&e),
            })
    }
}
