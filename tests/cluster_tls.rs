//! Cluster TLS and cluster permissions with real servers on 127.0.0.1: natrix and
//! nats-server 2.9.10 nodes joined by routes, driven by async-nats clients.
//!
//! TLS: routes form and carry messages both ways over TLS (natrix dials nats-server,
//! nats-server dials natrix, natrix to natrix); a peer whose certificate comes from
//! another CA never forms a route; a plain-text peer against a TLS cluster port is
//! refused (and a raw plain-text dialer gets not a byte, as from nats-server).
//! Certificates are generated at test time (rcgen), with both server and client auth.
//!
//! Permissions (differential): the same `cluster { permissions {} }` on a nats-server
//! node and on a natrix node gives clients the same deliveries.
mod common;
mod tls_support;

use async_nats::Client;
use common::{free_port, Target, TestServer};
use futures::StreamExt;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use tls_support::{Ca, Pem};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

/// A route certificate and the CA file its node trusts.
#[derive(Clone)]
struct RouteTls {
    pem: Pem,
    ca: std::path::PathBuf,
}

struct Node {
    server: TestServer,
    cluster: u16,
    http: u16,
}

/// A node on cluster port `cluster`, dialing `routes`, with optional route TLS and
/// extra lines inside the `cluster` block.
fn node(t: Target, name: &str, cluster: u16, routes: &[u16], tls: Option<&RouteTls>, extra: &str) -> Node {
    let http = free_port();
    let routes: Vec<String> = routes.iter().map(|p| format!("\"nats://127.0.0.1:{p}\"")).collect();
    let tls = tls.map_or(String::new(), |t| {
        format!(
            "tls {{ cert_file: \"{}\", key_file: \"{}\", ca_file: \"{}\", timeout: 2 }}",
            t.pem.cert.display(),
            t.pem.key.display(),
            t.ca.display()
        )
    });
    let conf = format!(
        "cluster {{\n  name: C1\n  listen: \"127.0.0.1:{cluster}\"\n  routes: [{}]\n  {tls}\n  {extra}\n}}\n",
        routes.join(", ")
    );
    let http_s = http.to_string();
    let server = TestServer::start_on(t, Some(&conf), &["-m", &http_s, "--server_name", name]);
    Node { server, cluster, http }
}

fn num_routes(http: u16) -> u64 {
    let Ok(mut sock) = TcpStream::connect(("127.0.0.1", http)) else { return 0 };
    sock.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    write!(sock, "GET /routez HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").expect("request");
    let mut resp = String::new();
    let _ = sock.read_to_string(&mut resp);
    let body = resp.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("routez: {e}: {body}"));
    v["num_routes"].as_u64().expect("num_routes")
}

fn wait_routes(n: &Node, want: u64) {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if num_routes(n.http) == want {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{:?} node never had {want} route(s); log:\n{}", n.server.target, n.server.log());
}

async fn connect(n: &Node) -> Client {
    common::client(&n.server).await
}

/// Publishes probes on `from` until `sub` gets one (interest crossed the route).
async fn wait_interest(from: &Client, sub: &mut async_nats::Subscriber, subject: &str) {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        from.publish(subject.to_string(), "probe".into()).await.expect("publish probe");
        from.flush().await.expect("flush");
        if let Ok(Some(_)) = timeout(Duration::from_millis(100), sub.next()).await {
            while let Ok(Some(_)) = timeout(Duration::from_millis(100), sub.next()).await {}
            return;
        }
    }
    panic!("interest in {subject} never crossed the route");
}

/// 200 messages from `a` reach a subscriber on `b`, in order, once each.
async fn one_way(a: &Client, b: &Client, tag: &str) {
    let mut sub = b.subscribe(format!("{tag}.>")).await.expect("sub");
    b.flush().await.expect("flush");
    wait_interest(a, &mut sub, &format!("{tag}.probe")).await;
    for i in 0..200 {
        a.publish(format!("{tag}.{i}"), format!("{i}").into()).await.expect("publish");
    }
    a.flush().await.expect("flush");
    let mut got = Vec::new();
    while got.len() < 200 {
        match timeout(Duration::from_secs(3), sub.next()).await {
            Ok(Some(m)) => got.push(String::from_utf8_lossy(&m.payload).into_owned()),
            _ => break,
        }
    }
    let want: Vec<String> = (0..200).map(|i| i.to_string()).collect();
    assert_eq!(got, want, "{tag}: all messages, in order, once");
}

struct Certs {
    _dir: tempfile::TempDir,
    good: RouteTls,
    /// A certificate from another CA (the node still trusts the good CA).
    foreign: RouteTls,
}

fn certs() -> Certs {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new(dir.path(), "ca");
    let other = Ca::new(dir.path(), "other-ca");
    let good = RouteTls { pem: ca.route(dir.path(), "route"), ca: ca.pem.cert.clone() };
    let foreign = RouteTls { pem: other.route(dir.path(), "foreign"), ca: ca.pem.cert.clone() };
    Certs { _dir: dir, good, foreign }
}

/// `acceptor` listens, `dialer` dials it; both with route TLS. Messages cross both ways.
async fn tls_pair(acceptor: Target, dialer: Target) {
    let c = certs();
    let a = node(acceptor, "A", free_port(), &[], Some(&c.good), "");
    let b = node(dialer, "B", free_port(), &[a.cluster], Some(&c.good), "");
    wait_routes(&a, 1);
    wait_routes(&b, 1);
    let (ca, cb) = (connect(&a).await, connect(&b).await);
    one_way(&ca, &cb, "ab").await;
    one_way(&cb, &ca, "ba").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_route_natrix_dials_nats_server() {
    if common::skip_without_nats_server() {
        return;
    }
    tls_pair(Target::NatsServer, Target::Natrix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_route_nats_server_dials_natrix() {
    if common::skip_without_nats_server() {
        return;
    }
    tls_pair(Target::Natrix, Target::NatsServer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_route_natrix_to_natrix() {
    tls_pair(Target::Natrix, Target::Natrix).await;
}

/// Two nodes dialing each other that must never link: no route on either side for
/// a few seconds (several redials), and no message crosses.
async fn never_linked(a: &Node, b: &Node) {
    let (ca, cb) = (connect(a).await, connect(b).await);
    let mut sub = cb.subscribe("never.x").await.expect("sub");
    cb.flush().await.expect("flush");
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        assert_eq!(num_routes(a.http), 0, "{:?} formed a route; log:\n{}", a.server.target, a.server.log());
        assert_eq!(num_routes(b.http), 0, "{:?} formed a route; log:\n{}", b.server.target, b.server.log());
        ca.publish("never.x", "x".into()).await.expect("publish");
        ca.flush().await.expect("flush");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(timeout(Duration::from_millis(300), sub.next()).await.is_err(), "a message crossed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_ca_never_forms_a_route() {
    let c = certs();
    let mut others = vec![Target::Natrix];
    if !common::skip_without_nats_server() {
        others.push(Target::NatsServer);
    }
    for other in others {
        // Each dials the other: natrix refuses the foreign client certificate when it
        // accepts, and the foreign server certificate when it dials.
        let (pa, pb) = (free_port(), free_port());
        let a = node(Target::Natrix, "A", pa, &[pb], Some(&c.good), "");
        let b = node(other, "B", pb, &[pa], Some(&c.foreign), "");
        never_linked(&a, &b).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_peer_is_refused_by_a_tls_cluster() {
    let c = certs();
    let mut others = vec![Target::Natrix];
    if !common::skip_without_nats_server() {
        others.push(Target::NatsServer);
    }
    for other in &others {
        let (pa, pb) = (free_port(), free_port());
        let a = node(Target::Natrix, "A", pa, &[pb], Some(&c.good), "");
        let b = node(*other, "B", pb, &[pa], None, "");
        never_linked(&a, &b).await;
    }
    // On the wire: a plain-text route CONNECT gets no byte back, just the close (as
    // from nats-server, which starts route TLS before anything else).
    for t in others {
        let a = node(t, "A", free_port(), &[], Some(&c.good), "");
        let mut s = TcpStream::connect(("127.0.0.1", a.cluster)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        let _ = s.write_all(b"CONNECT {\"name\":\"NX\",\"cluster\":\"C1\"}\r\n");
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        assert!(got.is_empty(), "{t:?} answered plain text: {:?}", String::from_utf8_lossy(&got));
    }
}

const PERMS: &str = "permissions {\n    import: { allow: [\"imp.>\", \"both.>\"], deny: \"imp.secret\" }\n    \
                     export: { allow: [\"exp.>\", \"both.>\"], deny: [\"exp.secret\"] }\n  }";

/// Receives on each of `subs` until `marker` arrives on the last one (published after
/// everything else); returns "<sub> <- <subject>" lines, sorted.
async fn deliveries(subs: &mut [(String, async_nats::Subscriber)]) -> Vec<String> {
    let mut out = Vec::new();
    let deadline = Instant::now() + WAIT;
    let last = subs.len() - 1;
    let mut marker_seen = false;
    while !marker_seen && Instant::now() < deadline {
        let (name, sub) = &mut subs[last];
        if let Ok(Some(m)) = timeout(Duration::from_millis(100), sub.next()).await {
            if m.subject.as_str().ends_with(".marker") {
                marker_seen = true;
            } else {
                out.push(format!("{name} <- {}", m.subject));
            }
        }
    }
    assert!(marker_seen, "the marker never arrived");
    for (name, sub) in subs.iter_mut().take(last) {
        while let Ok(Some(m)) = timeout(Duration::from_millis(300), sub.next()).await {
            out.push(format!("{name} <- {}", m.subject));
        }
    }
    out.sort();
    out
}

/// Node X has the cluster permissions, node Y (dialing X) has none. Returns what
/// subscribers on each node got from a publisher on the other.
async fn permissions_outcome(x_target: Target, y_target: Target) -> (Vec<String>, Vec<String>) {
    let x = node(x_target, "X", free_port(), &[], None, PERMS);
    let y = node(y_target, "Y", free_port(), &[x.cluster], None, "");
    wait_routes(&x, 1);
    wait_routes(&y, 1);
    let (cx, cy) = (connect(&x).await, connect(&y).await);
    // Interest on Y for X's messages: X's `export` decides which it accepts.
    let mut on_y = Vec::new();
    for s in ["exp.a", "other.a", "exp.secret", "exp.*", "both.y.>"] {
        on_y.push((s.to_string(), cy.subscribe(s.to_string()).await.expect("sub")));
    }
    // Interest on X for Y's messages: X's `import` decides which it sends.
    let mut on_x = Vec::new();
    for s in ["imp.a", "imp.secret", "nope.a", "imp.*", "both.x.>"] {
        on_x.push((s.to_string(), cx.subscribe(s.to_string()).await.expect("sub")));
    }
    cx.flush().await.expect("flush");
    cy.flush().await.expect("flush");
    // The `both.*` interest went after the others on each route: once it crossed, so did they.
    let n = on_y.len() - 1;
    wait_interest(&cx, &mut on_y[n].1, "both.y.probe").await;
    let n = on_x.len() - 1;
    wait_interest(&cy, &mut on_x[n].1, "both.x.probe").await;
    for s in ["exp.a", "other.a", "exp.secret", "exp.b", "both.y.marker"] {
        cx.publish(s.to_string(), "m".into()).await.expect("publish");
    }
    cx.flush().await.expect("flush");
    for s in ["imp.a", "imp.secret", "nope.a", "imp.b", "both.x.marker"] {
        cy.publish(s.to_string(), "m".into()).await.expect("publish");
    }
    cy.flush().await.expect("flush");
    (deliveries(&mut on_y).await, deliveries(&mut on_x).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_permissions_match_nats_server() {
    let want_y: Vec<String> = ["exp.* <- exp.a", "exp.* <- exp.b", "exp.a <- exp.a"].iter().map(|s| s.to_string()).collect();
    // Import only limits the interest X sends: Y forwards `imp.secret` for X's `imp.*`,
    // and X then delivers it to every local match (inbound messages are not filtered).
    let want_x: Vec<String> =
        ["imp.* <- imp.a", "imp.* <- imp.b", "imp.* <- imp.secret", "imp.a <- imp.a", "imp.secret <- imp.secret"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    let mut runs = vec![(Target::Natrix, Target::Natrix)];
    if !common::skip_without_nats_server() {
        runs.push((Target::NatsServer, Target::Natrix));
        runs.push((Target::Natrix, Target::NatsServer));
        runs.push((Target::NatsServer, Target::NatsServer));
    }
    for (x, y) in runs {
        let (got_y, got_x) = permissions_outcome(x, y).await;
        assert_eq!(got_y, want_y, "X={x:?} Y={y:?}: what Y's subscribers got from X (X's export)");
        assert_eq!(got_x, want_x, "X={x:?} Y={y:?}: what X's subscribers got from Y (X's import)");
    }
}
