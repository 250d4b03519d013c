//! `natrix --signal CMD[=PID]`: signal a running natrix, as `nats-server --signal` does.
//! The target is an explicit pid, a pid file named after `=`, the pid file of the
//! configuration (`-P`, `pid_file`), or else the one natrix process running.
use std::path::Path;
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SignalError {
    #[error("unknown signal {0:?}")]
    UnknownCommand(String),
    #[error("invalid pid: {0}")]
    BadPid(String),
    #[error("could not read pid file {path}: {reason}")]
    PidFile { path: String, reason: String },
    #[error("no natrix processes running")]
    NoProcess,
    #[error("multiple natrix processes running:\n{0}")]
    Ambiguous(String),
    #[error("failed to signal pid {pid}: {reason}")]
    Kill { pid: i32, reason: String },
}

/// nats-server's command names and the signals they send.
pub fn signal_for(command: &str) -> Result<libc::c_int, SignalError> {
    Ok(match command {
        "stop" => libc::SIGKILL,
        "quit" => libc::SIGINT,
        "term" => libc::SIGTERM,
        "reopen" => libc::SIGUSR1,
        "reload" => libc::SIGHUP,
        "ldm" => libc::SIGUSR2,
        other => return Err(SignalError::UnknownCommand(other.to_string())),
    })
}

/// A pid given as a number, or read from the file it names.
fn pid_from(arg: &str) -> Result<i32, SignalError> {
    if let Ok(pid) = arg.trim().parse::<i32>() {
        return if pid > 0 { Ok(pid) } else { Err(SignalError::BadPid(arg.to_string())) };
    }
    read_pid_file(Path::new(arg))
}

fn read_pid_file(path: &Path) -> Result<i32, SignalError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| SignalError::PidFile { path: path.display().to_string(), reason: e.to_string() })?;
    text.trim().parse::<i32>().ok().filter(|p| *p > 0).ok_or_else(|| SignalError::BadPid(text.trim().to_string()))
}

/// Other processes whose executable name is `natrix` (from /proc).
fn running_natrix_pids() -> Vec<i32> {
    let me = std::process::id() as i32;
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    let mut pids: Vec<i32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "natrix"))
        .collect();
    pids.sort_unstable();
    pids
}

/// Resolves the target and sends the signal; returns the pid signalled.
pub fn send(command: &str, pid: Option<&str>, pid_file: Option<&Path>) -> Result<i32, SignalError> {
    let sig = signal_for(command)?;
    let pid = match (pid, pid_file) {
        (Some(p), _) => pid_from(p)?,
        (None, Some(file)) => read_pid_file(file)?,
        (None, None) => match running_natrix_pids().as_slice() {
            [] => return Err(SignalError::NoProcess),
            [one] => *one,
            many => {
                let list: Vec<String> = many.iter().map(i32::to_string).collect();
                return Err(SignalError::Ambiguous(list.join("\n")));
            }
        },
    };
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    let rc = unsafe { libc::kill(pid, sig) };
    if rc != 0 {
        return Err(SignalError::Kill { pid, reason: std::io::Error::last_os_error().to_string() });
    }
    Ok(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_map_to_nats_server_signals() {
        assert_eq!(signal_for("reload"), Ok(libc::SIGHUP));
        assert_eq!(signal_for("reopen"), Ok(libc::SIGUSR1));
        assert_eq!(signal_for("ldm"), Ok(libc::SIGUSR2));
        assert_eq!(signal_for("quit"), Ok(libc::SIGINT));
        assert_eq!(signal_for("term"), Ok(libc::SIGTERM));
        assert_eq!(signal_for("stop"), Ok(libc::SIGKILL));
        assert_eq!(signal_for("bogus"), Err(SignalError::UnknownCommand("bogus".into())));
    }

    #[test]
    fn pids_from_numbers_and_files() {
        assert_eq!(pid_from("42"), Ok(42));
        assert!(matches!(pid_from("0"), Err(SignalError::BadPid(_))));
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("n.pid");
        std::fs::write(&f, "1234\n").expect("write");
        assert_eq!(pid_from(f.to_str().expect("utf8 path")), Ok(1234));
        std::fs::write(&f, "garbage").expect("write");
        assert!(matches!(read_pid_file(&f), Err(SignalError::BadPid(_))));
        assert!(matches!(pid_from("/nonexistent/x.pid"), Err(SignalError::PidFile { .. })));
    }
}
