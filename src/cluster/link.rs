//! One route link's handshake decisions (nats-server 2.9.10 `createRoute`,
//! `processRouteConnect`, `processRouteInfo`), sans-IO: frames in, actions out.
//!
//! The acceptor sends INFO at once and must see CONNECT as the peer's first op. The
//! dialer sends CONNECT and INFO at once. Either side registers the route when it has
//! the peer's first INFO; later INFOs with another server ID are gossip.
use super::info::{check_connect, ConnectRefusal, RouteConnect, RouteInfo};

/// Who opened the TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Accepted,
    Dialed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Accepted: waiting for the peer's CONNECT.
    AwaitConnect,
    /// Waiting for the peer's first INFO.
    AwaitInfo,
    /// Registered: interest and messages flow.
    Registered,
}

/// What this server is, for the checks.
#[derive(Debug, Clone, Copy)]
pub struct Local<'a> {
    pub server_id: &'a str,
    pub server_name: &'a str,
    pub cluster: &'a str,
    pub user: Option<&'a str>,
    pub password: Option<&'a str>,
}

/// What the shell must do after a handshake op.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing to do.
    None,
    /// Send `-ERR '<text>'` and close.
    Refuse(String),
    /// Close without a word (route to self, duplicate name).
    CloseSilently(&'static str),
    /// The peer's first INFO: register the route (the shell settles duplicates by ID).
    Register(Box<RouteInfo>),
    /// The registered peer announced lame duck mode: its client URLs go.
    PeerLameDuck,
    /// INFO about another server on an established route: a possible implicit route
    /// (`cluster::gossip` decides).
    Gossip(Box<RouteInfo>),
}

/// The handshake state of one route connection.
#[derive(Debug)]
pub struct Link {
    pub role: Role,
    pub phase: Phase,
    /// The peer's server ID and name once known.
    pub peer_id: String,
    pub peer_name: String,
    /// Whether the peer takes HMSG (else headers are stripped).
    pub peer_headers: bool,
}

impl Link {
    pub fn new(role: Role) -> Link {
        let phase = match role {
            Role::Accepted => Phase::AwaitConnect,
            Role::Dialed => Phase::AwaitInfo,
        };
        Link { role, phase, peer_id: String::new(), peer_name: String::new(), peer_headers: false }
    }

    pub fn registered(&self) -> bool {
        self.phase == Phase::Registered
    }

    /// Any op other than CONNECT while an accepted link waits for CONNECT: refused
    /// when the cluster has a user (2.9.10 answers a PING without auth, v).
    pub fn before_connect(&self, auth_required: bool) -> Option<Action> {
        (auth_required && self.phase == Phase::AwaitConnect).then(|| Action::Refuse(ConnectRefusal::Auth.err_text()))
    }

    /// The peer's CONNECT.
    pub fn on_connect(&mut self, json: &[u8], local: &Local<'_>) -> Action {
        if self.role == Role::Dialed || self.phase == Phase::Registered {
            // A second CONNECT (or one sent to the dialer) changes nothing.
            return Action::None;
        }
        let Ok(c) = RouteConnect::parse(json) else {
            return Action::Refuse("Protocol Error".into());
        };
        if let Err(r) = check_connect(&c, local.cluster, local.user, local.password) {
            return Action::Refuse(r.err_text());
        }
        if c.name == local.server_id {
            return Action::CloseSilently("route to self");
        }
        if self.phase == Phase::AwaitConnect {
            self.phase = Phase::AwaitInfo;
        }
        Action::None
    }

    /// A peer INFO.
    pub fn on_info(&mut self, json: &[u8], local: &Local<'_>) -> Action {
        if let Some(a) = self.before_connect(local.user.is_some()) {
            return a;
        }
        let Ok(info) = RouteInfo::parse(json) else {
            return Action::Refuse("Protocol Error".into());
        };
        if self.phase == Phase::Registered {
            // Gossip about another server, or an update of the peer: only lame duck
            // mode changes what we do.
            if info.server_id != self.peer_id {
                return if info.server_id.is_empty() { Action::None } else { Action::Gossip(Box::new(info)) };
            }
            if info.lame_duck_mode {
                return Action::PeerLameDuck;
            }
            return Action::None;
        }
        if info.server_id.is_empty() {
            return Action::Refuse("Protocol Error".into());
        }
        if info.server_id == local.server_id {
            return Action::CloseSilently("route to self");
        }
        if self.role == Role::Accepted && !info.server_name.is_empty() && info.server_name == local.server_name {
            return Action::CloseSilently("duplicate server name");
        }
        if let Some(c) = info.cluster.as_deref() {
            if !c.is_empty() && c != local.cluster {
                return Action::Refuse(
                    ConnectRefusal::ClusterName { theirs: c.to_string(), ours: local.cluster.to_string() }.err_text(),
                );
            }
        }
        self.peer_id = info.server_id.clone();
        self.peer_name = info.server_name.clone();
        self.peer_headers = info.headers;
        self.phase = Phase::Registered;
        Action::Register(Box::new(info))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCAL: Local<'static> =
        Local { server_id: "NME", server_name: "me", cluster: "C1", user: None, password: None };

    fn info(id: &str, name: &str, cluster: &str) -> Vec<u8> {
        format!(r#"{{"server_id":"{id}","server_name":"{name}","cluster":"{cluster}","headers":true}} "#).into_bytes()
    }

    #[test]
    fn acceptor_wants_connect_first() {
        let auth = Local { user: Some("u"), password: Some("p"), ..LOCAL };
        let mut l = Link::new(Role::Accepted);
        assert_eq!(l.before_connect(true), Some(Action::Refuse("Authorization Violation".into())));
        assert_eq!(l.before_connect(false), None);
        assert_eq!(l.on_info(&info("NP", "p", "C1"), &auth), Action::Refuse("Authorization Violation".into()));
        assert_eq!(l.on_connect(br#"{"name":"NP","cluster":"C1","user":"u","pass":"p"}"#, &auth), Action::None);
        assert_eq!(l.before_connect(true), None);
        let Action::Register(i) = l.on_info(&info("NP", "p", "C1"), &LOCAL) else { panic!() };
        assert_eq!(i.server_id, "NP");
        assert!(l.registered() && l.peer_headers);
        // INFO about another server on an established link is gossip.
        let Action::Gossip(g) = l.on_info(&info("NX", "x", "C1"), &LOCAL) else { panic!() };
        assert_eq!(g.server_id, "NX");
        assert!(matches!(l.on_info(br#"{"server_id":"NX","ldm":true}"#, &LOCAL), Action::Gossip(_)), "gossip");
        assert_eq!(l.on_info(br#"{"server_id":"NP"}"#, &LOCAL), Action::None, "an update of the peer");
        assert_eq!(l.on_info(br#"{"server_id":"NP","ldm":true}"#, &LOCAL), Action::PeerLameDuck);
    }

    #[test]
    fn refusals_and_silent_closes() {
        let mut l = Link::new(Role::Accepted);
        assert_eq!(
            l.on_connect(br#"{"lang":"go","verbose":false}"#, &LOCAL),
            Action::Refuse("attempted to connect to route port".into())
        );
        let mut l = Link::new(Role::Accepted);
        assert_eq!(
            l.on_connect(br#"{"name":"NP","cluster":"C2"}"#, &LOCAL),
            Action::Refuse("Rejecting connection, cluster name \"C2\" does not match \"C1\"".into())
        );
        let mut l = Link::new(Role::Accepted);
        assert_eq!(l.on_connect(br#"{"name":"NME","cluster":"C1"}"#, &LOCAL), Action::CloseSilently("route to self"));
        let auth = Local { user: Some("u"), password: Some("p"), ..LOCAL };
        let mut l = Link::new(Role::Accepted);
        assert_eq!(
            l.on_connect(br#"{"name":"NP","cluster":"C1","user":"u","pass":"x"}"#, &auth),
            Action::Refuse("Authorization Violation".into())
        );
        let mut l = Link::new(Role::Dialed);
        assert_eq!(l.on_info(&info("NME", "me", "C1"), &LOCAL), Action::CloseSilently("route to self"));
        let mut l = Link::new(Role::Accepted);
        l.on_connect(br#"{"name":"NP","cluster":"C1"}"#, &LOCAL);
        assert_eq!(l.on_info(&info("NP", "me", "C1"), &LOCAL), Action::CloseSilently("duplicate server name"));
        let mut l = Link::new(Role::Dialed);
        assert!(matches!(l.on_info(b"{not json", &LOCAL), Action::Refuse(_)));
    }
}
