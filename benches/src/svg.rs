//! Latency-by-percentile plots as hand-written SVG (no plotting dependency): the
//! HdrHistogram view, with the percentile on a log scale of 1/(1-p) (so 90%, 99%,
//! 99.9%... are evenly spaced) and the latency on a log scale.
#![forbid(unsafe_code)]

use std::fmt::Write as _;

use crate::hist::{Latency, format_ns};

const WIDTH: f64 = 1000.0;
const PLOT_HEIGHT: f64 = 480.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 64.0;
const LEGEND_LINE: f64 = 18.0;
const COLORS: [&str; 10] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];
const DASHES: [&str; 3] = ["", "6 3", "2 2"];
/// Deepest percentile shown: 99.9999% (1/(1-p) = 10^6).
const NINES_MAX: f64 = 6.0;

/// Escapes text for SVG.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn percentile_label(nines: i32) -> String {
    match nines {
        0 => "0%".to_string(),
        1 => "90%".to_string(),
        n => format!("99.{}%", "9".repeat((n - 2) as usize)),
    }
}

/// An SVG document plotting each series' latency against its percentile.
pub fn percentile_plot(title: &str, subtitle: &str, series: &[(&str, &Latency)]) -> String {
    let points: Vec<Vec<(f64, f64)>> = series
        .iter()
        .map(|(_, latency)| latency.percentile_points_us())
        .collect();
    let x_of = |q: f64| -> f64 {
        if q >= 1.0 {
            f64::INFINITY
        } else {
            (1.0 / (1.0 - q)).log10()
        }
    };
    let finite_x = points
        .iter()
        .flatten()
        .map(|(q, _)| x_of(*q))
        .filter(|x| x.is_finite())
        .fold(0.0f64, f64::max);
    let x_max = finite_x.ceil().clamp(2.0, NINES_MAX);
    let values = points.iter().flatten().map(|(_, v)| v.max(0.001));
    let (lo, hi) = values.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let (y_lo, y_hi) = if lo.is_finite() && hi > 0.0 {
        let a = lo.log10().floor();
        let b = hi.log10().ceil();
        (a, if b > a { b } else { a + 1.0 })
    } else {
        (0.0, 3.0)
    };
    let legend_rows = series.len() as f64;
    let height = TOP + PLOT_HEIGHT + 50.0 + legend_rows * LEGEND_LINE + 10.0;
    let plot_w = WIDTH - LEFT - RIGHT;
    let px = |x: f64| LEFT + x.min(x_max) / x_max * plot_w;
    let py =
        |us: f64| TOP + PLOT_HEIGHT - (us.max(0.001).log10() - y_lo) / (y_hi - y_lo) * PLOT_HEIGHT;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="24" font-size="16" font-weight="bold">{}</text>"#,
        escape(title)
    );
    let _ = writeln!(
        s,
        r##"<text x="{LEFT}" y="44" fill="#555">{}</text>"##,
        escape(subtitle)
    );
    // Grid: percentiles.
    for n in 0..=(x_max as i32) {
        let x = px(f64::from(n));
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#ddd"/>"##,
            TOP + PLOT_HEIGHT
        );
        let _ = writeln!(
            s,
            r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            TOP + PLOT_HEIGHT + 18.0,
            percentile_label(n)
        );
    }
    // Grid: latency decades.
    let mut decade = y_lo;
    while decade <= y_hi + 1e-9 {
        let us = 10f64.powf(decade);
        let y = py(us);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/>"##,
            WIDTH - RIGHT
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 6.0,
            y + 4.0,
            escape(&format_ns(us * 1000.0))
        );
        decade += 1.0;
    }
    let _ = writeln!(
        s,
        r##"<rect x="{LEFT}" y="{TOP}" width="{plot_w:.1}" height="{PLOT_HEIGHT}" fill="none" stroke="#888"/>"##
    );
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">percentile</text>"#,
        LEFT + plot_w / 2.0,
        TOP + PLOT_HEIGHT + 36.0
    );
    let _ = writeln!(
        s,
        r#"<text transform="translate(18 {:.1}) rotate(-90)" text-anchor="middle">latency (log scale)</text>"#,
        TOP + PLOT_HEIGHT / 2.0
    );
    // Series and legend.
    for (i, ((name, latency), pts)) in series.iter().zip(&points).enumerate() {
        let color = COLORS[i % COLORS.len()];
        let dash = DASHES[(i / COLORS.len()) % DASHES.len()];
        let dash_attr = if dash.is_empty() {
            String::new()
        } else {
            format!(r#" stroke-dasharray="{dash}""#)
        };
        if !pts.is_empty() {
            let path: Vec<String> = pts
                .iter()
                .map(|(q, us)| format!("{:.1},{:.1}", px(x_of(*q)), py(*us)))
                .collect();
            let _ = writeln!(
                s,
                r#"<polyline fill="none" stroke="{color}" stroke-width="1.6"{dash_attr} points="{}"/>"#,
                path.join(" ")
            );
        }
        let row = i as f64;
        let lx = LEFT;
        let ly = TOP + PLOT_HEIGHT + 58.0 + row * LEGEND_LINE;
        let _ = writeln!(
            s,
            r#"<line x1="{lx:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{color}" stroke-width="3"{dash_attr}/>"#,
            ly - 4.0,
            lx + 22.0,
            ly - 4.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{ly:.1}">{} (p50 {}, p99 {}, max {})</text>"#,
            lx + 28.0,
            escape(name),
            escape(&format_ns(latency.quantile_ns(0.5) as f64)),
            escape(&format_ns(latency.quantile_ns(0.99) as f64)),
            escape(&format_ns(latency.max_ns() as f64))
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_well_formed_plot() {
        let mut a = Latency::new();
        for i in 1..1000u64 {
            a.record_ns(i * 1000);
        }
        let empty = Latency::new();
        let svg = percentile_plot("t <1>", "s & s", &[("a", &a), ("b \"q\"", &empty)]);
        assert!(svg.starts_with("<svg "));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("t &lt;1&gt;") && svg.contains("s &amp; s"));
        assert!(svg.contains("<polyline"));
        assert!(svg.contains("99.9%"));
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
        assert_eq!(percentile_label(4), "99.99%");
    }
}
