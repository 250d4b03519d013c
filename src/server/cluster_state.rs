//! Cluster state shared by the workers: this server's interest counts (→ RS+/RS-),
//! the registered routes with the interest lines waiting for each, and the
//! configured route URLs with their dial state. Touched on SUB/UNSUB and route
//! events only, never per message. All route connections live on `ROUTE_WORKER`.
use crate::cluster::info::{RouteConnect, RouteInfo};
use crate::cluster::interest::{LocalInterest, Update};
use crate::cluster::permissions::RoutePermissions;
use crate::cluster::urls::ClientUrls;
use crate::config::cluster::{ClusterOptions, RouteUrl};
use parking_lot::Mutex;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The worker that owns every route connection (the cluster listener and the dialed
/// sockets are registered there).
pub const ROUTE_WORKER: u16 = 0;

/// Pause between dials of an explicit route (nats-server's `DEFAULT_ROUTE_CONNECT`).
pub const REDIAL: Duration = Duration::from_secs(1);

/// A registered route.
#[derive(Debug)]
pub struct RouteEntry {
    pub server_id: String,
    pub server_name: String,
    pub slot: u32,
    pub cid: u64,
    pub addr: SocketAddr,
    pub dialed: bool,
    /// The client URLs the peer announced (cleared when it enters lame duck mode).
    client_urls: Vec<String>,
    /// RS+/RS- lines queued for this route by any worker; `ROUTE_WORKER` moves them
    /// into the connection's output.
    pending: Vec<u8>,
}

/// A configured route URL.
#[derive(Debug, Clone, PartialEq, Eq)]
enum UrlState {
    Idle { next: Instant },
    /// The dialer has it (connecting, or handed to the worker as connection `cid`).
    Busy { cid: u64 },
    /// It reached a server we already have a route to: dial again when that route goes.
    Covered(String),
    /// It reached ourselves: never dial again.
    ToSelf,
}

#[derive(Debug)]
struct State {
    local: LocalInterest,
    routes: Vec<RouteEntry>,
    urls: Vec<UrlState>,
    client_urls: ClientUrls,
}

/// A route to register.
pub struct NewRoute {
    pub server_id: String,
    pub server_name: String,
    pub slot: u32,
    pub cid: u64,
    pub addr: SocketAddr,
    pub dialed: bool,
    /// The peer INFO's `connect_urls`.
    pub connect_urls: Vec<String>,
}

/// Why `register` refused.
#[derive(Debug, PartialEq, Eq)]
pub struct Duplicate;

pub struct ClusterShared {
    pub opts: ClusterOptions,
    pub name: String,
    /// The bound cluster listener address.
    pub listen: SocketAddr,
    /// The INFO sent on every route (without nonce).
    pub info: RouteInfo,
    pub server_id: String,
    state: Mutex<State>,
    /// Some route has queued interest lines.
    pending: AtomicBool,
    /// Bumped whenever the client `connect_urls` change; workers compare it once per
    /// cycle and then send the new INFO to their clients.
    urls_gen: AtomicU64,
    /// Cluster `permissions` (import: what interest we send; export: what we accept).
    pub perms: RoutePermissions,
    /// Route TLS (`cluster { tls {} }`), set by `with_tls`.
    pub tls: Option<std::sync::Arc<crate::tls::RouteTls>>,
}

impl ClusterShared {
    pub fn new(opts: ClusterOptions, listen: SocketAddr, server_id: &str, server_name: &str, max_payload: i64, client_url: Option<String>) -> Self {
        let name = opts.name.clone().unwrap_or_default();
        let (host, port) = match opts.advertise.as_deref().and_then(split_advertise) {
            Some((h, p)) => (h, p),
            None => (listen.ip().to_string(), listen.port()),
        };
        let info = RouteInfo {
            server_id: server_id.to_string(),
            server_name: server_name.to_string(),
            version: crate::VERSION.to_string(),
            proto: 2,
            go: String::new(),
            host,
            port,
            headers: true,
            auth_required: opts.user.is_some(),
            max_payload,
            cluster: Some(name.clone()),
            connect_urls: if opts.no_advertise { Vec::new() } else { client_url.iter().cloned().collect() },
            ..Default::default()
        };
        let perms = RoutePermissions::new(opts.import.as_ref(), opts.export.as_ref());
        let mut info = info;
        (info.import, info.export) = perms.info_fields();
        let now = Instant::now();
        let urls = opts.routes.iter().map(|_| UrlState::Idle { next: now }).collect();
        ClusterShared {
            name,
            listen,
            info,
            server_id: server_id.to_string(),
            state: Mutex::new(State {
                local: LocalInterest::default(),
                routes: Vec::new(),
                urls,
                client_urls: ClientUrls::new(client_url.into_iter().collect()),
            }),
            pending: AtomicBool::new(false),
            urls_gen: AtomicU64::new(0),
            perms,
            tls: None,
            opts,
        }
    }

    /// Routes over TLS: the INFO says so (peers must present a certificate too).
    pub fn with_tls(mut self, tls: Option<std::sync::Arc<crate::tls::RouteTls>>) -> Self {
        self.info.tls_required = tls.is_some();
        self.info.tls_verify = tls.is_some();
        self.tls = tls;
        self
    }

    /// Whether `import` lets this update out (RS+ only; RS- always goes, as in nats-server).
    fn sends(&self, u: &Update) -> bool {
        !matches!(u, Update::Sub { .. }) || self.perms.sends(u.subject())
    }

    /// The CONNECT a dialer sends on route `url`.
    pub fn connect_for(&self, url: Option<usize>) -> RouteConnect {
        let u = url.and_then(|i| self.opts.routes.get(i));
        RouteConnect {
            echo: true,
            headers: true,
            name: self.server_id.clone(),
            cluster: self.name.clone(),
            user: u.and_then(|u| u.user.clone()),
            pass: u.and_then(|u| u.pass.as_ref().map(|p| p.0.clone())),
            tls_required: self.tls.is_some(),
            ..Default::default()
        }
    }

    /// Local subscriptions came or went: the RS+/RS- they cause are queued for every
    /// registered route. Returns whether something was queued (wake `ROUTE_WORKER`).
    pub fn local_changed<'a>(&self, account: &[u8], subs: impl Iterator<Item = (&'a [u8], Option<&'a [u8]>)>, add: bool) -> bool {
        let mut st = self.state.lock();
        let st = &mut *st;
        let mut queued = false;
        for (subject, queue) in subs {
            let u = if add { st.local.add(account, subject, queue) } else { st.local.remove(account, subject, queue) };
            let Some(u) = u.filter(|u| self.sends(u)) else { continue };
            for r in &mut st.routes {
                u.encode(&mut r.pending);
                queued = true;
            }
        }
        if queued {
            self.pending.store(true, Ordering::Release);
        }
        queued
    }

    /// Whether interest lines wait (one atomic load: checked before each RMSG so that
    /// an RS+ caused before a message reaches the peer before that message).
    #[inline]
    pub fn has_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// Moves queued interest lines into the routes' output (`write(slot, cid, bytes)`).
    pub fn drain_pending(&self, mut write: impl FnMut(u32, u64, &[u8])) {
        if !self.pending.swap(false, Ordering::AcqRel) {
            return;
        }
        let mut st = self.state.lock();
        for r in &mut st.routes {
            if !r.pending.is_empty() {
                write(r.slot, r.cid, &r.pending);
                r.pending.clear();
            }
        }
    }

    /// Registers a route whose peer INFO arrived and writes the full interest sync to
    /// `out`, unless a route to that server exists (then the newer one is closed, as
    /// nats-server does, and a dialed URL waits until the survivor goes).
    /// Returns whether the client `connect_urls` changed.
    pub fn register(&self, r: NewRoute, url: Option<usize>, out: &mut Vec<u8>) -> Result<bool, Duplicate> {
        let NewRoute { server_id, server_name, slot, cid, addr, dialed, connect_urls } = r;
        let mut st = self.state.lock();
        if st.routes.iter().any(|r| r.server_id == server_id) {
            if let Some(s) = url.and_then(|i| st.urls.get_mut(i)) {
                *s = UrlState::Covered(server_id);
            }
            return Err(Duplicate);
        }
        for u in st.local.snapshot().iter().filter(|u| self.sends(u)) {
            u.encode(out);
        }
        // With our own `no_advertise`, clients are not told about the cluster.
        let client_urls = if self.opts.no_advertise { Vec::new() } else { connect_urls };
        let changed = st.client_urls.add(&client_urls);
        st.routes.push(RouteEntry { server_id, server_name, slot, cid, addr, dialed, client_urls, pending: Vec::new() });
        drop(st);
        if changed {
            self.urls_gen.fetch_add(1, Ordering::AcqRel);
        }
        Ok(changed)
    }

    /// The peer of route `cid` entered lame duck mode: its client URLs go. Returns
    /// whether the client `connect_urls` changed.
    pub fn peer_lame_duck(&self, cid: u64) -> bool {
        let mut st = self.state.lock();
        let st = &mut *st;
        let Some(r) = st.routes.iter_mut().find(|r| r.cid == cid) else { return false };
        let urls = std::mem::take(&mut r.client_urls);
        let changed = st.client_urls.remove(&urls);
        if changed {
            self.urls_gen.fetch_add(1, Ordering::AcqRel);
        }
        changed
    }

    /// The generation of the client `connect_urls` (one atomic load).
    #[inline]
    pub fn urls_gen(&self) -> u64 {
        self.urls_gen.load(Ordering::Acquire)
    }

    /// The client INFO `connect_urls` now, with their generation.
    pub fn client_urls(&self) -> (u64, Vec<String>) {
        let st = self.state.lock();
        (self.urls_gen(), st.client_urls.list())
    }

    /// A route connection closed (`peer`: the server it was registered for). Returns
    /// whether the client `connect_urls` changed.
    pub fn unregister(&self, cid: u64, peer: Option<&str>, url: Option<usize>, now: Instant, jitter: Duration) -> bool {
        let mut st = self.state.lock();
        let st = &mut *st;
        let mut urls_changed = false;
        let was_registered = match st.routes.iter().position(|r| r.cid == cid) {
            Some(i) => {
                let r = st.routes.remove(i);
                urls_changed = st.client_urls.remove(&r.client_urls);
                true
            }
            None => false,
        };
        if urls_changed {
            self.urls_gen.fetch_add(1, Ordering::AcqRel);
        }
        let next = now + REDIAL + jitter;
        for s in st.urls.iter_mut() {
            let redial = match s {
                UrlState::Covered(id) => was_registered && peer == Some(id.as_str()),
                _ => false,
            };
            if redial {
                *s = UrlState::Idle { next };
            }
        }
        if let Some(s) = url.and_then(|i| st.urls.get_mut(i)) {
            if *s == (UrlState::Busy { cid }) {
                *s = UrlState::Idle { next };
            }
        }
        urls_changed
    }

    /// The dialed route `url` reached this server itself.
    pub fn route_to_self(&self, url: Option<usize>) {
        if let Some(i) = url {
            if let Some(s) = self.state.lock().urls.get_mut(i) {
                *s = UrlState::ToSelf;
            }
        }
    }

    /// URLs due for a dial; they are marked busy (cid 0) until `dial_done`.
    pub fn due_urls(&self, now: Instant) -> Vec<(usize, RouteUrl)> {
        let mut st = self.state.lock();
        let mut due = Vec::new();
        for (i, s) in st.urls.iter_mut().enumerate() {
            if matches!(s, UrlState::Idle { next } if *next <= now) {
                *s = UrlState::Busy { cid: 0 };
                if let Some(u) = self.opts.routes.get(i) {
                    due.push((i, u.clone()));
                }
            }
        }
        due
    }

    /// The dial of `url` failed (try again after `REDIAL`), or its connection is `cid`.
    pub fn dial_done(&self, url: usize, cid: Option<u64>, now: Instant) {
        if let Some(s) = self.state.lock().urls.get_mut(url) {
            *s = match cid {
                Some(cid) => UrlState::Busy { cid },
                None => UrlState::Idle { next: now + REDIAL },
            };
        }
    }

    /// Registered routes: (server id, server name, cid, remote address, dialed).
    pub fn routes(&self) -> Vec<(String, String, u64, SocketAddr, bool)> {
        self.state.lock().routes.iter().map(|r| (r.server_id.clone(), r.server_name.clone(), r.cid, r.addr, r.dialed)).collect()
    }

    pub fn num_routes(&self) -> usize {
        self.state.lock().routes.len()
    }
}

/// `host:port` of `advertise`.
fn split_advertise(s: &str) -> Option<(String, u16)> {
    let s = s.trim_start_matches("nats-route://").trim_start_matches("nats://").trim_end_matches('/');
    let (h, p) = s.rsplit_once(':')?;
    Some((h.trim_start_matches('[').trim_end_matches(']').to_string(), p.parse().ok()?))
}

/// The dialer thread: dials every configured route that is due (explicit routes are
/// retried forever, `REDIAL` apart) and hands connected sockets to `ROUTE_WORKER`.
pub fn run_dialer(shared: std::sync::Arc<super::shared::Shared>) {
    let Some(cl) = shared.cluster.as_ref() else { return };
    while !shared.is_shutting_down() {
        for (i, url) in cl.due_urls(Instant::now()) {
            match dial(&url) {
                Ok((stream, addr)) => {
                    let inbox = &shared.inboxes[ROUTE_WORKER as usize];
                    inbox.control.lock().push(super::snapshot::Control::RouteDialed { stream, addr, url: i });
                    shared.wake(ROUTE_WORKER as usize);
                }
                Err(e) => {
                    crate::debug!("Error trying to connect to route (attempt to {}): {e}", url.host_port());
                    cl.dial_done(i, None, Instant::now());
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn dial(url: &RouteUrl) -> std::io::Result<(std::net::TcpStream, SocketAddr)> {
    use std::net::ToSocketAddrs;
    let addr = (url.host.as_str(), url.port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address"))?;
    let s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_nodelay(true)?;
    s.set_nonblocking(true)?;
    Ok((s, addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared_with_routes(n: usize) -> ClusterShared {
        let opts = ClusterOptions {
            name: Some("C1".into()),
            port: -1,
            routes: (0..n).map(|i| RouteUrl::parse(&format!("nats://127.0.0.1:{}", 5000 + i)).unwrap()).collect(),
            ..Default::default()
        };
        ClusterShared::new(opts, "127.0.0.1:6222".parse().unwrap(), "NME", "me", 1 << 20, Some("127.0.0.1:4222".into()))
    }

    fn entry(id: &str, cid: u64) -> NewRoute {
        NewRoute { server_id: id.into(), server_name: id.into(), slot: cid as u32, cid, addr: "127.0.0.1:1".parse().unwrap(), dialed: true, connect_urls: vec![format!("{id}:4222")] }
    }

    #[test]
    fn sync_then_updates_then_duplicates() {
        let c = shared_with_routes(1);
        assert!(!c.local_changed(b"$G", [(&b"a"[..], None)].into_iter(), true), "no route yet");
        let mut out = Vec::new();
        c.register(entry("NP", 7), None, &mut out).unwrap();
        assert_eq!(out, b"RS+ $G a\r\n");
        assert!(c.local_changed(b"$G", [(&b"q"[..], Some(&b"g"[..]))].into_iter(), true));
        let mut got = Vec::new();
        c.drain_pending(|slot, cid, b| got.push((slot, cid, b.to_vec())));
        assert_eq!(got, vec![(7, 7, b"RS+ $G q g 1\r\n".to_vec())]);
        // A second connection to the same server is refused and covers the URL.
        let now = Instant::now();
        let due = c.due_urls(now);
        assert_eq!(due.len(), 1);
        c.dial_done(0, Some(9), now);
        assert_eq!(c.register(entry("NP", 9), Some(0), &mut Vec::new()), Err(Duplicate));
        c.unregister(9, None, Some(0), now, Duration::ZERO);
        assert!(c.due_urls(now + REDIAL * 2).is_empty(), "covered while NP is linked");
        c.unregister(7, Some("NP"), None, now, Duration::ZERO);
        assert_eq!(c.due_urls(now + REDIAL * 2).len(), 1, "redial once the survivor went");
        assert_eq!(c.num_routes(), 0);
    }

    #[test]
    fn connect_urls_follow_routes_and_lame_duck() {
        let c = shared_with_routes(0);
        assert_eq!(c.client_urls(), (0, vec![]));
        assert_eq!(c.register(entry("NP", 7), None, &mut Vec::new()), Ok(true));
        assert_eq!(c.register(entry("NQ", 8), None, &mut Vec::new()), Ok(true));
        assert_eq!(c.client_urls(), (2, vec!["127.0.0.1:4222".into(), "NP:4222".into(), "NQ:4222".into()]));
        assert!(c.peer_lame_duck(7));
        assert!(!c.unregister(7, Some("NP"), None, Instant::now(), Duration::ZERO), "its URLs already went");
        assert!(c.unregister(8, Some("NQ"), None, Instant::now(), Duration::ZERO));
        assert_eq!(c.client_urls(), (4, vec!["127.0.0.1:4222".into()]));
        // A receiver with no_advertise never tells its clients.
        let opts = ClusterOptions { name: Some("C1".into()), port: -1, no_advertise: true, ..Default::default() };
        let n = ClusterShared::new(opts, "127.0.0.1:6222".parse().unwrap(), "NME", "me", 1 << 20, Some("127.0.0.1:4222".into()));
        assert_eq!(n.register(entry("NP", 7), None, &mut Vec::new()), Ok(false));
        assert_eq!(n.client_urls(), (0, vec![]));
    }

    #[test]
    fn self_is_never_redialed_and_failures_wait() {
        let c = shared_with_routes(2);
        let now = Instant::now();
        assert_eq!(c.due_urls(now).len(), 2);
        c.route_to_self(Some(0));
        c.dial_done(1, None, now);
        assert!(c.due_urls(now).is_empty());
        let due = c.due_urls(now + REDIAL);
        assert_eq!(due.iter().map(|d| d.0).collect::<Vec<_>>(), vec![1]);
        assert_eq!(split_advertise("nats-route://ex.com:7000/"), Some(("ex.com".into(), 7000)));
    }
}
