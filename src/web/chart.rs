//! A small SVG writer for the dashboard's and a token's pictures (PRODUCT.md §14): stacked
//! columns (requests per day, tokens expiring per week) and labelled bars (the busiest tokens).
//!
//! Hand-rolled rather than `plotters`: a few hundred bytes of markup per chart whose colours come
//! from the style sheet (classes, so the dark card, the light page and print each get theirs),
//! text the page's own font draws, and no build cost. Every chart is an `<svg role="img">` named
//! by its `<title>` and described by a `<desc>` (the text alternative the caller writes); the
//! numbers are also in a table beside it. All text is escaped here.

use std::fmt::Write;

/// The drawing's size in user units (it scales to its box's width).
/// Widths in user units near those a chart is shown at (half the content, or all of it, at
/// 1280 pixels), so the style sheet's font sizes are about what is seen.
pub const HALF: f64 = 480.0;
/// See [`HALF`].
pub const FULL: f64 = 960.0;
const HEIGHT: f64 = 210.0;
/// Room for the value axis on the left, the labels below, the legend above.
const LEFT: f64 = 46.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 26.0;

/// A series of a stacked chart: its name in the legend and its style class.
#[derive(Debug, Clone, Copy)]
pub struct Series {
    pub name: &'static str,
    pub class: &'static str,
}

/// One column: its label below and one value per series (stacked, first at the bottom).
#[derive(Debug, Clone)]
pub struct Column {
    pub label: String,
    pub values: Vec<i64>,
}

/// One labelled bar.
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub value: i64,
}

/// XML text and attribute escaping.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The smallest 1, 2 or 5 × 10ⁿ at least `max` (at least 1): the value axis's top.
pub fn axis_top(max: i64) -> i64 {
    let mut step = 1i64;
    loop {
        for m in [1, 2, 5] {
            if step.saturating_mul(m) >= max {
                return step.saturating_mul(m);
            }
        }
        step = step.saturating_mul(10);
    }
}

/// A number with thousands separated by commas.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// The opening of a chart: its `<svg>`, title, description.
fn open(out: &mut String, id: &str, title: &str, summary: &str, width: f64, height: f64) {
    let id = escape(id);
    let _ = write!(
        out,
        "<svg class=\"chart\" viewBox=\"0 0 {width} {height}\" role=\"img\" \
         aria-labelledby=\"{id}-title\" aria-describedby=\"{id}-desc\" xmlns=\"http://www.w3.org/2000/svg\">\
         <title id=\"{id}-title\">{}</title><desc id=\"{id}-desc\">{}</desc>",
        escape(title),
        escape(summary)
    );
}

/// How many grid steps divide the axis up to `top` into whole, round values.
pub fn steps(top: i64) -> i64 {
    [5, 4, 2, 1]
        .into_iter()
        .find(|s| top >= *s && top % s == 0)
        .unwrap_or(1)
}

/// Horizontal grid lines with their values, in [`steps`] up to `top`.
fn grid(out: &mut String, top: i64, width: f64, plot_h: f64) {
    let n = steps(top);
    for i in 0..=n {
        let value = top / n * i;
        let y = TOP + plot_h - plot_h * i as f64 / n as f64;
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text class=\"axis\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            width - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            thousands(value)
        );
    }
}

/// The legend, top right: a swatch and a name per series.
fn legend(out: &mut String, series: &[Series], width: f64) {
    let mut x = width - RIGHT;
    for s in series.iter().rev() {
        let width = 24.0 + 7.5 * s.name.chars().count() as f64;
        x -= width;
        let _ = write!(
            out,
            "<rect class=\"{}\" x=\"{x:.1}\" y=\"6\" width=\"12\" height=\"12\" rx=\"2\"/>\
             <text class=\"legend\" x=\"{:.1}\" y=\"17\">{}</text>",
            escape(s.class),
            x + 16.0,
            escape(s.name)
        );
    }
}

/// Stacked columns: one per entry of `columns`, its values in `series` order from the bottom;
/// every `label_every`-th label is written (counted from the last column, which always is);
/// `width` is [`HALF`] or [`FULL`].
pub fn columns(
    id: &str,
    (title, summary): (&str, &str),
    series: &[Series],
    columns: &[Column],
    label_every: usize,
    width: f64,
) -> String {
    let mut out = String::new();
    open(&mut out, id, title, summary, width, HEIGHT);
    let plot_h = HEIGHT - TOP - BOTTOM;
    let plot_w = width - LEFT - RIGHT;
    let max = columns
        .iter()
        .map(|c| c.values.iter().sum::<i64>())
        .max()
        .unwrap_or(0);
    let top = axis_top(max);
    grid(&mut out, top, width, plot_h);
    legend(&mut out, series, width);
    let band = plot_w / columns.len().max(1) as f64;
    let bar_w = (band * 0.72).max(1.0);
    let every = label_every.max(1);
    for (i, col) in columns.iter().enumerate() {
        let x = LEFT + band * i as f64 + (band - bar_w) / 2.0;
        let mut base = TOP + plot_h;
        for (value, s) in col.values.iter().zip(series) {
            if *value <= 0 {
                continue;
            }
            let h = plot_h * *value as f64 / top as f64;
            base -= h;
            let _ = write!(
                out,
                "<rect class=\"{}\" x=\"{x:.1}\" y=\"{base:.1}\" width=\"{bar_w:.1}\" height=\"{h:.1}\"/>",
                escape(s.class)
            );
        }
        if (columns.len() - 1 - i).is_multiple_of(every) {
            let _ = write!(
                out,
                "<text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                x + bar_w / 2.0,
                HEIGHT - 8.0,
                escape(&col.label)
            );
        }
    }
    let _ = write!(
        out,
        "<line class=\"baseline\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/></svg>",
        width - RIGHT,
        y = TOP + plot_h
    );
    out
}

/// Longest bar label, in characters (longer ones end in "…").
const BAR_LABEL: usize = 22;
/// Height of one bar's row.
const ROW: f64 = 32.0;
/// Room for the labels left of the bars.
const LABELS: f64 = 170.0;

/// Horizontal bars, one per entry of `bars`, largest scale at the largest value, each with its
/// label on the left and its value at its end.
pub fn bars(id: &str, title: &str, summary: &str, class: &str, bars: &[Bar]) -> String {
    let height = 12.0 + ROW * bars.len().max(1) as f64;
    let mut out = String::new();
    open(&mut out, id, title, summary, HALF, height);
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1);
    let room = HALF - LABELS - RIGHT - 64.0;
    for (i, b) in bars.iter().enumerate() {
        let y = 6.0 + ROW * i as f64;
        let label: String = if b.label.chars().count() > BAR_LABEL {
            b.label.chars().take(BAR_LABEL - 1).chain(['…']).collect()
        } else {
            b.label.clone()
        };
        let w = (room * b.value.max(0) as f64 / max as f64).max(2.0);
        let _ = write!(
            out,
            "<text class=\"label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\
             <rect class=\"{}\" x=\"{LABELS}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{:.1}\" rx=\"3\"/>\
             <text class=\"value\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            LABELS - 10.0,
            y + ROW / 2.0 + 1.0,
            escape(&label),
            escape(class),
            ROW - 12.0,
            LABELS + w + 8.0,
            y + ROW / 2.0 + 1.0,
            thousands(b.value)
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: [Series; 2] = [
        Series {
            name: "Allowed",
            class: "allowed",
        },
        Series {
            name: "Refused",
            class: "refused",
        },
    ];

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(axis_top(0), 1);
        assert_eq!(axis_top(1), 1);
        assert_eq!(axis_top(3), 5);
        assert_eq!(axis_top(7), 10);
        assert_eq!(axis_top(11), 20);
        assert_eq!(axis_top(1_234), 2_000);
        assert!(axis_top(i64::MAX / 2) >= i64::MAX / 2);
        assert_eq!(axis_top(i64::MAX), i64::MAX, "no overflow");
        assert_eq!(
            [1, 2, 5, 10, 20, 50, 5_000].map(steps),
            [1, 2, 5, 5, 5, 5, 5]
        );
        assert_eq!(steps(4), 4);
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(-1_000), "-1,000");
    }

    #[test]
    fn columns_stack_in_scale_and_name_themselves() {
        let cols = vec![
            Column {
                label: "12-01".into(),
                values: vec![50, 50],
            },
            Column {
                label: "12-02".into(),
                values: vec![0, 0],
            },
        ];
        let svg = columns("c", ("Requests", "100 in all"), &TWO, &cols, 1, HALF);
        assert!(svg.starts_with("<svg class=\"chart\""));
        assert!(
            svg.contains("role=\"img\" aria-labelledby=\"c-title\" aria-describedby=\"c-desc\"")
        );
        assert!(svg.contains("<title id=\"c-title\">Requests</title>"));
        assert!(svg.contains("<desc id=\"c-desc\">100 in all</desc>"));
        // Top of the axis 100: each half of the full column is half the plot's height.
        let plot_h = HEIGHT - TOP - BOTTOM;
        let half = format!("height=\"{:.1}\"", plot_h / 2.0);
        assert_eq!(svg.matches(&half).count(), 2, "{svg}");
        assert_eq!(
            svg.matches("class=\"allowed\" x=").count(),
            2,
            "the legend's swatch and one column: zero draws nothing"
        );
        assert!(svg.contains(">12-01<") && svg.contains(">12-02<"));
        assert!(svg.ends_with("</svg>"));
    }

    #[test]
    fn labels_are_thinned_from_the_last_and_nothing_breaks_on_no_data() {
        let cols: Vec<Column> = (0..30)
            .map(|i| Column {
                label: format!("d{i}"),
                values: vec![0, 0],
            })
            .collect();
        let svg = columns("c", ("t", "s"), &TWO, &cols, 7, FULL);
        assert!(svg.contains(">d29<") && svg.contains(">d22<") && svg.contains(">d1<"));
        assert!(!svg.contains(">d28<"));
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
        let empty = columns("e", ("t", "s"), &TWO, &[], 1, HALF);
        assert!(empty.ends_with("</svg>") && !empty.contains("NaN"));
        assert!(!bars("b", "t", "s", "busy", &[]).contains("NaN"));
    }

    #[test]
    fn text_is_escaped_and_long_labels_shortened() {
        let svg = bars(
            "b\"",
            "<t>",
            "a & b",
            "busy",
            &[Bar {
                label: "<script>alert('x')</script> and a very long description".into(),
                value: 1_500,
            }],
        );
        assert!(!svg.contains("<script>") && !svg.contains("<t>"));
        assert!(svg.contains("&lt;script&gt;alert(&#39;x&#39;)"));
        assert!(svg.contains("a &amp; b") && svg.contains("id=\"b&quot;-title\""));
        assert!(svg.contains("…</text>") && svg.contains(">1,500<"));
    }
}
