//! A central host and one member account, through the ports: the member's
//! Lambda, telemetry and alarms are twins of their own, reached through a
//! `Members` twin that counts which role each stage asked for.

use std::sync::Mutex;

use super::*;
use crate::incident::MemberAccount;
use crate::ports::{Access, MemberPorts, Members};

const MEMBER: &str = "111111111111";

/// The member account: its ports, and the roles asked for.
struct OneMember {
    ports: MemberPorts,
    reached: Mutex<Vec<(MemberAccount, Access)>>,
}

#[async_trait::async_trait]
impl Members for OneMember {
    async fn reach(&self, member: &MemberAccount, access: Access) -> Result<MemberPorts, String> {
        if member.account != MEMBER {
            return Err(format!("account {} is not enrolled", member.account));
        }
        self.reached.lock().unwrap().push((member.clone(), access));
        Ok(self.ports.clone())
    }
}

fn member_event(account: &str, at: Millis) -> Value {
    let mut event = alarm_event("orders-errors", "orders", None, "ALARM", at);
    event["account"] = account.into();
    event["resources"] = serde_json::json!([format!(
        "arn:aws:cloudwatch:us-east-1:{account}:alarm:orders-errors"
    )]);
    event
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_accounts_function_is_read_and_changed_through_its_roles_only() {
    let mut w = World::with(|c| {
        c.organization.accounts = vec![MEMBER.into()];
        c.organization.external_id = Some("x-1".into());
    });
    // The same name at home, which nothing may touch.
    w.oom("orders");
    let lambda = Arc::new(crate::testing::ports::MemoryLambda::default());
    let telemetry = Arc::new(crate::testing::ports::MemoryTelemetry::default());
    let alarms = Arc::new(AlarmStates::default());
    lambda.add("orders", 256, true);
    let t = traffic(
        Behaviour::NeedsMemory { need_mb: 350 },
        256,
        80,
        T0 - 600_000,
        T0 - 1_000,
        0,
    );
    for (at, line) in t.lines {
        telemetry.log("/aws/lambda/orders", at, line);
    }
    let member = Arc::new(OneMember {
        ports: MemberPorts {
            functions: lambda.clone(),
            telemetry: telemetry.clone(),
            alarms: alarms.clone(),
            alarm_store: Arc::new(crate::testing::ports::MemoryAlarms::default()),
            changes: None,
            inventory: lambda.clone(),
        },
        reached: Mutex::new(Vec::new()),
    });
    w.ctx.members = Some(member.clone());

    let event = member_event(MEMBER, T0);
    alarms.raise(&event);
    let run = run(&w.ctx, &event, w.options()).await.unwrap();
    assert_eq!(
        run.incident.member.as_ref().map(|m| m.account.as_str()),
        Some(MEMBER)
    );
    assert_eq!(
        run.change.as_ref().map(|c| c.new_memory_mb),
        Some(384),
        "{run:#?}"
    );
    assert_eq!(
        lambda.memory_mb("orders"),
        Some(384),
        "changed in the member"
    );
    assert_eq!(
        w.lambda.memory_mb("orders"),
        Some(256),
        "the home one untouched"
    );
    // Both roles were asked for; the change is on record under the
    // member's key, not the name the home function has.
    let reached = member.reached.lock().unwrap().clone();
    assert!(reached.iter().any(|(_, a)| *a == Access::Read));
    assert!(reached.iter().any(|(_, a)| *a == Access::Act));
    let keys: Vec<String> = w
        .audit
        .changes()
        .iter()
        .map(|c| c.function.clone())
        .collect();
    assert_eq!(keys, [format!("{MEMBER}/us-east-1/orders")]);

    // An alarm of an account not enrolled: refused at parse, nothing asked.
    let before = member.reached.lock().unwrap().len();
    let stranger = member_event("222222222222", T0);
    let e = run_refused(&w, &stranger).await;
    assert!(e.contains("222222222222, which is not enrolled"), "{e}");
    assert_eq!(member.reached.lock().unwrap().len(), before);
}

async fn run_refused(w: &World, event: &Value) -> String {
    match run(&w.ctx, event, w.options()).await {
        Ok(run) => panic!("not refused: {run:#?}"),
        Err(e) => e.to_string(),
    }
}
