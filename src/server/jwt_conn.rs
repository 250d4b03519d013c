//! Connections admitted by a JWT: their credentials expire (the user JWT's `exp`, the
//! end of the connect-time window, or the account JWT's `exp`), after which they are
//! closed with nats-server's `User Authentication Expired` (or `Account Authentication
//! Expired`); the account `conn` limit; `$SYS` account claim updates and lookups;
//! imports whose activation token expires.
use super::conn::CloseReason;
use super::core::Core;
use crate::jwt::resolver;
use crate::proto::Message;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// When a connection admitted now (`now`, the core's clock) must be closed, from the
/// JWT user's expiry in Unix seconds (whole seconds, as nats-server's timer).
pub(super) fn deadline(user: &crate::jwt::JwtUser, now: Instant) -> Option<Instant> {
    let exp = match (user.expires, user.account_expires) {
        (Some(u), Some(a)) => u.min(a),
        (u, a) => u.or(a)?,
    };
    let left = exp.saturating_sub(crate::jwt::now_unix()).max(0);
    Some(now + Duration::from_secs(u64::try_from(left).unwrap_or(0)))
}

/// Whether an expiry in Unix seconds has passed (whole seconds, as the timer).
fn j_expired(exp: i64) -> bool {
    crate::jwt::now_unix() >= exp
}

impl Core {
    /// Closes a connection whose JWT credentials (the user's or its account's) have
    /// expired; true when it did.
    pub(super) fn check_auth_expiry(&mut self, slot: u32) -> bool {
        let now = self.now;
        let due = self
            .conn(slot)
            .filter(|c| c.closing.is_none())
            .and_then(|c| c.auth_expires)
            .is_some_and(|d| now >= d);
        if due {
            let account_expired = self
                .conn(slot)
                .and_then(|c| c.jwt.as_ref())
                .and_then(|j| j.account_expires)
                .is_some_and(j_expired);
            let text = if account_expired { "Account Authentication Expired" } else { "User Authentication Expired" };
            self.send_err(slot, text);
            self.close(slot, CloseReason::AuthExpired);
        }
        due
    }
}

impl Core {
    /// Counts a JWT-admitted connection against its account's `conn` limit; over the
    /// limit it gets `maximum account active connections exceeded` and is closed.
    pub(super) fn admit_to_account(
        &mut self,
        slot: u32,
        account: &super::account::Account,
        user: Option<&crate::jwt::JwtUser>,
    ) -> bool {
        let Some(user) = user else { return true };
        let Some(c) = self.conn(slot) else { return false };
        if c.jwt.is_some() {
            // A second CONNECT: already counted in the account it is bound to. Moving a
            // connection with subscriptions is refused by the caller (still counted
            // where it is); one without moves its count.
            if c.account == account.id || !c.subs.is_empty() {
                return true;
            }
            let old = c.account;
            self.account(old).jwt_conns.fetch_sub(1, Ordering::AcqRel);
            if let Some(c) = self.conn_mut(slot) {
                c.jwt = None;
            }
        }
        let n = account.jwt_conns.fetch_add(1, Ordering::AcqRel) + 1;
        if user.max_account_conns.is_some_and(|max| n > max) {
            account.jwt_conns.fetch_sub(1, Ordering::AcqRel);
            self.send_err(slot, "maximum account active connections exceeded");
            self.close(slot, CloseReason::MaxAccountConnections);
            return false;
        }
        true
    }
}

impl Core {
    /// After an account update lowered its `conn` limit: connections over it are closed
    /// with `maximum account active connections exceeded` (each decides atomically, so
    /// exactly the excess goes). Returns false when this one was closed.
    pub(super) fn enforce_account_conn_limit(&mut self, slot: u32) -> bool {
        let Some(c) = self.conn(slot) else { return false };
        let Some(max) = c.jwt.as_ref().and_then(|j| j.max_account_conns) else { return true };
        let account = self.account(c.account);
        let over = account
            .jwt_conns
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n > max).then(|| n - 1))
            .is_ok();
        if over {
            if let Some(c) = self.conn_mut(slot) {
                c.jwt = None; // no longer counted
            }
            self.send_err(slot, "maximum account active connections exceeded");
            self.close(slot, CloseReason::MaxAccountConnections);
        }
        !over
    }
}

/// Serialises account updates (each one replaces the live options).
static UPDATES: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Core {
    /// `$SYS.REQ.ACCOUNT.<key>.CLAIMS.UPDATE|LOOKUP` (and the older
    /// `$SYS.ACCOUNT.<key>.CLAIMS.UPDATE`, and `$SYS.REQ.CLAIMS.UPDATE`) published in
    /// the system account in operator mode. The message is still routed normally.
    #[cold]
    pub(super) fn system_request(&mut self, slot: u32, cid: u64, acc: usize, msg: &Message<'_>) {
        if !msg.subject.starts_with(b"$SYS.") || !self.opts.auth.trust.enabled() {
            return;
        }
        let Some(sys) = crate::jwt::config::system_account(&self.opts.auth) else { return };
        if self.accounts.get(acc).is_none_or(|a| *a.name != *sys) {
            return;
        }
        let Ok(subject) = std::str::from_utf8(msg.subject) else { return };
        let toks: Vec<&str> = subject.split('.').collect();
        let (account, op) = match toks.as_slice() {
            ["$SYS", "REQ", "ACCOUNT", id, "CLAIMS", op] => (Some(*id), *op),
            ["$SYS", "ACCOUNT", id, "CLAIMS", "UPDATE"] => (Some(*id), "UPDATE"),
            ["$SYS", "REQ", "CLAIMS", op] => (None, *op),
            _ => return,
        };
        let response = match op {
            "UPDATE" => self.claims_update(account, msg.payload),
            "LOOKUP" => {
                let live = self.shared.live_options();
                match account.and_then(|a| resolver::lookup(&live, a)) {
                    Some(jwt) => jwt.to_string(),
                    None => return,
                }
            }
            _ => return,
        };
        let Some(reply) = msg.reply else { return };
        let m = Message { subject: reply, reply: None, headers: None, payload: response.as_bytes(), is_hpub: false };
        self.route_in_account(acc, slot, cid, true, &m, None, false);
    }

    /// Once the first activation token of a JWT import has expired, installs the routes
    /// again (which leaves that import out), as nats-server's activation timer does.
    pub(super) fn expire_activations(&mut self) {
        let due = |exp: i64| exp > 0 && crate::jwt::now_unix() >= exp;
        if !due(self.shared.accounts.import_expiry.load(Ordering::Acquire)) {
            return;
        }
        let _serial = UPDATES.lock().unwrap_or_else(|e| e.into_inner());
        if due(self.shared.accounts.import_expiry.load(Ordering::Acquire)) {
            let live = self.shared.live_options();
            super::imports::install(&self.shared.accounts, &live.auth);
        }
    }

    /// Verifies and applies an account JWT update; returns nats-server's JSON answer.
    fn claims_update(&mut self, account: Option<&str>, payload: &[u8]) -> String {
        let jwt = String::from_utf8_lossy(payload);
        let _serial = UPDATES.lock().unwrap_or_else(|e| e.into_inner());
        let live = self.shared.live_options();
        let server = serde_json::json!({"name": self.shared.server_name, "id": self.shared.server_id, "ver": crate::VERSION});
        let ok = |key: &str, message: &str| {
            serde_json::json!({"server": server, "data": {"account": key, "code": 200, "message": message}}).to_string()
        };
        match resolver::apply_update(&live, account, &jwt) {
            Ok((key, resolver::Update::Applied(new))) => {
                crate::debug!("jwt updated - {key}");
                super::imports::install(&self.shared.accounts, &new.auth);
                // An account update leaves the TLS setup as it is.
                self.shared.set_live_options(*new, self.shared.tls());
                ok(&key, "jwt updated")
            }
            Ok((key, resolver::Update::Skipped)) => ok(&key, "jwt update skipped"),
            Err((key, e)) => {
                crate::warn!("jwt update resulted in error - {e}");
                let description = format!("jwt update resulted in error - {e}");
                serde_json::json!({"server": server, "error": {"account": key, "code": 500, "description": description}}).to_string()
            }
        }
    }
}
