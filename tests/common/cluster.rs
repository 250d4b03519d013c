//! Cluster helpers shared by the cluster tests: nodes started with `--cluster`/`--routes`
//! flags, their `/routez` and `/varz`, a full-mesh wait and an every-node-to-every-node
//! delivery check. Every wait is bounded by `WAIT`.
use super::{free_port, Target, TestServer};
use futures::StreamExt;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use tokio::time::timeout;

pub const WAIT: Duration = Duration::from_secs(15);

/// A cluster node: its process, its cluster port and its monitor port.
pub struct Node {
    pub server: TestServer,
    pub cluster: u16,
    pub http: u16,
}

pub fn start(t: Target, cluster: u16, routes: &[u16], name: &str, extra: &[&str]) -> Node {
    start_conf(t, None, cluster, routes, name, extra)
}

pub fn start_conf(t: Target, conf: Option<&str>, cluster: u16, routes: &[u16], name: &str, extra: &[&str]) -> Node {
    start_full(t, None, conf, cluster, routes, name, extra)
}

/// `start_conf` with the client port chosen by the caller when `port` is given (a node
/// replaced on the old node's ports).
pub fn start_full(t: Target, port: Option<u16>, conf: Option<&str>, cluster: u16, routes: &[u16], name: &str, extra: &[&str]) -> Node {
    let http = free_port();
    let listen = format!("nats://127.0.0.1:{cluster}");
    let routes: Vec<String> = routes.iter().map(|p| format!("nats://127.0.0.1:{p}")).collect();
    let routes = routes.join(",");
    let http_s = http.to_string();
    let mut args = vec!["--cluster", &listen, "--cluster_name", "C1", "-m", &http_s, "--server_name", name];
    if !routes.is_empty() {
        args.push("--routes");
        args.push(&routes);
    }
    args.extend_from_slice(extra);
    let server = match port {
        Some(port) => TestServer::start_on_port(t, port, conf, &args),
        None => TestServer::start_on(t, conf, &args),
    };
    Node { server, cluster, http }
}

pub fn get_json(http: u16, path: &str) -> Value {
    let mut sock = TcpStream::connect(("127.0.0.1", http)).expect("monitor");
    sock.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    write!(sock, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").expect("request");
    let mut resp = String::new();
    let _ = sock.read_to_string(&mut resp);
    let body = resp.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

pub fn server_id(n: &Node) -> String {
    get_json(n.http, "/varz")["server_id"].as_str().expect("server_id").to_string()
}

/// `/routez`: (remote server IDs, route connection IDs), sorted by ID (nats-server
/// lists them in map order).
pub fn routez(n: &Node) -> (Vec<String>, Vec<u64>) {
    let v = get_json(n.http, "/routez");
    let routes = v["routes"].as_array().cloned().unwrap_or_default();
    let mut pairs: Vec<(String, u64)> =
        routes.iter().map(|r| (r["remote_id"].as_str().unwrap_or("?").to_string(), r["rid"].as_u64().unwrap_or(0))).collect();
    pairs.sort();
    pairs.into_iter().unzip()
}

/// Waits until every node has exactly one route to each other node (a full mesh, no
/// duplicate links), then checks that the links stay the same for two seconds (no
/// duplicate-route churn). Returns the nodes' server IDs.
pub fn wait_full_mesh(nodes: &[&Node], what: &str) -> Vec<String> {
    let ids: Vec<String> = nodes.iter().map(|n| server_id(n)).collect();
    let want = |i: usize| -> Vec<String> {
        let mut v: Vec<String> = ids.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, s)| s.clone()).collect();
        v.sort();
        v
    };
    let deadline = Instant::now() + WAIT;
    let last = loop {
        let last = nodes.iter().map(|n| routez(n)).collect::<Vec<_>>();
        if last.iter().enumerate().all(|(i, (got, _))| *got == want(i)) {
            break last;
        }
        assert!(Instant::now() < deadline, "{what}: no full mesh within {WAIT:?}: {last:?} (ids {ids:?})");
        std::thread::sleep(Duration::from_millis(100));
    };
    std::thread::sleep(Duration::from_secs(2));
    let later: Vec<_> = nodes.iter().map(|n| routez(n)).collect();
    assert_eq!(later, last, "{what}: the route links changed after the mesh formed (duplicate-route churn)");
    ids
}

/// A subscriber on every node gets every message published on every node: 50 from
/// each, in order per publisher, no duplicates (one hop, full mesh).
pub async fn every_node_to_every_node(nodes: &[&Node], what: &str) {
    let mut clients = Vec::new();
    for n in nodes {
        clients.push(super::client(&n.server).await);
    }
    let mut subs = Vec::new();
    for c in &clients {
        subs.push(c.subscribe("mesh.>").await.expect("sub"));
        c.flush().await.expect("flush");
    }
    // Interest from every node has reached every node: a probe per pair.
    for (j, c) in clients.iter().enumerate() {
        let mut probe = c.subscribe(format!("probe.{j}")).await.expect("sub");
        c.flush().await.expect("flush");
        for (i, p) in clients.iter().enumerate() {
            let deadline = Instant::now() + WAIT;
            loop {
                p.publish(format!("probe.{j}"), "x".into()).await.expect("publish");
                p.flush().await.expect("flush");
                if let Ok(Some(_)) = timeout(Duration::from_millis(100), probe.next()).await {
                    break;
                }
                assert!(Instant::now() < deadline, "{what}: interest of node {j} never reached node {i}");
            }
        }
        while let Ok(Some(_)) = timeout(Duration::from_millis(100), probe.next()).await {}
    }
    // `mesh.>` was subscribed before the probes: it is everywhere too.
    for (i, c) in clients.iter().enumerate() {
        for k in 0..50 {
            c.publish(format!("mesh.{i}"), format!("{i}:{k}").into()).await.expect("publish");
        }
        c.flush().await.expect("flush");
    }
    for (j, s) in subs.iter_mut().enumerate() {
        let mut got: Vec<Vec<u32>> = vec![Vec::new(); clients.len()];
        let mut total = 0;
        while total < 50 * clients.len() {
            match timeout(Duration::from_secs(3), s.next()).await {
                Ok(Some(m)) => {
                    let p = String::from_utf8_lossy(&m.payload).into_owned();
                    let (i, k) = p.split_once(':').expect("payload");
                    got[i.parse::<usize>().expect("i")].push(k.parse().expect("k"));
                    total += 1;
                }
                _ => break,
            }
        }
        for (i, g) in got.iter().enumerate() {
            assert_eq!(*g, (0..50).collect::<Vec<u32>>(), "{what}: subscriber on node {j}, publisher on node {i}");
        }
        assert!(timeout(Duration::from_millis(300), s.next()).await.is_err(), "{what}: node {j} got a duplicate");
    }
}
