//! A stand-in for Amazon Bedrock Knowledge Bases' Retrieve API on 127.0.0.1
//! (`POST /knowledgebases/{id}/retrieve`, REST-JSON): it answers with the
//! passages it was given, in the wire shape of the service, and records the
//! queries. No emulator serves Knowledge Bases; this is an in-process fake,
//! named as such.

use serde_json::{Value, json};

use crate::scripted::{Received, Reply, Scripted};

/// One passage as a knowledge base returns it.
pub fn passage(text: &str, uri: &str, score: f64) -> Value {
    json!({
        "content": { "text": text, "type": "TEXT" },
        "location": { "type": "S3", "s3Location": { "uri": uri } },
        "score": score,
        "metadata": { "x-amz-bedrock-kb-source-uri": uri }
    })
}

/// The answer to a Retrieve: `passages`, best first.
pub fn results(passages: Vec<Value>) -> Reply {
    Reply::ok(json!({ "retrievalResults": passages }))
}

/// An AWS error, e.g. 403 AccessDeniedException or 404 ResourceNotFoundException.
pub fn error(status: u16, error_type: &'static str, message: &str) -> Reply {
    Reply {
        status,
        error_type: Some(error_type),
        ..Reply::ok(json!({ "message": message }))
    }
}

pub struct KnowledgeBaseStandIn {
    pub endpoint: String,
    server: Scripted,
}

impl KnowledgeBaseStandIn {
    /// Serves `script` in order; once it runs out, the last reply repeats.
    pub fn start(script: Vec<Reply>) -> KnowledgeBaseStandIn {
        let server = Scripted::start(
            |r| {
                r.method == "POST"
                    && r.path.starts_with("/knowledgebases/")
                    && r.path.ends_with("/retrieve")
            },
            script,
            error(404, "UnknownOperationException", "not a Retrieve request"),
        );
        KnowledgeBaseStandIn {
            endpoint: server.endpoint.clone(),
            server,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.server.received()
    }
}
