//! Functions deployed from source: where their memory is written, so a change
//! autorepair makes can be carried into the template before the next deploy
//! undoes it. A pure step over the function's tags (the incident's execute
//! and the fleet's sweep both ask it).

use std::collections::BTreeMap;

use crate::config::IacConfig;
use crate::model::SourceChange;

/// The tags CloudFormation puts on every resource of a stack (SAM's too).
pub const STACK_TAG: &str = "aws:cloudformation:stack-name";
pub const LOGICAL_ID_TAG: &str = "aws:cloudformation:logical-id";

/// What to change in source to keep `memory_mb`, when the tags say where the
/// function comes from: its CloudFormation stack, or Terraform (the
/// configured tag). `None` for a function managed by hand.
pub fn change(
    tags: &BTreeMap<String, String>,
    memory_mb: u32,
    iac: &IacConfig,
) -> Option<SourceChange> {
    if let Some(stack) = tags.get(STACK_TAG).filter(|s| !s.is_empty()) {
        return Some(SourceChange::Cloudformation {
            stack: stack.clone(),
            logical_id: tags.get(LOGICAL_ID_TAG).cloned().unwrap_or_default(),
            memory_mb,
        });
    }
    let (key, value) = iac.terraform_tag.split_once('=')?;
    if tags
        .get(key.trim())
        .is_some_and(|v| v.eq_ignore_ascii_case(value.trim()))
    {
        return Some(SourceChange::Terraform {
            address: tags
                .get(&iac.terraform_address_tag)
                .cloned()
                .unwrap_or_default(),
            memory_mb,
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_stack_member_gets_its_logical_id_and_memory_size() {
        let c = change(
            &tags(&[
                (STACK_TAG, "orders-prod"),
                (LOGICAL_ID_TAG, "OrdersFunction"),
            ]),
            1024,
            &IacConfig::default(),
        )
        .unwrap();
        assert_eq!(
            c.to_string(),
            "in stack orders-prod's template set Resources.OrdersFunction.Properties.MemorySize: 1024"
        );
    }

    #[test]
    fn terraform_by_the_configured_tag_with_its_address() {
        let iac = IacConfig::default();
        let c = change(
            &tags(&[
                ("managed-by", "Terraform"),
                ("terraform:address", "aws_lambda_function.orders"),
            ]),
            768,
            &iac,
        )
        .unwrap();
        assert_eq!(
            c.to_string(),
            "in Terraform, set memory_size = 768 on aws_lambda_function.orders"
        );
        let no_address = change(&tags(&[("managed-by", "terraform")]), 768, &iac).unwrap();
        assert!(
            no_address
                .to_string()
                .contains("aws_lambda_function resource")
        );
    }

    #[test]
    fn a_hand_made_function_has_no_source() {
        let iac = IacConfig::default();
        assert_eq!(change(&tags(&[("team", "payments")]), 512, &iac), None);
        assert_eq!(change(&tags(&[("managed-by", "pulumi")]), 512, &iac), None);
        let off = IacConfig {
            terraform_tag: String::new(),
            ..IacConfig::default()
        };
        assert_eq!(
            change(&tags(&[("managed-by", "terraform")]), 512, &off),
            None
        );
    }
}
