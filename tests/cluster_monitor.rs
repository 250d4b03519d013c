//! Monitoring of a live route: `/varz` `routes`, `remotes` and the `cluster` block,
//! checked against nats-server 2.9.10 in the same topology (the node under test is
//! dialed by a nats-server peer and dials a second one). Bounded waits; servers die
//! with the test.
mod common;

use common::load::{try_varz, wait_varz};
use common::{free_port, Target, TestServer};
use serde_json::Value;
use std::time::Duration;

fn start(t: Target, cluster: u16, routes: Option<u16>, http: Option<u16>) -> TestServer {
    let mut a: Vec<String> = vec!["--cluster".into(), format!("nats://127.0.0.1:{cluster}"), "--cluster_name".into(), "C1".into()];
    if let Some(r) = routes {
        a.push("--routes".into());
        a.push(format!("nats://127.0.0.1:{r}"));
    }
    if let Some(h) = http {
        a.push("-m".into());
        a.push(h.to_string());
    }
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    TestServer::start_on(t, None, &a)
}

/// The node's `/varz` with ports named: its own cluster port `X`, the dialed peer `D`.
fn varz_of(t: Target) -> (Value, Value) {
    let (xc, dc, http) = (free_port(), free_port(), free_port());
    let dialed = start(Target::NatsServer, dc, None, None);
    let x = start(t, xc, Some(dc), Some(http));
    let _dialer = start(Target::NatsServer, free_port(), Some(xc), None);
    wait_varz(http, "routes", Duration::from_secs(10), |n| n == 2).unwrap_or_else(|n| panic!("{t:?}: routes stayed {n}"));
    let v = try_varz(http).expect("varz");
    let mut cluster = v["cluster"].clone();
    if cluster["cluster_port"] == serde_json::json!(xc) {
        cluster["cluster_port"] = "X".into();
    }
    let s = cluster.to_string().replace(&format!(":{dc}\""), ":D\"");
    cluster = serde_json::from_str(&s).expect("json");
    drop((x, dialed));
    (cluster, serde_json::json!({"routes": v["routes"], "remotes": v["remotes"]}))
}

#[test]
fn varz_shows_routes_and_cluster_like_nats_server() {
    let (cluster, counts) = varz_of(Target::Natrix);
    let want = serde_json::json!({"name": "C1", "addr": "127.0.0.1", "cluster_port": "X", "auth_timeout": 2,
        "urls": ["127.0.0.1:D"], "tls_timeout": 2});
    assert_eq!(cluster, want, "natrix cluster block");
    assert_eq!(counts, serde_json::json!({"routes": 2, "remotes": 2}));
    if common::skip_without_nats_server() {
        return;
    }
    let (g_cluster, g_counts) = varz_of(Target::NatsServer);
    assert_eq!(g_cluster, cluster, "same cluster block as nats-server");
    assert_eq!(g_counts, counts);
}

fn get_json(http: u16, path: &str) -> Value {
    use std::io::{Read, Write};
    let mut sock = std::net::TcpStream::connect(("127.0.0.1", http)).expect("monitor");
    sock.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    write!(sock, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").expect("request");
    let mut resp = String::new();
    sock.read_to_string(&mut resp).expect("response");
    let body = resp.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

/// `/routez?subs=1` of node `t` dialed by a nats-server peer whose client has `foo`
/// and a `bar` queue member: (top-level keys, route keys, non-$SYS subjects, facts).
fn routez_of(t: Target) -> (Vec<String>, Vec<String>, Vec<String>, Value) {
    let (xc, http) = (free_port(), free_port());
    let x = start(t, xc, None, Some(http));
    let peer = start(Target::NatsServer, free_port(), Some(xc), None);
    let mut c = common::raw::RawClient::connect_with(peer.port, r#"{"verbose":false}"#);
    c.send(b"SUB foo 1\r\nSUB bar q 2\r\n");
    c.sync();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut v;
    loop {
        v = get_json(http, "/routez?subs=1");
        let subs: Vec<&str> =
            v["routes"][0]["subscriptions_list"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        if subs.contains(&"foo") && subs.contains(&"bar") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{t:?}: interest never showed: {v}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let keys = |o: &Value| o.as_object().map(|m| m.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
    let route = &v["routes"][0];
    let mut subs: Vec<String> = route["subscriptions_list"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).filter(|s| !s.starts_with("$SYS")).map(str::to_string).collect())
        .unwrap_or_default();
    subs.sort();
    let detail = get_json(http, "/routez?subs=detail");
    let facts = serde_json::json!({
        "num_routes": v["num_routes"],
        "did_solicit": route["did_solicit"],
        "is_configured": route["is_configured"],
        "ip": route["ip"],
        "has_detail": detail["routes"][0]["subscriptions_list_detail"].is_array(),
        "no_list_without_subs": get_json(http, "/routez")["routes"][0].get("subscriptions_list").is_none(),
    });
    drop((c, peer, x));
    (keys(&v), keys(route), subs, facts)
}

#[test]
fn routez_matches_nats_server() {
    let got = routez_of(Target::Natrix);
    assert_eq!(got.2, ["bar", "foo"], "the peer's interest");
    assert_eq!(
        got.3,
        serde_json::json!({"num_routes": 1, "did_solicit": false, "is_configured": false, "ip": "127.0.0.1",
            "has_detail": true, "no_list_without_subs": true})
    );
    if common::skip_without_nats_server() {
        return;
    }
    let want = routez_of(Target::NatsServer);
    assert_eq!(got, want, "same /routez shape as nats-server");
}
