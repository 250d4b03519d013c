//! Process figures from /proc: resident memory and CPU time (for /varz, and for
//! natrix-bench, which reads them for the server it measures).
use std::fs;

/// This process's resident set size in bytes.
pub fn rss_bytes() -> Option<u64> {
    rss_bytes_of(std::process::id())
}

/// Share of one core this process used since it started, in percent (as /varz `cpu`).
pub fn cpu_percent() -> f64 {
    let me = std::process::id();
    let (Some(cpu), Some(age)) = (cpu_seconds(me), process_age_seconds(me)) else { return 0.0 };
    if age <= 0.0 {
        return 0.0;
    }
    (cpu / age * 1000.0).round() / 10.0
}

fn process_age_seconds(pid: u32) -> Option<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let start_ticks: f64 = rest.split_whitespace().nth(19)?.parse().ok()?;
    let uptime: f64 = fs::read_to_string("/proc/uptime").ok()?.split_whitespace().next()?.parse().ok()?;
    Some(uptime - start_ticks / clock_ticks())
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// Resident set size in bytes (`VmRSS`) of `pid`, if the process exists.
pub fn rss_bytes_of(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// User + system CPU time in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: fields start after ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the full line: 12 and 13 here.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        let me = std::process::id();
        assert!(rss_bytes_of(me).is_some_and(|b| b > 0));
        assert!(rss_bytes().is_some());
        assert!(cpu_seconds(me).is_some());
        assert!(rss_bytes_of(u32::MAX).is_none());
        assert!(cpu_percent() >= 0.0);
    }
}
