//! `authorization { auth_callout { issuer, auth_users, account, allowed_accounts, xkey } }`
//! (nats-server 2.10's auth callout, ADR-26): who signs the service's answers, which
//! users bypass the callout (the service itself), and the account it runs in.
use super::config::AuthConfig;
use crate::config::{ConfigError, Node, Pos, Value};

/// The callout as configured. Positions are kept for the cross-checks made once the
/// whole file is read (an auth user or account named before it is defined).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalloutConfig {
    /// The account public key (`A…`) that signs authorization responses and user JWTs.
    pub issuer: String,
    /// Users (names or nkeys) authenticated from the config, never through the callout.
    pub auth_users: Vec<(String, Pos)>,
    /// The account the request is published in (where the service subscribes).
    pub account: String,
    pub account_pos: Pos,
    /// Accounts a response may bind a client to (empty: any configured account).
    pub allowed_accounts: Vec<(String, Pos)>,
    /// Where the `auth_callout` block starts.
    pub pos: Pos,
}

impl CalloutConfig {
    /// Whether the CONNECT's `user` or `nkey` names a bypass user.
    pub fn is_auth_user(&self, user: Option<&str>, nkey: Option<&str>) -> bool {
        self.auth_users.iter().any(|(u, _)| Some(u.as_str()) == user.filter(|s| !s.is_empty()) || Some(u.as_str()) == nkey.filter(|s| !s.is_empty()))
    }

    /// Whether a response may bind a client to `account`.
    pub fn allows(&self, account: &str) -> bool {
        self.allowed_accounts.is_empty() || self.allowed_accounts.iter().any(|(a, _)| a == account)
    }
}

fn err(pos: &Pos, msg: impl Into<String>) -> ConfigError {
    ConfigError::at(pos, msg.into())
}

fn string(k: &str, v: &Node) -> Result<String, ConfigError> {
    match &v.value {
        Value::String(s) => Ok(s.clone()),
        _ => Err(err(&v.pos, format!("\"{k}\" must be a string, got {}", v.value.type_name()))),
    }
}

fn strings(k: &str, v: &Node) -> Result<Vec<(String, Pos)>, ConfigError> {
    let items: Vec<&Node> = match &v.value {
        Value::Array(a) => a.iter().collect(),
        _ => vec![v],
    };
    items.into_iter().map(|n| Ok((string(k, n)?, n.pos.clone()))).collect()
}

/// Parses the `auth_callout` block.
pub fn parse(v: &Node) -> Result<CalloutConfig, ConfigError> {
    let entries = v
        .as_map()
        .ok_or_else(|| err(&v.pos, format!("\"auth_callout\" must be a map, got {}", v.value.type_name())))?;
    let mut c = CalloutConfig {
        issuer: String::new(),
        auth_users: Vec::new(),
        account: crate::account_names::GLOBAL_ACCOUNT.to_string(),
        account_pos: v.pos.clone(),
        allowed_accounts: Vec::new(),
        pos: v.pos.clone(),
    };
    let mut issuer_seen = false;
    for (key, val) in entries {
        match key.name.to_ascii_lowercase().as_str() {
            "issuer" => {
                let k = string(&key.name, val)?;
                if !crate::jwt::codec::is_public_key(&k, crate::jwt::KeyKind::Account) {
                    return Err(err(&val.pos, format!("auth_callout issuer \"{k}\" is not a valid public account key")));
                }
                c.issuer = k;
                issuer_seen = true;
            }
            "auth_users" => c.auth_users = strings(&key.name, val)?,
            "account" => {
                c.account = string(&key.name, val)?;
                c.account_pos = val.pos.clone();
            }
            "allowed_accounts" => c.allowed_accounts = strings(&key.name, val)?,
            "xkey" | "x_key" => {
                // nkeys 0.4 keeps curve keys behind its `xkeys` feature, whose crypto
                // crate natrix does not build: refuse rather than send requests in clear.
                return Err(err(
                    &val.pos,
                    "auth_callout \"xkey\" (encrypted requests) is not supported by natrix: remove it, or keep the callout traffic on a trusted network",
                ));
            }
            other => return Err(err(&val.pos, format!("unknown field \"{other}\" in auth_callout"))),
        }
    }
    if !issuer_seen {
        return Err(err(&v.pos, "auth_callout requires an issuer (the account public key that signs responses)"));
    }
    Ok(c)
}

/// Cross-checks once the whole configuration is read; the message carries
/// `file:line:col` of the offending value.
pub fn validate(cfg: &AuthConfig) -> Result<(), String> {
    let Some(c) = &cfg.callout else { return Ok(()) };
    if cfg.trust.enabled() {
        return Err(format!(
            "{}: auth_callout in the authorization block is for config accounts; operator mode (account JWT authorization) is not supported by natrix",
            c.pos
        ));
    }
    if c.auth_users.is_empty() {
        return Err(format!("{}: auth_callout requires auth_users (the users the callout service connects with)", c.pos));
    }
    for (u, pos) in &c.auth_users {
        let known = cfg.users.iter().any(|x| x.user.as_deref() == Some(u.as_str()) || x.nkey.as_deref() == Some(u.as_str()));
        if !known {
            return Err(format!("{pos}: auth_callout auth user \"{u}\" is not a configured user"));
        }
    }
    let exists = |a: &str| a == crate::account_names::GLOBAL_ACCOUNT || cfg.accounts.iter().any(|x| x.name == a);
    if !exists(&c.account) {
        return Err(format!("{}: auth_callout account \"{}\" is not a configured account", c.account_pos, c.account));
    }
    for (a, pos) in &c.allowed_accounts {
        if !exists(a) {
            return Err(format!("{pos}: auth_callout allowed account \"{a}\" is not a configured account"));
        }
    }
    Ok(())
}
