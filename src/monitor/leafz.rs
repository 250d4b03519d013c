//! `/leafz` in nats-server 2.9.10's shape: the linked leaf connections with their
//! bound account, traffic and, with `subs=1`, the interest the leaf announced.
//! Gathered on request from the route worker (where leaf connections live).
use super::format::{go_duration, rfc3339};
use super::Query;
use crate::server::shared::Shared;
use serde::Serialize;
use std::time::SystemTime;

#[derive(Serialize)]
pub struct Leafz {
    server_id: String,
    now: String,
    leafnodes: usize,
    leafs: Vec<LeafEntry>,
}

#[derive(Serialize)]
struct LeafEntry {
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    is_spoke: bool,
    account: String,
    ip: String,
    port: u16,
    rtt: String,
    in_msgs: u64,
    out_msgs: u64,
    in_bytes: u64,
    out_bytes: u64,
    subscriptions: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscriptions_list: Option<Vec<String>>,
}

pub fn leafz(shared: &Shared, q: &Query) -> Result<Leafz, String> {
    let with_subs = q.bool("subs")?;
    let Some(leaf) = shared.leaf.as_ref() else {
        return Ok(Leafz { server_id: shared.server_id.clone(), now: rfc3339(SystemTime::now()), leafnodes: 0, leafs: Vec::new() });
    };
    let entries = leaf.links();
    let leafs: Vec<LeafEntry> = shared
        .snapshot_leafs(with_subs)
        .into_iter()
        .map(|v| {
            let c = v.conn;
            let e = entries.iter().find(|e| e.cid == c.cid);
            LeafEntry {
                name: e.map(|e| e.name.clone()).unwrap_or_default(),
                is_spoke: e.is_some_and(|e| e.is_spoke),
                account: e.map(|e| e.account.clone()).unwrap_or_default(),
                ip: c.ip,
                port: c.port,
                rtt: c.rtt.map(go_duration).unwrap_or_else(|| "0s".into()),
                in_msgs: c.in_msgs,
                out_msgs: c.out_msgs,
                in_bytes: c.in_bytes,
                out_bytes: c.out_bytes,
                subscriptions: c.num_subs,
                subscriptions_list: with_subs.then(|| {
                    c.subs
                        .iter()
                        .map(|s| match &s.queue {
                            Some(q) => format!("{} {q}", s.subject),
                            None => s.subject.clone(),
                        })
                        .collect()
                }),
            }
        })
        .collect();
    Ok(Leafz { server_id: shared.server_id.clone(), now: rfc3339(SystemTime::now()), leafnodes: leafs.len(), leafs })
}
