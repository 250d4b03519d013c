//! Trust configuration: `operator` (aliases `operators`, `root`, `roots`,
//! `root_operator`, `root_operators`), `trusted_keys` (`trusted`), `resolver`
//! and `resolver_preload`.
use super::codec::{self, KeyKind};
use crate::config::{ConfigError, Node, Pos, Value};
use std::path::Path;

/// Where account JWTs come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolverConfig {
    /// `resolver: MEMORY`: only the `resolver_preload` accounts.
    Memory,
    /// `resolver { type: full|cache, dir }`: account JWTs stored as `<dir>/<key>.jwt`,
    /// loaded at start and reload; updates are written there. `full` also accepts
    /// accounts it did not know.
    Dir { dir: std::path::PathBuf, full: bool },
}

/// One `resolver_preload` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preload {
    pub account: String,
    pub jwt: String,
    pub pos: Option<Pos>,
    /// Read from the directory resolver or received as an update (not from the file).
    pub stored: bool,
}

/// Operator-mode settings as configured (tokens as text; verified when loaded).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustConfig {
    /// Operator JWTs (read from their files where a path was given).
    pub operators: Vec<String>,
    /// `trusted_keys`: operator public keys trusted without an operator JWT.
    pub trusted_keys: Vec<String>,
    pub resolver: Option<ResolverConfig>,
    pub preload: Vec<Preload>,
    /// `resolver_pinned_accounts`: when not empty, only users of these accounts connect.
    pub pinned: Vec<String>,
    /// Where `operator`/`trusted_keys` were set, for errors found later.
    pub pos: Option<Pos>,
}

impl TrustConfig {
    /// Operator mode: some operator or trusted key is configured.
    pub fn enabled(&self) -> bool {
        !self.operators.is_empty() || !self.trusted_keys.is_empty()
    }

    /// The public keys that may sign account JWTs: each operator's subject (unless it
    /// uses `strict_signing_key_usage`) and its signing keys, plus `trusted_keys`.
    pub fn trusted_signers(&self) -> Vec<String> {
        let mut keys = self.trusted_keys.clone();
        for op in &self.operators {
            if let Ok(c) = codec::decode_operator(op) {
                if !c.nats.strict_signing_key_usage {
                    keys.push(c.sub.clone());
                }
                keys.extend(c.nats.signing_keys.iter().cloned());
            }
        }
        keys
    }

    /// The first operator's `system_account`, if any.
    pub fn operator_system_account(&self) -> Option<String> {
        self.operators
            .iter()
            .filter_map(|op| codec::decode_operator(op).ok())
            .map(|c| c.nats.system_account)
            .find(|s| !s.is_empty())
    }
}

fn err(pos: &Pos, msg: impl Into<String>) -> ConfigError {
    ConfigError::at(pos, msg.into())
}

fn strings<'a>(k: &str, v: &'a Node) -> Result<Vec<(&'a str, &'a Pos)>, ConfigError> {
    match &v.value {
        Value::String(s) => Ok(vec![(s.as_str(), &v.pos)]),
        Value::Array(items) => items
            .iter()
            .map(|n| n.as_str().map(|s| (s, &n.pos)).ok_or_else(|| err(&n.pos, format!("\"{k}\" entries must be strings"))))
            .collect(),
        other => Err(err(&v.pos, format!("\"{k}\" must be a string or a list of strings, got {}", other.type_name()))),
    }
}

/// `operator: <inline JWT or file>` or a list of them.
pub fn parse_operators(k: &str, v: &Node, trust: &mut TrustConfig) -> Result<(), ConfigError> {
    for (s, pos) in strings(k, v)? {
        let text = read_jwt_source(s, pos)?;
        let jwt = super::creds::decorated_jwt(&text).to_string();
        let claims = codec::decode_operator(&jwt).map_err(|e| err(pos, format!("operator JWT {s:?}: {e}")))?;
        let self_signed = claims.iss == claims.sub || claims.nats.signing_keys.contains(&claims.iss);
        if !self_signed {
            return Err(err(pos, format!("operator JWT {s:?}: not signed by the operator or one of its signing keys")));
        }
        trust.operators.push(jwt);
    }
    trust.pos.get_or_insert_with(|| v.pos.clone());
    Ok(())
}

/// An inline token (`eyJ…`) or the contents of a file (relative paths: the working
/// directory, then the config file's directory).
fn read_jwt_source(s: &str, pos: &Pos) -> Result<String, ConfigError> {
    let t = s.trim();
    if t.starts_with("eyJ") {
        return Ok(t.to_string());
    }
    let p = Path::new(t);
    let candidates = [Some(p.to_path_buf()), pos.file.parent().map(|d| d.join(p))];
    for c in candidates.iter().flatten() {
        if let Ok(text) = std::fs::read_to_string(c) {
            return Ok(text);
        }
    }
    Err(err(pos, format!("error reading operator JWT file {t:?}")))
}

/// `trusted_keys: "O…"` or a list.
pub fn parse_trusted_keys(k: &str, v: &Node, trust: &mut TrustConfig) -> Result<(), ConfigError> {
    for (s, pos) in strings(k, v)? {
        if !codec::is_public_key(s, KeyKind::Operator) {
            return Err(err(pos, format!("trust key {s:?} required to be a valid public operator nkey")));
        }
        trust.trusted_keys.push(s.to_string());
    }
    trust.pos.get_or_insert_with(|| v.pos.clone());
    Ok(())
}

/// `resolver: MEMORY` (`MEM`). The directory and URL resolvers are refused (not built yet).
pub fn parse_resolver(k: &str, v: &Node, trust: &mut TrustConfig) -> Result<(), ConfigError> {
    match &v.value {
        Value::String(s) if s.eq_ignore_ascii_case("mem") || s.eq_ignore_ascii_case("memory") => {
            trust.resolver = Some(ResolverConfig::Memory);
            Ok(())
        }
        Value::String(s) if s.to_ascii_uppercase().starts_with("URL(") => {
            Err(err(&v.pos, format!("{k}: the URL resolver is not supported by natrix yet; use MEMORY")))
        }
        Value::Map(entries) => {
            let mut full = true;
            let mut dir = None;
            for (key, val) in entries {
                match key.name.to_ascii_lowercase().as_str() {
                    "type" => {
                        full = match val.as_str().map(str::to_ascii_lowercase).as_deref() {
                            Some("full") => true,
                            Some("cache") => false,
                            _ => return Err(err(&val.pos, "resolver type must be full or cache")),
                        }
                    }
                    "dir" => dir = Some(val.as_str().ok_or_else(|| err(&val.pos, "resolver dir must be a string"))?.to_string()),
                    "allow_delete" | "interval" | "limit" | "sync" | "timeout" | "ttl" => {}
                    other => return Err(err(&key.pos, format!("unknown field \"{other}\" in resolver"))),
                }
            }
            let dir = std::path::PathBuf::from(dir.ok_or_else(|| err(&v.pos, "resolver needs a dir"))?);
            std::fs::create_dir_all(&dir).map_err(|e| err(&v.pos, format!("resolver dir {}: {e}", dir.display())))?;
            for (account, jwt) in super::resolver::load_dir(&dir).map_err(|e| err(&v.pos, e))? {
                let iat = |j: &str| codec::decode_account(j).map(|c| c.iat).unwrap_or(0);
                if trust.preload.iter().any(|p| p.account == account && iat(&p.jwt) > iat(&jwt)) {
                    continue; // a newer `resolver_preload` entry wins
                }
                trust.preload.retain(|p| p.account != account);
                trust.preload.push(Preload { account, jwt, pos: Some(v.pos.clone()), stored: true });
            }
            trust.resolver = Some(ResolverConfig::Dir { dir, full });
            Ok(())
        }
        _ => Err(err(&v.pos, format!("{k}: expected MEMORY"))),
    }
}

/// `resolver_pinned_accounts: ["A…", …]`.
pub fn parse_pinned(k: &str, v: &Node, trust: &mut TrustConfig) -> Result<(), ConfigError> {
    for (s, pos) in strings(k, v)? {
        if !codec::is_public_key(s, KeyKind::Account) {
            return Err(err(pos, format!("{k}: {s:?} is not a valid public account nkey")));
        }
        trust.pinned.push(s.to_string());
    }
    Ok(())
}

/// `resolver_preload { <account public key>: <account JWT> }`.
pub fn parse_preload(k: &str, v: &Node, trust: &mut TrustConfig) -> Result<(), ConfigError> {
    let entries = v.as_map().ok_or_else(|| err(&v.pos, format!("\"{k}\" must be a map")))?;
    for (key, val) in entries {
        let jwt = val.as_str().ok_or_else(|| err(&val.pos, "resolver_preload values must be account JWTs"))?;
        // Only a JWT that does not decode is a config error (nats-server's text and
        // position); one not signed by a trusted operator is left out when loaded.
        let claims = codec::decode_account(jwt).map_err(|_| err(&key.pos, "invalid account JWT"))?;
        if claims.sub != key.name {
            return Err(err(&key.pos, format!("preload account error for {:?}: JWT subject is {}", key.name, claims.sub)));
        }
        if let Some(old) = trust.preload.iter().position(|p| p.account == key.name) {
            // A directory resolver's copy wins when it is newer.
            let newer = codec::decode_account(&trust.preload[old].jwt).is_ok_and(|c| c.iat >= claims.iat);
            if newer {
                continue;
            }
            trust.preload.remove(old);
        }
        trust.preload.push(Preload { account: key.name.clone(), jwt: jwt.to_string(), pos: Some(val.pos.clone()), stored: false });
    }
    Ok(())
}

/// Cross-checks once every key is read: preloads and a resolver need an operator;
/// operator mode excludes the `authorization` users, `accounts` and `no_auth_user`.
/// A preloaded account not signed by a trusted key does not stop the server (as
/// nats-server): `JwtAuth` leaves it out with a warning and its users are refused.
pub fn check(auth: &crate::auth::AuthConfig) -> Result<(), ConfigError> {
    let trust = &auth.trust;
    let at = |p: &Option<Pos>, msg: String| match p {
        Some(p) => err(p, msg),
        None => ConfigError { pos: None, message: msg },
    };
    if !trust.enabled() {
        if let Some(p) = trust.preload.first() {
            return Err(at(&p.pos, "resolver_preload requires an operator or trusted_keys".into()));
        }
        return Ok(());
    }
    if auth.token.is_some() || auth.user.is_some() || !auth.users.is_empty() || !auth.accounts.is_empty() {
        return Err(at(&trust.pos, "operators do not allow authorization users, accounts or tokens to be configured".into()));
    }
    if auth.no_auth_user.is_some() {
        return Err(at(&trust.pos, "operators do not allow no_auth_user".into()));
    }
    Ok(())
}

/// The system account's public key: `system_account` from the config, else the
/// operator's `system_account` claim.
pub fn system_account(auth: &crate::auth::AuthConfig) -> Option<String> {
    auth.system_account.clone().filter(|s| !s.is_empty()).or_else(|| auth.trust.operator_system_account())
}

/// Keeps account updates received while running across a reload: an account JWT in
/// `old` newer (by `iat`) than the one in `new`, or missing there, stays.
pub fn carry_updates(old: &TrustConfig, new: &mut TrustConfig) {
    if !new.enabled() {
        return;
    }
    for p in old.preload.iter().filter(|p| p.stored) {
        let Ok(oc) = codec::decode_account(&p.jwt) else { continue };
        match new.preload.iter_mut().find(|n| n.account == p.account) {
            Some(n) => {
                if codec::decode_account(&n.jwt).is_ok_and(|nc| nc.iat < oc.iat) {
                    *n = p.clone();
                }
            }
            None => new.preload.push(p.clone()),
        }
    }
}
