//! The worker's TLS paths: wrapping an accepted socket, reading through rustls, and
//! handing the verified client certificate to the core when the handshake ends.
use super::conn::{CloseReason, TlsSession};
use super::transport::{TlsStream, Transport, TLS_HANDSHAKE_RECORD};
use super::worker::{Worker, READ_BUDGET};
use mio::net::TcpStream;
use std::io::{self, Read};
use std::time::Instant;

impl Worker {
    /// Wraps a newly accepted socket for `slot`. Without `handshake_first`, what the
    /// core queued at accept (the INFO line) goes out in plain text before TLS.
    pub(super) fn wrap_socket(&mut self, slot: u32, sock: TcpStream) -> Option<Transport> {
        let Some(cfg) = self.core.tls.clone() else { return Some(Transport::Plain(sock)) };
        let tls = match cfg.accept() {
            Ok(t) => t,
            Err(e) => {
                crate::error!("cannot start a TLS session: {e}");
                return None;
            }
        };
        let (handshake_first, fallback) = (cfg.opts.handshake_first, cfg.opts.handshake_first_fallback);
        let mut t = TlsStream::new(sock, tls, cfg);
        if !handshake_first {
            self.info_in_plain_text(slot, &mut t);
        } else if !fallback.is_zero() {
            // nats-server 2.10: a client that sends nothing within the delay gets INFO
            // in plain text and the usual INFO-then-upgrade flow.
            let cid = self.core.conn(slot).map_or(0, |c| c.cid);
            self.tls_fallbacks.push_back((self.core.now + fallback, slot, cid));
        }
        Some(Transport::Tls(Box::new(t)))
    }

    /// Moves what the core queued at accept (the INFO line) to the stream's plain prefix.
    fn info_in_plain_text(&mut self, slot: u32, t: &mut TlsStream) {
        if let Some(c) = self.core.conn_mut(slot) {
            t.plain_prefix = std::mem::take(&mut c.out.buf);
            c.out.head = 0;
        }
    }

    /// When the next `handshake_first` fallback delay ends, if one is pending.
    pub(super) fn next_tls_fallback(&self) -> Option<Instant> {
        self.tls_fallbacks.front().map(|&(at, _, _)| at)
    }

    /// Connections whose fallback delay passed without a byte from the client: INFO
    /// goes out in plain text now, and the TLS handshake deadline restarts (nats-server
    /// starts its handshake timer after the fallback). Every connection waits the same
    /// delay, so the queue is in deadline order (after a reload that shortens the delay,
    /// newer connections wait at most the old delay).
    pub(super) fn expire_tls_fallbacks(&mut self) {
        let now = self.core.now;
        while let Some(&(at, slot, cid)) = self.tls_fallbacks.front() {
            if at > now {
                return;
            }
            self.tls_fallbacks.pop_front();
            if self.core.conn(slot).is_some_and(|c| c.cid == cid && c.closing.is_none()) {
                self.fall_back_to_info(slot);
            }
        }
    }

    fn fall_back_to_info(&mut self, slot: u32) {
        let Some(Some(Transport::Tls(mut t))) = self.sockets.get_mut(slot as usize).map(Option::take) else { return };
        let mut first = [0u8; 1];
        // Bytes that arrived after this cycle's poll still count as "TLS first"; the
        // next read checks them.
        let data_waiting = matches!(t.sock.peek(&mut first), Ok(n) if n > 0);
        if !t.first_byte_checked && !data_waiting {
            self.info_in_plain_text(slot, &mut t);
            let (now, timeout) = (self.core.now, t.cfg.opts.timeout);
            if let Some(c) = self.core.conn_mut(slot) {
                if c.tls_deadline.is_some() {
                    c.tls_deadline = Some(now + timeout);
                }
            }
            self.core.mark_dirty(slot);
        }
        self.sockets[slot as usize] = Some(Transport::Tls(t));
    }

    /// `read_conn` for a TLS connection: socket → rustls → plaintext into the
    /// connection's read buffer → the core, until the socket would block or the
    /// read budget is spent.
    pub(super) fn read_tls(&mut self, slot: u32) {
        let mut budget = READ_BUDGET;
        loop {
            let Some(Some(Transport::Tls(t))) = self.sockets.get_mut(slot as usize) else { return };
            if self.core.conn(slot).is_none_or(|c| c.closing.is_some() || c.parked.is_some()) {
                return;
            }
            if !t.first_byte_checked {
                let mut first = [0u8; 1];
                match t.sock.peek(&mut first) {
                    Ok(0) => return self.core.close(slot, CloseReason::ClientClosed),
                    // Plain text on a TLS port: dropped without a word, as nats-server does.
                    Ok(_) if first[0] != TLS_HANDSHAKE_RECORD => {
                        return self.core.close(slot, CloseReason::TlsHandshakeFailure);
                    }
                    Ok(_) => t.first_byte_checked = true,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => return self.core.close(slot, CloseReason::ReadError),
                }
            }
            let n = match t.tls.read_tls(&mut t.sock) {
                Ok(0) => return self.core.close(slot, CloseReason::ClientClosed),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return self.core.close(slot, CloseReason::ReadError),
            };
            let state = match t.tls.process_new_packets() {
                Ok(s) => s,
                Err(e) => {
                    let handshaking = t.tls.is_handshaking();
                    // Tell the peer why (a TLS alert), best effort.
                    let _ = t.send_tls();
                    if let Some(c) = self.core.conn(slot) {
                        crate::debug!("{} - cid:{} - TLS error: {e}", c.addr, c.cid);
                    }
                    let reason = if handshaking { CloseReason::TlsHandshakeFailure } else { CloseReason::ReadError };
                    return self.core.close(slot, reason);
                }
            };
            let (plaintext, peer_closed) = (state.plaintext_bytes_to_read(), state.peer_has_closed());
            if t.tls.wants_write() {
                self.core.mark_dirty(slot);
            }
            if !t.established && !t.tls.is_handshaking() {
                t.established = true;
                if !self.tls_established(slot) {
                    return;
                }
            }
            if plaintext > 0 {
                let Some(Some(Transport::Tls(t))) = self.sockets.get_mut(slot as usize) else { return };
                let Some(conn) = self.core.conns.get_mut(slot as usize).and_then(Option::as_mut) else { return };
                let len = conn.rbuf.len();
                conn.rbuf.resize(len + plaintext, 0);
                match t.tls.reader().read(&mut conn.rbuf[len..]) {
                    Ok(k) => conn.rbuf.truncate(len + k),
                    Err(_) => conn.rbuf.truncate(len),
                }
                self.core.process_input_guarded(slot);
            }
            if peer_closed {
                return self.core.close(slot, CloseReason::ClientClosed);
            }
            budget = budget.saturating_sub(n);
            if budget == 0 {
                self.more_to_read.push(slot);
                return;
            }
        }
    }

    /// The handshake just finished: check pinned certificates, read the client
    /// certificate's names and tell the core. Returns false if the connection closes.
    fn tls_established(&mut self, slot: u32) -> bool {
        let Some(Some(Transport::Tls(t))) = self.sockets.get(slot as usize) else { return false };
        let end_entity = t.tls.peer_certificates().and_then(|c| c.first()).map(|c| c.as_ref());
        if !t.cfg.pinned_ok(end_entity) {
            if let Some(c) = self.core.conn(slot) {
                crate::debug!("{} - cid:{} - client certificate is not pinned", c.addr, c.cid);
            }
            self.core.close(slot, CloseReason::TlsHandshakeFailure);
            return false;
        }
        let cert = match end_entity.map(crate::tls::CertIdentity::from_der) {
            None => None,
            Some(Ok(id)) => Some(id),
            Some(Err(e)) => {
                // rustls verified it, so this is unexpected; such a client cannot be mapped.
                crate::debug!("slot {slot}: {e}");
                None
            }
        };
        let session = TlsSession {
            version: match t.tls.protocol_version() {
                Some(rustls::ProtocolVersion::TLSv1_3) => "1.3",
                Some(rustls::ProtocolVersion::TLSv1_2) => "1.2",
                _ => "unknown",
            },
            // Go's names: TLS 1.3 suites are `TLS_AES_…`, rustls calls them `TLS13_AES_…`.
            cipher_suite: t
                .tls
                .negotiated_cipher_suite()
                .and_then(|s| s.suite().as_str())
                .map_or_else(String::new, |n| n.replacen("TLS13_", "TLS_", 1)),
            peer_certs: match (&self.core.opts.auth.callout, t.tls.peer_certificates()) {
                (Some(_), Some(chain)) => t.cfg.verified_chain(chain),
                _ => Vec::new(),
            },
        };
        if self.core.conn(slot).is_some_and(super::conn::Conn::is_route) {
            self.core.route_tls_established(slot, session);
        } else {
            self.core.tls_established(slot, cert, session);
        }
        true
    }
}
