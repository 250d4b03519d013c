//! One leaf link's handshake (nats-server 2.9.10 `leafnode.go`: `processLeafnodeInfo`,
//! `processLeafnodeConnect`, `leafNodeResumeConnectProcess`), sans-IO.
//!
//! The hub (acceptor) sends INFO with a nonce at once and wants CONNECT first; after
//! authentication it sends INFO `connect_info` + `remote_account`, then its interest.
//! The spoke (dialer) waits for the hub's INFO (which must carry a non-zero
//! `client_id` and `leafnode_urls`), sends CONNECT, and links up on the hub's
//! `connect_info` INFO (at once when the first INFO lacked `info_on_connect`).
use serde::{Deserialize, Serialize};

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A leaf INFO, sent and received (unknown fields are ignored when reading).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeafInfo {
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
    #[serde(default)]
    pub max_payload: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub client_id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub info_on_connect: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub connect_info: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leafnode_urls: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_account: Option<String>,
}

impl LeafInfo {
    pub fn parse(json: &[u8]) -> Result<LeafInfo, serde_json::Error> {
        serde_json::from_slice(json)
    }

    /// `INFO {…} \r\n` (with the trailing space nats-server writes).
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"INFO ");
        if serde_json::to_writer(&mut *out, self).is_err() {
            out.extend_from_slice(b"{}");
        }
        out.extend_from_slice(b" \r\n");
    }
}

/// A leaf CONNECT, sent and received.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeafConnect {
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub tls_required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass: Option<String>,
    #[serde(default)]
    pub server_id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cluster: String,
    #[serde(default)]
    pub headers: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub is_hub: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny_pub: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<String>,
    /// What a client sends in CONNECT (a client on the leaf port has no `server_id`).
    #[serde(default, skip_serializing)]
    pub lang: Option<String>,
}

impl LeafConnect {
    pub fn parse(json: &[u8]) -> Result<LeafConnect, serde_json::Error> {
        serde_json::from_slice(json)
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"CONNECT ");
        if serde_json::to_writer(&mut *out, self).is_err() {
            out.extend_from_slice(b"{}");
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// nats-server's texts.
pub const ERR_WRONG_PORT: &str = "attempted to connect to leaf node port";
pub const ERR_SAME_CLUSTER: &str = "remote leafnode has same cluster name";
pub const ERR_STALE: &str = "Stale Leaf Node Connection - Closing";

/// The loop error, for account `acc`.
pub fn loop_error(acc: &str) -> String {
    format!("Loop detected for leafnode account=\"{acc}\". Delaying attempt to reconnect for 30s")
}

/// The `$LDS.` prefix of loop-detection subjects.
pub const LDS_PREFIX: &[u8] = b"$LDS.";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Hub: waiting for the spoke's CONNECT.
    AwaitConnect,
    /// Hub: CONNECT seen, authentication running in the shell.
    Authenticating,
    /// Spoke: waiting for the hub's first INFO.
    AwaitInfo,
    /// Spoke: CONNECT sent, waiting for the `connect_info` INFO.
    AwaitConnectInfo,
    /// Interest and messages flow.
    Linked,
}

/// What this server is, for the checks.
#[derive(Debug, Clone, Copy)]
pub struct Local<'a> {
    pub server_id: &'a str,
    /// Our cluster name (empty when not clustered).
    pub cluster: &'a str,
}

/// What the shell must do.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    None,
    /// Send `-ERR '<text>'` and close.
    Refuse(String),
    /// Hub: authenticate this CONNECT, then call `authenticated`.
    Authenticate(Box<LeafConnect>),
    /// Spoke: send our CONNECT (the hub's nonce, if any, is in the INFO).
    SendConnect(Box<LeafInfo>),
    /// Spoke: linked (send our interest).
    Linked,
}

/// The handshake state of one leaf link.
#[derive(Debug)]
pub struct LeafLink {
    pub phase: Phase,
    /// We are the hub on this link: we send it all the account's interest.
    pub hub_role: bool,
    pub accepted: bool,
    pub peer_id: String,
    pub peer_name: String,
    /// The peer's cluster name (its messages never go back to a link of that cluster).
    pub peer_cluster: String,
    pub peer_headers: bool,
    /// The account the hub bound the link to (spoke side: from `remote_account`).
    pub remote_account: String,
}

impl LeafLink {
    /// An accepted link (we are the hub unless the CONNECT says `is_hub`).
    pub fn accepted() -> LeafLink {
        LeafLink::new(Phase::AwaitConnect, true, true)
    }

    /// A dialed link (`hub`: the remote's `hub: true`).
    pub fn dialed(hub: bool) -> LeafLink {
        LeafLink::new(Phase::AwaitInfo, hub, false)
    }

    fn new(phase: Phase, hub_role: bool, accepted: bool) -> LeafLink {
        LeafLink {
            phase,
            hub_role,
            accepted,
            peer_id: String::new(),
            peer_name: String::new(),
            peer_cluster: String::new(),
            peer_headers: false,
            remote_account: String::new(),
        }
    }

    pub fn linked(&self) -> bool {
        self.phase == Phase::Linked
    }

    /// Any op before the handshake allows it (hub: before CONNECT).
    pub fn before_connect(&self) -> Option<Action> {
        matches!(self.phase, Phase::AwaitConnect | Phase::Authenticating)
            .then(|| Action::Refuse("Authorization Violation".into()))
    }

    /// The peer's CONNECT (hub side).
    pub fn on_connect(&mut self, json: &[u8], local: &Local<'_>) -> Action {
        if !self.accepted || self.phase != Phase::AwaitConnect {
            return Action::None;
        }
        let Ok(c) = LeafConnect::parse(json) else {
            return Action::Refuse("Protocol Error".into());
        };
        if c.server_id.is_empty() && c.lang.is_some() {
            return Action::Refuse(ERR_WRONG_PORT.into());
        }
        if !local.cluster.is_empty() && c.cluster == local.cluster {
            return Action::Refuse(ERR_SAME_CLUSTER.into());
        }
        if c.server_id == local.server_id {
            return Action::Refuse(loop_error("$G"));
        }
        self.peer_id = c.server_id.clone();
        self.peer_name = c.name.clone();
        self.peer_cluster = c.cluster.clone();
        self.peer_headers = c.headers;
        // A spoke that says it is the hub makes us the spoke on this link.
        self.hub_role = !c.is_hub;
        self.phase = Phase::Authenticating;
        Action::Authenticate(Box::new(c))
    }

    /// The shell authenticated the CONNECT and sent INFO `connect_info`.
    pub fn authenticated(&mut self, account: &str) {
        self.remote_account = account.to_string();
        self.phase = Phase::Linked;
    }

    /// A peer INFO.
    pub fn on_info(&mut self, json: &[u8], local: &Local<'_>) -> Action {
        if self.accepted {
            // The spoke sends none in 2.9.10; a later one changes nothing.
            return Action::None;
        }
        let Ok(info) = LeafInfo::parse(json) else {
            return Action::Refuse("Protocol Error".into());
        };
        match self.phase {
            Phase::AwaitInfo => {
                if info.client_id == 0 || info.leafnode_urls.is_none() {
                    return Action::Refuse("attempted to connect to wrong port".into());
                }
                if info.server_id == local.server_id {
                    return Action::Refuse(loop_error("$G"));
                }
                if let Some(c) = info.cluster.as_deref() {
                    if !c.is_empty() && c == local.cluster {
                        return Action::Refuse(ERR_SAME_CLUSTER.into());
                    }
                }
                self.peer_id = info.server_id.clone();
                self.peer_name = info.server_name.clone();
                self.peer_cluster = info.cluster.clone().unwrap_or_default();
                self.peer_headers = info.headers;
                self.phase = if info.info_on_connect { Phase::AwaitConnectInfo } else { Phase::Linked };
                Action::SendConnect(Box::new(info))
            }
            Phase::AwaitConnectInfo if info.connect_info => {
                self.remote_account = info.remote_account.unwrap_or_else(|| "$G".into());
                self.phase = Phase::Linked;
                Action::Linked
            }
            _ => Action::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCAL: Local<'static> = Local { server_id: "NME", cluster: "" };

    #[test]
    fn hub_side() {
        let mut l = LeafLink::accepted();
        assert!(l.before_connect().is_some());
        let a = l.on_connect(br#"{"version":"2.9.10","server_id":"NS","name":"S","cluster":"SC","headers":true,"user":"u","pass":"p"}"#, &LOCAL);
        let Action::Authenticate(c) = a else { panic!("{a:?}") };
        assert_eq!((c.user.as_deref(), c.pass.as_deref()), (Some("u"), Some("p")));
        assert!(l.hub_role && l.peer_headers);
        assert_eq!(l.peer_cluster, "SC");
        l.authenticated("A");
        assert!(l.linked() && l.before_connect().is_none());
        let mut l = LeafLink::accepted();
        assert_eq!(l.on_connect(br#"{"verbose":false,"lang":"go"}"#, &LOCAL), Action::Refuse(ERR_WRONG_PORT.into()));
        let mut l = LeafLink::accepted();
        let c1 = Local { server_id: "NME", cluster: "C1" };
        assert_eq!(l.on_connect(br#"{"server_id":"NS","cluster":"C1"}"#, &c1), Action::Refuse(ERR_SAME_CLUSTER.into()));
        let mut l = LeafLink::accepted();
        l.on_connect(br#"{"server_id":"NS","is_hub":true}"#, &LOCAL);
        assert!(!l.hub_role, "the peer is the hub");
    }

    #[test]
    fn spoke_side() {
        let mut l = LeafLink::dialed(false);
        let a = l.on_info(br#"{"server_id":"NH","client_id":0,"leafnode_urls":["x:1"]}"#, &LOCAL);
        assert_eq!(a, Action::Refuse("attempted to connect to wrong port".into()));
        let mut l = LeafLink::dialed(false);
        let a = l.on_info(br#"{"server_id":"NH","client_id":4,"nonce":"n","info_on_connect":true,"leafnode_urls":["x:1"]}"#, &LOCAL);
        assert!(matches!(a, Action::SendConnect(ref i) if i.nonce.as_deref() == Some("n")));
        assert!(!l.linked());
        let a = l.on_info(br#"{"server_id":"NH","client_id":4,"connect_info":true,"remote_account":"B"}"#, &LOCAL);
        assert_eq!(a, Action::Linked);
        assert_eq!(l.remote_account, "B");
        let mut l = LeafLink::dialed(false);
        l.on_info(br#"{"server_id":"NH","client_id":4,"leafnode_urls":[]}"#, &LOCAL);
        assert!(l.linked(), "no info_on_connect: linked at once");
        let mut l = LeafLink::dialed(false);
        let a = l.on_info(br#"{"server_id":"NME","client_id":4,"leafnode_urls":[]}"#, &LOCAL);
        assert_eq!(a, Action::Refuse(loop_error("$G")));
    }

    #[test]
    fn info_json_as_nats_server_writes_it() {
        let i = LeafInfo { server_id: "N".into(), client_id: 4, info_on_connect: true, leafnode_urls: Some(vec!["h:1".into()]), ..Default::default() };
        let mut out = Vec::new();
        i.write(&mut out);
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("INFO {\"server_id\":\"N\"") && s.ends_with("} \r\n"), "{s}");
        assert!(s.contains("\"client_id\":4") && s.contains("\"leafnode_urls\":[\"h:1\"]") && !s.contains("connect_info"));
    }
}
