//! The report as one self-contained HTML page: the tables, and two charts
//! drawn by `plotters` into inline SVG (no scripts, no external files).

use std::fmt::Write as _;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::text::{headline, tables};
use super::{AI, RULES, Report};

const WIDTH: u32 = 860;
const HEIGHT: u32 = 340;

/// The start of a self-contained page of tables (the report's, `eval`'s):
/// its title, the shared style and `css`, up to its heading.
pub fn page_head(title: &str, css: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>{title}</title>\n<style>\
body{{font-family:system-ui,sans-serif;margin:2rem;color:#222}}\
table{{border-collapse:collapse;margin:1rem 0;font-size:.9rem}}\
th,td{{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}}\
th{{background:#f3f3f3}}{css}\
</style></head><body>\n<h1>{title}</h1>\n",
        title = escape(title)
    )
}

pub fn html(report: &Report) -> String {
    let t = tables(report);
    let mut out = page_head(
        "autorepair: AI against rules",
        "figure{margin:1rem 0}figcaption{font-weight:600}\
.legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:1rem}\
.swatch{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem}\
.empty{color:#555;font-style:italic}",
    );
    out.push_str("<ul>\n");
    for line in headline(report) {
        let _ = writeln!(out, "<li>{}</li>", escape(line.trim()));
    }
    out.push_str("</ul>\n");
    out.push_str(&agreement_figure(report));
    out.push_str(&outcome_figure(report));
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
        // An incident without a time (a record from before times were
        // kept) has no place on a time axis.
        .filter(|r| r.at_ms > 0)
        .filter_map(|r| r.agree.map(|a| (r.at_ms, a)))
        .map(|(at, a)| {
            seen += 1;
            agreed += usize::from(a);
            (at as f64, agreed as f64 * 100.0 / seen as f64)
        })
        .collect()
}

/// The agreement figure: the chart and its table, or, with nothing to
/// draw, a sentence saying why (never an empty chart).
fn agreement_figure(report: &Report) -> String {
    let points = agreement_points(report);
    let mut out = String::from(
        "<figure id=\"agreement-over-time\"><figcaption>Agreement of AI and rules over time \
(cumulative share of incidents where both had a view)</figcaption>\n",
    );
    if points.is_empty() {
        let why = if report.rows.iter().all(|r| r.ai.is_none()) {
            "No incident has an AI view: the AI diagnoser was off (or shadowed nothing) for every \
incident here, so there is nothing to compare the rules with. Turn it on with [ai] enabled = true."
        } else {
            "No incident yet where both the rules and the AI had a view."
        };
        let _ = writeln!(out, "<p class=\"empty\">{}</p></figure>", escape(why));
        return out;
    }
    let _ = writeln!(
        out,
        "<div class=\"chart\" role=\"img\" aria-label=\"Cumulative agreement of AI and rules, from {} to {}\">{}</div>",
        escape(&crate::dates::date_time(points[0].0 as i64)),
        escape(&crate::dates::date_time(points[points.len() - 1].0 as i64)),
        agreement_chart(&points)
    );
    let rows: Vec<Vec<String>> = points
        .iter()
        .map(|(at, pct)| vec![crate::dates::date_time(*at as i64), format!("{pct:.0}%")])
        .collect();
    out.push_str(&table(&["incident at (UTC)", "agreement so far"], &rows));
    out.push_str("</figure>\n");
    out
}

fn agreement_chart(points: &[(f64, f64)]) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        let _ = draw_agreement(&root, points);
        let _ = root.present();
    }
    svg
}

fn draw_agreement(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    points: &[(f64, f64)],
) -> Result<(), Box<dyn std::error::Error>> {
    root.fill(&WHITE)?;
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return Ok(());
    };
    let (first, last) = (first.0, last.0);
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
    // One series: the caption names it, no legend over the line.
    chart.draw_series(LineSeries::new(
        points.iter().copied(),
        BLUE.stroke_width(2),
    ))?;
    chart.draw_series(points.iter().map(|p| Circle::new(*p, 3, BLUE.filled())))?;
    Ok(())
}

const OUTCOMES: [&str; 5] = [
    "recommended a change",
    "applied",
    "verified improved",
    "rolled back",
    "escalated",
];

/// The outcome figure: the bars with their legend beside (never over)
/// them, and the same counts as a table; with no incident, a sentence.
fn outcome_figure(report: &Report) -> String {
    let groups = outcome_groups(report);
    let mut out = String::from(
        "<figure id=\"outcome-by-source\"><figcaption>Outcome by source</figcaption>\n",
    );
    if groups.iter().all(|(_, v)| v.iter().all(|n| *n == 0)) {
        out.push_str(
            "<p class=\"empty\">No source recommended, applied or escalated anything yet.</p></figure>\n",
        );
        return out;
    }
    let _ = write!(
        out,
        "<div class=\"chart\" role=\"img\" aria-label=\"Outcomes by source: bars per source, in the order of the legend\">{}</div>\n<ul class=\"legend\">",
        outcome_chart(&groups)
    );
    for (k, outcome) in OUTCOMES.iter().enumerate() {
        let c = Palette99::pick(k).to_rgba();
        let _ = write!(
            out,
            "<li><span class=\"swatch\" style=\"background:#{:02x}{:02x}{:02x}\"></span>{}</li>",
            c.0,
            c.1,
            c.2,
            escape(outcome)
        );
    }
    out.push_str("</ul>\n");
    let mut header = vec!["source"];
    header.extend(OUTCOMES);
    let rows: Vec<Vec<String>> = groups
        .iter()
        .map(|(name, v)| {
            std::iter::once(name.clone())
                .chain(v.iter().map(ToString::to_string))
                .collect()
        })
        .collect();
    out.push_str(&table(&header, &rows));
    out.push_str("</figure>\n");
    out
}

fn outcome_groups(report: &Report) -> Vec<(String, [usize; 5])> {
    report
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
        .collect()
}

fn outcome_chart(groups: &[(String, [usize; 5])]) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        let _ = draw_outcomes(&root, groups);
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
    // The legend is HTML beside the chart: drawn inside, it covered bars.
    for k in 0..OUTCOMES.len() {
        let color = Palette99::pick(k).to_rgba();
        chart.draw_series(groups.iter().enumerate().map(|(g, (_, values))| {
            let x0 = (g * slots + k) as f64 + 0.5;
            Rectangle::new([(x0, 0.0), (x0 + 0.9, values[k] as f64)], color.filled())
        }))?;
    }
    Ok(())
}
