//! Authentication and permissions as the connection state machine applies them:
//! CONNECT binds an identity (account + compiled permissions), PUB and SUB are checked
//! against it, deliveries feed response permissions, and a reload re-authenticates
//! every live connection.
use super::conn::{CloseReason, ConnPerms};
use super::core::Core;
use crate::proto::ConnectOptions;

/// Outcome of checking a publish against the connection's permissions.
pub enum PubCheck {
    Allowed,
    Denied,
}

impl Core {
    /// Authenticates a CONNECT. On success binds the account and permissions and
    /// returns true; on failure sends `Authorization Violation` and closes.
    pub(super) fn authenticate(&mut self, slot: u32, opts: &ConnectOptions) -> bool {
        let now = self.now;
        let Some(c) = self.conn(slot) else { return false };
        let nonce = c.nonce.as_deref().map(str::as_bytes);
        match self.auth.authenticate_client(opts, nonce, Some(c.addr.ip()), c.cert.as_deref()) {
            Ok(id) => {
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
                true
            }
            Err(e) => {
                crate::debug!("{} - cid:{} - authentication failed: {e}", c.addr, c.cid);
                self.send_err(slot, "Authorization Violation");
                self.close(slot, CloseReason::AuthViolation);
                false
            }
        }
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

    /// May this connection subscribe? Sends the nats-server error when not.
    pub(super) fn check_subscribe(&mut self, slot: u32, subject: &[u8], queue: Option<&[u8]>) -> bool {
        let Some(p) = self.conn_mut(slot).and_then(|c| c.perms.as_deref_mut()) else { return true };
        if p.perms.can_subscribe(subject, queue) {
            if p.perms.needs_delivery_filter(subject) {
                p.filter_deliveries = true;
            }
            return true;
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
        false
    }

    /// Re-authenticates every authenticated connection after a reload, as nats-server:
    /// failed credentials → `Authorization Violation` and close; a different account →
    /// closed without error; subscriptions no longer allowed are removed, each with
    /// `Permissions Violation for Subscription to "<subject>" (sid "<sid>")`.
    pub(super) fn reauthorize_all(&mut self) {
        for slot in 0..self.conns.len() as u32 {
            let Some(c) = self.conn(slot) else { continue };
            if !c.connected || c.closing.is_some() || c.is_route() {
                continue;
            }
            let creds = c.creds.as_deref().cloned().unwrap_or_default();
            let nonce = c.nonce.as_deref().map(str::as_bytes);
            let (old_account, addr, cid) = (c.account, c.addr, c.cid);
            match self.auth.authenticate_client(&creds, nonce, Some(addr.ip()), c.cert.as_deref()) {
                Err(e) => {
                    crate::debug!("{addr} - cid:{cid} - re-authentication after reload failed: {e}");
                    if e == crate::auth::AuthError::Jwt(crate::jwt::JwtError::Revoked) {
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
                        continue;
                    }
                    let now = self.now;
                    if let Some(c) = self.conn_mut(slot) {
                        c.perms = id.permissions.map(ConnPerms::new);
                        c.auth_expires = id.jwt.as_ref().and_then(|j| super::jwt_conn::deadline(j, now));
                        c.jwt = id.jwt;
                    }
                    if !self.enforce_account_conn_limit(slot) {
                        continue;
                    }
                    self.prune_subscriptions(slot);
                }
            }
        }
    }

    /// Removes the subscriptions the connection's (new) permissions no longer allow.
    fn prune_subscriptions(&mut self, slot: u32) {
        let Some(c) = self.conn_mut(slot) else { return };
        let Some(p) = c.perms.as_deref_mut() else { return };
        let mut gone = Vec::new();
        let mut filter = false;
        for s in c.subs.iter() {
            if p.perms.can_subscribe(&s.subject, s.queue.as_deref()) {
                filter |= p.perms.needs_delivery_filter(&s.subject);
            } else {
                gone.push(s.sid.clone());
            }
        }
        p.filter_deliveries = filter;
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

    /// Per-delivery permission work on the receiving side: the subscribe deny filter
    /// (returns false to drop the message) and recording replies for `allow_responses`.
    #[inline]
    pub(super) fn delivery_allowed(&mut self, slot: u32, cid: u64, subject: &[u8], reply: Option<&[u8]>) -> bool {
        let now = self.now;
        let Some(c) = self.conn_mut(slot).filter(|c| c.cid == cid) else { return true };
        let Some(p) = c.perms.as_deref_mut() else { return true };
        if p.filter_deliveries && p.perms.deny_delivery(subject) {
            return false;
        }
        if let (Some(rp), Some(r)) = (&p.perms.allow_responses, reply) {
            p.responses.on_delivered(r, now, rp);
        }
        true
    }

    /// Binds `no_auth_user` to a client whose first op is not CONNECT (2.9.10).
    pub(super) fn bind_without_connect(&mut self, slot: u32) -> bool {
        if self.auth.config().no_auth_user.is_none() {
            self.send_err(slot, "Authorization Violation");
            self.close(slot, CloseReason::AuthViolation);
            return false;
        }
        let ok = self.authenticate(slot, &ConnectOptions::default());
        if ok {
            if let Some(c) = self.conn_mut(slot) {
                c.connected = true;
            }
        }
        ok
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
