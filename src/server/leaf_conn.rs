//! Leaf connections in the worker's core (hub: accepted on the leaf port; spoke:
//! dialed for a `remotes` entry), driven by `cluster::leaf` (handshake) and
//! `server::leaf_state` (LS+/LS- per link). A leaf connection is a route connection
//! (`Conn::route`) with `RouteConn::leaf` set: the route machinery carries its remote
//! interest, its LMSG output (`write_rmsg`) and its removal.
use super::cluster_conn::RouteConn;
use super::cluster_state::ROUTE_WORKER;
use super::conn::{CloseReason, Conn};
use super::core::Core;
use super::leaf_state::{LeafEntry, LOOP_DELAY};
use crate::auth::permissions::Matcher;
use crate::auth::Permissions;
use crate::cluster::interest::{self, RemoteChange};
use crate::cluster::leaf::{self, Action, LeafConnect, LeafInfo, LeafLink, Local};
use crate::cluster::{self, RouteFrame, RoutedMsg};
use crate::proto::{self, Message};
use crate::subject::{ConnRef, Subscription};
use smallvec::SmallVec;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Longest leaf control line accepted (2.9.10 checks none; LMSG lines name queues).
const MAX_LEAF_LINE: usize = 1024 * 1024;

/// The spoke waits this long for the hub's `connect_info` INFO (nats-server: 2 s).
const CONNECT_INFO_WAIT: Duration = Duration::from_secs(2);

/// Default leaf authorization timeout (nats-server: 1 s for leafs without a setting
/// is the client default, 2 s).
const DEFAULT_LEAF_AUTH_TIMEOUT: Duration = Duration::from_secs(2);

/// A leaf link's state beside the route fields.
pub struct LeafConn {
    pub link: LeafLink,
    /// The bound local account (valid once linked).
    pub account: u32,
    pub account_name: String,
    /// The `remotes` entry this connection was dialed for.
    pub remote: Option<usize>,
    /// The hub user's permissions (hub side): what the leaf may publish (`publish`) and
    /// receive (`subscribe`).
    pub perms: Option<Arc<Permissions>>,
    /// Subjects never sent over the link (spoke: `deny_exports`; hub: the spoke's
    /// `deny_pub`).
    pub out_deny: Option<Matcher>,
    /// Subjects never taken from the link (spoke: `deny_imports`).
    pub in_deny: Option<Matcher>,
    /// Our `$LDS.` subject for the account (a peer announcing it is a loop).
    pub lds: String,
    /// Redial delay after this connection closes (30 s after a loop).
    pub redial_after: Duration,
}

fn matcher(list: &[String]) -> Option<Matcher> {
    (!list.is_empty()).then(|| Matcher::new(list.iter().map(|s| s.as_bytes())))
}

impl Core {
    fn new_leaf_conn(&mut self, addr: SocketAddr, link: LeafLink, remote: Option<usize>) -> u32 {
        let cid = self.shared.alloc_cid();
        let slot = self.alloc_slot();
        let now = self.now;
        let mut conn = Conn::new(cid, slot, addr, now, now);
        let jitter = conn.next_rand() % 200;
        conn.next_ping = now + Duration::from_secs(1) + Duration::from_millis(jitter);
        conn.flags.verbose = false;
        conn.flags.pedantic = false;
        conn.flags.headers = true;
        let redial_after = self.shared.leaf.as_ref().map_or(Duration::from_secs(1), |l| l.opts.reconnect_delay());
        let lc = LeafConn {
            link,
            account: 0,
            account_name: String::new(),
            remote,
            perms: None,
            out_deny: None,
            in_deny: None,
            lds: String::new(),
            redial_after,
        };
        conn.route = Some(Box::new(RouteConn::for_leaf(lc)));
        self.conns[slot as usize] = Some(conn);
        self.mark_dirty(slot);
        slot
    }

    /// A connection accepted on the leaf port: send INFO (with a nonce), wait for CONNECT.
    pub fn accept_leaf(&mut self, addr: SocketAddr) -> u32 {
        let slot = self.new_leaf_conn(addr, LeafLink::accepted(), None);
        let shared = self.shared.clone();
        let Some(l) = shared.leaf.as_ref() else { return slot };
        let timeout = l.opts.auth_timeout.unwrap_or(DEFAULT_LEAF_AUTH_TIMEOUT);
        let deadline = self.now + timeout;
        if let Some(c) = self.conn_mut(slot) {
            c.auth_deadline = Some(deadline);
            let info = LeafInfo { client_id: c.cid, nonce: Some(crate::auth::new_nonce()), ip: Some(addr.to_string()), ..l.info.clone() };
            info.write(&mut c.out.buf);
        }
        crate::info!("{addr} - lid:{} - Leafnode connection created", self.conn(slot).map_or(0, |c| c.cid));
        slot
    }

    /// A connection the dialer opened for remote `remote`: wait for the hub's INFO.
    pub fn dialed_leaf(&mut self, addr: SocketAddr, remote: usize, url: crate::config::leaf::LeafUrl) -> u32 {
        let shared = self.shared.clone();
        let Some(l) = shared.leaf.as_ref() else { return self.new_leaf_conn(addr, LeafLink::dialed(false), None) };
        let r = l.opts.remotes.get(remote).cloned().unwrap_or_default();
        let slot = self.new_leaf_conn(addr, LeafLink::dialed(r.hub), Some(remote));
        let now = self.now;
        let account_name = r.account.clone().unwrap_or_else(|| "$G".into());
        if let Some(c) = self.conn_mut(slot) {
            // The hub's INFO and then its `connect_info` INFO must come in time.
            c.auth_deadline = Some(now + CONNECT_INFO_WAIT * 2);
            l.dial_done(remote, Some(c.cid), now);
            if let Some(lc) = c.route.as_deref_mut().and_then(|r| r.leaf.as_deref_mut()) {
                lc.out_deny = matcher(&r.deny_exports);
                lc.in_deny = matcher(&r.deny_imports);
                lc.lds = l.lds_subject(&account_name);
                lc.account_name = account_name;
            }
            c.creds = Some(Box::new(crate::proto::ConnectOptions { user: url.user.clone(), pass: url.pass.as_ref().map(|p| p.0.clone()), ..Default::default() }));
        }
        crate::info!("{addr} - lid:{} - Leafnode connection created for remote {}", self.conn(slot).map_or(0, |c| c.cid), url.host_port());
        slot
    }

    fn leaf_mut(&mut self, slot: u32) -> Option<&mut LeafConn> {
        self.conn_mut(slot).and_then(|c| c.route.as_deref_mut()).and_then(|r| r.leaf.as_deref_mut())
    }

    fn leaf_ref(&self, slot: u32) -> Option<&LeafConn> {
        self.conn(slot).and_then(|c| c.route.as_deref()).and_then(|r| r.leaf.as_deref())
    }

    /// Parses and handles everything complete in a leaf's read buffer.
    pub(super) fn process_leaf_input(&mut self, slot: u32) {
        let now = self.now;
        let Some(conn) = self.conn_mut(slot) else { return };
        let mut rbuf = std::mem::take(&mut conn.rbuf);
        conn.read_since_tick = true;
        conn.last_activity = now;
        conn.active = true;
        let base = rbuf.as_ptr();
        let mut pos = 0usize;
        while pos < rbuf.len() {
            match cluster::parse_leaf(&rbuf[pos..], MAX_LEAF_LINE) {
                Ok(Some((frame, n))) => {
                    pos += n;
                    self.handle_leaf_frame(slot, frame, base);
                    if self.conn(slot).is_none_or(Conn::is_closing) {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    crate::debug!("leaf slot {slot}: parse error: {e}");
                    // Before CONNECT anything else is an authorization failure (as nats-server).
                    if let Some(a) = self.leaf_ref(slot).and_then(|l| l.link.before_connect()) {
                        self.leaf_action(slot, a);
                        break;
                    }
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

    fn handle_leaf_frame(&mut self, slot: u32, frame: RouteFrame<'_>, base: *const u8) {
        let Some(link) = self.leaf_ref(slot).map(|l| &l.link) else { return };
        if !matches!(frame, RouteFrame::Connect(_)) {
            if let Some(a) = link.before_connect() {
                return self.leaf_action(slot, a);
            }
        }
        let linked = link.linked();
        match frame {
            RouteFrame::Connect(json) => {
                let a = self.with_leaf_link(slot, |l, local| l.on_connect(json, local));
                self.leaf_action(slot, a);
            }
            RouteFrame::Info(json) => {
                let a = self.with_leaf_link(slot, |l, local| l.on_info(json, local));
                self.leaf_action(slot, a);
            }
            RouteFrame::Ping => self.send_raw(slot, proto::PONG),
            RouteFrame::Pong => {
                if let Some(c) = self.conn_mut(slot) {
                    c.pings_out = 0;
                }
            }
            RouteFrame::Ok | RouteFrame::Ignored => {}
            RouteFrame::Err(text) => {
                let t = String::from_utf8_lossy(text);
                crate::error!("leafnode slot {slot}: peer sent -ERR {t}");
                if t.contains("Loop detected") || t.contains(leaf::ERR_SAME_CLUSTER) {
                    if let Some(l) = self.leaf_mut(slot) {
                        l.redial_after = LOOP_DELAY;
                    }
                }
                self.close(slot, CloseReason::ParseError);
            }
            RouteFrame::Sub { subject, queue, weight, .. } if linked => self.leaf_sub(slot, subject, queue, weight),
            RouteFrame::Unsub { subject, queue, .. } if linked => self.leaf_unsub(slot, subject, queue),
            RouteFrame::Msg(m) if linked => self.leaf_from_peer(slot, &m, base),
            RouteFrame::Sub { .. } | RouteFrame::Unsub { .. } | RouteFrame::Msg(_) => {}
        }
    }

    fn with_leaf_link(&mut self, slot: u32, f: impl FnOnce(&mut LeafLink, &Local<'_>) -> Action) -> Action {
        let shared = self.shared.clone();
        let cluster = shared.cluster.as_ref().map_or("", |c| c.name.as_str());
        let local = Local { server_id: &shared.server_id, cluster };
        match self.leaf_mut(slot) {
            Some(l) => f(&mut l.link, &local),
            None => Action::None,
        }
    }

    fn leaf_refuse(&mut self, slot: u32, text: &str) {
        crate::error!("leafnode slot {slot}: {text}");
        let reason = if text == "Authorization Violation" { CloseReason::AuthViolation } else { CloseReason::ProtocolViolation };
        self.send_err(slot, text);
        self.close(slot, reason);
    }

    fn leaf_action(&mut self, slot: u32, a: Action) {
        match a {
            Action::None => {}
            Action::Refuse(text) => {
                if text.starts_with("Loop detected") || text == leaf::ERR_SAME_CLUSTER {
                    if let Some(l) = self.leaf_mut(slot) {
                        l.redial_after = LOOP_DELAY;
                    }
                }
                self.leaf_refuse(slot, &text);
            }
            Action::Authenticate(c) => self.leaf_authenticate(slot, &c),
            Action::SendConnect(info) => self.leaf_send_connect(slot, &info),
            Action::Linked => self.leaf_linked(slot),
        }
    }

    /// Hub: who the leaf is and which account it is bound to.
    fn leaf_authenticate(&mut self, slot: u32, c: &LeafConnect) {
        let shared = self.shared.clone();
        let Some(l) = shared.leaf.as_ref() else { return };
        let user = c.user.as_deref().unwrap_or("");
        let pass = c.pass.as_deref().unwrap_or("");
        let bound: Result<(String, Option<Arc<Permissions>>), ()> = if let Some(u) = &l.opts.user {
            let ok = u == user && l.opts.password.as_ref().is_none_or(|p| p.0 == pass);
            if ok { Ok((l.opts.account.clone().unwrap_or_else(|| "$G".into()), None)) } else { Err(()) }
        } else if !l.opts.users.is_empty() {
            match l.opts.users.iter().find(|u| u.user == user && u.password.0 == pass) {
                Some(u) => Ok((u.account.clone().unwrap_or_else(|| "$G".into()), None)),
                None => Err(()),
            }
        } else {
            let auth = shared.authenticator.read().clone();
            if auth.required() {
                // No leaf users: the client users apply, permissions included.
                let co = crate::proto::ConnectOptions { user: c.user.clone(), pass: c.pass.clone(), ..Default::default() };
                match auth.authenticate(&co, None) {
                    Ok(id) => Ok((id.account, id.permissions)),
                    Err(e) => {
                        crate::debug!("leafnode slot {slot}: {e}");
                        Err(())
                    }
                }
            } else {
                Ok((l.opts.account.clone().unwrap_or_else(|| "$G".into()), None))
            }
        };
        let Ok((account_name, perms)) = bound else {
            return self.leaf_refuse(slot, "Authorization Violation");
        };
        let Some(acc) = shared.accounts.find(&account_name) else {
            return self.leaf_refuse(slot, "Authorization Violation");
        };
        self.ensure_account(acc.id);
        let lds = l.lds_subject(&account_name);
        let Some(conn) = self.conn_mut(slot) else { return };
        conn.auth_deadline = None;
        conn.connected = true;
        let cid = conn.cid;
        let Some(lc) = conn.route.as_deref_mut().and_then(|r| r.leaf.as_deref_mut()) else { return };
        lc.link.authenticated(&account_name);
        lc.account = acc.id;
        lc.account_name = account_name.clone();
        lc.out_deny = matcher(&c.deny_pub);
        lc.perms = perms.clone();
        lc.lds = lds;
        let info = LeafInfo { client_id: cid, connect_info: true, remote_account: Some(account_name), ..l.info.clone() };
        info.write(&mut conn.out.buf);
        // The leaf may only be sent what its user may subscribe to… and only asked
        // for what it may publish.
        let advertise: crate::cluster::leaf_interest::Advertise = match perms {
            Some(p) => Box::new(move |s: &[u8]| p.can_publish(s)),
            None => Box::new(|_: &[u8]| true),
        };
        self.leaf_register(slot, advertise);
    }

    /// Spoke: the hub's first INFO arrived; send CONNECT.
    fn leaf_send_connect(&mut self, slot: u32, info: &LeafInfo) {
        let shared = self.shared.clone();
        let Some(l) = shared.leaf.as_ref() else { return };
        let remote = self.leaf_ref(slot).and_then(|lc| lc.remote).and_then(|i| l.opts.remotes.get(i)).cloned().unwrap_or_default();
        let cluster = shared.cluster.as_ref().map(|c| c.name.clone()).unwrap_or_default();
        let Some(c) = self.conn_mut(slot) else { return };
        let creds = c.creds.take();
        let connect = LeafConnect {
            version: crate::VERSION.to_string(),
            tls_required: false,
            user: creds.as_ref().and_then(|c| c.user.clone()),
            pass: creds.as_ref().and_then(|c| c.pass.clone()),
            server_id: shared.server_id.clone(),
            name: shared.server_name.clone(),
            cluster,
            headers: true,
            is_hub: remote.hub,
            deny_pub: remote.deny_imports.clone(),
            jwt: None,
            lang: None,
        };
        connect.write(&mut c.out.buf);
        self.mark_dirty(slot);
        if !info.info_on_connect {
            self.leaf_linked(slot);
        }
    }

    /// Spoke: linked (the hub's `connect_info` INFO, or at once without `info_on_connect`).
    fn leaf_linked(&mut self, slot: u32) {
        let shared = self.shared.clone();
        let Some(lc) = self.leaf_ref(slot) else { return };
        let name = lc.account_name.clone();
        let Some(acc) = shared.accounts.find(&name) else {
            return self.leaf_refuse(slot, "Authorization Violation");
        };
        self.ensure_account(acc.id);
        let Some(c) = self.conn_mut(slot) else { return };
        c.auth_deadline = None;
        c.connected = true;
        let Some(lc) = c.route.as_deref_mut().and_then(|r| r.leaf.as_deref_mut()) else { return };
        lc.account = acc.id;
        // deny_imports: never ask the hub for them.
        let deny = lc.in_deny.clone();
        let advertise: crate::cluster::leaf_interest::Advertise = match deny {
            Some(d) => Box::new(move |s: &[u8]| !d.matches(s)),
            None => Box::new(|_: &[u8]| true),
        };
        self.leaf_register(slot, advertise);
    }

    fn leaf_register(&mut self, slot: u32, advertise: crate::cluster::leaf_interest::Advertise) {
        let shared = self.shared.clone();
        let Some(l) = shared.leaf.as_ref() else { return };
        // Lines queued before this link existed are in the sync; flush the others first.
        self.drain_leaf_pending();
        let now = self.now;
        let Some(c) = self.conn_mut(slot) else { return };
        let Some(lc) = c.route.as_deref().and_then(|r| r.leaf.as_deref()) else { return };
        let entry = LeafEntry {
            cid: c.cid,
            slot,
            account: lc.account_name.clone(),
            name: lc.link.peer_name.clone(),
            addr: c.addr,
            is_spoke: !lc.link.accepted,
            since: std::time::SystemTime::now(),
        };
        let hub_role = lc.link.hub_role;
        c.rtt_ns = u64::try_from(now.saturating_duration_since(c.start).as_nanos()).unwrap_or(u64::MAX).max(1);
        crate::info!("{} - lid:{} - Leafnode connection linked: {} (account {})", c.addr, c.cid, lc.link.peer_name, lc.account_name);
        l.register(entry, hub_role, advertise, &mut c.out.buf);
        self.mark_dirty(slot);
    }

    /// `LS+` from the peer.
    fn leaf_sub(&mut self, slot: u32, subject: &[u8], queue: Option<&[u8]>, weight: u32) {
        let shared = self.shared.clone();
        let worker = self.id;
        let Some(c) = self.conn_mut(slot) else { return };
        let (cid, owner) = (c.cid, ConnRef { worker, slot, cid: c.cid });
        let Some(lc) = c.route.as_deref().and_then(|r| r.leaf.as_deref()) else { return };
        if subject == lc.lds.as_bytes() {
            let text = leaf::loop_error(&lc.account_name);
            if let Some(l) = self.leaf_mut(slot) {
                l.redial_after = LOOP_DELAY;
            }
            return self.leaf_refuse(slot, &text);
        }
        if let Some(p) = &lc.perms {
            if !subject.starts_with(leaf::LDS_PREFIX) && !p.can_subscribe(subject, queue) {
                let text = format!("Permissions Violation for Subscription to \"{}\"", String::from_utf8_lossy(subject));
                crate::debug!("leafnode slot {slot}: {text}");
                return self.send_err(slot, &text);
            }
        }
        let (acc, account, hub_role) = (lc.account, lc.account_name.clone(), lc.link.hub_role);
        let Some(r) = self.conn_mut(slot).and_then(|c| c.route.as_deref_mut()) else { return };
        let change = r.remote.sub(account.as_bytes(), subject, queue, weight);
        match change {
            RemoteChange::Added => {
                let key = interest::key(account.as_bytes(), subject, queue);
                let mut s = Subscription::remote(subject, queue, &key, owner, weight);
                s.leaf = true;
                let sub = Arc::new(s);
                self.ensure_account(acc);
                if self.accounts[acc as usize].sublist.insert(sub.clone()).is_ok() {
                    if let Some(r) = self.conn_mut(slot).and_then(|c| c.route.as_deref_mut()) {
                        r.remote.set_handle(account.as_bytes(), subject, queue, (acc, sub));
                    }
                } else if let Some(r) = self.conn_mut(slot).and_then(|c| c.route.as_deref_mut()) {
                    r.remote.unsub(account.as_bytes(), subject, queue);
                    return;
                }
                if hub_role {
                    let n = if queue.is_some() { weight.max(1) } else { 1 };
                    self.leaf_interest_to_routes(account.as_bytes(), subject, queue, i64::from(n));
                }
            }
            RemoteChange::Weight(w) => {
                if let Some(s) = r.remote.handle(account.as_bytes(), subject, queue).map(|(_, s)| s.clone()) {
                    let old = s.weight.swap(w, std::sync::atomic::Ordering::Relaxed);
                    // Cached match results carry the weight sums.
                    self.accounts[acc as usize].sublist.touch();
                    if hub_role {
                        let delta = i64::from(w.max(1)) - i64::from(old.max(1));
                        self.leaf_interest_to_routes(account.as_bytes(), subject, queue, delta);
                    }
                }
            }
            RemoteChange::Unchanged | RemoteChange::Removed(_) => return,
        }
        if let Some(l) = shared.leaf.as_ref() {
            l.learned(cid, subject, queue, Some(weight));
        }
    }

    /// `LS-` from the peer.
    fn leaf_unsub(&mut self, slot: u32, subject: &[u8], queue: Option<&[u8]>) {
        let shared = self.shared.clone();
        let Some(c) = self.conn_mut(slot) else { return };
        let cid = c.cid;
        let Some(r) = c.route.as_deref_mut() else { return };
        let Some((account, hub_role)) = r.leaf.as_deref().map(|l| (l.account_name.clone(), l.link.hub_role)) else { return };
        if let RemoteChange::Removed(Some((acc, sub))) = r.remote.unsub(account.as_bytes(), subject, queue) {
            sub.mark_unsubscribed();
            self.account(acc).sublist.remove(&sub);
            if hub_role {
                self.leaf_interest_to_routes(account.as_bytes(), subject, queue, -leaf_members(&sub));
            }
            if let Some(l) = shared.leaf.as_ref() {
                l.learned(cid, subject, queue, None);
            }
        }
    }

    /// Interest learned on a link we are the hub of counts as local for the routes:
    /// `delta` members of one key (a queue group's LS+ weight is its member count).
    pub(super) fn leaf_interest_to_routes(&mut self, account: &[u8], subject: &[u8], queue: Option<&[u8]>, delta: i64) {
        let shared = self.shared.clone();
        let Some(cl) = shared.cluster.as_ref() else { return };
        if cl.leaf_changed(account, subject, queue, delta) && self.id != ROUTE_WORKER {
            shared.wake(ROUTE_WORKER as usize);
        }
    }

    /// Whether the connection at `slot` (ours) is a leaf link where we are the spoke.
    pub(super) fn is_spoke_link(&self, slot: u32, cid: u64) -> bool {
        self.conn(slot).filter(|c| c.cid == cid).and_then(|c| c.route.as_deref()).and_then(|r| r.leaf.as_deref()).is_some_and(|l| !l.link.hub_role)
    }

    /// An LMSG/HMSG from the peer: every local plain subscriber and the other links'
    /// interest get it (never this link; a message from our hub never goes to another
    /// hub), each queue group the sender listed once, local members first.
    fn leaf_from_peer(&mut self, slot: u32, m: &RoutedMsg<'_>, base: *const u8) {
        let size = m.payload.len() + m.headers.map_or(0, <[u8]>::len);
        let Some(c) = self.conn_mut(slot) else { return };
        c.stats.in_msgs += 1;
        c.stats.in_bytes += size as u64;
        let cid = c.cid;
        self.cycle.in_msgs += 1;
        self.cycle.in_bytes += size as u64;
        let Some(lc) = self.leaf_ref(slot) else { return };
        let (acc, from_spoke_link) = (lc.account as usize, !lc.link.hub_role);
        if lc.in_deny.as_ref().is_some_and(|d| d.matches(m.subject)) {
            return;
        }
        if let Some(p) = &lc.perms {
            if !p.can_publish(m.subject) {
                let text = format!("Permissions Violation for Publish to \"{}\"", String::from_utf8_lossy(m.subject));
                crate::debug!("leafnode slot {slot}: {text}");
                return self.send_err(slot, &text);
            }
        }
        self.ensure_account(acc as u32);
        let msg = Message { subject: m.subject, reply: m.reply, headers: m.headers, payload: m.payload, is_hpub: m.headers.is_some() };
        let mut caches = std::mem::take(&mut self.caches);
        let result = caches[acc].lookup_ref(&self.accounts[acc].sublist, m.subject);
        let mut to_peers: SmallVec<[&Arc<Subscription>; 8]> = SmallVec::new();
        for sub in result.psubs.iter() {
            if sub.remote {
                if sub.is_closed() || sub.owner.cid == cid {
                    continue;
                }
                // From our hub: not to routes, nor to another hub.
                if from_spoke_link && (!sub.leaf || self.is_spoke_link(sub.owner.slot, sub.owner.cid)) {
                    continue;
                }
                to_peers.push(sub);
                continue;
            }
            if sub.filters_out(m.subject) {
                continue;
            }
            if let Some(last) = super::route::claim(&self.accounts[acc].sublist, sub) {
                self.deliver(sub, last, &msg, Some(base), cid);
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
                let mut fallback = None;
                let mut done = false;
                for i in 0..n {
                    let sub = &group[(start + i) % n];
                    if sub.remote {
                        // No local member: a route's member (queue picks cross routes
                        // even from our hub), else another link we are the hub of.
                        let usable = !sub.is_closed() && sub.owner.cid != cid;
                        let route_member = !sub.leaf && fallback.is_none_or(|f: &Arc<Subscription>| f.leaf);
                        let leaf_member = sub.leaf && fallback.is_none() && !from_spoke_link;
                        if usable && (route_member || leaf_member) {
                            fallback = Some(sub);
                        }
                        continue;
                    }
                    if sub.filters_out(m.subject) {
                        continue;
                    }
                    if let Some(last) = super::route::claim(&self.accounts[acc].sublist, sub) {
                        self.deliver(sub, last, &msg, Some(base), cid);
                        done = true;
                        break;
                    }
                }
                if let (false, Some(sub)) = (done, fallback) {
                    to_peers.push(sub);
                }
            }
        }
        if !to_peers.is_empty() {
            self.send_to_routes(&mut to_peers, &msg, Some(base), cid);
        }
        drop(to_peers);
        self.caches = caches;
    }

    /// Appends one LMSG/HMSG for leaf connection `owner` (called by `write_rmsg`),
    /// unless the subject may not cross this link.
    pub(super) fn write_lmsg<'q>(&mut self, owner: ConnRef, queues: impl Iterator<Item = &'q [u8]> + Clone, msg: &Message<'_>) {
        if self.shared.leaf.as_ref().is_some_and(|l| l.has_pending()) {
            self.drain_leaf_pending();
        }
        let max_pending = self.opts.max_pending as usize;
        let slot = owner.slot;
        let Some(c) = self.conn_mut(slot) else { return };
        if c.cid != owner.cid || c.closing.is_some() {
            return;
        }
        let Some(lc) = c.route.as_deref().and_then(|r| r.leaf.as_deref()) else { return };
        if lc.out_deny.as_ref().is_some_and(|d| d.matches(msg.subject)) {
            return;
        }
        if lc.perms.as_ref().is_some_and(|p| !p.can_subscribe(msg.subject, None)) {
            return;
        }
        let headers = if lc.link.peer_headers { msg.headers } else { None };
        let approx = msg.subject.len() + msg.reply.map_or(0, <[u8]>::len) + headers.map_or(0, <[u8]>::len) + msg.payload.len() + 64;
        if c.out.pending() + approx > max_pending {
            self.close(slot, CloseReason::SlowConsumerPending);
            return;
        }
        cluster::encode::write_lmsg(&mut c.out.buf, msg.subject, msg.reply, queues, headers, msg.payload);
        let size = (msg.payload.len() + headers.map_or(0, <[u8]>::len)) as u64;
        c.stats.out_msgs += 1;
        c.stats.out_bytes += size;
        self.cycle.out_msgs += 1;
        self.cycle.out_bytes += size;
        self.mark_dirty(slot);
    }

    /// Moves LS+/LS- lines queued by any worker into the links' output (run by
    /// `ROUTE_WORKER` once per cycle and before each LMSG).
    pub fn drain_leaf_pending(&mut self) {
        let shared = self.shared.clone();
        let Some(l) = shared.leaf.as_ref() else { return };
        let mut dirty: SmallVec<[u32; 8]> = SmallVec::new();
        l.drain_pending(|slot, cid, bytes| {
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

    /// Local subscriptions of account `name` came or went: tell the leaf links.
    pub(super) fn announce_leaf<'a>(&mut self, name: &str, subs: impl Iterator<Item = &'a Subscription>, add: bool) {
        let shared = self.shared.clone();
        let Some(l) = shared.leaf.as_ref() else { return };
        let queued = l.local_changed(name.as_bytes(), subs.filter(|s| !s.remote).map(|s| (&s.subject[..], s.queue.as_deref())), add);
        if queued && self.id != ROUTE_WORKER {
            shared.wake(ROUTE_WORKER as usize);
        }
    }

    /// A leaf connection left the worker (its remote subscriptions already went with
    /// the route machinery): unregister it and schedule the redial of its remote.
    pub(super) fn leaf_removed(&mut self, conn: &Conn, lc: &LeafConn) {
        if let Some(l) = self.shared.leaf.as_ref() {
            let jitter = Duration::from_millis(conn.rng % 100);
            l.unregister(conn.cid, lc.remote, self.now, lc.redial_after + jitter);
            if l.has_pending() {
                self.shared.wake(ROUTE_WORKER as usize);
            }
        }
        crate::info!("{} - lid:{} - Leafnode connection closed", conn.addr, conn.cid);
    }
}

/// How many members a leaf subscription stands for on the routes.
pub(super) fn leaf_members(sub: &Subscription) -> i64 {
    if sub.queue.is_some() {
        i64::from(sub.weight.load(std::sync::atomic::Ordering::Relaxed).max(1))
    } else {
        1
    }
}
