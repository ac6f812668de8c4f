//! [`Workflow`] on Step Functions: an approval's answer resumes the waiting
//! task; [`Executions`]: a stage call is checked against its execution.

use async_trait::async_trait;

use super::describe;
use crate::ports::{ExecutionRecord, Executions, FleetError, Workflow};

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

#[async_trait]
impl Executions for StepFunctions {
    async fn execution(&self, arn: &str) -> Result<Option<ExecutionRecord>, FleetError> {
        match self
            .client
            .describe_execution()
            .execution_arn(arn)
            .send()
            .await
        {
            Ok(out) => Ok(Some(ExecutionRecord {
                state_machine_arn: out.state_machine_arn().to_owned(),
                status: out.status().as_str().to_owned(),
            })),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_execution_does_not_exist() || s.is_invalid_arn()) =>
            {
                Ok(None)
            }
            Err(e) => Err(FleetError {
                what: format!("DescribeExecution {arn}"),
                message: describe(&e),
            }),
        }
    }
}
