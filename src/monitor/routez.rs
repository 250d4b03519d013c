//! `/routez` in nats-server 2.9.10's shape: the registered routes with their traffic
//! and, with `subs=1` (or `subs=detail`), the peer's interest. Gathered on request
//! from the route worker.
use super::format::{go_duration, rfc3339, uptime};
use super::Query;
use crate::server::shared::Shared;
use serde::Serialize;
use std::time::SystemTime;

#[derive(Serialize)]
pub struct Routez {
    server_id: String,
    now: String,
    num_routes: usize,
    routes: Vec<RouteEntry>,
}

#[derive(Serialize)]
struct RouteEntry {
    rid: u64,
    remote_id: String,
    did_solicit: bool,
    is_configured: bool,
    ip: String,
    port: u16,
    start: String,
    last_activity: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    rtt: Option<String>,
    uptime: String,
    idle: String,
    pending_size: u64,
    in_msgs: u64,
    out_msgs: u64,
    in_bytes: u64,
    out_bytes: u64,
    subscriptions: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscriptions_list: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscriptions_list_detail: Option<Vec<RouteSub>>,
}

/// nats-server's `SubDetail` for a route's subscription.
#[derive(Serialize)]
struct RouteSub {
    subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    qgroup: Option<String>,
    sid: String,
    msgs: u64,
    cid: u64,
}

pub fn routez(shared: &Shared, q: &Query) -> Result<Routez, String> {
    let detail = q.get("subs").is_some_and(|s| s.eq_ignore_ascii_case("detail"));
    let with_subs = detail || q.bool("subs")?;
    let views = if shared.cluster.is_some() { shared.snapshot_routes(with_subs) } else { Vec::new() };
    let routes: Vec<RouteEntry> = views
        .into_iter()
        .map(|v| {
            let c = v.conn;
            RouteEntry {
                rid: c.cid,
                remote_id: v.remote_id,
                did_solicit: v.did_solicit,
                is_configured: v.is_configured,
                ip: c.ip,
                port: c.port,
                start: rfc3339(c.start),
                last_activity: rfc3339(c.last_activity),
                rtt: c.rtt.map(go_duration),
                uptime: uptime(c.uptime),
                idle: uptime(c.idle),
                pending_size: c.pending_bytes,
                in_msgs: c.in_msgs,
                out_msgs: c.out_msgs,
                in_bytes: c.in_bytes,
                out_bytes: c.out_bytes,
                subscriptions: c.num_subs,
                subscriptions_list: (with_subs && !detail).then(|| c.subs.iter().map(|s| s.subject.clone()).collect()),
                subscriptions_list_detail: detail.then(|| {
                    c.subs
                        .into_iter()
                        .map(|s| RouteSub { subject: s.subject, qgroup: s.queue, sid: s.sid, msgs: s.msgs, cid: s.cid })
                        .collect()
                }),
            }
        })
        .collect();
    Ok(Routez { server_id: shared.server_id.clone(), now: rfc3339(SystemTime::now()), num_routes: routes.len(), routes })
}
