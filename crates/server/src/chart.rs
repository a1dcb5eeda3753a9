//! Charts drawn by the server as inline SVG: no script, and every size an SVG attribute (the
//! CSP allows no inline style). Colours come from the style sheet.

use maud::{Markup, html};
use pairscope_query::Bucket;

const WIDTH: f64 = 480.0;
const HEIGHT: f64 = 140.0;
/// Room under the bars for the axis labels.
const AXIS: f64 = 18.0;
/// Room above them for the scale.
const TOP: f64 = 16.0;

/// A column chart of a histogram's buckets, each bar titled with its range and count (the
/// browser shows it on hover); the lowest, middle and highest edges labelled.
pub(crate) fn histogram(label: &str, buckets: &[Bucket]) -> Markup {
    let most = buckets.iter().map(|b| b.count).max().unwrap_or(0).max(1) as f64;
    let step = WIDTH / buckets.len().max(1) as f64;
    let (first, last) = (buckets.first().map_or(0.0, |b| b.lo), buckets.last().map_or(0.0, |b| b.hi));
    html! {
        svg.histogram viewBox=(format!("0 0 {WIDTH} {}", TOP + HEIGHT + AXIS)) width=(WIDTH)
            height=(TOP + HEIGHT + AXIS) role="img" aria-label=(format!("histogram of {label}")) {
            @for (i, bucket) in buckets.iter().enumerate() {
                @let height = HEIGHT * bucket.count as f64 / most;
                rect x=(round(i as f64 * step + 1.0)) y=(round(TOP + HEIGHT - height))
                    width=(round((step - 2.0).max(1.0))) height=(round(height)) {
                    title { (edge(bucket.lo)) " – " (edge(bucket.hi)) ": " (bucket.count) " rows" }
                }
            }
            line x1="0" y1=(TOP + HEIGHT) x2=(WIDTH) y2=(TOP + HEIGHT) {}
            @let baseline = TOP + HEIGHT + AXIS - 4.0;
            text x="0" y=(baseline) { (edge(first)) }
            text x=(WIDTH / 2.0) y=(baseline) text-anchor="middle" { (edge((first + last) / 2.0)) }
            text x=(WIDTH) y=(baseline) text-anchor="end" { (edge(last)) }
            text x=(WIDTH) y="11" text-anchor="end" { "tallest bar: " (most as u64) " rows" }
        }
    }
}

/// A horizontal bar `fraction` (0–1) of full length.
pub(crate) fn bar(fraction: f64) -> Markup {
    let width = (100.0 * fraction.clamp(0.0, 1.0)).max(0.5);
    html! {
        svg.bar viewBox="0 0 100 10" width="120" height="12" preserveAspectRatio="none" aria-hidden="true" {
            rect width=(round(width)) height="10" {}
        }
    }
}

/// A bucket edge as a person writes it: whole numbers without decimals.
fn edge(value: f64) -> String {
    if value.fract() == 0.0 { format!("{value:.0}") } else { format!("{value:.2}") }
}

fn round(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_as_tall_as_their_share_of_the_largest() {
        let buckets: Vec<Bucket> =
            [(0.0, 5.0, 10), (5.0, 10.0, 40)].into_iter().map(|(lo, hi, count)| Bucket { lo, hi, count }).collect();
        let svg = histogram("aesthetic", &buckets).into_string();
        assert!(svg.contains(r#"height="35""#) && svg.contains(r#"height="140""#), "{svg}");
        assert!(svg.contains("0 – 5: 10 rows") && svg.contains("5 – 10: 40 rows"), "{svg}");
        // No buckets with rows: no division by zero, no NaN.
        let empty = histogram("x", &[Bucket { lo: 0.0, hi: 0.5, count: 0 }]).into_string();
        assert!(!empty.contains("NaN") && empty.contains("0 – 0.50: 0 rows"), "{empty}");
        assert!(bar(0.25).into_string().contains(r#"width="25""#));
    }
}
