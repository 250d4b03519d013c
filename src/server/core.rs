//! The sans-IO heart of a worker: its connections' protocol state, routing and
//! delivery. It never touches a socket or reads a clock: the worker shell
//! (`worker.rs`) puts received bytes into `Conn::rbuf`, sets `now`, calls in, then
//! writes out whatever the core queued on `flush_list` and closes what is on
//! `close_list`. Unit tests drive it with in-memory connections.
use super::account::Account;
use super::batch::{Batch, Item};
use super::conn::{CloseReason, Conn};
use super::shared::{CycleStats, Shared};
use crate::config::Options;
use crate::proto::{self, Limits};
use crate::subject::{MatchCache, Subscription};
use bytes::Bytes;
use smallvec::SmallVec;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// nats-server's default `authorization.timeout`.
pub(super) const DEFAULT_AUTH_TIMEOUT: Duration = Duration::from_secs(2);

/// Subscriptions of closed connections taken out of the tries per cycle
/// (about a millisecond; see `Core::reap_subs`).
const REAP_PER_CYCLE: usize = 4096;

/// Subjects kept in each worker's match cache (nats-server keeps 1024 per sublist).
const MATCH_CACHE_SUBJECTS: usize = 4096;

pub struct Core {
    pub id: u16,
    pub shared: Arc<Shared>,
    /// Connection slab: the slot is the mio token (minus the reserved ones).
    pub conns: Vec<Option<Conn>>,
    free_slots: Vec<u32>,
    /// This worker's snapshot of the account table, by account id.
    pub accounts: Vec<Arc<Account>>,
    /// One match cache per account, by account id.
    pub caches: Vec<MatchCache>,
    /// Each account's cross-account routes (snapshot), by account id.
    pub routes: Vec<Arc<super::imports::AccountRoutes>>,
    /// Scratch for subjects rewritten by imports.
    pub(super) scratch_subject: Vec<u8>,
    /// Scratch for stamped or stripped headers (`trust_conn.rs`) and their import cut.
    pub(super) trust_headers: Vec<u8>,
    pub(super) trust_import: Vec<u8>,
    pub limits: Limits,
    /// Outgoing cross-worker batches, indexed by destination worker.
    pub outbox: Vec<Batch>,
    /// Destinations that got items referring to the read buffer being parsed now.
    pub(super) touched: SmallVec<[u16; 4]>,
    /// Connections with queued output to write at the end of this cycle.
    pub flush_list: Vec<u32>,
    /// Connections to close at the end of this cycle.
    pub close_list: Vec<u32>,
    /// Subscriptions of closed connections (already marked closed) still in their
    /// account's trie, by account id; `reap_subs` removes them a bounded number per cycle.
    reaping: std::collections::VecDeque<(u32, Vec<Arc<Subscription>>)>,
    pub now: Instant,
    pub cycle: CycleStats,
    /// The options in force, and the generation they came from.
    pub opts: Arc<Options>,
    pub(super) opts_gen: u64,
    /// `AccountTable::routes_gen` when `routes` was last refreshed.
    routes_gen: u64,
    /// The generation of the cluster's client URLs in `info.connect_urls`.
    pub(super) urls_gen: u64,
    /// `-V`: trace protocol ops (cached from the logger when options change).
    pub(super) tracing: bool,
    /// Who may connect (from the options in force).
    pub auth: Arc<crate::auth::Authenticator>,
    /// Client TLS in force (new connections use it).
    pub tls: Option<Arc<crate::tls::ServerTls>>,
    /// Server INFO fields shared by every connection.
    pub(super) info: proto::ServerInfo,
    /// bcrypt checks waiting for room in the auth threads' queue (oldest first).
    pub(super) hash_waiting: std::collections::VecDeque<super::auth_pool::HashJob>,
    /// Connections whose verdict arrived: the shell reads their sockets again.
    pub resumed: Vec<u32>,
}

impl Core {
    pub fn new(id: u16, shared: Arc<Shared>, now: Instant) -> Self {
        let workers = shared.inboxes.len();
        let opts = shared.live_options();
        let opts_gen = shared.live_gen.load(Ordering::Acquire);
        let routes_gen = shared.accounts.routes_gen.load(Ordering::Acquire);
        let limits = limits_of(&opts);
        let auth = shared.authenticator();
        let tls = shared.tls();
        let mut info = super::info::template(&shared, &opts);
        info.auth_required = auth.advertise_required();
        set_tls_info(&mut info, tls.as_deref());
        Core {
            id,
            shared,
            conns: Vec::new(),
            free_slots: Vec::new(),
            accounts: Vec::new(),
            caches: Vec::new(),
            routes: Vec::new(),
            scratch_subject: Vec::new(),
            trust_headers: Vec::new(),
            trust_import: Vec::new(),
            limits,
            outbox: (0..workers).map(|_| Batch::default()).collect(),
            touched: SmallVec::new(),
            flush_list: Vec::new(),
            close_list: Vec::new(),
            reaping: Default::default(),
            now,
            cycle: CycleStats::default(),
            info,
            auth,
            tls,
            routes_gen,
            opts,
            opts_gen,
            urls_gen: 0,
            tracing: crate::logging::trace_enabled(),
            hash_waiting: Default::default(),
            resumed: Vec::new(),
        }
    }

    #[inline]
    pub fn conn(&self, slot: u32) -> Option<&Conn> {
        self.conns.get(slot as usize).and_then(Option::as_ref)
    }

    #[inline]
    pub fn conn_mut(&mut self, slot: u32) -> Option<&mut Conn> {
        self.conns.get_mut(slot as usize).and_then(Option::as_mut)
    }

    pub fn num_conns(&self) -> usize {
        self.conns.len() - self.free_slots.len()
    }

    /// Picks up reloaded options (one atomic load per cycle when nothing changed).
    /// New limits apply to open connections at once, as in nats-server.
    pub fn refresh_options(&mut self) {
        let gen = self.shared.live_gen.load(Ordering::Acquire);
        if gen == self.opts_gen {
            return;
        }
        self.opts_gen = gen;
        self.tracing = crate::logging::trace_enabled();
        self.opts = self.shared.live_options();
        self.limits = limits_of(&self.opts);
        self.auth = self.shared.authenticator();
        self.tls = self.shared.tls();
        self.accounts = self.shared.accounts.snapshot();
        self.refresh_routes();
        while self.caches.len() < self.accounts.len() {
            self.caches.push(MatchCache::new(MATCH_CACHE_SUBJECTS));
        }
        self.info = super::info::template(&self.shared, &self.opts);
        self.info.auth_required = self.auth.advertise_required();
        set_tls_info(&mut self.info, self.tls.as_deref());
        self.load_connect_urls();
        self.reauthorize_all();
    }

    pub fn info_template(&self) -> &proto::ServerInfo {
        &self.info
    }

    /// Registers a new connection and queues its INFO. Returns its slot. When the
    /// server is at `max_connections`, the connection gets INFO and
    /// `-ERR 'maximum connections exceeded'` and is closed, as nats-server does.
    pub fn accept(&mut self, addr: SocketAddr) -> u32 {
        let cid = self.shared.alloc_cid();
        let now = self.now;
        let slot = self.alloc_slot();
        let first_ping = now + self.opts.ping_interval;
        let mut conn = Conn::new(cid, slot, addr, now, first_ping);
        if self.auth.needs_nonce() {
            conn.nonce = Some(crate::auth::new_nonce().into());
        }
        if self.auth.required() {
            conn.auth_deadline = Some(now + self.auth_timeout());
        }
        if let Some(tls) = &self.tls {
            conn.tls_deadline = Some(now + tls.opts.timeout);
        }
        super::info::write_info(&mut conn.out.buf, &self.info, cid, addr, conn.nonce.as_deref());
        conn.urls_gen = self.urls_gen;
        self.conns[slot as usize] = Some(conn);
        self.shared.stats.total_connections.fetch_add(1, Ordering::Relaxed);
        let n = self.shared.num_conns.fetch_add(1, Ordering::AcqRel) + 1;
        if n > self.opts.max_connections {
            self.send_err(slot, "maximum connections exceeded");
            self.close(slot, CloseReason::MaxConnections);
        } else {
            self.mark_dirty(slot);
        }
        slot
    }

    /// A free slot in the connection table (reused or new).
    pub(super) fn alloc_slot(&mut self) -> u32 {
        match self.free_slots.pop() {
            Some(s) => s,
            None => {
                self.conns.push(None);
                (self.conns.len() - 1) as u32
            }
        }
    }

    /// `authorization.timeout`, else nats-server's default (the TLS timeout plus one
    /// second when TLS is on).
    pub(super) fn auth_timeout(&self) -> Duration {
        let default = self.tls.as_ref().map_or(DEFAULT_AUTH_TIMEOUT, |t| t.opts.default_auth_timeout());
        self.auth.config().timeout.unwrap_or(default)
    }

    /// The TLS handshake finished: the handshake deadline is off, the client
    /// certificate's names are kept for authentication, and the authentication timer
    /// starts now (nats-server starts it after TLS).
    pub fn tls_established(&mut self, slot: u32, cert: Option<crate::tls::CertIdentity>, session: super::conn::TlsSession) {
        let deadline = self.now + self.auth_timeout();
        let required = self.auth.required();
        let Some(c) = self.conn_mut(slot) else { return };
        c.tls_deadline = None;
        c.cert = cert.map(Box::new);
        c.tls_session = Some(Box::new(session));
        if required && !c.connected {
            c.auth_deadline = Some(deadline);
        }
        self.mark_dirty(slot);
    }

    /// Queues `slot` for writing at the end of the cycle.
    #[inline]
    pub fn mark_dirty(&mut self, slot: u32) {
        if let Some(c) = self.conns.get_mut(slot as usize).and_then(Option::as_mut) {
            if !c.dirty {
                c.dirty = true;
                self.flush_list.push(slot);
            }
        }
    }

    /// Marks a connection for closing at the end of the cycle (first reason wins).
    pub fn close(&mut self, slot: u32, reason: CloseReason) {
        let Some(c) = self.conns.get_mut(slot as usize).and_then(Option::as_mut) else { return };
        if c.closing.is_some() {
            return;
        }
        c.closing = Some(reason);
        crate::debug!("{} - cid:{} - closing: {}", c.addr, c.cid, reason.as_str());
        let stats = &self.shared.stats;
        match reason {
            CloseReason::SlowConsumerPending | CloseReason::SlowConsumerWriteDeadline => {
                super::output::log_slow_consumer(c, reason, self.opts.max_pending, self.opts.write_deadline);
                stats.slow_consumers.fetch_add(1, Ordering::Relaxed);
            }
            CloseReason::AuthViolation => {
                stats.auth_violations.fetch_add(1, Ordering::Relaxed);
            }
            CloseReason::AuthTimeout => {
                stats.auth_timeouts.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        self.close_list.push(slot);
    }

    /// Removes a connection (after the shell closed its socket): its
    /// subscriptions leave the trie and its slot is freed.
    pub fn remove(&mut self, slot: u32) -> Option<Conn> {
        let mut conn = self.conns.get_mut(slot as usize)?.take()?;
        self.free_slots.push(slot);
        if conn.is_route() {
            self.route_removed(&mut conn);
            return Some(conn);
        }
        self.shared.num_conns.fetch_sub(1, Ordering::AcqRel);
        if let Some(p) = &conn.parked {
            p.cancel(); // its bcrypt check is no longer wanted
        }
        if conn.jwt.is_some() {
            self.account(conn.account).jwt_conns.fetch_sub(1, Ordering::AcqRel);
        }
        if !conn.subs.is_empty() {
            // Closed at once (cached results holding them skip them from now on); taken
            // out of the trie now, or over the next cycles when there are many.
            let subs: Vec<Arc<Subscription>> = conn.subs.iter().cloned().collect();
            for s in &subs {
                s.mark_unsubscribed();
            }
            self.announce(conn.account, subs.iter().map(|s| &**s), false);
            self.reap_later(conn.account, subs);
        }
        Some(conn)
    }

    /// Takes closed subscriptions out of account `acc`'s trie: now when few, else a
    /// bounded number per cycle (`reap_subs`).
    pub(super) fn reap_later(&mut self, acc: u32, subs: Vec<Arc<Subscription>>) {
        if subs.len() <= REAP_PER_CYCLE && self.reaping.is_empty() {
            self.account(acc).sublist.remove_batch(&subs);
        } else {
            self.reaping.push_back((acc, subs));
        }
    }

    /// Whether subscriptions of closed connections are still waiting to leave the trie.
    pub fn reaping(&self) -> bool {
        !self.reaping.is_empty()
    }

    /// Takes up to `REAP_PER_CYCLE` subscriptions of closed connections out of their
    /// tries (called once per cycle): a connection that held 200k subscriptions leaves
    /// over a few dozen cycles instead of stalling this worker's other clients.
    pub fn reap_subs(&mut self) {
        let mut budget = REAP_PER_CYCLE;
        while budget > 0 {
            let Some(account) = self.reaping.front().map(|(a, _)| *a) else { return };
            let account = self.account(account);
            let Some((_, subs)) = self.reaping.front_mut() else { return };
            // Remove from the tail, in place: no copy of the chunk.
            let rest = subs.len().saturating_sub(budget);
            account.sublist.remove_batch(&subs[rest..]);
            budget -= subs.len() - rest;
            subs.truncate(rest);
            if subs.is_empty() {
                self.reaping.pop_front();
            }
        }
    }

    /// The account with this id (refreshing the worker's snapshot when it is new here).
    pub fn account(&mut self, id: u32) -> Arc<Account> {
        self.ensure_account(id);
        self.accounts[id as usize].clone()
    }

    /// Makes sure the snapshot and the match caches cover account `id` (inlined check
    /// on every publish; the refresh itself is out of line).
    #[inline]
    pub fn ensure_account(&mut self, id: u32) {
        if (id as usize) < self.accounts.len() && self.caches.len() >= self.accounts.len() {
            return;
        }
        self.load_account(id);
    }

    #[cold]
    fn load_account(&mut self, id: u32) {
        if id as usize >= self.accounts.len() {
            self.accounts = self.shared.accounts.snapshot();
            self.refresh_routes();
        }
        while self.caches.len() < self.accounts.len() {
            self.caches.push(MatchCache::new(MATCH_CACHE_SUBJECTS));
        }
    }

    fn refresh_routes(&mut self) {
        self.routes_gen = self.shared.accounts.routes_gen.load(Ordering::Acquire);
        self.routes = self.accounts.iter().map(|a| a.routes.read().clone()).collect();
    }

    /// Queues `-ERR '<text>'` to a connection.
    pub fn send_err(&mut self, slot: u32, text: &str) {
        if !self.reserve_out(slot, text.len() + 9) {
            return;
        }
        if self.tracing {
            self.trace_out(slot, format_args!("-ERR '{text}'"));
        }
        if let Some(c) = self.conn_mut(slot) {
            proto::write_err(&mut c.out.buf, text);
        }
        self.mark_dirty(slot);
    }

    pub(super) fn send_raw(&mut self, slot: u32, bytes: &[u8]) {
        if !self.reserve_out(slot, bytes.len()) {
            return;
        }
        if self.tracing {
            self.trace_out(slot, format_args!("{}", String::from_utf8_lossy(bytes).trim_end()));
        }
        if let Some(c) = self.conn_mut(slot) {
            c.out.buf.extend_from_slice(bytes);
        }
        self.mark_dirty(slot);
    }

    /// Parses and handles everything complete in the connection's read buffer.
    /// Frames borrow the buffer; messages for other workers keep a frozen,
    /// reference-counted slice of it.
    pub fn process_input(&mut self, slot: u32) {
        let now = self.now;
        let Some(conn) = self.conn_mut(slot) else { return };
        if conn.parked.is_some() {
            return; // resumed by the verdict
        }
        if conn.is_route() {
            return self.process_route_input(slot);
        }
        let mut rbuf = std::mem::take(&mut conn.rbuf);
        let mut parser = std::mem::take(&mut conn.parser);
        conn.read_since_tick = true;
        conn.last_activity = now;
        let jwt_payload = conn.jwt.as_ref().and_then(|j| j.max_payload);
        let mut limits = self.limits;
        if let Some(p) = jwt_payload {
            limits.max_payload = limits.max_payload.min(p as usize);
        }
        let base = rbuf.as_ptr();
        let mut pos = 0usize;
        debug_assert!(self.touched.is_empty());
        while pos < rbuf.len() {
            match parser.parse(&rbuf[pos..], &limits) {
                Ok(Some((frame, n))) => {
                    pos += n;
                    self.handle_frame(slot, frame, base);
                    match self.conn(slot) {
                        None => break,
                        Some(c) if c.is_closing() => break,
                        Some(c) if c.parked.is_some() => {
                            if c.parked.as_ref().is_some_and(super::auth_pool::Parked::is_implicit) {
                                // Parked before this op ran (binding `no_auth_user`): parse it
                                // again once the connection is bound.
                                pos -= n;
                                parser = proto::Parser::default();
                            }
                            break;
                        }
                        Some(_) => {}
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    if let Some(text) = e.err_text() {
                        self.send_err(slot, text);
                    }
                    self.close(slot, parse_error_reason(e));
                    break;
                }
            }
        }
        self.release_input(&mut rbuf, pos);
        if let Some(conn) = self.conn_mut(slot) {
            conn.rbuf = rbuf;
            conn.parser = parser;
        }
    }

    /// Drops the first `pos` consumed bytes of a read buffer. Where messages went to other
    /// workers, those bytes are frozen into one shared chunk that each of those workers'
    /// batches keeps alive; otherwise only the start moves and the buffer is reused in place.
    pub(super) fn release_input(&mut self, rbuf: &mut bytes::BytesMut, pos: usize) {
        if self.touched.is_empty() {
            bytes::Buf::advance(rbuf, pos);
        } else {
            let chunk: Bytes = rbuf.split_to(pos).freeze();
            for &dest in &self.touched {
                self.outbox[dest as usize].chunks.push(chunk.clone());
            }
            self.touched.clear();
        }
    }

    /// Processes a connection's input; a bug that panics while doing so closes that
    /// connection instead of taking the worker (and everyone on it) down.
    pub fn process_input_guarded(&mut self, slot: u32) {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.process_input(slot)));
        if r.is_err() {
            crate::error!("internal error while processing input of slot {slot}; closing that connection");
            // Keep chunk indices aligned for items already batched from this input.
            for dest in std::mem::take(&mut self.touched) {
                self.outbox[dest as usize].chunks.push(Bytes::new());
            }
            if let Some(c) = self.conn_mut(slot) {
                c.rbuf.clear();
            }
            self.close(slot, CloseReason::ProtocolViolation);
        }
    }

    /// Delivers a batch of messages sent by another worker.
    pub fn receive_batch(&mut self, batch: &Batch) {
        let items = &batch.items;
        let mut k = 0;
        while k < items.len() {
            let item = &items[k];
            k += 1;
            let chunk: &[u8] = if item.chunk == super::batch::OWN {
                &batch.own
            } else {
                match batch.chunks.get(item.chunk as usize) {
                    Some(c) => c,
                    None => continue,
                }
            };
            let sub = &item.sub;
            if sub.remote {
                // Consecutive items of one message for one route become one RMSG
                // listing the queue groups picked there.
                let start = k - 1;
                while k < items.len() && items[k].sub.remote && items[k].sub.owner == sub.owner && items[k].same_message(item) {
                    k += 1;
                }
                let (Some(subject), Some(payload)) = (chunk.get(item.subject.range()), chunk.get(item.payload.range()))
                else {
                    continue;
                };
                let reply = item.reply.and_then(|s| chunk.get(s.range()));
                let headers = item.headers.and_then(|s| chunk.get(s.range()));
                let queues = items[start..k].iter().filter_map(|i| i.sub.queue.as_deref());
                let account = super::cluster_conn::route_sub_account(sub);
                let msg = proto::Message { subject, reply, headers, payload, is_hpub: headers.is_some() };
                self.write_rmsg(sub.owner, account, queues, &msg);
                continue;
            }
            // Claimed before the owner unsubscribed it? Then it is still wanted.
            if sub.is_unsubscribed() {
                continue;
            }
            let (Some(subject), Some(payload)) = (chunk.get(item.subject.range()), chunk.get(item.payload.range()))
            else {
                continue;
            };
            let reply = item.reply.and_then(|s| chunk.get(s.range()));
            let headers = item.headers.and_then(|s| chunk.get(s.range()));
            self.write_delivery(sub, item.last, subject, reply, headers, payload);
        }
    }

    /// Hands every non-empty outgoing batch to its worker (one push and at most one
    /// wake per destination per cycle).
    pub fn send_batches(&mut self) {
        for dest in 0..self.outbox.len() {
            if self.outbox[dest].is_empty() {
                continue;
            }
            let inbox = &self.shared.inboxes[dest];
            let fresh = inbox_spare(&self.shared, self.id as usize);
            let mut batch = std::mem::replace(&mut self.outbox[dest], fresh);
            batch.from = self.id;
            if inbox.push(batch) {
                self.shared.wake(dest);
            }
        }
    }

    /// Timers: server PINGs and stale detection, write deadlines, idle buffer release.
    pub fn tick(&mut self) {
        if self.id == 0 {
            self.expire_responses();
            self.expire_activations();
        }
        if self.shared.accounts.routes_gen.load(Ordering::Acquire) != self.routes_gen {
            self.refresh_routes();
        }
        self.retry_hash_jobs();
        self.expire_callouts();
        let now = self.now;
        let ping_interval = self.opts.ping_interval;
        let ping_max = self.opts.ping_max;
        let write_deadline = self.opts.write_deadline;
        for slot in 0..self.conns.len() as u32 {
            if self.check_auth_deadline(slot) || self.check_auth_expiry(slot) {
                continue;
            }
            let Some(c) = self.conns[slot as usize].as_mut() else { continue };
            if c.closing.is_some() {
                continue;
            }
            if c.tls_deadline.is_some_and(|d| now >= d) {
                // The peer cannot read a plain-text -ERR: it just sees the close.
                self.close(slot, CloseReason::TlsHandshakeFailure);
                continue;
            }
            if let Some(since) = c.stalled_since {
                if now.duration_since(since) >= write_deadline {
                    self.close(slot, CloseReason::SlowConsumerWriteDeadline);
                    continue;
                }
            }
            if self.over_limit_too_long(slot) {
                self.close(slot, CloseReason::SlowConsumerPending);
                continue;
            }
            let Some(c) = self.conns[slot as usize].as_mut() else { continue };
            if !c.read_since_tick && c.rbuf.is_empty() && c.rbuf.capacity() > 0 {
                c.rbuf = bytes::BytesMut::new();
                c.read_size = super::conn::MIN_READ;
            }
            c.read_since_tick = false;
            if c.out.pending() == 0 {
                c.out.release_if_idle();
            }
            if now < c.next_ping {
                continue;
            }
            c.next_ping = now + ping_interval;
            if c.active {
                c.active = false;
                continue;
            }
            if c.pings_out + 1 > ping_max {
                self.send_err(slot, "Stale Connection");
                self.close(slot, CloseReason::StaleConnection);
            } else if self.reserve_out(slot, proto::PING.len()) {
                if let Some(c) = self.conn_mut(slot) {
                    c.pings_out += 1;
                    c.out.buf.extend_from_slice(proto::PING);
                }
                self.mark_dirty(slot);
            }
        }
    }

    /// First server PING after CONNECT: min(ping_interval, 2s) plus up to 20% jitter,
    /// as nats-server does so that many clients connecting at once do not ping in step.
    pub(super) fn first_ping_delay(&self, rand: u64) -> Duration {
        let base = self.opts.ping_interval.min(Duration::from_secs(2));
        base + base.mul_f64((rand % 1000) as f64 / 5000.0)
    }
}

/// INFO's `tls_required` and `tls_verify` (natrix has no `allow_non_tls`).
fn set_tls_info(info: &mut proto::ServerInfo, tls: Option<&crate::tls::ServerTls>) {
    info.tls_required = tls.is_some();
    info.tls_verify = tls.is_some_and(|t| t.opts.verifies_clients());
}

fn limits_of(opts: &Options) -> Limits {
    Limits { max_control_line: opts.max_control_line as usize, max_payload: opts.max_payload as usize }
}

fn inbox_spare(shared: &Shared, me: usize) -> Batch {
    shared.inboxes[me].take_spare()
}

fn parse_error_reason(e: proto::ParseError) -> CloseReason {
    match e {
        proto::ParseError::MaxPayload => CloseReason::MaxPayload,
        proto::ParseError::MaxControlLine => CloseReason::MaxControlLine,
        _ => CloseReason::ProtocolViolation,
    }
}

/// An item for a subscription on another worker (ranges relative to `base`).
pub(super) fn remote_item(
    sub: &Arc<Subscription>,
    chunk: u32,
    base: *const u8,
    msg: &proto::Message<'_>,
    last: bool,
) -> Item {
    use super::batch::Span;
    Item {
        sub: sub.clone(),
        chunk,
        subject: Span::of(base, msg.subject),
        reply: msg.reply.map(|r| Span::of(base, r)),
        headers: msg.headers.map(|h| Span::of(base, h)),
        payload: Span::of(base, msg.payload),
        last,
    }
}
