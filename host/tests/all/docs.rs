//! The obvious drifts between the code and what people read: every way a
//! run can end is explained in the notice table, drawn on the dashboard and
//! listed in the run document's reference.

use std::path::PathBuf;

use autorepair::pipeline::Status;

fn read(path: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every status a run can end with (what a notice and the dashboard show):
/// a new variant does not compile here until it is sorted in.
fn ending_statuses() -> Vec<Status> {
    let all = [
        Status::Started,
        Status::NoAction,
        Status::DryRun,
        Status::Repaired,
        Status::RolledBack,
        Status::Escalated,
        Status::Inconclusive,
        Status::Failed,
        Status::Duplicate,
        Status::Skipped,
        Status::Rejected,
        Status::Executing,
        Status::Changed,
        Status::Replayed,
    ];
    all.into_iter()
        .filter(|s| match s {
            Status::NoAction
            | Status::DryRun
            | Status::Repaired
            | Status::RolledBack
            | Status::Escalated
            | Status::Inconclusive
            | Status::Failed
            | Status::Duplicate
            | Status::Skipped
            | Status::Rejected => true,
            // Under way, on the record only, or the A/B report's own.
            Status::Started | Status::Executing | Status::Changed | Status::Replayed => false,
        })
        .collect()
}

#[test]
fn every_ending_status_is_explained_drawn_and_listed() {
    let notices = read("docs/deploy.md");
    let dashboard = read("infrastructure/template.yaml");
    let document = read("docs/run-document.md");
    let usage = read("docs/usage.md");
    for status in ending_statuses() {
        let name = status.to_string();
        assert!(
            notices.contains(&format!("| `{name}` |")),
            "docs/deploy.md's notice table does not explain `{name}`"
        );
        assert!(
            dashboard.contains(&format!("\"{name}\"]")),
            "the dashboard's incidents widget does not draw `{name}`"
        );
        assert!(
            document.contains(&format!("`{name}`")),
            "docs/run-document.md does not list `{name}`"
        );
        assert!(
            usage.contains(&format!("`{name}`")),
            "docs/usage.md's statuses do not list `{name}`"
        );
    }
}
