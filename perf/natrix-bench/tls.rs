//! TLS scenarios (`--tls-ca FILE`): pub→sub throughput over TLS, and handshakes per
//! second (TCP connect, INFO, TLS handshake, CONNECT, PING/PONG, close). Uses the
//! NATS flow: INFO in plain text, then the client upgrades.
use crate::client::{pub_frames, MsgCounter};
use crate::scenarios::{count_sent, Outcome};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

pub type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A client configuration trusting the CA certificates in `ca_file`.
pub fn client_config(ca_file: &str) -> io::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca_file).map_err(io::Error::other)? {
        roots.add(c.map_err(io::Error::other)?).map_err(io::Error::other)?;
    }
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// Connects, reads INFO in plain text, upgrades, sends CONNECT (and PING, waiting for
/// PONG, when `sync`).
pub fn connect(addr: &str, cfg: &Arc<rustls::ClientConfig>, sync: bool) -> io::Result<TlsStream> {
    let mut s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    // The server sends nothing after INFO until the client's hello, so one buffered
    // read cannot take bytes that belong to TLS.
    let mut info = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !info.ends_with(b"\n") {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::other("closed before INFO"));
        }
        info.extend_from_slice(&buf[..n]);
    }
    if !info.starts_with(b"INFO ") {
        return Err(io::Error::other("expected INFO"));
    }
    let name = ServerName::try_from("localhost").map_err(io::Error::other)?;
    let conn = rustls::ClientConnection::new(cfg.clone(), name).map_err(io::Error::other)?;
    let mut t = rustls::StreamOwned::new(conn, s);
    t.write_all(b"CONNECT {\"verbose\":false,\"pedantic\":false,\"echo\":false,\"tls_required\":true,\"name\":\"natrix-bench\"}\r\n")?;
    if sync {
        t.write_all(b"PING\r\n")?;
        wait_pong(&mut t)?;
    }
    Ok(t)
}

fn wait_pong(t: &mut TlsStream) -> io::Result<()> {
    let mut c = MsgCounter::default();
    let mut buf = [0u8; 4096];
    loop {
        let n = t.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::other("closed before PONG"));
        }
        if c.feed(&buf[..n]).pong {
            return Ok(());
        }
    }
}

/// One publisher, one subscriber, both over TLS, with a bounded window in flight.
pub fn pubsub(addr: &str, cfg: &Arc<rustls::ClientConfig>, size: usize, msgs: u64) -> io::Result<Outcome> {
    let mut sub = connect(addr, cfg, false)?;
    sub.write_all(b"SUB bench.tls 1\r\nPING\r\n")?;
    wait_pong(&mut sub)?;
    let progress = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let reader = {
        let progress = progress.clone();
        thread::spawn(move || -> io::Result<u64> {
            let mut c = MsgCounter::default();
            let mut buf = vec![0u8; 256 * 1024];
            sub.sock.set_read_timeout(Some(Duration::from_secs(1)))?;
            let deadline = Instant::now() + Duration::from_secs(60);
            while c.total < msgs && Instant::now() < deadline {
                match sub.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        c.feed(&buf[..n]);
                        progress.store(c.total, Ordering::Release);
                    }
                    Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(c.total)
        })
    };
    let mut p = connect(addr, cfg, true)?;
    let per_write = (64 * 1024 / (size + 24)).max(1);
    let chunk = pub_frames("bench.tls", &vec![b'x'; size], per_write);
    let window = (16 * 1024 * 1024 / (size as u64 + 40)).max(per_write as u64);
    let mut sent = 0u64;
    let wait_limit = Instant::now() + Duration::from_secs(60);
    while sent < msgs {
        while sent.saturating_sub(progress.load(Ordering::Acquire)) > window && Instant::now() < wait_limit {
            thread::yield_now();
        }
        let n = per_write.min((msgs - sent) as usize);
        p.write_all(&chunk[..n * (chunk.len() / per_write)])?;
        sent += n as u64;
        count_sent(n as u64);
    }
    p.flush()?;
    let delivered = reader.join().map_err(|_| io::Error::other("subscriber panicked"))??;
    let secs = start.elapsed().as_secs_f64();
    let mut o = Outcome { scenario: format!("tls pubsub 1->1 {size}B"), msgs: delivered, secs, ..Default::default() };
    o.note("expected", msgs);
    if delivered != msgs {
        o.note("LOST", msgs - delivered);
    }
    Ok(o)
}

/// Full connection setups per second from `concurrency` threads for `secs`.
pub fn handshakes(addr: &str, cfg: Option<&Arc<rustls::ClientConfig>>, secs: f64, concurrency: usize) -> io::Result<Outcome> {
    let stop = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (addr, cfg) = (addr.to_string(), cfg.cloned());
            thread::spawn(move || -> io::Result<u64> {
                let mut n = 0u64;
                while Instant::now() < stop {
                    match &cfg {
                        Some(cfg) => {
                            let mut t = connect(&addr, cfg, true)?;
                            t.conn.send_close_notify();
                            let _ = t.flush();
                        }
                        None => {
                            let mut s = crate::client::connect(&addr, false)?;
                            crate::client::ping_pong(&mut s, Duration::from_secs(5))?;
                        }
                    }
                    n += 1;
                    count_sent(1);
                }
                Ok(n)
            })
        })
        .collect();
    let mut total = 0;
    for w in workers {
        total += w.join().map_err(|_| io::Error::other("handshake thread panicked"))??;
    }
    let kind = if cfg.is_some() { "tls" } else { "plain" };
    Ok(Outcome {
        scenario: format!("handshakes {kind} x{}", concurrency.max(1)),
        msgs: total,
        secs: start.elapsed().as_secs_f64(),
        ..Default::default()
    })
}
