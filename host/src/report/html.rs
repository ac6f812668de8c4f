//! The report as one self-contained HTML page: the tables, and two charts
//! drawn by `plotters` into inline SVG (no scripts, no external files).

use std::fmt::Write as _;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::text::{headline, tables};
use super::{AI, RULES, Report};

const WIDTH: u32 = 860;
const HEIGHT: u32 = 340;

pub fn html(report: &Report) -> String {
    let t = tables(report);
    let mut out = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>autorepair: AI against rules</title>\n<style>\
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}\
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}\
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}\
th{background:#f3f3f3}figure{margin:1rem 0}figcaption{font-weight:600}\
</style></head><body>\n<h1>autorepair: AI against rules</h1>\n<ul>\n",
    );
    for line in headline(report) {
        let _ = writeln!(out, "<li>{}</li>", escape(line.trim()));
    }
    out.push_str("</ul>\n");
    let _ = write!(
        out,
        "<figure id=\"agreement-over-time\"><figcaption>Agreement of AI and rules over time \
(cumulative share of incidents where both had a view)</figcaption>\n{}</figure>\n",
        agreement_chart(report)
    );
    let _ = write!(
        out,
        "<figure id=\"outcome-by-source\"><figcaption>Outcome by source</figcaption>\n{}</figure>\n",
        outcome_chart(report)
    );
    out.push_str("<h2>By source and mode</h2>\n");
    out.push_str(&table(&t.sources.0, &t.sources.1));
    out.push_str("<h2>Incidents</h2>\n");
    out.push_str(&table(&t.incidents.0, &t.incidents.1));
    if !report.not_in_source.is_empty() {
        out.push_str("<h2>Changes not yet in source</h2>\n");
        let (header, rows) = super::text::source_table(report);
        out.push_str(&table(&header, &rows));
    }
    out.push_str("</body></html>\n");
    out
}

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::from("<table><thead><tr>");
    for h in header {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr></thead><tbody>\n");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{}</td>", escape(cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");
    out
}

/// (time, cumulative agreement %) at each incident where both had a view.
fn agreement_points(report: &Report) -> Vec<(f64, f64)> {
    let mut agreed = 0usize;
    let mut seen = 0usize;
    report
        .rows
        .iter()
        .filter_map(|r| r.agree.map(|a| (r.at_ms, a)))
        .map(|(at, a)| {
            seen += 1;
            agreed += usize::from(a);
            (at as f64, agreed as f64 * 100.0 / seen as f64)
        })
        .collect()
}

fn agreement_chart(report: &Report) -> String {
    let points = agreement_points(report);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        let _ = draw_agreement(&root, &points);
        let _ = root.present();
    }
    svg
}

fn draw_agreement(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    points: &[(f64, f64)],
) -> Result<(), Box<dyn std::error::Error>> {
    root.fill(&WHITE)?;
    let (first, last) = match (points.first(), points.last()) {
        (Some(f), Some(l)) => (f.0, l.0),
        _ => (0.0, 1.0),
    };
    let span = (last - first).max(60_000.0);
    let mut chart = ChartBuilder::on(root)
        .margin(12)
        .margin_right(64)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(first - span * 0.02..first + span * 1.02, 0f64..100f64)?;
    chart
        .configure_mesh()
        .x_labels(5)
        .x_label_formatter(&|x| crate::dates::date_time(*x as i64))
        .y_label_formatter(&|y| format!("{y:.0}%"))
        .y_desc("agreement (cumulative)")
        .draw()?;
    if points.is_empty() {
        root.draw(&Text::new(
            "no incident where both the rules and the AI had a view",
            (WIDTH as i32 / 4, HEIGHT as i32 / 2),
            ("sans-serif", 16),
        ))?;
        return Ok(());
    }
    chart
        .draw_series(LineSeries::new(
            points.iter().copied(),
            BLUE.stroke_width(2),
        ))?
        .label("cumulative agreement")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLUE));
    chart.draw_series(points.iter().map(|p| Circle::new(*p, 3, BLUE.filled())))?;
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

const OUTCOMES: [&str; 5] = [
    "recommended a change",
    "applied",
    "verified improved",
    "rolled back",
    "escalated",
];

fn outcome_chart(report: &Report) -> String {
    let groups: Vec<(String, [usize; 5])> = report
        .sources
        .iter()
        .filter(|s| s.by == RULES || s.by == AI || s.by.starts_with("mode:"))
        .map(|s| {
            let name = match s.by.as_str() {
                RULES => "rules".to_owned(),
                AI => "ai".to_owned(),
                other => other.to_owned(),
            };
            (
                name,
                [
                    s.recommended_change,
                    s.applied,
                    s.improved,
                    s.rolled_back,
                    s.escalated,
                ],
            )
        })
        .collect();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        let _ = draw_outcomes(&root, &groups);
        let _ = root.present();
    }
    svg
}

fn draw_outcomes(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    groups: &[(String, [usize; 5])],
) -> Result<(), Box<dyn std::error::Error>> {
    root.fill(&WHITE)?;
    let slots = OUTCOMES.len() + 1;
    let max = groups
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let width = (groups.len().max(1) * slots) as f64;
    let mut chart = ChartBuilder::on(root)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(0f64..width, 0f64..max * 1.15)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_labels((max as usize + 1).min(11))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .y_desc("incidents")
        .draw()?;
    // Group names under the middle of each group.
    let style = TextStyle::from(("sans-serif", 14)).pos(Pos::new(HPos::Center, VPos::Top));
    for (g, (name, _)) in groups.iter().enumerate() {
        let middle = (g * slots) as f64 + (slots as f64) / 2.0;
        let (x, y) = chart.backend_coord(&(middle, 0.0));
        root.draw(&Text::new(name.clone(), (x, y + 8), style.clone()))?;
    }
    for (k, outcome) in OUTCOMES.iter().enumerate() {
        let color = Palette99::pick(k).to_rgba();
        chart
            .draw_series(groups.iter().enumerate().map(|(g, (_, values))| {
                let x0 = (g * slots + k) as f64 + 0.5;
                Rectangle::new([(x0, 0.0), (x0 + 0.9, values[k] as f64)], color.filled())
            }))?
            .label(*outcome)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}
