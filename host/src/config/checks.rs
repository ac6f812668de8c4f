//! What is wrong with a configuration, each problem phrased as what to fix.

use super::{AiConfig, Config};
use crate::digest::sha256_hex;
use crate::rules::{self, source::Location};
use crate::trust;

/// Bounds on limits an operator may configure.
const MAX_CPU_BUDGET_MS: u64 = 10_000;
const MAX_MEMORY_MIB: u64 = 4096;

impl AiConfig {
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.model_id.trim().is_empty() {
            problems.push("ai.model_id must not be empty".into());
        }
        if !(1..=900).contains(&self.timeout_seconds) {
            problems.push("ai.timeout_seconds must be within 1..=900".into());
        }
        if !(1..=10).contains(&self.max_attempts) {
            problems.push("ai.max_attempts must be within 1..=10".into());
        }
        if self.input_token_budget < 500 {
            problems.push("ai.input_token_budget must be at least 500".into());
        }
        if self.max_output_tokens == 0 {
            problems.push("ai.max_output_tokens must be above 0".into());
        }
        if self.max_line_chars == 0 {
            problems.push("ai.max_line_chars must be above 0".into());
        }
        if self.provider == super::Provider::OpenAi {
            match self.base_url.as_deref() {
                None | Some("") => problems.push(
                    "ai.base_url must be set with provider = \"openai\" (e.g. http://localhost:11434/v1)".into(),
                ),
                Some(url) if !(url.starts_with("https://") || url.starts_with("http://")) => {
                    problems.push(format!("ai.base_url {url:?} must start with https:// or http://"))
                }
                Some(_) => {}
            }
            if self.api_key_env.trim().is_empty() && self.api_key_secret.is_none() {
                problems.push(
                    "ai.api_key_env (an environment variable's name) or ai.api_key_secret must name where the API key is".into(),
                );
            }
        }
        // Empty is unset (the template writes its parameter as it is).
        if self
            .knowledge_base_id
            .as_deref()
            .is_some_and(|id| id.len() > 10 || !id.chars().all(|c| c.is_ascii_alphanumeric()))
        {
            problems.push(
                "ai.knowledge_base_id must be a knowledge base's id (up to 10 letters and digits)"
                    .into(),
            );
        }
        if self.knowledge_passages > 10 {
            problems.push("ai.knowledge_passages must be within 0..=10".into());
        }
        if self.history_incidents > 10 {
            problems.push("ai.history_incidents must be within 0..=10".into());
        }
        if self.max_tool_calls > 20 {
            problems.push("ai.max_tool_calls must be within 0..=20".into());
        }
        if self.max_investigation_seconds > self.timeout_seconds {
            problems.push("ai.max_investigation_seconds must not exceed ai.timeout_seconds".into());
        }
        for (name, price) in [
            ("usd_per_1k_input_tokens", self.usd_per_1k_input_tokens),
            ("usd_per_1k_output_tokens", self.usd_per_1k_output_tokens),
        ] {
            if !(price.is_finite() && price >= 0.0) {
                problems.push(format!("ai.{name} must be a number ≥ 0"));
            }
        }
        problems
    }
}

impl Config {
    fn fleet_problems(&self) -> Vec<String> {
        let (fleet, approval) = (&self.fleet, &self.approval);
        let mut problems = Vec::new();
        if !fleet
            .alarm_prefix
            .starts_with(|c: char| c.is_ascii_alphanumeric())
        {
            problems.push("fleet.alarm_prefix must start with a letter or digit".into());
        }
        // Older than 15 days, CloudWatch keeps 5-minute points only: the
        // sweep's periods would miss them.
        if !(1..=15).contains(&fleet.sweep_days) {
            problems.push("fleet.sweep_days must be within 1..=15".into());
        }
        if fleet.down_margin_percent > 400 {
            problems.push("fleet.down_margin_percent must be within 0..=400".into());
        }
        if fleet.min_days > fleet.sweep_days {
            problems.push(format!(
                "fleet.min_days = {} is more than fleet.sweep_days = {}: no function could ever be downsized",
                fleet.min_days, fleet.sweep_days
            ));
        }
        if !(1..=100).contains(&fleet.near_timeout_percent) {
            problems.push("fleet.near_timeout_percent must be within 1..=100".into());
        }
        if !(1..=fleet.sweep_days.saturating_mul(24)).contains(&fleet.rule_lines_hours) {
            problems.push("fleet.rule_lines_hours must be within 1 and the sweep's window (fleet.sweep_days × 24)".into());
        }
        if !(1..=500).contains(&fleet.batch_size) {
            problems.push("fleet.batch_size must be within 1..=500".into());
        }
        if !(1..=900).contains(&fleet.batch_budget_seconds) {
            problems.push(
                "fleet.batch_budget_seconds must be within 1..=900 (Lambda's longest run)".into(),
            );
        }
        if !(1..=64).contains(&fleet.concurrency) {
            problems.push("fleet.concurrency must be within 1..=64".into());
        }
        // Step Functions' task timeout bounds how long a run may wait.
        if !(1..=7 * 24 * 3600).contains(&approval.timeout_seconds) {
            problems.push("approval.timeout_seconds must be within 1..=604800 (a week)".into());
        }
        if !(1..=10).contains(&approval.min_approvals) {
            problems.push("approval.min_approvals must be within 1..=10".into());
        }
        for (i, p) in approval.approvers.iter().enumerate() {
            if !p.trim().is_empty() && !p.trim().starts_with("arn:") {
                problems.push(format!(
                    "approval.approvers[{i}] must be an IAM principal ARN pattern (arn:aws:sts::ACCOUNT:assumed-role/ROLE/*), not {p:?}"
                ));
            }
        }
        if approval.min_approvals > 1 && !approval.names_approvers() {
            problems.push(
                "approval.min_approvals > 1 needs approval.approvers: distinct approvers must be people the config names".into(),
            );
        }
        if !self.iac.terraform_tag.is_empty() && !self.iac.terraform_tag.contains('=') {
            problems.push("iac.terraform_tag must be key=value (e.g. managed-by=terraform)".into());
        }
        problems
    }

    /// Everything wrong with this configuration, each phrased as what to fix.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = self.policy.problems();
        problems.extend(self.ai.problems());
        let pricing = &self.pricing;
        let prices = [
            (
                "lambda_usd_per_gb_second".to_owned(),
                pricing.lambda_usd_per_gb_second,
            ),
            (
                "arm64_usd_per_gb_second".to_owned(),
                pricing.arm64_usd_per_gb_second,
            ),
        ]
        .into_iter()
        .chain(pricing.regions.iter().flat_map(|(region, p)| {
            [
                (format!("regions.{region}.x86_64"), p.x86_64),
                (format!("regions.{region}.arm64"), p.arm64),
            ]
        }));
        for (key, price) in prices {
            if !(price.is_finite() && price >= 0.0) {
                problems.push(format!("pricing.{key} must be a number ≥ 0"));
            }
        }
        let limits = &self.limits;
        for (key, rate) in [
            ("lambda_per_second", limits.lambda_per_second),
            ("cloudwatch_per_second", limits.cloudwatch_per_second),
            ("logs_per_second", limits.logs_per_second),
        ] {
            if !(rate.is_finite() && rate > 0.0) {
                problems.push(format!("limits.{key} must be a number above 0"));
            }
        }
        if limits.processes == 0 {
            problems.push("limits.processes must be at least 1".into());
        }
        if self.run.audit_table.is_empty() {
            problems.push("run.audit_table must not be empty".into());
        }
        let org = &self.organization;
        for account in &org.accounts {
            if !super::is_account_id(account) {
                problems.push(format!(
                    "organization.accounts: {account:?} is not an account id (12 digits)"
                ));
            }
        }
        if org.enabled() {
            match org.home(self.run.state_machine_arn.as_deref()) {
                Some(home) if !super::is_account_id(&home) => problems.push(format!(
                    "organization.home_account: {home:?} is not an account id (12 digits)"
                )),
                Some(home) if org.accounts.contains(&home) => problems.push(format!(
                    "organization.accounts lists the host's own account {home}: it needs no member role"
                )),
                Some(_) => {}
                None => problems.push(
                    "organization.home_account must be set (or run.state_machine_arn, whose account it is) when organization.accounts is".into(),
                ),
            }
            if org
                .sweep_regions(self.run.state_machine_arn.as_deref())
                .is_empty()
            {
                problems.push(
                    "organization.regions must be set (or run.state_machine_arn, whose region is the default) when organization.accounts is".into(),
                );
            }
            if org
                .external_id
                .as_deref()
                .is_none_or(|e| e.trim().len() < 2)
            {
                problems.push(
                    "organization.external_id must be set (the member roles ask for it: sts:ExternalId)".into(),
                );
            }
        }
        if self.run.evidence_window_minutes == 0 {
            problems.push("run.evidence_window_minutes must be above 0".into());
        }
        if self.run.max_log_events == 0 {
            problems.push("run.max_log_events must be above 0".into());
        }
        problems.extend(self.fleet_problems());
        let mut limits = vec![("sandbox".to_owned(), self.sandbox.limits())];
        problems.extend(trust::key_problems(&self.trust.keys));
        for (i, p) in self.plugins.iter().enumerate() {
            let name = format!("plugins[{i}] ({})", p.source);
            limits.push((name.clone(), self.rule_limits(p)));
            let location = p.location();
            if let Err(e) = &location {
                problems.push(format!("{name}: source: {e}"));
            }
            if let Err(e) = p.signature_location() {
                problems.push(format!("{name}: signature: {e}"));
            }
            if let Some(v) = &p.min_version
                && trust::version_key(v).is_none()
            {
                problems.push(format!(
                    "{name}: min_version must be a version like 1.2.0, not {v:?}"
                ));
            }
            match &p.sha256 {
                Some(pin) if !is_sha256(pin) => {
                    problems.push(format!("{name}: sha256 must be 64 hex digits"));
                }
                None if !p.allow_unsigned && self.trust.keys.is_empty() => {
                    let digest = match location {
                        Ok(Location::File(path)) => {
                            std::fs::read(path).ok().map(|b| sha256_hex(&b))
                        }
                        _ => None,
                    };
                    let hint = digest.map_or_else(String::new, |d| format!(" (the file's is {d})"));
                    problems.push(format!(
                        "{name}: no sha256 pin and no trusted signing keys; add sha256 = \"<digest>\"{hint}, or a [[trust.keys]] entry and a signature, or allow_unsigned = true for local development"
                    ));
                }
                _ => {}
            }
        }
        for (name, l) in limits {
            if !(1..=MAX_CPU_BUDGET_MS).contains(&l.cpu_budget_ms) {
                problems.push(format!(
                    "{name}: cpu_budget_ms must be within 1..={MAX_CPU_BUDGET_MS}"
                ));
            }
            if !(1..=MAX_MEMORY_MIB).contains(&l.memory_mib) {
                problems.push(format!(
                    "{name}: memory_mib must be within 1..={MAX_MEMORY_MIB}"
                ));
            }
        }
        let known: Vec<&str> = rules::artifacts::BUNDLED.iter().map(|(n, _)| *n).collect();
        let named = self
            .bundled
            .disabled
            .iter()
            .chain(&self.bundled.shadow)
            .chain(self.bundled.grants.keys());
        for name in named {
            if !known.contains(&name.as_str()) {
                problems.push(format!(
                    "bundled: no bundled rule is named {name:?} (there are {})",
                    known.join(", ")
                ));
            }
        }
        problems
    }
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}
