//! Connections admitted by a JWT: their credentials expire (the user JWT's `exp`, or the
//! end of the connect-time window), after which they are closed with nats-server's
//! `User Authentication Expired`.
use super::conn::CloseReason;
use super::core::Core;
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
