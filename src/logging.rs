//! Logging in nats-server's line format: `[pid] 2006/01/02 15:04:05.000000 [INF] text`.
//!
//! One process-wide sink (stderr or a file). Log lines are rare (connects, errors,
//! startup), never per message, so a mutex around the writer is fine.
use parking_lot::Mutex;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Fatal,
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl Level {
    fn tag(self) -> &'static str {
        match self {
            Level::Fatal => "[FTL]",
            Level::Error => "[ERR]",
            Level::Warn => "[WRN]",
            Level::Info => "[INF]",
            Level::Debug => "[DBG]",
            Level::Trace => "[TRC]",
        }
    }
}

enum Sink {
    Stderr,
    File(FileSink),
}

/// A log file, rotated when it passes `limit` bytes (`log_size_limit`) and reopened on
/// SIGUSR1 (after logrotate moved it away).
struct FileSink {
    path: PathBuf,
    file: File,
    written: u64,
    limit: u64,
}

impl FileSink {
    fn open(path: &Path, limit: u64) -> io::Result<FileSink> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let written = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(FileSink { path: path.to_path_buf(), file, written, limit })
    }

    fn write(&mut self, line: &[u8]) {
        let _ = self.file.write_all(line);
        self.written += line.len() as u64;
        if self.limit > 0 && self.written > self.limit {
            self.rotate();
        }
    }

    /// nats-server's scheme: the full file is renamed `<file>.<yyyy.mm.dd.hh.mm.ss.nanos>`
    /// and a fresh one started, whose first line names the backup.
    fn rotate(&mut self) {
        let backup = PathBuf::from(format!("{}.{}", self.path.display(), backup_suffix()));
        if std::fs::rename(&self.path, &backup).is_err() {
            return;
        }
        if let Ok(fresh) = FileSink::open(&self.path, self.limit) {
            *self = fresh;
            let line = format_line(Level::Info, format_args!("Rotated log, backup saved as {}", backup.display()));
            let _ = self.file.write_all(line.as_bytes());
            self.written += line.len() as u64;
        }
    }
}

struct Logger {
    sink: Mutex<Sink>,
    logtime: bool,
    pid: u32,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();
static DEBUG: AtomicBool = AtomicBool::new(false);
static TRACE: AtomicBool = AtomicBool::new(false);

/// Sets up the process-wide logger. Later calls keep the first sink but update the levels.
/// `size_limit` (bytes, 0 = none) rotates the log file.
pub fn init(log_file: Option<&Path>, logtime: bool, debug: bool, trace: bool, size_limit: u64) -> io::Result<()> {
    DEBUG.store(debug, Ordering::Relaxed);
    TRACE.store(trace, Ordering::Relaxed);
    let sink = match log_file {
        Some(path) => Sink::File(FileSink::open(path, size_limit)?),
        None => Sink::Stderr,
    };
    let _ = LOGGER.set(Logger { sink: Mutex::new(sink), logtime, pid: std::process::id() });
    Ok(())
}

/// Reopens the log file at its configured path (SIGUSR1, for logrotate). `Ok(false)` when
/// logging goes to stderr.
pub fn reopen() -> io::Result<bool> {
    let Some(logger) = LOGGER.get() else { return Ok(false) };
    let mut sink = logger.sink.lock();
    match &mut *sink {
        Sink::Stderr => Ok(false),
        Sink::File(f) => {
            *f = FileSink::open(&f.path, f.limit)?;
            Ok(true)
        }
    }
}

/// Changes the debug and trace switches (reload).
pub fn set_levels(debug: bool, trace: bool) {
    DEBUG.store(debug, Ordering::Relaxed);
    TRACE.store(trace, Ordering::Relaxed);
}

pub fn debug_enabled() -> bool {
    DEBUG.load(Ordering::Relaxed)
}

pub fn trace_enabled() -> bool {
    TRACE.load(Ordering::Relaxed)
}

fn format_line(level: Level, args: std::fmt::Arguments<'_>) -> String {
    let (pid, logtime) = LOGGER.get().map(|l| (l.pid, l.logtime)).unwrap_or((std::process::id(), true));
    let mut line = String::with_capacity(96);
    use std::fmt::Write as _;
    let _ = write!(line, "[{pid}] ");
    if logtime {
        line.push_str(&timestamp());
        line.push(' ');
    }
    let _ = writeln!(line, "{} {}", level.tag(), args);
    line
}

/// Writes one line at `level`. Debug and trace lines are dropped unless enabled.
pub fn log(level: Level, args: std::fmt::Arguments<'_>) {
    match level {
        Level::Debug if !debug_enabled() => return,
        Level::Trace if !trace_enabled() => return,
        _ => {}
    }
    let line = format_line(level, args);
    match LOGGER.get() {
        Some(logger) => match &mut *logger.sink.lock() {
            Sink::Stderr => {
                let _ = io::stderr().write_all(line.as_bytes());
            }
            Sink::File(f) => f.write(line.as_bytes()),
        },
        None => {
            let _ = io::stderr().write_all(line.as_bytes());
        }
    }
}

fn backup_suffix() -> String {
    let now = now_since_epoch();
    let (y, mo, d, h, mi, s) = utc_fields(now);
    format!("{y:04}.{mo:02}.{d:02}.{h:02}.{mi:02}.{s:02}.{:09}", now.subsec_nanos())
}

/// A time since the epoch as UTC calendar fields: (year, month, day, hour, minute, second).
pub(crate) fn utc_fields(since_epoch: std::time::Duration) -> (i64, u32, u32, i64, i64, i64) {
    let secs = since_epoch.as_secs() as i64;
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    (y, mo, d, rem / 3600, (rem % 3600) / 60, rem % 60)
}

fn now_since_epoch() -> std::time::Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// `2006/01/02 15:04:05.000000` in UTC.
fn timestamp() -> String {
    let now = now_since_epoch();
    let (y, mo, d, h, mi, s) = utc_fields(now);
    format!("{y:04}/{mo:02}/{d:02} {h:02}:{mi:02}:{s:02}.{:06}", now.subsec_micros())
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[macro_export]
macro_rules! info { ($($t:tt)*) => { $crate::logging::log($crate::logging::Level::Info, format_args!($($t)*)) } }
#[macro_export]
macro_rules! warn { ($($t:tt)*) => { $crate::logging::log($crate::logging::Level::Warn, format_args!($($t)*)) } }
#[macro_export]
macro_rules! error { ($($t:tt)*) => { $crate::logging::log($crate::logging::Level::Error, format_args!($($t)*)) } }
#[macro_export]
macro_rules! debug { ($($t:tt)*) => { if $crate::logging::debug_enabled() { $crate::logging::log($crate::logging::Level::Debug, format_args!($($t)*)) } } }
#[macro_export]
macro_rules! trace { ($($t:tt)*) => { if $crate::logging::trace_enabled() { $crate::logging::log($crate::logging::Level::Trace, format_args!($($t)*)) } } }

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_000), (2022, 1, 8));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn file_sink_rotates_past_its_limit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("n.log");
        let mut sink = FileSink::open(&path, 100).expect("open");
        for _ in 0..5 {
            sink.write(&[b'x'; 40]);
        }
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("list")
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect();
        assert!(names.iter().any(|n| n.starts_with("n.log.")), "{names:?}");
        let current = std::fs::read_to_string(&path).expect("current log");
        assert!(current.contains("Rotated log, backup saved as"), "{current}");
        assert!(current.len() <= 100 + 40 + 120, "current file restarted small: {}", current.len());
    }

    #[test]
    fn timestamp_shape() {
        let t = timestamp();
        assert_eq!(t.len(), "2006/01/02 15:04:05.000000".len());
        assert_eq!(&t[4..5], "/");
    }
}
