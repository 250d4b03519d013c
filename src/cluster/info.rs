//! Route INFO and CONNECT JSON (nats-server 2.9.10 field names), and the checks a
//! route handshake makes. Sans-IO.
use serde::{Deserialize, Serialize};

fn is_false(b: &bool) -> bool {
    !*b
}

/// Subject lists of cluster permissions, as INFO `import`/`export` carry them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectPermission {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
}

/// A route INFO, sent and received (unknown fields are ignored when reading).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteInfo {
    #[serde(default)]
    pub server_id: String,
    #[serde(default)]
    pub server_name: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub proto: i32,
    #[serde(default)]
    pub go: String,
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub port: u16,
    #[serde(default)]
    pub headers: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub auth_required: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub tls_required: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub tls_verify: bool,
    #[serde(default)]
    pub max_payload: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub cluster_dynamic: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connect_urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import: Option<SubjectPermission>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export: Option<SubjectPermission>,
    #[serde(rename = "ldm", default, skip_serializing_if = "is_false")]
    pub lame_duck_mode: bool,
    /// Leaf-origin support; natrix never sets it, so peers send no LS+/LMSG.
    #[serde(default, skip_serializing_if = "is_false")]
    pub lnoc: bool,
}

impl RouteInfo {
    /// Parses an INFO body (initial ones end `} `, forwarded ones `}`).
    pub fn parse(json: &[u8]) -> Result<RouteInfo, serde_json::Error> {
        serde_json::from_slice(json.trim_ascii())
    }

    /// `INFO {…} \r\n` (the initial form, with the trailing space nats-server writes).
    pub fn write(&self, out: &mut Vec<u8>, initial: bool) {
        out.extend_from_slice(b"INFO ");
        let _ = serde_json::to_writer(&mut *out, self);
        out.extend_from_slice(if initial { b" \r\n" } else { b"\r\n" });
    }

    /// The address to dial for this server: `ip` (`nats-route://h:p/`) or host:port.
    pub fn dial_address(&self) -> Option<String> {
        if let Some(ip) = &self.ip {
            let s = ip.trim_start_matches("nats-route://").trim_start_matches("nats://").trim_end_matches('/');
            let s = s.rsplit_once('@').map_or(s, |(_, h)| h);
            if !s.is_empty() {
                return Some(s.to_string());
            }
        }
        if self.host.is_empty() || self.port == 0 {
            return None;
        }
        Some(if self.host.contains(':') { format!("[{}]:{}", self.host, self.port) } else { format!("{}:{}", self.host, self.port) })
    }
}

/// A route CONNECT, sent and received.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteConnect {
    #[serde(default)]
    pub echo: bool,
    #[serde(default)]
    pub verbose: bool,
    #[serde(default)]
    pub pedantic: bool,
    #[serde(default)]
    pub tls_required: bool,
    #[serde(default)]
    pub headers: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass: Option<String>,
    /// The sender's server ID (not its name).
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub cluster: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub cluster_dynamic: bool,
    /// Only clients send `lang`: a client on the route port.
    #[serde(default, skip_serializing)]
    pub lang: Option<String>,
    #[serde(default, skip_serializing)]
    pub gateway: Option<String>,
}

impl RouteConnect {
    pub fn parse(json: &[u8]) -> Result<RouteConnect, serde_json::Error> {
        serde_json::from_slice(json.trim_ascii())
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"CONNECT ");
        let _ = serde_json::to_writer(&mut *out, self);
        out.extend_from_slice(b"\r\n");
    }
}

/// Why an accepted route's CONNECT is refused: the `-ERR` text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectRefusal {
    ClientOnRoutePort,
    Gateway(String),
    Auth,
    ClusterName { theirs: String, ours: String },
}

impl ConnectRefusal {
    pub fn err_text(&self) -> String {
        match self {
            ConnectRefusal::ClientOnRoutePort => "attempted to connect to route port".into(),
            ConnectRefusal::Gateway(g) => format!("Rejecting connection from gateway \"{g}\" on the Route port"),
            ConnectRefusal::Auth => "Authorization Violation".into(),
            ConnectRefusal::ClusterName { theirs, ours } => {
                format!("Rejecting connection, cluster name \"{theirs}\" does not match \"{ours}\"")
            }
        }
    }
}

/// The checks nats-server makes on an accepted route's CONNECT (in its order).
pub fn check_connect(
    c: &RouteConnect,
    our_cluster: &str,
    user: Option<&str>,
    password: Option<&str>,
) -> Result<(), ConnectRefusal> {
    if c.lang.is_some() {
        return Err(ConnectRefusal::ClientOnRoutePort);
    }
    if let Some(g) = &c.gateway {
        return Err(ConnectRefusal::Gateway(g.clone()));
    }
    if let Some(u) = user {
        let ok = c.user.as_deref() == Some(u) && c.pass.as_deref().unwrap_or("") == password.unwrap_or("");
        if !ok {
            return Err(ConnectRefusal::Auth);
        }
    }
    if !c.cluster.is_empty() && c.cluster != our_cluster {
        return Err(ConnectRefusal::ClusterName { theirs: c.cluster.clone(), ours: our_cluster.to_string() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_nats_server_route_info() {
        let i = RouteInfo::parse(br#"{"server_id":"NABC","server_name":"X2","version":"2.9.10","proto":1,"go":"go1.19","host":"127.0.0.1","port":16226,"headers":true,"max_payload":1048576,"ip":"nats-route://127.0.0.1:16226/","cluster":"C1","connect_urls":["127.0.0.1:4222"],"lnoc":true,"jetstream":true} "#).unwrap();
        assert_eq!(i.server_id, "NABC");
        assert_eq!(i.dial_address().as_deref(), Some("127.0.0.1:16226"));
        assert_eq!(i.connect_urls, ["127.0.0.1:4222"]);
        let mut out = Vec::new();
        RouteInfo { server_id: "N1".into(), headers: true, ..Default::default() }.write(&mut out, true);
        assert!(out.ends_with(b"} \r\n") && out.starts_with(b"INFO {\"server_id\":\"N1\""));
    }

    #[test]
    fn connect_checks_and_texts() {
        let good = RouteConnect { name: "N1".into(), cluster: "C1".into(), user: Some("u".into()), pass: Some("p".into()), ..Default::default() };
        assert_eq!(check_connect(&good, "C1", Some("u"), Some("p")), Ok(()));
        let e = check_connect(&good, "C1", Some("u"), Some("x")).unwrap_err();
        assert_eq!(e.err_text(), "Authorization Violation");
        let e = check_connect(&good, "C2", None, None).unwrap_err();
        assert_eq!(e.err_text(), "Rejecting connection, cluster name \"C1\" does not match \"C2\"");
        let client = RouteConnect::parse(br#"{"lang":"go","verbose":false}"#).unwrap();
        assert_eq!(check_connect(&client, "C1", None, None).unwrap_err().err_text(), "attempted to connect to route port");
        let mut out = Vec::new();
        good.write(&mut out);
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("CONNECT {\"echo\":false") && !s.contains("lang"), "{s}");
    }
}
