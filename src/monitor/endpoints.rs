//! /varz, /connz, /subsz, /accountz, /healthz: nats-server 2.9.10's field names, types
//! and order. Figures are gathered on request (per-worker counters and snapshots), so
//! the hot path pays nothing for them.
use super::format::{rfc3339, uptime};
use super::Query;
use crate::server::shared::Shared;
use crate::server::snapshot::ConnInfo;
use serde::Serialize;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

#[derive(Serialize)]
struct Empty {}

/// Go's encoding/json writes a whole float64 without a fraction (`2`, not `2.0`).
fn go_float<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        s.serialize_i64(*v as i64)
    } else {
        s.serialize_f64(*v)
    }
}

#[derive(Serialize)]
pub struct Varz {
    server_id: String,
    server_name: String,
    version: &'static str,
    proto: u8,
    go: &'static str,
    host: String,
    port: u16,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    auth_required: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    tls_required: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    tls_verify: bool,
    max_connections: usize,
    #[serde(skip_serializing_if = "is_zero_u32")]
    max_subscriptions: u32,
    ping_interval: u128,
    ping_max: u32,
    http_host: String,
    http_port: i32,
    http_base_path: String,
    https_port: i32,
    #[serde(serialize_with = "go_float")]
    auth_timeout: f64,
    max_control_line: u32,
    max_payload: u32,
    max_pending: u64,
    cluster: ClusterVarz,
    gateway: Empty,
    leaf: Empty,
    mqtt: Empty,
    websocket: Empty,
    jetstream: Empty,
    #[serde(serialize_with = "go_float")]
    tls_timeout: f64,
    write_deadline: u128,
    start: String,
    now: String,
    uptime: String,
    mem: u64,
    cores: usize,
    gomaxprocs: usize,
    #[serde(serialize_with = "go_float")]
    cpu: f64,
    connections: usize,
    total_connections: u64,
    routes: u32,
    remotes: u32,
    leafnodes: u32,
    in_msgs: u64,
    out_msgs: u64,
    in_bytes: u64,
    out_bytes: u64,
    slow_consumers: u64,
    subscriptions: usize,
    http_req_stats: std::collections::BTreeMap<String, u64>,
    config_load_time: String,
    system_account: String,
    /// natrix only: `message_trust` counters, present once configured or counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    message_trust: Option<crate::server::trust_conn::TrustVarz>,
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

/// The `/varz` `cluster` block (nats-server 2.9.10 `ClusterOptsVarz`: every field
/// omitted when empty, so `{}` without clustering).
#[derive(Serialize, Default)]
struct ClusterVarz {
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(rename = "addr", skip_serializing_if = "String::is_empty")]
    host: String,
    #[serde(rename = "cluster_port", skip_serializing_if = "is_zero_u16")]
    port: u16,
    #[serde(serialize_with = "go_float", skip_serializing_if = "is_zero_f64")]
    auth_timeout: f64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    urls: Vec<String>,
    #[serde(serialize_with = "go_float", skip_serializing_if = "is_zero_f64")]
    tls_timeout: f64,
}

fn is_zero_u16(n: &u16) -> bool {
    *n == 0
}

fn is_zero_f64(n: &f64) -> bool {
    *n == 0.0
}

fn cluster_varz(shared: &Shared) -> ClusterVarz {
    let Some(cl) = shared.cluster.as_ref() else { return ClusterVarz::default() };
    ClusterVarz {
        name: cl.name.clone(),
        host: cl.opts.host.clone(),
        port: cl.listen.port(),
        auth_timeout: cl.opts.auth_timeout.map_or(2.0, |d| d.as_secs_f64()),
        urls: cl.opts.routes.iter().map(|u| u.host_port()).collect(),
        // Routes have no TLS in natrix; nats-server shows its default timeout.
        tls_timeout: 2.0,
    }
}

pub fn varz(shared: &Shared, started: SystemTime, http_stats: std::collections::BTreeMap<String, u64>) -> Varz {
    let o = shared.live_options();
    let auth = shared.authenticator();
    let tls = shared.tls();
    let st = &shared.stats;
    let now = SystemTime::now();
    let workers = shared.inboxes.len();
    Varz {
        server_id: shared.server_id.clone(),
        server_name: shared.server_name.clone(),
        version: crate::VERSION,
        proto: 1,
        go: concat!("natrix-", env!("CARGO_PKG_VERSION")),
        host: o.host.clone(),
        port: shared.info_port,
        auth_required: auth.advertise_required(),
        tls_required: tls.is_some(),
        tls_verify: tls.as_ref().is_some_and(|t| t.opts.verifies_clients()),
        max_connections: o.max_connections,
        max_subscriptions: o.max_subscriptions,
        ping_interval: o.ping_interval.as_nanos(),
        ping_max: o.ping_max,
        http_host: o.http_host.clone().unwrap_or_else(|| o.host.clone()),
        http_port: o.http_port,
        http_base_path: o.http_base_path.clone(),
        https_port: o.https_port,
        auth_timeout: auth.config().timeout.map_or(2.0, |d| d.as_secs_f64()),
        max_control_line: o.max_control_line,
        max_payload: o.max_payload,
        max_pending: o.max_pending,
        cluster: cluster_varz(shared),
        gateway: Empty {},
        leaf: Empty {},
        mqtt: Empty {},
        websocket: Empty {},
        jetstream: Empty {},
        tls_timeout: tls.as_ref().map_or(2.0, |t| t.opts.timeout.as_secs_f64()),
        write_deadline: o.write_deadline.as_nanos(),
        start: rfc3339(started),
        now: rfc3339(now),
        uptime: uptime(now.duration_since(started).unwrap_or_default()),
        mem: super::procinfo::rss_bytes().unwrap_or(0),
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        gomaxprocs: workers,
        cpu: super::procinfo::cpu_percent(),
        connections: shared.num_conns.load(Ordering::Relaxed),
        total_connections: st.total_connections.load(Ordering::Relaxed),
        routes: shared.cluster.as_ref().map_or(0, |c| c.num_routes() as u32),
        remotes: shared.cluster.as_ref().map_or(0, |c| c.num_routes() as u32),
        leafnodes: shared.leaf.as_ref().map_or(0, |l| l.num_links() as u32),
        in_msgs: st.in_msgs.load(Ordering::Relaxed),
        out_msgs: st.out_msgs.load(Ordering::Relaxed),
        in_bytes: st.in_bytes.load(Ordering::Relaxed),
        out_bytes: st.out_bytes.load(Ordering::Relaxed),
        slow_consumers: st.slow_consumers.load(Ordering::Relaxed),
        subscriptions: shared.accounts.snapshot().iter().map(|a| a.sublist.count()).sum(),
        http_req_stats: http_stats,
        config_load_time: rfc3339(started),
        system_account: system_account(shared),
        message_trust: crate::server::trust_conn::TrustVarz::of(&st.trust, &o),
    }
}

#[derive(Serialize)]
struct SubDetail {
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<String>,
    subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    qgroup: Option<String>,
    sid: String,
    msgs: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    max: u64,
    cid: u64,
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

#[derive(Serialize)]
pub(super) struct ConnzEntry {
    pub(super) cid: u64,
    pub(super) kind: &'static str,
    #[serde(rename = "type")]
    pub(super) kind_type: &'static str,
    pub(super) ip: String,
    pub(super) port: u16,
    start: String,
    last_activity: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rtt: Option<String>,
    uptime: String,
    idle: String,
    pub(super) pending_bytes: u64,
    pub(super) in_msgs: u64,
    pub(super) out_msgs: u64,
    pub(super) in_bytes: u64,
    pub(super) out_bytes: u64,
    pub(super) subscriptions: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) lang: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) tls_version: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) tls_cipher_suite: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    authorized_user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscriptions_list: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscriptions_list_detail: Option<Vec<SubDetail>>,
    /// The times above as numbers, for `/metrics`.
    #[serde(skip)]
    pub(super) figures: ConnFigures,
}

/// A connection's times as prometheus-nats-exporter reads them from the JSON: start and last
/// activity in Unix milliseconds, RTT in microseconds (0 when unknown), uptime and idle in
/// milliseconds at the JSON's whole-second resolution.
pub(super) struct ConnFigures {
    pub(super) start_ms: f64,
    pub(super) last_activity_ms: f64,
    pub(super) rtt_us: f64,
    pub(super) uptime_ms: f64,
    pub(super) idle_ms: f64,
}

fn unix_millis(t: SystemTime) -> f64 {
    t.duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_millis() as f64)
}

#[derive(Serialize)]
pub struct Connz {
    server_id: String,
    now: String,
    pub(super) num_connections: usize,
    pub(super) total: usize,
    pub(super) offset: usize,
    pub(super) limit: usize,
    pub(super) connections: Vec<ConnzEntry>,
}

pub fn connz(shared: &Shared, q: &Query) -> Result<Connz, String> {
    let detail = q.get("subs").is_some_and(|s| s.eq_ignore_ascii_case("detail"));
    let with_subs = detail || q.bool("subs")?;
    let with_auth = q.bool("auth")?;
    let offset = q.usize("offset")?.unwrap_or(0);
    let limit = q.usize("limit")?.filter(|&l| l > 0).unwrap_or(1024);
    let state = q.get("state").unwrap_or("open").to_ascii_lowercase();
    let sort = q.get("sort").unwrap_or("cid").to_ascii_lowercase();
    let valid_sorts = ["cid", "start", "subs", "pending", "msgs_to", "msgs_from", "bytes_to", "bytes_from", "last", "idle", "uptime", "stop", "reason"];
    if !valid_sorts.contains(&sort.as_str()) {
        return Err(format!("invalid sorting option: {}", q.get("sort").unwrap_or("")));
    }
    if (sort == "stop" || sort == "reason") && state == "open" {
        return Err(format!("sort by {sort} only valid on closed connections"));
    }
    let mut all: Vec<ConnInfo> = match state.as_str() {
        "open" => shared.snapshot_conns(with_subs),
        "closed" => shared.closed.lock().iter().cloned().collect(),
        "any" | "all" => {
            let mut v = shared.snapshot_conns(with_subs);
            v.extend(shared.closed.lock().iter().cloned());
            v
        }
        _ => return Err(format!("Error decoding state for {}", q.get("state").unwrap_or(""))),
    };
    if let Some(cid) = q.usize("cid")? {
        all.retain(|c| c.cid == cid as u64);
    }
    if let Some(user) = q.get("user") {
        all.retain(|c| c.user.as_deref() == Some(user));
    }
    if let Some(acc) = q.get("acc") {
        all.retain(|c| c.account == acc);
    }
    match sort.as_str() {
        "start" => all.sort_by_key(|c| c.start),
        "subs" => all.sort_by_key(|c| std::cmp::Reverse(c.num_subs)),
        "pending" => all.sort_by_key(|c| std::cmp::Reverse(c.pending_bytes)),
        "msgs_to" => all.sort_by_key(|c| std::cmp::Reverse(c.out_msgs)),
        "msgs_from" => all.sort_by_key(|c| std::cmp::Reverse(c.in_msgs)),
        "bytes_to" => all.sort_by_key(|c| std::cmp::Reverse(c.out_bytes)),
        "bytes_from" => all.sort_by_key(|c| std::cmp::Reverse(c.in_bytes)),
        "last" => all.sort_by_key(|c| std::cmp::Reverse(c.last_activity)),
        "idle" => all.sort_by_key(|c| std::cmp::Reverse(c.idle)),
        "uptime" => all.sort_by_key(|c| std::cmp::Reverse(c.uptime)),
        "stop" => all.sort_by_key(|c| std::cmp::Reverse(c.stop)),
        "reason" => all.sort_by_key(|c| c.reason),
        _ => all.sort_by_key(|c| c.cid),
    }
    let total = all.len();
    let connections: Vec<ConnzEntry> = all
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|c| ConnzEntry {
            figures: ConnFigures {
                start_ms: unix_millis(c.start),
                last_activity_ms: unix_millis(c.last_activity),
                rtt_us: c.rtt.map_or(0.0, |d| d.as_micros() as f64),
                uptime_ms: (c.uptime.as_secs() * 1000) as f64,
                idle_ms: (c.idle.as_secs() * 1000) as f64,
            },
            cid: c.cid,
            kind: "Client",
            kind_type: "nats",
            ip: c.ip,
            port: c.port,
            start: rfc3339(c.start),
            last_activity: rfc3339(c.last_activity),
            stop: c.stop.map(rfc3339),
            reason: c.reason,
            rtt: c.rtt.map(super::format::go_duration),
            uptime: uptime(c.uptime),
            idle: uptime(c.idle),
            pending_bytes: c.pending_bytes,
            in_msgs: c.in_msgs,
            out_msgs: c.out_msgs,
            in_bytes: c.in_bytes,
            out_bytes: c.out_bytes,
            subscriptions: c.num_subs,
            name: c.name,
            lang: c.lang,
            version: c.version,
            tls_version: c.tls.as_ref().map(|t| t.version),
            tls_cipher_suite: c.tls.map(|t| t.cipher_suite),
            authorized_user: if with_auth { c.user } else { None },
            // nats-server names the account only when it is not the global one.
            account: (with_auth && c.account != crate::server::account::GLOBAL_ACCOUNT).then(|| c.account.clone()),
            subscriptions_list: (with_subs && !detail).then(|| c.subs.iter().map(|s| s.subject.clone()).collect()),
            subscriptions_list_detail: detail.then(|| {
                c.subs
                    .into_iter()
                    .map(|s| SubDetail {
                        account: None,
                        subject: s.subject,
                        qgroup: s.queue,
                        sid: s.sid,
                        msgs: s.msgs,
                        max: s.max,
                        cid: s.cid,
                    })
                    .collect()
            }),
        })
        .collect();
    Ok(Connz {
        server_id: shared.server_id.clone(),
        now: rfc3339(SystemTime::now()),
        num_connections: connections.len(),
        total,
        offset,
        limit,
        connections,
    })
}

#[derive(Serialize)]
pub struct Subsz {
    server_id: String,
    now: String,
    /// nats-server embeds its `SublistStats` here.
    #[serde(flatten)]
    stats: SublistStatz,
    total: usize,
    offset: usize,
    limit: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscriptions_list: Option<Vec<SubDetail>>,
}

pub fn subsz(shared: &Shared, q: &Query) -> Result<Subsz, String> {
    let with_subs = q.bool("subs")?;
    let offset = q.usize("offset")?.unwrap_or(0);
    let limit = q.usize("limit")?.filter(|&l| l > 0).unwrap_or(1024);
    let test = q.get("test");
    if let Some(t) = test {
        if !crate::subject::is_valid_literal_subject(t.as_bytes()) {
            return Err(format!("invalid test subject, must be valid publish subject: {t}"));
        }
    }
    let accounts = shared.accounts.snapshot();
    let accounts: Vec<_> = match q.get("acc") {
        Some(name) => accounts.into_iter().filter(|a| &*a.name == name).collect(),
        None => accounts,
    };
    let (mut count, mut inserts, mut removes, mut matches, mut hits) = (0, 0, 0, 0, 0);
    let mut list = Vec::new();
    let (mut max_fanout, mut fanout_sum, mut fanout_n) = (0usize, 0usize, 0usize);
    for a in &accounts {
        let st = a.sublist.stats();
        count += st.num_subscriptions;
        inserts += st.num_inserts;
        removes += st.num_removes;
        matches += st.num_matches;
        hits += st.num_cache_hits;
        if with_subs {
            let subs = match test {
                Some(t) => {
                    let r = a.sublist.match_subject(t.as_bytes());
                    r.psubs.iter().chain(r.qsubs.iter().flatten()).cloned().collect::<Vec<_>>()
                }
                None => a.sublist.all(),
            };
            // natrix's match caches are per worker, so fanout is that of the test subject.
            if test.is_some() {
                max_fanout = max_fanout.max(subs.len());
                fanout_sum += subs.len();
                fanout_n += 1;
            }
            list.extend(subs.into_iter().map(|s| SubDetail {
                account: Some(a.name.to_string()),
                subject: String::from_utf8_lossy(&s.subject).into_owned(),
                qgroup: s.queue.as_ref().map(|q| String::from_utf8_lossy(q).into_owned()),
                sid: String::from_utf8_lossy(&s.sid).into_owned(),
                msgs: s.delivered.load(Ordering::Relaxed),
                max: s.max.load(Ordering::Relaxed),
                cid: s.owner.cid,
            }));
        }
    }
    let total = list.len();
    let page: Vec<SubDetail> = list.into_iter().skip(offset).take(limit).collect();
    Ok(Subsz {
        server_id: shared.server_id.clone(),
        now: rfc3339(SystemTime::now()),
        stats: SublistStatz {
            num_subscriptions: count,
            num_cache: 0,
            num_inserts: inserts,
            num_removes: removes,
            num_matches: matches,
            cache_hit_rate: if matches > 0 { hits as f64 / matches as f64 } else { 0.0 },
            max_fanout,
            avg_fanout: if fanout_n > 0 { fanout_sum as f64 / fanout_n as f64 } else { 0.0 },
        },
        total: if with_subs { total } else { count },
        offset,
        limit,
        subscriptions_list: with_subs.then_some(page),
    })
}

#[derive(Serialize)]
pub struct AccountDetail {
    account_name: String,
    update_time: String,
    expired: bool,
    complete: bool,
    jetstream_enabled: bool,
    leafnode_connections: u32,
    client_connections: usize,
    subscriptions: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    exports: Vec<ExportEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    imports: Vec<ImportEntry>,
    sublist_stats: SublistStatz,
}

#[derive(Serialize)]
struct ExportEntry {
    subject: String,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    approved_accounts: Option<Vec<String>>,
}

/// nats-server's layout: a stream import names the exporter's subject and the local one,
/// a service import the local subject and (`to`) the exporter's.
#[derive(Serialize)]
struct ImportEntry {
    subject: String,
    account: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    local_subject: Option<String>,
    #[serde(rename = "type")]
    kind: &'static str,
    invalid: bool,
    share: bool,
    tracking: bool,
}

#[derive(Serialize)]
struct SublistStatz {
    num_subscriptions: usize,
    num_cache: usize,
    num_inserts: u64,
    num_removes: u64,
    num_matches: u64,
    #[serde(serialize_with = "go_float")]
    cache_hit_rate: f64,
    max_fanout: usize,
    #[serde(serialize_with = "go_float")]
    avg_fanout: f64,
}

fn account_config_entries(shared: &Shared, name: &str) -> (Vec<ExportEntry>, Vec<ImportEntry>) {
    use crate::auth::config::ResponseType;
    let opts = shared.live_options();
    let Some(acc) = opts.auth.accounts.iter().find(|a| a.name == name) else { return (Vec::new(), Vec::new()) };
    let exports = acc
        .exports
        .iter()
        .map(|e| ExportEntry {
            subject: e.subject.clone(),
            kind: if e.service { "service" } else { "stream" },
            response_type: e.service.then_some(match e.response_type {
                ResponseType::Singleton => "Singleton",
                ResponseType::Stream => "Stream",
                ResponseType::Chunked => "Chunked",
            }),
            approved_accounts: e.accounts.clone(),
        })
        .collect();
    let imports = acc
        .imports
        .iter()
        .map(|i| {
            let local = match (&i.to, &i.prefix) {
                (Some(to), _) => to.clone(),
                (None, Some(p)) => format!("{p}.{}", i.subject),
                (None, None) => i.subject.clone(),
            };
            let (subject, to, local_subject) = if i.service {
                (local, Some(i.subject.clone()), None)
            } else {
                (i.subject.clone(), None, (local != i.subject).then_some(local))
            };
            ImportEntry {
                subject,
                account: i.account.clone(),
                to,
                local_subject,
                kind: if i.service { "service" } else { "stream" },
                invalid: false,
                share: false,
                tracking: false,
            }
        })
        .collect();
    (exports, imports)
}

#[derive(Serialize)]
pub struct Accountz {
    server_id: String,
    now: String,
    system_account: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    accounts: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_detail: Option<AccountDetail>,
}

fn system_account(shared: &Shared) -> String {
    if shared.opts.auth.no_system_account {
        String::new()
    } else {
        crate::server::account::SYSTEM_ACCOUNT.to_string()
    }
}

pub fn accountz(shared: &Shared, q: &Query) -> Result<Accountz, String> {
    let accounts = shared.accounts.snapshot();
    let system_account = system_account(shared);
    let now = rfc3339(SystemTime::now());
    match q.get("acc") {
        None => Ok(Accountz {
            server_id: shared.server_id.clone(),
            now,
            system_account,
            accounts: Some(accounts.iter().map(|a| a.name.to_string()).collect()),
            account_detail: None,
        }),
        Some(name) => {
            let a = accounts.iter().find(|a| &*a.name == name).ok_or_else(|| format!("Account {name} does not exist"))?;
            let conns = shared.snapshot_conns(false).iter().filter(|c| c.account == name).count();
            let (exports, imports) = account_config_entries(shared, name);
            let st = a.sublist.stats();
            Ok(Accountz {
                server_id: shared.server_id.clone(),
                now: now.clone(),
                system_account,
                accounts: None,
                account_detail: Some(AccountDetail {
                    account_name: a.name.to_string(),
                    update_time: now,
                    expired: false,
                    complete: true,
                    jetstream_enabled: false,
                    leafnode_connections: 0,
                    client_connections: conns,
                    subscriptions: a.sublist.count(),
                    exports,
                    imports,
                    sublist_stats: SublistStatz {
                        num_subscriptions: st.num_subscriptions,
                        num_cache: 0,
                        num_inserts: st.num_inserts,
                        num_removes: st.num_removes,
                        num_matches: st.num_matches,
                        cache_hit_rate: st.cache_hit_rate(),
                        max_fanout: 0,
                        avg_fanout: 0.0,
                    },
                }),
            })
        }
    }
}
