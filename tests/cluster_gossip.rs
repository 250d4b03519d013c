//! Gossip and implicit routes: a 3-node cluster formed from one seed (natrix seed with
//! nats-server joiners, nats-server seed with natrix joiners, natrix only) becomes a
//! full mesh, checked on every node's `/routez` and with pub/sub from every node to
//! every node; nodes that dial each other at the same time settle on one link per pair;
//! a node killed loses its interest and its clients move through `connect_urls`, and
//! comes back when restarted; a natrix node in lame duck mode makes a nats-server peer
//! drop its client URL; implicit routes are tried `1 + connect_retries` times; what a
//! seed gossips to its older routes, on the wire, against nats-server. Every wait is
//! bounded; servers die with the test.
mod common;

use common::raw::{info_json, RawClient};
use common::cluster::{every_node_to_every_node, get_json, routez, server_id, start, start_conf, wait_full_mesh, Node, WAIT};
use common::{free_port, Target, TestServer};
use futures::StreamExt;
use serde_json::Value;
use std::net::TcpListener;
use std::time::{Duration, Instant};
use tokio::time::timeout;

fn mesh_from_seed(seed: Target, joiners: Target, what: &str) {
    let s = start(seed, free_port(), &[], "S", &[]);
    let a = start(joiners, free_port(), &[s.cluster], "A", &[]);
    let b = start(joiners, free_port(), &[s.cluster], "B", &[]);
    wait_full_mesh(&[&s, &a, &b], what);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(every_node_to_every_node(&[&s, &a, &b], what));
}

#[test]
fn natrix_seed_gossips_nats_server_joiners_into_a_mesh() {
    if common::skip_without_nats_server() {
        return;
    }
    mesh_from_seed(Target::Natrix, Target::NatsServer, "natrix seed, nats-server joiners");
}

#[test]
fn natrix_joiners_act_on_a_nats_server_seeds_gossip() {
    if common::skip_without_nats_server() {
        return;
    }
    mesh_from_seed(Target::NatsServer, Target::Natrix, "nats-server seed, natrix joiners");
}

#[test]
fn natrix_only_mesh_from_one_seed() {
    mesh_from_seed(Target::Natrix, Target::Natrix, "natrix only");
}

/// Three nodes, each configured with routes to the two others, started together:
/// every pair dials both ways, and the duplicates settle on one link per pair.
fn racing_routes(targets: [Target; 3], what: &str) {
    let ports = [free_port(), free_port(), free_port()];
    let others = |i: usize| -> Vec<u16> { (0..3).filter(|&j| j != i).map(|j| ports[j]).collect() };
    let nodes: Vec<Node> = (0..3).map(|i| start(targets[i], ports[i], &others(i), &format!("R{i}"), &[])).collect();
    let refs: Vec<&Node> = nodes.iter().collect();
    wait_full_mesh(&refs, what);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(every_node_to_every_node(&refs, what));
}

#[test]
fn nodes_dialing_each_other_keep_one_link_per_pair() {
    for round in 0..3 {
        racing_routes([Target::Natrix; 3], &format!("natrix only, round {round}"));
    }
    if common::skip_without_nats_server() {
        return;
    }
    racing_routes([Target::Natrix, Target::NatsServer, Target::Natrix], "two natrix, one nats-server");
}

#[test]
fn killed_node_loses_interest_clients_move_and_it_comes_back() {
    if common::skip_without_nats_server() {
        return;
    }
    // A nats-server seed, natrix joiners A and B (B learns A by gossip or A learns B).
    let s = start(Target::NatsServer, free_port(), &[], "S", &[]);
    let a = start(Target::Natrix, free_port(), &[s.cluster], "A", &[]);
    let b_cluster = free_port();
    let b = start(Target::Natrix, b_cluster, &[s.cluster], "B", &[]);
    wait_full_mesh(&[&s, &a, &b], "before the kill");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        // A client of B, connected after the mesh formed: its INFO lists all three.
        let moved = common::client(&b.server).await;
        let mut moved_sub = moved.subscribe("moved").await.expect("sub");
        moved.flush().await.expect("flush");
        let on_s = common::client(&s.server).await;
        // B's interest in `only.b` reaches S and A.
        let mut only_b = RawClient::connect_with(b.server.port, r#"{"verbose":false}"#);
        only_b.send(b"SUB only.b 1\r\n");
        only_b.sync();
        let mut pub_a = RawClient::connect_with(a.server.port, r#"{"verbose":false}"#);
        let deadline = Instant::now() + WAIT;
        loop {
            pub_a.send(b"PUB only.b 1\r\nx\r\n");
            if only_b.read_until(b"MSG only.b 1 1\r\n", Duration::from_millis(100)).is_some() {
                break;
            }
            assert!(Instant::now() < deadline, "B's interest never reached A");
        }
        let a_out_before = get_json(a.http, "/varz")["out_msgs"].as_u64().expect("out_msgs");
        let b_id = server_id(&b);
        drop(only_b);
        drop(b); // SIGKILL

        // S and A drop B: one route each, and B's interest is gone (A sends nothing).
        let deadline = Instant::now() + WAIT;
        while routez(&s).0.contains(&b_id) || routez(&a).0.contains(&b_id) {
            assert!(Instant::now() < deadline, "B's routes never went");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(routez(&s).0.len(), 1);
        assert_eq!(routez(&a).0.len(), 1);
        for _ in 0..20 {
            pub_a.send(b"PUB only.b 1\r\nx\r\n");
        }
        pub_a.sync();
        std::thread::sleep(Duration::from_millis(300));
        let a_out_after = get_json(a.http, "/varz")["out_msgs"].as_u64().expect("out_msgs");
        assert_eq!(a_out_after, a_out_before, "A still sends messages for the dead node's interest");

        // B's client reconnected to S or A through the connect_urls B had sent it: it
        // subscribes again and gets messages published on S.
        let deadline = Instant::now() + WAIT;
        loop {
            on_s.publish("moved", "m".into()).await.expect("publish");
            on_s.flush().await.expect("flush");
            if let Ok(Some(_)) = timeout(Duration::from_millis(200), moved_sub.next()).await {
                break;
            }
            assert!(Instant::now() < deadline, "B's client never came back through connect_urls");
        }

        // B restarts on the same cluster port: the mesh and B's interest come back.
        let b = start(Target::Natrix, b_cluster, &[s.cluster], "B", &[]);
        wait_full_mesh(&[&s, &a, &b], "after the restart");
        let on_b = common::client(&b.server).await;
        let mut back = on_b.subscribe("back").await.expect("sub");
        on_b.flush().await.expect("flush");
        let on_a = common::client(&a.server).await;
        let deadline = Instant::now() + WAIT;
        loop {
            on_a.publish("back", "b".into()).await.expect("publish");
            on_a.flush().await.expect("flush");
            if let Ok(Some(_)) = timeout(Duration::from_millis(200), back.next()).await {
                break;
            }
            assert!(Instant::now() < deadline, "interest on the restarted node never reached A");
        }
    });
}

/// The next INFO line on a raw client (answering PINGs), within `within`.
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

fn named_urls(line: &str, names: &[(u16, &str)]) -> Vec<String> {
    let v = info_json(line);
    let list = v["connect_urls"].as_array().cloned().unwrap_or_default();
    list.iter()
        .map(|u| {
            let mut s = u.as_str().unwrap_or("?").to_string();
            for (p, n) in names {
                s = s.replace(&format!("127.0.0.1:{p}"), n);
            }
            s
        })
        .collect()
}

/// Node X (the target) and a nats-server peer P; X enters lame duck mode. What X's
/// and P's protocol-1 clients are told.
fn lame_duck_scenario(t: Target) -> Vec<String> {
    // (nats-server refuses a duration under 30 s; the test ends within the grace period.)
    let conf = "lame_duck_duration: \"30s\"\nlame_duck_grace_period: \"20s\"\n";
    let x = start_conf(t, Some(conf), free_port(), &[], "X", &[]);
    let p = start(Target::NatsServer, free_port(), &[x.cluster], "P", &[]);
    wait_full_mesh(&[&x, &p], "lame duck setup");
    let names = [(x.server.port, "X"), (p.server.port, "P")];
    let mut on_x = RawClient::connect_with(x.server.port, r#"{"verbose":false,"protocol":1}"#);
    let mut on_p = RawClient::connect_with(p.server.port, r#"{"verbose":false,"protocol":1}"#);
    let mut ev = vec![
        format!("x client: {:?}", named_urls(&on_x.info, &names)),
        format!("p client: {:?}", named_urls(&on_p.info, &names)),
    ];
    let ok = std::process::Command::new("kill")
        .args(["-USR2", &x.server.pid().to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "SIGUSR2");
    let xi = next_info(&mut on_x, Duration::from_secs(2));
    ev.push(format!(
        "x client on ldm: {:?} ldm={:?}",
        xi.as_deref().map(|l| named_urls(l, &names)),
        xi.as_deref().map(|l| info_json(l)["ldm"].clone())
    ));
    let pi = next_info(&mut on_p, Duration::from_secs(2));
    ev.push(format!("p client on ldm: {:?}", pi.as_deref().map(|l| named_urls(l, &names))));
    // The route stays up during the grace period.
    ev.push(format!("p routes during ldm: {}", routez(&p).0.len()));
    let fresh = RawClient::connect_with(p.server.port, r#"{"verbose":false,"protocol":1}"#);
    ev.push(format!("new p client: {:?}", named_urls(&fresh.info, &names)));
    ev
}

#[test]
fn lame_duck_reaches_the_routes_like_nats_server() {
    if common::skip_without_nats_server() {
        return;
    }
    let want = [
        "x client: [\"X\", \"P\"]",
        "p client: [\"P\", \"X\"]",
        "x client on ldm: Some([\"P\"]) ldm=Some(Bool(true))",
        "p client on ldm: Some([\"P\"])",
        "p routes during ldm: 1",
        "new p client: [\"P\"]",
    ];
    assert_eq!(lame_duck_scenario(Target::Natrix), want, "natrix");
    assert_eq!(lame_duck_scenario(Target::NatsServer), want, "nats-server");
}

/// A raw socket registered as a route with node `cluster` (server ID `id`).
fn fake_route(cluster: u16, id: &str) -> RawClient {
    let mut r = RawClient::connect(cluster);
    r.send(format!("CONNECT {{\"echo\":true,\"verbose\":false,\"pedantic\":false,\"headers\":true,\"name\":\"{id}\",\"cluster\":\"C1\"}}\r\n").as_bytes());
    r.send(
        format!("INFO {{\"server_id\":\"{id}\",\"server_name\":\"{id}\",\"host\":\"127.0.0.1\",\"port\":1,\"headers\":true,\"cluster\":\"C1\"}}\r\n")
            .as_bytes(),
    );
    r
}

/// What a seed of kind `t` forwards to its first route when a second server joins.
fn gossip_on_the_wire(t: Target) -> Value {
    let s = start(t, free_port(), &[], "S", &[]);
    let mut fake = fake_route(s.cluster, "NFAKE");
    // Registered: the seed sends its interest (nats-server: $SYS subs) and PINGs; then
    // a nats-server joiner comes.
    fake.read_available(Duration::from_millis(300));
    let j_cluster = free_port();
    let j = start(Target::NatsServer, j_cluster, &[s.cluster], "J", &[]);
    let j_id = server_id(&j);
    let deadline = Instant::now() + WAIT;
    loop {
        let line = fake.read_line(Duration::from_millis(500));
        if let Some(l) = &line {
            if l.starts_with(b"PING") {
                fake.send(b"PONG\r\n");
            }
            if l.starts_with(b"INFO ") {
                let text = String::from_utf8_lossy(l).into_owned();
                assert!(text.ends_with("}\r\n") && !text.ends_with("} \r\n"), "{t:?}: forwarded form: {text:?}");
                let v = info_json(&text);
                assert_eq!(v["server_id"], j_id.as_str(), "{t:?}");
                return serde_json::json!({
                    "server_name": v["server_name"],
                    "ip": v["ip"].as_str().map(|s| s.replace(&j_cluster.to_string(), "JC")),
                    "port_is_j": v["port"] == j_cluster,
                    "has_nonce": v.get("nonce").is_some(),
                    "cluster": v["cluster"],
                    "connect_urls": v["connect_urls"].as_array().map(|a| a.len()),
                });
            }
        }
        assert!(Instant::now() < deadline, "{t:?}: the seed never forwarded the joiner's INFO");
    }
}

#[test]
fn a_seed_gossips_a_new_route_like_nats_server() {
    if common::skip_without_nats_server() {
        return;
    }
    let want = serde_json::json!({
        "server_name": "J", "ip": "nats-route://127.0.0.1:JC/", "port_is_j": true,
        "has_nonce": false, "cluster": "C1", "connect_urls": 1,
    });
    assert_eq!(gossip_on_the_wire(Target::Natrix), want, "natrix");
    assert_eq!(gossip_on_the_wire(Target::NatsServer), want, "nats-server");
}

/// Gossip names a server on `port`, whose listener only comes up after `up_after`:
/// whether the node under test dialed it by then (an implicit route is tried
/// `1 + connect_retries` times, a second apart).
fn implicit_route_reaches_late_listener(conf: Option<&str>, args: &[&str], up_after: Duration) -> bool {
    let cluster = free_port();
    let listen = format!("nats://127.0.0.1:{cluster}");
    let mut all = vec!["--cluster", &listen, "--cluster_name", "C1"];
    all.extend_from_slice(args);
    let conf = conf.map(|c| c.replace("CLUSTER", &cluster.to_string()));
    let server = TestServer::start_on(Target::Natrix, conf.as_deref(), if conf.is_some() { &[] } else { &all });
    let mut fake = fake_route(cluster, "NFAKE");
    fake.read_available(Duration::from_millis(200));
    let port = free_port();
    fake.send(format!("INFO {{\"server_id\":\"NLATE\",\"host\":\"127.0.0.1\",\"port\":{port},\"ip\":\"nats-route://127.0.0.1:{port}/\",\"cluster\":\"C1\"}}\r\n").as_bytes());
    std::thread::sleep(up_after);
    let l = TcpListener::bind(("127.0.0.1", port)).expect("bind the late listener");
    l.set_nonblocking(true).expect("nonblocking");
    let deadline = Instant::now() + Duration::from_secs(4);
    let mut dialed = false;
    while Instant::now() < deadline {
        if l.accept().is_ok() {
            dialed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(server);
    dialed
}

#[test]
fn implicit_routes_are_tried_connect_retries_times() {
    // 0 retries: one try, before the listener is up; never again.
    assert!(!implicit_route_reaches_late_listener(None, &[], Duration::from_millis(1500)), "no retry by default");
    // The flag and the config key: the later tries reach it.
    assert!(implicit_route_reaches_late_listener(None, &["--connect_retries", "5"], Duration::from_millis(1500)), "flag");
    let conf = "cluster { name: C1, listen: \"127.0.0.1:CLUSTER\", connect_retries: 5 }";
    assert!(implicit_route_reaches_late_listener(Some(conf), &[], Duration::from_millis(1500)), "config key");
}

/// A route peer that stops answering PINGs: `-ERR 'Stale Connection'` and close after
/// `ping_max` unanswered PINGs, as nats-server does.
fn stale_route(t: Target) -> (bool, String) {
    let cluster = free_port();
    let conf = format!("ping_interval: \"1s\"\nping_max: 2\ncluster {{ name: C1, listen: \"127.0.0.1:{cluster}\" }}\n");
    let _server = TestServer::start_on(t, Some(&conf), &[]);
    let mut fake = fake_route(cluster, "NMUTE");
    let (got, closed) = fake.read_until_closed(Duration::from_secs(10));
    let text = String::from_utf8_lossy(&got).into_owned();
    let last = text.trim_end().rsplit("\r\n").next().unwrap_or("").to_string();
    (closed && text.contains("PING\r\n"), last)
}

#[test]
fn a_route_that_stops_answering_pings_is_stale_like_nats_server() {
    let want = (true, "-ERR 'Stale Connection'".to_string());
    assert_eq!(stale_route(Target::Natrix), want, "natrix");
    if common::skip_without_nats_server() {
        return;
    }
    assert_eq!(stale_route(Target::NatsServer), want, "nats-server");
}

/// Reads lines from a fake route (answering PINGs) until one starts with `want`;
/// returns it and the line after it (a message's payload). Bounded by `WAIT`.
fn route_line_after(r: &mut RawClient, want: &[u8]) -> Option<(String, String)> {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        let Some(l) = r.read_line(Duration::from_millis(200)) else { continue };
        if l.starts_with(b"PING") {
            r.send(b"PONG\r\n");
        }
        if l.starts_with(want) {
            let next = r.read_line(Duration::from_secs(2)).unwrap_or_default();
            return Some((String::from_utf8_lossy(&l).into_owned(), String::from_utf8_lossy(&next).into_owned()));
        }
    }
    None
}

/// A routed queue message for a group with no member left on the receiving node goes on
/// to another route's member of that group: the one exception to "one hop".
fn reforwarded(t: Target) -> Option<(String, String)> {
    let s = start(t, free_port(), &[], "S", &[]);
    let mut x1 = fake_route(s.cluster, "NX1");
    let mut x2 = fake_route(s.cluster, "NX2");
    x1.read_available(Duration::from_millis(300));
    x2.read_available(Duration::from_millis(300));
    x2.send(b"RS+ $G fq g 1\r\nPING\r\n");
    route_line_after(&mut x2, b"PONG")?;
    x1.send(b"RMSG $G fq | g 2\r\nhi\r\n");
    route_line_after(&mut x2, b"RMSG")
}

#[test]
fn a_queue_message_with_no_local_member_goes_on_to_another_route_like_nats_server() {
    let want = Some(("RMSG $G fq | g 2\r\n".to_string(), "hi\r\n".to_string()));
    assert_eq!(reforwarded(Target::Natrix), want, "natrix");
    if common::skip_without_nats_server() {
        return;
    }
    assert_eq!(reforwarded(Target::NatsServer), want, "nats-server");
}
