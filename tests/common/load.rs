//! Helpers for bounded load tests: a bystander client that measures its round trips
//! while something heavy happens, and the monitoring figures that show what happened.

use super::raw::RawClient;
use super::TestServer;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Longest a bystander waits for one answer before it reports a failure.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on how long any bystander runs, whatever the test does.
const MAX_RUN: Duration = Duration::from_secs(120);

/// Round-trip figures of one bystander.
#[derive(Debug, Clone, Default)]
pub struct RoundTrips {
    pub count: usize,
    pub worst: Duration,
    /// Round trips sorted, for percentiles.
    pub all: Vec<Duration>,
}

impl RoundTrips {
    pub fn percentile(&self, p: f64) -> Duration {
        if self.all.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.all.len() - 1) as f64 * p).round() as usize;
        self.all[i]
    }

    pub fn summary(&self) -> String {
        format!(
            "{} round trips, p50 {:.2} ms, p99 {:.2} ms, worst {:.2} ms",
            self.count,
            ms(self.percentile(0.5)),
            ms(self.percentile(0.99)),
            ms(self.worst)
        )
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A client on its own thread that sends `request` (which must end in `PING\r\n`) and
/// waits for the PONG, again and again, `gap` apart, until stopped.
pub struct Bystander {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Result<RoundTrips, String>>,
}

impl Bystander {
    /// Connects now (so the caller knows it is in before the heavy part starts).
    pub fn start(port: u16, setup: &[u8], request: &'static [u8], gap: Duration) -> Bystander {
        let mut c = RawClient::quiet(port);
        if !setup.is_empty() {
            c.send(setup);
            c.sync();
        }
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut rt = RoundTrips::default();
            let begun = Instant::now();
            while !flag.load(Ordering::Acquire) && begun.elapsed() < MAX_RUN {
                let t = Instant::now();
                if !c.try_send(request) {
                    return Err(format!("bystander write failed after {}", rt.summary()));
                }
                if c.read_until(b"PONG\r\n", ANSWER_TIMEOUT).is_none() {
                    return Err(format!("bystander got no PONG within {ANSWER_TIMEOUT:?} after {}", rt.summary()));
                }
                let d = t.elapsed();
                rt.count += 1;
                rt.worst = rt.worst.max(d);
                rt.all.push(d);
                std::thread::sleep(gap);
            }
            rt.all.sort();
            Ok(rt)
        });
        Bystander { stop, handle }
    }

    /// Stops it and returns its figures (Err if it lost its answer or connection).
    pub fn finish(self) -> Result<RoundTrips, String> {
        self.stop.store(true, Ordering::Release);
        self.handle.join().map_err(|_| "bystander thread panicked".to_string())?
    }
}

/// The monitor port the server logged (`Starting http monitor on host:port`); the
/// server must have been started with `-m -1`.
pub fn monitor_port(s: &TestServer) -> u16 {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        let log = s.log();
        if let Some(line) = log.lines().find(|l| l.contains("Starting http monitor on")) {
            let port = line.rsplit(':').next().and_then(|p| p.trim().parse().ok());
            return port.unwrap_or_else(|| panic!("no port in {line:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("monitor did not start:\n{}", s.log());
}

/// `GET /varz` as JSON (panics if the server does not answer within 30 s).
pub fn varz(monitor: u16) -> Value {
    try_varz(monitor).unwrap_or_else(|e| panic!("GET /varz: {e}"))
}

/// `GET /varz` as JSON, or why not.
pub fn try_varz(monitor: u16) -> Result<Value, String> {
    let mut sock = TcpStream::connect(("127.0.0.1", monitor)).map_err(|e| format!("connect: {e}"))?;
    // (nats-server's /varz waits for its sublist, which a big close can hold for long.)
    sock.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
    write!(sock, "GET /varz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").map_err(|e| format!("send: {e}"))?;
    let mut resp = Vec::new();
    sock.read_to_end(&mut resp).map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&resp);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).ok_or_else(|| format!("no body: {text}"))?;
    serde_json::from_str(body).map_err(|e| format!("{e}: {body}"))
}

/// Polls `/varz` until `field` satisfies `ok` (bounded by `within`); Ok(its value), or
/// Err(the last value seen, u64::MAX if the server never answered).
pub fn wait_varz(monitor: u16, field: &str, within: Duration, ok: impl Fn(u64) -> bool) -> Result<u64, u64> {
    let deadline = Instant::now() + within;
    let mut last = u64::MAX;
    loop {
        if let Ok(v) = try_varz(monitor) {
            last = v[field].as_u64().unwrap_or_else(|| panic!("varz has no {field}"));
            if ok(last) {
                return Ok(last);
            }
        }
        if Instant::now() >= deadline {
            return Err(last);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
