//! `/metrics` under prometheus-nats-exporter's names: a live scrape, read by a real
//! exposition-format parser, must carry the `gnatsd_varz_*`, `gnatsd_connz_*` and
//! `gnatsd_subsz_*` families with the exporter's types, help texts and labels, and their
//! values must agree with `/varz`, `/connz` and `/subsz` read right after. The names the
//! exporter derives from nats-server's own JSON must all be there (differential), and every
//! metric the shipped Grafana dashboard (docs/grafana-natrix.json) queries must exist.
mod common;

use common::raw::RawClient;
use common::{Target, TestServer};
use prometheus_parse::{Sample, Scrape, Value as PValue};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// The exporter's per-connection labels (collector/connz.go).
const CONN_LABELS: [&str; 14] = [
    "server_id", "cid", "kind", "type", "ip", "port", "name", "name_tag", "account", "account_id", "lang", "version",
    "tls_version", "tls_cipher_suite",
];

fn monitor_port(s: &TestServer) -> u16 {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        let log = s.log();
        if let Some(line) = log.lines().find(|l| l.contains("Starting http monitor on")) {
            let port = line.rsplit(':').next().and_then(|p| p.trim().parse().ok());
            return port.unwrap_or_else(|| panic!("no port in {line:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("monitor did not start:\n{}", s.log());
}

/// One HTTP/1.0 GET: (status, body).
fn get(port: u16, path: &str) -> (u16, String) {
    let mut sock = TcpStream::connect(("127.0.0.1", port)).expect("connect to monitor");
    sock.set_read_timeout(Some(HTTP_TIMEOUT)).expect("timeout");
    write!(sock, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").expect("send request");
    let mut resp = Vec::new();
    sock.read_to_end(&mut resp).expect("read response");
    let text = String::from_utf8_lossy(&resp).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no header end in {text:?}"));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status code");
    (status, body.to_string())
}

fn get_json(port: u16, path: &str) -> Value {
    let (status, body) = get(port, path);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

fn scrape(port: u16, path: &str) -> (String, Scrape) {
    let (status, body) = get(port, path);
    assert_eq!(status, 200, "{path}: {body}");
    let parsed = Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).expect("valid exposition format");
    (body, parsed)
}

fn num(v: &PValue) -> f64 {
    match v {
        PValue::Counter(x) | PValue::Gauge(x) | PValue::Untyped(x) => *x,
        other => panic!("not a plain value: {other:?}"),
    }
}

fn kind(v: &PValue) -> &'static str {
    match v {
        PValue::Counter(_) => "counter",
        PValue::Gauge(_) => "gauge",
        PValue::Untyped(_) => "untyped",
        _ => "other",
    }
}

fn samples<'a>(s: &'a Scrape, name: &str) -> Vec<&'a Sample> {
    s.samples.iter().filter(|x| x.metric == name).collect()
}

fn label_names(x: &Sample) -> BTreeSet<String> {
    x.labels.keys().cloned().collect()
}

/// The one sample of `name` whose labels are exactly `server_id`.
fn summary<'a>(s: &'a Scrape, name: &str, server_id: &str) -> &'a Sample {
    let found: Vec<_> = samples(s, name).into_iter().filter(|x| x.labels.len() == 1).collect();
    assert_eq!(found.len(), 1, "{name}: {found:?}");
    assert_eq!(found[0].labels.get("server_id"), Some(server_id), "{name}");
    found[0]
}

fn start() -> (TestServer, u16) {
    let s = TestServer::start_on(Target::Natrix, None, &["-m", "-1"]);
    let port = monitor_port(&s);
    (s, port)
}

/// Numbers of a JSON object, flattened as the exporter names them (`a_b`, `/` as `_`).
fn numeric_paths(v: &Value, prefix: &str, out: &mut BTreeMap<String, f64>) {
    let Some(obj) = v.as_object() else { return };
    for (k, x) in obj {
        let name = format!("{prefix}_{k}").replace('/', "_");
        let mut flat = String::new();
        for c in name.trim_matches('_').chars() {
            if !(c == '_' && flat.ends_with('_')) {
                flat.push(c);
            }
        }
        match x {
            Value::Object(_) => numeric_paths(x, &flat, out),
            Value::Number(n) => {
                out.insert(flat, n.as_f64().expect("number"));
            }
            _ => {}
        }
    }
}

/// Traffic that leaves every counter still once it is done: two named clients, four
/// subscriptions, five messages delivered twice.
fn traffic(port: u16) -> (RawClient, RawClient) {
    let mut sub = RawClient::connect_with(port, r#"{"verbose":false,"name":"sub-one","lang":"raw","version":"1.2"}"#);
    sub.send(b"SUB t.> 1\r\nSUB t.x 2\r\nSUB other 3\r\nSUB t.* q 4\r\n");
    sub.sync();
    let mut publ = RawClient::connect_with(port, r#"{"verbose":false,"name":"pub-two"}"#);
    for _ in 0..5 {
        publ.send(b"PUB t.x 3\r\nabc\r\n");
    }
    publ.sync();
    (sub, publ)
}

#[test]
fn gnatsd_families_match_the_json_endpoints() {
    let (s, http) = start();
    let before = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis() as f64;
    let _clients = traffic(s.port);
    let t0 = Instant::now();
    let (text, m) = loop {
        let (text, m) = scrape(http, "/metrics?connz_detailed=true");
        let figure = |name: &str| samples(&m, name).first().map(|x| num(&x.value));
        if figure("gnatsd_varz_out_msgs") >= Some(15.0) && figure("gnatsd_varz_in_msgs") >= Some(5.0) {
            break (text, m);
        }
        assert!(t0.elapsed() < Duration::from_secs(5), "in/out msgs never reached 5/15:\n{text}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let varz = get_json(http, "/varz");
    let connz = get_json(http, "/connz?auth=true");
    let subsz = get_json(http, "/subsz");
    let id = varz["server_id"].as_str().expect("server_id");

    // /varz: every number is a gauge of the same value, named and helped by its path.
    let mut nums = BTreeMap::new();
    numeric_paths(&varz, "", &mut nums);
    assert!(nums.len() >= 30, "{nums:?}");
    for (path, want) in &nums {
        if path.starts_with("http_req_stats") && path != "http_req_stats_metrics" {
            continue; // counts this test's own /varz, /connz, /subsz requests
        }
        let name = format!("gnatsd_varz_{path}");
        let got = summary(&m, &name, id);
        assert_eq!(kind(&got.value), "gauge", "{name}");
        assert_eq!(m.docs.get(&name).map(String::as_str), Some(path.as_str()), "help of {name}");
        match path.as_str() {
            "mem" | "cpu" => assert!(num(&got.value) >= 0.0, "{name}"),
            // The scrape itself was counted before it was rendered; /varz counts none.
            "http_req_stats_metrics" => assert!(num(&got.value) >= 1.0 && num(&got.value) <= *want, "{name}"),
            _ => assert_eq!(num(&got.value), *want, "{name}"),
        }
    }
    assert_eq!(num(&summary(&m, "gnatsd_varz_in_msgs", id).value), 5.0);
    assert_eq!(num(&summary(&m, "gnatsd_varz_out_msgs", id).value), 15.0);
    assert_eq!(num(&summary(&m, "gnatsd_varz_connections", id).value), 2.0);
    // Times are Unix milliseconds; labelled strings a gauge of 1 with a `value` label.
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis() as f64;
    for t in ["gnatsd_varz_start", "gnatsd_varz_config_load_time"] {
        let v = num(&summary(&m, t, id).value);
        assert!(v > before - 10_000.0 && v <= now, "{t} = {v}, test ran {before}..{now}");
    }
    for (name, want) in [("server_id", id), ("server_name", varz["server_name"].as_str().expect("name")), ("version", varz["version"].as_str().expect("version"))] {
        let all = samples(&m, &format!("gnatsd_varz_{name}"));
        assert_eq!(all.len(), 1, "{name}");
        assert_eq!(all[0].labels.get("server_id"), Some(id));
        assert_eq!(all[0].labels.get("value"), Some(want), "{name}");
        assert_eq!(num(&all[0].value), 1.0);
    }
    for absent in ["gnatsd_varz_now", "gnatsd_varz_uptime", "gnatsd_varz_host", "gnatsd_varz_system_account"] {
        assert!(samples(&m, absent).is_empty(), "{absent} is not a metric in the exporter");
    }

    // /subsz: the same rule.
    let mut nums = BTreeMap::new();
    numeric_paths(&subsz, "", &mut nums);
    for key in ["num_subscriptions", "num_cache", "num_inserts", "num_removes", "num_matches", "cache_hit_rate", "max_fanout", "avg_fanout"] {
        assert!(nums.contains_key(key), "subsz.{key}");
    }
    for (path, want) in &nums {
        if path.starts_with("num_matches") || path == "cache_hit_rate" {
            continue; // moves when the workers' match caches publish
        }
        let name = format!("gnatsd_subsz_{path}");
        let got = summary(&m, &name, id);
        assert_eq!((kind(&got.value), num(&got.value)), ("gauge", *want), "{name}");
        assert_eq!(m.docs.get(&name).map(String::as_str), Some(path.as_str()));
    }
    assert_eq!(num(&summary(&m, "gnatsd_subsz_num_subscriptions", id).value), 4.0);

    // /connz: totals over the page, with the exporter's types.
    let conns = connz["connections"].as_array().expect("connections");
    assert_eq!(conns.len(), 2);
    let sum = |k: &str| conns.iter().map(|c| c[k].as_f64().expect(k)).sum::<f64>();
    let totals = [
        ("num_connections", "gauge", connz["num_connections"].as_f64()),
        ("total", "gauge", connz["total"].as_f64()),
        ("offset", "gauge", connz["offset"].as_f64()),
        ("limit", "gauge", connz["limit"].as_f64()),
        ("pending_bytes", "gauge", Some(sum("pending_bytes"))),
        ("subscriptions", "gauge", Some(sum("subscriptions"))),
        ("in_bytes", "counter", Some(sum("in_bytes"))),
        ("out_bytes", "counter", Some(sum("out_bytes"))),
        ("in_msgs", "counter", Some(sum("in_msgs"))),
        ("out_msgs", "counter", Some(sum("out_msgs"))),
    ];
    for (field, k, want) in totals {
        let name = format!("gnatsd_connz_{field}");
        let got = summary(&m, &name, id);
        assert_eq!((kind(&got.value), Some(num(&got.value))), (k, want), "{name}");
        assert_eq!(m.docs.get(&name).map(String::as_str), Some(field));
    }
    assert_eq!(num(&summary(&m, "gnatsd_connz_limit", id).value), 1024.0);
    assert_eq!(num(&summary(&m, "gnatsd_connz_in_msgs", id).value), 5.0);

    // connz_detailed: one series per connection and figure, with the exporter's labels.
    let per_conn = [
        ("pending_bytes", "gauge"),
        ("subscriptions", "gauge"),
        ("in_bytes", "counter"),
        ("out_bytes", "counter"),
        ("in_msgs", "counter"),
        ("out_msgs", "counter"),
        ("start", "untyped"),
        ("last_activity", "untyped"),
        ("rtt", "gauge"),
        ("uptime", "untyped"),
        ("idle", "gauge"),
    ];
    let want_labels: BTreeSet<String> = CONN_LABELS.iter().map(|s| s.to_string()).collect();
    for c in conns {
        let cid = c["cid"].to_string();
        for (field, k) in per_conn {
            let name = format!("gnatsd_connz_{field}");
            let found: Vec<_> = samples(&m, &name).into_iter().filter(|x| x.labels.get("cid") == Some(cid.as_str())).collect();
            assert_eq!(found.len(), 1, "{name} cid {cid}:\n{text}");
            let x = found[0];
            assert_eq!(label_names(x), want_labels, "{name}");
            assert_eq!(kind(&x.value), k, "{name}");
            for (label, json) in [("kind", "kind"), ("type", "type"), ("ip", "ip"), ("port", "port"), ("name", "name"), ("lang", "lang"), ("version", "version")] {
                let want = match &c[json] {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                assert_eq!(x.labels.get(label), Some(want.as_str()), "{name} label {label}");
            }
            assert_eq!(x.labels.get("server_id"), Some(id));
            let v = num(&x.value);
            match field {
                "start" | "last_activity" => assert!(v > before - 10_000.0 && v <= now + 1000.0, "{name} = {v}"),
                "uptime" | "idle" => assert!(v >= 0.0 && v % 1000.0 == 0.0, "{name} = {v}: whole seconds, as in the JSON"),
                "rtt" => assert!(v >= 0.0, "{name} = {v}"),
                _ => assert_eq!(Some(v), c[field].as_f64(), "{name} cid {cid}"),
            }
        }
    }
    let sub_conn = conns.iter().find(|c| c["name"] == "sub-one").expect("sub-one");
    let subs = samples(&m, "gnatsd_connz_subscriptions");
    let one = subs.iter().find(|x| x.labels.get("name") == Some("sub-one")).expect("per-connection series");
    assert_eq!((num(&one.value), one.labels.get("lang"), one.labels.get("version")), (4.0, Some("raw"), Some("1.2")));
    assert_eq!(sub_conn["subscriptions"], 4);

    // Without connz_detailed only the totals, as with the exporter's `-connz`.
    let (_, plain) = scrape(http, "/metrics");
    let connz_samples: Vec<_> = plain.samples.iter().filter(|x| x.metric.starts_with("gnatsd_connz_")).collect();
    assert_eq!(connz_samples.len(), totals.len(), "{connz_samples:?}");
    assert!(connz_samples.iter().all(|x| x.labels.len() == 1));
    // natrix's own names are still there.
    assert_eq!(num(&plain.samples.iter().find(|x| x.metric == "natrix_in_msgs_total").expect("natrix_in_msgs_total").value), 5.0);
}

#[test]
fn prefix_and_bad_parameters() {
    let (s, http) = start();
    let _clients = traffic(s.port);
    let (text, m) = scrape(http, "/metrics?prefix=nats");
    assert!(!samples(&m, "nats_varz_connections").is_empty(), "{text}");
    assert!(!samples(&m, "nats_connz_total").is_empty(), "{text}");
    assert!(!samples(&m, "nats_subsz_num_subscriptions").is_empty(), "{text}");
    assert!(!text.contains("gnatsd_"), "the prefix replaces gnatsd:\n{text}");
    for bad in ["/metrics?prefix=1x", "/metrics?prefix=a%20b", "/metrics?connz_detailed=maybe"] {
        let (status, body) = get(http, bad);
        assert_eq!(status, 400, "{bad}: {body}");
    }
}

/// A client name with the exposition format's special characters comes out escaped, and
/// the page still parses.
#[test]
fn hostile_client_names_are_escaped() {
    let (s, http) = start();
    let _c = RawClient::connect_with(s.port, r#"{"verbose":false,"name":"a\"b\\c\nd} e 1"}"#);
    let t0 = Instant::now();
    loop {
        let (text, m) = scrape(http, "/metrics?connz_detailed=1");
        if text.contains(r#"name="a\"b\\c\nd} e 1""#) {
            assert!(!samples(&m, "gnatsd_varz_connections").is_empty());
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(5), "no escaped name in:\n{text}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Differential: every name the exporter derives from nats-server 2.9.10's own `/varz` and
/// `/subsz` (its numbers, plus the labelled strings and times it keeps) is in natrix's scrape,
/// as a gauge with the `server_id` label.
#[test]
fn every_name_the_exporter_gives_nats_server_exists() {
    if common::skip_without_nats_server() {
        return;
    }
    let reference = TestServer::start_on(Target::NatsServer, None, &["-m", &common::free_port().to_string()]);
    let ref_http = monitor_port(&reference);
    let mut expected = BTreeSet::new();
    for endpoint in ["varz", "subsz"] {
        let v = get_json(ref_http, &format!("/{endpoint}"));
        let mut nums = BTreeMap::new();
        numeric_paths(&v, "", &mut nums);
        for path in nums.keys() {
            // The exporter skips these (collector.go's skip list); nats-server has no leaf map here.
            if path == "cluster_cluster_port" || path.starts_with("leaf_") {
                continue;
            }
            expected.insert(format!("gnatsd_{endpoint}_{path}"));
        }
        for key in ["server_id", "server_name", "version", "start", "config_load_time"] {
            if v[key].is_string() {
                expected.insert(format!("gnatsd_{endpoint}_{key}"));
            }
        }
    }
    assert!(expected.len() >= 40, "{expected:?}");
    let (_s, http) = start();
    let _ = get(http, "/varz"); // the exporter reads /varz, so its request count is there
    let (text, m) = scrape(http, "/metrics");
    for name in &expected {
        let found = samples(&m, name);
        assert!(!found.is_empty(), "{name} (from nats-server's JSON) missing in natrix's /metrics:\n{text}");
        assert!(found.iter().all(|x| kind(&x.value) == "gauge" && x.labels.get("server_id").is_some()), "{name}: {found:?}");
    }
}

/// The names the exporter's own Grafana dashboard queries
/// (prometheus-nats-exporter walkthrough/grafana-nats-dash.json).
#[test]
fn the_exporter_dashboard_queries_exist() {
    let (_s, http) = start();
    let (text, m) = scrape(http, "/metrics");
    for name in [
        "gnatsd_varz_connections",
        "gnatsd_varz_cpu",
        "gnatsd_varz_in_bytes",
        "gnatsd_varz_in_msgs",
        "gnatsd_varz_mem",
        "gnatsd_varz_out_bytes",
        "gnatsd_varz_out_msgs",
        "gnatsd_varz_slow_consumers",
        "gnatsd_varz_subscriptions",
    ] {
        assert!(!samples(&m, name).is_empty(), "{name} missing:\n{text}");
    }
}

/// Metric names in a PromQL expression: identifiers outside strings, label matchers, ranges
/// and grouping lists (`by (..)`, `on (..)`, ...) that are not functions (followed by `(`)
/// or keywords.
fn promql_metric_names(expr: &str) -> BTreeSet<String> {
    const GROUPING: [&str; 6] = ["by", "without", "on", "ignoring", "group_left", "group_right"];
    const KEYWORDS: [&str; 7] = ["bool", "and", "or", "unless", "offset", "inf", "nan"];
    // Drop strings, `{...}` and `[...]`.
    let mut plain = Vec::new();
    let mut chars = expr.chars();
    let mut depth = 0;
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' => {
                while let Some(d) = chars.next() {
                    if d == '\\' {
                        chars.next();
                    } else if d == c {
                        break;
                    }
                }
                plain.push(' ');
            }
            '{' | '[' => depth += 1,
            '}' | ']' => depth -= 1,
            _ if depth > 0 => {}
            _ => plain.push(c),
        }
    }
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':' || c == '$' || c == '.';
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < plain.len() {
        if !is_word(plain[i]) {
            i += 1;
            continue;
        }
        let from = i;
        while i < plain.len() && is_word(plain[i]) {
            i += 1;
        }
        let tok: String = plain[from..i].iter().collect();
        let next = plain[i..].iter().position(|c| !c.is_whitespace()).map(|p| i + p);
        let before_paren = next.is_some_and(|n| plain[n] == '(');
        // `sum by (..) (..)`: an aggregation operator, whose grouping comes first.
        let next_word: String = next.map(|n| plain[n..].iter().take_while(|&&c| is_word(c)).collect()).unwrap_or_default();
        let aggregation = next_word == "by" || next_word == "without";
        if GROUPING.contains(&tok.as_str()) {
            // Skip the label list.
            if let (true, Some(n)) = (before_paren, next) {
                i = plain[n..].iter().position(|&c| c == ')').map_or(plain.len(), |p| n + p + 1);
            }
            continue;
        }
        let first = tok.chars().next().unwrap_or('0');
        if (first.is_ascii_alphabetic() || first == '_') && !KEYWORDS.contains(&tok.as_str()) && !before_paren && !aggregation {
            names.insert(tok);
        }
    }
    names
}

fn collect_queries(v: &Value, exprs: &mut Vec<String>, templ: &mut Vec<String>, in_templating: bool) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                match (k.as_str(), x) {
                    ("expr", Value::String(s)) => exprs.push(s.clone()),
                    ("query", Value::String(s)) if in_templating => templ.push(s.clone()),
                    ("query", Value::Object(q)) if in_templating => {
                        if let Some(Value::String(s)) = q.get("query") {
                            templ.push(s.clone());
                        }
                    }
                    _ => collect_queries(x, exprs, templ, in_templating || k == "templating"),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_queries(x, exprs, templ, in_templating)),
        _ => {}
    }
}

#[test]
fn promql_name_extraction() {
    let got = promql_metric_names(r#"sum by (account, x) (rate(natrix_in_msgs_total{instance=~"$instance", a="b}"}[$__rate_interval])) / ignoring(y) natrix_connections offset 5m"#);
    let want: BTreeSet<String> = ["natrix_in_msgs_total", "natrix_connections"].iter().map(|s| s.to_string()).collect();
    assert_eq!(got, want);
    assert_eq!(promql_metric_names("up"), ["up".to_string()].into_iter().collect());
}

/// Every metric the shipped dashboard queries (panel `expr`s and `label_values(...)` in its
/// variables) exists in a live scrape.
#[test]
fn dashboard_queries_only_existing_metrics() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/grafana-natrix.json");
    let text = std::fs::read_to_string(path).expect("read docs/grafana-natrix.json");
    let dash: Value = serde_json::from_str(&text).expect("dashboard is JSON");
    let (mut exprs, mut templ) = (Vec::new(), Vec::new());
    collect_queries(&dash, &mut exprs, &mut templ, false);
    assert!(exprs.len() >= 8, "{exprs:?}");
    let mut names: BTreeSet<String> = exprs.iter().flat_map(|e| promql_metric_names(e)).collect();
    for q in &templ {
        if let Some(args) = q.strip_prefix("label_values(") {
            let first = args.split([',', ')']).next().unwrap_or("").trim();
            names.extend(promql_metric_names(first));
        }
    }
    assert!(names.len() >= 8, "{names:?}");
    assert!(names.iter().all(|n| n.starts_with("natrix_")), "the dashboard is over natrix's own names: {names:?}");

    let (s, http) = start();
    let _clients = traffic(s.port);
    let (text, m) = scrape(http, "/metrics");
    for name in &names {
        assert!(m.docs.contains_key(name), "{name} (queried by the dashboard) is not in /metrics:\n{text}");
    }
}
