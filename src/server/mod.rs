//! The server: mio workers (one event loop per core), connections, routing and delivery.
//!
//! `core` is the sans-IO protocol and routing state of one worker; `worker` is the
//! thin I/O shell around it; `shared` holds what all workers share (options, the
//! subscription trie, mailboxes, counters).
pub mod account;
pub mod batch;
pub mod auth_pool;
mod authz;
pub mod callout;
mod client;
mod cluster_conn;
mod cluster_tls;
mod connect_urls;
pub mod cluster_state;
pub mod conn;
pub mod core;
pub mod imports;
mod info;
mod jwt_conn;
mod lame_duck;
pub mod listener;
pub mod reload;
mod output;
mod reply_rng;
mod leaf_conn;
mod leaf_route;
pub mod leaf_state;
mod route;
#[cfg(test)]
mod auth_pool_tests;
#[cfg(test)]
mod core_tests;
pub mod rlimit;
pub mod shared;
pub mod sids;
mod trace;
pub mod trust_conn;
pub mod snapshot;
mod tls_io;
pub mod transport;
pub mod worker;

use crate::config::Options;
use batch::Inbox;
use shared::{ServerStats, Shared};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::Arc;
use std::thread::JoinHandle;

/// A running server: its bound address and its worker threads.
pub struct ServerHandle {
    pub addr: SocketAddr,
    pub shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl ServerHandle {
    /// Asks every worker to stop and waits for them.
    pub fn shutdown(self) {
        self.shared.begin_shutdown();
        self.join();
    }

    /// Waits for the workers to stop (after a signal or `Shared::begin_shutdown`).
    pub fn join(self) {
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// Number of workers for `opts` (0 = one per core).
pub fn worker_count(opts: &Options) -> usize {
    match opts.workers {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    }
}

/// Binds the listeners and starts the workers; returns at once.
pub fn start(opts: Options) -> io::Result<ServerHandle> {
    let workers = worker_count(&opts).clamp(1, u16::MAX as usize);
    let port = if opts.port == 0 { 4222 } else { opts.port };
    let addr = listener::resolve(&opts.host, port)?;
    let (listeners, actual) = listener::bind_all(addr, workers)?;

    // The cluster listener lives on the route worker only (routes are few).
    let mut cluster_listener = None;
    let mut cluster_addr = None;
    if let Some(c) = opts.cluster.as_ref().filter(|c| c.enabled()) {
        let host = if c.host.is_empty() { "0.0.0.0" } else { c.host.as_str() };
        let l = listener::bind(listener::resolve(host, c.port)?)?;
        cluster_addr = Some(l.local_addr()?);
        cluster_listener = Some(l);
    }
    let mut leaf_listener = None;
    let mut leaf_addr = None;
    if let Some(l) = opts.leafnodes.as_ref().filter(|l| l.listening()) {
        let host = if l.host.is_empty() { "0.0.0.0" } else { l.host.as_str() };
        let ln = listener::bind(listener::resolve(host, l.port)?)?;
        leaf_addr = Some(ln.local_addr()?);
        leaf_listener = Some(ln);
    }
    let (shared, polls) = build_shared_clustered(opts, workers, actual.port(), cluster_addr, leaf_addr)?;
    let mut threads = Vec::with_capacity(workers);
    for (id, (poll, listener)) in polls.into_iter().zip(listeners).enumerate() {
        let route_worker = id == cluster_state::ROUTE_WORKER as usize;
        let cl = if route_worker { cluster_listener.take() } else { None };
        let ll = if route_worker { leaf_listener.take() } else { None };
        let w = worker::Worker::new(id as u16, shared.clone(), poll, listener, cl, ll)?;
        let t = std::thread::Builder::new().name(format!("natrix-worker-{id}")).spawn(move || w.run())?;
        threads.push(t);
    }
    // Also without configured routes: gossip brings implicit ones.
    if shared.cluster.is_some() {
        let s = shared.clone();
        threads.push(std::thread::Builder::new().name("natrix-route-dialer".into()).spawn(move || cluster_state::run_dialer(s))?);
    }
    if shared.leaf.as_ref().is_some_and(|l| !l.opts.remotes.is_empty()) {
        let s = shared.clone();
        threads.push(std::thread::Builder::new().name("natrix-leaf-dialer".into()).spawn(move || leaf_state::run_dialer(s))?);
    }
    Ok(ServerHandle { addr: actual, shared, threads })
}

/// The shared state for `workers` workers, and one `mio::Poll` per worker (each
/// with its waker already registered).
pub fn build_shared(opts: Options, workers: usize, port: u16) -> io::Result<(Arc<Shared>, Vec<mio::Poll>)> {
    build_shared_clustered(opts, workers, port, None, None)
}

/// `build_shared` with the bound cluster listener's address (clustering on).
pub fn build_shared_clustered(
    opts: Options,
    workers: usize,
    port: u16,
    cluster_addr: Option<SocketAddr>,
    leaf_addr: Option<SocketAddr>,
) -> io::Result<(Arc<Shared>, Vec<mio::Poll>)> {
    let mut polls = Vec::with_capacity(workers);
    let mut wakers = Vec::with_capacity(workers);
    for _ in 0..workers {
        let poll = mio::Poll::new()?;
        wakers.push(mio::Waker::new(poll.registry(), worker::WAKER)?);
        polls.push(poll);
    }
    let tls = shared::build_tls(&opts).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    // The server's nkey: its public key is the server id, its seed signs callout requests.
    let server_key = nkeys::KeyPair::new_server();
    let server_id = server_key.public_key();
    let server_name = opts.server_name.clone().unwrap_or_else(|| server_id.clone());
    let cluster = match (opts.cluster.as_ref(), cluster_addr) {
        (Some(c), Some(addr)) => {
            // Peers tell their clients about this URL (not for a wildcard address).
            let client_url = (!is_unspecified(&opts.host)).then(|| format!("{}:{port}", opts.host));
            let tls = c.tls.as_ref().map(|t| crate::tls::RouteTls::new(t).map(Arc::new)).transpose();
            let tls = tls.map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("cluster tls: {e}")))?;
            let cl = cluster_state::ClusterShared::new(c.clone(), addr, &server_id, &server_name, i64::from(opts.max_payload), client_url);
            Some(cl.with_tls(tls))
        }
        _ => None,
    };
    let leaf = opts.leafnodes.as_ref().map(|l| {
        let cluster_name = opts.cluster.as_ref().filter(|c| c.enabled()).and_then(|c| c.name.clone());
        leaf_state::LeafShared::new(l.clone(), leaf_addr, &server_id, &server_name, i64::from(opts.max_payload), cluster_name)
    });
    let shared = Arc::new(Shared {
        info_host: opts.host.clone(),
        info_port: port,
        live: parking_lot::RwLock::new(Arc::new(opts.clone())),
        live_gen: AtomicU64::new(0),
        authenticator: parking_lot::RwLock::new(Arc::new(shared::build_authenticator(&opts))),
        tls: parking_lot::RwLock::new(tls),
        opts,
        accounts: account::AccountTable::new(),
        server_id,
        server_name,
        next_cid: AtomicU64::new(1),
        num_conns: AtomicUsize::new(0),
        stats: ServerStats::default(),
        inboxes: (0..workers).map(|_| Inbox::default()).collect(),
        wakers,
        shutdown: AtomicBool::new(false),
        final_sends: AtomicUsize::new(0),
        lame_duck: std::sync::OnceLock::new(),
        closed: parking_lot::Mutex::new(std::collections::VecDeque::new()),
        auth_pool: auth_pool::AuthPool::new(auth_pool::default_threads()),
        callout: callout::CalloutShared::new(server_key),
        cluster,
        leaf,
    });
    if !shared.opts.auth.no_system_account {
        // nats-server always has a system account; natrix creates it (so it is isolated
        // and named in monitoring) but does not publish system events yet.
        shared.accounts.get_or_create(account::SYSTEM_ACCOUNT);
    }
    imports::install(&shared.accounts, &shared.opts.auth);
    Ok((shared, polls))
}

fn is_unspecified(host: &str) -> bool {
    host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_unspecified())
}
