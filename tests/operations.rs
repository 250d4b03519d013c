//! What operators do to a running natrix process: `--signal` (through the pid file, an
//! explicit pid or a pid file argument), log reopening for logrotate, log size limits,
//! and a graceful stop that still delivers what the server had accepted.
mod common;

use common::{wait_exit, wait_for_text};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn natrix() -> Command {
    Command::new(env!("CARGO_BIN_EXE_natrix"))
}

/// Runs `natrix args…` to completion: (exit code, stderr).
fn run(args: &[&str]) -> (i32, String) {
    let out = natrix().args(args).output().expect("run natrix");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}



/// A natrix child killed on drop, with its log and pid file in a temp dir.
struct Proc {
    child: Child,
    port: u16,
    log: PathBuf,
    pid_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(extra: &[&str]) -> Proc {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("natrix.log");
    let pid_file = dir.path().join("natrix.pid");
    let child = natrix()
        .args(["-a", "127.0.0.1", "-p", "-1"])
        .args(["-l", log.to_str().expect("utf8"), "-P", pid_file.to_str().expect("utf8")])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn natrix");
    let text = wait_for_text(&log, "Server is ready");
    let line = text.lines().find(|l| l.contains("Listening for client connections on")).expect("listen line");
    let port = line.rsplit(':').next().and_then(|p| p.trim().parse().ok()).expect("port");
    wait_for_text(&pid_file, "");
    Proc { child, port, log, pid_file, _dir: dir }
}

fn connect(port: u16) -> BufReader<TcpStream> {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).expect("INFO");
    assert!(line.starts_with("INFO "), "{line}");
    r.get_mut().write_all(b"CONNECT {\"verbose\":false}\r\nPING\r\n").expect("write");
    line.clear();
    r.read_line(&mut line).expect("PONG");
    assert_eq!(line, "PONG\r\n");
    r
}

#[test]
fn signal_reload_and_reopen_through_the_pid_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("n.conf");
    std::fs::write(&conf, "max_payload: 4096\n").expect("write conf");
    let p = start(&["-c", conf.to_str().expect("utf8")]);
    let pid_file = p.pid_file.to_str().expect("utf8");
    // No pid given: the pid file of -P is used.
    let (code, err) = run(&["--signal", "reload", "-P", pid_file]);
    assert_eq!(code, 0, "{err}");
    wait_for_text(&p.log, "Reloaded server configuration");

    // logrotate moves the file away; reopen starts a new one at the configured path.
    let rotated = p.log.with_extension("log.1");
    std::fs::rename(&p.log, &rotated).expect("rename log");
    let (code, err) = run(&["--signal", &format!("reopen={pid_file}")]);
    assert_eq!(code, 0, "{err}");
    let fresh = wait_for_text(&p.log, "File log re-opened");
    assert!(!fresh.contains("Server is ready"), "a new file, not the old one: {fresh}");
    let _c = connect(p.port);
    let old = std::fs::read_to_string(&rotated).expect("rotated log");
    assert!(old.contains("Server is ready"));
}

#[test]
fn signal_ldm_with_explicit_pid_drains_and_exits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("ldm.conf");
    std::fs::write(&conf, "lame_duck_duration: \"2s\"\nlame_duck_grace_period: \"300ms\"\n").expect("write conf");
    let mut p = start(&["-c", conf.to_str().expect("utf8")]);
    let mut c = connect(p.port);
    let pid = p.child.id().to_string();
    let (code, err) = run(&["-sl", &format!("ldm={pid}")]);
    assert_eq!(code, 0, "{err}");
    wait_for_text(&p.log, "Entering lame duck mode");
    // The client is told (protocol 0 clients get no INFO) and closed, the server exits.
    let mut rest = Vec::new();
    let _ = c.read_to_end(&mut rest);
    assert_eq!(wait_exit(&mut p.child), 0);
}

#[test]
fn signal_quit_stops_gracefully() {
    let mut p = start(&[]);
    let (code, err) = run(&["--signal", "quit", "-P", p.pid_file.to_str().expect("utf8")]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(wait_exit(&mut p.child), 0);
    let text = std::fs::read_to_string(&p.log).expect("log");
    assert!(text.contains("Trapped \"interrupt\" signal") && text.contains("Server Exiting"), "{text}");
}

#[test]
fn signal_errors_are_clear() {
    let (code, err) = run(&["--signal", "bogus=1"]);
    assert_eq!(code, 1);
    assert!(err.contains("unknown signal \"bogus\""), "{err}");
    let (code, err) = run(&["--signal", "reload=/nonexistent/natrix.pid"]);
    assert_eq!(code, 1);
    assert!(err.contains("could not read pid file /nonexistent/natrix.pid"), "{err}");
    let (code, err) = run(&["--signal", "reload=1=2"]);
    assert_eq!(code, 1);
    assert!(err.contains("invalid signal parameters"), "{err}");
}

#[test]
fn log_size_limit_rotates_the_log_file() {
    let p = start(&["-D", "--log_size_limit", "2000"]);
    // Each connection logs a few debug lines; 40 of them pass 2,000 bytes.
    for _ in 0..40 {
        drop(connect(p.port));
    }
    let text = wait_for_text(&p.log, "Rotated log, backup saved as");
    let dir = p.log.parent().expect("dir");
    let backups: Vec<String> = std::fs::read_dir(dir)
        .expect("list")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.starts_with("natrix.log."))
        .collect();
    assert!(!backups.is_empty(), "no backup file; log:\n{text}");
    let first = std::fs::read_to_string(dir.join(&backups[0])).expect("backup");
    assert!(first.len() >= 2000, "rotated only past the limit: {}", first.len());
}

#[test]
fn graceful_stop_delivers_what_was_accepted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("big.conf");
    std::fs::write(&conf, "max_pending: 256MB\n").expect("write conf");
    let mut p = start(&["-c", conf.to_str().expect("utf8")]);
    let mut sub = connect(p.port);
    sub.get_mut().write_all(b"SUB g 1\r\nPING\r\n").expect("sub");
    let mut line = String::new();
    sub.read_line(&mut line).expect("PONG");
    // The subscriber does not read while 96 MiB pile up for it (more than loopback socket
    // buffers hold, up to ~37 MiB here); the publisher's PONG proves the server accepted
    // every message.
    const N: usize = 96 * 1024;
    let payload = vec![b'x'; 1024];
    let mut publ = connect(p.port);
    let mut frame = Vec::with_capacity(N * 1040);
    for _ in 0..N {
        frame.extend_from_slice(b"PUB g 1024\r\n");
        frame.extend_from_slice(&payload);
        frame.extend_from_slice(b"\r\n");
    }
    frame.extend_from_slice(b"PING\r\n");
    publ.get_mut().write_all(&frame).expect("publish");
    line.clear();
    publ.read_line(&mut line).expect("PONG");
    assert_eq!(line, "PONG\r\n");

    let st = Command::new("kill").args(["-TERM", &p.child.id().to_string()]).status().expect("kill");
    assert!(st.success());
    let mut got = 0;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match sub.read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(_) if buf.starts_with(b"MSG g 1 1024") => {
                let mut body = vec![0; 1026];
                sub.read_exact(&mut body).expect("payload");
                got += 1;
            }
            Ok(_) => {}
            Err(e) => panic!("read after {got} messages: {e}"),
        }
    }
    eprintln!("got {got} of {N}");
    assert_eq!(got, N, "every accepted message is delivered before the close");
    assert_eq!(wait_exit(&mut p.child), 0);
}

#[test]
fn trace_shows_protocol_but_never_secrets() {
    let p = start(&["-V", "--user", "u", "--pass", "s3cret-pw"]);
    let s = TcpStream::connect(("127.0.0.1", p.port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).expect("INFO");
    r.get_mut()
        .write_all(b"CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"s3cret-pw\",\"auth_token\":\"t0ken-x\"}\r\nSUB t 1\r\nPUB t 2\r\nhi\r\nPING\r\n")
        .expect("write");
    line.clear();
    r.read_line(&mut line).expect("MSG");
    assert_eq!(line, "MSG t 1 2\r\n");
    let text = wait_for_text(&p.log, "->> [MSG t 1 2]");
    assert!(text.contains("[TRC]") && text.contains("<<- [SUB t 1]") && text.contains("<<- [PUB t 2]"), "{text}");
    assert!(text.contains("\"pass\":\"[REDACTED]\""), "{text}");
    assert!(!text.contains("s3cret-pw") && !text.contains("t0ken-x"), "secrets in the log:\n{text}");
}

#[test]
fn example_config_in_docs_is_valid() {
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/natrix.conf");
    let (code, err) = run(&["-t", "-c", conf.to_str().expect("utf8")]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("warning"), "the example should use only supported keys: {err}");
}

#[test]
fn https_monitoring_without_tls_is_a_config_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("https.conf");
    std::fs::write(&conf, "https_port: 8443\n").expect("write conf");
    let (code, err) = run(&["-t", "-c", conf.to_str().expect("utf8")]);
    assert_eq!(code, 1);
    assert!(err.contains("https monitoring") && err.contains("needs TLS"), "{err}");
}
