//! Standing recommendations for people and programs: `autorepair
//! recommendations` as text, JSON, CSV or one HTML page, and the sweep's notice.

use std::fmt::Write as _;

use crate::dates::date_time;
use crate::model::{Direction, StandingRecommendation};
use crate::report::escape_html;
use crate::text::clean;

/// Up first (risk), then down by saving, then the rest by name.
pub fn sort(recommendations: &mut [StandingRecommendation]) {
    recommendations.sort_by(|a, b| {
        let rank = |r: &StandingRecommendation| match r.direction {
            Direction::Up => 0,
            Direction::Down => 1,
            Direction::Keep => 2,
        };
        rank(a)
            .cmp(&rank(b))
            .then(
                a.monthly_cost_delta_usd
                    .total_cmp(&b.monthly_cost_delta_usd),
            )
            .then(a.key().cmp(&b.key()))
    });
}

const HEADER: [&str; 12] = [
    "function",
    "direction",
    "current_mb",
    "target_mb",
    "monthly_usd",
    "invocations",
    "p99_used_mb",
    "max_used_mb",
    "oom_floor_mb",
    "applied",
    "source_change",
    "swept",
];

fn row(r: &StandingRecommendation) -> [String; 12] {
    let opt = |v: Option<u32>| v.map_or_else(String::new, |v| v.to_string());
    [
        // A member account's function is named with its account and region.
        r.key(),
        r.direction.to_string(),
        r.current_mb.to_string(),
        r.target_mb.to_string(),
        format!("{:+.2}", r.monthly_cost_delta_usd),
        r.invocations.to_string(),
        opt(r.p99_used_mb),
        opt(r.max_used_mb),
        opt(r.oom_floor_mb),
        if let Some(check) = r.check.as_ref().filter(|_| r.applied) {
            match check.verdict {
                crate::model::DownsizeVerdict::Kept => "applied, verified".into(),
                crate::model::DownsizeVerdict::RolledBack => "rolled back".into(),
                crate::model::DownsizeVerdict::RollbackFailed => "roll back failed".into(),
            }
        } else if r.applied {
            "applied".into()
        } else if r.direction == Direction::Down && !r.downsize_opted_in {
            "recommended only".into()
        } else {
            String::new()
        },
        r.source_change
            .as_ref()
            .map_or_else(String::new, ToString::to_string),
        date_time(r.at_ms),
    ]
}

/// Totals for the headline: (up, down, keep, saving of every down in USD/month).
fn totals(recommendations: &[StandingRecommendation]) -> (usize, usize, usize, f64) {
    let mut t = (0, 0, 0, 0.0);
    for r in recommendations {
        match r.direction {
            Direction::Up => t.0 += 1,
            Direction::Down => {
                t.1 += 1;
                t.3 -= r.monthly_cost_delta_usd;
            }
            Direction::Keep => t.2 += 1,
        }
    }
    t
}

fn headline(recommendations: &[StandingRecommendation]) -> String {
    let (up, down, keep, saving) = totals(recommendations);
    format!(
        "{} functions: {up} up, {down} down (saving ${saving:.2} a month), {keep} keep",
        recommendations.len()
    )
}

pub fn text(recommendations: &[StandingRecommendation]) -> String {
    let mut out = format!("{}\n\n", headline(recommendations));
    if recommendations.is_empty() {
        out.push_str("no recommendations yet: a sweep writes them (see docs/fleet.md)\n");
        return out;
    }
    let rows: Vec<[String; 12]> = recommendations.iter().map(row).collect();
    // function, direction, current, target, $/month, max used, oom floor, applied.
    let shown = [0usize, 1, 2, 3, 4, 7, 8, 9];
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .chain([HEADER[i].len()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = shown.iter().map(|&i| width(i)).collect();
    let line = |cells: Vec<String>| {
        let mut l = String::new();
        for (cell, w) in cells.iter().zip(&widths) {
            let _ = write!(l, "{cell:<w$}  ");
        }
        l.trim_end().to_owned() + "\n"
    };
    out.push_str(&line(shown.iter().map(|&i| HEADER[i].to_owned()).collect()));
    for (r, cells) in recommendations.iter().zip(&rows) {
        out.push_str(&line(shown.iter().map(|&i| clean(&cells[i])).collect()));
        for reason in &r.reasons {
            let _ = writeln!(out, "    {}", clean(reason));
        }
        if let Some(change) = &r.source_change {
            let _ = writeln!(out, "    source: {}", clean(&change.to_string()));
        }
    }
    out
}

pub fn json(recommendations: &[StandingRecommendation]) -> String {
    serde_json::to_string_pretty(recommendations).unwrap_or_else(|_| "[]".into()) + "\n"
}

/// RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

pub fn csv(recommendations: &[StandingRecommendation]) -> String {
    let mut out = HEADER.join(",") + ",reasons\n";
    for r in recommendations {
        let mut cells: Vec<String> = row(r).iter().map(|c| csv_field(c)).collect();
        cells.push(csv_field(&r.reasons.join("; ")));
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

pub fn html(recommendations: &[StandingRecommendation]) -> String {
    let mut out = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>autorepair: memory recommendations</title>\n<style>\
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}\
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}\
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}\
th{background:#f3f3f3}.up{color:#a40000}.down{color:#00643c}td.n{text-align:right}\
</style></head><body>\n<h1>autorepair: memory recommendations</h1>\n",
    );
    let _ = writeln!(out, "<p>{}</p>", escape_html(&headline(recommendations)));
    out.push_str("<table><thead><tr>");
    for h in HEADER.iter().chain(&["reasons"]) {
        let _ = write!(out, "<th>{}</th>", escape_html(h));
    }
    out.push_str("</tr></thead><tbody>\n");
    for r in recommendations {
        let _ = write!(out, "<tr class=\"{}\">", r.direction);
        for (i, cell) in row(r).iter().enumerate() {
            let class = if (2..=7).contains(&i) {
                " class=\"n\""
            } else {
                ""
            };
            let _ = write!(out, "<td{class}>{}</td>", escape_html(&clean(cell)));
        }
        let _ = writeln!(
            out,
            "<td>{}</td></tr>",
            escape_html(&clean(&r.reasons.join("; ")))
        );
    }
    out.push_str("</tbody></table>\n</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SourceChange;

    fn rec(
        name: &str,
        direction: Direction,
        current: u32,
        target: u32,
        usd: f64,
    ) -> StandingRecommendation {
        StandingRecommendation {
            function: name.into(),
            account: None,
            region: None,
            direction,
            current_mb: current,
            target_mb: target,
            monthly_cost_delta_usd: usd,
            invocations: 1000,
            p99_used_mb: Some(200),
            oom_floor_mb: None,
            reasons: vec!["p99, with \"quotes\", and <b>tags</b>".into()],
            sweep: "s".into(),
            at_ms: 1_764_000_000_000,
            window_days: 14,
            downsize_opted_in: false,
            applied: false,
            source_change: None,
            max_used_mb: Some(230),
            figures: None,
            baseline: None,
            check: None,
            tuning: None,
        }
    }

    fn sample() -> Vec<StandingRecommendation> {
        let mut v = vec![
            rec("keepme", Direction::Keep, 512, 512, 0.0),
            rec("small", Direction::Down, 1024, 256, -1.25),
            rec("big", Direction::Down, 3008, 512, -9.5),
            rec("hot", Direction::Up, 512, 1024, 2.0),
        ];
        v[1].source_change = Some(SourceChange::Cloudformation {
            stack: "orders".into(),
            logical_id: "Small".into(),
            memory_mb: 256,
        });
        sort(&mut v);
        v
    }

    #[test]
    fn up_first_then_the_biggest_saving() {
        let names: Vec<_> = sample().iter().map(|r| r.function.clone()).collect();
        assert_eq!(names, ["hot", "big", "small", "keepme"]);
        assert!(
            text(&sample())
                .starts_with("4 functions: 1 up, 2 down (saving $10.75 a month), 1 keep")
        );
    }

    #[test]
    fn csv_quotes_what_needs_it_and_has_one_row_per_function() {
        let out = csv(&sample());
        let lines: Vec<_> = out.lines().collect();
        assert_eq!(lines.len(), 5);
        assert!(lines[0].starts_with("function,direction,current_mb,target_mb,monthly_usd"));
        assert!(
            lines[1].starts_with("hot,up,512,1024,+2.00,"),
            "{}",
            lines[1]
        );
        assert!(
            out.contains("\"p99, with \"\"quotes\"\", and <b>tags</b>\""),
            "{out}"
        );
        assert!(
            lines[3].contains(
                "in stack orders's template set Resources.Small.Properties.MemorySize: 256"
            )
        );
    }

    #[test]
    fn html_escapes_and_json_round_trips() {
        let page = html(&sample());
        assert!(page.contains("&lt;b&gt;tags&lt;/b&gt;") && !page.contains("<b>tags"));
        let back: Vec<StandingRecommendation> = serde_json::from_str(&json(&sample())).unwrap();
        assert_eq!(back, sample());
    }
}
