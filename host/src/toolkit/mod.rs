//! The rule author's toolkit behind `autorepair rule …`: a new rule crate
//! (`scaffold`), its build for wasm32-wasip2 (`build`), runs in the production
//! sandbox with expectations (`check`), and a look inside a component
//! (`inspect`), keys and signatures for sharing rules (`keys`, over the
//! minisign primitives and trust decision in [`crate::trust`]), and the
//! configured rules loaded as the command line loads them (`load`).

pub mod build;
pub mod inspect;
pub mod keys;
pub mod load;
pub mod rule_test;
pub mod scaffold;

use std::path::Path;
use std::sync::Arc;

use crate::rules::{Origin, artifacts};

/// A rule named on the command line: a component file, or a bundled rule's name.
pub fn rule_bytes(rule: &str) -> Result<(Origin, Arc<[u8]>), String> {
    if let Some((_, bytes)) = artifacts::BUNDLED.iter().find(|(n, _)| *n == rule)
        && !Path::new(rule).exists()
    {
        return Ok((Origin::Bundled, Arc::from(*bytes)));
    }
    match std::fs::read(rule) {
        Ok(bytes) => Ok((Origin::External(rule.to_owned()), Arc::from(bytes))),
        Err(e) => {
            let bundled: Vec<&str> = artifacts::BUNDLED.iter().map(|(n, _)| *n).collect();
            Err(format!(
                "cannot read {rule}: {e} (a component file, or a bundled rule: {})",
                bundled.join(", ")
            ))
        }
    }
}
