//! Raw-socket tests of every error path of a server without auth (reference §3).

mod common;

use common::raw::{show, RawClient};
use common::TestServer;
use std::time::Duration;

const CLOSE: Duration = Duration::from_secs(3);

/// Sends `bytes` on a fresh quiet connection and asserts the exact reply and a close.
fn expect_close(s: &TestServer, bytes: &[u8], reply: &[u8]) {
    let mut c = RawClient::quiet(s.port);
    c.send(bytes);
    let (got, closed) = c.read_until_closed(CLOSE);
    assert_eq!(show(&got), show(reply), "reply to {}", show(bytes));
    assert!(closed, "connection not closed after {}", show(bytes));
}

/// Same, but on a connection that has not sent CONNECT.
fn expect_close_raw(s: &TestServer, bytes: &[u8], reply: &[u8]) {
    let mut c = RawClient::connect(s.port);
    c.send(bytes);
    let (got, closed) = c.read_until_closed(CLOSE);
    assert_eq!(show(&got), show(reply), "reply to {}", show(bytes));
    assert!(closed, "connection not closed after {}", show(bytes));
}

const UNKNOWN: &[u8] = b"-ERR 'Unknown Protocol Operation'\r\n";

#[test]
fn unknown_protocol_operation_closes() {
    let s = TestServer::start();
    for bad in [
        &b"FOO\r\n"[..],
        b"MSG foo 1 1\r\na\r\n",
        b"RS+ $G foo\r\n",
        b"ASUB foo\r\n",
        b"LS+ foo\r\n",
        b"\r\n",
        b"P\r\n",
        b"PUBX foo 1\r\n",
        b"SUBfoo 1\r\n",
        b"\x00\x01\x02\r\n",
        // An op name directly followed by CR/LF (no blank) is not an op at all.
        b"UNSUB\r\n",
        b"SUB\r\n",
        b"PUB\r\n",
    ] {
        expect_close(&s, bad, UNKNOWN);
    }
}

#[test]
fn payload_not_followed_by_crlf_closes() {
    let s = TestServer::start();
    let mut c = RawClient::quiet(s.port);
    c.send(b"SUB foo 1\r\nPUB foo 1\r\naXX\r\n");
    let (got, closed) = c.read_until_closed(CLOSE);
    assert_eq!(show(&got), show(UNKNOWN), "the bad message is not delivered");
    assert!(closed);
    expect_close(&s, b"PUB foo 2\r\nab\n", UNKNOWN);
}

#[test]
fn max_payload_violation_closes_before_payload() {
    let s = TestServer::start();
    // Checked when the PUB line is parsed: no payload needs to follow.
    expect_close(&s, b"PUB foo 1048577\r\n", b"-ERR 'Maximum Payload Violation'\r\n");
    let mut c = RawClient::with_headers(s.port);
    c.send(b"HPUB foo 12 1048577\r\n");
    c.expect_close_with(b"-ERR 'Maximum Payload Violation'\r\n");
    // Exactly max_payload is fine (covered with a payload in client tests); here a smaller limit.
    let s = TestServer::start_with_config("max_payload: 100\n");
    let mut c = RawClient::quiet(s.port);
    let j = common::raw::info_json(&c.info);
    assert_eq!(j["max_payload"], 100);
    c.send(b"SUB foo 1\r\n");
    let p = vec![b'x'; 100];
    c.send(b"PUB foo 100\r\n");
    c.send(&p);
    c.send(b"\r\n");
    let got = c.sync();
    assert!(got.starts_with(b"MSG foo 1 100\r\n"), "{}", show(&got));
    c.send(b"PUB foo 101\r\n");
    c.expect_close_with(b"-ERR 'Maximum Payload Violation'\r\n");
}

#[test]
fn max_control_line_exceeded_closes() {
    let s = TestServer::start();
    let long = "a".repeat(5000);
    expect_close(&s, format!("SUB {long} 1\r\n").as_bytes(), b"-ERR 'maximum control line exceeded'\r\n");
    // An unfinished line held across reads is checked too.
    let mut c = RawClient::quiet(s.port);
    c.send(format!("PUB {long}").as_bytes());
    c.expect_close_with(b"-ERR 'maximum control line exceeded'\r\n");
    // Configured limit.
    let s = TestServer::start_with_config("max_control_line: 64\n");
    let mut c = RawClient::quiet(s.port);
    let ok = "b".repeat(50);
    c.send(format!("SUB {ok} 1\r\n").as_bytes());
    c.sync_empty();
    let long = "c".repeat(70);
    c.send(format!("SUB {long} 1\r\n").as_bytes());
    c.expect_close_with(b"-ERR 'maximum control line exceeded'\r\n");
}

#[test]
fn invalid_subject_keeps_connection() {
    let s = TestServer::start();
    let mut c = RawClient::quiet(s.port);
    for bad in ["foo..bar", "foo.>.bar", "foo.", ">.a", ".foo", "a.>.>"] {
        c.send(format!("SUB {bad} 1\r\n").as_bytes());
        assert_eq!(show(&c.sync()), show(b"-ERR 'Invalid Subject'\r\n"), "SUB {bad}");
    }
    // The sid was never added: it can be used now.
    c.send(b"SUB ok 1\r\nPUB ok 1\r\nx\r\n");
    assert_eq!(show(&c.sync()), show(b"MSG ok 1 1\r\nx\r\n"));
}

#[test]
fn pedantic_invalid_publish_subject_still_delivered() {
    let s = TestServer::start();
    let mut c = RawClient::connect_with(s.port, r#"{"verbose":false,"pedantic":true}"#);
    c.send(b"SUB foo.* 1\r\nPUB foo.* 1\r\nx\r\n");
    assert_eq!(
        show(&c.sync()),
        show(b"-ERR 'Invalid Publish Subject'\r\nMSG foo.* 1 1\r\nx\r\n")
    );
    // `>` in a PUB subject is a literal token for matching: `foo.*` matches it.
    c.send(b"PUB foo.> 1\r\ny\r\nPUB bar.* 1\r\nw\r\n");
    assert_eq!(
        show(&c.sync()),
        show(b"-ERR 'Invalid Publish Subject'\r\nMSG foo.> 1 1\r\ny\r\n-ERR 'Invalid Publish Subject'\r\n")
    );
    // Not pedantic: no error.
    let mut d = RawClient::quiet(s.port);
    d.send(b"PUB foo.* 1\r\nz\r\n");
    d.sync_empty();
    assert_eq!(show(&c.sync()), show(b"MSG foo.* 1 1\r\nz\r\n"));
}

#[test]
fn invalid_client_protocol_closes() {
    let s = TestServer::start();
    expect_close_raw(&s, b"CONNECT {\"verbose\":false,\"protocol\":2}\r\n", b"-ERR 'invalid client protocol'\r\n");
    expect_close_raw(&s, b"CONNECT {\"verbose\":false,\"protocol\":-1}\r\n", b"-ERR 'invalid client protocol'\r\n");
    // 0 and 1 are fine.
    RawClient::connect_with(s.port, r#"{"verbose":false,"protocol":0}"#).sync_empty();
    RawClient::connect_with(s.port, r#"{"verbose":false,"protocol":1}"#).sync_empty();
}

#[test]
fn no_responders_requires_headers() {
    let s = TestServer::start();
    expect_close_raw(
        &s,
        b"CONNECT {\"verbose\":false,\"no_responders\":true}\r\n",
        b"-ERR 'no responders requires headers support'\r\n",
    );
    expect_close_raw(
        &s,
        b"CONNECT {\"verbose\":false,\"no_responders\":true,\"headers\":false}\r\n",
        b"-ERR 'no responders requires headers support'\r\n",
    );
}

#[test]
fn account_in_connect_is_authorization_violation() {
    let s = TestServer::start();
    expect_close_raw(&s, b"CONNECT {\"verbose\":false,\"account\":\"A\"}\r\n", b"-ERR 'Authorization Violation'\r\n");
    expect_close_raw(&s, b"CONNECT {\"verbose\":false,\"new_account\":true}\r\n", b"-ERR 'Authorization Violation'\r\n");
}

#[test]
fn hpub_without_headers_closes_silently() {
    let s = TestServer::start();
    expect_close(&s, b"HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n", b"");
    let mut c = RawClient::connect_with(s.port, r#"{"verbose":false,"headers":false}"#);
    c.send(b"HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    c.expect_close_with(b"");
}

#[test]
fn wrong_argument_counts_close_silently() {
    let s = TestServer::start();
    for bad in [
        &b"PUB foo\r\n"[..],
        b"PUB a b c 1\r\n",
        b"SUB foo\r\n",
        b"SUB a b c d\r\n",
        b"UNSUB 1 2 3\r\n",
        b"PUB foo x\r\n",
        b"PUB foo -1\r\n",
        b"PUB foo 1234567890\r\n",
    ] {
        expect_close(&s, bad, b"");
    }
    for bad in [&b"HPUB foo 1\r\n"[..], b"HPUB a b c d e\r\n", b"HPUB foo 10 5\r\n", b"HPUB foo x 5\r\n"] {
        let mut c = RawClient::with_headers(s.port);
        c.send(bad);
        c.expect_close_with(b"");
    }
}

#[test]
fn bad_connect_json_closes_silently() {
    let s = TestServer::start();
    for bad in [
        &b"CONNECT {bad\r\n"[..],
        b"CONNECT {\"verbose\":\"yes\"}\r\n",
        b"CONNECT {\"protocol\":\"1\"}\r\n",
        b"CONNECT [1]\r\n",
        b"CONNECT\r\n",
        b"INFO {bad\r\n",
    ] {
        expect_close_raw(&s, bad, b"");
    }
}

#[test]
fn connect_tolerates_unknown_keys_and_nulls() {
    let s = TestServer::start();
    let mut c = RawClient::connect(s.port);
    c.send(b"CONNECT {\"verbose\":false,\"jwt\":null,\"sig\":null,\"whatever\":[1,{\"x\":2}],\"lang\":\"raw\",\"version\":\"0\"}\r\n");
    c.sync_empty();
}

#[test]
fn client_err_closes_connection() {
    let s = TestServer::start();
    expect_close(&s, b"-ERR 'oops'\r\n", b"");
    expect_close(&s, b"-err 'oops'\r\n", b"");
}

#[test]
fn errors_on_one_connection_do_not_affect_others() {
    let s = TestServer::start();
    let mut good = RawClient::quiet(s.port);
    good.send(b"SUB foo 1\r\n");
    good.sync_empty();
    expect_close(&s, b"BOGUS\r\n", UNKNOWN);
    expect_close(&s, b"PUB foo 2000000\r\n", b"-ERR 'Maximum Payload Violation'\r\n");
    let mut p = RawClient::quiet(s.port);
    p.send(b"PUB foo 2\r\nok\r\n");
    p.sync_empty();
    assert_eq!(show(&good.sync()), show(b"MSG foo 1 2\r\nok\r\n"));
}
