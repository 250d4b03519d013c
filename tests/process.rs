//! The `natrix` binary as a process: flags, config check, pid and log files, the
//! startup lines client test harnesses read, signals and exit codes.
mod common;

use common::{wait_exit, wait_for_text};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn natrix() -> Command {
    Command::new(env!("CARGO_BIN_EXE_natrix"))
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = natrix().args(args).output().expect("run natrix");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}



/// Starts natrix with `args` plus `-p -1 -l <log>`, waits until it is ready; returns the
/// child, its port and the log text so far. Callers stop it (kill or signal).
fn spawn_ready(args: &[&str], log: &Path) -> (Child, u16, String) {
    let child = natrix()
        .args(args)
        .args(["-p", "-1", "-l", log.to_str().expect("utf8")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let text = wait_for_text(log, "Server is ready");
    let port = port_from_log(&text);
    (child, port, text)
}

fn port_from_log(log: &str) -> u16 {
    let line = log.lines().find(|l| l.contains("Listening for client connections on")).expect("listen line");
    line.rsplit(':').next().and_then(|p| p.trim().parse().ok()).expect("port in listen line")
}

#[test]
fn version_and_help() {
    let (code, out, _) = run(&["-v"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("natrix: v"), "{out}");
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("--port"), "{out}");
}

#[test]
fn unknown_flag_is_an_error() {
    let (code, _, err) = run(&["--bogus"]);
    assert_ne!(code, 0);
    assert!(err.contains("flag provided but not defined: -bogus"), "{err}");
}

#[test]
fn check_config_valid_and_invalid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.conf");
    std::fs::write(&good, "port: 4333\nmax_payload: 64KB\n").expect("write");
    let (code, out, err) = run(&["-t", "-c", good.to_str().expect("utf8")]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("is valid"), "{out}");

    let bad = dir.path().join("bad.conf");
    std::fs::write(&bad, "port: 4333\nmax_payload: \"lots\"\n").expect("write");
    let (code, _, err) = run(&["-t", "-c", bad.to_str().expect("utf8")]);
    assert_eq!(code, 1);
    assert!(err.contains("bad.conf:2:"), "error must name file:line:col: {err}");
}

#[test]
fn jetstream_is_refused_clearly() {
    let (code, _, err) = run(&["-js", "-p", "-1"]);
    assert_ne!(code, 0);
    assert!(err.to_lowercase().contains("jetstream"), "{err}");

    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("js.conf");
    std::fs::write(&conf, "jetstream {\n  store_dir: /tmp/x\n}\n").expect("write");
    let (code, _, err) = run(&["-c", conf.to_str().expect("utf8"), "-p", "-1"]);
    assert_ne!(code, 0);
    assert!(err.to_lowercase().contains("jetstream") && err.contains("js.conf:1:"), "{err}");
}

/// What client test harnesses written for nats-server do:
/// `nats-server --store_dir D -p -1 -l LOG -P PID -c CONF`, then read both files.
#[test]
fn harness_style_start_pid_log_and_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("natrix.log");
    let pid = dir.path().join("natrix.pid");
    let conf = dir.path().join("n.conf");
    std::fs::write(&conf, "host: 127.0.0.1\nmax_payload: 2KB\n").expect("write");
    let mut child = natrix()
        .args(["--store_dir", dir.path().to_str().expect("utf8"), "-p", "-1"])
        .args(["-l", log.to_str().expect("utf8"), "-P", pid.to_str().expect("utf8")])
        .args(["-c", conf.to_str().expect("utf8")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let text = wait_for_text(&log, "Server is ready");
    assert!(text.contains("store_dir"), "store_dir warning expected in log: {text}");
    let port = port_from_log(&text);
    let pid_text = std::fs::read_to_string(&pid).expect("pid file");
    assert_eq!(pid_text.trim(), child.id().to_string(), "pid file holds the bare pid");

    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let mut r = BufReader::new(s.try_clone().expect("clone"));
    let mut info = String::new();
    r.read_line(&mut info).expect("INFO");
    assert!(info.contains("\"max_payload\":2048"), "{info}");

    // SIGTERM: graceful shutdown, exit 0, the client sees the close.
    let st = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(st.success());
    assert_eq!(wait_exit(&mut child), 0);
    let mut rest = Vec::new();
    let _ = r.read_to_end(&mut rest);
    let _ = s.write_all(b"PING\r\n");
}

#[test]
fn sigint_flushes_and_exits_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("natrix.log");
    let (mut child, port, _) = spawn_ready(&["-a", "127.0.0.1"], &log);
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    s.write_all(b"CONNECT {\"verbose\":false}\r\nPING\r\n").expect("write");
    let mut r = BufReader::new(s.try_clone().expect("clone"));
    let mut line = String::new();
    r.read_line(&mut line).expect("INFO");
    line.clear();
    r.read_line(&mut line).expect("PONG");
    assert_eq!(line, "PONG\r\n");
    let st = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(st.success());
    assert_eq!(wait_exit(&mut child), 0);
    let mut rest = Vec::new();
    let n = r.read_to_end(&mut rest).unwrap_or(0);
    assert_eq!(n, 0, "nothing after shutdown, just the close");
    let log_text = std::fs::read_to_string(&log).expect("log");
    assert!(log_text.contains("Trapped \"interrupt\" signal"), "{log_text}");
}

#[test]
fn flags_override_config_port_but_keep_its_host() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("natrix.log");
    let conf = dir.path().join("n.conf");
    std::fs::write(&conf, "listen: 127.0.0.1:1\n").expect("write");
    let (mut child, port, text) = spawn_ready(&["-c", conf.to_str().expect("utf8")], &log);
    assert!(text.contains("Listening for client connections on 127.0.0.1:"), "{text}");
    assert_ne!(port, 1);
    let _ = child.kill();
    let _ = child.wait();
}

fn info_line(port: u16) -> String {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let mut r = BufReader::new(s);
    let mut info = String::new();
    r.read_line(&mut info).expect("INFO");
    info
}

#[test]
fn sighup_reloads_and_refuses_bad_configs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("natrix.log");
    let conf = dir.path().join("n.conf");
    std::fs::write(&conf, "host: 127.0.0.1\nmax_payload: 2KB\n").expect("write");
    let (mut child, port, _) = spawn_ready(&["-c", conf.to_str().expect("utf8")], &log);
    assert!(info_line(port).contains("\"max_payload\":2048"));
    let hup = |child: &Child| {
        let st = Command::new("kill").args(["-HUP", &child.id().to_string()]).status().expect("kill");
        assert!(st.success());
    };

    // A reloadable change applies.
    std::fs::write(&conf, "host: 127.0.0.1\nmax_payload: 512\n").expect("write");
    hup(&child);
    wait_for_text(&log, "Reloaded server configuration");
    assert!(info_line(port).contains("\"max_payload\":512"));

    // A syntax error is refused with file:line:col; the running config stays.
    std::fs::write(&conf, "host: 127.0.0.1\nmax_payload: [\n").expect("write");
    hup(&child);
    let text = wait_for_text(&log, "Failed to reload server configuration");
    assert!(text.contains("n.conf:"), "{text}");
    assert!(info_line(port).contains("\"max_payload\":512"));

    // A non-reloadable change is refused, naming the field.
    std::fs::write(&conf, "host: 127.0.0.1\nmax_payload: 512\nmax_pending: 10MB\n").expect("write");
    hup(&child);
    wait_for_text(&log, "config reload not supported for MaxPending");
    assert!(info_line(port).contains("\"max_payload\":512"));

    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn sigusr2_lame_duck_announces_drains_and_exits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("natrix.log");
    let conf = dir.path().join("n.conf");
    std::fs::write(&conf, "host: 127.0.0.1\nlame_duck_duration: \"2s\"\nlame_duck_grace_period: \"500ms\"\n")
        .expect("write");
    let (mut child, port, _) = spawn_ready(&["-c", conf.to_str().expect("utf8")], &log);
    let connect = |json: &str| {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        s.write_all(format!("CONNECT {json}\r\nPING\r\n").as_bytes()).expect("write");
        let mut r = BufReader::new(s);
        let mut line = String::new();
        r.read_line(&mut line).expect("INFO");
        line.clear();
        r.read_line(&mut line).expect("PONG");
        assert_eq!(line, "PONG\r\n");
        r
    };
    let mut v1 = connect(r#"{"verbose":false,"protocol":1}"#);
    let mut v0 = connect(r#"{"verbose":false,"protocol":0}"#);
    let st = Command::new("kill").args(["-USR2", &child.id().to_string()]).status().expect("kill");
    assert!(st.success());

    let mut line = String::new();
    v1.read_line(&mut line).expect("ldm INFO");
    assert!(line.starts_with("INFO ") && line.contains("\"ldm\":true"), "{line}");
    // Both are closed within the lame duck duration; the protocol-0 client got no INFO.
    let mut rest = Vec::new();
    let _ = v0.read_to_end(&mut rest);
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    let _ = v1.read_to_end(&mut rest);
    assert_eq!(wait_exit(&mut child), 0);
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(text.contains("Entering lame duck mode"), "{text}");
}
