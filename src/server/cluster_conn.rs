//! Route connections in the worker's core: accepted on the cluster port or dialed,
//! then driven by `cluster::link` (handshake) and `cluster::interest` (RS+/RS-).
//! Messages from a route are delivered to local subscribers only (one hop); local
//! messages for a route's interest leave as one RMSG per route (`route.rs`).
use super::cluster_state::{NewRoute, ROUTE_WORKER};
use super::conn::{CloseReason, Conn};
use super::core::Core;
use crate::cluster::interest::{self, RemoteChange, RemoteInterest};
use crate::cluster::link::{Action, Link, Local, Role};
use crate::cluster::{self, RouteFrame, RoutedMsg};
use crate::proto::{self, Message};
use crate::subject::{ConnRef, Subscription};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Longest route control line accepted (2.9.10 checks none on routes; an RMSG naming
/// many queue groups is long, nats-server issue #3786).
const MAX_ROUTE_LINE: usize = 1024 * 1024;

/// First PING on a route about a second after connect (nats-server: 1 s + ≤20 %).
const FIRST_ROUTE_PING: Duration = Duration::from_secs(1);

/// A route connection's state beside the common `Conn` fields.
pub struct RouteConn {
    pub link: Link,
    /// The configured route URL this connection was dialed for.
    pub url: Option<usize>,
    /// The peer's interest: key → (account id, the subscription in that account's trie).
    pub remote: RemoteInterest<(u32, Arc<Subscription>)>,
    /// Set for a leaf connection (`leaf_conn`): the route fields carry its interest.
    pub leaf: Option<Box<super::leaf_conn::LeafConn>>,
}

impl RouteConn {
    pub fn for_leaf(l: super::leaf_conn::LeafConn) -> RouteConn {
        RouteConn { link: Link::new(Role::Accepted), url: None, remote: RemoteInterest::default(), leaf: Some(Box::new(l)) }
    }
}

impl Core {
    fn new_route_conn(&mut self, addr: SocketAddr, role: Role, url: Option<usize>) -> u32 {
        let cid = self.shared.alloc_cid();
        let slot = self.alloc_slot();
        let now = self.now;
        let mut conn = Conn::new(cid, slot, addr, now, now);
        let jitter = conn.next_rand() % 200;
        conn.next_ping = now + FIRST_ROUTE_PING + Duration::from_millis(jitter);
        conn.flags.verbose = false;
        conn.flags.pedantic = false;
        conn.flags.headers = true;
        conn.route = Some(Box::new(RouteConn { link: Link::new(role), url, remote: RemoteInterest::default(), leaf: None }));
        self.conns[slot as usize] = Some(conn);
        self.mark_dirty(slot);
        slot
    }

    /// A connection accepted on the cluster port: send INFO, wait for CONNECT.
    pub fn accept_route(&mut self, addr: SocketAddr) -> u32 {
        let slot = self.new_route_conn(addr, Role::Accepted, None);
        let shared = self.shared.clone();
        let Some(cl) = shared.cluster.as_ref() else { return slot };
        let deadline = cl.opts.user.is_some().then(|| self.now + cl.opts.auth_timeout.unwrap_or(super::core::DEFAULT_AUTH_TIMEOUT));
        if let Some(c) = self.conn_mut(slot) {
            c.auth_deadline = deadline;
            cl.info.write(&mut c.out.buf, true);
        }
        crate::debug!("{addr} - rid:{} - Route connection created", self.conn(slot).map_or(0, |c| c.cid));
        slot
    }

    /// A connection the dialer opened for route `url`: send CONNECT and INFO at once.
    pub fn dialed_route(&mut self, addr: SocketAddr, url: usize) -> u32 {
        let slot = self.new_route_conn(addr, Role::Dialed, Some(url));
        let shared = self.shared.clone();
        let Some(cl) = shared.cluster.as_ref() else { return slot };
        if let Some(c) = self.conn_mut(slot) {
            cl.connect_for(Some(url)).write(&mut c.out.buf);
            cl.info.write(&mut c.out.buf, true);
            cl.dial_done(url, Some(c.cid), self.now);
        }
        crate::debug!("{addr} - rid:{} - Route connection created (dialed)", self.conn(slot).map_or(0, |c| c.cid));
        slot
    }

    /// Parses and handles everything complete in a route's read buffer (like
    /// `process_input` for clients: frames borrow the buffer, deliveries to other
    /// workers keep a frozen slice of it).
    pub(super) fn process_route_input(&mut self, slot: u32) {
        let now = self.now;
        let Some(conn) = self.conn_mut(slot) else { return };
        if conn.route.as_deref().is_some_and(|r| r.leaf.is_some()) {
            return self.process_leaf_input(slot);
        }
        let mut rbuf = std::mem::take(&mut conn.rbuf);
        conn.read_since_tick = true;
        conn.last_activity = now;
        conn.active = true;
        let base = rbuf.as_ptr();
        let mut pos = 0usize;
        while pos < rbuf.len() {
            match cluster::parse(&rbuf[pos..], MAX_ROUTE_LINE) {
                Ok(Some((frame, n))) => {
                    pos += n;
                    self.handle_route_frame(slot, frame, base);
                    if self.conn(slot).is_none_or(Conn::is_closing) {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    crate::debug!("route slot {slot}: parse error: {e}");
                    self.send_err(slot, e.err_text());
                    self.close(slot, CloseReason::ParseError);
                    break;
                }
            }
        }
        self.release_input(&mut rbuf, pos);
        if let Some(conn) = self.conn_mut(slot) {
            conn.rbuf = rbuf;
        }
    }

    fn handle_route_frame(&mut self, slot: u32, frame: RouteFrame<'_>, base: *const u8) {
        let auth_required = self.shared.cluster.as_ref().is_some_and(|c| c.opts.user.is_some());
        let Some(link) = self.conn(slot).and_then(|c| c.route.as_deref()).map(|r| &r.link) else { return };
        if !matches!(frame, RouteFrame::Connect(_)) {
            if let Some(a) = link.before_connect(auth_required) {
                return self.route_action(slot, a);
            }
        }
        let registered = link.registered();
        match frame {
            RouteFrame::Connect(json) => {
                let a = self.with_link(slot, |link, local| link.on_connect(json, local));
                if a == Action::None {
                    if let Some(c) = self.conn_mut(slot) {
                        c.auth_deadline = None;
                        c.connected = true;
                    }
                }
                self.route_action(slot, a);
            }
            RouteFrame::Info(json) => {
                let a = self.with_link(slot, |link, local| link.on_info(json, local));
                self.route_action(slot, a);
            }
            RouteFrame::Ping => self.send_raw(slot, proto::PONG),
            RouteFrame::Pong => {
                if let Some(c) = self.conn_mut(slot) {
                    c.pings_out = 0;
                }
            }
            RouteFrame::Ok | RouteFrame::Ignored => {}
            RouteFrame::Err(text) => {
                crate::error!("route slot {slot}: peer sent -ERR {}", String::from_utf8_lossy(text));
                self.close(slot, CloseReason::ParseError);
            }
            RouteFrame::Sub { account, subject, queue, weight } if registered => {
                self.remote_sub(slot, account, subject, queue, weight)
            }
            RouteFrame::Unsub { account, subject, queue } if registered => self.remote_unsub(slot, account, subject, queue),
            RouteFrame::Msg(m) if registered => self.route_from_peer(slot, &m, base),
            // Interest and messages before the peer's INFO: nothing is registered yet.
            RouteFrame::Sub { .. } | RouteFrame::Unsub { .. } | RouteFrame::Msg(_) => {}
        }
    }

    fn with_link(&mut self, slot: u32, f: impl FnOnce(&mut Link, &Local<'_>) -> Action) -> Action {
        let shared = self.shared.clone();
        let Some(cl) = shared.cluster.as_ref() else { return Action::CloseSilently("clustering off") };
        let local = Local {
            server_id: &shared.server_id,
            server_name: &shared.server_name,
            cluster: &cl.name,
            user: cl.opts.user.as_deref(),
            password: cl.opts.password.as_ref().map(|p| p.0.as_str()),
        };
        match self.conn_mut(slot).and_then(|c| c.route.as_deref_mut()) {
            Some(r) => f(&mut r.link, &local),
            None => Action::None,
        }
    }

    fn route_action(&mut self, slot: u32, a: Action) {
        match a {
            Action::None => {}
            Action::Refuse(text) => {
                let reason = if text == "Authorization Violation" { CloseReason::AuthViolation } else { CloseReason::ProtocolViolation };
                crate::error!("route slot {slot}: refused: {text}");
                self.send_err(slot, &text);
                self.close(slot, reason);
            }
            Action::CloseSilently(why) => {
                crate::debug!("route slot {slot}: closing: {why}");
                let shared = self.shared.clone();
                if why == "route to self" {
                    if let Some(cl) = shared.cluster.as_ref() {
                        cl.route_to_self(self.conn(slot).and_then(|c| c.route.as_ref()).and_then(|r| r.url));
                    }
                }
                self.close(slot, CloseReason::DuplicateRoute);
            }
            Action::Register(info) => self.register_route(slot, &info),
            Action::Gossip(info) => {
                let shared = self.shared.clone();
                let Some(cl) = shared.cluster.as_ref() else { return };
                match cl.gossip(&info, self.now) {
                    Ok(()) => crate::debug!("route slot {slot}: implicit route to {} ({:?})", info.server_id, info.dial_address()),
                    Err(why) => crate::trace!("route slot {slot}: gossip about {} ignored: {why:?}", info.server_id),
                }
            }
            Action::PeerLameDuck => {
                let cid = self.conn(slot).map_or(0, |c| c.cid);
                if self.shared.cluster.as_ref().is_some_and(|cl| cl.peer_lame_duck(cid)) {
                    self.shared.wake_all();
                }
            }
        }
    }

    fn register_route(&mut self, slot: u32, info: &crate::cluster::info::RouteInfo) {
        let shared = self.shared.clone();
        let Some(cl) = shared.cluster.as_ref() else { return };
        let now = self.now;
        let Some(c) = self.conn_mut(slot) else { return };
        let Some(r) = c.route.as_deref() else { return };
        let new = NewRoute {
            server_id: info.server_id.clone(),
            server_name: info.server_name.clone(),
            slot,
            cid: c.cid,
            addr: c.addr,
            dialed: r.link.role == Role::Dialed,
            connect_urls: info.connect_urls.clone(),
            forward: crate::cluster::gossip::forward_line(info, c.addr.ip()),
            advertised: crate::cluster::gossip::advertised(info),
            peer_is_go: !info.go.is_empty(),
        };
        let url = r.url;
        let addr = c.addr;
        // The handshake time is the RTT estimate /routez shows (as for clients, whose
        // estimate is accept-to-CONNECT).
        c.rtt_ns = u64::try_from(now.saturating_duration_since(c.start).as_nanos()).unwrap_or(u64::MAX).max(1);
        match cl.register(new, url, &mut c.out.buf) {
            Ok(reg) => {
                crate::info!("{addr} - rid:{} - Route connection registered: {} ({})", c.cid, info.server_id, info.server_name);
                self.mark_dirty(slot);
                if let Some((old_slot, old_cid)) = reg.replaced {
                    // Both servers dialed: the older link goes (`gossip::keep_new`).
                    if let Some(old) = self.conn_mut(old_slot).filter(|o| o.cid == old_cid) {
                        if let Some(r) = old.route.as_deref_mut() {
                            r.link.peer_id.clear();
                        }
                        crate::debug!("{} - rid:{old_cid} - Duplicate route to {}, closing the older connection", old.addr, info.server_id);
                        self.close(old_slot, CloseReason::DuplicateRoute);
                    }
                }
                if reg.urls_changed {
                    shared.wake_all();
                }
            }
            Err(_) => {
                crate::debug!("{addr} - Duplicate route to {}, closing the new connection", info.server_id);
                if let Some(r) = c.route.as_deref_mut() {
                    // Not registered: closing it must not unregister the survivor.
                    r.link.peer_id.clear();
                }
                self.close(slot, CloseReason::DuplicateRoute);
            }
        }
    }

    /// The account a route op names (unknown: `None`, the op is dropped as in 2.9.10).
    fn route_account(&mut self, name: &[u8]) -> Option<u32> {
        if let Some(i) = self.accounts.iter().position(|a| a.name.as_bytes() == name) {
            return Some(i as u32);
        }
        let name = std::str::from_utf8(name).ok()?;
        let acc = self.shared.accounts.find(name)?;
        self.ensure_account(acc.id);
        Some(acc.id)
    }

    fn remote_sub(&mut self, slot: u32, account: &[u8], subject: &[u8], queue: Option<&[u8]>, weight: u32) {
        let Some(acc) = self.route_account(account) else {
            crate::debug!("route slot {slot}: RS+ for unknown account {}", String::from_utf8_lossy(account));
            return;
        };
        // Cluster `export`: interest outside it is ignored (nats-server: "Can not export").
        let shared = self.shared.clone();
        let perms = shared.cluster.as_ref().map(|c| &c.perms);
        if perms.is_some_and(|p| !p.accepts(subject)) {
            crate::debug!("route slot {slot}: can not export {:?}, ignoring remote subscription", String::from_utf8_lossy(subject));
            return;
        }
        let worker = self.id;
        let Some(c) = self.conn_mut(slot) else { return };
        let owner = ConnRef { worker, slot, cid: c.cid };
        let Some(r) = c.route.as_deref_mut() else { return };
        match r.remote.sub(account, subject, queue, weight) {
            RemoteChange::Added => {
                self.route_interest_to_leafs(account, subject, queue, true);
                let key = interest::key(account, subject, queue);
                let sub = Arc::new(Subscription::remote(subject, queue, &key, owner, weight));
                if let Some(f) = perms.and_then(|p| p.export_filter(subject)) {
                    sub.set_filter(Some(f));
                }
                if self.accounts[acc as usize].sublist.insert(sub.clone()).is_ok() {
                    if let Some(r) = self.conn_mut(slot).and_then(|c| c.route.as_deref_mut()) {
                        r.remote.set_handle(account, subject, queue, (acc, sub));
                    }
                } else if let Some(r) = self.conn_mut(slot).and_then(|c| c.route.as_deref_mut()) {
                    r.remote.unsub(account, subject, queue);
                }
            }
            RemoteChange::Weight(w) => {
                if let Some(s) = r.remote.handle(account, subject, queue).map(|(_, s)| s.clone()) {
                    s.weight.store(w, std::sync::atomic::Ordering::Relaxed);
                    // Cached match results carry the weight sums.
                    self.accounts[acc as usize].sublist.touch();
                }
            }
            RemoteChange::Unchanged | RemoteChange::Removed(_) => {}
        }
    }

    fn remote_unsub(&mut self, slot: u32, account: &[u8], subject: &[u8], queue: Option<&[u8]>) {
        let Some(r) = self.conn_mut(slot).and_then(|c| c.route.as_deref_mut()) else { return };
        if let RemoteChange::Removed(Some((acc, sub))) = r.remote.unsub(account, subject, queue) {
            sub.mark_unsubscribed();
            self.account(acc).sublist.remove(&sub);
            self.route_interest_to_leafs(account, subject, queue, false);
        }
    }

    /// An RMSG/HMSG: every local plain subscriber gets it, and each queue group the
    /// sender listed gets it once, from a local member. One hop: nothing is passed on
    /// to another route, except a listed group with no local member left, which goes
    /// to another route's member (nats-server `processMsgResults` does the same).
    fn route_from_peer(&mut self, slot: u32, m: &RoutedMsg<'_>, base: *const u8) {
        let size = m.payload.len() + m.headers.map_or(0, <[u8]>::len);
        if let Some(c) = self.conn_mut(slot) {
            c.stats.in_msgs += 1;
            c.stats.in_bytes += size as u64;
        }
        self.cycle.in_msgs += 1;
        self.cycle.in_bytes += size as u64;
        let Some(acc) = self.route_account(m.account) else { return };
        let acc = acc as usize;
        let msg = Message { subject: m.subject, reply: m.reply, headers: m.headers, payload: m.payload, is_hpub: m.headers.is_some() };
        // Delivered on behalf of the route connection: never a subscriber's own message.
        let rcid = self.conn(slot).map_or(0, |c| c.cid);
        let mut caches = std::mem::take(&mut self.caches);
        let result = caches[acc].lookup_ref(&self.accounts[acc].sublist, m.subject);
        let mut to_peers: smallvec::SmallVec<[&Arc<Subscription>; 8]> = smallvec::SmallVec::new();
        for sub in result.psubs.iter() {
            if sub.remote && self.routed_to_leaf(sub) {
                to_peers.push(sub);
                continue;
            }
            if sub.remote || sub.filters_out(m.subject) {
                continue;
            }
            if let Some(last) = super::route::claim(&self.accounts[acc].sublist, sub) {
                self.deliver(sub, last, &msg, Some(base), rcid);
            }
        }
        if !m.queues.is_empty() {
            for group in result.qsubs.iter() {
                let Some(name) = group.first().and_then(|s| s.queue.as_deref()) else { continue };
                if !m.queues.contains(name) {
                    continue;
                }
                let n = group.len();
                let start = self.conn_mut(slot).map_or(0, |c| (c.next_rand() % n as u64) as usize);
                let mut done = false;
                for i in 0..n {
                    let sub = &group[(start + i) % n];
                    // A member whose permissions filter this subject passes it on to the next.
                    if sub.remote || sub.filters_out(m.subject) {
                        continue;
                    }
                    if let Some(last) = super::route::claim(&self.accounts[acc].sublist, sub) {
                        self.deliver(sub, last, &msg, Some(base), rcid);
                        done = true;
                        break;
                    }
                }
                if !done {
                    // A leaf member of ours first, else another route's member.
                    let leaf = group.iter().find(|s| s.remote && self.routed_to_leaf(s));
                    if let Some(other) = leaf.or_else(|| group.iter().find(|s| s.remote && !s.leaf && s.owner.cid != rcid)) {
                        to_peers.push(other);
                    }
                }
            }
        }
        if !to_peers.is_empty() {
            self.send_to_routes(&mut to_peers, &msg, Some(base), rcid);
        }
        drop(to_peers);
        self.caches = caches;
    }

    /// Appends one RMSG/HMSG for route connection `owner` (local to this worker),
    /// listing `queues` (the groups picked on that route). Headers are stripped for a
    /// peer that did not announce header support.
    pub(super) fn write_rmsg<'q>(
        &mut self,
        owner: ConnRef,
        account: &[u8],
        queues: impl Iterator<Item = &'q [u8]> + Clone,
        msg: &Message<'_>,
    ) {
        if self.conn(owner.slot).and_then(|c| c.route.as_deref()).is_some_and(|r| r.leaf.is_some()) {
            return self.write_lmsg(owner, queues, msg);
        }
        let (subject, reply, headers, payload) = (msg.subject, msg.reply, msg.headers, msg.payload);
        let cap = self.out_cap();
        // A reply subscription made just before this request must reach the peer first.
        if self.shared.cluster.as_ref().is_some_and(|c| c.has_pending()) {
            self.drain_route_pending();
        }
        let Some(c) = self.conn_mut(owner.slot) else { return };
        if c.cid != owner.cid || c.closing.is_some() {
            return;
        }
        let Some(r) = c.route.as_deref() else { return };
        let headers = if r.link.peer_headers { headers } else { None };
        let approx = account.len() + subject.len() + reply.map_or(0, <[u8]>::len) + headers.map_or(0, <[u8]>::len) + payload.len() + 64;
        if c.out.pending() + approx > cap {
            // Over `max_pending` but under the cap is judged after the write, as for
            // clients (output.rs): a route draining a burst is not cut.
            self.close(owner.slot, CloseReason::SlowConsumerPending);
            return;
        }
        cluster::encode::write_rmsg(&mut c.out.buf, account, subject, reply, queues, headers, payload);
        let size = (payload.len() + headers.map_or(0, <[u8]>::len)) as u64;
        c.stats.out_msgs += 1;
        c.stats.out_bytes += size;
        self.cycle.out_msgs += 1;
        self.cycle.out_bytes += size;
        self.mark_dirty(owner.slot);
    }

    /// Local subscriptions of account `acc` came (`add`) or went: tell the routes.
    pub(super) fn announce<'a>(&mut self, acc: u32, subs: impl Iterator<Item = &'a Subscription> + Clone, add: bool) {
        let shared = self.shared.clone();
        if shared.leaf.is_some() {
            let name = self.account(acc).name.clone();
            self.announce_leaf(&name, subs.clone(), add);
        }
        let Some(cl) = shared.cluster.as_ref() else { return };
        let name = self.account(acc).name.clone();
        let queued = cl.local_changed(name.as_bytes(), subs.filter(|s| !s.remote).map(|s| (&s.subject[..], s.queue.as_deref())), add);
        if queued && self.id != ROUTE_WORKER {
            shared.wake(ROUTE_WORKER as usize);
        }
    }

    /// Moves interest lines queued by any worker into the routes' output (run by
    /// `ROUTE_WORKER` once per cycle).
    pub fn drain_route_pending(&mut self) {
        let shared = self.shared.clone();
        let Some(cl) = shared.cluster.as_ref() else { return };
        let mut dirty: smallvec::SmallVec<[u32; 8]> = smallvec::SmallVec::new();
        cl.drain_pending(|slot, cid, bytes| {
            if let Some(c) = self.conns.get_mut(slot as usize).and_then(Option::as_mut) {
                if c.cid == cid && c.closing.is_none() {
                    c.out.buf.extend_from_slice(bytes);
                    dirty.push(slot);
                }
            }
        });
        for slot in dirty {
            self.mark_dirty(slot);
        }
    }

    /// A route connection left the worker: the peer's interest leaves the tries (over
    /// the next cycles when large) and the route is unregistered.
    pub(super) fn route_removed(&mut self, conn: &mut Conn) {
        let jitter = Duration::from_millis(conn.rng % 100);
        let Some(r) = conn.route.as_deref_mut() else { return };
        let mut by_account: Vec<(u32, Vec<Arc<Subscription>>)> = Vec::new();
        let drained: Vec<(u32, Arc<Subscription>)> = r.remote.drain().collect();
        let hub_leaf = r.leaf.as_deref().filter(|l| l.link.hub_role).map(|l| l.account_name.clone());
        self.withdraw_crossed(&drained, r.leaf.is_none(), hub_leaf.as_deref());
        for (acc, sub) in drained {
            sub.mark_unsubscribed();
            match by_account.iter_mut().find(|(a, _)| *a == acc) {
                Some((_, v)) => v.push(sub),
                None => by_account.push((acc, vec![sub])),
            }
        }
        for (acc, subs) in by_account {
            self.reap_later(acc, subs);
        }
        if let Some(lc) = r.leaf.take() {
            return self.leaf_removed(conn, &lc);
        }
        let peer = (!r.link.peer_id.is_empty()).then_some(r.link.peer_id.as_str());
        if let Some(cl) = self.shared.cluster.as_ref() {
            if cl.unregister(conn.cid, peer, r.url, self.now, jitter) {
                self.shared.wake_all();
            }
        }
        crate::debug!("{} - rid:{} - Route connection closed", conn.addr, conn.cid);
    }
}

/// Account name of a route subscription: its key starts `"<acc> "`.
pub(super) fn route_sub_account(sub: &Subscription) -> &[u8] {
    let k = &sub.sid[..];
    k.iter().position(|&b| b == b' ').map_or(k, |i| &k[..i])
}
