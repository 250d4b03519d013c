//! `/metrics`: the server's figures in the Prometheus text exposition format, natively:
//! natrix's own `natrix_*` names, then the same figures under prometheus-nats-exporter's
//! names (`gnatsd_*`, see `gnatsd.rs`), which nats-server needs a separate exporter for.
use super::gnatsd;
use crate::server::shared::Shared;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

fn metric(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, f64)]) {
    let _ = writeln!(out, "# HELP natrix_{name} {help}");
    let _ = writeln!(out, "# TYPE natrix_{name} {kind}");
    for (labels, v) in samples {
        let _ = writeln!(out, "natrix_{name}{labels} {v}");
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The whole page; `varz` is this request's `/varz` answer. Errors are bad query parameters.
pub fn render(shared: &Shared, varz: &super::endpoints::Varz, q: &super::Query) -> Result<String, String> {
    let opts = gnatsd::Options::from_query(q)?;
    let st = &shared.stats;
    let g = |v: u64| vec![(String::new(), v as f64)];
    let mut out = String::with_capacity(4096);
    metric(&mut out, "connections", "gauge", "Client connections open now.", &g(shared.num_conns.load(Ordering::Relaxed) as u64));
    metric(&mut out, "total_connections", "counter", "Client connections accepted since start.", &g(st.total_connections.load(Ordering::Relaxed)));
    metric(&mut out, "in_msgs_total", "counter", "Messages received from clients.", &g(st.in_msgs.load(Ordering::Relaxed)));
    metric(&mut out, "out_msgs_total", "counter", "Messages delivered to clients.", &g(st.out_msgs.load(Ordering::Relaxed)));
    metric(&mut out, "in_bytes_total", "counter", "Payload bytes received from clients.", &g(st.in_bytes.load(Ordering::Relaxed)));
    metric(&mut out, "out_bytes_total", "counter", "Payload bytes delivered to clients.", &g(st.out_bytes.load(Ordering::Relaxed)));
    metric(&mut out, "slow_consumers_total", "counter", "Connections closed as slow consumers.", &g(st.slow_consumers.load(Ordering::Relaxed)));
    let accounts = shared.accounts.snapshot();
    let subs: u64 = accounts.iter().map(|a| a.sublist.count() as u64).sum();
    metric(&mut out, "subscriptions", "gauge", "Subscriptions in all accounts.", &g(subs));
    let per_account: Vec<(String, f64)> =
        accounts.iter().map(|a| (format!("{{account=\"{}\"}}", escape(&a.name)), a.sublist.count() as f64)).collect();
    metric(&mut out, "account_subscriptions", "gauge", "Subscriptions per account.", &per_account);
    let mut conns: std::collections::BTreeMap<String, u64> = accounts.iter().map(|a| (a.name.to_string(), 0)).collect();
    for c in shared.snapshot_conns(false) {
        *conns.entry(c.account).or_insert(0) += 1;
    }
    let per_account: Vec<(String, f64)> =
        conns.iter().map(|(a, n)| (format!("{{account=\"{}\"}}", escape(a)), *n as f64)).collect();
    metric(&mut out, "account_connections", "gauge", "Client connections per account.", &per_account);
    let failures: Vec<(String, f64)> = st
        .auth_failures()
        .into_iter()
        .map(|(reason, n)| (format!("{{reason=\"{}\"}}", escape(reason)), n as f64))
        .collect();
    metric(&mut out, "auth_failures_total", "counter", "Refused authentications by reason.", &failures);
    let refused = vec![("{reason=\"types\"}".to_string(), st.trust.types_refused.load(Ordering::Relaxed) as f64)];
    metric(&mut out, "trust_refusals_total", "counter", "Messages refused by message trust policies, by reason.", &refused);
    let removed = st.trust.reserved_removed.load(Ordering::Relaxed);
    metric(&mut out, "reserved_headers_removed_total", "counter", "Client messages whose Natrix-* or Nats-Request-Info headers were removed.", &g(removed));
    gnatsd::render(&mut out, shared, &opts, varz)?;
    Ok(out)
}
