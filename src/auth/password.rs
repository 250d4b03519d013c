//! Password checks. Plain passwords compare in constant time, at once. A bcrypt hash
//! costs tens to hundreds of milliseconds per check, so it is never run where the
//! caller cannot wait: `Authenticator::begin` hands back a `PasswordCheck` to be run
//! elsewhere (the server's auth threads), unless the `PasswordCache` already knows
//! that this password verifies against this very hash (a reconnect, or every live
//! connection being checked again on reload).
use super::authenticate::{AuthError, Identity};
use super::config::Secret;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Verified (hash, password) pairs remembered; the whole cache is dropped when full.
/// Only successful checks enter it, so its size follows the configured users, not
/// what clients send.
const MAX_ENTRIES: usize = 4096;

/// Results of successful bcrypt checks, shared by the authenticators a reload
/// replaces. A password is kept only as a keyed digest (HMAC-SHA256, random key per
/// process), never in clear; the digest also covers the hash, so a changed hash (a
/// changed password) is never found.
pub struct PasswordCache {
    key: [u8; 32],
    /// bcrypt hash → digests of passwords known to verify against it.
    verified: Mutex<HashMap<Box<str>, HashSet<[u8; 32]>>>,
}

impl Default for PasswordCache {
    fn default() -> Self {
        let mut key = [0u8; 32];
        if getrandom::fill(&mut key).is_err() {
            // No OS randomness: a fresh key pair's public key still differs per process.
            let kp = nkeys::KeyPair::new_user();
            for (k, b) in key.iter_mut().zip(kp.public_key().bytes()) {
                *k = b;
            }
        }
        PasswordCache { key, verified: Mutex::new(HashMap::new()) }
    }
}

impl PasswordCache {
    /// HMAC-SHA256 under the per-process key of `hash`, NUL, `password` (a bcrypt hash
    /// never holds a NUL, so hash and password cannot run into each other).
    fn digest(&self, hash: &str, password: &str) -> [u8; 32] {
        let (mut ipad, mut opad) = ([0x36u8; 64], [0x5cu8; 64]);
        for (i, k) in self.key.iter().enumerate() {
            ipad[i] ^= k;
            opad[i] ^= k;
        }
        let inner = Sha256::new()
            .chain_update(ipad)
            .chain_update(hash.as_bytes())
            .chain_update([0u8])
            .chain_update(password.as_bytes())
            .finalize();
        Sha256::new().chain_update(opad).chain_update(inner).finalize().into()
    }

    /// Whether `password` is known to verify against `hash`.
    pub fn knows(&self, hash: &str, password: &str) -> bool {
        let d = self.digest(hash, password);
        self.verified.lock().get(hash).is_some_and(|set| set.contains(&d))
    }

    fn remember(&self, hash: &str, password: &str) {
        let d = self.digest(hash, password);
        let mut map = self.verified.lock();
        if map.values().map(HashSet::len).sum::<usize>() >= MAX_ENTRIES {
            map.clear();
        }
        map.entry(hash.into()).or_default().insert(d);
    }

    /// Forgets the hashes no longer configured (a reload), so no digest outlives its user.
    pub fn retain_hashes(&self, configured: &HashSet<&str>) {
        self.verified.lock().retain(|h, _| configured.contains(&**h));
    }

    /// Number of remembered (hash, password) pairs.
    pub fn len(&self) -> usize {
        self.verified.lock().values().map(HashSet::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A bcrypt check still to be run: on success the client is `identity`, else `error`.
/// Holds the presented password; its `Debug` does not show it.
pub struct PasswordCheck {
    hash: Box<str>,
    given: String,
    identity: Identity,
    error: AuthError,
    cache: Arc<PasswordCache>,
}

impl std::fmt::Debug for PasswordCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordCheck").field("user", &self.identity.user).finish_non_exhaustive()
    }
}

impl PasswordCheck {
    /// Runs bcrypt (slow: call it off any event loop). A success is remembered.
    pub fn run(self) -> Result<Identity, AuthError> {
        if bcrypt::verify(&self.given, &self.hash).unwrap_or(false) {
            self.cache.remember(&self.hash, &self.given);
            Ok(self.identity)
        } else {
            Err(self.error)
        }
    }

    /// Who the client will be if the password verifies.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }
}

/// The outcome of `Authenticator::begin`: decided, or waiting for a bcrypt check.
#[derive(Debug)]
pub enum Admission {
    Decided(Result<Identity, AuthError>),
    NeedsHash(PasswordCheck),
}

impl Admission {
    /// Runs a pending bcrypt check on the calling thread (tests and tools; the server
    /// runs it on its auth threads).
    pub fn finish(self) -> Result<Identity, AuthError> {
        match self {
            Admission::Decided(r) => r,
            Admission::NeedsHash(check) => check.run(),
        }
    }
}

/// Checks `given` against `stored`: decided at once for plain passwords and for bcrypt
/// pairs the cache knows; otherwise a `PasswordCheck` to run elsewhere. A token is a
/// password without a user: pass the configured token, `auth_token`, an identity with
/// no user and `AuthError::BadToken`.
pub(super) fn check(
    cache: &Arc<PasswordCache>,
    stored: Option<&Secret>,
    given: Option<&str>,
    identity: Identity,
    error: AuthError,
) -> Admission {
    let given = given.unwrap_or("");
    let ok = match stored {
        None => given.is_empty(),
        Some(s) if is_bcrypt(&s.0) => {
            if cache.knows(&s.0, given) {
                true
            } else {
                return Admission::NeedsHash(PasswordCheck {
                    hash: s.0.as_str().into(),
                    given: given.to_string(),
                    identity,
                    error,
                    cache: cache.clone(),
                });
            }
        }
        Some(s) => secret_eq(s, given),
    };
    Admission::Decided(if ok { Ok(identity) } else { Err(error) })
}

/// `$2a$NN$…`-style values are bcrypt hashes (sending the hash itself does not work).
pub(super) fn is_bcrypt(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() > 7
        && b[0] == b'$'
        && b[1] == b'2'
        && matches!(b[2], b'a' | b'b' | b'x' | b'y')
        && b[3] == b'$'
        && b[4].is_ascii_digit()
        && b[5].is_ascii_digit()
        && b[6] == b'$'
}

/// Constant-time comparison (in the length of the longer value).
pub(super) fn secret_eq(stored: &Secret, given: &str) -> bool {
    let (a, b) = (stored.0.as_bytes(), given.as_bytes());
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> Identity {
        Identity { user: Some("u".into()), account: "$G".into(), permissions: None, jwt: None }
    }

    fn bad() -> AuthError {
        AuthError::BadPassword("u".into())
    }

    #[test]
    fn plain_passwords_are_decided_at_once() {
        let cache = Arc::new(PasswordCache::default());
        let s = Secret("pw".into());
        assert!(matches!(check(&cache, Some(&s), Some("pw"), id(), bad()), Admission::Decided(Ok(_))));
        assert!(matches!(check(&cache, Some(&s), Some("px"), id(), bad()), Admission::Decided(Err(_))));
        assert!(matches!(check(&cache, None, None, id(), bad()), Admission::Decided(Ok(_))));
        assert!(matches!(check(&cache, None, Some("x"), id(), bad()), Admission::Decided(Err(_))));
    }

    #[test]
    fn bcrypt_is_deferred_until_the_pair_is_known() {
        let cache = Arc::new(PasswordCache::default());
        let hash = Secret(bcrypt::hash("pw", 4).expect("hash"));
        // A wrong password never enters the cache: it is deferred every time.
        let Admission::NeedsHash(c) = check(&cache, Some(&hash), Some("nope"), id(), bad()) else { panic!("deferred") };
        assert_eq!(c.run().unwrap_err(), bad());
        assert!(cache.is_empty());
        assert!(matches!(check(&cache, Some(&hash), Some("nope"), id(), bad()), Admission::NeedsHash(_)));
        // The right one is hashed once, then known.
        let Admission::NeedsHash(c) = check(&cache, Some(&hash), Some("pw"), id(), bad()) else { panic!("deferred") };
        assert_eq!(c.run().expect("verifies").user.as_deref(), Some("u"));
        assert_eq!(cache.len(), 1);
        assert!(matches!(check(&cache, Some(&hash), Some("pw"), id(), bad()), Admission::Decided(Ok(_))));
        // Known for this hash only: the same password against a new hash is checked again.
        let other = Secret(bcrypt::hash("pw", 4).expect("hash"));
        assert!(matches!(check(&cache, Some(&other), Some("pw"), id(), bad()), Admission::NeedsHash(_)));
        // Sending the hash itself is no password.
        let Admission::NeedsHash(c) = check(&cache, Some(&hash), Some(&hash.0.clone()), id(), bad()) else {
            panic!("deferred")
        };
        assert!(c.run().is_err());
        // A reload that drops the hash drops what was known about it.
        cache.retain_hashes(&HashSet::from([other.0.as_str()]));
        assert!(cache.is_empty());
    }

    #[test]
    fn a_token_is_checked_as_a_password_without_a_user() {
        let cache = Arc::new(PasswordCache::default());
        let anon = || Identity { user: None, account: "$G".into(), permissions: None, jwt: None };
        let plain = Secret("s3cr3t".into());
        assert!(matches!(check(&cache, Some(&plain), Some("s3cr3t"), anon(), AuthError::BadToken), Admission::Decided(Ok(_))));
        let hashed = Secret(bcrypt::hash("s3cr3t", 4).expect("hash"));
        let Admission::NeedsHash(c) = check(&cache, Some(&hashed), Some("nope"), anon(), AuthError::BadToken) else {
            panic!("deferred")
        };
        assert_eq!(c.run().unwrap_err(), AuthError::BadToken);
        let Admission::NeedsHash(c) = check(&cache, Some(&hashed), Some("s3cr3t"), anon(), AuthError::BadToken) else {
            panic!("deferred")
        };
        assert_eq!(c.run().expect("verifies").user, None);
        assert!(matches!(check(&cache, Some(&hashed), Some("s3cr3t"), anon(), AuthError::BadToken), Admission::Decided(Ok(_))));
    }

    #[test]
    fn the_digest_is_an_hmac_of_hash_and_password() {
        let cache = PasswordCache::default();
        // Neither the password nor the hash is recoverable from, or equal to, the digest,
        // and moving bytes between hash and password changes it.
        assert_ne!(cache.digest("$2a$04$ab", "c"), cache.digest("$2a$04$a", "bc"));
        assert_ne!(cache.digest("h", "p"), cache.digest("h", "q"));
        assert_eq!(cache.digest("h", "p"), cache.digest("h", "p"));
    }

    #[test]
    fn the_cache_is_bounded_and_keyed() {
        let cache = PasswordCache::default();
        for i in 0..MAX_ENTRIES + 10 {
            cache.remember("$2a$04$x", &i.to_string());
        }
        assert!(cache.len() <= MAX_ENTRIES);
        // Per-process key: another cache's digest of the same pair differs.
        assert_ne!(cache.digest("h", "p"), PasswordCache::default().digest("h", "p"));
    }
}
