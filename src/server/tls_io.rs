//! The worker's TLS paths: wrapping an accepted socket, reading through rustls, and
//! handing the verified client certificate to the core when the handshake ends.
use super::conn::{CloseReason, TlsSession};
use super::transport::{TlsStream, Transport, TLS_HANDSHAKE_RECORD};
use super::worker::{Worker, READ_BUDGET};
use mio::net::TcpStream;
use std::io::{self, Read};

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
        let handshake_first = cfg.opts.handshake_first;
        let mut t = TlsStream::new(sock, tls, cfg);
        if !handshake_first {
            if let Some(c) = self.core.conn_mut(slot) {
                t.plain_prefix = std::mem::take(&mut c.out.buf);
                c.out.head = 0;
            }
        }
        Some(Transport::Tls(Box::new(t)))
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
        };
        self.core.tls_established(slot, cert, session);
        true
    }
}
