//! Connections admitted by a JWT: their credentials expire (the user JWT's `exp`, or the
//! end of the connect-time window), after which they are closed with nats-server's
//! `User Authentication Expired`.
use super::conn::CloseReason;
use super::core::Core;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// When a connection admitted now (`now`, the core's clock) must be closed, from the
/// JWT user's expiry in Unix seconds (whole seconds, as nats-server's timer).
pub(super) fn deadline(user: &crate::jwt::JwtUser, now: Instant) -> Option<Instant> {
    let exp = user.expires?;
    let left = exp.saturating_sub(crate::jwt::now_unix()).max(0);
    Some(now + Duration::from_secs(u64::try_from(left).unwrap_or(0)))
}

impl Core {
    /// Closes a connection whose JWT credentials have expired; true when it did.
    pub(super) fn check_auth_expiry(&mut self, slot: u32) -> bool {
        let now = self.now;
        let due = self
            .conn(slot)
            .filter(|c| c.closing.is_none())
            .and_then(|c| c.auth_expires)
            .is_some_and(|d| now >= d);
        if due {
            self.send_err(slot, "User Authentication Expired");
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
