//! The `leafnodes {}` block (nats-server 2.9.10 `parseLeafNodes`,
//! `parseLeafAuthorization`, `parseRemoteLeafNodes`). What natrix does not implement
//! yet (TLS, `.creds`, websocket remotes, `min_version`) is refused at load, never
//! ignored.
use super::error::ConfigError;
use super::parser::{Key, Node, Value};
use crate::auth::Secret;
use std::time::Duration;

/// nats-server's `DEFAULT_LEAF_NODE_RECONNECT`.
pub const DEFAULT_RECONNECT: Duration = Duration::from_secs(1);

/// A user a leaf may authenticate as (`authorization { user, password, account }` or
/// one `users` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafUser {
    pub user: String,
    pub password: Secret,
    /// The account the link is bound to (`None`: `$G`).
    pub account: Option<String>,
}

/// One URL of a remote: `nats://[user[:pass]@]host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafUrl {
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub pass: Option<Secret>,
}

impl LeafUrl {
    pub fn parse(s: &str) -> Result<LeafUrl, String> {
        let lower = s.to_ascii_lowercase();
        if lower.starts_with("tls://") {
            return Err(format!("leafnode remote URL {s:?}: TLS remotes are not supported by natrix yet"));
        }
        if lower.starts_with("ws://") || lower.starts_with("wss://") {
            return Err(format!("leafnode remote URL {s:?}: websocket remotes are not supported by natrix"));
        }
        // Like nats-server (url.Parse), a URL without a scheme is refused.
        let rest = s.strip_prefix("nats://").or_else(|| s.strip_prefix("nats-leaf://"));
        let rest = rest.ok_or_else(|| format!("leafnode remote URL {s:?} must start with nats://"))?;
        let r = crate::config::cluster::RouteUrl::parse(&format!("nats://{rest}"))
            .map_err(|_| format!("leafnode remote URL {s:?} has no valid host:port"))?;
        Ok(LeafUrl { host: r.host, port: r.port, user: r.user, pass: r.pass })
    }

    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// One `remotes` entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RemoteLeaf {
    pub urls: Vec<LeafUrl>,
    /// The local account the link is bound to (`$G` when not set).
    pub account: Option<String>,
    /// Subjects whose messages we do not take from the hub (no LS+ for them).
    pub deny_imports: Vec<String>,
    /// Subjects we do not send to the hub.
    pub deny_exports: Vec<String>,
    /// We are the hub on this link (`is_hub` in CONNECT).
    pub hub: bool,
}

/// `leafnodes { … }`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LeafOptions {
    pub host: String,
    /// Leaf port; 0 = not listening, -1 = a free port.
    pub port: i32,
    pub advertise: Option<String>,
    pub no_advertise: bool,
    pub reconnect: Option<Duration>,
    pub user: Option<String>,
    pub password: Option<Secret>,
    /// `authorization.account`: the account of the single user (or of leafs when no
    /// user is configured).
    pub account: Option<String>,
    pub auth_timeout: Option<Duration>,
    pub users: Vec<LeafUser>,
    pub remotes: Vec<RemoteLeaf>,
}

impl LeafOptions {
    pub fn listening(&self) -> bool {
        self.port != 0
    }

    pub fn reconnect_delay(&self) -> Duration {
        self.reconnect.unwrap_or(DEFAULT_RECONNECT)
    }

    /// Cross-field checks (nats-server `validateLeafNode`).
    pub fn validate(&self, accounts: &[String]) -> Result<(), String> {
        if self.user.is_some() && !self.users.is_empty() {
            return Err("can not have a single user/pass and a users array".into());
        }
        let known = |a: &str| a == "$G" || accounts.iter().any(|x| x == a);
        let named = self.account.iter().chain(self.users.iter().filter_map(|u| u.account.as_ref()));
        for a in named.chain(self.remotes.iter().filter_map(|r| r.account.as_ref())) {
            if !known(a) {
                return Err(format!("cannot find local account {a:?} specified in leafnode authorization"));
            }
        }
        for r in &self.remotes {
            if r.urls.is_empty() {
                return Err("leafnode remote has no url".into());
            }
        }
        Ok(())
    }
}

fn err(n: &Node, msg: impl Into<String>) -> ConfigError {
    ConfigError::at(&n.pos, msg.into())
}

fn at_key(k: &Key, msg: impl Into<String>) -> ConfigError {
    ConfigError::at(&k.pos, msg.into())
}

fn string(k: &str, v: &Node) -> Result<String, ConfigError> {
    v.as_str().map(str::to_string).ok_or_else(|| err(v, format!("\"{k}\" must be a string, got {}", v.value.type_name())))
}

fn boolean(k: &str, v: &Node) -> Result<bool, ConfigError> {
    v.as_bool().ok_or_else(|| err(v, format!("\"{k}\" must be a boolean, got {}", v.value.type_name())))
}

fn map<'a>(k: &str, v: &'a Node) -> Result<&'a [(Key, Node)], ConfigError> {
    v.as_map().ok_or_else(|| err(v, format!("\"{k}\" must be a map, got {}", v.value.type_name())))
}

fn seconds(k: &str, v: &Node) -> Result<Duration, ConfigError> {
    let secs = match &v.value {
        Value::Int(n) if *n >= 0 => *n as f64,
        Value::Float(f) if *f >= 0.0 => *f,
        Value::String(s) => super::parse_duration(s).map_err(|e| err(v, format!("error parsing {k}: {e}")))?.as_secs_f64(),
        _ => return Err(err(v, format!("\"{k}\" must be a number of seconds"))),
    };
    Ok(Duration::from_secs_f64(secs))
}

/// A string or an array of strings.
fn strings(k: &str, v: &Node) -> Result<Vec<String>, ConfigError> {
    match &v.value {
        Value::Array(a) => a.iter().map(|n| string(k, n)).collect(),
        _ => Ok(vec![string(k, v)?]),
    }
}

fn not_yet(k: &Key, what: &str) -> ConfigError {
    at_key(k, format!("leafnodes {what} is not supported by natrix yet: remove it or use nats-server for this node"))
}

/// Parses the `leafnodes` block into `l`.
pub fn parse_leafnodes(v: &Node, l: &mut LeafOptions) -> Result<(), ConfigError> {
    for (key, val) in map("leafnodes", v)? {
        let k = key.name.as_str();
        match k.to_ascii_lowercase().as_str() {
            "listen" => {
                let hp = super::listen::parse_listen(k, val)?;
                if let Some(h) = hp.host {
                    l.host = h;
                }
                l.port = hp.port;
            }
            "port" => {
                let n = val.as_int().ok_or_else(|| err(val, format!("\"{k}\" must be an integer, got {}", val.value.type_name())))?;
                if !(-1..=65535).contains(&n) {
                    return Err(err(val, format!("{k} value {n} is out of range (-1..65535)")));
                }
                l.port = n as i32;
            }
            "host" | "net" => l.host = string(k, val)?,
            "advertise" => l.advertise = Some(string(k, val)?),
            "no_advertise" => l.no_advertise = boolean(k, val)?,
            "reconnect" | "reconnect_delay" | "reconnect_interval" => l.reconnect = Some(seconds(k, val)?),
            "authorization" => parse_auth(val, l)?,
            "remotes" => parse_remotes(val, l)?,
            "tls" => return Err(not_yet(key, "\"tls\"")),
            "min_version" | "minimum_version" => return Err(not_yet(key, "\"min_version\"")),
            _ => return Err(at_key(key, format!("unknown field \"{k}\""))),
        }
    }
    Ok(())
}

fn parse_auth(v: &Node, l: &mut LeafOptions) -> Result<(), ConfigError> {
    for (key, val) in map("authorization", v)? {
        let k = key.name.as_str();
        match k.to_ascii_lowercase().as_str() {
            "user" | "username" => l.user = Some(string(k, val)?),
            "pass" | "password" => l.password = Some(Secret(string(k, val)?)),
            "account" => l.account = Some(string(k, val)?),
            "timeout" => l.auth_timeout = Some(seconds(k, val)?),
            "users" => {
                let Value::Array(items) = &val.value else {
                    return Err(err(val, format!("\"users\" must be an array, got {}", val.value.type_name())));
                };
                for item in items {
                    l.users.push(parse_user(item)?);
                }
            }
            _ => return Err(at_key(key, format!("unknown field \"{k}\""))),
        }
    }
    Ok(())
}

fn parse_user(v: &Node) -> Result<LeafUser, ConfigError> {
    let (mut user, mut password, mut account) = (None, None, None);
    for (key, val) in map("users", v)? {
        let k = key.name.as_str();
        match k.to_ascii_lowercase().as_str() {
            "user" | "username" => user = Some(string(k, val)?),
            "pass" | "password" => password = Some(Secret(string(k, val)?)),
            "account" => account = Some(string(k, val)?),
            _ => return Err(at_key(key, format!("unknown field \"{k}\""))),
        }
    }
    let user = user.ok_or_else(|| err(v, "leafnode user entry needs a user"))?;
    Ok(LeafUser { user, password: password.unwrap_or(Secret(String::new())), account })
}

fn parse_remotes(v: &Node, l: &mut LeafOptions) -> Result<(), ConfigError> {
    let Value::Array(items) = &v.value else {
        return Err(err(v, format!("Expected remotes field to be an array, got {}", v.value.type_name())));
    };
    for item in items {
        let mut r = RemoteLeaf::default();
        for (key, val) in map("remotes", item)? {
            let k = key.name.as_str();
            match k.to_ascii_lowercase().as_str() {
                "url" | "urls" => {
                    for s in strings(k, val)? {
                        r.urls.push(LeafUrl::parse(&s).map_err(|e| err(val, e))?);
                    }
                }
                "account" | "local" => r.account = Some(string(k, val)?),
                "deny_imports" | "deny_import" => r.deny_imports = strings(k, val)?,
                "deny_exports" | "deny_export" => r.deny_exports = strings(k, val)?,
                "hub" => r.hub = boolean(k, val)?,
                "creds" | "credentials" => return Err(not_yet(key, "remote \"credentials\" (.creds)")),
                "tls" => return Err(not_yet(key, "remote \"tls\"")),
                "ws_compress" | "ws_compression" | "websocket_compress" | "websocket_compression" | "ws_no_masking"
                | "websocket_no_masking" => return Err(not_yet(key, "websocket remote option")),
                "jetstream_cluster_migrate" | "js_cluster_migrate" => return Err(not_yet(key, "\"jetstream_cluster_migrate\"")),
                _ => return Err(at_key(key, format!("unknown field \"{k}\""))),
            }
        }
        l.remotes.push(r);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::Options;
    use std::path::Path;

    fn load(src: &str) -> Result<Options, String> {
        Options::from_str(src, Path::new("t.conf")).map(|(o, _)| o).map_err(|e| e.to_string())
    }

    #[test]
    fn full_block() {
        let o = load(
            "accounts { A: {} }\nleafnodes {\n listen: 127.0.0.1:7422\n advertise: \"ex:1\"\n no_advertise: true\n reconnect: 2\n \
             authorization { users: [{user: a, password: b, account: A}, {user: c, password: d}], timeout: 0.5 }\n \
             remotes: [ { url: \"nats://u:p@h:7422\", account: A, deny_imports: [\"x.>\"], deny_exports: \"y\", hub: true },\n \
             { urls: [\"nats://h1:1\", \"nats-leaf://h2:2\"] } ]\n}\n",
        )
        .unwrap();
        let l = o.leafnodes.clone().unwrap();
        assert_eq!((l.host.as_str(), l.port), ("127.0.0.1", 7422));
        assert_eq!((l.advertise.as_deref(), l.no_advertise), (Some("ex:1"), true));
        assert_eq!(l.reconnect_delay(), std::time::Duration::from_secs(2));
        assert_eq!(l.users.len(), 2);
        assert_eq!(l.users[0].account.as_deref(), Some("A"));
        assert_eq!(l.remotes[0].urls[0].user.as_deref(), Some("u"));
        assert_eq!(l.remotes[0].deny_exports, vec!["y".to_string()]);
        assert!(l.remotes[0].hub && !l.remotes[1].hub);
        assert_eq!(l.remotes[1].urls[1].host_port(), "h2:2");
        o.validate().unwrap();
    }

    #[test]
    fn refused_with_position() {
        assert_eq!(load("leafnodes {\n  port: 7422\n  pool: 3\n}\n").unwrap_err(), "t.conf:3:3: unknown field \"pool\"");
        // Texts and positions as nats-server 2.9.10 -t prints them.
        assert_eq!(load("leafnodes {\n  authorization { user: a, token: x }\n}\n").unwrap_err(), "t.conf:2:28: unknown field \"token\"");
        assert_eq!(
            load("leafnodes {\n  authorization { users: [{user: a, password: b, permissions: {publish: x}}] }\n}\n").unwrap_err(),
            "t.conf:2:50: unknown field \"permissions\""
        );
        let e = load("leafnodes {\n  tls { cert_file: x }\n}\n").unwrap_err();
        assert!(e.starts_with("t.conf:2:3: leafnodes \"tls\" is not supported by natrix yet"), "{e}");
        let e = load("leafnodes {\n remotes: [ { url: \"nats://h:1\", credentials: \"/x.creds\" } ]\n}\n").unwrap_err();
        assert!(e.starts_with("t.conf:2:") && e.contains("credentials"), "{e}");
        let e = load("leafnodes {\n remotes: [ { url: \"tls://h:1\" } ]\n}\n").unwrap_err();
        assert!(e.starts_with("t.conf:2:") && e.contains("TLS remotes"), "{e}");
        let e = load("leafnodes {\n remotes: [ { urls: [\"nats://h:1\"], compression: on } ]\n}\n").unwrap_err();
        assert_eq!(e, "t.conf:2:37: unknown field \"compression\"");
        let o = load("leafnodes { port: -1, authorization { account: NOPE } }").unwrap();
        assert!(o.validate().unwrap_err().contains("NOPE"));
        let o = load("leafnodes { port: -1, authorization { user: a, password: b, users: [{user: c, password: d}] } }").unwrap();
        assert!(o.validate().is_err());
    }
}
