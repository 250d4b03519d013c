//! Lean blocking NATS client pieces: connect, pre-built frames, a streaming MSG counter.
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Credentials every connection sends (`--user`/`--pass`), if any.
pub static CREDENTIALS: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();

/// A user JWT and its nkey (`--creds FILE`): every CONNECT carries the JWT and the
/// INFO nonce signed with the key.
pub static JWT_CREDS: std::sync::OnceLock<(String, nkeys::KeyPair)> = std::sync::OnceLock::new();

/// Loads a `.creds` file into `JWT_CREDS`.
pub fn load_creds(path: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let c = natrix::jwt::creds::parse(&text).map_err(|e| format!("{path}: {e}"))?;
    let kp = nkeys::KeyPair::from_seed(&c.seed).map_err(|e| format!("{path}: {e}"))?;
    let _ = JWT_CREDS.set((c.jwt, kp));
    Ok(())
}

fn jwt_fields(info: &str) -> io::Result<String> {
    let Some((jwt, kp)) = JWT_CREDS.get() else { return Ok(String::new()) };
    let v: serde_json::Value = serde_json::from_str(info.trim_start_matches("INFO ").trim()).map_err(io::Error::other)?;
    let nonce = v["nonce"].as_str().unwrap_or("");
    let sig = kp.sign(nonce.as_bytes()).map_err(io::Error::other)?;
    use base64::Engine as _;
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig);
    Ok(format!(",\"jwt\":\"{jwt}\",\"sig\":\"{sig}\""))
}

/// Opens a connection, reads INFO, sends CONNECT (quiet, no echo unless asked).
pub fn connect(addr: &str, echo: bool) -> io::Result<TcpStream> {
    let s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    let mut r = BufReader::new(s.try_clone()?);
    let mut info = String::new();
    r.read_line(&mut info)?;
    if !info.starts_with("INFO ") {
        return Err(io::Error::other(format!("expected INFO, got {info:?}")));
    }
    let mut w = s.try_clone()?;
    let creds = match CREDENTIALS.get() {
        Some((u, p)) => format!(",\"user\":{},\"pass\":{}", serde_json::Value::from(u.as_str()), serde_json::Value::from(p.as_str())),
        None => jwt_fields(&info)?,
    };
    let connect = format!(
        "CONNECT {{\"verbose\":false,\"pedantic\":false,\"echo\":{echo},\"headers\":true,\"no_responders\":true,\"protocol\":1,\"name\":\"natrix-bench\"{creds}}}\r\n"
    );
    w.write_all(connect.as_bytes())?;
    Ok(s)
}

/// Sends PING and waits for PONG, skipping anything else (bounded by `limit`).
pub fn ping_pong(s: &mut TcpStream, limit: Duration) -> io::Result<()> {
    s.write_all(b"PING\r\n")?;
    s.set_read_timeout(Some(limit))?;
    let mut counter = MsgCounter::default();
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::other("server closed the connection"));
        }
        if counter.feed(&buf[..n]).pong {
            return Ok(());
        }
    }
    Err(io::Error::new(io::ErrorKind::TimedOut, "no PONG"))
}

/// `count` copies of one PUB frame, back to back.
pub fn pub_frames(subject: &str, payload: &[u8], count: usize) -> Vec<u8> {
    let mut one = format!("PUB {subject} {}\r\n", payload.len()).into_bytes();
    one.extend_from_slice(payload);
    one.extend_from_slice(b"\r\n");
    one.repeat(count)
}

/// What one `feed` saw.
#[derive(Debug, Default, Clone, Copy)]
pub struct Fed {
    pub msgs: u64,
    pub pong: bool,
}

/// Counts MSG/HMSG frames in a byte stream split at arbitrary points, without copying
/// payloads. Optionally hands each payload's first 8 bytes to a callback (sequence numbers).
#[derive(Default)]
pub struct MsgCounter {
    /// An unfinished control line.
    line: Vec<u8>,
    /// Payload bytes (plus CRLF) still to skip.
    skip: usize,
    /// Captured head of the current payload (for sequence numbers).
    head: Vec<u8>,
    want_head: usize,
    pub seqs: Vec<u64>,
    pub capture_seqs: bool,
    pub total: u64,
}

impl MsgCounter {
    /// A counter that also records each payload's leading big-endian u64.
    pub fn with_seqs() -> Self {
        MsgCounter { capture_seqs: true, ..Default::default() }
    }

    pub fn feed(&mut self, mut data: &[u8]) -> Fed {
        let mut fed = Fed::default();
        while !data.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(data.len());
                if self.want_head > 0 {
                    let h = self.want_head.min(n);
                    self.head.extend_from_slice(&data[..h]);
                    self.want_head -= h;
                    if self.want_head == 0 && self.head.len() == 8 {
                        let mut b = [0u8; 8];
                        b.copy_from_slice(&self.head);
                        self.seqs.push(u64::from_be_bytes(b));
                    }
                }
                self.skip -= n;
                data = &data[n..];
                continue;
            }
            let Some(nl) = memchr::memchr(b'\n', data) else {
                self.line.extend_from_slice(data);
                break;
            };
            let line_owned;
            let line: &[u8] = if self.line.is_empty() {
                &data[..nl]
            } else {
                self.line.extend_from_slice(&data[..nl]);
                line_owned = std::mem::take(&mut self.line);
                &line_owned
            };
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.starts_with(b"MSG ") || line.starts_with(b"HMSG ") {
                let size = line
                    .rsplit(|&b| b == b' ')
                    .next()
                    .and_then(|t| std::str::from_utf8(t).ok())
                    .and_then(|t| t.parse::<usize>().ok())
                    .unwrap_or(0);
                self.skip = size + 2;
                fed.msgs += 1;
                self.total += 1;
                if self.capture_seqs && size >= 8 {
                    self.head.clear();
                    self.want_head = 8;
                }
            } else if line.starts_with(b"PONG") {
                fed.pong = true;
            } else if line.starts_with(b"PING") {
                // Answered by the caller's next write at the latest; keep counting.
            }
            data = &data[nl + 1..];
        }
        fed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_split_frames() {
        let stream = b"MSG a 1 5\r\nhello\r\nHMSG b 2 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPONG\r\nMSG c 3 r 0\r\n\r\n";
        for split in 0..stream.len() {
            let mut c = MsgCounter::default();
            let a = c.feed(&stream[..split]);
            let b = c.feed(&stream[split..]);
            assert_eq!(a.msgs + b.msgs, 3, "split at {split}");
            assert!(a.pong || b.pong);
        }
    }

    #[test]
    fn captures_sequence_numbers() {
        let mut c = MsgCounter::with_seqs();
        let mut s = b"MSG a 1 8\r\n".to_vec();
        s.extend_from_slice(&7u64.to_be_bytes());
        s.extend_from_slice(b"\r\n");
        for b in &s {
            c.feed(std::slice::from_ref(b));
        }
        assert_eq!(c.seqs, [7]);
    }
}
