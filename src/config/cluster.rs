//! The `cluster {}` block and the cluster flags (nats-server 2.9.10 `parseCluster`).
use super::error::ConfigError;
use super::parser::{Node, Value};
use crate::auth::config::RuleLists;
use crate::auth::Secret;
use std::time::Duration;

/// nats-server's `DEFAULT_ROUTE_CONNECT` is 1 s; explicit routes are redialled forever.
pub const DEFAULT_CONNECT_RETRIES: u32 = 0;

/// A route to dial: `nats://[user:pass@]host:port` (or `nats-route://`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteUrl {
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub pass: Option<Secret>,
}

impl RouteUrl {
    /// Parses a route URL; the error is the reason it is refused.
    pub fn parse(s: &str) -> Result<RouteUrl, String> {
        let rest = s
            .strip_prefix("nats-route://")
            .or_else(|| s.strip_prefix("nats://"))
            .ok_or_else(|| format!("route URL {s:?} must start with nats:// or nats-route://"))?;
        let rest = rest.trim_end_matches('/');
        let (userinfo, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        let (host, port) = split_host_port(hostport).ok_or_else(|| format!("route URL {s:?} has no valid host:port"))?;
        let port = u16::try_from(port).ok().filter(|p| *p > 0).ok_or_else(|| format!("route URL {s:?} has an invalid port"))?;
        let (user, pass) = match userinfo {
            None => (None, None),
            Some(u) => match u.split_once(':') {
                Some((a, b)) => (Some(a.to_string()), Some(Secret(b.to_string()))),
                None => (Some(u.to_string()), None),
            },
        };
        Ok(RouteUrl { host, port, user, pass })
    }

    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// `host:port`, `[v6]:port`; the port may be -1.
fn split_host_port(s: &str) -> Option<(String, i64)> {
    let (h, p) = if let Some(rest) = s.strip_prefix('[') {
        rest.split_once("]:")?
    } else {
        let (h, p) = s.rsplit_once(':')?;
        if h.contains(':') {
            return None;
        }
        (h, p)
    };
    Some((h.to_string(), p.parse::<i64>().ok()?))
}

/// `cluster { … }`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClusterOptions {
    pub name: Option<String>,
    /// Interface for route connections (default 0.0.0.0).
    pub host: String,
    /// Route port; 0 = clustering off, -1 = a free port.
    pub port: i32,
    /// The `host:port` peers and gossip should use to reach us.
    pub advertise: Option<String>,
    /// Do not tell clients about the other servers' URLs.
    pub no_advertise: bool,
    /// Extra attempts for implicit (gossiped) routes; 0 = one try.
    pub connect_retries: u32,
    pub routes: Vec<RouteUrl>,
    /// Route authorization: the one user peers must present.
    pub user: Option<String>,
    pub password: Option<Secret>,
    pub auth_timeout: Option<Duration>,
    /// Subjects whose interest we send to peers (our subscriptions they may feed).
    pub import: Option<RuleLists>,
    /// Subjects whose interest we accept from peers.
    pub export: Option<RuleLists>,
    /// Route TLS (`tls {}` inside `cluster`): TLS first on every route, peer
    /// certificates always required and verified against `ca_file`.
    pub tls: Option<crate::tls::TlsOptions>,
}

impl ClusterOptions {
    pub fn enabled(&self) -> bool {
        self.port != 0
    }

    /// Cross-field checks (at start and `-t`).
    pub fn validate(&self) -> Result<(), String> {
        if !self.enabled() {
            return Ok(());
        }
        match &self.name {
            None => return Err("cluster name is required: natrix does not support dynamic cluster names (set cluster.name or --cluster_name)".into()),
            Some(n) if n.contains(' ') => return Err("cluster name cannot contain spaces".into()),
            _ => {}
        }
        if !(-1..=65535).contains(&self.port) {
            return Err(format!("invalid cluster port {}", self.port));
        }
        Ok(())
    }
}

fn err(n: &Node, msg: impl Into<String>) -> ConfigError {
    ConfigError::at(&n.pos, msg.into())
}

fn string(k: &str, v: &Node) -> Result<String, ConfigError> {
    v.as_str().map(str::to_string).ok_or_else(|| err(v, format!("\"{k}\" must be a string, got {}", v.value.type_name())))
}

fn boolean(k: &str, v: &Node) -> Result<bool, ConfigError> {
    v.as_bool().ok_or_else(|| err(v, format!("\"{k}\" must be a boolean, got {}", v.value.type_name())))
}

fn port(k: &str, v: &Node) -> Result<i32, ConfigError> {
    let n = v.as_int().ok_or_else(|| err(v, format!("\"{k}\" must be an integer, got {}", v.value.type_name())))?;
    if !(-1..=65535).contains(&n) {
        return Err(err(v, format!("{k} value {n} is out of range (-1..65535)")));
    }
    Ok(n as i32)
}

/// Parses the `cluster` block into `c`.
pub fn parse_cluster(v: &Node, c: &mut ClusterOptions) -> Result<(), ConfigError> {
    let entries = v.as_map().ok_or_else(|| err(v, format!("\"cluster\" must be a map, got {}", v.value.type_name())))?;
    for (key, val) in entries {
        let k = key.name.as_str();
        match k.to_ascii_lowercase().as_str() {
            "name" => c.name = Some(string(k, val)?),
            "listen" => {
                // The same forms and refusals as the client `listen` (nats-server's parseListen).
                let hp = super::listen::parse_listen(k, val)?;
                if let Some(h) = hp.host {
                    c.host = h;
                }
                c.port = hp.port;
            }
            "port" => c.port = port(k, val)?,
            "host" | "net" => c.host = string(k, val)?,
            "advertise" | "cluster_advertise" => c.advertise = Some(string(k, val)?),
            "no_advertise" => c.no_advertise = boolean(k, val)?,
            "connect_retries" => {
                let n = val.as_int().ok_or_else(|| err(val, format!("\"{k}\" must be an integer, got {}", val.value.type_name())))?;
                c.connect_retries = u32::try_from(n).map_err(|_| err(val, format!("{k} value {n} is out of range")))?;
            }
            "routes" => {
                let items: Vec<&Node> = match &val.value {
                    Value::Array(a) => a.iter().collect(),
                    _ => vec![val],
                };
                for n in items {
                    let s = string("routes", n)?;
                    c.routes.push(RouteUrl::parse(&s).map_err(|e| err(n, e))?);
                }
            }
            "authorization" => parse_cluster_auth(&key.pos, val, c)?,
            "permissions" => parse_cluster_permissions(val, c)?,
            "tls" => c.tls = Some(super::cluster_tls::parse_cluster_tls(val)?),
            // 2.10+ keys: nats-server 2.9.10 refuses them exactly so.
            _ => return Err(ConfigError::at(&key.pos, format!("unknown field \"{k}\""))),
        }
    }
    Ok(())
}

fn parse_cluster_auth(at: &super::Pos, v: &Node, c: &mut ClusterOptions) -> Result<(), ConfigError> {
    let entries = v.as_map().ok_or_else(|| err(v, format!("\"authorization\" must be a map, got {}", v.value.type_name())))?;
    for (key, val) in entries {
        let k = key.name.as_str();
        match k.to_ascii_lowercase().as_str() {
            "user" | "username" => c.user = Some(string(k, val)?),
            "pass" | "password" => c.password = Some(Secret(string(k, val)?)),
            "timeout" => {
                let secs = match &val.value {
                    Value::Int(n) if *n >= 0 => *n as f64,
                    Value::Float(f) if *f >= 0.0 => *f,
                    Value::String(s) => super::parse_duration(s).map_err(|e| err(val, format!("error parsing timeout: {e}")))?.as_secs_f64(),
                    _ => return Err(err(val, "\"timeout\" must be a number of seconds")),
                };
                c.auth_timeout = Some(Duration::from_secs_f64(secs));
            }
            // nats-server reports these at the `authorization` key.
            "token" => return Err(ConfigError::at(at, "Cluster authorization does not support tokens")),
            "users" => return Err(ConfigError::at(at, "Cluster authorization does not allow multiple users")),
            "permissions" => {
                return Err(ConfigError::at(&key.pos, "permissions inside cluster authorization are deprecated: natrix only supports cluster { permissions {} }"))
            }
            _ => return Err(ConfigError::at(&key.pos, format!("unknown field \"{k}\""))),
        }
    }
    Ok(())
}

fn parse_cluster_permissions(v: &Node, c: &mut ClusterOptions) -> Result<(), ConfigError> {
    let entries = v.as_map().ok_or_else(|| err(v, format!("\"permissions\" must be a map, got {}", v.value.type_name())))?;
    for (key, val) in entries {
        match key.name.to_ascii_lowercase().as_str() {
            "import" => c.import = Some(crate::auth::config::parse_rules(val, false)?),
            "export" => c.export = Some(crate::auth::config::parse_rules(val, false)?),
            other => return Err(ConfigError::at(&key.pos, format!("unknown field \"{other}\" in cluster permissions"))),
        }
    }
    Ok(())
}

/// `--cluster nats://[user:pass@]host:port` (`-1` picks a free port).
pub fn apply_cluster_flag(c: &mut ClusterOptions, url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("nats://")
        .or_else(|| url.strip_prefix("nats-route://"))
        .ok_or_else(|| format!("invalid value {url:?} for flag -cluster: must be nats://host:port"))?;
    let rest = rest.trim_end_matches('/');
    let (userinfo, hostport) = match rest.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, rest),
    };
    let (host, port) = split_host_port(hostport).ok_or_else(|| format!("invalid value {url:?} for flag -cluster: bad host:port"))?;
    if !(-1..=65535).contains(&port) {
        return Err(format!("invalid value {url:?} for flag -cluster: port out of range"));
    }
    if let Some(u) = userinfo {
        let (user, pass) = u.split_once(':').ok_or_else(|| format!("invalid value {url:?} for flag -cluster: user without password"))?;
        c.user = Some(user.to_string());
        c.password = Some(Secret(pass.to_string()));
    }
    if !host.is_empty() {
        c.host = host;
    }
    c.port = port as i32;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Options;
    use std::path::Path;

    fn load(src: &str) -> Result<Options, String> {
        Options::from_str(src, Path::new("t.conf")).map(|(o, _)| o).map_err(|e| e.to_string())
    }

    #[test]
    fn full_block() {
        let o = load(
            "cluster {\n name: C1\n listen: 127.0.0.1:6222\n advertise: \"ex:1\"\n no_advertise: true\n connect_retries: 3\n \
             routes: [nats://a:b@h1:1, \"nats-route://h2:2/\"]\n authorization { user: u, password: p, timeout: 0.5 }\n \
             permissions { import: [\"a.>\"], export: { allow: \"b.*\", deny: \"b.x\" } }\n}\n",
        )
        .unwrap();
        let c = o.cluster.unwrap();
        assert_eq!(c.name.as_deref(), Some("C1"));
        assert_eq!((c.host.as_str(), c.port), ("127.0.0.1", 6222));
        assert_eq!(c.advertise.as_deref(), Some("ex:1"));
        assert!(c.no_advertise);
        assert_eq!(c.connect_retries, 3);
        assert_eq!(c.routes.len(), 2);
        assert_eq!(c.routes[0].user.as_deref(), Some("a"));
        assert_eq!(c.routes[0].pass, Some(Secret("b".into())));
        assert_eq!(c.routes[1].host_port(), "h2:2");
        assert_eq!(c.user.as_deref(), Some("u"));
        assert_eq!(c.auth_timeout, Some(Duration::from_millis(500)));
        assert_eq!(c.import.unwrap().allow, Some(vec!["a.>".to_string()]));
        assert_eq!(c.export.unwrap().deny, Some(vec!["b.x".to_string()]));
    }

    #[test]
    fn bare_number_is_port_and_host_port_keys() {
        let c = load("cluster { name: C, listen: 7000 }").unwrap().cluster.unwrap();
        assert_eq!(c.port, 7000);
        let c = load("cluster { name: C, host: 10.0.0.1, port: -1 }").unwrap().cluster.unwrap();
        assert_eq!((c.host.as_str(), c.port), ("10.0.0.1", -1));
    }

    #[test]
    fn refused_like_nats_server() {
        // Texts and positions as nats-server 2.9.10 -t prints them.
        assert_eq!(load("cluster {\n  name: C1\n  port: 6999\n  pool_size: 3\n}\n").unwrap_err(), "t.conf:4:3: unknown field \"pool_size\"");
        assert_eq!(load("cluster {\n  name: C1\n  accounts: [A]\n}\n").unwrap_err(), "t.conf:3:3: unknown field \"accounts\"");
        assert_eq!(load("cluster {\n  compression: on\n}\n").unwrap_err(), "t.conf:2:3: unknown field \"compression\"");
        assert_eq!(
            load("cluster {\n name: C1\n authorization { user: a, password: b, token: x}\n}\n").unwrap_err(),
            "t.conf:3:2: Cluster authorization does not support tokens"
        );
        let e = load("cluster {\n routes: [\"http://x:1\"]\n}\n").unwrap_err();
        assert!(e.starts_with("t.conf:2:"), "{e}");
    }

    #[test]
    fn name_required_when_enabled() {
        let o = load("cluster { port: 7000 }").unwrap();
        assert!(o.validate().unwrap_err().contains("cluster name is required"));
        let o = load("cluster { name: C }").unwrap();
        assert!(!o.cluster.as_ref().unwrap().enabled());
        o.validate().unwrap();
    }

    #[test]
    fn cluster_flag_urls() {
        let mut c = ClusterOptions::default();
        apply_cluster_flag(&mut c, "nats://u:p@127.0.0.1:-1").unwrap();
        assert_eq!((c.host.as_str(), c.port, c.user.as_deref()), ("127.0.0.1", -1, Some("u")));
        assert!(apply_cluster_flag(&mut c, "127.0.0.1:5").is_err());
        let r = RouteUrl::parse("nats://[::1]:4248").unwrap();
        assert_eq!(r.host_port(), "[::1]:4248");
        assert!(RouteUrl::parse("nats://h:0").is_err());
    }
}
