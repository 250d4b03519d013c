//! Cluster state shared by the workers: this server's interest counts (→ RS+/RS-),
//! the registered routes with the interest lines waiting for each, and the
//! configured route URLs with their dial state. Touched on SUB/UNSUB and route
//! events only, never per message. All route connections live on `ROUTE_WORKER`.
use crate::cluster::gossip;
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
    /// An implicit route that is done (dialed out, dropped or covered); the slot is reused.
    Gone,
}

/// A route to dial: a configured URL (index = its place in `opts.routes`) or an
/// implicit one learned by gossip.
#[derive(Debug)]
struct DialTarget {
    url: RouteUrl,
    state: UrlState,
    /// Implicit route: the dials left and the server ID the gossip named.
    implicit: Option<(u32, String)>,
}

impl DialTarget {
    /// A route to this target's server exists on another connection.
    fn cover(&mut self, server_id: &str) {
        self.state = if self.implicit.is_some() { UrlState::Gone } else { UrlState::Covered(server_id.to_string()) };
    }

    /// Its connection went (or its dial failed): redial after `next`, unless it is
    /// an implicit route that has had its tries.
    fn retry(&mut self, next: Instant, failed_dial: bool) {
        self.state = match &mut self.implicit {
            None => UrlState::Idle { next },
            Some((left, _)) if failed_dial && *left > 1 => {
                *left -= 1;
                UrlState::Idle { next }
            }
            Some(_) => UrlState::Gone,
        };
    }

    fn live_implicit(&self) -> Option<&str> {
        match &self.implicit {
            Some((_, id)) if self.state != UrlState::Gone => Some(id),
            _ => None,
        }
    }
}

/// At most this many implicit routes are pending at once (gossip comes from
/// authenticated peers, but its volume is theirs to choose).
const MAX_IMPLICIT: usize = 1024;

#[derive(Debug)]
struct State {
    local: LocalInterest,
    routes: Vec<RouteEntry>,
    urls: Vec<DialTarget>,
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
    /// The peer's INFO as forwarded to the other routes (`gossip::forward_line`).
    pub forward: Vec<u8>,
    /// Where the peer says it can be dialed (`host:port` of its INFO, and its `ip`).
    pub advertised: Vec<String>,
    /// The peer is nats-server (its INFO names a `go` version).
    pub peer_is_go: bool,
}

/// Why `register` refused: a route to that server exists and stays.
#[derive(Debug, PartialEq, Eq)]
pub struct Duplicate;

/// A route registered.
#[derive(Debug, PartialEq, Eq)]
pub struct Registered {
    /// The client `connect_urls` changed.
    pub urls_changed: bool,
    /// It replaced an older connection to the same server, to be closed: (slot, cid).
    pub replaced: Option<(u32, u64)>,
}

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
        let urls = opts.routes.iter().map(|u| DialTarget { url: u.clone(), state: UrlState::Idle { next: now }, implicit: None }).collect();
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
        let u = url.and_then(|i| self.state.lock().urls.get(i).map(|t| t.url.clone()));
        let u = u.as_ref();
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

    /// Interest of a leaf link we are the hub of changed by `delta` members of one key
    /// (a plain subject counts 1; a queue group its LS+ weight, as nats-server's
    /// `updateRouteSubscriptionMap` does). Whether something was queued.
    pub fn leaf_changed(&self, account: &[u8], subject: &[u8], queue: Option<&[u8]>, delta: i64) -> bool {
        let n = u32::try_from(delta.unsigned_abs()).unwrap_or(u32::MAX);
        if n == 0 {
            return false;
        }
        let mut st = self.state.lock();
        let st = &mut *st;
        let u = if delta > 0 { st.local.add_n(account, subject, queue, n) } else { st.local.remove_n(account, subject, queue, n) };
        let Some(u) = u.filter(|u| self.sends(u)) else { return false };
        for r in &mut st.routes {
            u.encode(&mut r.pending);
        }
        let queued = !st.routes.is_empty();
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

    /// Registers a route whose peer INFO arrived, writes the full interest sync to
    /// `out` and queues the peer's INFO for the other routes (gossip). When a route
    /// to that server exists, `gossip::keep_new` settles which connection stays: the
    /// refused one's dialed URL waits until the survivor goes.
    pub fn register(&self, r: NewRoute, url: Option<usize>, out: &mut Vec<u8>) -> Result<Registered, Duplicate> {
        let NewRoute { server_id, server_name, slot, cid, addr, dialed, connect_urls, forward, advertised, peer_is_go } = r;
        let mut st = self.state.lock();
        let st = &mut *st;
        let mut replaced = None;
        let mut changed = false;
        if let Some(i) = st.routes.iter().position(|r| r.server_id == server_id) {
            if !gossip::keep_new(&self.server_id, &server_id, st.routes[i].dialed, dialed, peer_is_go) {
                if let Some(t) = url.and_then(|i| st.urls.get_mut(i)) {
                    t.cover(&server_id);
                }
                return Err(Duplicate);
            }
            let old = st.routes.remove(i);
            for t in st.urls.iter_mut().filter(|t| t.state == (UrlState::Busy { cid: old.cid })) {
                t.cover(&server_id);
            }
            changed |= st.client_urls.remove(&old.client_urls);
            replaced = Some((old.slot, old.cid));
        }
        for u in st.local.snapshot().iter().filter(|u| self.sends(u)) {
            u.encode(out);
        }
        // With our own `no_advertise`, clients are not told about the cluster.
        let client_urls = if self.opts.no_advertise { Vec::new() } else { connect_urls };
        changed |= st.client_urls.add(&client_urls);
        // A new server (not a replaced link): the others learn about it.
        if replaced.is_none() && !forward.is_empty() && !st.routes.is_empty() {
            for r in &mut st.routes {
                r.pending.extend_from_slice(&forward);
            }
            self.pending.store(true, Ordering::Release);
        }
        // A configured URL that names this peer is not dialed while the route lives
        // (else a peer that dialed us first gets a second link a second later).
        for t in st.urls.iter_mut() {
            if t.implicit.is_none() && matches!(t.state, UrlState::Idle { .. }) && advertised.iter().any(|a| *a == t.url.host_port()) {
                t.cover(&server_id);
            }
        }
        st.routes.push(RouteEntry { server_id, server_name, slot, cid, addr, dialed, client_urls, pending: Vec::new() });
        if changed {
            self.urls_gen.fetch_add(1, Ordering::AcqRel);
        }
        Ok(Registered { urls_changed: changed, replaced })
    }

    /// Gossip about server `info` arrived on a route: schedules an implicit route to
    /// it unless `gossip::implicit_route` says why not.
    pub fn gossip(&self, info: &RouteInfo, now: Instant) -> Result<(), gossip::Skip> {
        let mut st = self.state.lock();
        let st = &mut *st;
        let view = gossip::View {
            server_id: &self.server_id,
            configured: &self.opts.routes,
            user: self.opts.user.as_deref(),
            password: self.opts.password.as_ref().map(|p| p.0.as_str()),
        };
        let url = gossip::implicit_route(info, &view, |id, hp| {
            st.routes.iter().any(|r| r.server_id == id)
                || st.urls.iter().any(|t| t.live_implicit().is_some_and(|tid| tid == id || t.url.host_port() == hp))
        })?;
        let live = st.urls.iter().filter(|t| t.live_implicit().is_some()).count();
        if live >= MAX_IMPLICIT {
            return Err(gossip::Skip::Known);
        }
        let target = DialTarget {
            url,
            state: UrlState::Idle { next: now },
            implicit: Some((gossip::implicit_attempts(self.opts.connect_retries), info.server_id.clone())),
        };
        let reuse = st.urls.iter().position(|t| t.implicit.is_some() && t.state == UrlState::Gone);
        match reuse {
            Some(i) => st.urls[i] = target,
            None => st.urls.push(target),
        }
        Ok(())
    }

    /// The INFO with `"ldm":true` sent on every route when this server enters lame duck mode.
    pub fn lame_duck_info(&self, out: &mut Vec<u8>) {
        let mut info = self.info.clone();
        info.lame_duck_mode = true;
        info.write(out, false);
    }

    /// The other servers' client URLs (what a lame-duck server's clients are told).
    pub fn peer_client_urls(&self) -> Vec<String> {
        self.state.lock().client_urls.peers()
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
        for t in st.urls.iter_mut() {
            let redial = match &t.state {
                UrlState::Covered(id) => was_registered && peer == Some(id.as_str()),
                _ => false,
            };
            if redial {
                t.state = UrlState::Idle { next };
            }
        }
        if let Some(t) = url.and_then(|i| st.urls.get_mut(i)) {
            if t.state == (UrlState::Busy { cid }) {
                t.retry(next, false);
            }
        }
        urls_changed
    }

    /// The dialed route `url` reached this server itself.
    pub fn route_to_self(&self, url: Option<usize>) {
        if let Some(i) = url {
            if let Some(t) = self.state.lock().urls.get_mut(i) {
                t.state = if t.implicit.is_some() { UrlState::Gone } else { UrlState::ToSelf };
            }
        }
    }

    /// URLs due for a dial; they are marked busy (cid 0) until `dial_done`.
    pub fn due_urls(&self, now: Instant) -> Vec<(usize, RouteUrl)> {
        let mut st = self.state.lock();
        let mut due = Vec::new();
        for (i, t) in st.urls.iter_mut().enumerate() {
            if matches!(t.state, UrlState::Idle { next } if next <= now) {
                t.state = UrlState::Busy { cid: 0 };
                due.push((i, t.url.clone()));
            }
        }
        due
    }

    /// The dial of `url` failed (try again after `REDIAL`), or its connection is `cid`.
    pub fn dial_done(&self, url: usize, cid: Option<u64>, now: Instant) {
        if let Some(t) = self.state.lock().urls.get_mut(url) {
            match cid {
                Some(cid) => t.state = UrlState::Busy { cid },
                None => t.retry(now + REDIAL, true),
            }
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

/// The dialer thread: dials every route that is due (explicit routes are retried
/// forever, `REDIAL` apart; implicit ones `1 + connect_retries` times) and hands
/// connected sockets to `ROUTE_WORKER`.
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
        NewRoute {
            server_id: id.into(),
            server_name: id.into(),
            slot: cid as u32,
            cid,
            addr: "127.0.0.1:1".parse().unwrap(),
            dialed: true,
            connect_urls: vec![format!("{id}:4222")],
            forward: format!("INFO {{\"server_id\":\"{id}\"}}\r\n").into_bytes(),
            advertised: vec![],
            peer_is_go: false,
        }
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
        let reg = Registered { urls_changed: true, replaced: None };
        assert_eq!(c.register(entry("NP", 7), None, &mut Vec::new()), Ok(reg));
        let reg = Registered { urls_changed: true, replaced: None };
        assert_eq!(c.register(entry("NQ", 8), None, &mut Vec::new()), Ok(reg));
        assert_eq!(c.client_urls(), (2, vec!["127.0.0.1:4222".into(), "NP:4222".into(), "NQ:4222".into()]));
        assert!(c.peer_lame_duck(7));
        assert!(!c.unregister(7, Some("NP"), None, Instant::now(), Duration::ZERO), "its URLs already went");
        assert!(c.unregister(8, Some("NQ"), None, Instant::now(), Duration::ZERO));
        assert_eq!(c.client_urls(), (4, vec!["127.0.0.1:4222".into()]));
        // A receiver with no_advertise never tells its clients.
        let opts = ClusterOptions { name: Some("C1".into()), port: -1, no_advertise: true, ..Default::default() };
        let n = ClusterShared::new(opts, "127.0.0.1:6222".parse().unwrap(), "NME", "me", 1 << 20, Some("127.0.0.1:4222".into()));
        assert_eq!(n.register(entry("NP", 7), None, &mut Vec::new()), Ok(Registered { urls_changed: false, replaced: None }));
        assert_eq!(n.client_urls(), (0, vec![]));
    }

    #[test]
    fn a_configured_url_naming_a_linked_peer_is_not_dialed() {
        let c = shared_with_routes(2);
        let now = Instant::now();
        let accepted = NewRoute { dialed: false, advertised: vec!["127.0.0.1:5001".into()], ..entry("NP", 7) };
        c.register(accepted, None, &mut Vec::new()).unwrap();
        assert_eq!(c.due_urls(now).iter().map(|d| d.0).collect::<Vec<_>>(), vec![0], "5001 is NP's");
        c.unregister(7, Some("NP"), None, now, Duration::ZERO);
        assert_eq!(c.due_urls(now + REDIAL * 2).iter().map(|d| d.0).collect::<Vec<_>>(), vec![1], "dialed once NP went");
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

    fn gossiped(id: &str, port: u16) -> RouteInfo {
        RouteInfo {
            server_id: id.into(),
            host: "127.0.0.1".into(),
            port,
            ip: Some(format!("nats-route://127.0.0.1:{port}/")),
            ..Default::default()
        }
    }

    #[test]
    fn a_new_route_is_gossiped_to_the_others_only() {
        let c = shared_with_routes(0);
        c.register(entry("NP", 7), None, &mut Vec::new()).unwrap();
        let mut got = Vec::new();
        c.drain_pending(|_, cid, b| got.push((cid, b.to_vec())));
        assert!(got.is_empty(), "the first route is told nothing");
        c.register(entry("NQ", 8), None, &mut Vec::new()).unwrap();
        c.drain_pending(|_, cid, b| got.push((cid, b.to_vec())));
        assert_eq!(got, vec![(7, b"INFO {\"server_id\":\"NQ\"}\r\n".to_vec())]);
    }

    #[test]
    fn gossip_schedules_implicit_routes_with_limited_tries() {
        let opts = ClusterOptions {
            name: Some("C1".into()),
            port: -1,
            connect_retries: 1,
            routes: vec![RouteUrl::parse("nats://127.0.0.1:5000").unwrap()],
            ..Default::default()
        };
        let c = ClusterShared::new(opts, "127.0.0.1:6222".parse().unwrap(), "NME", "me", 1 << 20, None);
        let now = Instant::now();
        assert_eq!(c.due_urls(now).len(), 1, "the explicit route");
        c.register(entry("NP", 7), None, &mut Vec::new()).unwrap();
        assert_eq!(c.gossip(&gossiped("NP", 5001), now), Err(gossip::Skip::Known), "already linked");
        assert_eq!(c.gossip(&gossiped("NME", 6222), now), Err(gossip::Skip::Ourselves));
        let mut configured = gossiped("NC", 5000);
        configured.ip = None;
        assert_eq!(c.gossip(&configured, now), Err(gossip::Skip::Configured));
        assert_eq!(c.gossip(&gossiped("NQ", 5002), now), Ok(()));
        assert_eq!(c.gossip(&gossiped("NQ", 5002), now), Err(gossip::Skip::Known), "a second peer forwards it too");
        let due = c.due_urls(now);
        assert_eq!(due.iter().map(|(i, u)| (*i, u.port)).collect::<Vec<_>>(), vec![(1, 5002)]);
        // connect_retries 1: two tries, then it is gone.
        c.dial_done(1, None, now);
        assert_eq!(c.due_urls(now + REDIAL).len(), 1);
        c.dial_done(1, None, now);
        assert!(c.due_urls(now + REDIAL * 10).is_empty(), "no third try");
        // Gossiped again later: the slot is reused.
        assert_eq!(c.gossip(&gossiped("NQ", 5002), now), Ok(()));
        assert_eq!(c.due_urls(now).iter().map(|d| d.0).collect::<Vec<_>>(), vec![1]);
        // Connected, registered, then dropped: an implicit route is not redialed.
        c.dial_done(1, Some(9), now);
        c.register(entry("NQ", 9), Some(1), &mut Vec::new()).unwrap();
        c.unregister(9, Some("NQ"), Some(1), now, Duration::ZERO);
        assert!(c.due_urls(now + REDIAL * 10).is_empty());
    }

    #[test]
    fn duplicate_links_settle_on_the_one_dialed_by_the_smaller_id() {
        // We are "NME"; the peer "NZZ" sorts after us: the link we dialed stays.
        let c = shared_with_routes(1);
        let now = Instant::now();
        c.due_urls(now);
        let accepted = NewRoute { dialed: false, ..entry("NZZ", 7) };
        c.register(accepted, None, &mut Vec::new()).unwrap();
        c.dial_done(0, Some(9), now);
        let reg = c.register(entry("NZZ", 9), Some(0), &mut Vec::new()).unwrap();
        assert_eq!(reg.replaced, Some((7, 7)), "the accepted one goes");
        assert_eq!(c.routes().iter().map(|r| r.2).collect::<Vec<_>>(), vec![9]);
        // The peer "NAA" sorts first: its dialed link (accepted here) stays.
        let c = shared_with_routes(1);
        c.due_urls(now);
        c.dial_done(0, Some(9), now);
        c.register(entry("NAA", 9), Some(0), &mut Vec::new()).unwrap();
        let accepted = NewRoute { dialed: false, ..entry("NAA", 7) };
        let reg = c.register(accepted, None, &mut Vec::new()).unwrap();
        assert_eq!(reg.replaced, Some((9, 9)));
        // The replaced dialed URL waits for the survivor to go, then redials.
        c.unregister(9, None, Some(0), now, Duration::ZERO);
        assert!(c.due_urls(now + REDIAL * 2).is_empty());
        c.unregister(7, Some("NAA"), None, now, Duration::ZERO);
        assert_eq!(c.due_urls(now + REDIAL * 2).len(), 1);
    }
}
