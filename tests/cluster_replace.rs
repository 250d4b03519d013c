//! Rolling replacement, the "done when": a running 3-node nats-server 2.9.10
//! cluster has its nodes replaced by natrix one at a time (C, then B, then A), each new
//! node on the old node's client and cluster ports with the same routes, while
//! long-lived async-nats clients (one per node, each given only its own node's URL)
//! stay up. After every step: a full mesh on every node's `/routez`; every client's
//! subscription gets every message published by every client exactly once and in
//! order; a queue group with a member in every client delivers each message exactly
//! once cluster-wide; the clients of the killed node came back (through the
//! `connect_urls` they learned). Every wait is bounded; servers die with the test.
mod common;

use common::cluster::{start_full, wait_full_mesh, Node, WAIT};
use common::{free_port, Target};
use futures::StreamExt;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};
use tokio::time::timeout;

const NODES: usize = 3;
const PER_PUBLISHER: usize = 100;

/// The ports a node keeps across its replacement.
#[derive(Clone, Copy)]
struct Ports {
    client: u16,
    cluster: u16,
}

fn start_node(t: Target, me: usize, ports: &[Ports; NODES]) -> Node {
    let routes: Vec<u16> = ports.iter().enumerate().filter(|(j, _)| *j != me).map(|(_, p)| p.cluster).collect();
    let name = ["A", "B", "C"][me];
    start_full(t, Some(ports[me].client), None, ports[me].cluster, &routes, name, &[])
}

/// A client's long-lived subscriptions: everything on `roll.>`, and one member of
/// queue group `q` on `work`.
struct Member {
    client: async_nats::Client,
    all: async_nats::Subscriber,
    queue: async_nats::Subscriber,
}

async fn drain(sub: &mut async_nats::Subscriber) {
    for _ in 0..10_000 {
        if timeout(Duration::from_millis(200), sub.next()).await.is_err() {
            return;
        }
    }
}

/// Probes until every member's `roll.>` hears every member (interest has crossed every
/// route, reconnected clients have resubscribed), then drains the probes.
async fn wait_all_hear_all(members: &mut [Member], step: &str) {
    let deadline = Instant::now() + WAIT * 2;
    let mut heard: HashSet<(usize, usize)> = HashSet::new();
    let mut round = 0u32;
    while heard.len() < NODES * NODES {
        assert!(Instant::now() < deadline, "{step}: only {heard:?} of every (subscriber, publisher) pair heard each other");
        round += 1;
        for (i, m) in members.iter().enumerate() {
            // A client still reconnecting buffers or refuses; the next round retries.
            let _ = m.client.publish("roll.probe", format!("{i}").into()).await;
            let _ = timeout(Duration::from_millis(500), m.client.flush()).await;
        }
        for (j, m) in members.iter_mut().enumerate() {
            while let Ok(Some(msg)) = timeout(Duration::from_millis(150), m.all.next()).await {
                if let Ok(i) = String::from_utf8_lossy(&msg.payload).parse::<usize>() {
                    heard.insert((j, i));
                }
            }
        }
        assert!(round < 1000, "{step}: probe rounds bounded");
    }
    for m in members.iter_mut() {
        drain(&mut m.all).await;
        drain(&mut m.queue).await;
    }
}

async fn check_delivery(members: &mut [Member], step: &str) {
    wait_all_hear_all(members, step).await;
    for (i, m) in members.iter().enumerate() {
        for k in 0..PER_PUBLISHER {
            m.client.publish(format!("roll.{i}"), format!("{i}:{k}").into()).await.expect("publish");
            m.client.publish("work", format!("{i}:{k}").into()).await.expect("publish work");
        }
        timeout(WAIT, m.client.flush()).await.expect("flush in time").expect("flush");
    }
    // Every subscriber: all messages of every publisher, in publisher order, once.
    for (j, m) in members.iter_mut().enumerate() {
        let mut got: Vec<Vec<usize>> = vec![Vec::new(); NODES];
        let mut total = 0;
        while total < NODES * PER_PUBLISHER {
            match timeout(Duration::from_secs(3), m.all.next()).await {
                Ok(Some(msg)) => {
                    let p = String::from_utf8_lossy(&msg.payload).into_owned();
                    let (i, k) = p.split_once(':').unwrap_or_else(|| panic!("{step}: payload {p}"));
                    got[i.parse::<usize>().expect("publisher")].push(k.parse().expect("seq"));
                    total += 1;
                }
                _ => break,
            }
        }
        for (i, g) in got.iter().enumerate() {
            assert_eq!(*g, (0..PER_PUBLISHER).collect::<Vec<_>>(), "{step}: subscriber {j}, publisher {i}");
        }
        assert!(timeout(Duration::from_millis(300), m.all.next()).await.is_err(), "{step}: subscriber {j} got a duplicate");
    }
    // The queue group: each message exactly once across the three members.
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut per_member = [0usize; NODES];
    for (j, m) in members.iter_mut().enumerate() {
        while let Ok(Some(msg)) = timeout(Duration::from_millis(700), m.queue.next()).await {
            *seen.entry(String::from_utf8_lossy(&msg.payload).into_owned()).or_default() += 1;
            per_member[j] += 1;
        }
    }
    let dups: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dups.is_empty(), "{step}: queue messages delivered twice: {dups:?}");
    assert_eq!(seen.len(), NODES * PER_PUBLISHER, "{step}: queue messages lost (per member {per_member:?})");
}

fn all(nodes: &[Option<Node>]) -> Vec<&Node> {
    nodes.iter().flatten().collect()
}

#[test]
fn nats_server_cluster_replaced_by_natrix_node_by_node() {
    if common::skip_without_nats_server() {
        return;
    }
    let ports: [Ports; NODES] = std::array::from_fn(|_| Ports { client: free_port(), cluster: free_port() });
    let mut nodes: Vec<Option<Node>> = (0..NODES).map(|i| Some(start_node(Target::NatsServer, i, &ports))).collect();
    wait_full_mesh(&all(&nodes), "3 nats-server nodes");

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let mut members = Vec::new();
        for n in all(&nodes) {
            // Each client knows only its own node; the others come from connect_urls.
            let client = common::client(&n.server).await;
            let all = client.subscribe("roll.>").await.expect("sub");
            let queue = client.queue_subscribe("work", "q".into()).await.expect("queue sub");
            client.flush().await.expect("flush");
            members.push(Member { client, all, queue });
        }
        check_delivery(&mut members, "before any replacement").await;

        for victim in [2usize, 1, 0] {
            let step = format!("node {} replaced by natrix", ["A", "B", "C"][victim]);
            // Dropping the node kills it (SIGKILL): the harshest replacement.
            nodes[victim] = None;
            nodes[victim] = Some(start_node(Target::Natrix, victim, &ports));
            wait_full_mesh(&all(&nodes), &step);
            check_delivery(&mut members, &step).await;
        }
        for (i, n) in all(&nodes).iter().enumerate() {
            assert_eq!(n.server.target, Target::Natrix, "node {i} is natrix now");
        }
    });
}
