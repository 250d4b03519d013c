//! A blocking raw-socket NATS client for byte-exact protocol tests.
//!
//! All reads are bounded by a timeout; received bytes that a call did not consume stay in an
//! internal buffer for the next call.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

/// Default bound for a read that expects data.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

pub struct RawClient {
    stream: TcpStream,
    buf: Vec<u8>,
    closed: bool,
    /// The INFO line read by `connect` (including CRLF), empty for `connect_no_info`.
    pub info: String,
}

/// Shows bytes as an escaped string for assertion messages.
pub fn show(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    if s.len() > 2000 {
        format!("{:?}…({} bytes)", &s[..2000], b.len())
    } else {
        format!("{s:?}")
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

impl RawClient {
    /// Connects and reads the INFO line.
    pub fn connect(port: u16) -> RawClient {
        let mut c = Self::connect_no_info(port);
        let line = c
            .read_line(READ_TIMEOUT)
            .unwrap_or_else(|| panic!("no INFO line; got {}", show(&c.buf)));
        assert!(line.starts_with(b"INFO "), "first line is not INFO: {}", show(&line));
        c.info = String::from_utf8_lossy(&line).into_owned();
        c
    }

    /// Connects without reading anything.
    pub fn connect_no_info(port: u16) -> RawClient {
        let stream = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), READ_TIMEOUT)
            .unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port}: {e}"));
        Self::from_stream(stream)
    }

    pub fn from_stream(stream: TcpStream) -> RawClient {
        stream.set_nodelay(true).expect("nodelay");
        RawClient { stream, buf: Vec::new(), closed: false, info: String::new() }
    }

    /// Connects, sends `CONNECT <json>` and waits for the PONG of a PING (so the server has
    /// processed the CONNECT). Any `+OK` before the PONG is dropped.
    pub fn connect_with(port: u16, connect_json: &str) -> RawClient {
        let mut c = Self::connect(port);
        c.send(format!("CONNECT {connect_json}\r\n").as_bytes());
        let before = c.sync();
        assert!(
            before.is_empty() || before == b"+OK\r\n",
            "unexpected reply to CONNECT: {}",
            show(&before)
        );
        c
    }

    /// Connects with `{"verbose":false,"pedantic":false}` and syncs.
    pub fn quiet(port: u16) -> RawClient {
        Self::connect_with(port, r#"{"verbose":false,"pedantic":false}"#)
    }

    /// Connects with headers and no_responders enabled, not verbose.
    pub fn with_headers(port: u16) -> RawClient {
        Self::connect_with(
            port,
            r#"{"verbose":false,"pedantic":false,"headers":true,"no_responders":true}"#,
        )
    }

    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Writes all of `bytes`. Panics on a write error.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap_or_else(|e| panic!("write failed: {e}"));
    }

    /// Writes, returning false instead of panicking (for peers that may have closed).
    pub fn try_send(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).is_ok()
    }

    /// Sends `bytes` one byte per write with `gap` between writes.
    pub fn send_bytewise(&mut self, bytes: &[u8], gap: Duration) {
        for b in bytes {
            self.send(std::slice::from_ref(b));
            if !gap.is_zero() {
                std::thread::sleep(gap);
            }
        }
    }

    /// One read of at most the time left until `deadline`; false on timeout or close.
    fn fill(&mut self, deadline: Instant) -> bool {
        if self.closed {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        let wait = (deadline - now).max(Duration::from_millis(1));
        self.stream.set_read_timeout(Some(wait)).expect("set_read_timeout");
        let mut tmp = [0u8; 65536];
        match self.stream.read(&mut tmp) {
            Ok(0) => {
                self.closed = true;
                false
            }
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                true
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
            Err(e) if e.kind() == ErrorKind::Interrupted => true,
            Err(_) => {
                self.closed = true;
                false
            }
        }
    }

    /// True once the peer closed (seen by a read).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Reads one line (up to and including `\n`), or None on timeout/close.
    pub fn read_line(&mut self, timeout: Duration) -> Option<Vec<u8>> {
        self.read_until(b"\n", timeout)
    }

    /// Reads up to and including the first `pattern`; None on timeout or close (the bytes stay
    /// buffered).
    pub fn read_until(&mut self, pattern: &[u8], timeout: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(i) = find(&self.buf, pattern) {
                return Some(self.buf.drain(..i + pattern.len()).collect());
            }
            if !self.fill(deadline) && (self.closed || Instant::now() >= deadline) {
                return None;
            }
        }
    }

    /// Reads exactly `n` bytes, or None on timeout/close.
    pub fn read_exact_n(&mut self, n: usize, timeout: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        while self.buf.len() < n {
            if !self.fill(deadline) && (self.closed || Instant::now() >= deadline) {
                return None;
            }
        }
        Some(self.buf.drain(..n).collect())
    }

    /// Asserts that the next line is exactly `expected` + CRLF.
    pub fn expect_line(&mut self, expected: &str) {
        let want = format!("{expected}\r\n");
        match self.read_line(READ_TIMEOUT) {
            Some(line) => assert_eq!(show(&line), show(want.as_bytes()), "unexpected line"),
            None => panic!(
                "expected line {:?}, got {} (closed: {})",
                want,
                show(&self.buf),
                self.closed
            ),
        }
    }

    /// Asserts that the next bytes are exactly `expected`.
    pub fn expect_bytes(&mut self, expected: &[u8]) {
        match self.read_exact_n(expected.len(), READ_TIMEOUT) {
            Some(got) => assert_eq!(show(&got), show(expected), "unexpected bytes"),
            None => panic!(
                "expected {}, got only {} (closed: {})",
                show(expected),
                show(&self.buf),
                self.closed
            ),
        }
    }

    /// Sends PING and returns everything received before the PONG that answers it.
    /// Panics if the PONG does not come (connection closed or timeout).
    pub fn sync(&mut self) -> Vec<u8> {
        self.send(b"PING\r\n");
        self.read_until_pong()
    }

    /// Reads up to the next `PONG\r\n` line and returns the bytes before it.
    pub fn read_until_pong(&mut self) -> Vec<u8> {
        let deadline = Instant::now() + READ_TIMEOUT;
        loop {
            // Look for PONG at a line start.
            let mut start = 0;
            while let Some(i) = find(&self.buf[start..], b"PONG\r\n") {
                let at = start + i;
                if at == 0 || self.buf[at - 1] == b'\n' {
                    let before: Vec<u8> = self.buf[..at].to_vec();
                    self.buf.drain(..at + 6);
                    return before;
                }
                start = at + 1;
            }
            if !self.fill(deadline) && (self.closed || Instant::now() >= deadline) {
                panic!(
                    "no PONG (closed: {}); received {}",
                    self.closed,
                    show(&self.buf)
                );
            }
        }
    }

    /// Sends PING and asserts that nothing but the PONG comes back.
    pub fn sync_empty(&mut self) {
        let got = self.sync();
        assert!(got.is_empty(), "expected nothing before PONG, got {}", show(&got));
    }

    /// Reads until the peer closes or `timeout` passes. Returns the bytes and whether it closed.
    pub fn read_until_closed(&mut self, timeout: Duration) -> (Vec<u8>, bool) {
        let deadline = Instant::now() + timeout;
        while !self.closed && Instant::now() < deadline {
            self.fill(deadline);
        }
        (std::mem::take(&mut self.buf), self.closed)
    }

    /// Asserts that the server sends exactly `expected` and then closes.
    pub fn expect_close_with(&mut self, expected: &[u8]) {
        let (got, closed) = self.read_until_closed(READ_TIMEOUT);
        assert_eq!(show(&got), show(expected), "bytes before close");
        assert!(closed, "server did not close the connection");
    }

    /// Reads whatever arrives until nothing new comes for `quiet` (or close, or 10 s).
    pub fn read_available(&mut self, quiet: Duration) -> Vec<u8> {
        let hard = Instant::now() + Duration::from_secs(10);
        loop {
            let deadline = (Instant::now() + quiet).min(hard);
            if !self.fill(deadline) {
                break;
            }
        }
        std::mem::take(&mut self.buf)
    }

    /// Asserts that nothing arrives within `dur`.
    pub fn expect_nothing(&mut self, dur: Duration) {
        let got = self.read_available(dur);
        assert!(got.is_empty(), "expected nothing, got {}", show(&got));
        assert!(!self.closed, "connection closed unexpectedly");
    }

    /// Closes the write half (the server sees EOF).
    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }
}

/// Parses the JSON object of an `INFO {...} \r\n` line.
pub fn info_json(info_line: &str) -> serde_json::Value {
    let body = info_line.trim_end().strip_prefix("INFO").expect("INFO line").trim();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("bad INFO JSON {body:?}: {e}"))
}
