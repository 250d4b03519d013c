//! The trust chain at CONNECT, in nats-server's order: decode the user JWT (signature,
//! times) → connection type → account (`issuer_account` or `iss`) from the resolver →
//! account signed by a trusted operator key → user issuer is the account or one of its
//! signing keys (a scoped key's template replaces the user's permissions and limits) →
//! account not expired → bearer allowed → nonce signature (unless bearer) → not revoked
//! → source address → connect-time window. Accounts are verified once, when loaded.
use super::claims::{self, AccountClaims, User, NO_LIMIT};
use super::codec;
use super::config::TrustConfig;
use super::JwtError;
use crate::auth::config::{
    PermissionsConfig, ResponsePermission, RuleLists, DEFAULT_RESPONSE_PERMISSION, RESPONSES_NEVER_EXPIRE,
    UNLIMITED_RESPONSES,
};
use crate::auth::Permissions;
use base64::Engine as _;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// A verified account JWT and what was compiled from it.
#[derive(Debug)]
pub struct VerifiedAccount {
    pub claims: AccountClaims,
    pub jwt: String,
    /// Signing keys; a scoped key carries its template.
    signing_keys: HashMap<String, Option<User>>,
    default_permissions: Option<Arc<Permissions>>,
}

impl VerifiedAccount {
    /// Whether a user with this key issued at `iat` is revoked (`revocations[user]` or
    /// `revocations["*"]` at or after `iat`).
    pub fn is_revoked(&self, user: &str, iat: i64) -> bool {
        is_revoked(&self.claims.nats.revocations, user, iat)
    }

    /// Whether the account JWT has expired at `now` (Unix seconds): `exp <= now`.
    pub fn is_expired(&self, now: i64) -> bool {
        self.claims.exp > 0 && self.claims.exp <= now
    }
}

/// nats-server's `isRevoked`.
pub fn is_revoked(revocations: &std::collections::BTreeMap<String, i64>, subject: &str, iat: i64) -> bool {
    if revocations.is_empty() {
        return false;
    }
    let mut t = revocations.get("*").copied();
    if t.is_none_or(|t| t < iat) {
        t = revocations.get(subject).copied();
    }
    t.is_some_and(|t| t >= iat)
}

/// A user admitted by its JWT.
#[derive(Debug, Clone)]
pub struct JwtUser {
    /// The user's public key (`sub`).
    pub key: String,
    pub name: String,
    /// The account's public key (the name of its `AccountTable` entry).
    pub account: String,
    pub issued_at: i64,
    pub permissions: Option<Arc<Permissions>>,
    /// When the connection must be closed: the user JWT's `exp` or the end of the
    /// current connect-time window, whichever is first (Unix seconds).
    pub expires: Option<i64>,
    /// Most subscriptions (user/scope and account limits combined); `None` = unlimited.
    pub max_subs: Option<u32>,
    /// Largest payload (user/scope and account limits combined); `None` = unlimited.
    pub max_payload: Option<u32>,
    /// Most message bytes (payload and headers) the connection may publish in all (user
    /// `data` and account `data` combined); `None` = unlimited. nats-server 2.9.10 parses
    /// this limit but does not enforce it; natrix does.
    pub max_data: Option<u64>,
    /// The account JWT's `exp` (Unix seconds), if it has one.
    pub account_expires: Option<i64>,
    /// The account's `conn` limit; `None` = unlimited.
    pub max_account_conns: Option<u32>,
}

/// What the connection looks like, for the checks that depend on it.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pub ip: Option<IpAddr>,
    /// Unix seconds.
    pub now: i64,
}

/// Operator-mode authentication, built from the trust configuration.
#[derive(Debug, Default)]
pub struct JwtAuth {
    trusted: Vec<String>,
    pinned: Vec<String>,
    accounts: HashMap<String, Arc<VerifiedAccount>>,
}

impl JwtAuth {
    /// Verifies the preloaded accounts against the trusted keys (invalid ones are left
    /// out; configuration loading has already refused them with their position).
    pub fn new(cfg: &TrustConfig) -> JwtAuth {
        let mut a = JwtAuth { trusted: cfg.trusted_signers(), pinned: cfg.pinned.clone(), accounts: HashMap::new() };
        for p in &cfg.preload {
            match a.verify_account(&p.jwt) {
                Ok(acc) if acc.claims.sub == p.account => {
                    a.accounts.insert(p.account.clone(), Arc::new(acc));
                }
                Ok(_) => crate::warn!("resolver_preload {}: JWT subject does not match", p.account),
                Err(e) => crate::warn!("resolver_preload {}: {e}", p.account),
            }
        }
        a
    }

    /// Decodes and checks an account JWT: signature, issued by a trusted operator key.
    pub fn verify_account(&self, jwt: &str) -> Result<VerifiedAccount, JwtError> {
        let claims = codec::decode_account(jwt)?;
        if !self.trusted.contains(&claims.iss) {
            return Err(JwtError::UntrustedAccount(claims.sub));
        }
        let signing_keys = claims
            .nats
            .signing_keys
            .iter()
            .map(|k| match k {
                claims::SigningKey::Key(k) => (k.clone(), None),
                claims::SigningKey::Scoped(s) => (s.key.clone(), Some(s.template.clone())),
            })
            .collect();
        let default_permissions = permissions_config(&claims.nats.default_permissions).map(|p| Arc::new(Permissions::compile(&p)));
        Ok(VerifiedAccount { claims, jwt: jwt.to_string(), signing_keys, default_permissions })
    }

    pub fn account(&self, key: &str) -> Option<&Arc<VerifiedAccount>> {
        self.accounts.get(key)
    }

    /// The preloaded account public keys.
    pub fn account_keys(&self) -> impl Iterator<Item = &str> {
        self.accounts.keys().map(String::as_str)
    }

    /// Authenticates a CONNECT carrying `jwt` and `sig` (the nonce signed by the user).
    pub fn authenticate(&self, jwt: Option<&str>, sig: Option<&str>, nonce: Option<&[u8]>, peer: Peer) -> Result<JwtUser, JwtError> {
        let jwt = jwt.filter(|j| !j.is_empty()).ok_or(JwtError::NoJwt)?;
        let uc = codec::decode_user(jwt)?;
        codec::check_times(&uc, peer.now)?;
        connection_type_allowed(&uc.nats.allowed_connection_types)?;
        let account_key = if uc.nats.issuer_account.is_empty() { &uc.iss } else { &uc.nats.issuer_account };
        if !self.pinned.is_empty() && !self.pinned.contains(account_key) {
            return Err(JwtError::NotPinned(account_key.clone()));
        }
        let acc = self.accounts.get(account_key).ok_or_else(|| JwtError::UnknownAccount(account_key.clone()))?;
        if !self.trusted.contains(&acc.claims.iss) {
            return Err(JwtError::UntrustedAccount(account_key.clone()));
        }
        // The user's own claims, or a scoped signing key's template in their place.
        let mut user = uc.nats.clone();
        if uc.iss != acc.claims.sub {
            match acc.signing_keys.get(&uc.iss) {
                None => return Err(JwtError::UnknownIssuer(uc.iss.clone())),
                Some(Some(template)) => {
                    if !uc.nats.has_empty_permissions() {
                        return Err(JwtError::Invalid("scoped users require no permissions or limits set".into()));
                    }
                    let ctx = super::template::TemplateContext {
                        user_name: &uc.name,
                        user_key: &uc.sub,
                        user_tags: &uc.nats.tags,
                        account_name: &acc.claims.name,
                        account_key: &uc.nats.issuer_account,
                        account_tags: &acc.claims.nats.tags,
                    };
                    let mut t = super::template::expand(template.clone(), &ctx)?;
                    t.issuer_account = user.issuer_account.clone();
                    user = t;
                }
                Some(None) => {}
            }
        } else if !uc.nats.issuer_account.is_empty() && uc.nats.issuer_account != uc.iss {
            return Err(JwtError::UnknownIssuer(uc.iss.clone()));
        }
        // nats-server marks the account expired once `exp <= now` (whole seconds): from
        // then on, which is also when its live users are closed, new ones are refused.
        if acc.is_expired(peer.now) {
            return Err(JwtError::AccountExpired);
        }
        if user.bearer_token && acc.claims.nats.limits.disallow_bearer {
            return Err(JwtError::BearerNotAllowed);
        }
        if !user.bearer_token {
            verify_nonce(&uc.sub, sig, nonce)?;
        }
        if acc.is_revoked(&uc.sub, uc.iat) {
            return Err(JwtError::Revoked);
        }
        if !source_allowed(&user.src, peer.ip) {
            return Err(JwtError::SourceAddress);
        }
        let window_end = connect_window(&user.times, &user.times_location, peer.now)?;
        let expires = match (uc.exp > 0).then_some(uc.exp) {
            Some(e) => Some(window_end.map_or(e, |w| w.min(e))),
            None => window_end,
        };
        let permissions = match permissions_config(&user.permissions) {
            Some(p) => Some(Arc::new(Permissions::compile(&p))),
            None => acc.default_permissions.clone(),
        };
        let limits = &acc.claims.nats.limits;
        Ok(JwtUser {
            key: uc.sub.clone(),
            name: uc.name.clone(),
            account: acc.claims.sub.clone(),
            issued_at: uc.iat,
            permissions,
            expires,
            max_subs: min_limit(user.subs, limits.subs),
            max_payload: min_limit(user.payload, limits.payload),
            max_data: min_limit64(user.data, limits.data),
            max_account_conns: min_limit(NO_LIMIT, limits.conn),
            account_expires: (acc.claims.exp > 0).then_some(acc.claims.exp),
        })
    }
}

/// The smaller of two nats limits (-1 = unlimited) as a u32, `None` when both are unlimited.
fn min_limit(a: i64, b: i64) -> Option<u32> {
    let pick = match (a < 0, b < 0) {
        (true, true) => return None,
        (true, false) => b,
        (false, true) => a,
        (false, false) => a.min(b),
    };
    Some(u32::try_from(pick).unwrap_or(u32::MAX))
}

/// The smaller of two `data` limits, `None` when neither is set. Since only natrix
/// enforces `data`, 0 (what a JWT that omits the field decodes to) counts as unset like -1,
/// so such a user is not cut off where nats-server would let it publish.
fn min_limit64(a: i64, b: i64) -> Option<u64> {
    let set = |v: i64| u64::try_from(v).ok().filter(|&v| v > 0);
    match (set(a), set(b)) {
        (None, None) => None,
        (Some(x), None) | (None, Some(x)) => Some(x),
        (Some(x), Some(y)) => Some(x.min(y)),
    }
}

/// The signature of the INFO nonce by the user key: base64url without padding, or
/// standard base64 (nats-server accepts both).
fn verify_nonce(user: &str, sig: Option<&str>, nonce: Option<&[u8]>) -> Result<(), JwtError> {
    let (sig, nonce) = match (sig.filter(|s| !s.is_empty()), nonce) {
        (Some(s), Some(n)) => (s, n),
        _ => return Err(JwtError::NonceSignature),
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sig)
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(sig))
        .map_err(|_| JwtError::NonceSignature)?;
    let kp = nkeys::KeyPair::from_public_key(user).map_err(|_| JwtError::NonceSignature)?;
    kp.verify(nonce, &raw).map_err(|_| JwtError::NonceSignature)
}

const KNOWN_CONNECTION_TYPES: &[&str] = &["STANDARD", "WEBSOCKET", "LEAFNODE", "LEAFNODE_WS", "MQTT", "MQTT_WS", "IN_PROCESS"];

/// natrix clients are `STANDARD`. An empty list allows everything; a list of only
/// unknown types allows nothing.
fn connection_type_allowed(types: &[String]) -> Result<(), JwtError> {
    if types.is_empty() {
        return Ok(());
    }
    let known: Vec<&String> = types.iter().filter(|t| KNOWN_CONNECTION_TYPES.contains(&t.as_str())).collect();
    if known.iter().any(|t| t.as_str() == "STANDARD") {
        Ok(())
    } else {
        Err(JwtError::ConnectionType)
    }
}

/// Whether `ip` is inside one of the CIDRs (an empty list allows any address).
pub fn source_allowed(cidrs: &[String], ip: Option<IpAddr>) -> bool {
    if cidrs.is_empty() {
        return true;
    }
    let Some(ip) = ip else { return false };
    cidrs.iter().any(|c| cidr_contains(c, ip))
}

fn cidr_contains(cidr: &str, ip: IpAddr) -> bool {
    let Some((net, bits)) = cidr.trim().split_once('/') else { return false };
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else { return false };
    let ip = match (net, ip) {
        (IpAddr::V4(_), IpAddr::V6(v6)) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        _ => ip,
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) if bits <= 32 => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) if bits <= 128 => {
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

/// Seconds since midnight of `now` in `times_location`: the server's local time zone when
/// empty, else an IANA zone name (`America/New_York`), as Go's `time.LoadLocation`.
fn seconds_of_day(now: i64, location: &str) -> Result<i64, JwtError> {
    use chrono::Timelike;
    if location.is_empty() {
        return Ok(local_seconds_of_day(now));
    }
    let tz: chrono_tz::Tz = match location {
        "UTC" | "Z" => chrono_tz::UTC,
        other => other.parse().map_err(|_| JwtError::Invalid(format!("unknown times_location {other:?}")))?,
    };
    let t = chrono::DateTime::from_timestamp(now, 0)
        .ok_or_else(|| JwtError::Invalid(format!("time {now} out of range")))?
        .with_timezone(&tz);
    Ok(i64::from(t.num_seconds_from_midnight()))
}

fn local_seconds_of_day(now: i64) -> i64 {
    let t: libc::time_t = now as libc::time_t;
    // SAFETY: localtime_r only writes the provided struct; both pointers are valid.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if ok {
        i64::from(tm.tm_hour) * 3600 + i64::from(tm.tm_min) * 60 + i64::from(tm.tm_sec)
    } else {
        now.rem_euclid(86_400)
    }
}

fn parse_hms(s: &str) -> Option<i64> {
    let mut it = s.split(':');
    let (h, m, sec) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() || h.len() != 2 || m.len() != 2 || sec.len() != 2 {
        return None;
    }
    let (h, m, sec) = (h.parse::<i64>().ok()?, m.parse::<i64>().ok()?, sec.parse::<i64>().ok()?);
    (h < 24 && m < 60 && sec < 60).then_some(h * 3600 + m * 60 + sec)
}

/// Whether `now` falls in one of the windows; when it does, the Unix time the longest
/// matching window ends (`None` without windows).
pub fn connect_window(times: &[claims::TimeRange], location: &str, now: i64) -> Result<Option<i64>, JwtError> {
    if times.is_empty() {
        return Ok(None);
    }
    let tod = seconds_of_day(now, location)?;
    let mut best: Option<i64> = None;
    for r in times {
        let (Some(start), Some(end)) = (parse_hms(&r.start), parse_hms(&r.end)) else {
            return Err(JwtError::OutsideTimes);
        };
        let left = if start < end {
            (start < tod && tod < end).then_some(end - tod)
        } else if start > end {
            // Crosses midnight.
            if tod > start {
                Some(86_400 - tod + end)
            } else if tod < end {
                Some(end - tod)
            } else {
                None
            }
        } else {
            None
        };
        if let Some(l) = left {
            best = Some(best.map_or(l, |b| b.max(l)));
        }
    }
    best.map(|l| Some(now + l)).ok_or(JwtError::OutsideTimes)
}

/// JWT permissions as config permissions (`None` when the claims set none), with
/// nats-server's defaults: `resp` without max/ttl gets 1 and 2 minutes, and makes an
/// absent publish allow list empty (reply-only).
pub fn permissions_config(p: &claims::Permissions) -> Option<PermissionsConfig> {
    if p.is_empty() {
        return None;
    }
    let rules = |x: &claims::Permission| {
        (!x.is_empty()).then(|| RuleLists {
            allow: (!x.allow.is_empty()).then(|| x.allow.clone()),
            deny: (!x.deny.is_empty()).then(|| x.deny.clone()),
        })
    };
    let allow_responses = p.resp.as_ref().map(|r| ResponsePermission {
        max: match r.max {
            0 => DEFAULT_RESPONSE_PERMISSION.max,
            n if n < 0 => UNLIMITED_RESPONSES,
            n => u32::try_from(n).unwrap_or(UNLIMITED_RESPONSES),
        },
        expires: match r.ttl {
            0 => DEFAULT_RESPONSE_PERMISSION.expires,
            n if n < 0 => RESPONSES_NEVER_EXPIRE,
            n => Duration::from_nanos(n as u64),
        },
    });
    let mut cfg = PermissionsConfig { publish: rules(&p.publish), subscribe: rules(&p.subscribe), allow_responses, types: None };
    if cfg.allow_responses.is_some() {
        let publish = cfg.publish.get_or_insert_with(RuleLists::default);
        publish.allow.get_or_insert_with(Vec::new);
    }
    Some(cfg)
}


#[cfg(test)]
mod data_limit_tests {
    #[test]
    fn named_time_zones() {
        // 2026-01-15 12:00:00 UTC is 07:00 in New York (EST) and 21:00 in Tokyo.
        let noon = 1_768_478_400;
        assert_eq!(super::seconds_of_day(noon, "UTC").ok(), Some(12 * 3600));
        assert_eq!(super::seconds_of_day(noon, "America/New_York").ok(), Some(7 * 3600));
        assert_eq!(super::seconds_of_day(noon, "Asia/Tokyo").ok(), Some(21 * 3600));
        assert!(super::seconds_of_day(noon, "Mars/Olympus").is_err());
    }

    #[test]
    fn data_limits_combine_and_zero_is_unset() {
        assert_eq!(super::min_limit64(-1, -1), None);
        assert_eq!(super::min_limit64(0, -1), None);
        assert_eq!(super::min_limit64(20, -1), Some(20));
        assert_eq!(super::min_limit64(-1, 1000), Some(1000));
        assert_eq!(super::min_limit64(20, 1000), Some(20));
    }
}
