//! Who may connect: checked once per CONNECT, in nats-server's order (nkey, users
//! list with `no_auth_user`, single token, single user/password).
use super::config::{AuthConfig, UserConfig};
use super::password::{self, Admission, PasswordCache};
use super::permissions::Permissions;
use crate::proto::ConnectOptions;
use base64::Engine as _;
use std::collections::HashMap;
use std::sync::Arc;

/// The result of a successful authentication.
#[derive(Debug, Clone)]
pub struct Identity {
    /// User name or nkey (never a secret); `None` without auth.
    pub user: Option<String>,
    /// Account name (`$G` unless the user is listed in an account).
    pub account: String,
    pub permissions: Option<Arc<Permissions>>,
    /// Operator mode: the user's verified JWT claims (limits, expiry).
    pub jwt: Option<Box<crate::jwt::JwtUser>>,
}

/// Why authentication failed (never shown to the client: it always gets
/// `Authorization Violation`). Holds no secrets.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("no credentials")]
    NoCredentials,
    #[error("unknown user {0:?}")]
    UnknownUser(String),
    #[error("bad password for user {0:?}")]
    BadPassword(String),
    #[error("bad token")]
    BadToken,
    #[error("nkey signature missing or invalid for {0:?}")]
    BadSignature(String),
    #[error("user required in a client certificate, but the connection has none")]
    NoCertificate,
    #[error("no user maps to the client certificate ({0})")]
    CertNotMapped(String),
    #[error("JWT: {0}")]
    Jwt(#[from] crate::jwt::JwtError),
    #[error("{0}")]
    Callout(#[from] super::callout::CalloutError),
}

struct User {
    cfg: UserConfig,
    permissions: Option<Arc<Permissions>>,
}

/// Compiled from an `AuthConfig`; rebuilt on reload.
pub struct Authenticator {
    cfg: AuthConfig,
    by_name: HashMap<String, User>,
    by_nkey: HashMap<String, User>,
    default_permissions: Option<Arc<Permissions>>,
    /// `tls.verify_and_map`: users come from the client certificate.
    tls_map: bool,
    /// User names that parse as LDAP DNs (for certificate subject matching).
    user_dns: Vec<(String, crate::tls::Dn)>,
    /// Operator mode: JWT authentication replaces every other mechanism.
    jwt: Option<crate::jwt::JwtAuth>,
    /// Verified bcrypt checks, carried over from the authenticator a reload replaces.
    passwords: Arc<PasswordCache>,
}

impl Authenticator {
    /// Turns on `verify_and_map`: with users configured, the verified client
    /// certificate names the user (nats-server's order, see `tls::identity`).
    pub fn with_tls_map(mut self, on: bool) -> Authenticator {
        self.tls_map = on;
        self.user_dns = if on {
            self.cfg
                .users
                .iter()
                .filter_map(|u| u.user.as_deref())
                .filter_map(|n| Some((n.to_string(), crate::tls::Dn::parse(n)?)))
                .collect()
        } else {
            Vec::new()
        };
        self
    }

    /// Whether users are mapped from client certificates.
    pub fn maps_certificates(&self) -> bool {
        self.tls_map && !self.by_name.is_empty()
    }

    pub fn new(cfg: &AuthConfig) -> Authenticator {
        let account_defaults: HashMap<&str, Arc<Permissions>> = cfg
            .accounts
            .iter()
            .filter_map(|a| Some((a.name.as_str(), Arc::new(Permissions::compile(a.default_permissions.as_ref()?)))))
            .collect();
        let default_permissions = cfg.default_permissions.as_ref().map(|p| Arc::new(Permissions::compile(p)));
        let mut by_name = HashMap::new();
        let mut by_nkey = HashMap::new();
        for u in &cfg.users {
            // The user's own permissions, else its account's defaults, else the global defaults.
            let permissions = match &u.permissions {
                Some(p) => Some(Arc::new(Permissions::compile(p))),
                None => u
                    .account
                    .as_deref()
                    .and_then(|a| account_defaults.get(a).cloned())
                    .or_else(|| default_permissions.clone()),
            };
            let entry = User { cfg: u.clone(), permissions };
            match (&u.nkey, &u.user) {
                (Some(k), _) => {
                    by_nkey.insert(k.clone(), entry);
                }
                (None, Some(n)) => {
                    by_name.insert(n.clone(), entry);
                }
                (None, None) => {}
            }
        }
        let jwt = cfg.trust.enabled().then(|| crate::jwt::JwtAuth::new(&cfg.trust));
        Authenticator {
            cfg: cfg.clone(),
            by_name,
            by_nkey,
            default_permissions,
            tls_map: false,
            user_dns: Vec::new(),
            jwt,
            passwords: Arc::default(),
        }
    }

    /// Keeps the verified bcrypt checks of the authenticator this one replaces (a
    /// reload), so unchanged credentials are not hashed again; what was known about
    /// hashes no longer configured is forgotten.
    pub fn with_password_cache(mut self, cache: Arc<PasswordCache>) -> Authenticator {
        let mut hashes: std::collections::HashSet<&str> =
            self.cfg.users.iter().filter_map(|u| u.password.as_ref()).map(|p| p.0.as_str()).collect();
        hashes.extend(self.cfg.password.as_ref().map(|p| p.0.as_str()));
        hashes.extend(self.cfg.token.as_ref().map(|t| t.0.as_str()));
        cache.retain_hashes(&hashes);
        self.passwords = cache;
        self
    }

    /// The verified bcrypt checks (to hand on to the next authenticator).
    pub fn password_cache(&self) -> Arc<PasswordCache> {
        self.passwords.clone()
    }

    /// Whether clients must send credentials.
    pub fn required(&self) -> bool {
        self.cfg.is_auth_configured()
    }

    /// Whether INFO carries `auth_required` (not with `no_auth_user`).
    pub fn advertise_required(&self) -> bool {
        self.required() && self.cfg.no_auth_user.is_none()
    }

    pub fn needs_nonce(&self) -> bool {
        !self.by_nkey.is_empty() || self.jwt.is_some()
    }

    /// Operator mode's verified accounts and trust, when configured.
    pub fn jwt(&self) -> Option<&crate::jwt::JwtAuth> {
        self.jwt.as_ref()
    }

    pub fn config(&self) -> &AuthConfig {
        &self.cfg
    }

    /// Authenticates on the calling thread, bcrypt included (tests and tools: the
    /// server uses `begin` and runs bcrypt on its auth threads).
    pub fn authenticate(&self, co: &ConnectOptions, nonce: Option<&[u8]>) -> Result<Identity, AuthError> {
        self.authenticate_client(co, nonce, None, None)
    }

    /// As `authenticate`, knowing the client's address (JWT users may be limited to
    /// source CIDRs) and the names of its verified client certificate (if any).
    pub fn authenticate_client(
        &self,
        co: &ConnectOptions,
        nonce: Option<&[u8]>,
        ip: Option<std::net::IpAddr>,
        cert: Option<&crate::tls::CertIdentity>,
    ) -> Result<Identity, AuthError> {
        self.begin(co, nonce, ip, cert).finish()
    }

    /// Everything but a bcrypt check, which comes back as `Admission::NeedsHash` to be
    /// run off the caller's thread (unless the same password was already verified
    /// against the same hash).
    pub fn begin(
        &self,
        co: &ConnectOptions,
        nonce: Option<&[u8]>,
        ip: Option<std::net::IpAddr>,
        cert: Option<&crate::tls::CertIdentity>,
    ) -> Admission {
        match self.begin_inner(co, nonce, ip, cert) {
            Ok(a) => a,
            Err(e) => Admission::Decided(Err(e)),
        }
    }

    fn begin_inner(
        &self,
        co: &ConnectOptions,
        nonce: Option<&[u8]>,
        ip: Option<std::net::IpAddr>,
        cert: Option<&crate::tls::CertIdentity>,
    ) -> Result<Admission, AuthError> {
        if let Some(j) = &self.jwt {
            let peer = crate::jwt::verify::Peer { ip, now: crate::jwt::now_unix() };
            let u = j.authenticate(co.jwt.as_deref(), co.sig.as_deref(), nonce, peer)?;
            return Ok(decided(Identity {
                user: Some(u.key.clone()),
                account: u.account.clone(),
                permissions: u.permissions.clone(),
                jwt: Some(Box::new(u)),
            }));
        }
        if !self.required() {
            return Ok(decided(Identity { user: None, account: global(), permissions: None, jwt: None }));
        }
        if !self.by_nkey.is_empty() {
            if let Some(key) = given(&co.nkey) {
                let user = self.by_nkey.get(key).ok_or_else(|| AuthError::UnknownUser(key.to_string()))?;
                verify_nkey(key, co.sig.as_deref(), nonce)?;
                return Ok(decided(identity(key, user)));
            }
        }
        if self.maps_certificates() {
            // The certificate names the user; a password configured for it is still checked.
            let cert = cert.ok_or(AuthError::NoCertificate)?;
            let n = cert
                .map_user(|n| self.by_name.contains_key(n), &self.user_dns)
                .ok_or_else(|| AuthError::CertNotMapped(cert.describe()))?;
            let user = self.by_name.get(&n).ok_or_else(|| AuthError::UnknownUser(n.clone()))?;
            let id = identity(&n, user);
            return Ok(self.password(user.cfg.password.as_ref(), co.pass.as_deref(), id, AuthError::BadPassword(n)));
        }
        if !self.by_name.is_empty() || !self.by_nkey.is_empty() {
            let mut name = given(&co.user);
            let mut pass = given(&co.pass);
            // An nkey only counts where nkeys are configured (else nats-server ignores it).
            let no_creds = name.is_none() && pass.is_none() && given(&co.auth_token).is_none();
            if no_creds {
                if let Some(n) = self.cfg.no_auth_user.as_deref() {
                    let user = self.by_name.get(n).ok_or_else(|| AuthError::UnknownUser(n.to_string()))?;
                    return Ok(decided(identity(n, user)));
                }
            }
            let n = name.take().ok_or(AuthError::NoCredentials)?;
            let user = self.by_name.get(n).ok_or_else(|| AuthError::UnknownUser(n.to_string()))?;
            let id = identity(n, user);
            return Ok(self.password(user.cfg.password.as_ref(), pass.take(), id, AuthError::BadPassword(n.to_string())));
        }
        if let Some(token) = &self.cfg.token {
            // As nats-server's `comparePasswords`: a bcrypt hash, else plain text.
            return match co.auth_token.as_deref() {
                Some(t) => Ok(self.password(
                    Some(token),
                    Some(t),
                    Identity { user: None, account: global(), permissions: self.default_permissions.clone(), jwt: None },
                    AuthError::BadToken,
                )),
                _ => Err(AuthError::BadToken),
            };
        }
        if let Some(u) = &self.cfg.user {
            let name = co.user.as_deref().ok_or(AuthError::NoCredentials)?;
            if name != u {
                return Err(AuthError::BadPassword(name.to_string()));
            }
            let id = Identity {
                user: Some(name.to_string()),
                account: global(),
                permissions: self.default_permissions.clone(),
                jwt: None,
            };
            return Ok(self.password(self.cfg.password.as_ref(), co.pass.as_deref(), id, AuthError::BadPassword(name.to_string())));
        }
        Err(AuthError::NoCredentials)
    }

    /// A password (or token: a password without a user) check: plain ones decided now,
    /// bcrypt ones deferred unless the cache knows the pair.
    fn password(&self, stored: Option<&super::Secret>, given: Option<&str>, id: Identity, err: AuthError) -> Admission {
        password::check(&self.passwords, stored, given, id, err)
    }
}

fn decided(id: Identity) -> Admission {
    Admission::Decided(Ok(id))
}

/// nats-server tests credentials with `!= ""`: an empty field is an absent one.
fn given(f: &Option<String>) -> Option<&str> {
    f.as_deref().filter(|s| !s.is_empty())
}

fn global() -> String {
    crate::account_names::GLOBAL_ACCOUNT.to_string()
}

fn identity(name: &str, user: &User) -> Identity {
    Identity {
        user: Some(name.to_string()),
        account: user.cfg.account.clone().unwrap_or_else(global),
        permissions: user.permissions.clone(),
        jwt: None,
    }
}

/// Checks the client's signature of the INFO nonce with its public nkey. The signature
/// is base64url without padding (standard base64 also accepted, as nats-server does).
fn verify_nkey(key: &str, sig: Option<&str>, nonce: Option<&[u8]>) -> Result<(), AuthError> {
    let bad = || AuthError::BadSignature(key.to_string());
    let (sig, nonce) = (sig.ok_or_else(bad)?, nonce.ok_or_else(bad)?);
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sig.trim_end_matches('='))
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(sig))
        .map_err(|_| bad())?;
    let kp = nkeys::KeyPair::from_public_key(key).map_err(|_| bad())?;
    kp.verify(nonce, &raw).map_err(|_| bad())
}

/// A fresh nonce: 11 random bytes as base64url without padding (15 characters).
pub fn new_nonce() -> String {
    let mut bytes = [0u8; 11];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: fall back to a fresh key's bytes rather than a fixed nonce.
        let kp = nkeys::KeyPair::new_user();
        for (b, k) in bytes.iter_mut().zip(kp.public_key().bytes().skip(2)) {
            *b = k;
        }
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::config::{AccountConfig, PermissionsConfig, RuleLists, Secret};

    fn co(json: &str) -> ConnectOptions {
        crate::proto::parse_connect(json.as_bytes()).expect("connect json")
    }

    fn user(name: &str, pass: &str) -> UserConfig {
        UserConfig { user: Some(name.into()), password: Some(Secret(pass.into())), ..Default::default() }
    }

    #[test]
    fn no_auth_accepts_everyone_into_global() {
        let a = Authenticator::new(&AuthConfig::default());
        let id = a.authenticate(&co("{}"), None).expect("ok");
        assert_eq!(id.account, "$G");
        assert!(!a.required());
    }

    #[test]
    fn token_and_single_user() {
        let a = Authenticator::new(&AuthConfig { token: Some(Secret("s3cr3t".into())), ..Default::default() });
        assert!(a.authenticate(&co(r#"{"auth_token":"s3cr3t"}"#), None).is_ok());
        assert_eq!(a.authenticate(&co(r#"{"auth_token":"nope"}"#), None).unwrap_err(), AuthError::BadToken);
        assert!(a.authenticate(&co("{}"), None).is_err());

        let a = Authenticator::new(&AuthConfig {
            user: Some("u".into()),
            password: Some(Secret("p".into())),
            ..Default::default()
        });
        assert!(a.authenticate(&co(r#"{"user":"u","pass":"p"}"#), None).is_ok());
        assert!(a.authenticate(&co(r#"{"user":"u","pass":"x"}"#), None).is_err());
        assert!(a.authenticate(&co(r#"{"user":"v","pass":"p"}"#), None).is_err());
    }

    #[test]
    fn users_bcrypt_accounts_and_no_auth_user() {
        let hash = bcrypt::hash("pw", 4).expect("hash");
        let mut b = user("b", &hash);
        b.account = Some("B".into());
        let cfg = AuthConfig {
            users: vec![user("a", "pa"), b],
            accounts: vec![AccountConfig { name: "B".into(), ..Default::default() }],
            no_auth_user: Some("a".into()),
            ..Default::default()
        };
        let a = Authenticator::new(&cfg);
        assert!(!a.advertise_required());
        assert_eq!(a.authenticate(&co(r#"{"user":"b","pass":"pw"}"#), None).expect("b").account, "B");
        assert!(a.authenticate(&co(&format!(r#"{{"user":"b","pass":"{hash}"}}"#)), None).is_err(), "the hash itself");
        assert_eq!(a.authenticate(&co("{}"), None).expect("no_auth_user").user.as_deref(), Some("a"));
        assert!(a.authenticate(&co(r#"{"user":"a","pass":"bad"}"#), None).is_err());
    }

    #[test]
    fn bcrypt_token() {
        let hash = bcrypt::hash("s3cr3t", 4).expect("hash");
        let a = Authenticator::new(&AuthConfig { token: Some(Secret(hash.clone())), ..Default::default() });
        assert!(a.authenticate(&co(r#"{"auth_token":"s3cr3t"}"#), None).is_ok());
        assert_eq!(a.authenticate(&co(r#"{"auth_token":"nope"}"#), None).unwrap_err(), AuthError::BadToken);
        let sent_hash = format!(r#"{{"auth_token":"{hash}"}}"#);
        assert_eq!(a.authenticate(&co(&sent_hash), None).unwrap_err(), AuthError::BadToken, "the hash itself");
    }

    #[test]
    fn empty_credentials_bind_no_auth_user() {
        let nk = nkeys::KeyPair::new_user();
        let cfg = AuthConfig { users: vec![user("a", "pa"), user("b", "pb")], no_auth_user: Some("a".into()), ..Default::default() };
        let a = Authenticator::new(&cfg);
        for json in [r#"{"user":""}"#, r#"{"user":"","pass":""}"#, r#"{"auth_token":"","nkey":""}"#, r#"{"nkey":"UABC"}"#] {
            assert_eq!(a.authenticate(&co(json), None).expect(json).user.as_deref(), Some("a"), "{json}");
        }
        // A password or a token without a user is not "no credentials".
        for json in [r#"{"user":"","pass":"pa"}"#, r#"{"pass":"x"}"#, r#"{"auth_token":"x"}"#] {
            assert!(a.authenticate(&co(json), None).is_err(), "{json}");
        }
        // With nkeys configured an nkey is a credential; an empty one is not.
        let mut users = cfg.users.clone();
        users.push(UserConfig { nkey: Some(nk.public_key()), ..Default::default() });
        let a = Authenticator::new(&AuthConfig { users, ..cfg });
        assert_eq!(a.authenticate(&co(r#"{"nkey":""}"#), None).expect("empty nkey").user.as_deref(), Some("a"));
        assert!(a.authenticate(&co(r#"{"nkey":"UABC"}"#), None).is_err());
    }

    #[test]
    fn bcrypt_is_deferred_and_not_repeated_after_a_reload() {
        let hash = bcrypt::hash("pw", 4).expect("hash");
        let cfg = AuthConfig { users: vec![user("b", &hash), user("p", "plain")], ..Default::default() };
        let a = Authenticator::new(&cfg);
        let good = co(r#"{"user":"b","pass":"pw"}"#);
        // Plain passwords and unknown users are decided at once; bcrypt waits for a thread.
        assert!(matches!(a.begin(&co(r#"{"user":"p","pass":"plain"}"#), None, None, None), Admission::Decided(Ok(_))));
        assert!(matches!(a.begin(&co(r#"{"user":"x","pass":"pw"}"#), None, None, None), Admission::Decided(Err(_))));
        let Admission::NeedsHash(check) = a.begin(&good, None, None, None) else { panic!("bcrypt deferred") };
        assert_eq!(check.identity().user.as_deref(), Some("b"));
        assert_eq!(check.run().expect("verifies").user.as_deref(), Some("b"));
        // A reload builds a new authenticator: with the cache carried over, the live
        // connection's unchanged credentials are decided without bcrypt.
        let reloaded = Authenticator::new(&cfg).with_password_cache(a.password_cache());
        assert!(matches!(reloaded.begin(&good, None, None, None), Admission::Decided(Ok(_))));
        assert!(matches!(reloaded.begin(&co(r#"{"user":"b","pass":"px"}"#), None, None, None), Admission::NeedsHash(_)));
        // A new hash for the user (even of the same password) is checked again, and the
        // old hash is forgotten.
        let rehashed = AuthConfig { users: vec![user("b", &bcrypt::hash("pw", 4).expect("hash"))], ..Default::default() };
        let changed = Authenticator::new(&rehashed).with_password_cache(reloaded.password_cache());
        assert!(matches!(changed.begin(&good, None, None, None), Admission::NeedsHash(_)));
        assert!(changed.password_cache().is_empty());
    }

    #[test]
    fn nkey_signature() {
        let kp = nkeys::KeyPair::new_user();
        let cfg = AuthConfig {
            users: vec![UserConfig { nkey: Some(kp.public_key()), ..Default::default() }],
            ..Default::default()
        };
        let a = Authenticator::new(&cfg);
        assert!(a.needs_nonce());
        let nonce = new_nonce();
        assert_eq!(nonce.len(), 15);
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(kp.sign(nonce.as_bytes()).expect("sign"));
        let json = format!(r#"{{"nkey":"{}","sig":"{sig}"}}"#, kp.public_key());
        assert!(a.authenticate(&co(&json), Some(nonce.as_bytes())).is_ok());
        assert!(a.authenticate(&co(&json), Some(b"another-nonce")).is_err());
        let other = nkeys::KeyPair::new_user();
        let json = format!(r#"{{"nkey":"{}","sig":"{sig}"}}"#, other.public_key());
        assert!(a.authenticate(&co(&json), Some(nonce.as_bytes())).is_err());
    }

    #[test]
    fn permissions_precedence() {
        let defaults = PermissionsConfig {
            publish: Some(RuleLists { allow: Some(vec!["d".into()]), deny: None }),
            ..Default::default()
        };
        let mut own = user("own", "p");
        own.permissions = Some(PermissionsConfig {
            publish: Some(RuleLists { allow: Some(vec!["o".into()]), deny: None }),
            ..Default::default()
        });
        let cfg = AuthConfig { users: vec![own, user("plain", "p")], default_permissions: Some(defaults), ..Default::default() };
        let a = Authenticator::new(&cfg);
        let own = a.authenticate(&co(r#"{"user":"own","pass":"p"}"#), None).expect("own");
        assert!(own.permissions.as_ref().expect("perms").can_publish(b"o"));
        let plain = a.authenticate(&co(r#"{"user":"plain","pass":"p"}"#), None).expect("plain");
        assert!(plain.permissions.as_ref().expect("perms").can_publish(b"d"));
        assert!(!plain.permissions.as_ref().expect("perms").can_publish(b"o"));
    }

    #[test]
    fn certificate_names_the_user() {
        let mut kate = user("CN=kate,O=Acme", "kpw");
        kate.account = Some("A".into());
        let cfg = AuthConfig {
            users: vec![user("alice@example.org", ""), kate],
            accounts: vec![AccountConfig { name: "A".into(), ..Default::default() }],
            ..Default::default()
        };
        let a = Authenticator::new(&cfg).with_tls_map(true);
        assert!(a.maps_certificates());
        let alice = crate::tls::CertIdentity { emails: vec!["alice@example.org".into()], ..Default::default() };
        let id = a.authenticate_client(&co("{}"), None, None, Some(&alice)).expect("alice");
        assert_eq!(id.user.as_deref(), Some("alice@example.org"));
        let kate = crate::tls::CertIdentity {
            has_subject: true,
            dn: crate::tls::Dn::parse("O=Acme,CN=kate").map(|d| crate::tls::Dn(d.0.into_iter().rev().collect())),
            rdn: "CN=kate,O=Acme".into(),
            ..Default::default()
        };
        assert_eq!(a.authenticate_client(&co(r#"{"pass":"kpw"}"#), None, None, Some(&kate)).expect("kate").account, "A");
        assert!(matches!(a.authenticate_client(&co("{}"), None, None, Some(&kate)), Err(AuthError::BadPassword(_))));
        assert_eq!(a.authenticate_client(&co(r#"{"user":"alice@example.org"}"#), None, None, None).unwrap_err(), AuthError::NoCertificate);
        let nobody = crate::tls::CertIdentity { dns: vec!["x".into()], ..Default::default() };
        assert!(matches!(a.authenticate_client(&co("{}"), None, None, Some(&nobody)), Err(AuthError::CertNotMapped(_))));
    }

    #[test]
    fn nonces_differ() {
        assert_ne!(new_nonce(), new_nonce());
    }
}
