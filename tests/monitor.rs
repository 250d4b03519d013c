//! HTTP monitoring: real requests against every endpoint of a running server, checking
//! that figures follow the traffic, that errors read as nats-server's, and that
//! `/metrics` is valid Prometheus text (read by a real exposition-format parser).
//! `NATRIX_TEST_TARGET=nats-server` runs the shared endpoints against the reference.
mod common;

use common::raw::RawClient;
use common::{Target, TestServer};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// The monitor port the server logged (`Starting http monitor on host:port`).
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

/// One HTTP/1.0 GET: (status, content type, body).
fn get(port: u16, path: &str) -> (u16, String, String) {
    let mut sock = TcpStream::connect(("127.0.0.1", port)).expect("connect to monitor");
    sock.set_read_timeout(Some(HTTP_TIMEOUT)).expect("timeout");
    write!(sock, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").expect("send request");
    let mut resp = Vec::new();
    sock.read_to_end(&mut resp).expect("read response");
    let text = String::from_utf8_lossy(&resp).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no header end in {text:?}"));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status code");
    let ctype = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-type:").map(|v| v.trim().to_string()))
        .unwrap_or_default();
    (status, ctype, body.to_string())
}

fn get_json(port: u16, path: &str) -> Value {
    let (status, ctype, body) = get(port, path);
    assert_eq!(status, 200, "{path}: {body}");
    assert!(ctype.starts_with("application/json"), "{path}: content type {ctype}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

fn start(conf: Option<&str>) -> (TestServer, u16) {
    let s = TestServer::start_on(common::target(), conf, &["-m", "-1"]);
    let port = monitor_port(&s);
    (s, port)
}

/// Polls `path` until `ok` holds (counters are published once per worker cycle).
fn wait_json(port: u16, path: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let v = get_json(port, path);
        if ok(&v) {
            return v;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "{path} never matched; last:\n{v:#}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn varz_follows_traffic() {
    let (s, http) = start(None);
    let before = get_json(http, "/varz");
    for key in ["server_id", "version", "host", "start", "now", "uptime", "config_load_time"] {
        assert!(before[key].is_string(), "varz.{key}: {before:#}");
    }
    for key in ["port", "max_payload", "max_connections", "ping_interval", "write_deadline", "mem", "cores"] {
        assert!(before[key].is_u64() || before[key].is_i64(), "varz.{key}: {before:#}");
    }
    assert_eq!(before["port"], s.port);
    assert_eq!(before["max_payload"], 1_048_576);
    assert_eq!(before["auth_timeout"], 2, "Go writes a whole float64 as an integer");
    assert_eq!(before["connections"], 0);

    let mut sub = RawClient::quiet(s.port);
    sub.send(b"SUB v.> 1\r\nSUB v.x 2\r\n");
    sub.sync();
    let mut publ = RawClient::quiet(s.port);
    for _ in 0..10 {
        publ.send(b"PUB v.x 5\r\nhello\r\n");
    }
    publ.sync();
    let after = wait_json(http, "/varz", |v| v["out_msgs"].as_u64() >= Some(20));
    let n = |v: &Value, k: &str| v[k].as_u64().unwrap_or_else(|| panic!("varz.{k}"));
    assert_eq!(n(&after, "in_msgs") - n(&before, "in_msgs"), 10);
    assert_eq!(n(&after, "in_bytes") - n(&before, "in_bytes"), 50);
    assert_eq!(n(&after, "out_msgs") - n(&before, "out_msgs"), 20);
    assert_eq!(n(&after, "out_bytes") - n(&before, "out_bytes"), 100);
    assert_eq!(n(&after, "connections"), 2);
    assert!(n(&after, "total_connections") >= 2);
    assert!(n(&after, "subscriptions") >= 2);
    assert!(after["http_req_stats"]["/varz"].as_u64() >= Some(2), "{after:#}");
}

#[test]
fn connz_lists_open_and_closed_connections() {
    let (s, http) = start(None);
    let mut a = RawClient::connect_with(s.port, r#"{"verbose":false,"name":"alpha","lang":"raw","version":"9.9"}"#);
    a.send(b"SUB c.1 1\r\nSUB c.2 q 2\r\nPUB c.1 3\r\nabc\r\n");
    a.sync();
    let mut b = RawClient::connect_with(s.port, r#"{"verbose":false,"name":"beta"}"#);
    for _ in 0..3 {
        b.send(b"PUB c.1 2\r\nhi\r\n");
    }
    b.sync();

    let v = wait_json(http, "/connz?subs=detail", |v| {
        v["connections"].as_array().is_some_and(|c| c.iter().any(|c| c["out_msgs"].as_u64() == Some(4)))
    });
    assert_eq!(v["num_connections"], 2);
    assert_eq!(v["total"], 2);
    let conns = v["connections"].as_array().expect("connections");
    let alpha = conns.iter().find(|c| c["name"] == "alpha").expect("alpha listed");
    assert_eq!(alpha["lang"], "raw");
    assert_eq!(alpha["version"], "9.9");
    assert_eq!(alpha["ip"], "127.0.0.1");
    assert_eq!(alpha["subscriptions"], 2);
    assert_eq!(alpha["in_msgs"], 1);
    assert_eq!(alpha["in_bytes"], 3);
    assert_eq!(alpha["out_msgs"], 4);
    assert_eq!(alpha["out_bytes"], 9);
    let detail = alpha["subscriptions_list_detail"].as_array().expect("detail");
    assert_eq!(detail.len(), 2);
    // nats-server lists subscriptions in map order; natrix in creation order.
    let plain = detail.iter().find(|d| d["subject"] == "c.1").expect("c.1 listed");
    assert_eq!(plain["sid"], "1");
    assert_eq!(plain["msgs"], 4);
    let queue = detail.iter().find(|d| d["subject"] == "c.2").expect("c.2 listed");
    assert_eq!(queue["qgroup"], "q");
    assert_eq!(queue["msgs"], 0);
    let cid_alpha = alpha["cid"].as_u64().expect("cid");

    // Sorting, paging, filtering by cid.
    let by_out = get_json(http, "/connz?sort=msgs_to&limit=1");
    assert_eq!(by_out["connections"].as_array().map(Vec::len), Some(1));
    assert_eq!(by_out["connections"][0]["name"], "alpha");
    assert_eq!(by_out["limit"], 1);
    let by_in = get_json(http, "/connz?sort=msgs_from");
    assert_eq!(by_in["connections"][0]["name"], "beta");
    let second = get_json(http, "/connz?offset=1");
    assert_eq!(second["connections"].as_array().map(Vec::len), Some(1));
    assert_eq!(second["offset"], 1);
    let one = get_json(http, &format!("/connz?cid={cid_alpha}&subs=1"));
    let mut list: Vec<&str> =
        one["connections"][0]["subscriptions_list"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    list.sort();
    assert_eq!(list, ["c.1", "c.2"]);

    // A closed connection stays visible with its reason.
    a.send(b"FOO BAR\r\n");
    let (_, closed) = a.read_until_closed(Duration::from_secs(5));
    assert!(closed, "server should close after an unknown op");
    let v = wait_json(http, "/connz?state=closed", |v| v["total"].as_u64() >= Some(1));
    let gone = &v["connections"][0];
    assert_eq!(gone["cid"], cid_alpha);
    assert_eq!(gone["reason"], "Protocol Violation", "nats-server 2.9.10 closes an unknown op so");
    assert!(gone["stop"].is_string());
    let all = get_json(http, "/connz?state=all");
    assert_eq!(all["total"], 2);
    let open = get_json(http, "/connz");
    assert_eq!(open["total"], 1);
    drop(b);
    wait_json(http, "/connz?state=closed&sort=stop", |v| v["total"] == 2);
}

#[test]
fn connz_and_varz_bad_queries_get_nats_server_errors() {
    let (_s, http) = start(None);
    for (path, text) in [
        ("/connz?sort=foo", "invalid sorting option: foo"),
        ("/connz?state=bad", "Error decoding state for bad"),
        ("/connz?sort=stop", "sort by stop only valid on closed connections"),
        ("/connz?limit=x", "Error decoding int for 'limit': strconv.Atoi: parsing \"x\": invalid syntax"),
        ("/connz?subs=maybe", "Error decoding boolean for 'subs': strconv.ParseBool: parsing \"maybe\": invalid syntax"),
        ("/subsz?test=foo.*", "invalid test subject, must be valid publish subject: foo.*"),
        ("/accountz?acc=nope", "Account nope does not exist"),
    ] {
        let (status, _, body) = get(http, path);
        assert_eq!(status, 400, "{path}");
        assert_eq!(body.trim(), text, "{path}");
    }
    let (status, _, _) = get(http, "/nothing-here");
    assert_eq!(status, 404);
    let (status, ctype, body) = get(http, "/varz?callback=cb");
    assert_eq!(status, 200);
    assert!(ctype.starts_with("application/javascript"), "{ctype}");
    assert!(body.starts_with("cb({") && body.ends_with(')'), "{body}");
    let health = get_json(http, "/healthz");
    assert_eq!(health["status"], "ok");
}

#[test]
fn subsz_counts_and_tests_subjects() {
    let (s, http) = start(None);
    let mut c = RawClient::quiet(s.port);
    c.send(b"SUB s.a 1\r\nSUB s.* 2\r\nSUB s.> q 3\r\nSUB other 4\r\n");
    c.sync();
    let v = get_json(http, "/subsz?subs=1&test=s.a");
    assert_eq!(v["subscriptions_list"].as_array().map(Vec::len), Some(3), "{v:#}");
    let subjects: Vec<&str> =
        v["subscriptions_list"].as_array().into_iter().flatten().filter_map(|s| s["subject"].as_str()).collect();
    assert!(subjects.contains(&"s.a") && subjects.contains(&"s.*") && subjects.contains(&"s.>"));
    assert!(!subjects.contains(&"other"));
    let base = get_json(http, "/subsz").get("num_subscriptions").and_then(Value::as_u64).expect("count");
    c.send(b"UNSUB 4\r\n");
    c.sync();
    let after = get_json(http, "/subsz");
    assert_eq!(after["num_subscriptions"].as_u64(), Some(base - 1));
    assert!(after["num_removes"].as_u64() >= Some(1));
    if s.target == Target::Natrix {
        let listed = get_json(http, "/subsz?subs=1&limit=2");
        assert_eq!(listed["subscriptions_list"].as_array().map(Vec::len), Some(2));
        assert_eq!(listed["total"], 3);
    }
}

const ACCOUNTS: &str = r#"
accounts {
  A { users [{user: a, password: pa}], exports [{stream: "s.>"}, {service: svc, accounts: [B]}] }
  B { users [{user: b, password: pb}],
      imports [{stream: {account: A, subject: "s.>"}, prefix: p}, {service: {account: A, subject: svc}, to: asvc}] }
}
"#;

#[test]
fn accountz_shows_accounts_exports_and_imports() {
    let (s, http) = start(Some(ACCOUNTS));
    let list = get_json(http, "/accountz");
    let names: Vec<&str> = list["accounts"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    for a in ["A", "B", "$G", "$SYS"] {
        assert!(names.contains(&a), "{a} missing from {names:?}");
    }
    assert_eq!(list["system_account"], "$SYS");

    let _a = RawClient::connect_with(s.port, r#"{"verbose":false,"user":"a","pass":"pa"}"#);
    let a = wait_json(http, "/accountz?acc=A", |v| v["account_detail"]["client_connections"] == 1);
    let svc = a["account_detail"]["exports"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["subject"] == "svc")
        .cloned()
        .expect("svc export");
    assert_eq!(svc["type"], "service");
    assert_eq!(svc["response_type"], "Singleton");
    assert_eq!(svc["approved_accounts"], serde_json::json!(["B"]));
    let b = get_json(http, "/accountz?acc=B");
    let imports = b["account_detail"]["imports"].as_array().cloned().unwrap_or_default();
    let stream = imports.iter().find(|i| i["subject"] == "s.>").expect("stream import");
    assert_eq!(stream["account"], "A");
    assert_eq!(stream["local_subject"], "p.s.>");
    assert_eq!(stream["type"], "stream");
    let service = imports.iter().find(|i| i["subject"] == "asvc").expect("service import");
    assert_eq!(service["to"], "svc");
    assert!(b["account_detail"]["sublist_stats"]["num_subscriptions"].is_u64());

    // auth=1 names the user and (not being $G) the account.
    let c = wait_json(http, "/connz?auth=1", |v| v["total"] == 1);
    assert_eq!(c["connections"][0]["authorized_user"], "a");
    assert_eq!(c["connections"][0]["account"], "A");
}

#[test]
fn metrics_are_valid_prometheus_text_and_follow_traffic() {
    if common::target() != Target::Natrix {
        eprintln!("skipped: /metrics is natrix's own endpoint");
        return;
    }
    let (s, http) = start(Some(ACCOUNTS));
    let mut sub = RawClient::connect_with(s.port, r#"{"verbose":false,"user":"a","pass":"pa"}"#);
    sub.send(b"SUB m.> 1\r\n");
    sub.sync();
    let mut publ = RawClient::connect_with(s.port, r#"{"verbose":false,"user":"a","pass":"pa"}"#);
    for _ in 0..7 {
        publ.send(b"PUB m.x 4\r\nabcd\r\n");
    }
    publ.sync();
    let mut bad = RawClient::connect(s.port);
    bad.send(b"CONNECT {\"user\":\"a\",\"pass\":\"wrong\"}\r\n");
    let (_, closed) = bad.read_until_closed(Duration::from_secs(5));
    assert!(closed);

    let start = Instant::now();
    let scrape = loop {
        let (status, ctype, body) = get(http, "/metrics");
        assert_eq!(status, 200);
        assert!(ctype.starts_with("text/plain"), "{ctype}");
        let lines = body.lines().map(|l| Ok(l.to_string()));
        let scrape = prometheus_parse::Scrape::parse(lines).expect("valid exposition format");
        let out = value(&scrape, "natrix_out_msgs_total", None);
        let fails = value(&scrape, "natrix_auth_failures_total", Some(("reason", "Authorization Violation")));
        if out >= 7.0 && fails >= 1.0 {
            break scrape;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "metrics never caught up:\n{body}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(value(&scrape, "natrix_in_msgs_total", None), 7.0);
    assert_eq!(value(&scrape, "natrix_in_bytes_total", None), 28.0);
    assert_eq!(value(&scrape, "natrix_out_bytes_total", None), 28.0);
    assert_eq!(value(&scrape, "natrix_connections", None), 2.0);
    assert_eq!(value(&scrape, "natrix_account_connections", Some(("account", "A"))), 2.0);
    assert_eq!(value(&scrape, "natrix_account_subscriptions", Some(("account", "A"))), 1.0);
    assert_eq!(value(&scrape, "natrix_auth_failures_total", Some(("reason", "Authentication Timeout"))), 0.0);
    assert!(scrape.docs.contains_key("natrix_slow_consumers_total"));
}

/// The value of one sample, by name and optionally one label.
fn value(scrape: &prometheus_parse::Scrape, name: &str, label: Option<(&str, &str)>) -> f64 {
    let sample = scrape
        .samples
        .iter()
        .find(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
        .unwrap_or_else(|| panic!("no sample {name} {label:?}"));
    match sample.value {
        prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
        _ => panic!("{name} is not a plain value"),
    }
}

#[test]
fn monitor_from_config_with_base_path() {
    if common::target() != Target::Natrix {
        eprintln!("skipped: checks natrix's own config handling of http_base_path");
        return;
    }
    let port = common::free_port();
    let s = TestServer::start_with_config(&format!("http: \"127.0.0.1:{port}\"\nhttp_base_path: /mon\n"));
    assert!(s.log().contains(&format!("Starting http monitor on 127.0.0.1:{port}")), "{}", s.log());
    let v = get_json(port, "/mon/varz");
    assert_eq!(v["http_base_path"], "/mon");
    assert_eq!(v["http_port"], port);
    let (status, _, _) = get(port, "/mon/nothing");
    assert_eq!(status, 404);
}
