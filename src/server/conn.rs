//! Per-connection state, independent of any socket (the worker shell owns the socket).
use crate::proto::Parser;
use bytes::BytesMut;
use std::net::SocketAddr;
use std::time::Instant;

/// Why a connection was closed; the strings are nats-server's `ClosedState` texts (/connz `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    ClientClosed,
    ReadError,
    WriteError,
    ProtocolViolation,
    ParseError,
    MaxPayload,
    MaxControlLine,
    MaxConnections,
    /// natrix only: a JWT user passed its `data` limit.
    MaxDataExceeded,
    AuthViolation,
    AuthTimeout,
    AuthExpired,
    AuthRevoked,
    MaxAccountConnections,
    BadClientProtocol,
    NoRespondersRequiresHeaders,
    StaleConnection,
    SlowConsumerPending,
    SlowConsumerWriteDeadline,
    ServerShutdown,
    TlsHandshakeFailure,
    /// A route to a server already connected, or to ourselves.
    DuplicateRoute,
}

impl CloseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::ClientClosed => "Client Closed",
            CloseReason::ReadError => "Read Error",
            CloseReason::WriteError => "Write Error",
            CloseReason::ProtocolViolation => "Protocol Violation",
            CloseReason::ParseError => "Parse Error",
            CloseReason::MaxPayload => "Maximum Message Payload Exceeded",
            CloseReason::MaxControlLine => "Maximum Control Line Exceeded",
            CloseReason::MaxConnections => "Maximum Connections Exceeded",
            CloseReason::MaxDataExceeded => "Maximum Data Exceeded",
            CloseReason::AuthViolation => "Authentication Failure",
            CloseReason::AuthTimeout => "Authentication Timeout",
            CloseReason::AuthExpired => "Authentication Expired",
            CloseReason::AuthRevoked => "Credentials Revoked",
            CloseReason::MaxAccountConnections => "Maximum Account Connections Exceeded",
            CloseReason::BadClientProtocol => "Bad Client Protocol Version",
            CloseReason::NoRespondersRequiresHeaders => "No Responders Requires Headers",
            CloseReason::StaleConnection => "Stale Connection",
            CloseReason::SlowConsumerPending => "Slow Consumer (Pending Bytes)",
            CloseReason::SlowConsumerWriteDeadline => "Slow Consumer (Write Deadline)",
            CloseReason::ServerShutdown => "Server Shutdown",
            CloseReason::TlsHandshakeFailure => "TLS Handshake Failure",
            CloseReason::DuplicateRoute => "Duplicate Route",
        }
    }

    /// Whether queued output is still flushed before the socket closes
    /// (nats-server skips the flush after slow-consumer and I/O errors).
    pub fn flushes(self) -> bool {
        !matches!(
            self,
            CloseReason::SlowConsumerPending
                | CloseReason::SlowConsumerWriteDeadline
                | CloseReason::ReadError
                | CloseReason::WriteError
                | CloseReason::TlsHandshakeFailure
        )
    }
}

/// What a TLS connection negotiated, in nats-server's /connz terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSession {
    pub version: &'static str,
    pub cipher_suite: String,
    /// The client's verified certificate chain (DER, leaf to root), kept only for the
    /// auth callout request.
    pub peer_certs: Vec<Vec<u8>>,
}

/// Outbound bytes: one contiguous buffer written from `head`. Starts with no allocation
/// so that idle connections cost nothing here; it is released again when idle.
#[derive(Default)]
pub struct OutBuf {
    pub buf: Vec<u8>,
    pub head: usize,
}

impl OutBuf {
    /// Bytes queued and not yet written.
    #[inline]
    pub fn pending(&self) -> usize {
        self.buf.len() - self.head
    }

    #[inline]
    pub fn unwritten(&self) -> &[u8] {
        &self.buf[self.head..]
    }

    /// Marks `n` bytes as written; resets the buffer when everything went out.
    pub fn consume(&mut self, n: usize) {
        self.head += n;
        if self.head >= self.buf.len() {
            self.buf.clear();
            self.head = 0;
        } else if self.head > 64 * 1024 && self.head * 2 > self.buf.len() {
            // Keep the live tail at the front so the buffer does not creep forward forever.
            self.buf.drain(..self.head);
            self.head = 0;
        }
    }

    /// Drops the allocation when nothing is pending (idle connections hold no buffer).
    pub fn release_if_idle(&mut self) {
        if self.pending() == 0 && self.buf.capacity() > 0 {
            self.buf = Vec::new();
            self.head = 0;
        }
    }
}

/// What the client asked for in CONNECT (defaults as nats-server: verbose, pedantic and echo on).
#[derive(Debug, Clone)]
pub struct ClientFlags {
    pub verbose: bool,
    pub pedantic: bool,
    pub echo: bool,
    pub headers: bool,
    pub no_responders: bool,
    pub protocol: i64,
}

impl Default for ClientFlags {
    fn default() -> Self {
        ClientFlags { verbose: true, pedantic: true, echo: true, headers: false, no_responders: false, protocol: 0 }
    }
}

/// Descriptive fields from CONNECT, kept for monitoring and logs.
#[derive(Debug, Clone, Default)]
pub struct ClientMeta {
    pub name: Option<String>,
    pub lang: Option<String>,
    pub version: Option<String>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct ConnStats {
    pub in_msgs: u64,
    pub in_bytes: u64,
    pub out_msgs: u64,
    pub out_bytes: u64,
}

/// A connection's permissions with their caches.
pub struct ConnPerms {
    pub perms: std::sync::Arc<crate::auth::Permissions>,
    pub pub_decisions: crate::auth::PubDecisions,
    pub responses: crate::auth::ResponseTracker,
}

impl ConnPerms {
    pub fn new(perms: std::sync::Arc<crate::auth::Permissions>) -> Box<ConnPerms> {
        Box::new(ConnPerms {
            perms,
            pub_decisions: Default::default(),
            responses: Default::default(),
        })
    }
}

/// One client connection's protocol state.
pub struct Conn {
    pub cid: u64,
    pub slot: u32,
    pub addr: SocketAddr,
    pub start: Instant,
    /// Last time the client sent something (updated once per read).
    pub last_activity: Instant,
    /// Received bytes not yet parsed. Cross-worker deliveries hold frozen slices of it.
    pub rbuf: BytesMut,
    /// How much to ask the kernel for next (grows on full reads, shrinks on short ones).
    pub read_size: usize,
    pub parser: Parser,
    pub out: OutBuf,
    pub flags: ClientFlags,
    pub meta: ClientMeta,
    pub connected: bool,
    /// The account this connection is bound to (index into the worker's account table).
    pub account: u32,
    /// Who this connection is, once authenticated (`None` without auth), for monitoring.
    pub user: Option<Box<str>>,
    /// The nonce sent in INFO (nkey users sign it).
    pub nonce: Option<Box<str>>,
    /// A client that has not sent CONNECT by then is dropped (only with auth).
    pub auth_deadline: Option<Instant>,
    /// A TLS connection whose handshake is not done by then is dropped.
    pub tls_deadline: Option<Instant>,
    /// The names in the verified client certificate (TLS with client verification).
    pub cert: Option<Box<crate::tls::CertIdentity>>,
    /// The negotiated TLS version and cipher suite (for /connz), once the handshake is done.
    pub tls_session: Option<Box<TlsSession>>,
    /// Credentials from CONNECT, kept to re-authenticate on reload (only with auth).
    pub creds: Option<Box<crate::proto::ConnectOptions>>,
    /// Operator mode: the user admitted by its JWT, and when its credentials expire.
    pub jwt: Option<Box<crate::jwt::JwtUser>>,
    pub auth_expires: Option<Instant>,
    /// Compiled permissions and their per-connection state (`None` = unrestricted).
    pub perms: Option<Box<ConnPerms>>,
    /// `message_trust` stamp lines, built once per identity (`None`: not stamped).
    pub stamp: Option<Box<crate::trust::Stamp>>,
    /// Time from accept to CONNECT (nats-server's first RTT estimate), for `Nats-Request-Info`.
    pub rtt_ns: u64,
    /// Subscriptions by sid.
    pub subs: super::sids::Sids,
    pub closing: Option<CloseReason>,
    pub stats: ConnStats,
    /// Server PINGs without an answering PONG.
    pub pings_out: u32,
    /// When the next ping-timer tick is due.
    pub next_ping: Instant,
    /// Set by any traffic in either direction; a ping tick that finds it set skips the PING.
    pub active: bool,
    /// When output first failed to drain completely (for `write_deadline`).
    pub stalled_since: Option<Instant>,
    /// Since when output has stayed over `max_pending` after the connection's writes
    /// (see `output.rs`).
    pub over_limit_since: Option<Instant>,
    /// Whether the connection is already on the worker's flush list.
    pub dirty: bool,
    /// Per-connection PRNG state for choosing queue group members.
    pub rng: u64,
    /// Read activity since the last housekeeping tick (idle buffers are released).
    pub read_since_tick: bool,
    /// Waiting for a bcrypt check on the auth threads: input is neither read nor parsed
    /// until the verdict arrives.
    pub parked: Option<super::auth_pool::Parked>,
    /// Set for a route connection (cluster port or dialed): its protocol and state.
    pub route: Option<Box<super::cluster_conn::RouteConn>>,
    /// The first PONG was sent (from then on the client takes async INFO).
    pub first_pong: bool,
    /// The generation of `connect_urls` in the INFO this client got on connect.
    pub urls_gen: u64,
}

impl Conn {
    pub fn new(cid: u64, slot: u32, addr: SocketAddr, now: Instant, next_ping: Instant) -> Self {
        Conn {
            cid,
            slot,
            addr,
            start: now,
            last_activity: now,
            rbuf: BytesMut::new(),
            read_size: MIN_READ,
            parser: Parser::default(),
            out: OutBuf::default(),
            flags: ClientFlags::default(),
            meta: ClientMeta::default(),
            connected: false,
            account: 0,
            user: None,
            nonce: None,
            auth_deadline: None,
            tls_deadline: None,
            tls_session: None,
            cert: None,
            creds: None,
            jwt: None,
            auth_expires: None,
            perms: None,
            stamp: None,
            rtt_ns: 0,
            subs: Default::default(),
            closing: None,
            stats: ConnStats::default(),
            pings_out: 0,
            next_ping,
            active: false,
            stalled_since: None,
            over_limit_since: None,
            dirty: false,
            rng: cid.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            read_since_tick: false,
            parked: None,
            route: None,
            first_pong: false,
            urls_gen: 0,
        }
    }

    /// xorshift64*: cheap, per-connection, good enough to spread queue deliveries.
    #[inline]
    pub fn next_rand(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A route connection, not a client.
    #[inline]
    pub fn is_route(&self) -> bool {
        self.route.is_some()
    }

    pub fn is_closing(&self) -> bool {
        self.closing.is_some()
    }
}

/// Smallest read; nats-server starts at 512 B and doubles up to 64 KiB on full reads.
pub const MIN_READ: usize = 512;
pub const MAX_READ: usize = 64 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbuf_consume_and_release() {
        let mut o = OutBuf::default();
        o.buf.extend_from_slice(b"hello world");
        o.consume(6);
        assert_eq!(o.unwritten(), b"world");
        assert_eq!(o.pending(), 5);
        o.consume(5);
        assert_eq!(o.pending(), 0);
        assert!(o.buf.capacity() > 0);
        o.release_if_idle();
        assert_eq!(o.buf.capacity(), 0);
    }

    #[test]
    fn outbuf_compacts_large_head() {
        let mut o = OutBuf::default();
        o.buf.resize(200 * 1024, 7);
        o.consume(150 * 1024);
        assert_eq!(o.head, 0);
        assert_eq!(o.pending(), 50 * 1024);
    }

    #[test]
    fn rng_spreads() {
        let now = Instant::now();
        let mut c = Conn::new(5, 0, "127.0.0.1:1".parse().unwrap(), now, now);
        let mut seen = [0u32; 4];
        for _ in 0..4000 {
            seen[(c.next_rand() % 4) as usize] += 1;
        }
        assert!(seen.iter().all(|&n| n > 800), "{seen:?}");
    }
}
