//! Leaf-node state shared by the workers: the leaf INFO, the linked leafs, their
//! interest (`cluster::leaf_interest`), the `$LDS.` loop-detection subjects and the
//! configured remotes with their dial state. Touched on SUB/UNSUB and link events
//! only, never per message. Leaf connections live on `ROUTE_WORKER`, as routes do.
use crate::cluster::leaf::LeafInfo;
use crate::cluster::leaf_interest::{Advertise, LeafInterest};
use crate::config::leaf::{LeafOptions, LeafUrl};
use parking_lot::Mutex;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// After a loop or a refused link, nats-server waits 30 s before dialing again.
pub const LOOP_DELAY: Duration = Duration::from_secs(30);

/// A linked leaf, for `/leafz` and `/varz`.
#[derive(Debug, Clone)]
pub struct LeafEntry {
    pub cid: u64,
    pub slot: u32,
    pub account: String,
    pub name: String,
    pub addr: SocketAddr,
    pub is_spoke: bool,
    pub since: std::time::SystemTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum RemoteState {
    Idle { next: Instant },
    /// Dialing, or handed to the worker as connection `cid` (0 while dialing).
    Busy { cid: u64 },
}

struct State {
    interest: LeafInterest,
    links: Vec<LeafEntry>,
    remotes: Vec<RemoteState>,
    /// Next URL to try per remote (rotates on failure).
    next_url: Vec<usize>,
}

pub struct LeafShared {
    pub opts: LeafOptions,
    /// The bound leaf listener, if any.
    pub listen: Option<SocketAddr>,
    /// The INFO sent on accepted leaf connections (nonce and client_id set per connection).
    pub info: LeafInfo,
    pub server_id: String,
    state: Mutex<State>,
    pending: AtomicBool,
}

impl LeafShared {
    pub fn new(opts: LeafOptions, listen: Option<SocketAddr>, server_id: &str, server_name: &str, max_payload: i64, cluster: Option<String>) -> Self {
        let (host, port) = match listen {
            Some(a) => (a.ip().to_string(), a.port()),
            None => (String::new(), 0),
        };
        let advertised = opts.advertise.clone().unwrap_or_else(|| format!("{host}:{port}"));
        let info = LeafInfo {
            server_id: server_id.to_string(),
            server_name: server_name.to_string(),
            version: crate::VERSION.to_string(),
            proto: 1,
            go: String::new(),
            host,
            port,
            headers: true,
            auth_required: true,
            max_payload,
            cluster,
            info_on_connect: true,
            leafnode_urls: Some(if opts.no_advertise { Vec::new() } else { vec![advertised] }),
            ..Default::default()
        };
        let now = Instant::now();
        let n = opts.remotes.len();
        LeafShared {
            info,
            listen,
            server_id: server_id.to_string(),
            state: Mutex::new(State {
                interest: LeafInterest::default(),
                links: Vec::new(),
                remotes: vec![RemoteState::Idle { next: now }; n],
                next_url: vec![0; n],
            }),
            pending: AtomicBool::new(false),
            opts,
        }
    }

    /// This server's loop-detection subject for `account` (one per account, stable for
    /// the life of the process; the server ID is random).
    pub fn lds_subject(&self, account: &str) -> String {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        account.hash(&mut h);
        let id = self.server_id.get(1..23).unwrap_or(&self.server_id);
        format!("$LDS.{id}{:x}", h.finish())
    }

    /// Local subscriptions came or went; whether lines were queued.
    pub fn local_changed<'a>(&self, account: &[u8], subs: impl Iterator<Item = (&'a [u8], Option<&'a [u8]>)>, add: bool) -> bool {
        let mut st = self.state.lock();
        let mut queued = false;
        for (subject, queue) in subs {
            queued |= st.interest.local_changed(account, subject, queue, add);
        }
        drop(st);
        if queued {
            self.pending.store(true, Ordering::Release);
        }
        queued
    }

    /// Route interest came or went (passed to the links we are the hub of); whether
    /// lines were queued.
    pub fn routed_changed<'a>(&self, account: &[u8], subs: impl Iterator<Item = (&'a [u8], Option<&'a [u8]>)>, add: bool) -> bool {
        let mut st = self.state.lock();
        let mut queued = false;
        for (subject, queue) in subs {
            queued |= st.interest.routed_changed(account, subject, queue, add);
        }
        drop(st);
        if queued {
            self.pending.store(true, Ordering::Release);
        }
        queued
    }

    /// A leaf link announced (`Some(weight)`) or withdrew interest.
    pub fn learned(&self, cid: u64, subject: &[u8], queue: Option<&[u8]>, weight: Option<u32>) -> bool {
        let queued = self.state.lock().interest.learned(cid, subject, queue, weight);
        if queued {
            self.pending.store(true, Ordering::Release);
        }
        queued
    }

    #[inline]
    pub fn has_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// Moves queued LS+/LS- lines into the links' output (`write(slot, cid, bytes)`).
    pub fn drain_pending(&self, mut write: impl FnMut(u32, u64, &[u8])) {
        if !self.pending.swap(false, Ordering::AcqRel) {
            return;
        }
        let mut st = self.state.lock();
        let st = &mut *st;
        let links = &st.links;
        st.interest.drain(|cid, bytes| {
            if let Some(l) = links.iter().find(|l| l.cid == cid) {
                write(l.slot, cid, bytes);
            }
        });
    }

    /// Registers a linked leaf and writes its interest sync to `out`.
    pub fn register(&self, e: LeafEntry, hub_role: bool, advertise: Advertise, out: &mut Vec<u8>) {
        let lds = self.lds_subject(&e.account);
        let mut st = self.state.lock();
        st.interest.add_link(e.cid, e.account.as_bytes(), hub_role, advertise, lds.as_bytes(), out);
        st.links.push(e);
    }

    /// A leaf connection closed. `remote`: the remote it was dialed for (redial after
    /// `delay`).
    pub fn unregister(&self, cid: u64, remote: Option<usize>, now: Instant, delay: Duration) {
        let mut st = self.state.lock();
        st.links.retain(|l| l.cid != cid);
        let queued = st.interest.remove_link(cid);
        if let Some(s) = remote.and_then(|i| st.remotes.get_mut(i)) {
            *s = RemoteState::Idle { next: now + delay };
        }
        drop(st);
        if queued {
            self.pending.store(true, Ordering::Release);
        }
    }

    /// Remotes due for a dial, marked busy: (index, the URL to try).
    pub fn due_remotes(&self, now: Instant) -> Vec<(usize, LeafUrl)> {
        let mut st = self.state.lock();
        let st = &mut *st;
        let mut due = Vec::new();
        for (i, s) in st.remotes.iter_mut().enumerate() {
            if matches!(s, RemoteState::Idle { next } if *next <= now) {
                let Some(r) = self.opts.remotes.get(i) else { continue };
                let Some(u) = r.urls.get(st.next_url[i] % r.urls.len().max(1)) else { continue };
                *s = RemoteState::Busy { cid: 0 };
                due.push((i, u.clone()));
            }
        }
        due
    }

    /// The dial of remote `i` failed (next URL, after the reconnect delay) or became
    /// connection `cid`.
    pub fn dial_done(&self, i: usize, cid: Option<u64>, now: Instant) {
        let mut st = self.state.lock();
        match cid {
            Some(cid) => {
                if let Some(s) = st.remotes.get_mut(i) {
                    *s = RemoteState::Busy { cid };
                }
            }
            None => {
                if let Some(n) = st.next_url.get_mut(i) {
                    *n = n.wrapping_add(1);
                }
                if let Some(s) = st.remotes.get_mut(i) {
                    *s = RemoteState::Idle { next: now + self.opts.reconnect_delay() };
                }
            }
        }
    }

    pub fn links(&self) -> Vec<LeafEntry> {
        self.state.lock().links.clone()
    }

    pub fn num_links(&self) -> usize {
        self.state.lock().links.len()
    }

    /// What link `cid` announced, for `/leafz?subs=1`.
    pub fn learned_of(&self, cid: u64) -> Vec<(Vec<u8>, Option<Vec<u8>>, u32)> {
        self.state.lock().interest.learned_of(cid)
    }
}

/// The leaf dialer thread: dials every remote that is due and hands connected sockets
/// to `ROUTE_WORKER`; failed dials are retried after `leafnodes.reconnect`.
pub fn run_dialer(shared: std::sync::Arc<super::shared::Shared>) {
    let Some(leaf) = shared.leaf.as_ref() else { return };
    let worker = super::cluster_state::ROUTE_WORKER as usize;
    while !shared.is_shutting_down() {
        for (i, url) in leaf.due_remotes(Instant::now()) {
            match dial(&url) {
                Ok((stream, addr)) => {
                    shared.inboxes[worker].control.lock().push(super::snapshot::Control::LeafDialed { stream, addr, remote: i, url });
                    shared.wake(worker);
                }
                Err(e) => {
                    crate::debug!("Error trying to connect as leafnode to remote server {}: {e}", url.host_port());
                    leaf.dial_done(i, None, Instant::now());
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn dial(url: &LeafUrl) -> std::io::Result<(std::net::TcpStream, SocketAddr)> {
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
    use crate::config::leaf::RemoteLeaf;

    #[test]
    fn remotes_rotate_urls_and_wait() {
        let opts = LeafOptions {
            remotes: vec![RemoteLeaf { urls: vec![LeafUrl::parse("nats://a:1").unwrap(), LeafUrl::parse("nats://b:2").unwrap()], ..Default::default() }],
            ..Default::default()
        };
        let l = LeafShared::new(opts, None, "NABCDEFGHIJKLMNOPQRSTUVWXYZ", "n", 1 << 20, None);
        let now = Instant::now();
        let due = l.due_remotes(now);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].1.host, "a");
        assert!(l.due_remotes(now).is_empty(), "busy");
        l.dial_done(0, None, now);
        assert!(l.due_remotes(now).is_empty(), "waits the reconnect delay");
        let due = l.due_remotes(now + Duration::from_secs(1));
        assert_eq!(due[0].1.host, "b", "the next URL");
        l.dial_done(0, Some(7), now);
        l.unregister(7, Some(0), now, LOOP_DELAY);
        assert!(l.due_remotes(now + Duration::from_secs(29)).is_empty());
        assert_eq!(l.due_remotes(now + LOOP_DELAY).len(), 1);
        assert!(l.lds_subject("$G").starts_with("$LDS."));
        assert_ne!(l.lds_subject("$G"), l.lds_subject("A"));
    }
}
