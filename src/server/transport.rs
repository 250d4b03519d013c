//! A connection's socket: plain TCP, or TCP carrying a rustls server session.
//! Plain connections cost one match branch over the old bare socket.
use super::conn::OutBuf;
use mio::net::TcpStream;
use std::io::{self, Write};
use std::sync::Arc;

pub enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

/// A TLS connection (NATS flow: INFO in plain text, then the client upgrades; or,
/// with `handshake_first`, the handshake before anything else). Routes: the server
/// side when accepted, the client side when dialed, handshake first.
pub struct TlsStream {
    pub sock: TcpStream,
    pub tls: rustls::Connection,
    /// The configuration this connection was accepted with (pinned certs, timeout).
    pub cfg: Arc<crate::tls::ServerTls>,
    /// Bytes to write in plain text before any TLS record (the INFO line).
    pub plain_prefix: Vec<u8>,
    pub prefix_written: usize,
    /// The first byte received was checked to start a TLS handshake record.
    pub first_byte_checked: bool,
    /// The handshake finished and the client certificate (if any) was handed to the core.
    pub established: bool,
}

/// TLS record type of a handshake message: every TLS connection starts with it.
pub const TLS_HANDSHAKE_RECORD: u8 = 0x16;

impl Transport {
    pub fn sock_mut(&mut self) -> &mut TcpStream {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls(t) => &mut t.sock,
        }
    }

    /// Writes as much queued output as the socket takes. `Ok(true)` when all of it went.
    #[inline]
    pub fn write_out(&mut self, out: &mut OutBuf) -> io::Result<bool> {
        match self {
            Transport::Plain(sock) => write_plain(sock, out),
            Transport::Tls(t) => t.write_out(out),
        }
    }

    /// Best-effort goodbye before the socket is shut: a TLS close_notify.
    pub fn close_notify(&mut self) {
        if let Transport::Tls(t) = self {
            if !t.tls.is_handshaking() {
                t.tls.send_close_notify();
                let _ = t.tls.write_tls(&mut t.sock);
            }
        }
    }
}

/// Writes as much queued output as the socket takes. `Ok(true)` when all of it went.
pub fn write_plain(sock: &mut TcpStream, out: &mut OutBuf) -> io::Result<bool> {
    while out.pending() > 0 {
        match sock.write(out.unwritten()) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => out.consume(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

impl TlsStream {
    pub fn new(sock: TcpStream, tls: impl Into<rustls::Connection>, cfg: Arc<crate::tls::ServerTls>) -> TlsStream {
        TlsStream {
            sock,
            tls: tls.into(),
            cfg,
            plain_prefix: Vec::new(),
            prefix_written: 0,
            first_byte_checked: false,
            established: false,
        }
    }

    /// Sends whatever rustls has queued (handshake messages, alerts, records).
    /// `Ok(false)` when the socket would block.
    pub fn send_tls(&mut self) -> io::Result<bool> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.sock) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Plain prefix first, then the handshake, then `out` encrypted by rustls (one
    /// copy into its records, which encryption needs anyway) in chunks bounded by
    /// its buffer limit. During the handshake `out` waits; the worker marks the
    /// connection for writing again when the handshake completes.
    fn write_out(&mut self, out: &mut OutBuf) -> io::Result<bool> {
        while self.prefix_written < self.plain_prefix.len() {
            match self.sock.write(&self.plain_prefix[self.prefix_written..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.prefix_written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        if !self.plain_prefix.is_empty() {
            self.plain_prefix = Vec::new();
            self.prefix_written = 0;
        }
        loop {
            if !self.send_tls()? {
                return Ok(false);
            }
            if out.pending() == 0 || !self.established {
                return Ok(true);
            }
            let n = self.tls.writer().write(out.unwritten())?;
            out.consume(n);
            if n == 0 && !self.tls.wants_write() {
                return Ok(false);
            }
        }
    }
}
