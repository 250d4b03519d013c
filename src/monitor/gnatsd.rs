//! The exporter-compatible part of `/metrics`: the figures of `/varz`, `/connz` and `/subsz`
//! under the names, types, help texts and labels prometheus-nats-exporter gives them
//! (`gnatsd_varz_*`, `gnatsd_connz_*`, `gnatsd_subsz_*`), so dashboards and alert rules
//! written against the exporter work on natrix unchanged. They are built from the same
//! structs the JSON endpoints serve.
//!
//! The exporter's rules, followed here:
//! - `/varz` and `/subsz`: every number in the JSON, nested objects flattened with `_`
//!   (`/` in a key becomes `_`), is a gauge named after its path with that path as help text
//!   and one label, `server_id`. Of the strings only a few keys count: a time (`start`,
//!   `config_load_time`) becomes a gauge of Unix milliseconds, the others (`server_id`,
//!   `version`, ...) a gauge of 1 with the text in a `value` label. Booleans, arrays and other
//!   strings are left out, as are a few keys the exporter skips.
//! - `/connz`: totals over the connections of the default page (the first 1024 by cid),
//!   and with `connz_detailed` one series per connection and figure with the connection's
//!   labels (the exporter's `-connz_detailed`), under the same names as the totals.
use super::endpoints::{self, Connz};
use super::Query;
use crate::server::shared::Shared;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// What a scrape asks for in its query (Prometheus sends these as the scrape config's `params`).
pub struct Options {
    /// The exporter's `-prefix`: replaces `gnatsd` in every name (the NATS Helm chart uses `nats`).
    prefix: String,
    /// The exporter's `-connz_detailed`: one series per connection and figure.
    connz_detailed: bool,
}

impl Options {
    pub fn from_query(q: &Query) -> Result<Options, String> {
        let prefix = q.get("prefix").filter(|p| !p.is_empty()).unwrap_or("gnatsd");
        let valid = prefix.bytes().enumerate().all(|(i, c)| c == b'_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()));
        if !valid {
            return Err(format!("invalid metric prefix: {prefix}"));
        }
        Ok(Options { prefix: prefix.to_string(), connz_detailed: q.bool("connz_detailed")? })
    }
}

/// Keys (by flattened name) the exporter leaves out of `/varz`, with everything below them.
const SKIPPED: [&str; 9] = [
    "leaf",
    "trusted_operators_claim",
    "cluster_tls_timeout",
    "cluster_cluster_port",
    "cluster_auth_timeout",
    "gateway_port",
    "gateway_auth_timeout",
    "gateway_tls_timeout",
    "gateway_connect_retries",
];

/// The string keys the exporter turns into metrics (times, or a `value` label).
const STRING_KEYS: [&str; 8] = ["server_id", "server_name", "version", "domain", "leader", "name", "start", "config_load_time"];

/// The per-connection labels, in the exporter's order.
const CONN_LABELS: [&str; 14] = [
    "server_id",
    "cid",
    "kind",
    "type",
    "ip",
    "port",
    "name",
    "name_tag",
    "account",
    "account_id",
    "lang",
    "version",
    "tls_version",
    "tls_cipher_suite",
];

struct Family {
    kind: &'static str,
    help: String,
    /// (`{labels}`, value)
    samples: Vec<(String, f64)>,
}

/// Metric families by name; written sorted by name, as the Go client writes them.
#[derive(Default)]
struct Families(BTreeMap<String, Family>);

impl Families {
    fn add(&mut self, name: String, kind: &'static str, help: &str, labels: String, value: f64) {
        let fam = self.0.entry(name).or_insert_with(|| Family { kind, help: help.to_string(), samples: Vec::new() });
        fam.samples.push((labels, value));
    }

    fn write(&self, out: &mut String) {
        for (name, fam) in &self.0 {
            let _ = writeln!(out, "# HELP {name} {}", fam.help.replace('\\', "\\\\").replace('\n', "\\n"));
            let _ = writeln!(out, "# TYPE {name} {}", fam.kind);
            for (labels, v) in &fam.samples {
                let _ = writeln!(out, "{name}{labels} {v}");
            }
        }
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// `{k1="v1",k2="v2"}` with the values escaped.
fn labels(pairs: &[(&str, &str)]) -> String {
    let mut s = String::from("{");
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{k}=\"{}\"", escape(v));
    }
    s.push('}');
    s
}

/// The exporter's flattened name of a JSON path: joined with `_`, `/` as `_`, runs of `_`
/// collapsed, no `_` at either end.
fn flat_name(path: &[&str]) -> String {
    let joined = path.join("_").replace('/', "_");
    let mut out = String::with_capacity(joined.len());
    for c in joined.trim_matches('_').chars() {
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    out
}

/// Whether `name` may stand in a metric name (anything else would break the exposition).
fn valid_name_part(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|c| c == b'_' || c.is_ascii_alphanumeric())
}

/// One endpoint's JSON object as the exporter's generic collector reads it.
struct Flattener<'a> {
    fams: &'a mut Families,
    /// `<prefix>_<endpoint>_`
    name_start: String,
    server_id: &'a str,
}

impl Flattener<'_> {
    fn object(&mut self, obj: &Map<String, Value>, path: &mut Vec<String>) {
        for (key, v) in obj {
            path.push(key.clone());
            let refs: Vec<&str> = path.iter().map(String::as_str).collect();
            let flat = flat_name(&refs);
            if !SKIPPED.contains(&flat.as_str()) {
                self.value(key, &flat, v, path);
            }
            path.pop();
        }
    }

    fn value(&mut self, key: &str, flat: &str, v: &Value, path: &mut Vec<String>) {
        let gauge = |fams: &mut Families, name: String, l: String, x: f64| fams.add(name, "gauge", flat, l, x);
        match v {
            Value::Object(inner) => self.object(inner, path),
            _ if !valid_name_part(flat) => {}
            // Two paths with one flattened name: the first stays, as in the exporter's map.
            _ if self.fams.0.contains_key(&format!("{}{flat}", self.name_start)) => {}
            Value::Number(n) => {
                if let Some(x) = n.as_f64() {
                    gauge(self.fams, format!("{}{flat}", self.name_start), labels(&[("server_id", self.server_id)]), x);
                }
            }
            Value::String(s) if STRING_KEYS.contains(&key) => {
                let name = format!("{}{flat}", self.name_start);
                match super::format::rfc3339_millis(s) {
                    Some(ms) => gauge(self.fams, name, labels(&[("server_id", self.server_id)]), ms as f64),
                    None => gauge(self.fams, name, labels(&[("server_id", self.server_id), ("value", s)]), 1.0),
                }
            }
            _ => {}
        }
    }
}

fn flatten<T: serde::Serialize>(fams: &mut Families, opts: &Options, endpoint: &str, server_id: &str, v: &T) {
    if let Ok(Value::Object(obj)) = serde_json::to_value(v) {
        let mut f = Flattener { fams, name_start: format!("{}_{endpoint}_", opts.prefix), server_id };
        f.object(&obj, &mut Vec::new());
    }
}

/// `/connz`: the page's totals, and per connection when asked.
fn connz(fams: &mut Families, opts: &Options, server_id: &str, c: &Connz) {
    let name = |field: &str| format!("{}_connz_{field}", opts.prefix);
    let id = labels(&[("server_id", server_id)]);
    if opts.connz_detailed {
        for conn in &c.connections {
            let (cid, port) = (conn.cid.to_string(), conn.port.to_string());
            let account = conn.account.as_deref().unwrap_or("");
            let values: [&str; 14] = [
                server_id,
                &cid,
                conn.kind,
                conn.kind_type,
                &conn.ip,
                &port,
                conn.name.as_deref().unwrap_or(""),
                "",
                account,
                account,
                conn.lang.as_deref().unwrap_or(""),
                conn.version.as_deref().unwrap_or(""),
                conn.tls_version.unwrap_or(""),
                conn.tls_cipher_suite.as_deref().unwrap_or(""),
            ];
            let pairs: Vec<(&str, &str)> = CONN_LABELS.iter().copied().zip(values).collect();
            let l = labels(&pairs);
            let f = &conn.figures;
            let per_conn: [(&str, &'static str, &str, f64); 11] = [
                ("pending_bytes", "gauge", "pending_bytes", conn.pending_bytes as f64),
                ("subscriptions", "gauge", "subscriptions", conn.subscriptions as f64),
                ("in_bytes", "counter", "in_bytes", conn.in_bytes as f64),
                ("out_bytes", "counter", "out_bytes", conn.out_bytes as f64),
                ("in_msgs", "counter", "in_msgs", conn.in_msgs as f64),
                ("out_msgs", "counter", "out_msgs", conn.out_msgs as f64),
                ("start", "untyped", "epoch time at which the connection was started", f.start_ms),
                ("last_activity", "untyped", "epoch time at which the last activity was registred", f.last_activity_ms),
                ("rtt", "gauge", "response time latency in microseconds", f.rtt_us),
                ("uptime", "untyped", "uptime duration in milliseconds", f.uptime_ms),
                ("idle", "gauge", "idle time duration in milliseconds", f.idle_ms),
            ];
            for (field, kind, help, v) in per_conn {
                fams.add(name(field), kind, help, l.clone(), v);
            }
        }
    }
    let sum = |f: fn(&endpoints::ConnzEntry) -> u64| c.connections.iter().map(f).sum::<u64>() as f64;
    let totals: [(&str, &'static str, f64); 10] = [
        ("num_connections", "gauge", c.num_connections as f64),
        ("total", "gauge", c.total as f64),
        ("offset", "gauge", c.offset as f64),
        ("limit", "gauge", c.limit as f64),
        ("pending_bytes", "gauge", sum(|e| e.pending_bytes)),
        ("subscriptions", "gauge", sum(|e| e.subscriptions as u64)),
        ("in_bytes", "counter", sum(|e| e.in_bytes)),
        ("out_bytes", "counter", sum(|e| e.out_bytes)),
        ("in_msgs", "counter", sum(|e| e.in_msgs)),
        ("out_msgs", "counter", sum(|e| e.out_msgs)),
    ];
    for (field, kind, v) in totals {
        fams.add(name(field), kind, field, id.clone(), v);
    }
}

/// Appends the exporter-compatible families to `out`. `varz` is the `/varz` answer of this request.
pub fn render(out: &mut String, shared: &Shared, opts: &Options, varz: &endpoints::Varz) -> Result<(), String> {
    let server_id = shared.server_id.as_str();
    let mut fams = Families::default();
    flatten(&mut fams, opts, "varz", server_id, varz);
    // The exporter reads the default pages; `auth` names the account for the detailed labels.
    let conn_query = Query::parse(if opts.connz_detailed { "auth=true" } else { "" });
    connz(&mut fams, opts, server_id, &endpoints::connz(shared, &conn_query)?);
    flatten(&mut fams, opts, "subsz", server_id, &endpoints::subsz(shared, &Query::parse(""))?);
    fams.write(out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_names_follow_the_exporter() {
        assert_eq!(flat_name(&["in_msgs"]), "in_msgs");
        assert_eq!(flat_name(&["http_req_stats", "/varz"]), "http_req_stats_varz");
        assert_eq!(flat_name(&["http_req_stats", "/"]), "http_req_stats");
        assert_eq!(flat_name(&["jetstream", "config", "max_memory"]), "jetstream_config_max_memory");
    }

    #[test]
    fn json_flattens_to_gauges() {
        let v = serde_json::json!({
            "server_id": "NID", "version": "2.9.10", "now": "2024-01-01T00:00:00Z",
            "start": "1970-01-01T00:00:01.5Z", "in_msgs": 7, "cpu": 0.5, "auth_required": true,
            "cluster": {"port": 6222, "cluster_port": 1}, "leaf": {"port": 7422},
            "http_req_stats": {"/varz": 3, "/bad name": 1}, "urls": [1, 2],
        });
        let opts = Options { prefix: "gnatsd".into(), connz_detailed: false };
        let mut fams = Families::default();
        flatten(&mut fams, &opts, "varz", "NID", &v);
        let mut out = String::new();
        fams.write(&mut out);
        for line in [
            "# HELP gnatsd_varz_in_msgs in_msgs",
            "# TYPE gnatsd_varz_in_msgs gauge",
            "gnatsd_varz_in_msgs{server_id=\"NID\"} 7",
            "gnatsd_varz_cpu{server_id=\"NID\"} 0.5",
            "gnatsd_varz_start{server_id=\"NID\"} 1500",
            "gnatsd_varz_version{server_id=\"NID\",value=\"2.9.10\"} 1",
            "gnatsd_varz_server_id{server_id=\"NID\",value=\"NID\"} 1",
            "gnatsd_varz_cluster_port{server_id=\"NID\"} 6222",
            "gnatsd_varz_http_req_stats_varz{server_id=\"NID\"} 3",
        ] {
            assert!(out.lines().any(|l| l == line), "missing {line:?} in\n{out}");
        }
        for absent in ["now", "auth_required", "leaf", "cluster_cluster_port", "urls", "bad"] {
            assert!(!out.contains(&format!("gnatsd_varz_{absent}")), "{absent} in\n{out}");
        }
    }

    #[test]
    fn options_check_the_prefix() {
        let ok = Options::from_query(&Query::parse("prefix=nats&connz_detailed=1")).expect("valid");
        assert_eq!((ok.prefix.as_str(), ok.connz_detailed), ("nats", true));
        assert_eq!(Options::from_query(&Query::parse("")).map(|o| o.prefix), Ok("gnatsd".to_string()));
        assert!(Options::from_query(&Query::parse("prefix=9x")).is_err());
        assert!(Options::from_query(&Query::parse("prefix=a%7Bb")).is_err());
        assert!(Options::from_query(&Query::parse("connz_detailed=maybe")).is_err());
    }
}
