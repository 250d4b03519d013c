//! Authentication and permissions as the connection state machine applies them:
//! CONNECT binds an identity (account + compiled permissions), PUB and SUB are checked
//! against it, deliveries feed response permissions, and a reload re-authenticates
//! every live connection.
use super::auth_pool::Step;
use super::conn::{CloseReason, ConnPerms};
use super::core::Core;
use crate::auth::{Admission, AuthError, Identity, PasswordCheck};
use crate::proto::ConnectOptions;
use std::sync::Arc;

/// A subscription's delivery filter as the trie stores it.
pub(super) type DenyFilter = Arc<dyn crate::subject::DeliveryFilter>;

/// Outcome of authenticating a CONNECT on the event loop.
pub(super) enum Auth {
    /// The identity is bound to the connection.
    Bound,
    /// A bcrypt check must run first (on the auth threads); nothing is bound yet.
    Deferred(PasswordCheck),
    /// Refused: `Authorization Violation` is queued and the connection is closing.
    Refused,
    /// The auth callout service decides (see `callout`); nothing is bound yet.
    Callout,
}

/// Outcome of checking a publish against the connection's permissions.
pub enum PubCheck {
    Allowed,
    Denied,
}

impl Core {
    /// Authenticates a CONNECT: binds the account and permissions, or refuses with
    /// `Authorization Violation` and closes, or (bcrypt) asks for a check off the loop.
    pub(super) fn authenticate(&mut self, slot: u32, opts: &ConnectOptions) -> Auth {
        let Some(c) = self.conn(slot) else { return Auth::Refused };
        if self.needs_callout(opts) {
            return Auth::Callout;
        }
        let nonce = c.nonce.as_deref().map(str::as_bytes);
        match self.auth.begin(opts, nonce, Some(c.addr.ip()), c.cert.as_deref()) {
            Admission::Decided(r) => self.conclude(slot, opts, r),
            Admission::NeedsHash(check) => Auth::Deferred(check),
        }
    }

    /// Applies a decided authentication of `opts` (now, or when the verdict arrives).
    pub(super) fn conclude(&mut self, slot: u32, opts: &ConnectOptions, r: Result<Identity, AuthError>) -> Auth {
        match r {
            Ok(id) => {
                if self.bind_identity(slot, opts, id) {
                    Auth::Bound
                } else {
                    Auth::Refused
                }
            }
            Err(e) => {
                if let Some(c) = self.conn(slot) {
                    crate::debug!("{} - cid:{} - authentication failed: {e}", c.addr, c.cid);
                }
                self.send_err(slot, "Authorization Violation");
                self.close(slot, CloseReason::AuthViolation);
                Auth::Refused
            }
        }
    }

    /// Binds an authenticated identity; false if the connection is refused after all.
    fn bind_identity(&mut self, slot: u32, opts: &ConnectOptions, id: Identity) -> bool {
        let now = self.now;
        let account = self.shared.accounts.get_or_create(&id.account);
        self.ensure_account(account.id);
        let required = self.auth.required();
        if !self.admit_to_account(slot, &account, id.jwt.as_deref()) {
            return false;
        }
        let Some(c) = self.conn_mut(slot) else { return false };
        if c.account != account.id && !c.subs.is_empty() {
            // A second CONNECT moving a connection with subscriptions elsewhere.
            self.close(slot, CloseReason::AuthViolation);
            return false;
        }
        c.account = account.id;
        c.user = id.user.map(Into::into);
        c.perms = id.permissions.map(ConnPerms::new);
        c.auth_deadline = None;
        c.auth_expires = id.jwt.as_ref().and_then(|j| super::jwt_conn::deadline(j, now));
        c.jwt = id.jwt;
        if required {
            c.creds = Some(Box::new(credentials_of(opts)));
        }
        self.refresh_stamp(slot);
        true
    }

    /// May this connection publish to `subject`? (Lists first, through the per-connection
    /// decision cache; then `allow_responses`.)
    pub(super) fn check_publish(&mut self, slot: u32, subject: &[u8]) -> PubCheck {
        let now = self.now;
        let Some(p) = self.conn_mut(slot).and_then(|c| c.perms.as_deref_mut()) else {
            return PubCheck::Allowed;
        };
        if p.pub_decisions.check(&p.perms, subject) {
            return PubCheck::Allowed;
        }
        if let Some(rp) = &p.perms.allow_responses {
            if p.responses.try_respond(subject, now, rp) {
                return PubCheck::Allowed;
            }
        }
        PubCheck::Denied
    }

    /// May this connection subscribe? `Some(filter)` when it may (with the subscription's
    /// delivery filter, if a deny entry overlaps it); sends the nats-server error when not.
    pub(super) fn check_subscribe(&mut self, slot: u32, subject: &[u8], queue: Option<&[u8]>) -> Option<Option<DenyFilter>> {
        let Some(p) = self.conn_mut(slot).and_then(|c| c.perms.as_deref_mut()) else { return Some(None) };
        if p.perms.can_subscribe(subject, queue) {
            return Some(p.perms.delivery_filter(subject, queue).map(|f| f as DenyFilter));
        }
        let s = String::from_utf8_lossy(subject);
        let text = match queue {
            Some(q) => format!(
                "Permissions Violation for Subscription to \"{s}\" using queue \"{}\"",
                String::from_utf8_lossy(q)
            ),
            None => format!("Permissions Violation for Subscription to \"{s}\""),
        };
        self.send_err(slot, &text);
        None
    }

    /// Re-authenticates every authenticated connection after a reload, as nats-server:
    /// failed credentials → `Authorization Violation` and close; a different account →
    /// closed without error; subscriptions no longer allowed are removed, each with
    /// `Permissions Violation for Subscription to "<subject>" (sid "<sid>")`.
    /// A connection waiting for a bcrypt check is skipped: its verdict, arriving under
    /// newer options, is decided again with them. Unchanged bcrypt credentials are known
    /// to the authenticator's cache and cost no hashing; changed ones park the
    /// connection until the auth threads have checked them.
    pub(super) fn reauthorize_all(&mut self) {
        for slot in 0..self.conns.len() as u32 {
            self.reauthorize(slot);
        }
    }

    pub(super) fn reauthorize(&mut self, slot: u32) {
        let Some(c) = self.conn(slot) else { return };
        if !c.connected || c.closing.is_some() || c.parked.is_some() || c.is_route() {
            return;
        }
        if c.jwt.is_some() && self.opts.auth.callout.is_some() {
            return; // admitted by the callout service, which a reload does not ask again
        }
        let creds = c.creds.as_deref().cloned().unwrap_or_default();
        let nonce = c.nonce.as_deref().map(str::as_bytes);
        match self.auth.begin(&creds, nonce, Some(c.addr.ip()), c.cert.as_deref()) {
            Admission::Decided(r) => self.reauthorized(slot, r),
            Admission::NeedsHash(check) => self.park(slot, Step::Reauth, check),
        }
    }

    /// Applies the outcome of re-authenticating a live connection.
    pub(super) fn reauthorized(&mut self, slot: u32, r: Result<Identity, AuthError>) {
        let Some(c) = self.conn(slot) else { return };
        let (old_account, addr, cid) = (c.account, c.addr, c.cid);
        match r {
            Err(e) => {
                crate::debug!("{addr} - cid:{cid} - re-authentication after reload failed: {e}");
                if e == AuthError::Jwt(crate::jwt::JwtError::Revoked) {
                    self.send_err(slot, "User Authentication Revoked");
                    self.close(slot, CloseReason::AuthRevoked);
                } else {
                    self.send_err(slot, "Authorization Violation");
                    self.close(slot, CloseReason::AuthViolation);
                }
            }
            Ok(id) => {
                let account = self.shared.accounts.get_or_create(&id.account);
                if account.id != old_account {
                    self.close(slot, CloseReason::ClientClosed);
                    return;
                }
                let now = self.now;
                if let Some(c) = self.conn_mut(slot) {
                    c.perms = id.permissions.map(ConnPerms::new);
                    c.auth_expires = id.jwt.as_ref().and_then(|j| super::jwt_conn::deadline(j, now));
                    c.jwt = id.jwt;
                }
                if !self.enforce_account_conn_limit(slot) {
                    return;
                }
                self.refresh_stamp(slot);
                self.prune_subscriptions(slot);
            }
        }
    }

    /// Removes the subscriptions the connection's (new) permissions no longer allow.
    fn prune_subscriptions(&mut self, slot: u32) {
        let Some(c) = self.conn_mut(slot) else { return };
        let Some(p) = c.perms.as_deref_mut() else {
            // No permissions any more: nothing is filtered.
            for s in c.subs.iter() {
                s.set_filter(None);
            }
            return;
        };
        let mut gone = Vec::new();
        for s in c.subs.iter() {
            if p.perms.can_subscribe(&s.subject, s.queue.as_deref()) {
                s.set_filter(p.perms.delivery_filter(&s.subject, s.queue.as_deref()).map(|f| f as DenyFilter));
            } else {
                gone.push(s.sid.clone());
            }
        }
        let account = c.account;
        for sid in gone {
            let Some(sub) = self.conn_mut(slot).and_then(|c| c.subs.remove(&sid)) else { continue };
            sub.mark_unsubscribed();
            self.account(account).sublist.remove(&sub);
            self.announce(account, std::iter::once(&*sub), false);
            let text = format!(
                "Permissions Violation for Subscription to \"{}\" (sid \"{}\")",
                String::from_utf8_lossy(&sub.subject),
                String::from_utf8_lossy(&sub.sid)
            );
            self.send_err(slot, &text);
        }
    }

    /// Per-delivery permission work on the receiving side: recording replies for
    /// `allow_responses`. The connection's own message echoed back to it grants nothing
    /// (`from_self`; stricter than nats-server, where a user could grant itself one
    /// publish to any subject by requesting with that subject as the reply).
    #[inline]
    pub(super) fn note_delivery(&mut self, slot: u32, cid: u64, reply: Option<&[u8]>, from_self: bool) {
        let now = self.now;
        let Some(r) = reply.filter(|_| !from_self) else { return };
        let Some(c) = self.conn_mut(slot).filter(|c| c.cid == cid) else { return };
        let Some(p) = c.perms.as_deref_mut() else { return };
        if let Some(rp) = &p.perms.allow_responses {
            p.responses.on_delivered(r, now, rp);
        }
    }

    /// Binds `no_auth_user` to a client whose first op is not CONNECT (2.9.10).
    pub(super) fn bind_without_connect(&mut self, slot: u32) -> bool {
        if self.auth.config().no_auth_user.is_none() {
            self.send_err(slot, "Authorization Violation");
            self.close(slot, CloseReason::AuthViolation);
            return false;
        }
        match self.authenticate(slot, &ConnectOptions::default()) {
            Auth::Bound => {
                if let Some(c) = self.conn_mut(slot) {
                    c.connected = true;
                }
                true
            }
            Auth::Deferred(check) => {
                self.park(slot, Step::Implicit, check);
                false
            }
            Auth::Callout => {
                self.start_callout(slot, Step::Implicit);
                false
            }
            Auth::Refused => false,
        }
    }

    /// Drops connections that did not authenticate in time.
    pub(super) fn check_auth_deadline(&mut self, slot: u32) -> bool {
        let now = self.now;
        let due = self.conn(slot).and_then(|c| c.auth_deadline).is_some_and(|d| now >= d);
        if due {
            self.send_err(slot, "Authentication Timeout");
            self.close(slot, CloseReason::AuthTimeout);
        }
        due
    }
}

/// Only what authentication reads, so a reload can check the connection again.
fn credentials_of(o: &ConnectOptions) -> ConnectOptions {
    ConnectOptions {
        user: o.user.clone(),
        pass: o.pass.clone(),
        auth_token: o.auth_token.clone(),
        nkey: o.nkey.clone(),
        sig: o.sig.clone(),
        jwt: o.jwt.clone(),
        ..ConnectOptions::default()
    }
}
