//! The authentication and authorization parts of a config file, typed:
//! `authorization {}`, `accounts {}`, `no_auth_user`, `system_account`.
use crate::config::{ConfigError, Node, Value};
use crate::subject;
use std::fmt;
use std::time::Duration;

/// A password or token. Never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// `publish` or `subscribe` rules as written: `None` = no list given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleLists {
    pub allow: Option<Vec<String>>,
    pub deny: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponsePermission {
    pub max: u32,
    pub expires: Duration,
}

/// `allow_responses` with a negative `max` (config) or `max` (JWT): no count limit.
pub const UNLIMITED_RESPONSES: u32 = u32::MAX;
/// `allow_responses` with a negative `expires` (config) or `ttl` (JWT): no time limit.
pub const RESPONSES_NEVER_EXPIRE: Duration = Duration::from_secs(u32::MAX as u64);

/// nats-server's defaults for `allow_responses: true`.
pub const DEFAULT_RESPONSE_PERMISSION: ResponsePermission =
    ResponsePermission { max: 1, expires: Duration::from_secs(120) };

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermissionsConfig {
    pub publish: Option<RuleLists>,
    pub subscribe: Option<RuleLists>,
    pub allow_responses: Option<ResponsePermission>,
    /// `types` inside `publish`: the kind-of-message policy.
    pub types: Option<crate::trust::TypesConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserConfig {
    pub user: Option<String>,
    pub password: Option<Secret>,
    pub nkey: Option<String>,
    pub permissions: Option<PermissionsConfig>,
    /// The account the user belongs to (set for users listed inside `accounts`).
    pub account: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountConfig {
    pub name: String,
    pub default_permissions: Option<PermissionsConfig>,
    pub exports: Vec<ExportConfig>,
    pub imports: Vec<ImportConfig>,
    /// The account's own `message_trust {}`.
    pub message_trust: Option<crate::trust::TrustConfig>,
}

/// How a service answers: one response, or many until the threshold passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseType {
    Singleton,
    Stream,
    Chunked,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportConfig {
    pub service: bool,
    pub subject: String,
    /// `None`: public; else only these accounts may import it.
    pub accounts: Option<Vec<String>>,
    pub response_type: ResponseType,
    pub response_threshold: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportConfig {
    pub service: bool,
    pub account: String,
    /// The exporter's subject.
    pub subject: String,
    pub prefix: Option<String>,
    pub to: Option<String>,
    /// `share: true`: the publisher's user fields of the `Natrix-Sender` stamp cross.
    pub share: bool,
}

/// nats-server's default service response threshold.
pub const DEFAULT_RESPONSE_THRESHOLD: Duration = Duration::from_secs(120);

/// Everything about who may connect and what they may do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthConfig {
    pub token: Option<Secret>,
    pub user: Option<String>,
    pub password: Option<Secret>,
    /// `authorization.timeout`.
    pub timeout: Option<Duration>,
    pub users: Vec<UserConfig>,
    pub default_permissions: Option<PermissionsConfig>,
    pub accounts: Vec<AccountConfig>,
    pub no_auth_user: Option<String>,
    pub system_account: Option<String>,
    pub no_system_account: bool,
    /// Operator mode (JWTs): operators, trusted keys, resolver and preloaded accounts.
    pub trust: crate::jwt::TrustConfig,
    /// `authorization.auth_callout`: a service decides who connecting clients are.
    pub callout: Option<super::callout_config::CalloutConfig>,
}

impl AuthConfig {
    /// Whether clients must authenticate (nats-server leaves `auth_required` out of INFO
    /// when `no_auth_user` is set).
    pub fn is_auth_configured(&self) -> bool {
        self.token.is_some() || self.user.is_some() || !self.users.is_empty() || self.trust.enabled()
    }

    pub fn needs_nonce(&self) -> bool {
        self.users.iter().any(|u| u.nkey.is_some()) || self.trust.enabled()
    }

    /// Cross-checks, with nats-server's wording where it has one.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.token.is_some() && !self.users.is_empty() {
            return Err("can not have a token and a users array".into());
        }
        if self.token.is_some() && self.user.is_some() {
            return Err("can not have a token and a single user".into());
        }
        if let Some(n) = &self.no_auth_user {
            if !self.users.iter().any(|u| u.user.as_deref() == Some(n.as_str())) {
                return Err(format!("no_auth_user: \"{n}\" not present as user or nkey in authorization block or account configuration"));
            }
        }
        for acc in &self.accounts {
            for imp in &acc.imports {
                let Some(exporter) = self.accounts.iter().find(|a| a.name == imp.account) else {
                    return Err(format!("import from unknown account \"{}\" in account \"{}\"", imp.account, acc.name));
                };
                let allowed = exporter.exports.iter().any(|e| {
                    e.service == imp.service
                        && subject::subject_is_subset(imp.subject.as_bytes(), e.subject.as_bytes())
                        && e.accounts.as_ref().is_none_or(|l| l.contains(&acc.name))
                });
                if !allowed {
                    // nats-server warns and drops such an import; natrix refuses it so a
                    // misconfiguration is visible.
                    return Err(format!(
                        "account \"{}\": {} import of \"{}\" from \"{}\" matches no export that allows it",
                        acc.name,
                        if imp.service { "service" } else { "stream" },
                        imp.subject,
                        imp.account
                    ));
                }
            }
        }
        super::callout_config::validate(self)?;
        let mut seen = std::collections::HashSet::new();
        for u in &self.users {
            let id = u.user.as_deref().or(u.nkey.as_deref()).unwrap_or("");
            if !seen.insert(id) {
                return Err(format!("duplicate user \"{id}\""));
            }
        }
        Ok(())
    }
}

type Result<T> = std::result::Result<T, ConfigError>;

fn err(n: &Node, msg: impl Into<String>) -> ConfigError {
    ConfigError::at(&n.pos, msg.into())
}

fn string(k: &str, v: &Node) -> Result<String> {
    match &v.value {
        Value::String(s) => Ok(s.clone()),
        Value::Int(i) => Ok(i.to_string()),
        _ => Err(err(v, format!("\"{k}\" must be a string, got {}", v.value.type_name()))),
    }
}

fn map<'a>(k: &str, v: &'a Node) -> Result<&'a [(crate::config::Key, Node)]> {
    v.as_map().ok_or_else(|| err(v, format!("\"{k}\" must be a map, got {}", v.value.type_name())))
}

/// `authorization { … }` into `cfg`.
pub fn parse_authorization(v: &Node, cfg: &mut AuthConfig) -> Result<()> {
    for (key, val) in map("authorization", v)? {
        match key.name.to_ascii_lowercase().as_str() {
            "user" | "username" => cfg.user = Some(string(&key.name, val)?),
            "pass" | "password" => cfg.password = Some(Secret(string(&key.name, val)?)),
            "token" => cfg.token = Some(Secret(string(&key.name, val)?)),
            "timeout" => {
                let secs = match &val.value {
                    Value::Int(i) if *i >= 0 => *i as f64,
                    Value::Float(f) if *f >= 0.0 => *f,
                    Value::String(s) => crate::config::parse_duration(s)
                        .map_err(|e| err(val, format!("error parsing timeout: {e}")))?
                        .as_secs_f64(),
                    _ => return Err(err(val, "\"timeout\" must be a number of seconds")),
                };
                cfg.timeout = Some(Duration::from_secs_f64(secs));
            }
            "users" => {
                for u in val.as_array().ok_or_else(|| err(val, "\"users\" must be an array"))? {
                    cfg.users.push(parse_user(u, None)?);
                }
            }
            "default_permissions" | "permissions" => cfg.default_permissions = Some(parse_permissions(val)?),
            "auth_callout" | "callout" => cfg.callout = Some(super::callout_config::parse(val)?),
            other => return Err(err(val, format!("unknown field \"{other}\" in authorization"))),
        }
    }
    Ok(())
}

/// `accounts { NAME: { users: [...], default_permissions }, … }` into `cfg`.
pub fn parse_accounts(v: &Node, cfg: &mut AuthConfig) -> Result<()> {
    for (key, val) in map("accounts", v)? {
        let name = key.name.clone();
        if name == crate::account_names::GLOBAL_ACCOUNT {
            return Err(err(val, format!("\"{name}\" is a reserved account name")));
        }
        let mut acc = AccountConfig { name: name.clone(), ..Default::default() };
        if let Some(entries) = val.as_map() {
            for (k, x) in entries {
                match k.name.to_ascii_lowercase().as_str() {
                    "users" => {
                        for u in x.as_array().ok_or_else(|| err(x, "\"users\" must be an array"))? {
                            cfg.users.push(parse_user(u, Some(&name))?);
                        }
                    }
                    "default_permissions" => acc.default_permissions = Some(parse_permissions(x)?),
                    "message_trust" => acc.message_trust = Some(crate::trust::config::parse_trust(x)?),
                    "exports" => {
                        for e in x.as_array().ok_or_else(|| err(x, "\"exports\" must be an array"))? {
                            acc.exports.push(parse_export(e)?);
                        }
                    }
                    "imports" => {
                        for i in x.as_array().ok_or_else(|| err(x, "\"imports\" must be an array"))? {
                            acc.imports.push(parse_import(i)?);
                        }
                    }
                    "mappings" | "maps" | "limits" | "nkey" | "jetstream" => {
                        return Err(err(x, format!(
                            "account \"{}\" is not supported by natrix yet (accounts: only users and default_permissions)",
                            k.name
                        )))
                    }
                    other => return Err(err(x, format!("unknown field \"{other}\" in account \"{name}\""))),
                }
            }
        } else if !matches!(&val.value, Value::Array(a) if a.is_empty()) {
            return Err(err(val, format!("account \"{name}\" must be a map")));
        }
        cfg.accounts.push(acc);
    }
    Ok(())
}

fn parse_export(v: &Node) -> Result<ExportConfig> {
    let mut e = ExportConfig {
        service: false,
        subject: String::new(),
        accounts: None,
        response_type: ResponseType::Singleton,
        response_threshold: DEFAULT_RESPONSE_THRESHOLD,
    };
    let mut kind = None;
    for (k, x) in map("export", v)? {
        match k.name.to_ascii_lowercase().as_str() {
            "stream" | "service" => {
                e.service = k.name.eq_ignore_ascii_case("service");
                e.subject = string(&k.name, x)?;
                kind = Some(x);
            }
            "accounts" => {
                let list = x.as_array().ok_or_else(|| err(x, "\"accounts\" must be an array"))?;
                e.accounts = Some(list.iter().map(|a| string("account", a)).collect::<Result<_>>()?);
            }
            "response_type" | "response" => {
                e.response_type = match string(&k.name, x)?.to_ascii_lowercase().as_str() {
                    "single" | "singleton" => ResponseType::Singleton,
                    "stream" => ResponseType::Stream,
                    "chunk" | "chunked" => ResponseType::Chunked,
                    other => return Err(err(x, format!("unknown response type: \"{other}\""))),
                }
            }
            "response_threshold" | "threshold" | "response_max_time" | "response_time" => {
                let s = string(&k.name, x)?;
                e.response_threshold =
                    crate::config::parse_duration(&s).map_err(|er| err(x, format!("error parsing response threshold: {er}")))?;
            }
            "latency" | "account_token_position" => {}
            other => return Err(err(x, format!("unknown field \"{other}\" in export"))),
        }
    }
    let node = kind.ok_or_else(|| err(v, "an export needs \"stream\" or \"service\""))?;
    if !subject::is_valid_subject(e.subject.as_bytes()) {
        return Err(err(node, format!("invalid export subject \"{}\"", e.subject)));
    }
    Ok(e)
}

fn parse_import(v: &Node) -> Result<ImportConfig> {
    let mut i = ImportConfig { service: false, account: String::new(), subject: String::new(), prefix: None, to: None, share: false };
    let mut kind = None;
    for (k, x) in map("import", v)? {
        match k.name.to_ascii_lowercase().as_str() {
            "stream" | "service" => {
                i.service = k.name.eq_ignore_ascii_case("service");
                for (kk, xx) in map(&k.name, x)? {
                    match kk.name.to_ascii_lowercase().as_str() {
                        "account" => i.account = string("account", xx)?,
                        "subject" => i.subject = string("subject", xx)?,
                        other => return Err(err(xx, format!("unknown field \"{other}\" in import"))),
                    }
                }
                kind = Some(x);
            }
            "prefix" => i.prefix = Some(string("prefix", x)?),
            "to" => i.to = Some(string("to", x)?),
            "share" => i.share = x.as_bool().ok_or_else(|| err(x, "\"share\" must be true or false"))?,
            other => return Err(err(x, format!("unknown field \"{other}\" in import"))),
        }
    }
    let node = kind.ok_or_else(|| err(v, "an import needs \"stream\" or \"service\""))?;
    if i.account.is_empty() || !subject::is_valid_subject(i.subject.as_bytes()) {
        return Err(err(node, "an import needs an account and a valid subject"));
    }
    if i.prefix.is_some() && i.to.is_some() {
        return Err(err(v, "an import can have \"prefix\" or \"to\", not both"));
    }
    if i.service && i.prefix.is_some() {
        return Err(err(v, "a service import takes \"to\", not \"prefix\""));
    }
    for s in i.prefix.iter().chain(i.to.iter()) {
        if !subject::is_valid_subject(s.as_bytes()) {
            return Err(err(v, format!("invalid import subject \"{s}\"")));
        }
    }
    Ok(i)
}

fn parse_user(v: &Node, account: Option<&str>) -> Result<UserConfig> {
    let mut u = UserConfig { account: account.map(str::to_string), ..Default::default() };
    for (key, val) in map("user", v)? {
        match key.name.to_ascii_lowercase().as_str() {
            "user" | "username" => u.user = Some(string(&key.name, val)?),
            "pass" | "password" => u.password = Some(Secret(string(&key.name, val)?)),
            "nkey" => {
                let k = string(&key.name, val)?;
                if !k.starts_with('U') || nkeys::KeyPair::from_public_key(&k).is_err() {
                    return Err(err(val, format!("not a valid public user nkey: \"{k}\"")));
                }
                u.nkey = Some(k);
            }
            "permissions" => u.permissions = Some(parse_permissions(val)?),
            "allowed_connection_types" | "connection_types" | "clients" => {}
            other => return Err(err(val, format!("unknown field \"{other}\" in user"))),
        }
    }
    if u.user.is_none() && u.nkey.is_none() {
        return Err(err(v, "a user needs \"user\" or \"nkey\""));
    }
    Ok(u)
}

/// A permissions block: `publish`/`subscribe` as a string, a list (= allow) or
/// `{allow, deny}`; `allow_responses: true | {max, expires}`.
pub fn parse_permissions(v: &Node) -> Result<PermissionsConfig> {
    let mut p = PermissionsConfig::default();
    for (key, val) in map("permissions", v)? {
        match key.name.to_ascii_lowercase().as_str() {
            "publish" | "pub" | "import" => {
                p.publish = Some(parse_rules(val, false)?);
                if let Some(t) = val.get("types") {
                    p.types = Some(crate::trust::config::parse_types(t)?);
                }
            }
            "subscribe" | "sub" | "export" => p.subscribe = Some(parse_rules(val, true)?),
            "allow_responses" | "publish_allow_responses" => p.allow_responses = parse_responses(val)?,
            other => return Err(err(val, format!("unknown field \"{other}\" in permissions"))),
        }
    }
    // allow_responses without a publish allow list: reply-only (an empty allow list).
    if p.allow_responses.is_some() {
        let publish = p.publish.get_or_insert_with(RuleLists::default);
        if publish.allow.is_none() {
            publish.allow = Some(Vec::new());
        }
    }
    Ok(p)
}

/// nats-server's `parseAllowResponses`: `max: 0` and `expires: "0s"` mean the defaults (1 and
/// 2 minutes), a negative value means no limit, and `expires` must be a duration string.
fn parse_responses(v: &Node) -> Result<Option<ResponsePermission>> {
    match &v.value {
        Value::Bool(false) => Ok(None),
        Value::Bool(true) => Ok(Some(DEFAULT_RESPONSE_PERMISSION)),
        Value::Map(entries) => {
            let mut r = DEFAULT_RESPONSE_PERMISSION;
            for (k, x) in entries {
                match k.name.to_ascii_lowercase().as_str() {
                    "max" | "max_msgs" | "max_messages" | "max_responses" => {
                        r.max = match x.as_int().ok_or_else(|| err(x, "\"max\" must be a count"))? {
                            0 => DEFAULT_RESPONSE_PERMISSION.max,
                            n if n < 0 => UNLIMITED_RESPONSES,
                            n => u32::try_from(n).unwrap_or(UNLIMITED_RESPONSES),
                        }
                    }
                    "expires" | "expiration" | "ttl" => {
                        let Value::String(s) = &x.value else {
                            return Err(err(x, "error parsing expires, not a duration string"));
                        };
                        use crate::config::parse_duration;
                        // `parse_duration` refuses negative durations; here they mean "never".
                        let parsed = match s.strip_prefix('-') {
                            Some(abs) => parse_duration(abs).map(|d| if d.is_zero() { d } else { RESPONSES_NEVER_EXPIRE }),
                            None => parse_duration(s),
                        };
                        // The error names the whole value, as Go's `time.ParseDuration`.
                        let d = parsed.map_err(|e| parse_duration(s).err().unwrap_or(e))
                            .map_err(|e| err(x, format!("error parsing expires: {e}")))?;
                        r.expires = if d.is_zero() { DEFAULT_RESPONSE_PERMISSION.expires } else { d };
                    }
                    other => return Err(err(x, format!("unknown field \"{other}\" in allow_responses"))),
                }
            }
            Ok(Some(r))
        }
        _ => Err(err(v, "\"allow_responses\" must be true, false or a map")),
    }
}

pub(crate) fn parse_rules(v: &Node, subscribe: bool) -> Result<RuleLists> {
    match &v.value {
        Value::String(_) | Value::Array(_) => Ok(RuleLists { allow: Some(subjects(v, subscribe)?), deny: None }),
        Value::Map(entries) => {
            let mut r = RuleLists::default();
            for (k, x) in entries {
                match k.name.to_ascii_lowercase().as_str() {
                    "allow" => r.allow = Some(subjects(x, subscribe)?),
                    "deny" => r.deny = Some(subjects(x, subscribe)?),
                    // Parsed by `parse_permissions` (publish only).
                    "types" if !subscribe => {}
                    other => return Err(err(x, format!("unknown field \"{other}\" in permission rules"))),
                }
            }
            // nats-server: `allow: []` is no allow list at all (no restriction).
            if r.allow.as_ref().is_some_and(Vec::is_empty) {
                r.allow = None;
            }
            Ok(r)
        }
        _ => Err(err(v, "permission rules must be a subject, a list or {allow, deny}")),
    }
}

fn subjects(v: &Node, subscribe: bool) -> Result<Vec<String>> {
    let items: Vec<&Node> = match &v.value {
        Value::Array(a) => a.iter().collect(),
        _ => vec![v],
    };
    let mut out = Vec::with_capacity(items.len());
    for n in items {
        let s = string("subject", n)?;
        let mut parts = s.split_whitespace();
        let subj = parts.next().unwrap_or("");
        let queue = parts.next();
        let ok = subject::is_valid_subject(subj.as_bytes())
            && parts.next().is_none()
            && (queue.is_none() || subscribe);
        if !ok {
            return Err(err(n, format!("invalid subject \"{s}\" in permissions")));
        }
        out.push(s);
    }
    Ok(out)
}
