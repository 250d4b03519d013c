//! Gossip and implicit routes (nats-server 2.9.10 `forwardNewRouteInfoToKnownServers`,
//! `processImplicitRoute`, `addRoute`), sans-IO: the decisions, not the sockets.
//!
//! When a server registers a new route while it has others, it sends the newcomer's
//! INFO (nonce removed, `ip` set to where the newcomer can be dialed) to each other
//! route. A server that gets such an INFO on an established route, for another server
//! ID, dials that address as an *implicit* route unless it is itself, already linked,
//! a configured (explicit) route, or already being dialed. Implicit routes are tried
//! `1 + connect_retries` times and not redialed after they drop (the newcomer comes
//! back through its own explicit routes, and is gossiped again).
//!
//! When both servers dial each other, each ends with two connections to the same peer.
//! Both sides keep the same one, the connection dialed by the server whose ID sorts
//! first, so that they never drop both; nats-server keeps the first registered and
//! redials if that one goes, so a mixed pair converges through a redial.
use super::info::RouteInfo;
use crate::auth::Secret;
use crate::config::cluster::RouteUrl;
use std::net::IpAddr;

/// The INFO line forwarded to the other routes when route `peer` (connected from
/// `remote_ip`) registers: the peer's INFO without nonce, with `ip` set to
/// `nats-route://<remote ip>:<its INFO port>/` unless the peer set `ip` itself, and
/// in the forwarded form (`}\r\n`, v).
pub fn forward_line(peer: &RouteInfo, remote_ip: IpAddr) -> Vec<u8> {
    let mut info = peer.clone();
    info.nonce = None;
    if info.ip.as_deref().is_none_or(str::is_empty) {
        let host = match remote_ip {
            IpAddr::V6(v6) => format!("[{v6}]"),
            IpAddr::V4(v4) => v4.to_string(),
        };
        info.ip = Some(format!("nats-route://{host}:{}/", info.port));
    }
    let mut out = Vec::with_capacity(512);
    info.write(&mut out, false);
    out
}

/// The addresses a peer's INFO says it can be dialed at (`host:port`, and `ip`), to
/// match against configured route URLs.
pub fn advertised(info: &RouteInfo) -> Vec<String> {
    let mut v = Vec::with_capacity(2);
    if !info.host.is_empty() && info.port != 0 {
        v.push(RouteUrl { host: info.host.clone(), port: info.port, user: None, pass: None }.host_port());
    }
    if let Some(a) = info.dial_address() {
        if !v.contains(&a) {
            v.push(a);
        }
    }
    v
}

/// Why a gossiped server is not dialed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Its ID is ours.
    Ourselves,
    /// A route to it is registered, or a dial for it is under way.
    Known,
    /// Its `host:port` is one of our configured routes (those are dialed anyway).
    Configured,
    /// The INFO has no address to dial.
    NoAddress,
}

/// What a receiver knows when gossip arrives.
pub struct View<'a> {
    pub server_id: &'a str,
    /// The configured (explicit) routes.
    pub configured: &'a [RouteUrl],
    /// The cluster user and password (added when the gossiped server requires auth).
    pub user: Option<&'a str>,
    pub password: Option<&'a str>,
}

/// Gossip about server `info`: the implicit route to dial, or why not.
/// `known(id, host_port)` says whether a route to that server is registered or an
/// implicit dial for it (by ID or address) is pending.
pub fn implicit_route(info: &RouteInfo, view: &View<'_>, known: impl Fn(&str, &str) -> bool) -> Result<RouteUrl, Skip> {
    if info.server_id == view.server_id {
        return Err(Skip::Ourselves);
    }
    // nats-server compares the INFO's host:port with the configured routes' hosts.
    let advertised = RouteUrl { host: info.host.clone(), port: info.port, user: None, pass: None }.host_port();
    if view.configured.iter().any(|r| r.host_port().eq_ignore_ascii_case(&advertised)) {
        return Err(Skip::Configured);
    }
    let Some(addr) = info.dial_address() else { return Err(Skip::NoAddress) };
    let Ok(mut url) = RouteUrl::parse(&format!("nats-route://{addr}")) else { return Err(Skip::NoAddress) };
    if known(&info.server_id, &url.host_port()) {
        return Err(Skip::Known);
    }
    if info.auth_required {
        url.user = view.user.map(str::to_string);
        url.pass = view.password.map(|p| Secret(p.to_string()));
    }
    Ok(url)
}

/// Dials an implicit route gets (nats-server: one try plus `connect_retries`).
pub fn implicit_attempts(connect_retries: u32) -> u32 {
    connect_retries.saturating_add(1)
}

/// Two connections link this server and `peer_id`: whether the newer one (`new_dialed`:
/// we dialed it) replaces the registered one (`old_dialed`). The kept connection is the
/// one dialed by the server whose ID sorts first, so both sides choose the same one.
/// Two connections dialed by the same side: the registered one stays. With a
/// nats-server peer (`peer_is_go`, its INFO has `go`) the registered one stays too, as
/// nats-server decides, so that both sides close the same (newer) link.
pub fn keep_new(local_id: &str, peer_id: &str, old_dialed: bool, new_dialed: bool, peer_is_go: bool) -> bool {
    if peer_is_go || old_dialed == new_dialed {
        return false;
    }
    let we_dial_the_keeper = local_id < peer_id;
    new_dialed == we_dial_the_keeper
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> RouteInfo {
        RouteInfo {
            server_id: "NPEER".into(),
            server_name: "p".into(),
            host: "0.0.0.0".into(),
            port: 6223,
            nonce: Some("abc".into()),
            cluster: Some("C1".into()),
            ..Default::default()
        }
    }

    const VIEW: View<'static> = View { server_id: "NME", configured: &[], user: Some("ru"), password: Some("rp") };

    #[test]
    fn forwarded_info_has_ip_and_no_nonce() {
        let line = String::from_utf8(forward_line(&peer(), "10.1.2.3".parse().unwrap())).unwrap();
        assert!(line.starts_with("INFO {") && line.ends_with("}\r\n") && !line.ends_with("} \r\n"), "{line}");
        assert!(line.contains(r#""ip":"nats-route://10.1.2.3:6223/""#), "{line}");
        assert!(!line.contains("nonce"), "{line}");
        // An `ip` the peer set itself (advertise) is kept.
        let mut p = peer();
        p.ip = Some("nats-route://ex.com:7000/".into());
        let line = String::from_utf8(forward_line(&p, "10.1.2.3".parse().unwrap())).unwrap();
        assert!(line.contains(r#""ip":"nats-route://ex.com:7000/""#), "{line}");
        let line = String::from_utf8(forward_line(&peer(), "::1".parse().unwrap())).unwrap();
        assert!(line.contains(r#""ip":"nats-route://[::1]:6223/""#), "{line}");
    }

    #[test]
    fn gossip_decisions() {
        let mut p = peer();
        p.ip = Some("nats-route://127.0.0.1:6223/".into());
        let url = implicit_route(&p, &VIEW, |_, _| false).unwrap();
        assert_eq!((url.host.as_str(), url.port, url.user.as_deref()), ("127.0.0.1", 6223, None));
        // Auth required: our cluster credentials go along.
        p.auth_required = true;
        let url = implicit_route(&p, &VIEW, |_, _| false).unwrap();
        assert_eq!(url.user.as_deref(), Some("ru"));
        assert_eq!(url.pass.map(|s| s.0).as_deref(), Some("rp"));
        // Known by ID or by address.
        assert_eq!(implicit_route(&p, &VIEW, |id, _| id == "NPEER").unwrap_err(), Skip::Known);
        assert_eq!(implicit_route(&p, &VIEW, |_, hp| hp == "127.0.0.1:6223").unwrap_err(), Skip::Known);
        // Ourselves.
        let me = RouteInfo { server_id: "NME".into(), ..p.clone() };
        assert_eq!(implicit_route(&me, &VIEW, |_, _| false).unwrap_err(), Skip::Ourselves);
        // A configured route with the INFO's host:port.
        let configured = [RouteUrl::parse("nats://0.0.0.0:6223").unwrap()];
        let view = View { configured: &configured, ..VIEW };
        assert_eq!(implicit_route(&p, &view, |_, _| false).unwrap_err(), Skip::Configured);
        // No ip and no port: nothing to dial.
        let none = RouteInfo { server_id: "NX".into(), ..Default::default() };
        assert_eq!(implicit_route(&none, &VIEW, |_, _| false).unwrap_err(), Skip::NoAddress);
        assert_eq!(advertised(&p), ["0.0.0.0:6223", "127.0.0.1:6223"], "host:port, then ip");
        assert_eq!(advertised(&peer()), ["0.0.0.0:6223"]);
        assert_eq!(implicit_attempts(0), 1);
        assert_eq!(implicit_attempts(3), 4);
        assert_eq!(implicit_attempts(u32::MAX), u32::MAX);
    }

    #[test]
    fn both_sides_keep_the_same_duplicate() {
        // A ("NA") and B ("NB") dialed each other: connection X dialed by A, Y by B.
        // On A, X is "dialed"; on B, X is "accepted". Whatever registered first, both
        // keep X (dialed by the smaller ID).
        for (a_first_x, b_first_x) in [(true, true), (true, false), (false, true), (false, false)] {
            let a_keeps_x = if a_first_x { !keep_new("NA", "NB", true, false, false) } else { keep_new("NA", "NB", false, true, false) };
            let b_keeps_x = if b_first_x { !keep_new("NB", "NA", false, true, false) } else { keep_new("NB", "NA", true, false, false) };
            assert!(a_keeps_x && b_keeps_x, "{a_first_x} {b_first_x}");
        }
        // A nats-server peer keeps the first registered: so do we.
        assert!(!keep_new("NA", "NB", true, false, true) && !keep_new("NA", "NB", false, true, true));
        // Two connections dialed by the same side: the first stays.
        assert!(!keep_new("NA", "NB", true, true, false));
        assert!(!keep_new("NA", "NB", false, false, false));
    }
}
