//! Operator mode (decentralized JWT auth): chains generated here with nkeys and natrix's
//! own encoder; async-nats with .creds files, raw sockets for each refusal, the expiry
//! timer, and a differential test against nats-server 2.9.10 with the same JWTs.
mod common;
mod jwt_cases;

use base64::Engine as _;
use common::raw::{info_json, RawClient};
use common::{skip_without_nats_server, target, Target, TestServer};
use natrix::jwt::claims::{Account, Claims, Operator, Permission, TimeRange, User};
use natrix::jwt::{creds, encode};
use nkeys::KeyPair;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn now() -> i64 {
    natrix::jwt::now_unix()
}

struct Op {
    kp: KeyPair,
    jwt: String,
}

fn operator() -> Op {
    let kp = KeyPair::new_operator();
    let jwt = encode(&mut Claims { sub: kp.public_key(), name: "op".into(), nats: Operator::new(), ..Default::default() }, &kp)
        .expect("operator jwt");
    Op { kp, jwt }
}

struct Acc {
    kp: KeyPair,
    jwt: String,
}

fn account(op: &Op, f: impl FnOnce(&mut Claims<Account>)) -> Acc {
    let kp = KeyPair::new_account();
    let mut c = Claims { sub: kp.public_key(), name: "acc".into(), nats: Account::unlimited(), ..Default::default() };
    f(&mut c);
    let jwt = encode(&mut c, &op.kp).expect("account jwt");
    Acc { kp, jwt }
}

struct Usr {
    kp: KeyPair,
    jwt: String,
}

fn user(acc: &Acc, f: impl FnOnce(&mut Claims<User>)) -> Usr {
    let kp = KeyPair::new_user();
    let mut c = Claims { sub: kp.public_key(), name: "u".into(), nats: User::unlimited(), ..Default::default() };
    f(&mut c);
    let jwt = encode(&mut c, &acc.kp).expect("user jwt");
    Usr { kp, jwt }
}

/// The server config: the operator JWT in a file, MEMORY resolver, the accounts preloaded.
fn config(dir: &Path, op: &Op, accounts: &[&Acc]) -> String {
    let op_file = dir.join("op.jwt");
    std::fs::write(&op_file, &op.jwt).expect("write operator jwt");
    let mut s = format!("operator: \"{}\"\nresolver: MEMORY\nresolver_preload {{\n", op_file.display());
    for a in accounts {
        s.push_str(&format!("  {}: \"{}\"\n", a.kp.public_key(), a.jwt));
    }
    s.push_str("}\n");
    s
}

fn creds_file(dir: &Path, u: &Usr) -> PathBuf {
    let p = dir.join(format!("{}.creds", &u.kp.public_key()[..8]));
    std::fs::write(&p, creds::format(&u.jwt, &u.kp.seed().expect("seed"))).expect("write creds");
    p
}

/// Connects on a raw socket with `jwt`, signing the INFO nonce with `signer` (no `sig`
/// when `None`); returns the first line after CONNECT+PING (`PONG` or the `-ERR`).
fn raw_login(port: u16, jwt: &str, signer: Option<&KeyPair>) -> String {
    let mut c = RawClient::connect(port);
    let info = info_json(&c.info);
    let nonce = info["nonce"].as_str().unwrap_or("").to_string();
    let mut connect = serde_json::json!({"verbose": false, "pedantic": false, "protocol": 1, "jwt": jwt});
    if let Some(kp) = signer {
        let sig = kp.sign(nonce.as_bytes()).expect("sign");
        connect["sig"] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig).into();
    }
    c.send(format!("CONNECT {connect}\r\nPING\r\n").as_bytes());
    let line = c.read_line(Duration::from_secs(5)).unwrap_or_default();
    String::from_utf8_lossy(&line).trim_end().to_string()
}

const VIOLATION: &str = "-ERR 'Authorization Violation'";

/// The cases every server must agree on: (name, jwt, signer) → expected first line.
fn cases(op: &Op, acc: &Acc, revoked: &Usr) -> Vec<(&'static str, String, Option<KeyPair>, &'static str)> {
    let t = now();
    let ok = user(acc, |_| {});
    let mut cases = vec![("valid", ok.jwt.clone(), Some(ok.kp), "PONG")];
    let mut add = |name, u: Usr, want| cases.push((name, u.jwt, Some(u.kp), want));
    add("expired", user(acc, |c| c.exp = t - 5), VIOLATION);
    add("not yet valid", user(acc, |c| c.nbf = t + 3600), VIOLATION);
    add("websocket only", user(acc, |c| c.nats.allowed_connection_types = vec!["WEBSOCKET".into()]), VIOLATION);
    add("standard allowed", user(acc, |c| c.nats.allowed_connection_types = vec!["STANDARD".into()]), "PONG");
    add("src elsewhere", user(acc, |c| c.nats.src = vec!["10.1.2.0/24".into()]), VIOLATION);
    add("src loopback", user(acc, |c| c.nats.src = vec!["127.0.0.1/32".into()]), "PONG");
    let (a, b) = outside_window(t);
    add("outside window", user(acc, |c| c.nats.times = vec![TimeRange { start: a, end: b }]), VIOLATION);
    add("inside window", user(acc, |c| c.nats.times = vec![TimeRange { start: "00:00:00".into(), end: "23:59:59".into() }]), "PONG");
    // Windows in a named zone (Japan has no daylight saving time: UTC+9 all year).
    let tokyo_hour = ((t + 9 * 3600).rem_euclid(86_400)) / 3600;
    let around = |h: i64, from: i64, to: i64| TimeRange {
        start: format!("{:02}:00:00", (h + from).rem_euclid(24)),
        end: format!("{:02}:59:59", (h + to).rem_euclid(24)),
    };
    add("inside a Tokyo window", user(acc, |c| {
        c.nats.times = vec![around(tokyo_hour, -1, 1)];
        c.nats.times_location = "Asia/Tokyo".into();
    }), "PONG");
    add("outside a Tokyo window", user(acc, |c| {
        c.nats.times = vec![around(tokyo_hour, 11, 12)];
        c.nats.times_location = "Asia/Tokyo".into();
    }), VIOLATION);
    let unknown = account(op, |_| {});
    add("account not preloaded", user(&unknown, |_| {}), VIOLATION);
    let other_op = operator();
    let foreign = account(&other_op, |_| {});
    add("account of another operator", user(&foreign, |_| {}), VIOLATION);
    cases.push(("revoked", revoked.jwt.clone(), Some(KeyPair::from_seed(&revoked.kp.seed().expect("seed")).expect("kp")), VIOLATION));
    // Tampered: the claims of one user with the signature of another.
    let a1 = user(acc, |c| c.name = "aaaa".into());
    let a2 = user(acc, |c| c.name = "bbbb".into());
    let p1: Vec<&str> = a1.jwt.split('.').collect();
    let p2: Vec<&str> = a2.jwt.split('.').collect();
    cases.push(("tampered signature", format!("{}.{}.{}", p1[0], p1[1], p2[2]), Some(a1.kp), VIOLATION));
    let wrong_signer = user(acc, |_| {});
    cases.push(("nonce signed by another key", wrong_signer.jwt, Some(KeyPair::new_user()), VIOLATION));
    let nosig = user(acc, |_| {});
    cases.push(("missing sig", nosig.jwt, None, VIOLATION));
    let bearer = user(acc, |c| c.nats.bearer_token = true);
    cases.push(("bearer without sig", bearer.jwt, None, "PONG"));
    cases
}

/// A one-second window twelve hours from now in UTC (outside the current local time
/// unless the zone's offset is about 12 h and the test runs in that very second).
fn outside_window(t: i64) -> (String, String) {
    let h = ((t / 3600) + 12).rem_euclid(24);
    (format!("{h:02}:00:00"), format!("{h:02}:00:01"))
}

struct Fixture {
    op: Op,
    acc: Acc,
    revoked_acc: Acc,
    revoked: Usr,
}

fn fixture() -> Fixture {
    let op = operator();
    let acc = account(&op, |_| {});
    // An account that revoked one of its users.
    let revoked_user_kp = KeyPair::new_user();
    let pk = revoked_user_kp.public_key();
    let revoked_acc = account(&op, |c| {
        c.nats.revocations.insert(pk.clone(), now() + 60);
    });
    let mut c = Claims { sub: pk, nats: User::unlimited(), ..Default::default() };
    c.iat = now() - 10;
    let jwt = encode(&mut c, &revoked_acc.kp).expect("revoked user");
    let revoked = Usr { kp: revoked_user_kp, jwt };
    Fixture { op, acc, revoked_acc, revoked }
}

fn run_cases(t: Target, f: &Fixture) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = config(dir.path(), &f.op, &[&f.acc, &f.revoked_acc]);
    let s = TestServer::start_on(t, Some(&conf), &[]);
    cases(&f.op, &f.acc, &f.revoked)
        .into_iter()
        .map(|(name, jwt, kp, want)| {
            let got = raw_login(s.port, &jwt, kp.as_ref());
            format!("{name}: {got}{}", if got == want { "" } else { " (expected differently)" })
        })
        .collect()
}

#[test]
fn each_acceptance_and_refusal() {
    let f = fixture();
    let got = run_cases(target(), &f);
    let bad: Vec<&String> = got.iter().filter(|l| l.ends_with("(expected differently)")).collect();
    assert!(bad.is_empty(), "{bad:#?}\nall: {got:#?}");
}

#[test]
fn same_decisions_as_nats_server() {
    if skip_without_nats_server() {
        return;
    }
    let f = fixture();
    let reference = run_cases(Target::NatsServer, &f);
    let ours = run_cases(Target::Natrix, &f);
    assert_eq!(ours, reference);
}

#[test]
fn info_has_nonce_and_auth_required() {
    let dir = tempfile::tempdir().expect("tempdir");
    let op = operator();
    let acc = account(&op, |_| {});
    let s = TestServer::start_with_config(&config(dir.path(), &op, &[&acc]));
    let c = RawClient::connect(s.port);
    let info = info_json(&c.info);
    assert_eq!(info["auth_required"], true);
    assert_eq!(info["nonce"].as_str().map(str::len), Some(15));
}

#[test]
fn user_expiring_while_connected_is_disconnected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let op = operator();
    let acc = account(&op, |_| {});
    let u = user(&acc, |c| c.exp = now() + 2);
    let s = TestServer::start_with_config(&config(dir.path(), &op, &[&acc]));
    let mut c = RawClient::connect(s.port);
    let nonce = info_json(&c.info)["nonce"].as_str().unwrap_or("").to_string();
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(u.kp.sign(nonce.as_bytes()).expect("sign"));
    c.send(format!("CONNECT {{\"verbose\":false,\"jwt\":\"{}\",\"sig\":\"{sig}\"}}\r\nPING\r\n", u.jwt).as_bytes());
    assert_eq!(c.read_line(Duration::from_secs(5)).as_deref(), Some(&b"PONG\r\n"[..]));
    let (rest, closed) = c.read_until_closed(Duration::from_secs(6));
    let rest = String::from_utf8_lossy(&rest);
    assert!(rest.contains("-ERR 'User Authentication Expired'"), "{rest}");
    assert!(closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_nats_creds_permissions_and_account_isolation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let op = operator();
    let a = account(&op, |_| {});
    let b = account(&op, |_| {});
    let limited = user(&a, |c| {
        c.nats.permissions.publish = Permission { allow: vec!["out.>".into()], deny: vec!["out.secret".into()] };
        c.nats.permissions.subscribe = Permission { allow: vec!["in.>".into(), "_INBOX.>".into()], deny: vec![] };
    });
    let free_a = user(&a, |_| {});
    let free_b = user(&b, |_| {});
    let s = TestServer::start_with_config(&config(dir.path(), &op, &[&a, &b]));
    let connect = |u: &Usr| {
        let path = creds_file(dir.path(), u);
        let addr = s.addr();
        async move {
            let opts = async_nats::ConnectOptions::with_credentials_file(path).await.expect("creds");
            tokio::time::timeout(Duration::from_secs(10), opts.connect(addr)).await.expect("timeout").expect("connect")
        }
    };
    let lim = connect(&limited).await;
    let fa = connect(&free_a).await;
    let fb = connect(&free_b).await;
    let mut sub_a = fa.subscribe("out.>").await.expect("sub");
    let mut sub_b = fb.subscribe("out.>").await.expect("sub");
    fa.flush().await.expect("flush");
    fb.flush().await.expect("flush");
    // async-nats' flush() only flushes the socket: give the server (either target) time to
    // register these SUBs before another connection publishes.
    tokio::time::sleep(Duration::from_millis(200)).await;
    lim.publish("out.secret", "no".into()).await.expect("pub");
    lim.publish("out.x", "yes".into()).await.expect("pub");
    lim.flush().await.expect("flush");
    use futures::StreamExt;
    let m = tokio::time::timeout(Duration::from_secs(5), sub_a.next()).await.expect("msg").expect("msg");
    assert_eq!(m.subject.as_str(), "out.x", "the denied publish is not delivered");
    // Account B shares no subjects with A.
    assert!(tokio::time::timeout(Duration::from_millis(300), sub_b.next()).await.is_err());
    // A wrong creds file (seed of another user) is refused.
    let other = Usr { kp: KeyPair::new_user(), jwt: free_a.jwt.clone() };
    let path = dir.path().join("bad.creds");
    std::fs::write(&path, format!(
        "-----BEGIN NATS USER JWT-----\n{}\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
        other.jwt,
        other.kp.seed().expect("seed")
    ))
    .expect("write");
    let opts = async_nats::ConnectOptions::with_credentials_file(path).await.expect("creds").connection_timeout(Duration::from_secs(2));
    let r = tokio::time::timeout(Duration::from_secs(5), opts.connect(s.addr())).await;
    assert!(r.map(|r| r.is_err()).unwrap_or(true), "a creds file whose seed does not match is refused");
}

#[test]
fn config_errors_name_the_position() {
    if target() == Target::NatsServer {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let op = operator();
    // Not an account JWT at all (an untrusted but valid one is no config error: see
    // jwt_cases::untrusted_account_does_not_stop_the_server).
    let broken = Acc { kp: KeyPair::new_account(), jwt: "eyJnot.a.jwt".into() };
    let conf_path = dir.path().join("bad.conf");
    std::fs::write(&conf_path, config(dir.path(), &op, &[&broken])).expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_natrix")).arg("-c").arg(&conf_path).arg("-t").output().expect("run");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "{text}");
    // nats-server 2.9.10: "<file>:4:3: invalid account JWT".
    assert!(text.contains("bad.conf:4:3: invalid account JWT"), "{text}");
}

/// Connects a raw client with a user's JWT and nonce signature; returns it after the
/// PONG (or with the refusal line in `first`).
fn raw_user(port: u16, u: &Usr) -> (RawClient, String) {
    let mut c = RawClient::connect(port);
    let nonce = info_json(&c.info)["nonce"].as_str().unwrap_or("").to_string();
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(u.kp.sign(nonce.as_bytes()).expect("sign"));
    c.send(format!("CONNECT {{\"verbose\":false,\"pedantic\":false,\"jwt\":\"{}\",\"sig\":\"{sig}\"}}\r\nPING\r\n", u.jwt).as_bytes());
    let first = c.read_line(Duration::from_secs(5)).unwrap_or_default();
    (c, String::from_utf8_lossy(&first).trim_end().to_string())
}

/// Account `conn` and `subs` limits and the user `payload` limit, as transcript lines.
fn limits_transcript(t: Target) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let op = operator();
    let acc = account(&op, |c| {
        c.nats.limits.conn = 1;
        c.nats.limits.subs = 2;
    });
    let u1 = user(&acc, |c| c.nats.payload = 10);
    let u2 = user(&acc, |_| {});
    let s = TestServer::start_on(t, Some(&config(dir.path(), &op, &[&acc])), &[]);
    let mut out = Vec::new();
    let (mut c1, first) = raw_user(s.port, &u1);
    out.push(format!("c1: {first}"));
    let (_c2, first) = raw_user(s.port, &u2);
    out.push(format!("c2: {first}"));
    c1.send(b"SUB a 1\r\nSUB b 2\r\nSUB c 3\r\nPING\r\n");
    out.push(format!("subs: {}", String::from_utf8_lossy(&c1.read_until(b"PONG\r\n", Duration::from_secs(5)).unwrap_or_default()).trim_end()));
    c1.send(b"PUB x 11\r\nhello world\r\n");
    let (rest, closed) = c1.read_until_closed(Duration::from_secs(5));
    out.push(format!("payload: {} closed={closed}", String::from_utf8_lossy(&rest).trim_end()));
    out
}

#[test]
fn account_and_user_limits() {
    let got = limits_transcript(target());
    assert_eq!(
        got,
        vec![
            "c1: PONG".to_string(),
            "c2: -ERR 'maximum account active connections exceeded'".to_string(),
            "subs: -ERR 'maximum subscriptions exceeded'\r\nPONG".to_string(),
            "payload: -ERR 'Maximum Payload Violation' closed=true".to_string(),
        ]
    );
}

#[test]
fn limits_same_as_nats_server() {
    if skip_without_nats_server() {
        return;
    }
    assert_eq!(limits_transcript(Target::Natrix), limits_transcript(Target::NatsServer));
}

/// Exports and imports from account JWTs: a public stream, a public service, a private
/// service with an activation token, and the same private service imported without one.
async fn exports_outcomes(t: Target) -> Vec<String> {
    use futures::StreamExt;
    use natrix::jwt::claims::{Activation, Export, ExportType, Import};
    let dir = tempfile::tempdir().expect("tempdir");
    let op = operator();
    let exporter = account(&op, |c| {
        c.nats.exports = vec![
            Export { subject: "ev.>".into(), kind: ExportType::Stream, ..Default::default() },
            Export { subject: "svc.pub".into(), kind: ExportType::Service, ..Default::default() },
            Export { subject: "svc.priv".into(), kind: ExportType::Service, token_req: true, ..Default::default() },
        ];
    });
    let importer_kp = KeyPair::new_account();
    let mut act = Claims {
        sub: importer_kp.public_key(),
        nats: Activation { subject: "svc.priv".into(), kind: ExportType::Service, claim_type: "activation".into(), version: 2, ..Default::default() },
        ..Default::default()
    };
    let token = encode(&mut act, &exporter.kp).expect("activation");
    let e = exporter.kp.public_key();
    let imports = |token: Option<String>| {
        let mut v = vec![
            Import { subject: "ev.>".into(), account: e.clone(), kind: ExportType::Stream, ..Default::default() },
            Import { subject: "svc.pub".into(), account: e.clone(), kind: ExportType::Service, ..Default::default() },
        ];
        v.push(Import { subject: "svc.priv".into(), account: e.clone(), kind: ExportType::Service, token: token.unwrap_or_default(), ..Default::default() });
        v
    };
    let mut ic = Claims { sub: importer_kp.public_key(), nats: Account::unlimited(), ..Default::default() };
    ic.nats.imports = imports(Some(token));
    let importer = Acc { jwt: encode(&mut ic, &op.kp).expect("importer"), kp: importer_kp };
    let tokenless = account(&op, |c| c.nats.imports = imports(None));
    let s = TestServer::start_on(t, Some(&config(dir.path(), &op, &[&exporter, &importer, &tokenless])), &[]);
    let connect = |u: Usr| {
        let path = creds_file(dir.path(), &u);
        let addr = s.addr();
        async move {
            let opts = async_nats::ConnectOptions::with_credentials_file(path).await.expect("creds");
            tokio::time::timeout(Duration::from_secs(10), opts.connect(addr)).await.expect("timeout").expect("connect")
        }
    };
    let ce = connect(user(&exporter, |_| {})).await;
    let ci = connect(user(&importer, |_| {})).await;
    let cn = connect(user(&tokenless, |_| {})).await;
    let mut events = ci.subscribe("ev.>").await.expect("sub");
    let mut services = ce.subscribe("svc.*").await.expect("sub");
    ci.flush().await.expect("flush");
    ce.flush().await.expect("flush");
    let responder = ce.clone();
    tokio::spawn(async move {
        while let Some(m) = services.next().await {
            if let Some(r) = m.reply {
                let _ = responder.publish(r, format!("re:{}", m.subject).into()).await;
            }
        }
    });
    // nats-server adds the importer's interest to the exporter asynchronously.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut out = Vec::new();
    ce.publish("ev.1", "x".into()).await.expect("pub");
    ce.flush().await.expect("flush");
    let got = tokio::time::timeout(Duration::from_secs(3), events.next()).await.ok().flatten();
    out.push(format!("stream: {:?}", got.map(|m| m.subject.to_string())));
    for (who, c) in [("importer", &ci), ("tokenless", &cn)] {
        for subj in ["svc.pub", "svc.priv"] {
            let r = tokio::time::timeout(Duration::from_secs(2), c.request(subj, "q".into())).await;
            let text = match r {
                Ok(Ok(m)) => String::from_utf8_lossy(&m.payload).into_owned(),
                Ok(Err(e)) => format!("error {:?}", e.kind()),
                Err(_) => "timeout".into(),
            };
            out.push(format!("{who} {subj}: {text}"));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_exports_and_imports() {
    let got = exports_outcomes(target()).await;
    assert_eq!(
        got,
        vec![
            "stream: Some(\"ev.1\")".to_string(),
            "importer svc.pub: re:svc.pub".to_string(),
            "importer svc.priv: re:svc.priv".to_string(),
            "tokenless svc.pub: re:svc.pub".to_string(),
            "tokenless svc.priv: error NoResponders".to_string(),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_same_as_nats_server() {
    if skip_without_nats_server() {
        return;
    }
    assert_eq!(exports_outcomes(Target::Natrix).await, exports_outcomes(Target::NatsServer).await);
}

/// Config with a system account (preloaded) for `$SYS` claim updates; `resolver` is
/// the resolver line(s).
fn sys_config(dir: &Path, op: &Op, sys: &Acc, accounts: &[&Acc], resolver: &str) -> String {
    let op_file = dir.join("op.jwt");
    std::fs::write(&op_file, &op.jwt).expect("write operator jwt");
    let mut s = format!("operator: \"{}\"\nsystem_account: {}\n{resolver}\nresolver_preload {{\n", op_file.display(), sys.kp.public_key());
    for a in std::iter::once(&sys).chain(accounts.iter()) {
        s.push_str(&format!("  {}: \"{}\"\n", a.kp.public_key(), a.jwt));
    }
    s.push_str("}\n");
    s
}

/// Publishes `jwt` on `subject` from the system user and returns the answer's
/// `data.message` (or `error.description`).
fn push_update(sys_client: &mut RawClient, subject: &str, jwt: &str) -> String {
    sys_client.send(format!("SUB _INBOX.upd 99\r\nPUB {subject} _INBOX.upd {}\r\n{jwt}\r\n", jwt.len()).as_bytes());
    let header = sys_client.read_line(Duration::from_secs(5)).unwrap_or_default();
    let body = sys_client.read_line(Duration::from_secs(5)).unwrap_or_default();
    sys_client.send(b"UNSUB 99\r\n");
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let msg = v["data"]["message"].as_str().or(v["error"]["description"].as_str()).unwrap_or("").to_string();
    format!("{} -> {msg}", String::from_utf8_lossy(&header).split(' ').next().unwrap_or(""))
}

fn revocation_transcript(t: Target) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let op = operator();
    let sys = account(&op, |_| {});
    let acc = account(&op, |_| {});
    let sys_user = user(&sys, |_| {});
    let u = user(&acc, |_| {});
    let other = user(&acc, |_| {});
    let s = TestServer::start_on(t, Some(&sys_config(dir.path(), &op, &sys, &[&acc], "resolver: MEMORY")), &[]);
    let (mut sc, first) = raw_user(s.port, &sys_user);
    let mut out = vec![format!("sys: {first}")];
    let (mut uc, first) = raw_user(s.port, &u);
    out.push(format!("user: {first}"));
    let (mut oc, _) = raw_user(s.port, &other);
    // The same account, now revoking `u`.
    let pk = u.kp.public_key();
    let mut c = Claims { sub: acc.kp.public_key(), name: "acc".into(), nats: Account::unlimited(), ..Default::default() };
    c.nats.revocations.insert(pk, now() + 60);
    let update = encode(&mut c, &op.kp).expect("update");
    out.push(push_update(&mut sc, &format!("$SYS.REQ.ACCOUNT.{}.CLAIMS.UPDATE", acc.kp.public_key()), &update));
    let (rest, closed) = uc.read_until_closed(Duration::from_secs(5));
    out.push(format!("revoked user: {} closed={closed}", String::from_utf8_lossy(&rest).trim_end()));
    oc.send(b"PING\r\n");
    out.push(format!("other user: {}", String::from_utf8_lossy(&oc.read_line(Duration::from_secs(5)).unwrap_or_default()).trim_end()));
    // A JWT for another account key than the subject names is refused.
    let wrong = push_update(&mut sc, &format!("$SYS.REQ.ACCOUNT.{}.CLAIMS.UPDATE", sys.kp.public_key()), &update);
    out.push(format!("mismatch: {}", wrong.contains("error")));
    out
}

#[test]
fn live_revocation_over_sys() {
    let got = revocation_transcript(target());
    assert_eq!(
        got,
        vec![
            "sys: PONG".to_string(),
            "user: PONG".to_string(),
            "MSG -> jwt updated".to_string(),
            "revoked user: -ERR 'User Authentication Revoked' closed=true".to_string(),
            "other user: PONG".to_string(),
            "mismatch: true".to_string(),
        ]
    );
}

#[test]
fn revocation_same_as_nats_server() {
    if skip_without_nats_server() {
        return;
    }
    assert_eq!(revocation_transcript(Target::Natrix), revocation_transcript(Target::NatsServer));
}

/// An account update over $SYS changes a live user's permissions (the account's
/// default permissions, for a user JWT without its own). natrix-only: nats-server 2.9.10
/// keeps a live connection's permissions until it reconnects.
#[test]
fn live_permission_update_over_sys() {
    if target() == Target::NatsServer {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let op = operator();
    let sys = account(&op, |_| {});
    let acc = account(&op, |_| {});
    let sys_user = user(&sys, |_| {});
    let u = user(&acc, |_| {});
    let s = TestServer::start_with_config(&sys_config(dir.path(), &op, &sys, &[&acc], "resolver: MEMORY"));
    let (mut sc, _) = raw_user(s.port, &sys_user);
    let (mut uc, first) = raw_user(s.port, &u);
    assert_eq!(first, "PONG");
    uc.send(b"SUB free 1\r\nSUB ok.x 2\r\nPUB anything 1\r\nx\r\nPING\r\n");
    assert_eq!(String::from_utf8_lossy(&uc.read_until(b"PONG\r\n", Duration::from_secs(5)).unwrap_or_default()), "PONG\r\n");
    let mut c = Claims { sub: acc.kp.public_key(), nats: Account::unlimited(), ..Default::default() };
    c.nats.default_permissions.publish = Permission { allow: vec!["ok.>".into()], deny: vec![] };
    c.nats.default_permissions.subscribe = Permission { allow: vec!["ok.>".into()], deny: vec![] };
    let update = encode(&mut c, &op.kp).expect("update");
    assert_eq!(push_update(&mut sc, &format!("$SYS.REQ.ACCOUNT.{}.CLAIMS.UPDATE", acc.kp.public_key()), &update), "MSG -> jwt updated");
    std::thread::sleep(Duration::from_millis(300));
    uc.send(b"PUB anything 1\r\nx\r\nPUB ok.y 1\r\ny\r\nPING\r\n");
    let got = String::from_utf8_lossy(&uc.read_until(b"PONG\r\n", Duration::from_secs(5)).unwrap_or_default()).into_owned();
    assert_eq!(
        got,
        "-ERR 'Permissions Violation for Subscription to \"free\" (sid \"1\")'\r\n\
         -ERR 'Permissions Violation for Publish to \"anything\"'\r\nPONG\r\n"
    );
    // LOOKUP returns the JWT in force.
    sc.send(format!("SUB _INBOX.l 7\r\nPUB $SYS.REQ.ACCOUNT.{}.CLAIMS.LOOKUP _INBOX.l 0\r\n\r\n", acc.kp.public_key()).as_bytes());
    let _header = sc.read_line(Duration::from_secs(5));
    let body = sc.read_line(Duration::from_secs(5)).unwrap_or_default();
    assert_eq!(String::from_utf8_lossy(&body).trim_end(), update);
}

/// The directory resolver: an account pushed over $SYS is stored and survives a restart
/// (nats-server 2.9.10 passes this too with `NATRIX_TEST_TARGET=nats-server`).
#[test]
fn directory_resolver_stores_updates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("jwts");
    let op = operator();
    let sys = account(&op, |_| {});
    let newcomer = account(&op, |_| {});
    let sys_user = user(&sys, |_| {});
    let u = user(&newcomer, |_| {});
    let conf = sys_config(dir.path(), &op, &sys, &[], &format!("resolver {{ type: full, dir: \"{}\" }}", store.display()));
    {
        let s = TestServer::start_with_config(&conf);
        assert_eq!(raw_user(s.port, &u).1, VIOLATION, "unknown account");
        let (mut sc, _) = raw_user(s.port, &sys_user);
        assert_eq!(push_update(&mut sc, "$SYS.REQ.CLAIMS.UPDATE", &newcomer.jwt), "MSG -> jwt updated");
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(raw_user(s.port, &u).1, "PONG");
    }
    assert!(store.join(format!("{}.jwt", newcomer.kp.public_key())).is_file());
    let s = TestServer::start_with_config(&conf);
    assert_eq!(raw_user(s.port, &u).1, "PONG", "loaded from the directory after a restart");
}

/// nats-py (with its `nkeys` package) connects with a .creds file; a user of an account
/// the server does not know is refused.
#[test]
fn nats_py_with_creds_file() {
    let ok = std::process::Command::new("python3").args(["-c", "import nats, nkeys"]).output().map(|o| o.status.success()).unwrap_or(false);
    if !ok {
        if std::env::var_os("NATRIX_REQUIRE_CLIENTS").is_some() {
            panic!("nats-py or nkeys is not installed but NATRIX_REQUIRE_CLIENTS is set");
        }
        println!("SKIPPED: python3 with nats-py and nkeys not found (pip install nats-py nkeys)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let op = operator();
    let acc = account(&op, |_| {});
    let stranger = account(&op, |_| {});
    let s = TestServer::start_with_config(&config(dir.path(), &op, &[&acc]));
    let good = creds_file(dir.path(), &user(&acc, |_| {}));
    let bad = creds_file(dir.path(), &user(&stranger, |_| {}));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/python_creds.py");
    let out = std::process::Command::new("timeout")
        .args(["60", "python3", script, &s.port.to_string()])
        .arg(&good)
        .arg(&bad)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "nats-py creds test failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn account_expiry_transcript(t: Target) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let op = operator();
    let acc = account(&op, |c| c.exp = now() + 2);
    let u = user(&acc, |_| {});
    let s = TestServer::start_on(t, Some(&config(dir.path(), &op, &[&acc])), &[]);
    let (mut c, first) = raw_user(s.port, &u);
    let (rest, closed) = c.read_until_closed(Duration::from_secs(6));
    format!("{first} then {} closed={closed}", String::from_utf8_lossy(&rest).trim_end())
}

#[test]
fn account_expiring_while_connected() {
    let got = account_expiry_transcript(target());
    assert_eq!(got, "PONG then -ERR 'Account Authentication Expired' closed=true");
}

/// An update lowering the account's `conn` limit from 2 to 1 disconnects one of its two
/// connections.
fn conn_limit_update_transcript(t: Target) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let op = operator();
    let sys = account(&op, |_| {});
    let acc = account(&op, |c| c.nats.limits.conn = 2);
    let sys_user = user(&sys, |_| {});
    let (u1, u2) = (user(&acc, |_| {}), user(&acc, |_| {}));
    let s = TestServer::start_on(t, Some(&sys_config(dir.path(), &op, &sys, &[&acc], "resolver: MEMORY")), &[]);
    let (mut sc, _) = raw_user(s.port, &sys_user);
    let (mut c1, _) = raw_user(s.port, &u1);
    let (mut c2, _) = raw_user(s.port, &u2);
    let mut c = Claims { sub: acc.kp.public_key(), name: "acc".into(), nats: Account::unlimited(), ..Default::default() };
    c.nats.limits.conn = 1;
    let update = encode(&mut c, &op.kp).expect("update");
    let mut out = vec![push_update(&mut sc, &format!("$SYS.REQ.ACCOUNT.{}.CLAIMS.UPDATE", acc.kp.public_key()), &update)];
    std::thread::sleep(Duration::from_millis(500));
    let mut closed = Vec::new();
    for c in [&mut c1, &mut c2] {
        c.try_send(b"PING\r\n");
        let (got, was_closed) = c.read_until_closed(Duration::from_millis(500));
        closed.push(format!("{} closed={was_closed}", String::from_utf8_lossy(&got).trim_end()));
    }
    closed.sort();
    out.extend(closed);
    out
}

#[test]
fn lowered_conn_limit_disconnects_the_excess() {
    let got = conn_limit_update_transcript(target());
    assert_eq!(
        got,
        vec![
            "MSG -> jwt updated".to_string(),
            "-ERR 'maximum account active connections exceeded' closed=true".to_string(),
            "PONG closed=false".to_string(),
        ]
    );
}

/// A user issued by a scoped signing key gets the key's template, with `{{name()}}`
/// filled in; a scoped user carrying its own permissions is refused.
fn scoped_transcript(t: Target) -> Vec<String> {
    use natrix::jwt::claims::{ScopedKey, SigningKey};
    let dir = tempfile::tempdir().expect("tempdir");
    let op = operator();
    let sk = KeyPair::new_account();
    let mut template = User::unlimited();
    template.permissions.publish = Permission { allow: vec!["u.{{name()}}.>".into()], deny: vec![] };
    let key = sk.public_key();
    let acc = account(&op, |c| {
        c.nats.signing_keys.push(SigningKey::Scoped(Box::new(ScopedKey { kind: "user_scope".into(), key, role: "r".into(), template })));
    });
    let scoped_user = |own: bool| {
        let kp = KeyPair::new_user();
        let mut nats = User { kind: "user".into(), version: 2, issuer_account: acc.kp.public_key(), ..Default::default() };
        if own {
            nats.subs = -1;
        }
        let mut c = Claims { sub: kp.public_key(), name: "bob".into(), nats, ..Default::default() };
        Usr { jwt: encode(&mut c, &sk).expect("scoped user"), kp }
    };
    let s = TestServer::start_on(t, Some(&config(dir.path(), &op, &[&acc])), &[]);
    let (_, refused) = raw_user(s.port, &scoped_user(true));
    let (mut c, first) = raw_user(s.port, &scoped_user(false));
    c.send(b"PUB u.bob.x 1\r\nx\r\nPUB u.alice.x 1\r\nx\r\nPING\r\n");
    let got = String::from_utf8_lossy(&c.read_until(b"PONG\r\n", Duration::from_secs(5)).unwrap_or_default()).trim_end().to_string();
    vec![format!("own limits: {refused}"), format!("scoped: {first}"), got]
}

#[test]
fn scoped_signing_key_templates() {
    let got = scoped_transcript(target());
    assert_eq!(
        got,
        vec![
            format!("own limits: {VIOLATION}"),
            "scoped: PONG".to_string(),
            "-ERR 'Permissions Violation for Publish to \"u.alice.x\"'\r\nPONG".to_string(),
        ]
    );
}

#[test]
fn scoped_same_as_nats_server() {
    if skip_without_nats_server() {
        return;
    }
    assert_eq!(scoped_transcript(Target::Natrix), scoped_transcript(Target::NatsServer));
}

/// The user `data` limit: nats-server 2.9.10 parses it and lets the user publish past it;
/// natrix closes the connection once it has published more message bytes than allowed
/// (the account's `data` limit counts too, the smaller one wins).
#[test]
fn data_limit_closes_the_connection_past_it() {
    if target() != Target::Natrix {
        eprintln!("skipped: nats-server does not enforce the JWT data limit (a documented difference)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let op = operator();
    let acc = account(&op, |c| c.nats.limits.data = 1_000);
    let u = user(&acc, |c| c.nats.data = 20);
    let roomy = user(&acc, |_| {});
    let s = TestServer::start_on(Target::Natrix, Some(&config(dir.path(), &op, &[&acc])), &[]);
    let (mut c, first) = raw_user(s.port, &u);
    assert_eq!(first, "PONG");
    c.send(b"PUB d 8\r\n12345678\r\nPUB d 8\r\n12345678\r\nPING\r\n");
    assert_eq!(c.read_line(Duration::from_secs(5)).as_deref(), Some(&b"PONG\r\n"[..]), "16 of 20 bytes are allowed");
    c.send(b"PUB d 8\r\n12345678\r\n");
    let (rest, closed) = c.read_until_closed(Duration::from_secs(5));
    assert_eq!(String::from_utf8_lossy(&rest), "-ERR 'Maximum Data Exceeded'\r\n");
    assert!(closed);
    // Without a user limit the account's 1,000 bytes apply.
    let (mut r, first) = raw_user(s.port, &roomy);
    assert_eq!(first, "PONG");
    let big = format!("PUB d 600\r\n{}\r\nPING\r\n", "x".repeat(600));
    r.send(big.as_bytes());
    assert_eq!(r.read_line(Duration::from_secs(5)).as_deref(), Some(&b"PONG\r\n"[..]));
    r.send(big.as_bytes());
    let (rest, closed) = r.read_until_closed(Duration::from_secs(5));
    assert!(String::from_utf8_lossy(&rest).starts_with("-ERR 'Maximum Data Exceeded'"), "{}", String::from_utf8_lossy(&rest));
    assert!(closed);
}

/// The Go client (nats.go from Debian's golang-github-nats-io-go-nats-dev, built here in
/// GOPATH mode) with a `.creds` file: a good user round-trips a message, a user of an
/// account the server does not trust is refused.
#[test]
fn nats_go_with_creds_file() {
    let have = |cmd: &str, args: &[&str]| {
        std::process::Command::new(cmd).args(args).output().map(|o| o.status.success()).unwrap_or(false)
    };
    let gopath = "/usr/share/gocode";
    if !have("go", &["version"]) || !Path::new(gopath).join("src/github.com/nats-io/nats.go").exists() {
        if std::env::var_os("NATRIX_REQUIRE_CLIENTS").is_some() {
            panic!("go or nats.go is not installed but NATRIX_REQUIRE_CLIENTS is set");
        }
        println!("SKIPPED: go and nats.go not found (apt-get install golang-go golang-github-nats-io-go-nats-dev)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = dir.path().join("natsgo");
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/go_creds/main.go");
    let build = std::process::Command::new("timeout")
        .args(["300", "go", "build", "-o"])
        .arg(&bin)
        .arg(src)
        .env("GO111MODULE", "off")
        .env("GOPATH", gopath)
        .env("GOCACHE", dir.path().join("gocache"))
        .env("GOFLAGS", "")
        .output()
        .expect("run go build");
    assert!(build.status.success(), "go build failed: {}", String::from_utf8_lossy(&build.stderr));
    let op = operator();
    let acc = account(&op, |_| {});
    let stranger = account(&op, |_| {});
    let s = TestServer::start_with_config(&config(dir.path(), &op, &[&acc]));
    let url = format!("nats://127.0.0.1:{}", s.port);
    let run = |creds: &Path| {
        let out = std::process::Command::new("timeout").args(["30"]).arg(&bin).arg(&url).arg(creds).output().expect("run natsgo");
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (ok, out) = run(&creds_file(dir.path(), &user(&acc, |_| {})));
    assert!(ok && out.contains("received hello"), "{out}");
    let (ok, out) = run(&creds_file(dir.path(), &user(&stranger, |_| {})));
    assert!(!ok && out.to_lowercase().contains("authorization violation"), "{out}");
}
