//! Route TLS in the worker shell. As nats-server 2.9.10 does, a route with cluster
//! TLS starts with the handshake right after the TCP connect, before any byte of
//! the route protocol (the acceptor's INFO and the dialer's CONNECT + INFO wait in
//! the output until it ends). The handshake runs through the same non-blocking
//! rustls path as client TLS (`tls_io`); peers are always verified both ways.
use super::conn::{CloseReason, TlsSession};
use super::core::Core;
use super::transport::{TlsStream, Transport};
use super::worker::Worker;
use crate::cluster::link::Role;
use mio::net::TcpStream;

impl Worker {
    /// The transport of a new route socket: plain, or a TLS session (server side when
    /// accepted, client side verifying the dialed host when dialed).
    pub(super) fn route_transport(&mut self, slot: u32, sock: TcpStream) -> Option<Transport> {
        let shared = self.core.shared.clone();
        let Some(cl) = shared.cluster.as_ref() else { return Some(Transport::Plain(sock)) };
        let Some(tls) = cl.tls.clone() else { return Some(Transport::Plain(sock)) };
        let c = self.core.conn(slot)?;
        let route = c.route.as_deref()?;
        let dialed = route.link.role == Role::Dialed;
        let session = if dialed {
            // The configured route's host name (or IP) is what the peer's certificate must name.
            let host = route.url.and_then(|i| cl.opts.routes.get(i)).map_or_else(|| c.addr.ip().to_string(), |u| u.host.clone());
            tls.dial(&host)
        } else {
            tls.accept()
        };
        let session = match session {
            Ok(s) => s,
            Err(e) => {
                crate::error!("{} - rid:{} - cannot start route TLS: {e}", c.addr, c.cid);
                return None;
            }
        };
        crate::debug!("{} - rid:{} - Starting TLS route {} handshake", c.addr, c.cid, if dialed { "client" } else { "server" });
        let deadline = self.core.now + tls.server.opts.timeout;
        if let Some(c) = self.core.conn_mut(slot) {
            c.tls_deadline = Some(deadline);
        }
        let mut t = TlsStream::new(sock, session, tls.server.clone());
        // Only the accepting side checks that the first byte starts a handshake (a
        // plain-text route dialer is dropped without a word, as by nats-server).
        t.first_byte_checked = dialed;
        Some(Transport::Tls(Box::new(t)))
    }
}

impl Core {
    /// A route's TLS handshake ended (the peer certificate was verified by rustls):
    /// the handshake deadline is off, the route authentication timer starts now, and
    /// the queued INFO (and CONNECT) go out.
    pub(super) fn route_tls_established(&mut self, slot: u32, session: TlsSession) {
        let shared = self.shared.clone();
        let timeout = shared.cluster.as_ref().and_then(|c| c.opts.auth_timeout).unwrap_or(super::core::DEFAULT_AUTH_TIMEOUT);
        let now = self.now;
        let Some(c) = self.conn_mut(slot) else { return };
        c.tls_deadline = None;
        c.tls_session = Some(Box::new(session));
        if c.auth_deadline.is_some() && !c.connected {
            c.auth_deadline = Some(now + timeout);
        }
        crate::debug!("{} - rid:{} - TLS route handshake complete", c.addr, c.cid);
        self.mark_dirty(slot);
    }

    /// Closes a route whose TLS could not start.
    pub(super) fn route_tls_failed(&mut self, slot: u32) {
        self.close(slot, CloseReason::TlsHandshakeFailure);
    }
}
