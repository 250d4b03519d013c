//! Clients follow the cluster: the client INFO `connect_urls` lists this server's
//! client URL first, then those the route peers announce; a route that registers or
//! drops sends an async INFO to clients that sent `protocol:1` and have had their
//! first PONG. Differential: the node under test is natrix, then nats-server 2.9.10,
//! each routed to a nats-server peer, and both must show the same events. Raw
//! sockets, every wait bounded, servers die with the test.
mod common;

use common::raw::{info_json, RawClient};
use common::{free_port, Target, TestServer};
use std::time::{Duration, Instant};

fn cluster_args(cluster: u16, routes: Option<u16>, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = vec!["--cluster".into(), format!("nats://127.0.0.1:{cluster}"), "--cluster_name".into(), "C1".into()];
    if let Some(r) = routes {
        a.push("--routes".into());
        a.push(format!("nats://127.0.0.1:{r}"));
    }
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn start(t: Target, cluster: u16, routes: Option<u16>, extra: &[&str]) -> TestServer {
    let args = cluster_args(cluster, routes, extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    TestServer::start_on(t, None, &args)
}

/// The `connect_urls` of an INFO line, with ports named (`X` the node, `P` the peer).
fn urls(line: &str, x: u16, p: u16) -> Vec<String> {
    let v = info_json(line);
    let list = v["connect_urls"].as_array().cloned().unwrap_or_default();
    list.iter()
        .map(|u| u.as_str().unwrap_or("?").replace(&x.to_string(), "X").replace(&p.to_string(), "P"))
        .collect()
}

/// The next INFO line (answering server PINGs meanwhile), or None within `within`.
fn next_info(c: &mut RawClient, within: Duration) -> Option<String> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        let line = c.read_line(deadline.saturating_duration_since(Instant::now()))?;
        if line.starts_with(b"PING") {
            c.send(b"PONG\r\n");
            continue;
        }
        if line.starts_with(b"INFO ") {
            return Some(String::from_utf8_lossy(&line).into_owned());
        }
    }
    None
}

/// Publishes on the peer until a subscriber on `x` gets one: the route is registered
/// on both sides (interest crossed it).
fn route_is_up(x: u16, peer: u16) {
    let mut sub = RawClient::connect_with(x, r#"{"verbose":false}"#);
    sub.send(b"SUB probe 1\r\n");
    sub.sync();
    let mut publ = RawClient::connect_with(peer, r#"{"verbose":false}"#);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        publ.send(b"PUB probe 0\r\n\r\n");
        if sub.read_until(b"MSG probe 1 0\r\n", Duration::from_millis(100)).is_some() {
            return;
        }
    }
    panic!("the route between 127.0.0.1:{x} and 127.0.0.1:{peer} never came up");
}

/// What clients of node `t` see while a nats-server peer joins and then dies.
fn scenario(t: Target, extra: &[&str]) -> Vec<String> {
    let xc = free_port();
    let x = start(t, xc, None, extra);
    let mut ev = Vec::new();
    let mut p1 = RawClient::connect_with(x.port, r#"{"verbose":false,"protocol":1}"#);
    let mut p0 = RawClient::connect_with(x.port, r#"{"verbose":false,"protocol":0}"#);
    // protocol 1 without a PING yet: no first PONG, so no async INFO.
    let mut early = RawClient::connect(x.port);
    early.send(b"CONNECT {\"verbose\":false,\"protocol\":1}\r\n");
    ev.push(format!("before: {:?} cluster={}", urls(&p1.info, x.port, 0), info_json(&p1.info)["cluster"]));

    let peer = start(Target::NatsServer, free_port(), Some(xc), &[]);
    let pp = peer.port;
    route_is_up(x.port, pp);
    ev.push(format!("p1 on join: {:?}", next_info(&mut p1, Duration::from_secs(1)).map(|l| urls(&l, x.port, pp))));
    ev.push(format!("p0 on join: {:?}", next_info(&mut p0, Duration::from_millis(300)).map(|l| urls(&l, x.port, pp))));
    ev.push(format!("no first PONG: {:?}", next_info(&mut early, Duration::from_millis(300)).map(|l| urls(&l, x.port, pp))));
    let fresh = RawClient::connect(x.port);
    ev.push(format!("new client: {:?}", urls(&fresh.info, x.port, pp)));
    // Its first PONG is followed by the INFO it missed.
    early.send(b"PING\r\n");
    let before_pong = early.read_until_pong();
    ev.push(format!("before first PONG: {:?}", String::from_utf8_lossy(&before_pong)));
    ev.push(format!("after first PONG: {:?}", next_info(&mut early, Duration::from_millis(500)).map(|l| urls(&l, x.port, pp))));

    drop(peer);
    // X notices the route is gone at once (the peer's socket closes).
    ev.push(format!("p1 on drop: {:?}", next_info(&mut p1, Duration::from_secs(2)).map(|l| urls(&l, x.port, pp))));
    ev.push(format!("early on drop: {:?}", next_info(&mut early, Duration::from_secs(2)).map(|l| urls(&l, x.port, pp))));
    let fresh = RawClient::connect(x.port);
    ev.push(format!("new client: {:?}", urls(&fresh.info, x.port, pp)));
    ev
}

#[test]
fn connect_urls_follow_routes_like_nats_server() {
    let got = scenario(Target::Natrix, &[]);
    let want = [
        "before: [] cluster=\"C1\"",
        "p1 on join: Some([\"127.0.0.1:X\", \"127.0.0.1:P\"])",
        "p0 on join: None",
        "no first PONG: None",
        "new client: [\"127.0.0.1:X\", \"127.0.0.1:P\"]",
        "before first PONG: \"\"",
        "after first PONG: Some([\"127.0.0.1:X\", \"127.0.0.1:P\"])",
        "p1 on drop: Some([\"127.0.0.1:X\"])",
        "early on drop: Some([\"127.0.0.1:X\"])",
        "new client: [\"127.0.0.1:X\"]",
    ];
    assert_eq!(got, want, "natrix");
    if common::skip_without_nats_server() {
        return;
    }
    assert_eq!(scenario(Target::NatsServer, &[]), want, "nats-server");
}

#[test]
fn no_advertise_keeps_clients_uninformed_like_nats_server() {
    let got = scenario(Target::Natrix, &["--no_advertise"]);
    let want = [
        "before: [] cluster=\"C1\"",
        "p1 on join: None",
        "p0 on join: None",
        "no first PONG: None",
        "new client: []",
        "before first PONG: \"\"",
        "after first PONG: None",
        "p1 on drop: None",
        "early on drop: None",
        "new client: []",
    ];
    assert_eq!(got, want, "natrix");
    if common::skip_without_nats_server() {
        return;
    }
    assert_eq!(scenario(Target::NatsServer, &["--no_advertise"]), want, "nats-server");
}
