//! The scenario helper of the end-to-end tests: a [`Clock`] whose verification
//! waits are traffic, so `pipeline::run` — the very sequence the CLI runs —
//! goes through a whole incident against moto in seconds. A wait as long as
//! the verification window (at least [`WINDOW`]) writes 40 invocations of every
//! registered workload, at the memory each has at that moment, then lets
//! 60 ms pass so they fall inside the window being judged; shorter waits (a
//! retry's backoff, polling an update) really sleep.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use autorepair::clock::{Clock, now_ms};
use autorepair::model::Millis;

use crate::Workload;

/// What autorepair needs in moto before it runs: the notice topic
/// (`autorepair`) and the audit table `config` names. Returns the topic's ARN.
pub async fn provision(sdk: &aws_config::SdkConfig, config: &autorepair::config::Config) -> String {
    let aws = autorepair::aws::Aws::new(sdk);
    let topic = aws
        .sns
        .create_topic()
        .name("autorepair")
        // Encrypted, as the template's topic is.
        .attributes("KmsMasterKeyId", "alias/aws/sns")
        .send()
        .await
        .expect("topic");
    autorepair::setup::audit_table(&aws, config)
        .ensure_table()
        .await
        .expect("audit table");
    topic.topic_arn().expect("a topic ARN").to_owned()
}

/// The verification window tests pass in `Options::verify_after`.
pub const WINDOW: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct TrafficClock {
    workloads: Mutex<Vec<Arc<Workload>>>,
}

impl TrafficClock {
    pub fn add(&self, workload: Arc<Workload>) {
        self.workloads.lock().expect("workloads").push(workload);
    }
}

#[async_trait::async_trait]
impl Clock for TrafficClock {
    fn now_ms(&self) -> Millis {
        now_ms()
    }

    async fn sleep(&self, duration: Duration) {
        if duration < WINDOW {
            return tokio::time::sleep(duration).await;
        }
        let from = now_ms();
        let workloads = self.workloads.lock().expect("workloads").clone();
        for w in workloads {
            w.invocations(40, from + 1, from + 40)
                .await
                .expect("traffic written to moto");
        }
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
}
