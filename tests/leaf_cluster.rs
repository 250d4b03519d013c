//! Leaf nodes on a hub that is itself clustered, with real servers on 127.0.0.1:
//! hub node A (leaf port) routed to node B, a nats-server 2.9.10 leaf on A, in mixed
//! topologies (natrix A + nats-server B, nats-server A + natrix B, natrix on both).
//! Pub/sub both ways between the leaf and B (the leaf's interest crosses the route,
//! B's crosses the leaf link), queue groups with members on the leaf and on B getting
//! each message exactly once, and nothing delivered twice. Every wait is bounded;
//! servers die with the test.
mod common;

use async_nats::Client;
use common::{free_port, Target, TestServer};
use futures::StreamExt;
use std::collections::HashSet;
use std::time::{Duration, Instant};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

struct Topology {
    a: TestServer,
    b: TestServer,
    leaf: TestServer,
}

/// Hub A (`ta`, leaf port), B (`tb`) routed to A, a nats-server leaf on A.
fn start(ta: Target, tb: Target) -> Topology {
    let (ca, cb, la) = (free_port(), free_port(), free_port());
    let a = TestServer::start_on(
        ta,
        Some(&format!(
            "server_name: A\ncluster {{\n  name: C1\n  listen: 127.0.0.1:{ca}\n}}\nleafnodes {{\n  listen: 127.0.0.1:{la}\n}}\n"
        )),
        &[],
    );
    let b = TestServer::start_on(
        tb,
        Some(&format!(
            "server_name: B\ncluster {{\n  name: C1\n  listen: 127.0.0.1:{cb}\n  routes: [ \"nats://127.0.0.1:{ca}\" ]\n}}\n"
        )),
        &[],
    );
    let leaf = TestServer::start_on(
        Target::NatsServer,
        Some(&format!("server_name: LEAF\nleafnodes {{\n  reconnect: 1\n  remotes: [ {{ url: \"nats://127.0.0.1:{la}\" }} ]\n}}\n")),
        &[],
    );
    Topology { a, b, leaf }
}

/// Publishes probes on `from` until `sub` gets one (links up, interest crossed both
/// hops), then drains late probes.
async fn wait_interest(from: &Client, sub: &mut async_nats::Subscriber, subject: &str) {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        from.publish(subject.to_string(), "probe".into()).await.expect("publish probe");
        from.flush().await.expect("flush");
        if let Ok(Some(_)) = timeout(Duration::from_millis(100), sub.next()).await {
            while let Ok(Some(_)) = timeout(Duration::from_millis(200), sub.next()).await {}
            return;
        }
    }
    panic!("interest in {subject} never crossed route and leaf link");
}

/// `a` publishes 50 messages, `b`'s subscriber gets each once, in order.
async fn one_way(a: &Client, b: &Client, tag: &str) {
    let mut s = b.subscribe(format!("{tag}.>")).await.expect("sub");
    b.flush().await.expect("flush");
    wait_interest(a, &mut s, &format!("{tag}.probe")).await;
    for i in 0..50 {
        a.publish(format!("{tag}.m"), format!("{i}").into()).await.expect("publish");
    }
    a.flush().await.expect("flush");
    let mut got = Vec::new();
    while got.len() < 50 {
        match timeout(Duration::from_secs(2), s.next()).await {
            Ok(Some(m)) => got.push(String::from_utf8_lossy(&m.payload).into_owned()),
            _ => break,
        }
    }
    let want: Vec<String> = (0..50).map(|i| i.to_string()).collect();
    assert_eq!(got, want, "{tag}: all 50 once, in order");
    assert!(timeout(Duration::from_millis(300), s.next()).await.is_err(), "{tag}: nothing extra");
}

/// Queue members on the leaf (two) and on B (one), none on A: messages published on
/// `from` reach the group exactly once each.
async fn queue_once(from: &Client, l: &Client, b: &Client, tag: &str) {
    let subject = format!("{tag}.q");
    let mut members = [
        l.queue_subscribe(subject.clone(), "g".into()).await.expect("qsub"),
        l.queue_subscribe(subject.clone(), "g".into()).await.expect("qsub"),
        b.queue_subscribe(subject.clone(), "g".into()).await.expect("qsub"),
    ];
    // Plain probes on both sides, subscribed after the members: once they cross, the
    // queue interest has crossed too.
    let mut pl = l.subscribe(format!("{tag}.pl")).await.expect("sub");
    let mut pb = b.subscribe(format!("{tag}.pb")).await.expect("sub");
    l.flush().await.expect("flush");
    b.flush().await.expect("flush");
    wait_interest(from, &mut pl, &format!("{tag}.pl")).await;
    wait_interest(from, &mut pb, &format!("{tag}.pb")).await;
    for i in 0..100 {
        from.publish(subject.clone(), format!("{i}").into()).await.expect("publish");
    }
    from.flush().await.expect("flush");
    let mut seen = HashSet::new();
    let deadline = Instant::now() + WAIT;
    while seen.len() < 100 && Instant::now() < deadline {
        for m in members.iter_mut() {
            while let Ok(Some(msg)) = timeout(Duration::from_millis(200), m.next()).await {
                let id = String::from_utf8_lossy(&msg.payload).into_owned();
                assert!(seen.insert(id.clone()), "{tag}: {id} delivered twice");
            }
        }
    }
    assert_eq!(seen.len(), 100, "{tag}: every message reached the group");
}

async fn exercise(t: &Topology) {
    let a = common::client(&t.a).await;
    let b = common::client(&t.b).await;
    let l = common::client(&t.leaf).await;
    one_way(&b, &l, "b2l").await;
    one_way(&l, &b, "l2b").await;
    one_way(&a, &l, "a2l").await;
    one_way(&l, &a, "l2a").await;
    queue_once(&b, &l, &b, "qb").await;
    queue_once(&a, &l, &b, "qa").await;
    queue_once(&l, &l, &b, "ql").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn natrix_hub_clustered_with_nats_server() {
    if common::skip_without_nats_server() {
        return;
    }
    exercise(&start(Target::Natrix, Target::NatsServer)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_server_hub_clustered_with_natrix() {
    if common::skip_without_nats_server() {
        return;
    }
    exercise(&start(Target::NatsServer, Target::Natrix)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn natrix_hub_clustered_with_natrix() {
    if common::skip_without_nats_server() {
        return;
    }
    exercise(&start(Target::Natrix, Target::Natrix)).await;
}

/// Reads `s` until every line in `want` was seen (bounded by `WAIT`); returns all text.
fn read_until(s: &mut std::net::TcpStream, want: &[&str]) -> String {
    use std::io::Read;
    let deadline = Instant::now() + WAIT;
    let mut text = String::new();
    let mut buf = [0u8; 65536];
    while !want.iter().all(|w| text.contains(w)) {
        assert!(Instant::now() < deadline, "never saw {want:?} on the route; got:\n{text}");
        match s.read(&mut buf) {
            Ok(0) => panic!("route closed; got:\n{text}"),
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(e) => panic!("route read: {e}"),
        }
    }
    text
}

/// On the wire, as nats-server 2.9.10 sends it to a peer without `lnoc`: the leaf's
/// interest reaches a route as plain RS+ (a queue group with the leaf's member count),
/// RS- when it goes, and an RMSG from the route reaches the leaf (a listed queue group
/// exactly once). Runs against the target (natrix or nats-server) as hub.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaf_interest_on_the_route_wire() {
    use std::io::Write;
    if common::skip_without_nats_server() {
        return;
    }
    let (ca, la) = (free_port(), free_port());
    let hub = TestServer::start_on(
        common::target(),
        Some(&format!("server_name: A\ncluster {{\n  name: C1\n  listen: 127.0.0.1:{ca}\n}}\nleafnodes {{\n  listen: 127.0.0.1:{la}\n}}\n")),
        &[],
    );
    let leaf = TestServer::start_on(
        Target::NatsServer,
        Some(&format!("server_name: LEAF\nleafnodes {{\n  reconnect: 1\n  remotes: [ {{ url: \"nats://127.0.0.1:{la}\" }} ]\n}}\n")),
        &[],
    );
    let mut route = std::net::TcpStream::connect(("127.0.0.1", ca)).expect("route port");
    route.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    route
        .write_all(b"CONNECT {\"name\":\"NFAKEPEER\",\"cluster\":\"C1\",\"headers\":true}\r\nINFO {\"server_id\":\"NFAKEPEER\",\"server_name\":\"P\",\"cluster\":\"C1\",\"headers\":true} \r\n")
        .expect("handshake");
    let l = common::client(&leaf).await;
    let mut plain = l.subscribe("lsub").await.expect("sub");
    let mut q1 = l.queue_subscribe("lq", "grp".into()).await.expect("qsub");
    let mut q2 = l.queue_subscribe("lq", "grp".into()).await.expect("qsub");
    l.flush().await.expect("flush");
    let text = read_until(&mut route, &["RS+ $G lsub\r\n", "RS+ $G lq grp 2\r\n"]);
    assert!(!text.contains("LS+"), "no leaf-origin form to a peer without lnoc:\n{text}");
    route.write_all(b"RMSG $G lsub 2\r\nhi\r\nRMSG $G lq | grp 2\r\nqq\r\nPING\r\n").expect("rmsg");
    let m = timeout(WAIT, plain.next()).await.expect("routed message reached the leaf").expect("open");
    assert_eq!(&m.payload[..], b"hi");
    let mut got = 0;
    for q in [&mut q1, &mut q2] {
        while let Ok(Some(m)) = timeout(Duration::from_millis(700), q.next()).await {
            assert_eq!(&m.payload[..], b"qq");
            got += 1;
        }
    }
    assert_eq!(got, 1, "the listed queue group got the routed message once");
    plain.unsubscribe().await.expect("unsub");
    l.flush().await.expect("flush");
    read_until(&mut route, &["RS- $G lsub\r\n"]);
    drop(hub);
}
