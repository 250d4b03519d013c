//! Value formats of nats-server's monitoring JSON.
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// RFC 3339 in UTC with nanoseconds, as Go's `time.Time` marshals.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let (y, mo, day, h, mi, s) = crate::logging::utc_fields(d);
    format!("{y:04}-{mo:02}-{day:02}T{h:02}:{mi:02}:{s:02}.{:09}Z", d.subsec_nanos())
}

/// nats-server's `myUptime`: `1d2h3m4s`, leading zero units left out, at least `0s`.
pub fn uptime(d: Duration) -> String {
    let mut s = d.as_secs();
    let days = s / 86_400;
    s %= 86_400;
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    if days > 0 {
        format!("{days}d{h}h{m}m{sec}s")
    } else if h > 0 {
        format!("{h}h{m}m{sec}s")
    } else if m > 0 {
        format!("{m}m{sec}s")
    } else {
        format!("{sec}s")
    }
}

/// Go's `time.Duration.String()`: `379.12µs`, `1.5ms`, `2m3.5s`, `0s`.
pub fn go_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    // A number of `unit`s with the remainder as a fraction, trailing zeros dropped.
    fn frac(v: u128, unit: u128, digits: usize) -> String {
        let whole = v / unit;
        let rem = v % unit;
        if rem == 0 {
            return whole.to_string();
        }
        let f = format!("{rem:0digits$}");
        format!("{whole}.{}", f.trim_end_matches('0'))
    }
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}µs", frac(ns, 1_000, 3));
    }
    if ns < 1_000_000_000 {
        return format!("{}ms", frac(ns, 1_000_000, 6));
    }
    let secs = ns / 1_000_000_000;
    let (h, m) = (secs / 3600, (secs % 3600) / 60);
    let s = frac(ns % 60_000_000_000, 1_000_000_000, 9);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, m) => format!("{m}m{s}s"),
        (h, m) => format!("{h}h{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(uptime(Duration::from_secs(0)), "0s");
        assert_eq!(uptime(Duration::from_secs(62)), "1m2s");
        assert_eq!(uptime(Duration::from_secs(90_061)), "1d1h1m1s");
        assert_eq!(go_duration(Duration::from_nanos(379_120)), "379.12µs");
        assert_eq!(go_duration(Duration::from_nanos(999)), "999ns");
        assert_eq!(go_duration(Duration::from_micros(1500)), "1.5ms");
        assert_eq!(go_duration(Duration::from_millis(123_500)), "2m3.5s");
        assert_eq!(go_duration(Duration::from_secs(3723)), "1h2m3s");
        assert_eq!(go_duration(Duration::ZERO), "0s");
        assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_nanos(1_500_000_000)), "1970-01-01T00:00:01.500000000Z");
    }
}
