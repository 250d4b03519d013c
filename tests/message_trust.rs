//! Message-level trust (issue 13): reserved headers, the `Natrix-Sender` stamp for each
//! kind of identity, imports with and without `share`, the `types` policy with its
//! refusals, counters, and what is refused at load. Forgeries that nats-server 2.9.10
//! passes through are shown against it too.
mod common;
mod tls_support;

use common::raw::{show, RawClient};
use common::{nats_server_path, skip_without_nats_server, Target, TestServer};
use futures::StreamExt;
use std::time::Duration;

const T: Duration = Duration::from_secs(5);

/// One MSG/HMSG: (control line without CRLF, header block, payload).
fn read_msg(c: &mut RawClient) -> (String, Vec<u8>, Vec<u8>) {
    let line = c.read_line(T).unwrap_or_else(|| panic!("no message (closed: {})", c.is_closed()));
    let line = String::from_utf8_lossy(&line).trim_end().to_string();
    let parts: Vec<&str> = line.split(' ').collect();
    let (hlen, tlen) = match parts[0] {
        "HMSG" => (parts[parts.len() - 2].parse::<usize>().expect("hlen"), parts[parts.len() - 1].parse::<usize>().expect("tlen")),
        "MSG" => (0, parts[parts.len() - 1].parse::<usize>().expect("len")),
        _ => panic!("not a message: {line:?}"),
    };
    let body = c.read_exact_n(tlen + 2, T).expect("message body");
    (line, body[..hlen].to_vec(), body[hlen..tlen].to_vec())
}

fn login(port: u16, user: &str, pass: &str, name: &str, headers: bool) -> RawClient {
    let json = serde_json::json!({"verbose": false, "pedantic": false, "headers": headers, "user": user, "pass": pass, "name": name});
    RawClient::connect_with(port, &json.to_string())
}

fn hpub(subject: &str, headers: &str, payload: &str) -> Vec<u8> {
    format!("HPUB {subject} {} {}\r\n{headers}{payload}\r\n", headers.len(), headers.len() + payload.len()).into_bytes()
}

/// A forged sender and request info, in several cases and copies, next to a real header.
const FORGED: &str = "NATS/1.0\r\nNatrix-Sender: {\"acc\":\"SYS\",\"user\":\"admin\"}\r\nX: 1\r\nnatrix-sender: two\r\nNATS-REQUEST-INFO: {\"acc\":\"SYS\"}\r\n  continued\r\nNats-Request-Info: {\"acc\":\"SYS\"}\r\n\r\n";

/// Publishes `FORGED` on `t` without any configuration; the header block a subscriber gets.
fn forged_delivery(t: Target) -> Vec<u8> {
    let s = TestServer::start_on(t, None, &[]);
    let mut sub = RawClient::with_headers(s.port);
    sub.send(b"SUB f 1\r\n");
    sub.sync();
    let mut publ = RawClient::with_headers(s.port);
    publ.send(&hpub("f", FORGED, "hi"));
    publ.sync_empty();
    let (_, h, p) = read_msg(&mut sub);
    assert_eq!(p, b"hi");
    h
}

#[test]
fn forged_reserved_headers_pass_nats_server_but_not_natrix() {
    assert_eq!(show(&forged_delivery(Target::Natrix)), show(b"NATS/1.0\r\nX: 1\r\n\r\n"));
    if skip_without_nats_server() {
        return;
    }
    // nats-server 2.9.10 hands every forged copy to the subscriber.
    assert_eq!(show(&forged_delivery(Target::NatsServer)), show(FORGED.as_bytes()));
}

#[test]
fn only_reserved_headers_leave_an_empty_block_and_the_status_line_stays() {
    let s = TestServer::start_on(Target::Natrix, None, &[]);
    let mut sub = RawClient::with_headers(s.port);
    sub.send(b"SUB f 1\r\n");
    sub.sync();
    let mut publ = RawClient::with_headers(s.port);
    publ.send(&hpub("f", "NATS/1.0 503\r\nNatrix-X: 1\r\n\r\n", ""));
    publ.send(&hpub("f", "NATS/1.0\r\nNatrixfoo: 1\r\nX-Natrix-Sender: 2\r\n\r\n", "p"));
    publ.sync_empty();
    let (line, h, _) = read_msg(&mut sub);
    assert_eq!(line, "HMSG f 1 16 16");
    assert_eq!(show(&h), show(b"NATS/1.0 503\r\n\r\n"));
    // Names that only look alike are not reserved: the client's bytes pass as they are.
    let (_, h, _) = read_msg(&mut sub);
    assert_eq!(show(&h), show(b"NATS/1.0\r\nNatrixfoo: 1\r\nX-Natrix-Sender: 2\r\n\r\n"));
}

const USERS: &str = r#"
authorization { users: [
  {user: alice, password: a}
  {user: bob, password: b}
]}
"#;

#[test]
fn stamp_for_password_users_with_header_and_headerless_clients() {
    let s = TestServer::start_on(Target::Natrix, Some(&format!("message_trust {{ stamp: true }}\n{USERS}")), &[]);
    let mut with_h = login(s.port, "bob", "b", "sub-h", true);
    with_h.send(b"SUB s 1\r\n");
    with_h.sync();
    let mut without_h = login(s.port, "bob", "b", "sub-plain", false);
    without_h.send(b"SUB s 2\r\n");
    without_h.sync();
    // A publisher without header support is stamped too.
    let mut plain = login(s.port, "alice", "a", "pub-1", false);
    plain.send(b"PUB s 2\r\nhi\r\n");
    plain.sync_empty();
    let stamp = "Natrix-Sender: {\"acc\":\"$G\",\"user\":\"alice\",\"name\":\"pub-1\"}\r\n";
    let (line, h, p) = read_msg(&mut with_h);
    assert_eq!(show(&h), show(format!("NATS/1.0\r\n{stamp}\r\n").as_bytes()));
    assert_eq!((line.as_str(), &p[..]), (format!("HMSG s 1 {} {}", h.len(), h.len() + 2).as_str(), &b"hi"[..]));
    let (line, _, p) = read_msg(&mut without_h);
    assert_eq!((line.as_str(), &p[..]), ("MSG s 2 2", &b"hi"[..]));
    // A forged stamp is replaced; the stamp is the first header and the only copy.
    let mut forger = login(s.port, "alice", "a", "pub-1", true);
    forger.send(&hpub("s", FORGED, "x"));
    forger.sync_empty();
    let (_, h, _) = read_msg(&mut with_h);
    assert_eq!(show(&h), show(format!("NATS/1.0\r\n{stamp}X: 1\r\n\r\n").as_bytes()));
    let (line, _, p) = read_msg(&mut without_h);
    assert_eq!((line.as_str(), &p[..]), ("MSG s 2 1", &b"x"[..]));
}

#[test]
fn stamp_in_queue_groups_once_per_message() {
    let s = TestServer::start_on(Target::Natrix, Some(&format!("message_trust {{ stamp: {{ fields: [user] }} }}\n{USERS}")), &[]);
    let mut members: Vec<RawClient> = (0..2).map(|i| login(s.port, "bob", "b", &format!("m{i}"), true)).collect();
    for m in members.iter_mut() {
        m.send(b"SUB q.x workers 1\r\n");
        m.sync();
    }
    let mut publ = login(s.port, "alice", "a", "p", true);
    for i in 0..20 {
        publ.send(&hpub("q.x", "NATS/1.0\r\nNatrix-Sender: forged\r\n\r\n", &i.to_string()));
    }
    publ.sync_empty();
    let mut got = 0;
    for m in members.iter_mut() {
        let bytes = m.read_available(Duration::from_millis(300));
        let text = String::from_utf8_lossy(&bytes);
        got += text.matches("HMSG q.x 1").count();
        assert_eq!(text.matches("Natrix-Sender").count(), text.matches("HMSG").count(), "{text}");
        assert_eq!(text.matches("Natrix-Sender: {\"user\":\"alice\"}\r\n").count(), text.matches("HMSG").count(), "{text}");
    }
    assert_eq!(got, 20);
}

const IMPORTS: &str = r#"
message_trust { stamp: true }
accounts {
  A: { users: [{user: a, password: a}], exports: [{stream: "ev.>"}, {service: "svc.>"}] }
  B: { users: [{user: b, password: b}], imports: [{stream: {account: A, subject: "ev.>"}}, {service: {account: A, subject: "svc.b"}}] }
  C: { users: [{user: c, password: c}], imports: [{stream: {account: A, subject: "ev.>"}, share: true}, {service: {account: A, subject: "svc.c"}, share: true}] }
}
"#;

#[test]
fn stamp_across_imports_keeps_the_publisher_account_and_cuts_user_fields_unless_shared() {
    let s = TestServer::start_on(Target::Natrix, Some(IMPORTS), &[]);
    let mut b = login(s.port, "b", "b", "nb", true);
    b.send(b"SUB ev.> 1\r\nSUB inbox.b 2\r\n");
    b.sync();
    let mut c = login(s.port, "c", "c", "nc", true);
    c.send(b"SUB ev.> 1\r\nSUB inbox.c 2\r\n");
    c.sync();
    let mut a = login(s.port, "a", "a", "na", true);
    a.send(b"SUB svc.> 1\r\n");
    a.sync();
    a.send(b"PUB ev.1 2\r\nhi\r\n");
    a.sync();
    let (_, h, _) = read_msg(&mut b);
    assert_eq!(show(&h), show(b"NATS/1.0\r\nNatrix-Sender: {\"acc\":\"A\"}\r\n\r\n"), "stream import without share");
    let (_, h, _) = read_msg(&mut c);
    assert_eq!(show(&h), show(b"NATS/1.0\r\nNatrix-Sender: {\"acc\":\"A\",\"user\":\"a\",\"name\":\"na\"}\r\n\r\n"), "with share");

    // Service imports: the request keeps the importer's account; natrix's own
    // Nats-Request-Info follows the stamp.
    for (client, subject, inbox, want) in [
        (&mut b, "svc.b", "inbox.b", "{\"acc\":\"B\"}"),
        (&mut c, "svc.c", "inbox.c", "{\"acc\":\"C\",\"user\":\"c\",\"name\":\"nc\"}"),
    ] {
        client.send(format!("HPUB {subject} {inbox} {} {}\r\n{FORGED}q\r\n", FORGED.len(), FORGED.len() + 1).as_bytes());
        client.sync_empty();
        let (line, h, _) = read_msg(&mut a);
        let h = String::from_utf8_lossy(&h).to_string();
        assert!(h.starts_with(&format!("NATS/1.0\r\nNatrix-Sender: {want}\r\nX: 1\r\nNats-Request-Info: {{\"acc\":")), "{h}");
        assert_eq!(h.matches("Nats-Request-Info").count(), 1, "{h}");
        assert!(!h.contains("SYS"), "{h}");
        // The answer crosses back with only the exporter's account.
        let reply = line.split(' ').nth(3).expect("reply").to_string();
        a.send(format!("PUB {reply} 3\r\nans\r\n").as_bytes());
        a.sync();
        let (_, h, p) = read_msg(client);
        assert_eq!((show(&h), p), (show(b"NATS/1.0\r\nNatrix-Sender: {\"acc\":\"A\"}\r\n\r\n"), b"ans".to_vec()));
    }
}

#[test]
fn account_scope_and_field_choice() {
    let conf = r#"
accounts {
  A: { users: [{user: a, password: a}], message_trust { stamp: { fields: [acc, name] } } }
  B: { users: [{user: b, password: b}] }
}
"#;
    let s = TestServer::start_on(Target::Natrix, Some(conf), &[]);
    for (user, want) in [("a", Some("NATS/1.0\r\nNatrix-Sender: {\"acc\":\"A\",\"name\":\"n\"}\r\n\r\n")), ("b", None)] {
        let mut sub = login(s.port, user, user, "n", true);
        sub.send(b"SUB s 1\r\nPUB s 1\r\nx\r\n");
        let (line, h, _) = read_msg(&mut sub);
        match want {
            Some(w) => assert_eq!(show(&h), show(w.as_bytes())),
            // An account without message_trust: unchanged, byte for byte.
            None => assert_eq!(line, "MSG s 1 1"),
        }
    }
}

async fn stamp_via_async_nats(server: &TestServer, opts: async_nats::ConnectOptions) -> String {
    let c = common::client_with(server, opts).await;
    let mut sub = c.subscribe("who").await.expect("subscribe");
    c.flush().await.expect("flush");
    let mut forged = async_nats::HeaderMap::new();
    forged.insert("Natrix-Sender", "{\"acc\":\"SYS\"}");
    c.publish_with_headers("who", forged, "x".into()).await.expect("publish");
    let m = tokio::time::timeout(T, sub.next()).await.expect("in time").expect("message");
    let h = m.headers.expect("headers");
    let all: Vec<String> = h.get_all("Natrix-Sender").map(|v| v.to_string()).collect();
    assert_eq!(all.len(), 1, "{all:?}");
    all[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stamp_for_nkey_users() {
    let kp = nkeys::KeyPair::new_user();
    let conf = format!(
        "accounts {{ K: {{ users: [{{nkey: {}}}], message_trust {{ stamp: {{ fields: [acc, user] }} }} }} }}\n",
        kp.public_key()
    );
    let s = TestServer::start_on(Target::Natrix, Some(&conf), &[]);
    let opts = async_nats::ConnectOptions::with_nkey(kp.seed().expect("seed"));
    let got = stamp_via_async_nats(&s, opts).await;
    assert_eq!(got, format!("{{\"acc\":\"K\",\"user\":\"{}\"}}", kp.public_key()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stamp_for_jwt_users() {
    use natrix::jwt::claims::{Account, Claims, Operator, User};
    use natrix::jwt::{creds, encode};
    use nkeys::KeyPair;
    let op = KeyPair::new_operator();
    let op_jwt = encode(&mut Claims { sub: op.public_key(), name: "op".into(), nats: Operator::new(), ..Default::default() }, &op)
        .expect("operator jwt");
    let acc = KeyPair::new_account();
    let acc_jwt = encode(&mut Claims { sub: acc.public_key(), name: "acc".into(), nats: Account::unlimited(), ..Default::default() }, &op)
        .expect("account jwt");
    let usr = KeyPair::new_user();
    let usr_jwt = encode(&mut Claims { sub: usr.public_key(), name: "u".into(), nats: User::unlimited(), ..Default::default() }, &acc)
        .expect("user jwt");
    let dir = tempfile::tempdir().expect("tempdir");
    let op_file = dir.path().join("op.jwt");
    std::fs::write(&op_file, &op_jwt).expect("write");
    let creds_file = dir.path().join("u.creds");
    std::fs::write(&creds_file, creds::format(&usr_jwt, &usr.seed().expect("seed"))).expect("write");
    let conf = format!(
        "operator: \"{}\"\nresolver: MEMORY\nresolver_preload {{ {}: \"{acc_jwt}\" }}\nmessage_trust {{ stamp: true }}\n",
        op_file.display(),
        acc.public_key()
    );
    let s = TestServer::start_on(Target::Natrix, Some(&conf), &[]);
    let opts = async_nats::ConnectOptions::with_credentials_file(creds_file).await.expect("creds").name("jwt-client");
    let got = stamp_via_async_nats(&s, opts).await;
    assert_eq!(got, format!("{{\"acc\":\"{}\",\"user\":\"{}\",\"name\":\"jwt-client\"}}", acc.public_key(), usr.public_key()));
}

fn cert_fp(pem: &tls_support::Pem) -> String {
    use rustls::pki_types::pem::PemObject;
    use sha2::Digest;
    let der = rustls::pki_types::CertificateDer::from_pem_file(&pem.cert).expect("pem");
    let hex: String = sha2::Sha256::digest(der.as_ref()).iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stamp_for_certificate_mapped_users_tells_two_certificates_apart() {
    use rcgen::DnType;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let ca = tls_support::Ca::new(d, "ca");
    let server = ca.server(d, "server");
    // Two certificates (two compute nodes) that map to the same user.
    let n1 = ca.issue(d, "n1", &[(DnType::OrganizationName, "Cloud"), (DnType::CommonName, "node-1")], vec![tls_support::email("compute@example.org")], false);
    let n2 = ca.issue(d, "n2", &[(DnType::OrganizationName, "Cloud"), (DnType::CommonName, "node-2")], vec![tls_support::email("compute@example.org")], false);
    let conf = format!(
        "tls {{\n cert_file: \"{}\"\n key_file: \"{}\"\n ca_file: \"{}\"\n verify_and_map: true\n}}\nauthorization {{ users: [{{user: \"compute@example.org\"}}] }}\nmessage_trust {{ stamp: true }}\n",
        server.cert.display(),
        server.key.display(),
        ca.pem.cert.display()
    );
    let s = TestServer::start_on(Target::Natrix, Some(&conf), &[]);
    let mut seen = Vec::new();
    for (pem, cn) in [(&n1, "node-1"), (&n2, "node-2")] {
        let opts = async_nats::ConnectOptions::new()
            .require_tls(true)
            .add_root_certificates(ca.pem.cert.clone())
            .add_client_certificate(pem.cert.clone(), pem.key.clone());
        let c = tokio::time::timeout(T, opts.connect(format!("tls://localhost:{}", s.port))).await.expect("in time").expect("connect");
        let mut sub = c.subscribe("who").await.expect("sub");
        c.flush().await.expect("flush");
        c.publish("who", "x".into()).await.expect("pub");
        let m = tokio::time::timeout(T, sub.next()).await.expect("in time").expect("message");
        let v: serde_json::Value = serde_json::from_str(m.headers.expect("headers").get("Natrix-Sender").expect("stamp").as_str()).expect("json");
        assert_eq!(v["user"], "compute@example.org");
        assert_eq!(v["acc"], "$G");
        assert_eq!(v["cert_subject"], format!("CN={cn},O=Cloud"));
        assert_eq!(v["cert_fp"], cert_fp(pem));
        seen.push(v["cert_fp"].clone());
    }
    assert_ne!(seen[0], seen[1]);
}

/// A role as a config variable: compute nodes may send heartbeats and instance events
/// on the conductor subjects, never a `*.migrate`, and every `nova.>` message must say
/// what it is.
const ROLES: &str = r#"
COMPUTE = {
  publish: {
    allow: ["nova.>", "_INBOX.>"]
    types: {
      allow: { "nova.conductor.>": ["compute.heartbeat", "compute.instance.*"] }
      deny: { ">": ["*.migrate"] }
      require: ["nova.>"]
    }
  }
  subscribe: ">"
}
authorization { users: [
  {user: node, password: n, permissions: $COMPUTE}
  {user: admin, password: a}
]}
"#;

#[test]
fn types_policy_refusals_keep_the_connection() {
    let s = TestServer::start_on(Target::Natrix, Some(ROLES), &["-m", "-1"]);
    let mut sub = login(s.port, "admin", "a", "sub", true);
    sub.send(b"SUB nova.> 1\r\n");
    sub.sync();
    let mut node = login(s.port, "node", "n", "compute-1", true);
    let ok = |t: &str| format!("NATS/1.0\r\nce-type: {t}\r\n\r\n");
    let cases: Vec<(Vec<u8>, Option<&str>)> = vec![
        (hpub("nova.conductor.a", &ok("compute.heartbeat"), "1"), None),
        (hpub("nova.conductor.a", &ok("compute.instance.boot"), "2"), None),
        (hpub("nova.conductor.a", &ok("compute.instance.a.b"), "x"),
            Some("-ERR 'Permissions Violation for Publish to \"nova.conductor.a\" with ce-type \"compute.instance.a.b\"'")),
        (hpub("nova.compute.b", &ok("vm.migrate"), "x"),
            Some("-ERR 'Permissions Violation for Publish to \"nova.compute.b\" with ce-type \"vm.migrate\"'")),
        (b"PUB nova.compute.b 1\r\nx\r\n".to_vec(),
            Some("-ERR 'Permissions Violation for Publish to \"nova.compute.b\" without header \"ce-type\"'")),
        (hpub("nova.compute.b", "NATS/1.0\r\nCE-Type: vm.boot\r\nce-type: vm.boot\r\n\r\n", "x"),
            Some("-ERR 'Permissions Violation for Publish to \"nova.compute.b\" with duplicate header \"ce-type\"'")),
        (hpub("nova.compute.b", &ok("vm.boot"), "3"), None),
    ];
    for (bytes, err) in cases {
        node.send(&bytes);
        let got = node.sync();
        match err {
            Some(e) => assert_eq!(show(&got), show(format!("{e}\r\n").as_bytes())),
            None => assert!(got.is_empty(), "{}", show(&got)),
        }
    }
    // Only the allowed messages arrived; the connection is still up.
    for want in ["1", "2", "3"] {
        let (_, _, p) = read_msg(&mut sub);
        assert_eq!(p, want.as_bytes());
    }
    sub.send(b"PING\r\n");
    assert!(sub.read_available(Duration::from_millis(200)).starts_with(b"PONG"), "nothing else arrived");
    // A user without `types` is not checked.
    let mut admin = login(s.port, "admin", "a", "adm", true);
    admin.send(b"PUB nova.x 1\r\nz\r\n");
    admin.sync_empty();
    let (_, _, p) = read_msg(&mut sub);
    assert_eq!(p, b"z");
    // Counted in /varz and /metrics.
    let monitor = common::load::monitor_port(&s);
    let v = common::load::varz(monitor);
    assert_eq!(v["message_trust"]["types_refused"], 4, "{v}");
    let metrics = http_get(monitor, "/metrics");
    assert!(metrics.contains("natrix_trust_refusals_total{reason=\"types\"} 4"), "{metrics}");
    assert!(s.log().contains("user \"node\""), "refusals are logged with the identity: {}", s.log());
}

fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(T)).expect("timeout");
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes()).expect("write");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn removed_reserved_headers_are_counted() {
    let s = TestServer::start_on(Target::Natrix, None, &["-m", "-1"]);
    let monitor = common::load::monitor_port(&s);
    assert!(common::load::varz(monitor).get("message_trust").is_none(), "no block while nothing is configured or counted");
    let mut publ = RawClient::with_headers(s.port);
    publ.send(&hpub("f", FORGED, "x"));
    publ.sync_empty();
    let v = common::load::varz(monitor);
    assert_eq!(v["message_trust"]["reserved_headers_removed"], 1, "{v}");
    assert!(http_get(monitor, "/metrics").contains("natrix_reserved_headers_removed_total 1"));
}

/// nats-py: a refused publish is reported as an error and the client stays connected.
#[test]
fn nats_py_stays_connected_after_a_types_refusal() {
    let have = std::process::Command::new("python3").args(["-c", "import nats"]).output().map(|o| o.status.success()).unwrap_or(false);
    if !have {
        assert!(std::env::var_os("NATRIX_REQUIRE_CLIENTS").is_none(), "nats-py is not installed but NATRIX_REQUIRE_CLIENTS is set");
        println!("SKIPPED: python3 with nats-py not found");
        return;
    }
    let s = TestServer::start_on(Target::Natrix, Some(&format!("message_trust {{ stamp: true }}\n{ROLES}")), &[]);
    let script = r#"
import asyncio, sys, nats
async def main(port):
    errors = []
    async def on_err(e):
        errors.append(str(e))
    admin = await nats.connect(f"nats://admin:a@127.0.0.1:{port}")
    sub = await admin.subscribe("nova.>")
    await admin.flush()
    nc = await nats.connect(f"nats://node:n@127.0.0.1:{port}", error_cb=on_err, name="compute-1")
    await nc.publish("nova.conductor.a", b"bad", headers={"ce-type": "vm.migrate"})
    await nc.flush()
    await nc.publish("nova.conductor.a", b"good", headers={"ce-type": "compute.heartbeat", "Natrix-Sender": "forged"})
    await nc.flush()
    msg = await sub.next_msg(timeout=5)
    assert msg.data == b"good", msg.data
    assert msg.headers["Natrix-Sender"] == '{"acc":"$G","user":"node","name":"compute-1"}', msg.headers
    for _ in range(50):
        if errors:
            break
        await asyncio.sleep(0.05)
    assert any('with ce-type "vm.migrate"' in e for e in errors), errors
    assert nc.is_connected
    await nc.close(); await admin.close()
asyncio.run(main(int(sys.argv[1])))
"#;
    let out = std::process::Command::new("timeout")
        .args(["60", "python3", "-c", script, &s.port.to_string()])
        .output()
        .expect("python3");
    assert!(out.status.success(), "stdout: {}\nstderr: {}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

#[test]
fn private_inbox_and_bad_blocks_are_refused_at_load_with_a_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (text, want) in [
        ("port: 4222\nmessage_trust {\n  private_inbox: true\n}\n", ":3:18"),
        ("message_trust { stamp: { fields: [acc, bogus] } }\n", ":1:"),
        ("authorization { users: [{user: u, password: p, permissions: {publish: {types: {allow: {\"a..b\": [x]}}}}}] }\n", ":1:"),
    ] {
        let conf = dir.path().join("t.conf");
        std::fs::write(&conf, text).expect("write");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_natrix"))
            .args(["-c", conf.to_str().expect("path"), "-t"])
            .output()
            .expect("run natrix");
        let err = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "{text}: {err}");
        assert!(err.contains(&format!("t.conf{want}")), "{text}: {err}");
    }
}

/// Without message_trust, natrix's bytes equal nats-server's for a header mix.
#[test]
fn without_message_trust_output_matches_nats_server() {
    if skip_without_nats_server() || nats_server_path().is_none() {
        return;
    }
    let run = |t: Target| {
        let s = TestServer::start_on(t, None, &[]);
        let mut sub = RawClient::with_headers(s.port);
        sub.send(b"SUB s 1\r\nSUB s q 2\r\n");
        sub.sync();
        let mut plain = RawClient::quiet(s.port);
        plain.send(b"SUB s 3\r\n");
        plain.sync();
        let mut publ = RawClient::with_headers(s.port);
        publ.send(b"PUB s 2\r\nhi\r\n");
        publ.send(&hpub("s", "NATS/1.0\r\nX: 1\r\nce-type: a\r\n\r\n", "p"));
        publ.sync_empty();
        (sub.sync(), plain.sync())
    };
    assert_eq!(run(Target::Natrix), run(Target::NatsServer));
}
