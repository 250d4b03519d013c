//! Clustering with real servers: a natrix node and a nats-server 2.9.10 node (or two
//! natrix nodes) joined by a route on 127.0.0.1, driven by async-nats clients.
//! Routes in both directions (natrix dials nats-server; nats-server dials natrix),
//! pub/sub both ways with wildcards, a queue group spanning both nodes (exactly
//! once), request/reply across nodes, UNSUB propagation, headers. Handshake refusals
//! are checked on a raw socket. Every wait is bounded; servers die with the test.
mod common;

use async_nats::{Client, HeaderMap};
use common::{free_port, Target, TestServer};
use futures::StreamExt;
use serde_json::Value;
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

/// A node: its process, its cluster port and its monitor port.
struct Node {
    server: TestServer,
    cluster: u16,
    http: u16,
}

fn start_node(t: Target, routes: &[u16], name: &str) -> Node {
    start_node_auth(t, routes, name, "")
}

/// `userinfo` is `""` or `"user:pass@"` for the cluster listener.
fn start_node_auth(t: Target, routes: &[u16], name: &str, userinfo: &str) -> Node {
    start_node_on(t, free_port(), routes, name, userinfo)
}

fn start_node_on(t: Target, cluster: u16, routes: &[u16], name: &str, userinfo: &str) -> Node {
    let http = free_port();
    let listen = format!("nats://{userinfo}127.0.0.1:{cluster}");
    let routes: Vec<String> = routes.iter().map(|p| format!("nats://127.0.0.1:{p}")).collect();
    let routes = routes.join(",");
    let http_s = http.to_string();
    let mut args = vec!["--cluster", &listen, "--cluster_name", "C1", "-m", &http_s, "--server_name", name];
    if !routes.is_empty() {
        args.push("--routes");
        args.push(&routes);
    }
    let server = TestServer::start_on(t, None, &args);
    Node { server, cluster, http }
}

fn varz_in_msgs(http: u16) -> u64 {
    let mut sock = TcpStream::connect(("127.0.0.1", http)).expect("monitor");
    sock.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    write!(sock, "GET /varz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").expect("request");
    let mut resp = String::new();
    sock.read_to_string(&mut resp).expect("response");
    let body = resp.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("varz: {e}: {body}"));
    v["in_msgs"].as_u64().expect("in_msgs")
}

/// Publishes probes on `from` until `sub` (subscribed on the other node to `subject`)
/// gets one: the route is up and `sub`'s interest has reached `from`.
async fn wait_interest(from: &Client, sub: &mut async_nats::Subscriber, subject: &str) {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        from.publish(subject.to_string(), "probe".into()).await.expect("publish probe");
        from.flush().await.expect("flush");
        if let Ok(Some(_)) = timeout(Duration::from_millis(100), sub.next()).await {
            // Drain late probes.
            while let Ok(Some(_)) = timeout(Duration::from_millis(100), sub.next()).await {}
            return;
        }
    }
    panic!("interest in {subject} never crossed the route");
}

/// Receives until `n` messages arrived or nothing comes for a second; returns payloads.
async fn collect(sub: &mut async_nats::Subscriber, n: usize) -> Vec<String> {
    let mut got = Vec::new();
    while got.len() < n {
        match timeout(Duration::from_secs(2), sub.next()).await {
            Ok(Some(m)) => got.push(String::from_utf8_lossy(&m.payload).into_owned()),
            _ => break,
        }
    }
    got
}

async fn pub_sub_one_way(a: &Client, b: &Client, tag: &str) {
    // Wildcards on the subscriber's side: `*` and `>`.
    let mut star = b.subscribe(format!("{tag}.*.x")).await.expect("sub");
    let mut full = b.subscribe(format!("{tag}.>")).await.expect("sub");
    b.flush().await.expect("flush");
    wait_interest(a, &mut star, &format!("{tag}.probe.x")).await;
    while let Ok(Some(_)) = timeout(Duration::from_millis(200), full.next()).await {}
    for i in 0..100 {
        a.publish(format!("{tag}.{i}.x"), format!("{i}").into()).await.expect("publish");
    }
    a.flush().await.expect("flush");
    let s = collect(&mut star, 100).await;
    let f = collect(&mut full, 100).await;
    let want: Vec<String> = (0..100).map(|i| i.to_string()).collect();
    assert_eq!(s, want, "{tag}: `*` subscriber: all 100, in order, no duplicates");
    assert_eq!(f, want, "{tag}: `>` subscriber: all 100, in order, no duplicates");
    assert!(timeout(Duration::from_millis(300), full.next()).await.is_err(), "{tag}: nothing extra");
}

async fn queue_group_spans_nodes(a: &Client, b: &Client) {
    let mut members = Vec::new();
    for c in [a, a, b, b] {
        members.push(c.queue_subscribe("work.*", "workers".into()).await.expect("qsub"));
    }
    // A plain subscriber alongside gets every message; queue members get each once.
    let mut plain = b.subscribe("work.*").await.expect("sub");
    a.flush().await.expect("flush");
    b.flush().await.expect("flush");
    // Interest in both directions: a plain probe each way.
    let mut pa = a.subscribe("qprobe.a").await.expect("sub");
    let mut pb = b.subscribe("qprobe.b").await.expect("sub");
    wait_interest(a, &mut pb, "qprobe.b").await;
    wait_interest(b, &mut pa, "qprobe.a").await;
    // Queue RS+ go before the plain probe subscription's, so they have arrived too.
    let n = 300;
    for i in 0..n {
        a.publish(format!("work.{i}"), format!("a{i}").into()).await.expect("publish");
        b.publish(format!("work.{i}"), format!("b{i}").into()).await.expect("publish");
    }
    a.flush().await.expect("flush");
    b.flush().await.expect("flush");
    let mut seen = HashSet::new();
    let mut per_member = Vec::new();
    let mut total = 0;
    let deadline = Instant::now() + WAIT;
    for m in members.iter_mut() {
        let mut mine = 0;
        while let Ok(Some(msg)) = timeout(Duration::from_millis(700), m.next()).await {
            let id = String::from_utf8_lossy(&msg.payload).into_owned();
            assert!(seen.insert(id.clone()), "queue message {id} delivered twice");
            mine += 1;
            total += 1;
            assert!(Instant::now() < deadline, "collecting took too long");
        }
        per_member.push(mine);
    }
    assert_eq!(total, 2 * n, "each message once to the group: {per_member:?}");
    assert!(per_member[0] + per_member[1] > 0 && per_member[2] + per_member[3] > 0, "both nodes' members served: {per_member:?}");
    let p = collect(&mut plain, 2 * n).await;
    assert_eq!(p.len(), 2 * n, "plain subscriber beside the group gets everything");
    assert_eq!(p.iter().collect::<HashSet<_>>().len(), 2 * n, "no duplicates to the plain subscriber");
}

async fn request_reply(requester: &Client, responder: &Client, svc: &str) {
    let mut service = responder.subscribe(svc.to_string()).await.expect("sub");
    let r = responder.clone();
    let task = tokio::spawn(async move {
        while let Some(m) = service.next().await {
            if let Some(reply) = m.reply {
                let body = format!("re:{}", String::from_utf8_lossy(&m.payload));
                let _ = r.publish(reply, body.into()).await;
                let _ = r.flush().await;
            }
        }
    });
    let deadline = Instant::now() + WAIT;
    // The first requests may go out before the service's interest crossed the route
    // (async-nats then reports no responders): retry until one is answered.
    loop {
        match timeout(Duration::from_secs(1), requester.request(svc.to_string(), "0".into())).await {
            Ok(Ok(m)) => {
                assert_eq!(&m.payload[..], b"re:0");
                break;
            }
            _ => assert!(Instant::now() < deadline, "{svc}: never answered across the route"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for i in 1..20 {
        let m = timeout(Duration::from_secs(5), requester.request(svc.to_string(), format!("{i}").into()))
            .await
            .expect("request time")
            .expect("request");
        assert_eq!(String::from_utf8_lossy(&m.payload), format!("re:{i}"));
    }
    task.abort();
}

async fn unsub_propagates(a: &Client, b: &Client, b_http: u16) {
    let mut s = b.subscribe("gone.x").await.expect("sub");
    b.flush().await.expect("flush");
    wait_interest(a, &mut s, "gone.x").await;
    s.unsubscribe().await.expect("unsub");
    b.flush().await.expect("flush");
    // Until the RS- arrives, a's publishes still reach b; poll (bounded) until they stop.
    let deadline = Instant::now() + WAIT;
    loop {
        let before = varz_in_msgs(b_http);
        for _ in 0..20 {
            a.publish("gone.x", "x".into()).await.expect("publish");
        }
        a.flush().await.expect("flush");
        tokio::time::sleep(Duration::from_millis(400)).await;
        if varz_in_msgs(b_http) == before {
            break;
        }
        assert!(Instant::now() < deadline, "after UNSUB the other node still sends gone.x");
    }
}

async fn headers_cross(a: &Client, b: &Client) {
    let mut s = b.subscribe("hdr.x").await.expect("sub");
    b.flush().await.expect("flush");
    wait_interest(a, &mut s, "hdr.x").await;
    let mut h = HeaderMap::new();
    h.insert("X-Trace", "abc123");
    h.append("X-Multi", "1");
    h.append("X-Multi", "2");
    a.publish_with_headers("hdr.x", h, "body".into()).await.expect("hpub");
    a.flush().await.expect("flush");
    let m = timeout(WAIT, s.next()).await.expect("time").expect("message");
    let hs = m.headers.expect("headers arrived");
    assert_eq!(hs.get("X-Trace").map(|v| v.as_str()), Some("abc123"));
    let multi: Vec<&str> = hs.get_all("X-Multi").map(|v| v.as_str()).collect();
    assert_eq!(multi, ["1", "2"]);
    assert_eq!(&m.payload[..], b"body");
}

async fn exercise(a: &Node, b: &Node) {
    let ca = common::client(&a.server).await;
    let cb = common::client(&b.server).await;
    pub_sub_one_way(&ca, &cb, "ab").await;
    pub_sub_one_way(&cb, &ca, "ba").await;
    headers_cross(&ca, &cb).await;
    headers_cross(&cb, &ca).await;
    request_reply(&ca, &cb, "svc.one").await;
    request_reply(&cb, &ca, "svc.two").await;
    queue_group_spans_nodes(&ca, &cb).await;
    unsub_propagates(&ca, &cb, b.http).await;
    unsub_propagates(&cb, &ca, a.http).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn natrix_dials_nats_server() {
    if common::skip_without_nats_server() {
        return;
    }
    let g = start_node(Target::NatsServer, &[], "G1");
    let n = start_node(Target::Natrix, &[g.cluster], "N1");
    exercise(&n, &g).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_server_dials_natrix() {
    if common::skip_without_nats_server() {
        return;
    }
    let n = start_node(Target::Natrix, &[], "N1");
    let g = start_node(Target::NatsServer, &[n.cluster], "G1");
    exercise(&g, &n).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn natrix_to_natrix() {
    let a = start_node(Target::Natrix, &[], "N1");
    // Both list each other (and the second lists itself): duplicates and the route to
    // self are settled silently.
    let b_cluster = free_port();
    let http = free_port();
    let listen = format!("nats://127.0.0.1:{b_cluster}");
    let routes = format!("nats://127.0.0.1:{},nats://127.0.0.1:{b_cluster}", a.cluster);
    let http_s = http.to_string();
    let server = TestServer::start_on(
        Target::Natrix,
        None,
        &["--cluster", &listen, "--cluster_name", "C1", "-m", &http_s, "--server_name", "N2", "--routes", &routes],
    );
    let b = Node { server, cluster: b_cluster, http };
    exercise(&a, &b).await;
}

/// Reads one CRLF line (bounded by the socket timeout).
fn line(r: &mut BufReader<TcpStream>) -> String {
    let mut s = String::new();
    let _ = r.read_line(&mut s);
    s
}

fn raw(port: u16) -> (TcpStream, BufReader<TcpStream>) {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(3))).expect("timeout");
    let r = BufReader::new(s.try_clone().expect("clone"));
    (s, r)
}

/// The refusals on the cluster port, with nats-server's texts, on both servers.
#[test]
fn handshake_refusals_match_nats_server() {
    let mut targets = vec![Target::Natrix];
    if !common::skip_without_nats_server() {
        targets.push(Target::NatsServer);
    }
    for t in targets {
        let node = start_node(t, &[], "R1");
        let auth = start_node_auth(t, &[], "R2", "ru:rp@");
        let cases: [(u16, &str, &str); 6] = [
            (node.cluster, "CONNECT {\"lang\":\"go\",\"verbose\":false}\r\n", "-ERR 'attempted to connect to route port'"),
            (
                node.cluster,
                "CONNECT {\"name\":\"NX\",\"cluster\":\"OTHER\",\"headers\":true}\r\n",
                "-ERR 'Rejecting connection, cluster name \"OTHER\" does not match \"C1\"'",
            ),
            // Without cluster auth a PING before CONNECT is answered; with it, refused.
            (node.cluster, "PING\r\n", "PONG"),
            (auth.cluster, "PING\r\n", "-ERR 'Authorization Violation'"),
            (auth.cluster, "CONNECT {\"name\":\"NX\",\"cluster\":\"C1\",\"user\":\"ru\",\"pass\":\"x\"}\r\n", "-ERR 'Authorization Violation'"),
            (auth.cluster, "CONNECT {\"name\":\"NX\",\"cluster\":\"C1\",\"user\":\"ru\",\"pass\":\"rp\"}\r\nPING\r\n", "PONG"),
        ];
        for (port, send, want) in cases {
            let (mut s, mut r) = raw(port);
            let info = line(&mut r);
            assert!(info.starts_with("INFO {"), "{t:?}: {info}");
            let v: Value = serde_json::from_str(info[5..].trim()).expect("INFO json");
            assert_eq!(v["cluster"], "C1", "{t:?}: {info}");
            assert_eq!(v["headers"], true, "{t:?}: {info}");
            assert_eq!(v["auth_required"].as_bool().unwrap_or(false), port == auth.cluster, "{t:?}: {info}");
            s.write_all(send.as_bytes()).expect("send");
            let got = line(&mut r);
            assert_eq!(got.trim_end(), want, "{t:?}: reply to {send:?}");
        }
    }
}

/// A route that sends MSG (a client op) is closed with nats-server's error.
#[test]
fn client_op_on_route_is_refused() {
    let node = start_node(Target::Natrix, &[], "R2");
    let (mut s, mut r) = raw(node.cluster);
    let _ = line(&mut r);
    s.write_all(b"CONNECT {\"name\":\"NPEER\",\"cluster\":\"C1\",\"headers\":true}\r\nINFO {\"server_id\":\"NPEER\",\"server_name\":\"p\",\"cluster\":\"C1\",\"headers\":true} \r\n")
        .expect("send");
    s.write_all(b"PING\r\n").expect("send");
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let l = line(&mut r);
        if l.starts_with("PONG") {
            break;
        }
        assert!(Instant::now() < deadline && !l.is_empty(), "no PONG from natrix on the route: {l:?}");
    }
    s.write_all(b"MSG foo 1 1\r\nx\r\n").expect("send");
    assert_eq!(line(&mut r).trim_end(), "-ERR 'Unknown Protocol Operation'");
}

/// Pub/sub in both directions over whatever route joins `a` and `b`.
async fn both_ways(a: &Node, b: &Node, tag: &str) {
    let ca = common::client(&a.server).await;
    let cb = common::client(&b.server).await;
    pub_sub_one_way(&ca, &cb, &format!("{tag}ab")).await;
    pub_sub_one_way(&cb, &ca, &format!("{tag}ba")).await;
}

/// The route comes back after the peer restarts on the same cluster port: natrix
/// redials a configured route (and the peer's interest is synced again), and a
/// nats-server that dials natrix finds a restarted natrix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_come_back_after_a_restart() {
    if common::skip_without_nats_server() {
        return;
    }
    // natrix dials; the nats-server side restarts.
    let g_port = free_port();
    let g = start_node_on(Target::NatsServer, g_port, &[], "G1", "");
    let n = start_node(Target::Natrix, &[g_port], "N1");
    both_ways(&n, &g, "r1").await;
    drop(g);
    let g = start_node_on(Target::NatsServer, g_port, &[], "G1", "");
    both_ways(&n, &g, "r2").await;
    drop((n, g));

    // nats-server dials; the natrix side restarts.
    let n_port = free_port();
    let n = start_node_on(Target::Natrix, n_port, &[], "N1", "");
    let g = start_node(Target::NatsServer, &[n_port], "G1");
    both_ways(&g, &n, "r3").await;
    drop(n);
    let n = start_node_on(Target::Natrix, n_port, &[], "N1", "");
    both_ways(&g, &n, "r4").await;
}
