//! [`Members`] on AWS: each member account reached through the role it gives
//! the central host (infrastructure/member.yaml), with STS AssumeRole and
//! the external id. The SDK's credentials cache keeps each role's session
//! for its lifetime and renews it before it expires; the clients are built
//! once per account, region and role, paced to `[limits]` per account.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::provider::SharedCredentialsProvider;

use super::Aws;
use crate::config::OrganizationConfig;
use crate::incident::MemberAccount;
use crate::ports::{Access, MemberPorts, Members};

/// The member accounts of `[organization]`, through their roles.
pub struct AssumedRoles {
    sdk: SdkConfig,
    organization: OrganizationConfig,
    limits: crate::config::LimitsConfig,
    recent_changes: bool,
    reached: Mutex<HashMap<(MemberAccount, Access), MemberPorts>>,
}

impl AssumedRoles {
    /// `sdk` is the host's own (its credentials assume the member roles);
    /// each member account's clients keep to `limits` of their own (the
    /// account's quotas are its own).
    pub fn new(sdk: &SdkConfig, config: &crate::config::Config) -> Self {
        AssumedRoles {
            sdk: sdk.clone(),
            organization: config.organization.clone(),
            limits: config.limits.clone(),
            recent_changes: config.run.recent_changes,
            reached: Mutex::new(HashMap::new()),
        }
    }

    /// The role `access` needs in `member`'s account.
    pub fn role_arn(&self, member: &MemberAccount, access: Access) -> String {
        let name = match access {
            Access::Read => self.organization.reading_role(),
            Access::Act => self.organization.acting_role(),
        };
        // The member's partition is its region's (an organisation does not
        // span partitions).
        let partition = match member.region.as_str() {
            r if r.starts_with("cn-") => "aws-cn",
            r if r.starts_with("us-gov-") => "aws-us-gov",
            _ => "aws",
        };
        format!("arn:{partition}:iam::{}:role/{name}", member.account)
    }
}

#[async_trait]
impl Members for AssumedRoles {
    async fn reach(&self, member: &MemberAccount, access: Access) -> Result<MemberPorts, String> {
        if !self.organization.accounts.contains(&member.account) {
            return Err(format!("account {} is not enrolled", member.account));
        }
        let key = (member.clone(), access);
        if let Some(ports) = self
            .reached
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(ports.clone());
        }
        let region = aws_config::Region::new(member.region.clone());
        let mut role = AssumeRoleProvider::builder(self.role_arn(member, access))
            .session_name("autorepair")
            .region(region.clone())
            .configure(&self.sdk);
        if let Some(id) = &self.organization.external_id {
            role = role.external_id(id);
        }
        let credentials = role.build().await;
        let sdk = self
            .sdk
            .to_builder()
            .region(region)
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .build();
        let aws = Aws::new(&sdk).with_limits(&self.limits);
        let ports = MemberPorts {
            functions: Arc::new(super::lambda::Lambda::new(aws.lambda.clone())),
            telemetry: Arc::new(super::telemetry::CloudWatch::new(
                aws.cloudwatch.clone(),
                aws.logs.clone(),
            )),
            alarms: Arc::new(super::alarms::Alarms::new(aws.cloudwatch.clone())),
            alarm_store: Arc::new(super::alarms::Alarms::new(aws.cloudwatch.clone())),
            // One ListTags a function: the tagging API's listing is the
            // account's, and the opt-in filter is applied by the caller.
            inventory: Arc::new(super::inventory::LambdaInventory::new(
                aws.lambda.clone(),
                super::inventory::Tags::ListTags,
            )),
            changes: self.recent_changes.then(|| {
                Arc::new(super::cloudtrail::CloudTrail::new(
                    aws_sdk_cloudtrail::Client::new(&sdk),
                )) as _
            }),
        };
        self.reached
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, ports.clone());
        Ok(ports)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_access_assumes_its_own_role_in_the_members_partition() {
        let mut config = crate::config::Config::default();
        config.organization.accounts = vec!["111111111111".into()];
        config.organization.reading_role = Some("autorepair-prod-member-read".into());
        let sdk = SdkConfig::builder().build();
        let roles = AssumedRoles::new(&sdk, &config);
        let member = |region: &str| MemberAccount {
            account: "111111111111".into(),
            region: region.into(),
        };
        assert_eq!(
            roles.role_arn(&member("eu-west-1"), Access::Read),
            "arn:aws:iam::111111111111:role/autorepair-prod-member-read"
        );
        assert_eq!(
            roles.role_arn(&member("cn-north-1"), Access::Act),
            "arn:aws-cn:iam::111111111111:role/autorepair-member-act"
        );
        assert!(
            roles
                .role_arn(&member("us-gov-west-1"), Access::Act)
                .starts_with("arn:aws-us-gov:")
        );
    }

    #[tokio::test]
    async fn an_account_not_enrolled_is_never_assumed() {
        let mut config = crate::config::Config::default();
        config.organization.accounts = vec!["111111111111".into()];
        let roles = AssumedRoles::new(&SdkConfig::builder().build(), &config);
        let stranger = MemberAccount {
            account: "222222222222".into(),
            region: "eu-west-1".into(),
        };
        let e = roles.reach(&stranger, Access::Read).await.err().unwrap();
        assert!(e.contains("222222222222 is not enrolled"), "{e}");
    }
}
