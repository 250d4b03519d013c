//! Authentication and permissions: differential scripts against nats-server 2.9.10,
//! the real client with every mechanism, and the places natrix is stricter.
mod common;

use common::diff::{compare_all, Script};
use common::raw::RawClient;
use common::{skip_without_nats_server, target, Target, TestServer};
use std::time::Duration;

const USERS: &str = r#"
authorization {
  users: [
    {user: alice, password: apw}
    {user: bob, password: bpw, permissions: {
        publish: {allow: ["pub.>", "req"], deny: ["pub.secret"]}
        subscribe: {allow: ["sub.*", "q.work workers", "_INBOX.>"], deny: ["sub.secret"]}
    }}
    {user: svc, password: spw, permissions: {
        publish: {deny: [">"]}
        subscribe: "req"
        allow_responses: {max: 2}
    }}
  ]
}
"#;

const ACCOUNTS: &str = r#"
accounts {
  A: { users: [{user: a1, password: p}, {user: a2, password: p}] }
  B: { users: [{user: b1, password: p}] }
}
"#;

fn login(user: &str, pass: &str) -> String {
    format!("CONNECT {{\"verbose\":false,\"pedantic\":false,\"user\":\"{user}\",\"pass\":\"{pass}\"}}\r\n")
}

fn scripts() -> Vec<Script> {
    let bob = login("bob", "bpw");
    vec![
        Script::new("token ok").conf("authorization { token: s3cr3t }\n")
            .send(0, "CONNECT {\"verbose\":false,\"auth_token\":\"s3cr3t\"}\r\n").sync(0),
        Script::new("token bad").conf("authorization { token: s3cr3t }\n")
            .send(0, "CONNECT {\"verbose\":false,\"auth_token\":\"nope\"}\r\n").close(0),
        Script::new("token missing").conf("authorization { token: s3cr3t }\n").send(0, "CONNECT {}\r\n").close(0),
        Script::new("first op not connect").conf(USERS).send(0, "PING\r\n").close(0),
        Script::new("user ok").conf(USERS).send(0, &login("alice", "apw")).sync(0),
        Script::new("user bad password").conf(USERS).send(0, &login("alice", "x")).close(0),
        Script::new("unknown user").conf(USERS).send(0, &login("mallory", "x")).close(0),
        Script::new("single user").conf("authorization { user: u, password: p }\n")
            .send(0, &login("u", "p")).sync(0).send(1, &login("u", "q")).close(1),
        Script::new("publish permissions").conf(USERS).send(0, &bob)
            .send(0, "SUB sub.x 1\r\nPUB pub.a 1\r\nx\r\nPUB pub.secret 1\r\nx\r\nPUB other 1\r\nx\r\n").sync(0),
        Script::new("publish permission verbose").conf(USERS)
            .send(0, "CONNECT {\"verbose\":true,\"user\":\"bob\",\"pass\":\"bpw\"}\r\nPUB pub.a 1\r\nx\r\nPUB nope 1\r\nx\r\n").sync(0),
        Script::new("subscribe permissions").conf(USERS).send(0, &bob)
            .send(0, "SUB sub.x 1\r\nSUB sub.secret 2\r\nSUB other 3\r\nSUB q.work workers 4\r\nSUB q.work 5\r\nSUB q.work other 6\r\n")
            .sync(0),
        Script::new("deny filter on delivery").conf(USERS).send(0, &bob).send(0, "SUB sub.* 1\r\n").sync(0)
            .send(1, &login("alice", "apw")).send(1, "PUB sub.x 1\r\na\r\nPUB sub.secret 1\r\nb\r\n").sync(1).sync(0),
        Script::new("allow responses").conf(USERS).send(0, &login("svc", "spw")).send(0, "SUB req 1\r\n").sync(0)
            .send(1, &login("alice", "apw")).send(1, "SUB rep 9\r\nPUB req rep 1\r\nq\r\n").sync(1).sync(0)
            .send(0, "PUB rep 1\r\n1\r\nPUB rep 1\r\n2\r\nPUB rep 1\r\n3\r\nPUB elsewhere 1\r\n4\r\n").sync(0).sync(1),
        Script::new("accounts isolate").conf(ACCOUNTS)
            .send(0, &login("a1", "p")).send(0, "SUB x 1\r\n").sync(0)
            .send(1, &login("b1", "p")).send(1, "SUB x 1\r\nPUB x 2\r\nb1\r\n").sync(1)
            .send(2, &login("a2", "p")).send(2, "PUB x 2\r\na2\r\n").sync(2).sync(0).sync(1),
        Script::new("no_auth_user").conf(&format!("{ACCOUNTS}\nno_auth_user: a2\n"))
            .send(0, "CONNECT {\"verbose\":false}\r\nSUB x 1\r\n").sync(0)
            .send(1, &login("a1", "p")).send(1, "PUB x 1\r\nz\r\n").sync(1).sync(0),
        Script::new("no_auth_user without connect").conf(&format!("{ACCOUNTS}\nno_auth_user: a2\n"))
            .send(0, "SUB x 1\r\nPUB x 1\r\ny\r\n").sync(0),
        Script::new("auth timeout").conf("authorization { token: t, timeout: 0.5 }\n").close(0),
    ]
}

#[test]
fn auth_matches_nats_server() {
    if skip_without_nats_server() {
        return;
    }
    let diffs = compare_all(&scripts(), target());
    assert!(diffs.is_empty(), "{} scripts differ:\n{}", diffs.len(), diffs.join("\n"));
}

/// natrix is stricter than nats-server 2.9.10 here: a subscription broader than the
/// allowed pattern is refused (nats-server lets `SUB foo.>` through an allow of `foo.*`).
#[test]
fn broader_subscription_than_allowed_is_refused() {
    if target() == Target::NatsServer {
        println!("SKIPPED: natrix-only behaviour (nats-server 2.9.10 allows it)");
        return;
    }
    let s = TestServer::start_with_config(USERS);
    let mut c = RawClient::connect_with(s.port, r#"{"verbose":false,"user":"bob","pass":"bpw"}"#);
    c.send(b"SUB sub.> 1\r\nSUB > 2\r\nSUB sub.* 3\r\n");
    let got = String::from_utf8_lossy(&c.sync()).into_owned();
    assert_eq!(
        got,
        "-ERR 'Permissions Violation for Subscription to \"sub.>\"'\r\n-ERR 'Permissions Violation for Subscription to \">\"'\r\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_nats_with_each_mechanism() {
    // user/password
    let s = TestServer::start_with_config(USERS);
    let c = async_nats::ConnectOptions::with_user_and_password("alice".into(), "apw".into())
        .connect(s.addr())
        .await
        .expect("alice");
    c.flush().await.expect("flush");
    let bad = async_nats::ConnectOptions::with_user_and_password("alice".into(), "x".into())
        .connection_timeout(Duration::from_secs(1))
        .connect(s.addr());
    assert!(tokio::time::timeout(Duration::from_secs(3), bad).await.map(|r| r.is_err()).unwrap_or(true));

    // token
    let s = TestServer::start_with_config("authorization { token: s3cr3t }\n");
    let c = async_nats::ConnectOptions::with_token("s3cr3t".into()).connect(s.addr()).await.expect("token");
    c.flush().await.expect("flush");

    // bcrypt
    let hash = bcrypt::hash("pw", 4).expect("hash");
    let s = TestServer::start_with_config(&format!("authorization {{ users: [{{user: h, password: \"{hash}\"}}] }}\n"));
    let c = async_nats::ConnectOptions::with_user_and_password("h".into(), "pw".into())
        .connect(s.addr())
        .await
        .expect("bcrypt");
    c.flush().await.expect("flush");

    // nkey
    let kp = nkeys::KeyPair::new_user();
    let seed = kp.seed().expect("seed");
    let s = TestServer::start_with_config(&format!("authorization {{ users: [{{nkey: {}}}] }}\n", kp.public_key()));
    let c = async_nats::ConnectOptions::with_nkey(seed).connect(s.addr()).await.expect("nkey");
    c.flush().await.expect("flush");
    let other = nkeys::KeyPair::new_user().seed().expect("seed");
    let bad = async_nats::ConnectOptions::with_nkey(other).connection_timeout(Duration::from_secs(1)).connect(s.addr());
    assert!(tokio::time::timeout(Duration::from_secs(3), bad).await.map(|r| r.is_err()).unwrap_or(true));
}

#[test]
fn reload_shrinks_permissions_of_a_live_connection() {
    if target() == Target::NatsServer {
        println!("SKIPPED: drives natrix's reload through its own config file");
        return;
    }
    let conf = |allow: &str| {
        format!("authorization {{ users: [ {{user: u, password: p, permissions: {{publish: {allow}, subscribe: \">\"}}}} ] }}\n")
    };
    let s = TestServer::start_with_config(&conf("[\"a.>\", \"b.>\"]"));
    let mut c = RawClient::connect_with(s.port, r#"{"verbose":false,"user":"u","pass":"p"}"#);
    c.send(b"SUB b.x 1\r\nPUB b.x 1\r\n1\r\n");
    assert_eq!(String::from_utf8_lossy(&c.sync()), "MSG b.x 1 1\r\n1\r\n");
    // Shrink: publishing to b.> is no longer allowed; the same live connection is held to it.
    std::fs::write(s.dir().join("server.conf"), conf("[\"a.>\"]")).expect("rewrite config");
    s.reload();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        c.send(b"PUB b.x 1\r\n2\r\n");
        let got = String::from_utf8_lossy(&c.sync()).into_owned();
        if got.contains("Permissions Violation for Publish to \"b.x\"") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "reload not applied: {got}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Changed password: the connection is closed with Authorization Violation.
    std::fs::write(
        s.dir().join("server.conf"),
        "authorization { users: [ {user: u, password: changed} ] }\n",
    )
    .expect("rewrite config");
    s.reload();
    let (got, closed) = c.read_until_closed(Duration::from_secs(5));
    assert!(closed, "closed after its credentials went away");
    assert!(String::from_utf8_lossy(&got).contains("-ERR 'Authorization Violation'"));
}

const EXPORTS: &str = r#"
accounts {
  A: { users: [{user: a, password: pw}]
       exports: [ {stream: "events.>"}
                  {stream: "private.>", accounts: [B]}
                  {service: "svc.echo"}
                  {service: "svc.stream", response_type: stream} ] }
  B: { users: [{user: b, password: pw}]
       imports: [ {stream: {account: A, subject: "events.>"}, prefix: "fromA"}
                  {stream: {account: A, subject: "private.>"}, to: "priv.>"}
                  {service: {account: A, subject: "svc.echo"}, to: "echo"}
                  {service: {account: A, subject: "svc.stream"}} ] }
  C: { users: [{user: c, password: pw}]
       imports: [ {stream: {account: A, subject: "events.>"}} ] }
}
"#;

fn acct(port: u16, user: &str, headers: bool) -> RawClient {
    RawClient::connect_with(
        port,
        &format!(r#"{{"verbose":false,"pedantic":false,"user":"{user}","pass":"pw","headers":{headers},"no_responders":{headers}}}"#),
    )
}

/// Who sees what across accounts, for one server.
fn streams_and_services(t: Target) -> Vec<String> {
    let s = TestServer::start_on(t, Some(EXPORTS), &[]);
    let mut out = Vec::new();
    let mut a = acct(s.port, "a", false);
    let mut b = acct(s.port, "b", true);
    let mut c = acct(s.port, "c", false);
    b.send(b"SUB fromA.> 1\r\nSUB priv.> 2\r\nSUB events.> 3\r\nSUB _INBOX.b.* 9\r\n");
    b.sync();
    c.send(b"SUB > 1\r\n");
    c.sync();
    a.send(b"SUB svc.> 5\r\nPUB events.x 2\r\ne1\r\nPUB private.y 2\r\np1\r\nPUB other 2\r\no1\r\n");
    a.sync();
    out.push(format!("b: {}", String::from_utf8_lossy(&b.sync())));
    out.push(format!("c: {}", String::from_utf8_lossy(&c.sync())));
    // A request from B on its local name reaches A's service under the exported name,
    // with a generated reply; the answer finds its way back to B's inbox, once.
    b.send(b"PUB echo _INBOX.b.1 2\r\nhi\r\n");
    let line = a.read_line(Duration::from_secs(5)).expect("request at the service");
    let line = String::from_utf8_lossy(&line).into_owned();
    let parts: Vec<&str> = line.trim_end().split(' ').collect();
    assert_eq!(parts.len(), 5, "MSG with a reply: {line}");
    out.push(format!("a got: {} {} <reply starts {}>", parts[0], parts[1], &parts[3][..4]));
    let _ = a.read_line(Duration::from_secs(5));
    let reply = parts[3].to_string();
    a.send(format!("PUB {reply} 3\r\nyo1\r\nPUB {reply} 3\r\nyo2\r\n").as_bytes());
    a.sync();
    out.push(format!("b: {}", String::from_utf8_lossy(&b.sync())));
    // A request nobody answers in A still counts as delivered: no 503 for B.
    a.send(b"UNSUB 5\r\n");
    a.sync();
    b.send(b"PUB echo _INBOX.b.2 0\r\n\r\n");
    out.push(format!("b after unanswered request: {}", String::from_utf8_lossy(&b.sync())));
    out
}

#[test]
fn streams_and_services_match_nats_server() {
    let ours = streams_and_services(target());
    assert_eq!(ours[0], "b: MSG fromA.events.x 1 2\r\ne1\r\nMSG priv.y 2 2\r\np1\r\n");
    assert_eq!(ours[1], "c: MSG events.x 1 2\r\ne1\r\n");
    assert_eq!(ours[2], "a got: MSG svc.echo <reply starts _R_.>");
    assert_eq!(ours[3], "b: MSG _INBOX.b.1 9 3\r\nyo1\r\n");
    assert_eq!(ours[4], "b after unanswered request: ");
    if skip_without_nats_server() {
        return;
    }
    assert_eq!(ours, streams_and_services(Target::NatsServer));
}
