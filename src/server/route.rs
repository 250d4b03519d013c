//! The hot path: PUB in, MSG out. Match the subject (per-worker cache over the
//! shared trie), pick one member per queue group, write to local subscribers'
//! outbound buffers directly and batch the rest per destination worker.
//! Nothing here allocates per message once buffers have grown.
use super::conn::CloseReason;
use super::core::{remote_item, Core};
use crate::proto::{self, Message};
use crate::subject::{self, Subscription};
use smallvec::SmallVec;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The no-responders status message body (2.9.10 form, without `Nats-Subject`).
const NO_RESPONDERS_HDR: &[u8] = b"NATS/1.0 503\r\n\r\n";

/// Reply prefixes reserved for the server (`_R_.` service imports, JetStream acks, gateways).
const RESERVED_REPLY_PREFIXES: [&[u8]; 3] = [b"_R_.", b"$JS.ACK.", b"_GR_."];

impl Core {
    pub(super) fn handle_pub(&mut self, slot: u32, msg: &Message<'_>, base: *const u8) {
        let Some(c) = self.conn_mut(slot) else { return };
        if msg.is_hpub && !c.flags.headers {
            // nats-server: "message headers not supported", closed without -ERR.
            self.close(slot, CloseReason::ProtocolViolation);
            return;
        }
        let size = msg.payload.len() + msg.headers.map_or(0, <[u8]>::len);
        c.stats.in_msgs += 1;
        c.stats.in_bytes += size as u64;
        c.active = true;
        // A JWT user's `data` limit: everything this connection may publish (one branch
        // for connections without a JWT).
        let over_data = c.jwt.as_ref().and_then(|j| j.max_data).is_some_and(|max| c.stats.in_bytes > max);
        let (verbose, pedantic, cid, echo, no_responders) =
            (c.flags.verbose, c.flags.pedantic, c.cid, c.flags.echo, c.flags.no_responders);
        // Message trust: one branch for a headerless publish from an unstamped connection.
        let trust = msg.headers.is_some() || c.stamp.is_some();
        let types = c.perms.as_deref().is_some_and(|p| p.perms.types.is_some());
        let acc = c.account as usize;
        self.cycle.in_msgs += 1;
        self.cycle.in_bytes += size as u64;
        if over_data {
            self.send_err(slot, "Maximum Data Exceeded");
            self.close(slot, CloseReason::MaxDataExceeded);
            return;
        }

        if pedantic && !subject::is_valid_literal_subject(msg.subject) {
            // Pedantic mode only reports it; the message is still routed.
            self.send_err(slot, "Invalid Publish Subject");
        }
        if let super::authz::PubCheck::Denied = self.check_publish(slot, msg.subject) {
            self.send_err(slot, &format!("Permissions Violation for Publish to \"{}\"", lossy(msg.subject)));
            return;
        }
        if types && !self.check_types(slot, msg.subject, msg.headers) {
            return;
        }
        if msg.subject.starts_with(b"_GR_.") {
            self.send_err(slot, &format!("Permissions Violation for Publish to \"{}\"", lossy(msg.subject)));
            return;
        }
        if let Some(reply) = msg.reply {
            if RESERVED_REPLY_PREFIXES.iter().any(|p| reply.starts_with(p)) {
                self.send_err(slot, &format!("Permissions Violation for Publish with Reply of \"{}\"", lossy(reply)));
                return;
            }
        }
        if verbose {
            self.send_raw(slot, proto::OK);
        }

        self.ensure_account(acc as u32);
        if trust {
            // Stamped or stripped headers live in a scratch buffer: other workers get a copy.
            let mut buf = std::mem::take(&mut self.trust_headers);
            if self.trusted_headers(slot, msg.headers, &mut buf) {
                let m = Message { headers: Some(&buf), ..*msg };
                self.route_pub(slot, cid, acc, echo, no_responders, &m, None);
                self.trust_headers = buf;
                return;
            }
            self.trust_headers = buf;
        }
        self.route_pub(slot, cid, acc, echo, no_responders, msg, Some(base));
    }

    /// Routes a publish that passed every check: system requests, the account's
    /// subscribers and routes, imports, no-responders.
    #[allow(clippy::too_many_arguments)]
    fn route_pub(&mut self, slot: u32, cid: u64, acc: usize, echo: bool, no_responders: bool, msg: &Message<'_>, base: Option<*const u8>) {
        if msg.subject.first() == Some(&b'$') {
            if self.callout_reply(acc, msg) {
                return;
            }
            self.system_request(slot, cid, acc, msg);
        }
        let mut delivered = self.route_in_account(acc, slot, cid, echo, msg, base, true);
        if self.has_cross_account_routes(acc) {
            delivered |= self.route_across_accounts(acc, slot, cid, msg);
        }
        if !delivered && no_responders {
            if let Some(reply) = msg.reply {
                self.send_no_responders(slot, cid, acc, reply);
            }
        }
    }

    /// Delivers `msg` to the matching subscriptions of account `acc`. `base` is the
    /// start of the read buffer the message's slices point into (zero-copy hand-over to
    /// other workers), or `None` when they point into a scratch buffer (then other
    /// workers get a copy). Returns whether anyone got it.
    // Hot path: plain arguments rather than a struct built per message.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn route_in_account(
        &mut self,
        acc: usize,
        slot: u32,
        cid: u64,
        echo: bool,
        msg: &Message<'_>,
        base: Option<*const u8>,
        to_routes: bool,
    ) -> bool {
        // Borrow the cached result instead of cloning its Arc: the caches are moved
        // out of `self` for the duration (three words), so delivery can take `&mut self`.
        let mut caches = std::mem::take(&mut self.caches);
        let result = caches[acc].lookup_ref(&self.accounts[acc].sublist, msg.subject);
        let mut delivered = false;
        // Route interest matched (plain, and queue groups picked on a route): sent
        // after the loop as one RMSG per route. On the stack unless > 8.
        let mut to_peers: SmallVec<[&Arc<Subscription>; 8]> = SmallVec::new();
        for sub in result.psubs.iter() {
            if sub.remote {
                // (`filters_out`: cluster export deny entries inside a wildcard interest.)
                if to_routes && !sub.is_closed() && !sub.filters_out(msg.subject) {
                    to_peers.push(sub);
                    delivered = true;
                }
                continue;
            }
            if (!echo && sub.owner.cid == cid) || sub.filters_out(msg.subject) {
                continue;
            }
            if let Some(last) = claim(&self.accounts[acc].sublist, sub) {
                self.deliver(sub, last, msg, base, cid);
                delivered = true;
            }
        }
        for (g, group) in result.qsubs.iter().enumerate() {
            let n = group.len();
            if n == 0 {
                continue;
            }
            let rand = self.conn_mut(slot).map_or(0, |c| c.next_rand());
            // A route's member counts as many times as its weight (weight sums cached
            // with the match result).
            let start = result.pick(g, rand);
            // A leaf member only when no local or route member takes it (nats-server
            // prefers local members over leaf ones).
            let mut leaf_fallback = None;
            let mut done = false;
            for i in 0..n {
                let sub = &group[(start + i) % n];
                if sub.remote {
                    if sub.leaf {
                        if leaf_fallback.is_none() && to_routes && !sub.is_closed() && sub.owner.cid != cid {
                            leaf_fallback = Some(sub);
                        }
                        continue;
                    }
                    if to_routes && !sub.is_closed() && !sub.filters_out(msg.subject) {
                        to_peers.push(sub);
                        delivered = true;
                        done = true;
                        break;
                    }
                    continue;
                }
                // A member whose permissions filter this subject passes it on to the next.
                if (!echo && sub.owner.cid == cid) || sub.filters_out(msg.subject) {
                    continue;
                }
                if let Some(last) = claim(&self.accounts[acc].sublist, sub) {
                    self.deliver(sub, last, msg, base, cid);
                    delivered = true;
                    done = true;
                    break;
                }
            }
            if let (false, Some(sub)) = (done, leaf_fallback) {
                to_peers.push(sub);
                delivered = true;
            }
        }
        if !to_peers.is_empty() {
            self.send_to_routes(&mut to_peers, msg, base, cid);
        }
        drop(to_peers);
        self.caches = caches;
        delivered
    }

    /// One RMSG per route for the route subscriptions in `hits` (plain matches and
    /// the queue groups picked there), so a peer's plain subscribers get one copy.
    pub(super) fn send_to_routes(&mut self, hits: &mut [&Arc<Subscription>], msg: &Message<'_>, base: Option<*const u8>, cid: u64) {
        hits.sort_unstable_by_key(|s| s.owner.cid);
        let mut i = 0;
        while i < hits.len() {
            let owner = hits[i].owner;
            let mut j = i + 1;
            while j < hits.len() && hits[j].owner.cid == owner.cid {
                j += 1;
            }
            let run = &hits[i..j];
            if owner.worker == self.id {
                let account = super::cluster_conn::route_sub_account(run[0]);
                let queues = run.iter().filter_map(|s| s.queue.as_deref());
                self.write_rmsg(owner, account, queues, msg);
            } else {
                self.deliver(run[0], false, msg, base, cid);
                for s in &run[1..] {
                    self.outbox[owner.worker as usize].push_same(s);
                }
            }
            i = j;
        }
    }

    /// Hands one message from publisher `cid` to one subscription: directly when its
    /// connection is ours, else into the batch for its worker (then it is not the
    /// publisher's own: a connection lives on one worker).
    pub(super) fn deliver(&mut self, sub: &Arc<Subscription>, last: bool, msg: &Message<'_>, base: Option<*const u8>, cid: u64) {
        let dest = sub.owner.worker;
        if dest == self.id {
            let from_self = sub.owner.cid == cid;
            self.write_delivery_from(sub, last, msg.subject, msg.reply, msg.headers, msg.payload, from_self);
            return;
        }
        let batch = &mut self.outbox[dest as usize];
        match base {
            Some(base) => {
                let chunk = batch.chunks.len() as u32;
                batch.items.push(remote_item(sub, chunk, base, msg, last));
                if !self.touched.contains(&dest) {
                    self.touched.push(dest);
                }
            }
            None => batch.push_copy(sub, msg, last),
        }
    }

    /// Appends MSG/HMSG for `sub` to its (local) connection's outbound buffer, for a
    /// message from another worker's connection.
    pub(super) fn write_delivery(
        &mut self,
        sub: &Arc<Subscription>,
        last: bool,
        subject: &[u8],
        reply: Option<&[u8]>,
        headers: Option<&[u8]>,
        payload: &[u8],
    ) {
        // Filtered when it was routed; checked again for messages already on their way
        // when a reload changed the filter.
        if sub.filters_out(subject) {
            return;
        }
        self.write_delivery_from(sub, last, subject, reply, headers, payload, false);
    }

    /// Appends MSG/HMSG for `sub` to its (local) connection's outbound buffer.
    /// Headers are stripped for connections that did not ask for them. `from_self`: the
    /// subscriber published it (its reply grants no response permission).
    #[allow(clippy::too_many_arguments)]
    fn write_delivery_from(
        &mut self,
        sub: &Arc<Subscription>,
        last: bool,
        subject: &[u8],
        reply: Option<&[u8]>,
        headers: Option<&[u8]>,
        payload: &[u8],
        from_self: bool,
    ) {
        let cap = self.out_cap();
        let slot = sub.owner.slot;
        self.note_delivery(slot, sub.owner.cid, reply, from_self);
        let Some(c) = self.conn_mut(slot) else { return };
        if c.cid != sub.owner.cid || c.closing.is_some() {
            return;
        }
        let headers = if c.flags.headers { headers } else { None };
        let approx = subject.len() + sub.sid.len() + reply.map_or(0, <[u8]>::len)
            + headers.map_or(0, <[u8]>::len) + payload.len() + 40;
        if c.out.pending() + approx > cap {
            // Slow consumer: drop it rather than slow the publisher or anyone else.
            // (Over `max_pending` but under the cap is judged after the write: output.rs.)
            self.close(slot, CloseReason::SlowConsumerPending);
            return;
        }
        proto::write_msg(&mut c.out.buf, subject, &sub.sid, reply, headers, payload);
        let size = (payload.len() + headers.map_or(0, <[u8]>::len)) as u64;
        c.stats.out_msgs += 1;
        c.stats.out_bytes += size;
        c.active = true;
        let account = c.account;
        let mut gone = None;
        if last {
            gone = c.subs.remove(&sub.sid);
        }
        self.cycle.out_msgs += 1;
        self.cycle.out_bytes += size;
        self.mark_dirty(slot);
        if self.tracing {
            let reply = reply.map(|r| format!(" {}", lossy(r))).unwrap_or_default();
            let (op, sizes) = match headers {
                Some(h) => ("HMSG", format!("{} {}", h.len(), size)),
                None => ("MSG", size.to_string()),
            };
            self.trace_out(slot, format_args!("{op} {} {}{reply} {sizes}", lossy(subject), lossy(&sub.sid)));
        }
        if let Some(g) = gone {
            // Auto-unsubscribe limit reached: the routes hear of it (RS-).
            self.announce(account, std::iter::once(&*g), false);
        }
    }

    /// A request nobody received: tell the requester with a 503 status on its own
    /// plain subscription matching the reply subject, if it has one.
    fn send_no_responders(&mut self, slot: u32, cid: u64, acc: usize, reply: &[u8]) {
        let result = self.accounts[acc].sublist.match_subject(reply);
        let Some(sub) = result.psubs.iter().find(|s| s.owner.cid == cid && !s.is_closed()) else {
            return;
        };
        let sid = sub.sid.clone();
        let size = reply.len() + sid.len() + NO_RESPONDERS_HDR.len() + 40;
        if !self.reserve_out(slot, size) {
            return;
        }
        if let Some(c) = self.conn_mut(slot) {
            proto::write_msg(&mut c.out.buf, reply, &sid, None, Some(NO_RESPONDERS_HDR), b"");
        }
        self.mark_dirty(slot);
    }
}

/// Counts a delivery against the subscription's auto-unsubscribe limit.
/// `None`: skip it (closed, or past its limit). `Some(true)`: this is its last
/// message; it has been taken out of the trie.
#[inline]
pub(super) fn claim(sublist: &subject::Sublist, sub: &Arc<Subscription>) -> Option<bool> {
    if sub.is_closed() {
        return None;
    }
    let max = sub.max.load(Ordering::Acquire);
    if max == 0 {
        // No limit: the count only feeds a later `UNSUB <sid> <max>` and monitoring,
        // so a plain load+store (no locked instruction) is enough; concurrent
        // publishers on two workers may lose an increment between them.
        let n = sub.delivered.load(Ordering::Relaxed);
        sub.delivered.store(n + 1, Ordering::Relaxed);
        return Some(false);
    }
    let n = sub.delivered.fetch_add(1, Ordering::AcqRel) + 1;
    if n > max {
        return None;
    }
    if n == max {
        sub.closed.store(true, Ordering::Release);
        sublist.remove(sub);
        return Some(true);
    }
    Some(false)
}

fn lossy(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(b)
}
