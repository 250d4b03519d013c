//! Random SUB/UNSUB sequences on two nodes, with route drops and resyncs in between,
//! end with each node's remote interest equal to the other's local interest.
use super::interest::{LocalInterest, RemoteChange, RemoteInterest};
use super::parser::{parse, RouteFrame};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Sub { node: usize, subj: usize, queue: Option<usize> },
    Unsub { node: usize, pick: usize },
    Reconnect,
}

const SUBJECTS: [&str; 4] = ["a", "a.*", "b.>", "c.d"];
const QUEUES: [&str; 2] = ["g", "h"];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..2usize, 0..4usize, proptest::option::of(0..2usize)).prop_map(|(node, subj, queue)| Op::Sub { node, subj, queue }),
        4 => (0..2usize, 0..64usize).prop_map(|(node, pick)| Op::Unsub { node, pick }),
        1 => Just(Op::Reconnect),
    ]
}

struct Node {
    local: LocalInterest,
    /// What the peer told this node.
    remote: RemoteInterest<()>,
    /// This node's client subscriptions: (account, subject, queue).
    subs: Vec<(&'static str, &'static str, Option<&'static str>)>,
}

/// Feeds wire bytes to the receiving node, as a route connection would.
fn apply(bytes: &[u8], to: &mut RemoteInterest<()>) {
    let mut pos = 0;
    while pos < bytes.len() {
        let (f, n) = parse(&bytes[pos..], 4096).expect("valid").expect("complete");
        pos += n;
        match f {
            RouteFrame::Sub { account, subject, queue, weight } => {
                if to.sub(account, subject, queue, weight) == RemoteChange::Added {
                    to.set_handle(account, subject, queue, ());
                }
            }
            RouteFrame::Unsub { account, subject, queue } => {
                to.unsub(account, subject, queue);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

proptest! {
    #[test]
    fn two_nodes_agree(ops in proptest::collection::vec(op(), 1..120)) {
        let mut nodes: Vec<Node> = (0..2).map(|_| Node { local: Default::default(), remote: Default::default(), subs: Vec::new() }).collect();
        for op in ops {
            match op {
                Op::Sub { node, subj, queue } => {
                    let s = ("$G", SUBJECTS[subj], queue.map(|q| QUEUES[q]));
                    nodes[node].subs.push(s);
                    let mut wire = Vec::new();
                    if let Some(u) = nodes[node].local.add(s.0.as_bytes(), s.1.as_bytes(), s.2.map(str::as_bytes)) {
                        u.encode(&mut wire);
                    }
                    apply(&wire, &mut nodes[1 - node].remote);
                }
                Op::Unsub { node, pick } => {
                    if nodes[node].subs.is_empty() { continue; }
                    let i = pick % nodes[node].subs.len();
                    let s = nodes[node].subs.swap_remove(i);
                    let mut wire = Vec::new();
                    if let Some(u) = nodes[node].local.remove(s.0.as_bytes(), s.1.as_bytes(), s.2.map(str::as_bytes)) {
                        u.encode(&mut wire);
                    }
                    apply(&wire, &mut nodes[1 - node].remote);
                }
                Op::Reconnect => {
                    // The route dropped: remote interest goes; the new route gets a full sync.
                    for node in nodes.iter_mut() {
                        node.remote = RemoteInterest::default();
                    }
                    for n in 0..2 {
                        let mut wire = Vec::new();
                        for u in nodes[n].local.snapshot() {
                            u.encode(&mut wire);
                        }
                        apply(&wire, &mut nodes[1 - n].remote);
                    }
                }
            }
        }
        for n in 0..2 {
            prop_assert_eq!(nodes[1 - n].remote.weights(), nodes[n].local.weights());
        }
    }
}
