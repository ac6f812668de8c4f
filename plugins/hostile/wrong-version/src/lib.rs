//! Hostile test plugin: targets autorepair:rules@1.0.0, which a 0.1 host must refuse.
wit_bindgen::generate!({ world: "rule-plugin", path: "wit" });

struct Future;

impl exports::autorepair::rules::rule::Guest for Future {
    fn describe() -> String {
        "wrong-version".into()
    }

    fn evaluate(evidence: Vec<u8>) -> Vec<String> {
        vec![format!("{} bytes", evidence.len())]
    }
}

export!(Future);
