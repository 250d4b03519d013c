//! Latency samples: percentiles, and an SVG plot comparing distributions.
use std::fmt::Write as _;
use std::time::Duration;

#[derive(Default, Clone)]
pub struct Latencies {
    pub ns: Vec<u64>,
}

impl Latencies {
    pub fn record(&mut self, d: Duration) {
        self.ns.push(d.as_nanos().min(u64::MAX as u128) as u64);
    }

    pub fn merge(&mut self, other: Latencies) {
        self.ns.extend(other.ns);
    }

    /// Percentile (0–100) in microseconds; sorts on first use.
    pub fn percentile_us(&mut self, p: f64) -> f64 {
        if self.ns.is_empty() {
            return 0.0;
        }
        self.ns.sort_unstable();
        let idx = ((p / 100.0) * (self.ns.len() - 1) as f64).round() as usize;
        self.ns[idx.min(self.ns.len() - 1)] as f64 / 1000.0
    }

    /// The distribution as `percentile,microseconds` lines (for plotting).
    pub fn percentile_csv(&mut self) -> String {
        let mut out = String::from("percentile,us\n");
        for p in [0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.99, 100.0] {
            let _ = writeln!(out, "{p},{:.2}", self.percentile_us(p));
        }
        out
    }
}

/// Parses `percentile_csv` output back into (percentile, us) points.
pub fn parse_csv(text: &str) -> Vec<(f64, f64)> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let (p, us) = l.split_once(',')?;
            Some((p.trim().parse().ok()?, us.trim().parse().ok()?))
        })
        .collect()
}

/// A percentile plot (x: percentile on a "nines" scale, y: latency in µs, log scale).
pub fn svg(series: &[(&str, Vec<(f64, f64)>)]) -> String {
    let (w, h, left, bottom) = (720.0, 420.0, 70.0, 50.0);
    let xs = |p: f64| -> f64 {
        // 0 → 0, 90 → 1, 99 → 2, 99.9 → 3, 99.99 → 4 (100 drawn at 4.3)
        let nines = if p >= 100.0 { 4.3 } else { -(1.0 - p / 100.0).log10() };
        left + (nines / 4.3) * (w - left - 20.0)
    };
    let max_us = series.iter().flat_map(|(_, s)| s.iter().map(|&(_, y)| y)).fold(1.0, f64::max);
    let min_us = series.iter().flat_map(|(_, s)| s.iter().map(|&(_, y)| y)).fold(max_us, f64::min).max(0.1);
    let (lo, hi) = (min_us.log10().floor(), max_us.log10().ceil().max(min_us.log10().floor() + 1.0));
    let ys = |us: f64| -> f64 { h - bottom - ((us.max(0.1).log10() - lo) / (hi - lo)) * (h - bottom - 20.0) };
    let colors = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e"];
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    for (p, label) in [(0.0, "0"), (90.0, "90"), (99.0, "99"), (99.9, "99.9"), (99.99, "99.99"), (100.0, "max")] {
        let x = xs(p);
        let _ = writeln!(out, "<line x1=\"{x:.1}\" y1=\"20\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/><text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{label}</text>", h - bottom, h - bottom + 16.0);
    }
    let mut e = lo;
    while e <= hi {
        let y = ys(10f64.powf(e));
        let _ = writeln!(out, "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{} µs</text>", w - 20.0, left - 6.0, y + 4.0, 10f64.powf(e));
        e += 1.0;
    }
    let _ = writeln!(out, "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">percentile</text>", (w + left) / 2.0, h - 10.0);
    for (i, (name, pts)) in series.iter().enumerate() {
        let color = colors[i % colors.len()];
        let path: Vec<String> = pts.iter().map(|&(p, us)| format!("{:.1},{:.1}", xs(p), ys(us))).collect();
        let _ = writeln!(out, "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>", path.join(" "));
        let _ = writeln!(out, "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"{color}\">{name}</text>", left + 10.0, 30.0 + 16.0 * i as f64);
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_csv_round_trip() {
        let mut l = Latencies::default();
        for i in 1..=1000 {
            l.record(Duration::from_micros(i));
        }
        assert!((l.percentile_us(50.0) - 500.0).abs() < 2.0);
        assert!((l.percentile_us(99.0) - 990.0).abs() < 2.0);
        let pts = parse_csv(&l.percentile_csv());
        assert_eq!(pts.len(), 12);
        let s = svg(&[("a", pts.clone()), ("b", pts)]);
        assert!(s.starts_with("<svg") && s.contains("polyline"));
    }
}
