//! Shared harness for the integration tests.
//!
//! Every test runs against either the `natrix` binary built by cargo (the default) or the
//! reference `nats-server` (set `NATRIX_TEST_TARGET=nats-server`). `TestServer` starts the chosen
//! binary on a random free port on 127.0.0.1, waits until it is ready and kills it on drop.
#![allow(dead_code)]

pub mod cluster;
pub mod diff;
pub mod load;
pub mod raw;

use std::collections::hash_map::RandomState;
use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Which server binary the tests run against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Natrix,
    NatsServer,
}

/// The target chosen by `NATRIX_TEST_TARGET` (`nats-server` or `natrix`, default natrix).
pub fn target() -> Target {
    match std::env::var("NATRIX_TEST_TARGET").as_deref() {
        Ok("nats-server") | Ok("nats_server") | Ok("nats") => Target::NatsServer,
        Ok("natrix") | Ok("") | Err(_) => Target::Natrix,
        Ok(other) => panic!("NATRIX_TEST_TARGET={other:?}: expected `natrix` or `nats-server`"),
    }
}

/// Where the reference `nats-server` is: on PATH, else /usr/sbin or /usr/bin.
pub fn nats_server_path() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.push(PathBuf::from("/usr/sbin"));
    dirs.push(PathBuf::from("/usr/bin"));
    dirs.into_iter()
        .map(|d| d.join("nats-server"))
        .find(|p| p.is_file())
}

/// Prints the standard skip line; returns true when nats-server is absent.
pub fn skip_without_nats_server() -> bool {
    if nats_server_path().is_none() {
        // CI installs the reference server and sets this: there, a skip is a failure.
        if std::env::var_os("NATRIX_REQUIRE_REFERENCE").is_some() {
            panic!("nats-server not found on PATH but NATRIX_REQUIRE_REFERENCE is set");
        }
        println!("SKIPPED: nats-server not found on PATH (install the Debian package nats-server)");
        return true;
    }
    false
}

/// The binary for `t`.
pub fn binary(t: Target) -> PathBuf {
    match t {
        Target::Natrix => PathBuf::from(env!("CARGO_BIN_EXE_natrix")),
        Target::NatsServer => nats_server_path().unwrap_or_else(|| {
            panic!(
                "NATRIX_TEST_TARGET=nats-server but nats-server was not found on PATH or in \
                 /usr/sbin (install the Debian package nats-server)"
            )
        }),
    }
}

/// A random u64 from std's randomly seeded hasher (no rand dependency needed).
pub fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    h.finish()
}

/// A port in 20000..32000 that 127.0.0.1 could bind a moment ago.
pub fn free_port() -> u16 {
    for _ in 0..50 {
        let port = 20000 + (random_u64() % 12000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port found in 20000..32000 after 50 tries");
}

const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A running server process, killed on drop (also when the test panics).
pub struct TestServer {
    pub port: u16,
    pub target: Target,
    child: Child,
    log_path: PathBuf,
    dir: tempfile::TempDir,
}

impl TestServer {
    /// Starts the chosen target with default options.
    pub fn start() -> TestServer {
        Self::start_on(target(), None, &[])
    }

    /// Starts the chosen target with `conf_text` written to a config file (`-c`).
    pub fn start_with_config(conf_text: &str) -> TestServer {
        Self::start_on(target(), Some(conf_text), &[])
    }

    /// Starts the chosen target with extra command-line flags.
    pub fn start_with_args(args: &[&str]) -> TestServer {
        Self::start_on(target(), None, args)
    }

    /// Starts `t` (a specific binary) with an optional config and extra flags.
    pub fn start_on(t: Target, conf_text: Option<&str>, args: &[&str]) -> TestServer {
        let mut last_log = String::new();
        for _attempt in 0..5 {
            let dir = tempfile::tempdir().expect("tempdir");
            let port = free_port();
            match Self::try_start(t, &dir, port, conf_text, args) {
                Ok((child, log_path)) => {
                    return TestServer { port, target: t, child, log_path, dir };
                }
                Err(log) => last_log = log,
            }
        }
        panic!("{t:?} did not start after 5 attempts; last log:\n{last_log}");
    }

    /// `start_on` on a chosen client port (a node replaced on its old port); no retry
    /// on another port.
    pub fn start_on_port(t: Target, port: u16, conf_text: Option<&str>, args: &[&str]) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        match Self::try_start(t, &dir, port, conf_text, args) {
            Ok((child, log_path)) => TestServer { port, target: t, child, log_path, dir },
            Err(log) => panic!("{t:?} did not start on port {port}:\n{log}"),
        }
    }

    fn try_start(
        t: Target,
        dir: &tempfile::TempDir,
        port: u16,
        conf_text: Option<&str>,
        args: &[&str],
    ) -> Result<(Child, PathBuf), String> {
        let bin = binary(t);
        let log_path = dir.path().join("server.log");
        let log_file = fs::File::create(&log_path).expect("create log file");
        let mut cmd = Command::new(&bin);
        cmd.arg("-a").arg("127.0.0.1").arg("-p").arg(port.to_string());
        if let Some(text) = conf_text {
            let conf = dir.path().join("server.conf");
            fs::write(&conf, text).expect("write config");
            cmd.arg("-c").arg(&conf);
        }
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("clone log file"))
            .stderr(log_file);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", bin.display()));
        let start = Instant::now();
        while start.elapsed() < READY_TIMEOUT {
            let log = fs::read_to_string(&log_path).unwrap_or_default();
            if log.contains("Server is ready") {
                return Ok((child, log_path));
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("{} exited with {status}:\n{log}", bin.display()));
            }
            // Fallback for a server that does not log the ready line: accept after 3 s of
            // silence if the port takes connections.
            if start.elapsed() > Duration::from_secs(3) && port_open(port) {
                return Ok((child, log_path));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
        let log = fs::read_to_string(&log_path).unwrap_or_default();
        Err(format!("{} not ready within {READY_TIMEOUT:?}:\n{log}", bin.display()))
    }

    /// Everything the server wrote to stdout/stderr so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// `127.0.0.1:<port>` for clients.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Sends SIGHUP (configuration reload).
    pub fn reload(&self) {
        let ok = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "could not send SIGHUP");
    }

    /// The process ID (for signals such as SIGUSR2, lame duck mode).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn port_open(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(100)).is_ok()
}

/// Connects an async-nats client with default options to `server`.
pub async fn client(server: &TestServer) -> async_nats::Client {
    client_with(server, async_nats::ConnectOptions::new()).await
}

/// Connects an async-nats client with `opts` (bounded by 10 s).
pub async fn client_with(
    server: &TestServer,
    opts: async_nats::ConnectOptions,
) -> async_nats::Client {
    tokio::time::timeout(Duration::from_secs(10), opts.connect(server.addr()))
        .await
        .expect("async-nats connect timed out")
        .expect("async-nats connect failed")
}

/// Waits (bounded) until `path` holds `needle`; returns the whole text.
pub fn wait_for_text(path: &Path, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = fs::read_to_string(path).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {needle:?} in {}: {text}", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits (bounded) for a child process to exit; its exit code (-1 if killed by a signal).
pub fn wait_exit(child: &mut Child) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(st) = child.try_wait().expect("wait") {
            return st.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("process did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
