//! A tune for people: a table on the terminal, and one HTML page with the
//! duration and cost curves drawn as inline SVG (no scripts, nothing
//! fetched: it reads offline), each chart titled, with its table beside it.

use std::fmt::Write as _;

use super::Tuning;
use crate::report::escape_html;

/// The table `autorepair tune` prints.
pub fn text(t: &Tuning) -> String {
    let mut out = format!(
        "{} ({}), now {} MB: {}\n\n",
        t.function,
        t.architecture,
        t.current_mb,
        t.reasons.join("; ")
    );
    let _ = writeln!(
        out,
        "{:>9}  {:>12}  {:>12}  {:>14}  {:>12}  {:>13}  {:>6}",
        "memory_mb", "p50_ms", "p95_ms", "billed_ms_mean", "max_used_mb", "usd_per_1M", "errors"
    );
    for s in &t.sizes {
        let mark = if Some(s.memory_mb) == t.best_mb {
            "  ← best"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{:>9}  {:>12.1}  {:>12.1}  {:>14.1}  {:>12}  {:>13.4}  {:>6}{mark}",
            s.memory_mb,
            s.p50_ms,
            s.p95_ms,
            s.mean_billed_ms,
            s.max_used_mb,
            s.usd_per_million,
            format!("{}/{}", s.errors, s.invocations)
        );
    }
    out
}

/// One chart: `values` against memory, on a log2 memory axis.
fn chart(
    t: &Tuning,
    id: &str,
    title: &str,
    unit: &str,
    value: impl Fn(&super::SizeResult) -> f64,
) -> String {
    const W: f64 = 480.0;
    const H: f64 = 260.0;
    const LEFT: f64 = 80.0;
    const RIGHT: f64 = 20.0;
    const TOP: f64 = 30.0;
    const BOTTOM: f64 = 50.0;
    let points: Vec<(u32, f64, bool)> = t
        .sizes
        .iter()
        .map(|s| (s.memory_mb, value(s), s.errors == 0))
        .collect();
    let max = points
        .iter()
        .map(|p| p.1)
        .fold(0.0_f64, f64::max)
        .max(f64::MIN_POSITIVE);
    let (lo, hi) = (
        points
            .iter()
            .map(|p| f64::from(p.0).log2())
            .fold(f64::MAX, f64::min),
        points
            .iter()
            .map(|p| f64::from(p.0).log2())
            .fold(f64::MIN, f64::max),
    );
    let x = |mb: u32| {
        let span = (hi - lo).max(1.0);
        LEFT + (f64::from(mb).log2() - lo) / span * (W - LEFT - RIGHT)
    };
    let y = |v: f64| TOP + (1.0 - v / (max * 1.1)) * (H - TOP - BOTTOM);
    let mut svg = format!(
        "<svg id=\"{id}\" role=\"img\" aria-labelledby=\"{id}-title\" viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\">\
<title id=\"{id}-title\">{}</title>\
<line x1=\"{LEFT}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#555\"/>\
<line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{}\" stroke=\"#555\"/>",
        escape_html(title),
        H - BOTTOM,
        W - RIGHT,
        H - BOTTOM,
        H - BOTTOM,
    );
    let path: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, (mb, v, _))| {
            format!(
                "{}{:.1},{:.1}",
                if i == 0 { "M" } else { "L" },
                x(*mb),
                y(*v)
            )
        })
        .collect();
    let _ = write!(
        svg,
        "<path class=\"curve\" d=\"{}\" fill=\"none\" stroke=\"#1f6feb\" stroke-width=\"2\"/>",
        path.join(" ")
    );
    for (mb, v, ok) in &points {
        let best = Some(*mb) == t.best_mb;
        let _ = write!(
            svg,
            "<circle class=\"point\" data-memory-mb=\"{mb}\" data-value=\"{v}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"{}\" fill=\"{}\"/>\
<text x=\"{:.1}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">{mb}</text>",
            x(*mb),
            y(*v),
            if best { 6 } else { 4 },
            if !ok {
                "#d1242f"
            } else if best {
                "#1a7f37"
            } else {
                "#1f6feb"
            },
            x(*mb),
            H - BOTTOM + 16.0,
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\">memory (MB, log scale)</text>\
<text x=\"{LEFT}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\" dx=\"-4\">{} {unit}</text>\
<text x=\"{LEFT}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\" dx=\"-4\">0</text></svg>",
        (LEFT + W - RIGHT) / 2.0,
        H - 12.0,
        y(max) + 4.0,
        if max >= 100.0 {
            format!("{max:.0}")
        } else {
            format!("{max:.2}")
        },
        H - BOTTOM + 4.0,
    );
    svg
}

/// The whole page.
pub fn html(t: &Tuning) -> String {
    let title = format!("autorepair tune: {}", t.function);
    let mut rows = String::new();
    for s in &t.sizes {
        let best = if Some(s.memory_mb) == t.best_mb {
            " class=\"best\""
        } else {
            ""
        };
        let _ = write!(
            rows,
            "<tr{best}><td>{}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td><td>{}</td><td>{:.4}</td><td>{}/{}</td></tr>",
            s.memory_mb,
            s.p50_ms,
            s.p95_ms,
            s.mean_billed_ms,
            s.max_used_mb,
            s.usd_per_million,
            s.errors,
            s.invocations
        );
    }
    let table = format!(
        "<table><caption>Measured at each size ({} invocations each after a warm-up)</caption>\
<thead><tr><th scope=\"col\">memory MB</th><th scope=\"col\">median ms</th><th scope=\"col\">p95 ms</th>\
<th scope=\"col\">mean billed ms</th><th scope=\"col\">max used MB</th><th scope=\"col\">USD per 1M</th><th scope=\"col\">errors</th></tr></thead>\
<tbody>{rows}</tbody></table>",
        t.sizes.first().map_or(0, |s| s.invocations)
    );
    let duration = chart(t, "duration", "Median duration (ms) by memory", "ms", |s| {
        s.p50_ms
    });
    let cost = chart(
        t,
        "cost",
        "Cost per million invocations (USD) by memory",
        "USD",
        |s| s.usd_per_million,
    );
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
<style>body{{font-family:system-ui,sans-serif;margin:2em;color:#1f2328}}\
section{{display:flex;flex-wrap:wrap;gap:2em;align-items:flex-start;margin-bottom:2em}}figure{{margin:0}}\
table{{border-collapse:collapse}}td,th{{border:1px solid #d0d7de;padding:.3em .6em;text-align:right}}\
tr.best{{background:#dafbe1;font-weight:bold}}h2{{font-size:1.1em}}</style></head><body>\
<h1>{}</h1><p>{} ({}), now {} MB. {}</p>\
<p>Green: the size the {} strategy picks; red: a size where invocations failed (never picked).</p>\
<section><figure><h2>Duration</h2>{duration}</figure><figure><h2>Cost</h2>{cost}</figure></section>\
<section>{table}</section></body></html>",
        escape_html(&title),
        escape_html(&title),
        escape_html(&t.function),
        escape_html(&t.architecture),
        t.current_mb,
        escape_html(&t.reasons.join("; ")),
        t.strategy.name(),
    )
}

#[cfg(test)]
mod tests {
    use super::super::{SizeResult, Strategy, Tuning};
    use super::*;

    fn tuning() -> Tuning {
        let size = |mb: u32, ms: f64, errors: u32| SizeResult {
            memory_mb: mb,
            invocations: 5,
            errors,
            p50_ms: ms,
            p95_ms: ms,
            mean_billed_ms: ms,
            max_used_mb: 50,
            usd_per_million: super::super::usd_per_million(mb, ms, 0.000_016_666_7),
        };
        Tuning {
            function: "<orders>".into(),
            architecture: "arm64".into(),
            strategy: Strategy::Balanced,
            sizes: vec![
                size(128, 800.0, 1),
                size(512, 200.0, 0),
                size(2048, 90.0, 0),
            ],
            best_mb: Some(512),
            current_mb: 128,
            reasons: vec!["balanced: 512 MB".into()],
            at_ms: 0,
        }
    }

    #[test]
    fn the_page_draws_both_curves_escapes_and_marks_the_best() {
        let page = html(&tuning());
        assert!(page.contains("&lt;orders&gt;") && !page.contains("<orders>"));
        for id in ["duration", "cost"] {
            let start = page.find(&format!("<svg id=\"{id}\"")).unwrap();
            let svg = &page[start..start + page[start..].find("</svg>").unwrap()];
            assert_eq!(svg.matches("class=\"point\"").count(), 3, "{svg}");
            assert!(svg.contains("<title id="), "every chart is titled");
        }
        assert!(page.contains("<tr class=\"best\"><td>512</td>"));
        assert!(!page.contains("<script"), "no scripts");
        let table = text(&tuning());
        assert!(table.contains("512") && table.contains("← best"), "{table}");
    }
}
