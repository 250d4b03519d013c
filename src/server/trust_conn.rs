//! Message-level trust applied to connections (`crate::trust` has the logic):
//! the `Natrix-Sender` stamp built once per connection, reserved headers removed
//! from what clients publish, the `types` policy, and the stamp cut at imports.
//! A connection without a stamp publishing without headers never reaches here.
use super::core::Core;
use crate::proto::Message;
use crate::trust::{stamp, Stamp};
use std::sync::atomic::Ordering;

/// Refusals and removals counted for `/varz` and `/metrics`.
#[derive(Default, Debug)]
pub struct TrustStats {
    /// Publishes refused by a `types` policy.
    pub types_refused: std::sync::atomic::AtomicU64,
    /// Client messages from which reserved headers (`Natrix-*`, `Nats-Request-Info`) were removed.
    pub reserved_removed: std::sync::atomic::AtomicU64,
}

/// The `/varz` `message_trust` block (natrix only).
#[derive(serde::Serialize, Debug)]
pub struct TrustVarz {
    pub stamp: bool,
    pub types_refused: u64,
    pub reserved_headers_removed: u64,
}

impl TrustVarz {
    /// `None` (no block) while nothing is configured and nothing was counted.
    pub fn of(st: &TrustStats, o: &crate::config::Options) -> Option<TrustVarz> {
        let stamp = o.message_trust.as_ref().is_some_and(|t| t.stamp.is_some())
            || o.auth.accounts.iter().any(|a| a.message_trust.as_ref().is_some_and(|t| t.stamp.is_some()));
        let v = TrustVarz {
            stamp,
            types_refused: st.types_refused.load(Ordering::Relaxed),
            reserved_headers_removed: st.reserved_removed.load(Ordering::Relaxed),
        };
        (stamp || o.message_trust.is_some() || v.types_refused > 0 || v.reserved_headers_removed > 0).then_some(v)
    }
}

impl Core {
    /// (Re)builds the connection's stamp from the options in force: after CONNECT,
    /// after a reload and after a JWT update. `None` when its account is not stamped.
    pub(super) fn refresh_stamp(&mut self, slot: u32) {
        let Some(c) = self.conn(slot) else { return };
        let Some(acc) = self.accounts.get(c.account as usize) else { return };
        let acc_name = acc.name.clone();
        let own = self.opts.auth.accounts.iter().find(|a| *a.name == *acc_name).and_then(|a| a.message_trust.as_ref());
        let fields = own.or(self.opts.message_trust.as_ref()).and_then(|t| t.stamp);
        let built = fields.map(|f| {
            let cert = c.cert.as_deref();
            let sender = stamp::Sender {
                acc: &acc_name,
                user: c.user.as_deref(),
                name: c.meta.name.as_deref(),
                cert_subject: cert.map(|x| x.rdn.as_str()).filter(|s| !s.is_empty()),
                cert_fp: cert.map(|x| x.fingerprint.as_str()),
            };
            Box::new(Stamp::build(f, &sender))
        });
        if let Some(c) = self.conn_mut(slot) {
            c.stamp = built;
        }
    }

    /// The header block to route a client's message with, written into `out`, when it
    /// differs from the client's: stamped, or with reserved headers removed. `false`:
    /// route the client's bytes as they are.
    pub(super) fn trusted_headers(&mut self, slot: u32, headers: Option<&[u8]>, out: &mut Vec<u8>) -> bool {
        let Some(c) = self.conn(slot) else { return false };
        if let Some(s) = c.stamp.as_deref() {
            // One pass over the client's headers: the copy says whether it removed any.
            if stamp::write_stamped(out, &s.full, headers) {
                self.shared.stats.trust.reserved_removed.fetch_add(1, Ordering::Relaxed);
            }
            return true;
        }
        match headers {
            Some(h) if crate::trust::headers::has_reserved(h) => {
                self.shared.stats.trust.reserved_removed.fetch_add(1, Ordering::Relaxed);
                stamp::write_stripped(out, h);
                true
            }
            _ => false,
        }
    }

    /// Checks the connection's `types` policy, if it has one; on refusal sends the
    /// `-ERR`, logs it with the identity, counts it and returns false.
    pub(super) fn check_types(&mut self, slot: u32, subject: &[u8], headers: Option<&[u8]>) -> bool {
        let Some(c) = self.conn(slot) else { return true };
        let Some(p) = c.perms.as_deref().and_then(|p| p.perms.types.as_ref()) else { return true };
        let Err(refusal) = p.check(subject, headers) else { return true };
        let text = p.err_text(subject, refusal);
        crate::warn!("{} - cid:{} - user {:?} account {:?}: {text}", c.addr, c.cid, c.user.as_deref().unwrap_or(""), self.accounts.get(c.account as usize).map(|a| &*a.name).unwrap_or(""));
        self.shared.stats.trust.types_refused.fetch_add(1, Ordering::Relaxed);
        self.send_err(slot, &text);
        false
    }

    /// The headers a message carries across an import without `share: true` (and back
    /// as a service response): the stamp cut to the publisher's account. Written into
    /// `out` when they differ from the message's.
    pub(super) fn import_headers(&self, slot: u32, msg: &Message<'_>, out: &mut Vec<u8>) -> bool {
        let Some(s) = self.conn(slot).and_then(|c| c.stamp.as_deref()) else { return false };
        let Some(h) = msg.headers else { return false };
        if s.full == s.shared_cut {
            return false;
        }
        stamp::replace_first_field(out, h, s.full.len(), &s.shared_cut);
        true
    }
}
