//! infrastructure/template.yaml created in moto's CloudFormation: transformed
//! by aws-sam-translator (the library SAM and CloudFormation's own
//! AWS::Serverless transform use) and created by CreateStack, through
//! tests/moto/sam_transform.py, which says what it adapts and why.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::Moto;

/// Where `sam package` would have put the functions' code: a placeholder
/// object (the tests serve the real bootstrap themselves).
pub const CODE_URI: &str = "s3://autorepair-code/bootstrap.zip";

/// A created stack, as DescribeStacks and ListStackResources give it.
#[derive(Debug)]
pub struct Stack {
    pub status: String,
    pub reason: Option<String>,
    pub outputs: BTreeMap<String, String>,
    pub resources: Vec<Resource>,
    /// The template as created (after the transform).
    pub template: Value,
}

#[derive(Debug, Clone)]
pub struct Resource {
    /// Empty for a resource moto's CloudFormation could not create.
    pub logical: String,
    pub kind: String,
    pub physical: String,
}

fn infrastructure() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../infrastructure")
}

/// Creates stack `name` from the template with `parameters` in `moto`.
pub fn create(moto: &Moto, name: &str, parameters: &[(&str, &str)]) -> Stack {
    let mut command = Command::new(crate::moto::python());
    command
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("moto/sam_transform.py"))
        .arg(infrastructure().join("template.yaml"))
        .args(["--code-uri", CODE_URI, "--create", name])
        .args(["--endpoint", &moto.endpoint]);
    for (key, value) in parameters {
        command.arg("--parameter").arg(format!("{key}={value}"));
    }
    let out = command.output().expect("run tests/moto/sam_transform.py");
    assert!(
        out.status.success(),
        "sam_transform.py failed (tests/setup.sh installs aws-sam-translator): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Value = serde_json::from_slice(&out.stdout).expect("the stack as JSON");
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    Stack {
        status: text(&created["status"]),
        reason: created["reason"].as_str().map(str::to_owned),
        outputs: created["outputs"]
            .as_object()
            .map(|o| o.iter().map(|(k, v)| (k.clone(), text(v))).collect())
            .unwrap_or_default(),
        resources: created["resources"]
            .as_array()
            .map(|rs| {
                rs.iter()
                    .map(|r| Resource {
                        logical: text(&r["logical"]),
                        kind: text(&r["type"]),
                        physical: text(&r["physical"]),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        template: created["template"].clone(),
    }
}

impl Stack {
    /// The template's resources moto did not create (logical id → type),
    /// leaving out those under a condition in `false_conditions`. moto lists
    /// a type it cannot create with neither logical id nor type (and some it
    /// creates, permissions, without a physical id).
    pub fn not_created(&self, false_conditions: &[&str]) -> BTreeMap<String, String> {
        let created: BTreeSet<&str> = self.resources.iter().map(|r| r.logical.as_str()).collect();
        self.template["Resources"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, r)| {
                r["Condition"]
                    .as_str()
                    .is_none_or(|c| !false_conditions.contains(&c))
            })
            .filter(|(id, _)| !created.contains(id.as_str()))
            .map(|(id, r)| {
                (
                    id.clone(),
                    r["Type"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// The physical id of `logical`.
    pub fn physical(&self, logical: &str) -> Option<&str> {
        self.resources
            .iter()
            .find(|r| r.logical == logical)
            .map(|r| r.physical.as_str())
    }
}
