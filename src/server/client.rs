//! Client operations other than message routing: CONNECT, SUB, UNSUB, PING/PONG, INFO, -ERR.
use super::conn::{CloseReason, ClientFlags};
use super::core::Core;
use crate::proto::{self, Frame};
use crate::subject::{ConnRef, Subscription};
use std::sync::atomic::Ordering;
use std::sync::Arc;

impl Core {
    pub(super) fn handle_frame(&mut self, slot: u32, frame: Frame<'_>, base: *const u8) {
        if self.tracing {
            self.trace_in(slot, &frame);
        }
        // With auth, the first op must be CONNECT (or `no_auth_user` binds the client).
        if !matches!(frame, Frame::Connect(_))
            && self.auth.required()
            && self.conn(slot).is_some_and(|c| !c.connected)
            && !self.bind_without_connect(slot)
        {
            return;
        }
        match frame {
            Frame::Pub(msg) => self.handle_pub(slot, &msg, base),
            Frame::Sub { subject, queue, sid } => self.handle_sub(slot, subject, queue, sid),
            Frame::Unsub { sid, max } => self.handle_unsub(slot, sid, max),
            Frame::Ping => {
                if let Some(c) = self.conn_mut(slot) {
                    c.active = true;
                }
                self.send_raw(slot, proto::PONG);
                // nats-server writes the INFO a client missed right after its first PONG.
                if self.conn(slot).is_some_and(|c| c.connected) {
                    self.first_pong(slot);
                }
            }
            Frame::Pong => {
                if let Some(c) = self.conn_mut(slot) {
                    c.pings_out = 0;
                }
            }
            Frame::Connect(json) => self.handle_connect(slot, json),
            // A client INFO is parsed (bad JSON closes) and otherwise ignored.
            Frame::Info(json) => {
                if proto::check_info(json).is_err() {
                    self.close(slot, CloseReason::ProtocolViolation);
                }
            }
            Frame::Ok => {}
            // A client -ERR closes the connection (nats-server: "Parse Error").
            Frame::Err(_) => self.close(slot, CloseReason::ParseError),
        }
    }

    fn handle_connect(&mut self, slot: u32, json: &[u8]) {
        let Some(c) = self.conn(slot) else { return };
        // A second CONNECT is applied over the first: absent keys keep their values.
        let mut opts = proto::ConnectOptions {
            verbose: c.flags.verbose,
            pedantic: c.flags.pedantic,
            echo: c.flags.echo,
            headers: c.flags.headers,
            no_responders: c.flags.no_responders,
            protocol: c.flags.protocol,
            name: c.meta.name.clone(),
            lang: c.meta.lang.clone(),
            version: c.meta.version.clone(),
            ..proto::ConnectOptions::default()
        };
        if opts.apply_json(json).is_err() {
            self.close(slot, CloseReason::ProtocolViolation);
            return;
        }
        if opts.account_requested() {
            self.send_err(slot, "Authorization Violation");
            self.close(slot, CloseReason::AuthViolation);
            return;
        }
        if opts.protocol < 0 || opts.protocol > 1 {
            self.send_err(slot, "invalid client protocol");
            self.close(slot, CloseReason::BadClientProtocol);
            return;
        }
        if opts.no_responders && !opts.headers {
            self.send_err(slot, "no responders requires headers support");
            self.close(slot, CloseReason::NoRespondersRequiresHeaders);
            return;
        }
        match self.authenticate(slot, &opts) {
            super::authz::Auth::Bound => self.finish_connect(slot, opts),
            super::authz::Auth::Deferred(check) => {
                self.park(slot, super::auth_pool::Step::Connect(Box::new(opts)), check);
            }
            super::authz::Auth::Callout => self.start_callout(slot, super::auth_pool::Step::Connect(Box::new(opts))),
            super::authz::Auth::Refused => {}
        }
    }

    /// The rest of an authenticated CONNECT: flags, client metadata, first PING, `+OK`.
    pub(super) fn finish_connect(&mut self, slot: u32, opts: proto::ConnectOptions) {
        let self_now = self.now;
        let Some(c) = self.conn_mut(slot) else { return };
        let rand = c.next_rand();
        c.flags = ClientFlags {
            verbose: opts.verbose,
            pedantic: opts.pedantic,
            echo: opts.echo,
            headers: opts.headers,
            no_responders: opts.no_responders,
            protocol: opts.protocol,
        };
        if c.rtt_ns == 0 {
            c.rtt_ns = self_now.saturating_duration_since(c.start).as_nanos().max(1) as u64;
        }
        c.meta.name = opts.name;
        c.meta.lang = opts.lang;
        c.meta.version = opts.version;
        let first = !c.connected;
        c.connected = true;
        let verbose = c.flags.verbose;
        if first {
            let delay = self.first_ping_delay(rand);
            let now = self.now;
            if let Some(c) = self.conn_mut(slot) {
                c.next_ping = now + delay;
            }
        }
        if verbose {
            self.send_raw(slot, proto::OK);
        }
        self.refresh_stamp(slot);
    }

    fn handle_sub(&mut self, slot: u32, subject: &[u8], queue: Option<&[u8]>, sid: &[u8]) {
        let max_subs = self.opts.max_subscriptions as usize;
        let worker = self.id;
        let Some(filter) = self.check_subscribe(slot, subject, queue) else { return };
        let Some(c) = self.conn_mut(slot) else { return };
        c.active = true;
        let verbose = c.flags.verbose;
        let jwt_full = c.jwt.as_ref().and_then(|j| j.max_subs).is_some_and(|m| c.subs.len() >= m as usize);
        if jwt_full || (max_subs > 0 && c.subs.len() >= max_subs) {
            self.send_err(slot, "maximum subscriptions exceeded");
            return;
        }
        // A duplicate sid is ignored; the first subscription stays.
        if c.subs.contains(sid) {
            if verbose {
                self.send_raw(slot, proto::OK);
            }
            return;
        }
        let owner = ConnRef { worker, slot, cid: c.cid };
        let sub = Arc::new(Subscription::new(subject, queue, sid, owner));
        sub.set_filter(filter);
        let account = c.account;
        if self.account(account).sublist.insert(sub.clone()).is_err() {
            self.send_err(slot, "Invalid Subject");
            return;
        }
        self.announce(account, std::iter::once(&*sub), true);
        if let Some(c) = self.conn_mut(slot) {
            c.subs.insert(sub);
        }
        if verbose {
            self.send_raw(slot, proto::OK);
        }
    }

    fn handle_unsub(&mut self, slot: u32, sid: &[u8], max: Option<&[u8]>) {
        let Some(c) = self.conn_mut(slot) else { return };
        c.active = true;
        let verbose = c.flags.verbose;
        let account = c.account;
        let mut removed = None;
        if let Some(sub) = c.subs.get(sid) {
            let delivered = sub.delivered.load(Ordering::Acquire);
            match max.and_then(parse_u64) {
                Some(m) if m > delivered => sub.max.store(m, Ordering::Release),
                _ => {
                    removed = c.subs.remove(sid);
                }
            }
        }
        if let Some(sub) = removed {
            sub.mark_unsubscribed();
            self.account(account).sublist.remove(&sub);
            self.announce(account, std::iter::once(&*sub), false);
        }
        if verbose {
            self.send_raw(slot, proto::OK);
        }
    }
}

/// A decimal count as in UNSUB's max (anything else is "not a number": unsubscribe now).
fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(b - b'0');
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::parse_u64;

    #[test]
    fn unsub_max_numbers() {
        assert_eq!(parse_u64(b"10"), Some(10));
        assert_eq!(parse_u64(b"0"), Some(0));
        assert_eq!(parse_u64(b"x1"), None);
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"99999999999999999999"), None);
    }
}
