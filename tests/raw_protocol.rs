//! Raw-socket tests of the client protocol framing and routing semantics (reference §1, §2).

mod common;

use common::raw::{info_json, show, RawClient};
use common::TestServer;
use std::time::Duration;

#[test]
fn info_line_shape_and_fields() {
    let s = TestServer::start();
    let c = RawClient::connect(s.port);
    assert!(c.info.starts_with("INFO {"), "{}", c.info);
    assert!(c.info.ends_with("} \r\n"), "2.9.10 writes a space before CRLF: {:?}", c.info);
    let j = info_json(&c.info);
    for key in ["server_id", "server_name", "version", "go", "host", "client_ip"] {
        assert!(j[key].is_string(), "INFO.{key} missing or not a string: {j}");
    }
    assert_eq!(j["proto"], 1);
    assert_eq!(j["port"], s.port);
    assert_eq!(j["host"], "127.0.0.1");
    assert_eq!(j["headers"], true);
    assert_eq!(j["max_payload"], 1048576);
    assert_eq!(j["client_ip"], "127.0.0.1");
    assert!(j["client_id"].is_u64(), "client_id: {j}");
    assert!(j.get("auth_required").is_none(), "no auth configured: {j}");
    // Field order of the Info struct.
    let order = ["server_id", "server_name", "version", "proto", "go", "host", "port", "headers", "max_payload", "client_id", "client_ip"];
    let pos: Vec<usize> = order.iter().map(|k| c.info.find(&format!("\"{k}\":")).unwrap()).collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "INFO key order: {}", c.info);
}

#[test]
fn ping_pong_before_connect_and_variants() {
    let s = TestServer::start();
    let mut c = RawClient::connect(s.port);
    c.send(b"PING\r\n");
    c.expect_line("PONG");
    // PING ignores anything up to LF; bare LF works; case-insensitive.
    c.send(b"PING foo\r\nPINGX\r\nping\nPiNg\r\n");
    for _ in 0..4 {
        c.expect_line("PONG");
    }
    // PONG and +OK from a client are ignored.
    c.send(b"PONG\r\n+OK\r\n");
    c.sync_empty();
}

#[test]
fn bare_lf_tabs_and_extra_blanks() {
    let s = TestServer::start();
    let mut c = RawClient::connect(s.port);
    c.send(b"CONNECT {\"verbose\":false}\nSUB\tfoo \t 1\nPUB  foo\t\t2\nhi\r\nPING\n");
    c.expect_bytes(b"MSG foo 1 2\r\nhi\r\nPONG\r\n");
}

#[test]
fn ops_are_case_insensitive() {
    let s = TestServer::start();
    let mut c = RawClient::connect(s.port);
    c.send(b"connect {\"verbose\":false}\r\nsub foo 1\r\nSuB bar 2\r\npub foo 1\r\na\r\nPuB bar 1\r\nb\r\nunsub 1\r\npub foo 1\r\nc\r\nping\r\n");
    c.expect_bytes(b"MSG foo 1 1\r\na\r\nMSG bar 2 1\r\nb\r\nPONG\r\n");
}

#[test]
fn connect_without_space_before_json() {
    let s = TestServer::start();
    let mut c = RawClient::connect(s.port);
    c.send(b"CONNECT{\"verbose\":false}\r\nSUB foo 1\r\nPUB foo 0\r\n\r\n");
    assert_eq!(show(&c.sync()), show(b"MSG foo 1 0\r\n\r\n"));
}

#[test]
fn verbose_ok_after_connect_sub_unsub_pub() {
    let s = TestServer::start();
    let mut c = RawClient::connect(s.port);
    c.send(b"CONNECT {\"verbose\":true,\"pedantic\":false}\r\n");
    c.expect_line("+OK");
    c.send(b"SUB foo 1\r\n");
    c.expect_line("+OK");
    c.send(b"PUB foo 2\r\nhi\r\n");
    let got = c.sync();
    assert_eq!(show(&got), show(b"+OK\r\nMSG foo 1 2\r\nhi\r\n"));
    c.send(b"UNSUB 1\r\n");
    c.expect_line("+OK");
    // Every UNSUB gets +OK, even of an unknown sid.
    c.send(b"UNSUB 99\r\n");
    c.expect_line("+OK");
    // An invalid SUB gets the -ERR and no +OK.
    c.send(b"SUB foo..bar 2\r\n");
    assert_eq!(show(&c.sync()), show(b"-ERR 'Invalid Subject'\r\n"));
}

#[test]
fn no_connect_means_verbose_defaults() {
    let s = TestServer::start();
    let mut c = RawClient::connect(s.port);
    // Without CONNECT the defaults (verbose true) apply: +OK per SUB and PUB.
    c.send(b"SUB foo 1\r\nPUB foo 1\r\nx\r\n");
    assert_eq!(show(&c.sync()), show(b"+OK\r\n+OK\r\nMSG foo 1 1\r\nx\r\n"));
}

#[test]
fn verbose_false_sends_no_ok_and_second_connect_reapplies() {
    let s = TestServer::start();
    let mut c = RawClient::quiet(s.port);
    c.send(b"SUB foo 1\r\nPUB foo 0\r\n\r\nUNSUB 1\r\n");
    assert_eq!(show(&c.sync()), show(b"MSG foo 1 0\r\n\r\n"));
    c.send(b"CONNECT {\"verbose\":true}\r\n");
    c.expect_line("+OK");
    c.send(b"SUB x 5\r\n");
    c.expect_line("+OK");
}

#[test]
fn msg_carries_published_subject_and_reply() {
    let s = TestServer::start();
    let mut c = RawClient::quiet(s.port);
    c.send(b"SUB foo.* 1\r\nSUB foo.> 2\r\nSUB > 3\r\nPUB foo.bar rep.ly 1\r\na\r\n");
    let got = c.sync();
    let text = String::from_utf8_lossy(&got).to_string();
    for want in ["MSG foo.bar 1 rep.ly 1\r\na\r\n", "MSG foo.bar 2 rep.ly 1\r\na\r\n", "MSG foo.bar 3 rep.ly 1\r\na\r\n"] {
        assert!(text.contains(want), "missing {want:?} in {text:?}");
    }
    assert_eq!(got.len(), 3 * "MSG foo.bar 1 rep.ly 1\r\na\r\n".len(), "{text:?}");
}

#[test]
fn wildcard_matching_rules() {
    let s = TestServer::start();
    let mut c = RawClient::quiet(s.port);
    c.send(b"SUB a.*.c 1\r\nSUB a.> 2\r\nSUB a* 3\r\nSUB *.b 4\r\n");
    c.sync_empty();
    let cases: &[(&str, &[&str])] = &[
        ("a.b.c", &["1", "2"]),
        ("a.b", &["2", "4"]),
        ("a", &[]),
        ("a*", &["3"]),
        ("a.b.c.d", &["2"]),
        ("x.b", &["4"]),
        ("a..c", &[]),
    ];
    for (subj, sids) in cases {
        c.send(format!("PUB {subj} 1\r\nz\r\n").as_bytes());
        let got = String::from_utf8_lossy(&c.sync()).to_string();
        let mut seen: Vec<String> = got
            .split("\r\n")
            .filter(|l| l.starts_with("MSG "))
            .map(|l| l.split(' ').nth(2).unwrap().to_string())
            .collect();
        seen.sort();
        assert_eq!(seen, *sids, "PUB {subj}: {got:?}");
    }
}

#[test]
fn wildcard_in_pub_subject_matches_token_by_token() {
    let s = TestServer::start();
    let mut c = RawClient::quiet(s.port);
    c.send(b"SUB foo.* 1\r\nSUB foo.bar 2\r\nPUB foo.* 1\r\nx\r\n");
    assert_eq!(show(&c.sync()), show(b"MSG foo.* 1 1\r\nx\r\n"));
}

#[test]
fn duplicate_sid_is_ignored() {
    let s = TestServer::start();
    let mut c = RawClient::quiet(s.port);
    c.send(b"SUB foo 1\r\nSUB bar 1\r\nPUB bar 1\r\nb\r\nPUB foo 1\r\nf\r\n");
    assert_eq!(show(&c.sync()), show(b"MSG foo 1 1\r\nf\r\n"));
}

#[test]
fn unsub_max_semantics() {
    let s = TestServer::start();
    let mut c = RawClient::quiet(s.port);
    // max larger than delivered: ends after max in total.
    c.send(b"SUB foo 1\r\nUNSUB 1 2\r\n");
    c.send(b"PUB foo 1\r\na\r\nPUB foo 1\r\nb\r\nPUB foo 1\r\nc\r\n");
    assert_eq!(show(&c.sync()), show(b"MSG foo 1 1\r\na\r\nMSG foo 1 1\r\nb\r\n"));
    // max counts messages already delivered: 2 delivered, then UNSUB 3 -> one more.
    c.send(b"SUB bar 2\r\nPUB bar 1\r\n1\r\nPUB bar 1\r\n2\r\nUNSUB 2 3\r\n");
    c.send(b"PUB bar 1\r\n3\r\nPUB bar 1\r\n4\r\n");
    assert_eq!(
        show(&c.sync()),
        show(b"MSG bar 2 1\r\n1\r\nMSG bar 2 1\r\n2\r\nMSG bar 2 1\r\n3\r\n")
    );
    // max <= delivered: ends now.
    c.send(b"SUB baz 3\r\nPUB baz 1\r\n1\r\nPUB baz 1\r\n2\r\nUNSUB 3 2\r\nPUB baz 1\r\n3\r\n");
    assert_eq!(show(&c.sync()), show(b"MSG baz 3 1\r\n1\r\nMSG baz 3 1\r\n2\r\n"));
    // Unknown sid: ignored, connection fine.
    c.send(b"UNSUB 77\r\nUNSUB 78 5\r\n");
    c.sync_empty();
}

#[test]
fn payload_may_contain_crlf_and_be_empty() {
    let s = TestServer::start();
    let mut c = RawClient::quiet(s.port);
    c.send(b"SUB foo 1\r\nPUB foo 10\r\na\r\nPUB b\r\n\r\nPUB foo 0\r\n\r\n");
    assert_eq!(show(&c.sync()), show(b"MSG foo 1 10\r\na\r\nPUB b\r\n\r\nMSG foo 1 0\r\n\r\n"));
}

#[test]
fn pub_with_empty_token_is_dropped_silently() {
    let s = TestServer::start();
    let mut c = RawClient::quiet(s.port);
    c.send(b"SUB > 1\r\nPUB a..b 1\r\nx\r\nPUB .a 1\r\nx\r\nPUB a. 1\r\nx\r\nPUB ok 1\r\ny\r\n");
    assert_eq!(show(&c.sync()), show(b"MSG ok 1 1\r\ny\r\n"));
}

#[test]
fn headers_stripped_for_non_header_subscriber() {
    let s = TestServer::start();
    let mut plain = RawClient::quiet(s.port);
    let mut hdr = RawClient::with_headers(s.port);
    plain.send(b"SUB foo 1\r\n");
    plain.sync_empty();
    hdr.send(b"SUB foo 7\r\n");
    hdr.sync_empty();
    hdr.send(b"HPUB foo r 18 20\r\nNATS/1.0\r\nA: B\r\n\r\nhi\r\n");
    assert_eq!(show(&hdr.sync()), show(b"HMSG foo 7 r 18 20\r\nNATS/1.0\r\nA: B\r\n\r\nhi\r\n"));
    assert_eq!(show(&plain.sync()), show(b"MSG foo 1 r 2\r\nhi\r\n"));
    // #hdr 0 is delivered as a plain MSG; the header block is not validated.
    hdr.send(b"HPUB foo 0 2\r\nok\r\nHPUB foo 5 7\r\njunk!ok\r\n");
    assert_eq!(
        show(&hdr.sync()),
        show(b"MSG foo 7 2\r\nok\r\nHMSG foo 7 5 7\r\njunk!ok\r\n")
    );
    assert_eq!(show(&plain.sync()), show(b"MSG foo 1 2\r\nok\r\nMSG foo 1 2\r\nok\r\n"));
}

#[test]
fn no_responders_exact_bytes() {
    let s = TestServer::start();
    let mut c = RawClient::with_headers(s.port);
    c.send(b"SUB r.> 9\r\nPUB nobody r.1 0\r\n\r\n");
    assert_eq!(show(&c.sync()), show(b"HMSG r.1 9 16 16\r\nNATS/1.0 503\r\n\r\n\r\n"));
    // Reply subject not matched by an own sub: nothing.
    c.send(b"PUB nobody other.1 0\r\n\r\n");
    c.sync_empty();
    // A queue sub on the reply subject does not count.
    c.send(b"SUB q.1 grp 10\r\nPUB nobody q.1 0\r\n\r\n");
    c.sync_empty();
    // Without no_responders: nothing.
    let mut d = RawClient::connect_with(s.port, r#"{"verbose":false,"headers":true}"#);
    d.send(b"SUB r.> 1\r\nPUB nobody r.2 0\r\n\r\n");
    d.sync_empty();
    // Another connection's sub on the reply subject does not get the 503.
    c.send(b"PUB nobody r.3 0\r\n\r\n");
    assert_eq!(show(&c.sync()), show(b"HMSG r.3 9 16 16\r\nNATS/1.0 503\r\n\r\n\r\n"));
    d.sync_empty();
}

#[test]
fn echo_false_skips_own_subscriptions() {
    let s = TestServer::start();
    let mut a = RawClient::connect_with(s.port, r#"{"verbose":false,"echo":false}"#);
    let mut b = RawClient::quiet(s.port);
    a.send(b"SUB foo 1\r\n");
    a.sync_empty();
    b.send(b"SUB foo 2\r\n");
    b.sync_empty();
    a.send(b"PUB foo 1\r\na\r\n");
    a.sync_empty();
    assert_eq!(show(&b.sync()), show(b"MSG foo 2 1\r\na\r\n"));
    b.send(b"PUB foo 1\r\nb\r\n");
    assert_eq!(show(&b.sync()), show(b"MSG foo 2 1\r\nb\r\n"));
    assert_eq!(show(&a.sync()), show(b"MSG foo 1 1\r\nb\r\n"));
}

#[test]
fn queue_group_raw_one_member_gets_each() {
    let s = TestServer::start();
    let mut c = RawClient::quiet(s.port);
    c.send(b"SUB foo g 1\r\nSUB foo g 2\r\nSUB foo 3\r\n");
    let n = 200;
    for i in 0..n {
        c.send(format!("PUB foo {}\r\n{}\r\n", i.to_string().len(), i).as_bytes());
    }
    let got = String::from_utf8_lossy(&c.sync()).to_string();
    let lines: Vec<&str> = got.split("\r\n").filter(|l| l.starts_with("MSG ")).collect();
    let count = |sid: &str| lines.iter().filter(|l| l.split(' ').nth(2) == Some(sid)).count();
    assert_eq!(count("3"), n);
    assert_eq!(count("1") + count("2"), n, "each message to exactly one member");
    assert!(count("1") > 0 && count("2") > 0, "load spread: {} / {}", count("1"), count("2"));
}

#[test]
fn pipelined_batch_in_one_write_keeps_order() {
    let s = TestServer::start();
    let mut sub = RawClient::quiet(s.port);
    sub.send(b"SUB batch 1\r\n");
    sub.sync_empty();
    let mut p = RawClient::quiet(s.port);
    let mut script = Vec::new();
    let mut want = Vec::new();
    for i in 0..2000 {
        let payload = format!("m{i}");
        script.extend_from_slice(format!("PUB batch {}\r\n{}\r\n", payload.len(), payload).as_bytes());
        want.extend_from_slice(format!("MSG batch 1 {}\r\n{}\r\n", payload.len(), payload).as_bytes());
    }
    p.send(&script);
    p.sync_empty();
    let got = sub.sync();
    assert_eq!(got.len(), want.len());
    assert!(got == want, "order or content differs");
}

/// A pipelined script touching every op kind; its replies are compared at every split point.
const SPLIT_SCRIPT: &[u8] = b"CONNECT {\"verbose\":true,\"pedantic\":false,\"headers\":true}\r\nSUB s.* q 1\r\nSUB s.> 2\r\nPUB s.x r 5\r\nhe\r\nl\r\nHPUB s.y 12 14\r\nNATS/1.0\r\n\r\nhi\r\nUNSUB 1 1\r\nPUB s.z 0\r\n\r\nPING\r\n";

fn split_reference(port: u16) -> Vec<u8> {
    let mut c = RawClient::connect(port);
    c.send(SPLIT_SCRIPT);
    c.read_until(b"PONG\r\n", Duration::from_secs(5)).expect("PONG")
}

#[test]
fn frames_split_at_every_byte_boundary() {
    let s = TestServer::start();
    let want = split_reference(s.port);
    assert!(want.starts_with(b"+OK\r\n+OK\r\n+OK\r\n+OK\r\n"), "{}", show(&want));
    let mut failures = Vec::new();
    for at in 1..SPLIT_SCRIPT.len() {
        let mut c = RawClient::connect(s.port);
        c.send(&SPLIT_SCRIPT[..at]);
        std::thread::sleep(Duration::from_millis(3));
        c.send(&SPLIT_SCRIPT[at..]);
        let got = c.read_until(b"PONG\r\n", Duration::from_secs(5));
        if got.as_deref() != Some(&want[..]) {
            failures.push(format!("split at {at}: {}", show(&got.unwrap_or_default())));
        }
    }
    assert!(failures.is_empty(), "want {}\n{}", show(&want), failures.join("\n"));
}

#[test]
fn frames_sent_byte_by_byte() {
    let s = TestServer::start();
    let want = split_reference(s.port);
    let mut c = RawClient::connect(s.port);
    c.send_bytewise(SPLIT_SCRIPT, Duration::from_millis(1));
    let got = c.read_until(b"PONG\r\n", Duration::from_secs(5)).unwrap_or_default();
    assert_eq!(show(&got), show(&want));
}

#[test]
fn large_payload_split_across_many_reads() {
    let s = TestServer::start();
    let mut c = RawClient::quiet(s.port);
    c.send(b"SUB big 1\r\n");
    let payload: Vec<u8> = (0..1_000_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mut frame = format!("PUB big {}\r\n", payload.len()).into_bytes();
    frame.extend_from_slice(&payload);
    frame.extend_from_slice(b"\r\n");
    for chunk in frame.chunks(70_000) {
        c.send(chunk);
    }
    let header = c.read_line(Duration::from_secs(5)).expect("MSG line");
    assert_eq!(show(&header), show(b"MSG big 1 1000000\r\n"));
    let body = c.read_exact_n(payload.len() + 2, Duration::from_secs(10)).expect("payload");
    assert!(body[..payload.len()] == payload[..] && body.ends_with(b"\r\n"));
    c.sync_empty();
}

#[test]
fn many_connections_quick_open_close() {
    let s = TestServer::start();
    for _ in 0..100 {
        let c = RawClient::connect(s.port);
        drop(c);
    }
    let mut c = RawClient::quiet(s.port);
    c.sync_empty();
}

#[test]
fn client_info_is_ignored() {
    let s = TestServer::start();
    let mut c = RawClient::quiet(s.port);
    c.send(b"INFO {\"server_id\":\"x\"}\r\n");
    c.sync_empty();
}

#[test]
fn eof_mid_frame_is_harmless() {
    let s = TestServer::start();
    let mut c = RawClient::connect(s.port);
    c.send(b"PUB foo 10\r\nabc");
    c.shutdown_write();
    let (_, closed) = c.read_until_closed(Duration::from_secs(3));
    assert!(closed);
    let mut d = RawClient::quiet(s.port);
    d.sync_empty();
}
