//! `https` / `https_port` / `-ms`: the monitoring endpoints over TLS, with the server's own
//! `tls {}` setup (its certificate, client verification and pinned certificates, reloaded
//! with it). tiny_http's TLS support is tied to an old rustls and panics on some key files,
//! so this listener terminates TLS with natrix's rustls configuration and answers one GET
//! per connection with the same router as the plain monitor.
use super::handle;
use crate::server::shared::Shared;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

/// A client gets this long for its handshake and request (one connection at a time).
const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest request head read.
const MAX_HEAD: usize = 16 * 1024;

pub struct HttpsMonitor {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HttpsMonitor {
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub fn start(shared: Arc<Shared>, host: &str, port: i32) -> io::Result<HttpsMonitor> {
    if shared.tls().is_none() {
        return Err(io::Error::other("https monitoring needs a tls {} block with cert_file and key_file"));
    }
    let listener = crate::server::listener::bind_monitor(host, port)?;
    let addr = listener.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = stop.clone();
    let started = SystemTime::now();
    let stats: Mutex<BTreeMap<String, u64>> = Mutex::default();
    let thread = std::thread::Builder::new().name("natrix-https".into()).spawn(move || {
        for sock in listener.incoming() {
            if stopping.load(Ordering::Acquire) {
                return;
            }
            if let Ok(sock) = sock {
                if let Err(e) = serve(&shared, started, &stats, sock) {
                    crate::debug!("https monitor: {e}");
                }
            }
        }
    })?;
    Ok(HttpsMonitor { addr, stop, thread: Some(thread) })
}

fn serve(shared: &Shared, started: SystemTime, stats: &Mutex<BTreeMap<String, u64>>, sock: TcpStream) -> io::Result<()> {
    sock.set_read_timeout(Some(IO_TIMEOUT))?;
    sock.set_write_timeout(Some(IO_TIMEOUT))?;
    let tls = shared.tls().ok_or_else(|| io::Error::other("TLS is no longer configured"))?;
    let conn = tls.accept().map_err(io::Error::other)?;
    let mut stream = rustls::StreamOwned::new(conn, sock);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    let end_entity = stream.conn.peer_certificates().and_then(|c| c.first()).map(|c| c.as_ref().to_vec());
    if !tls.pinned_ok(end_entity.as_deref()) {
        return Err(io::Error::other("client certificate is not pinned"));
    }
    let head = read_head(&mut stream)?;
    let (status, ctype, body) = match request_target(&head) {
        Some(("GET", url)) => handle(shared, started, stats, url),
        Some(_) => (405, "text/plain", b"405 method not allowed\n".to_vec()),
        None => (400, "text/plain", b"400 bad request\n".to_vec()),
    };
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        _ => "Method Not Allowed",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    stream.write_all(&out)?;
    stream.flush()?;
    stream.conn.send_close_notify();
    let _ = stream.conn.complete_io(&mut stream.sock);
    Ok(())
}

/// The request line and headers, up to the blank line (bounded).
fn read_head(r: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_HEAD {
            return Err(io::Error::other("request head too long"));
        }
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        head.extend_from_slice(&buf[..n]);
    }
    Ok(head)
}

/// `METHOD target HTTP/1.x` from the first line.
fn request_target(head: &[u8]) -> Option<(&str, &str)> {
    let line = head.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?.trim_end();
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    (version.starts_with("HTTP/1.") && parts.next().is_none()).then_some((method, target))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        assert_eq!(request_target(b"GET /varz?x=1 HTTP/1.1\r\nHost: a\r\n\r\n"), Some(("GET", "/varz?x=1")));
        assert_eq!(request_target(b"POST / HTTP/1.0\r\n\r\n"), Some(("POST", "/")));
        assert_eq!(request_target(b"GET /\r\n\r\n"), None);
        assert_eq!(request_target(b"\xff\xfe\r\n\r\n"), None);
        let mut long = io::Cursor::new(vec![b'a'; MAX_HEAD + 2048]);
        assert!(read_head(&mut long).is_err());
    }
}
