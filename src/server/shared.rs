//! State shared by all workers: options, the subscription trie, mailboxes and counters.
use super::batch::Inbox;
use crate::config::Options;
use super::account::AccountTable;
use parking_lot::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// Server-wide counters. Workers add to them once per event-loop cycle, not per message.
#[derive(Default, Debug)]
pub struct ServerStats {
    pub in_msgs: AtomicU64,
    pub in_bytes: AtomicU64,
    pub out_msgs: AtomicU64,
    pub out_bytes: AtomicU64,
    pub slow_consumers: AtomicU64,
    pub total_connections: AtomicU64,
    /// Refused authentications: bad credentials, and timeouts.
    pub auth_violations: AtomicU64,
    pub auth_timeouts: AtomicU64,
    /// `message_trust` and `types` refusals and removals.
    pub trust: super::trust_conn::TrustStats,
}

impl ServerStats {
    pub fn auth_failures(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("Authorization Violation", self.auth_violations.load(Ordering::Relaxed)),
            ("Authentication Timeout", self.auth_timeouts.load(Ordering::Relaxed)),
        ]
    }
}

/// What one worker accumulated during one cycle, published to `ServerStats` at its end.
#[derive(Default, Debug, Clone, Copy)]
pub struct CycleStats {
    pub in_msgs: u64,
    pub in_bytes: u64,
    pub out_msgs: u64,
    pub out_bytes: u64,
}

impl CycleStats {
    pub fn publish(&mut self, to: &ServerStats) {
        if self.in_msgs | self.out_msgs == 0 {
            return;
        }
        to.in_msgs.fetch_add(self.in_msgs, Ordering::Relaxed);
        to.in_bytes.fetch_add(self.in_bytes, Ordering::Relaxed);
        to.out_msgs.fetch_add(self.out_msgs, Ordering::Relaxed);
        to.out_bytes.fetch_add(self.out_bytes, Ordering::Relaxed);
        *self = CycleStats::default();
    }
}

pub struct Shared {
    /// Options as the server started with them (the non-reloadable ones never change).
    pub opts: Options,
    /// Options now in force (replaced by a reload); workers re-read them when
    /// `live_gen` moves.
    pub live: RwLock<Arc<Options>>,
    pub live_gen: AtomicU64,
    /// Built from the live options' auth section; replaced with them.
    pub authenticator: RwLock<Arc<crate::auth::Authenticator>>,
    /// Client TLS built from the live options (`None` without TLS); replaced with them.
    /// Each new connection takes the configuration in force when it is accepted.
    pub tls: RwLock<Option<Arc<crate::tls::ServerTls>>>,
    pub accounts: AccountTable,
    pub server_id: String,
    pub server_name: String,
    /// The host and port clients are told about in INFO.
    pub info_host: String,
    pub info_port: u16,
    pub next_cid: AtomicU64,
    pub num_conns: AtomicUsize,
    pub stats: ServerStats,
    /// One mailbox per worker, indexed by worker id.
    pub inboxes: Vec<Inbox>,
    /// One waker per worker (wakes its `mio::Poll`).
    pub wakers: Vec<mio::Waker>,
    pub shutdown: AtomicBool,
    /// Workers that have sent their last batches during a graceful stop; a worker keeps
    /// draining its inbox until all have.
    pub final_sends: AtomicUsize,
    /// When lame duck mode started (SIGUSR2), if it did.
    pub lame_duck: std::sync::OnceLock<std::time::Instant>,
    /// Clustering state (`None` without a cluster port).
    pub cluster: Option<super::cluster_state::ClusterShared>,
    /// Leaf-node state (`None` without a `leafnodes` block).
    pub leaf: Option<super::leaf_state::LeafShared>,
    /// Recently closed connections, newest last (for /connz?state=closed).
    pub closed: parking_lot::Mutex<std::collections::VecDeque<super::snapshot::ConnInfo>>,
    /// The threads that run bcrypt checks, so that no worker ever does.
    pub auth_pool: super::auth_pool::AuthPool,
    /// The server's nkey (signs auth callout requests) and the callout waits.
    pub callout: super::callout::CalloutShared,
}

/// Closed connections remembered (nats-server's default, `MaxClosedClients`).
pub const MAX_CLOSED_CONNS: usize = 10_000;

impl Shared {
    pub fn alloc_cid(&self) -> u64 {
        self.next_cid.fetch_add(1, Ordering::Relaxed)
    }

    pub fn wake_all(&self) {
        for i in 0..self.wakers.len() {
            self.wake(i);
        }
    }

    pub fn wake(&self, worker: usize) {
        if let Some(w) = self.wakers.get(worker) {
            if let Err(e) = w.wake() {
                crate::error!("waking worker {worker}: {e}");
            }
        }
    }

    pub fn authenticator(&self) -> Arc<crate::auth::Authenticator> {
        self.authenticator.read().clone()
    }

    pub fn tls(&self) -> Option<Arc<crate::tls::ServerTls>> {
        self.tls.read().clone()
    }

    pub fn live_options(&self) -> Arc<Options> {
        self.live.read().clone()
    }

    /// Puts reloaded options (and the TLS configuration built from them) in force and
    /// tells every worker.
    pub fn set_live_options(&self, opts: Options, tls: Option<Arc<crate::tls::ServerTls>>) {
        // Verified bcrypt checks carry over: unchanged credentials are not hashed again.
        let passwords = self.authenticator.read().password_cache();
        *self.authenticator.write() = Arc::new(build_authenticator(&opts).with_password_cache(passwords));
        *self.tls.write() = tls;
        *self.live.write() = Arc::new(opts);
        self.live_gen.fetch_add(1, Ordering::AcqRel);
        for i in 0..self.wakers.len() {
            self.wake(i);
        }
    }

    /// Every open connection, gathered from all workers (bounded wait per worker).
    pub fn snapshot_conns(&self, with_subs: bool) -> Vec<super::snapshot::ConnInfo> {
        let (tx, rx) = std::sync::mpsc::channel();
        for (i, inbox) in self.inboxes.iter().enumerate() {
            inbox.control.lock().push(super::snapshot::Control::Snapshot { with_subs, reply: tx.clone() });
            self.wake(i);
        }
        drop(tx);
        let mut all = Vec::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        for _ in 0..self.inboxes.len() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(part) => all.extend(part),
                Err(_) => break,
            }
        }
        all.sort_by_key(|c| c.cid);
        all
    }

    /// The registered routes (served by the route worker), for `/routez`.
    pub fn snapshot_routes(&self, with_subs: bool) -> Vec<super::snapshot::RouteView> {
        let w = super::cluster_state::ROUTE_WORKER as usize;
        let Some(inbox) = self.inboxes.get(w) else { return Vec::new() };
        let (tx, rx) = std::sync::mpsc::channel();
        inbox.control.lock().push(super::snapshot::Control::Routes { with_subs, reply: tx });
        self.wake(w);
        let mut all = rx.recv_timeout(std::time::Duration::from_secs(2)).unwrap_or_default();
        all.sort_by_key(|r| r.conn.cid);
        all
    }

    /// The linked leafs (served by the route worker), for `/leafz`.
    pub fn snapshot_leafs(&self, with_subs: bool) -> Vec<super::snapshot::RouteView> {
        let w = super::cluster_state::ROUTE_WORKER as usize;
        let Some(inbox) = self.inboxes.get(w) else { return Vec::new() };
        let (tx, rx) = std::sync::mpsc::channel();
        inbox.control.lock().push(super::snapshot::Control::Leafs { with_subs, reply: tx });
        self.wake(w);
        let mut all = rx.recv_timeout(std::time::Duration::from_secs(2)).unwrap_or_default();
        all.sort_by_key(|r| r.conn.cid);
        all
    }

    pub fn remember_closed(&self, info: super::snapshot::ConnInfo) {
        let mut ring = self.closed.lock();
        if ring.len() >= MAX_CLOSED_CONNS {
            ring.pop_front();
        }
        ring.push_back(info);
    }

    /// Enters lame duck mode: workers stop accepting, tell clients (`ldm` INFO) and,
    /// after the grace period, close them spread over the rest of the duration.
    /// Returns false if it was already on.
    pub fn begin_lame_duck(&self) -> bool {
        let started = self.lame_duck.set(std::time::Instant::now()).is_ok();
        for i in 0..self.wakers.len() {
            self.wake(i);
        }
        started
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    /// Asks every worker to stop: close listeners, flush, close connections.
    pub fn begin_shutdown(&self) {
        self.shutdown.store(true, Ordering::Release);
        for i in 0..self.wakers.len() {
            self.wake(i);
        }
    }
}

/// The authenticator for `opts` (auth config, plus certificate mapping with
/// `tls.verify_and_map`).
pub fn build_authenticator(opts: &Options) -> crate::auth::Authenticator {
    let map = opts.tls.as_ref().is_some_and(|t| t.verify_and_map);
    crate::auth::Authenticator::new(&opts.auth).with_tls_map(map)
}

/// The rustls server configuration for `opts`, if TLS is configured.
pub fn build_tls(opts: &Options) -> Result<Option<Arc<crate::tls::ServerTls>>, crate::tls::TlsError> {
    opts.tls.as_ref().map(|t| crate::tls::ServerTls::new(t).map(Arc::new)).transpose()
}
