//! Permission and service-import decisions (issue 14 items 11, 12, 13, 16, 17, 20, 21):
//! differential against nats-server 2.9.10 where it is the reference, natrix-only where
//! natrix is deliberately stricter.
mod common;

use common::diff::{compare_all, Script};
use common::raw::{show, RawClient};
use common::{skip_without_nats_server, target, Target, TestServer};
use std::collections::BTreeSet;
use std::time::Duration;

const DENIES: &str = r#"
authorization { users: [
  {user: d, password: p, permissions: {
      publish: {deny: ["a.secret", "b.*", "c.>"]}
      subscribe: {deny: ["data.secret.*", "x.y", "jobs.* badq", "w.> wq"]}
  }}
  {user: ad, password: p, permissions: {publish: {allow: ["a.>", "b.*"], deny: ["a.secret"]}}}
  {user: r, password: p}
]}
"#;

/// CONNECT options of `user` (password `p`), not verbose.
fn creds(user: &str) -> String {
    format!("{{\"verbose\":false,\"pedantic\":false,\"user\":\"{user}\",\"pass\":\"p\"}}")
}

fn login(user: &str) -> String {
    format!("CONNECT {}\r\n", creds(user))
}

fn subs(list: &[&str]) -> String {
    list.iter().enumerate().map(|(i, s)| format!("SUB {s} {}\r\n", i + 1)).collect()
}

fn pubs(list: &[&str]) -> String {
    list.iter().map(|s| format!("PUB {s} 1\r\nx\r\n")).collect()
}

/// Which SUBs a deny list refuses, and which PUBs (with empty tokens) a publish list
/// refuses: the `-ERR` lines, in order, as nats-server sends them.
fn scripts() -> Vec<Script> {
    vec![
        // Item 11: a deny entry refuses a wildcard SUB it matches token by token.
        Script::new("subscribe deny vs wildcard subscriptions").conf(DENIES).send(0, &login("d")).send(
            0,
            &subs(&[
                "data.secret.>", "data.secret.*", "data.secret.x", "data.*.*", "data.>", ">", "data.secret",
                "data.*.x", "*.secret.*", "data.secret.*.y", "x.*", "x.>", "x.y", "*.y", "*.*",
            ]),
        )
        .sync(0),
        // Item 12: `"subject queue"` deny entries refuse that queue only.
        Script::new("queue-scoped deny entries").conf(DENIES).send(0, &login("d")).send(
            0,
            &(subs(&[
                "jobs.x", "jobs.*", "jobs.>", "jobs.x badq", "jobs.x goodq", "jobs.* badq", "jobs.> badq",
                "> badq", "jobs.x.y badq", "jobs badq", "jobs.* bad*", "jobs.* *", "w.x wq", "w.> wq",
                "w.x other", "w wq", "> wq", "w.x",
            ])),
        )
        .sync(0),
        // Item 13: a subject with an empty token matches no permission entry: refused by
        // an allow list, not refused by a deny list alone (and delivered to nobody).
        Script::new("publish with empty tokens, deny list").conf(DENIES)
            .send(1, &login("r")).send(1, "SUB > 1\r\nSUB b.* 2\r\nSUB *.secret 3\r\n").sync(1)
            .send(0, &login("d"))
            .send(0, &pubs(&["a.secret.", "a..secret", "a.secret", ".a.secret", "b.", ".b", "b..x", "c.", "c..", "a.x."]))
            .sync(0).sync(1),
        Script::new("publish with empty tokens, allow list").conf(DENIES)
            .send(1, &login("r")).send(1, "SUB > 1\r\n").sync(1)
            .send(0, &login("ad"))
            .send(0, &pubs(&["a.secret.", "a..secret", "a.secret", ".a.secret", "a.", "b.", "b..x", "a.x..y", "a.ok"]))
            .sync(0).sync(1),
    ]
}

#[test]
fn deny_decisions_match_nats_server() {
    if skip_without_nats_server() {
        return;
    }
    let diffs = compare_all(&scripts(), target());
    assert!(diffs.is_empty(), "{} scripts differ:\n{}", diffs.len(), diffs.join("\n"));
}

/// The `subject sid` pairs of every MSG in `bytes`.
fn deliveries(bytes: &[u8]) -> BTreeSet<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter_map(|l| l.strip_prefix("MSG "))
        .map(|l| l.split(' ').take(2).collect::<Vec<_>>().join(" "))
        .collect()
}

const DELIVERY_SUBS: [&str; 8] = ["> badq", "> goodq", ">", "jobs.*", "data.*.*", "> wq", "x.*", "w.x other"];

/// What user `d` receives on each of `DELIVERY_SUBS` when `r` publishes one message on
/// each of a few subjects.
fn delivered_to_d(t: Target) -> BTreeSet<String> {
    let s = TestServer::start_on(t, Some(DENIES), &[]);
    let mut d = RawClient::connect_with(s.port, &creds("d"));
    d.send(subs(&DELIVERY_SUBS).as_bytes());
    assert_eq!(show(&d.sync()), show(b""), "every SUB is allowed");
    let mut r = RawClient::connect_with(s.port, &creds("r"));
    r.send(pubs(&["jobs.x", "data.secret.x", "data.other.x", "x.y", "w.x", "other"]).as_bytes());
    r.sync();
    // Deliveries cross workers: a second round trip after a pause collects late ones.
    let mut got = d.sync();
    std::thread::sleep(Duration::from_millis(100));
    got.extend(d.sync());
    deliveries(&got)
}

/// Items 11 and 12 at delivery: what nats-server delivers, natrix delivers, except the
/// queue-scoped deny entries that nats-server does not filter (`SUB > badq` receiving
/// `jobs.x` despite `"jobs.* badq"`), which natrix keeps from that queue.
#[test]
fn deny_filters_at_delivery() {
    let ours = delivered_to_d(target());
    let want: BTreeSet<String> = [
        "jobs.x 2", "jobs.x 3", "jobs.x 4", "jobs.x 6", "data.other.x 1", "data.other.x 2", "data.other.x 3",
        "data.other.x 5", "data.other.x 6", "w.x 1", "w.x 2", "w.x 3", "w.x 8", "other 1", "other 2", "other 3",
        "other 6",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if target() == Target::Natrix {
        assert_eq!(ours, want);
    }
    if skip_without_nats_server() {
        return;
    }
    let reference = delivered_to_d(Target::NatsServer);
    // nats-server's leaks through queue-scoped deny entries, which natrix filters.
    let leaks: BTreeSet<String> = ["jobs.x 1", "w.x 6"].iter().map(|s| s.to_string()).collect();
    assert_eq!(reference, want.union(&leaks).cloned().collect(), "nats-server as measured");
}

const QUEUE_DENY: &str = r#"
authorization { users: [
  {user: f, password: p, permissions: {subscribe: {deny: ["jobs.secret"]}}}
  {user: r, password: p}
]}
"#;

/// Messages of `bytes` per subject.
fn count_msgs(bytes: &[u8]) -> (usize, usize) {
    let text = String::from_utf8_lossy(bytes);
    let secret = text.lines().filter(|l| l.starts_with("MSG jobs.secret ")).count();
    let open = text.lines().filter(|l| l.starts_with("MSG jobs.open ")).count();
    (secret, open)
}

/// Item 17: 200 messages through a work queue whose members' deny filters differ: every
/// message is delivered exactly once (a member whose filter drops it passes it on).
fn work_queue(t: Target) -> ((usize, usize), (usize, usize)) {
    let s = TestServer::start_on(t, Some(QUEUE_DENY), &[]);
    // Several filtered members so the group is likely to pick one first.
    let mut filtered: Vec<RawClient> = (0..3).map(|_| RawClient::connect_with(s.port, &creds("f"))).collect();
    for f in filtered.iter_mut() {
        f.send(b"SUB jobs.* workers 1\r\n");
        f.sync_empty();
    }
    let mut open = RawClient::connect_with(s.port, &creds("r"));
    open.send(b"SUB jobs.* workers 1\r\n");
    open.sync_empty();
    let mut p = RawClient::connect_with(s.port, &creds("r"));
    let mut burst = String::new();
    for i in 0..200 {
        let subject = if i % 2 == 0 { "jobs.secret" } else { "jobs.open" };
        burst.push_str(&format!("PUB {subject} 3\r\n{:03}\r\n", i % 1000));
    }
    p.send(burst.as_bytes());
    p.sync();
    let collect = |c: &mut RawClient| -> Vec<u8> {
        let mut all = c.sync();
        all.extend(c.read_available(Duration::from_millis(200)));
        all
    };
    let mut f_total = (0, 0);
    for f in filtered.iter_mut() {
        let (a, b) = count_msgs(&collect(f));
        f_total = (f_total.0 + a, f_total.1 + b);
    }
    (f_total, count_msgs(&collect(&mut open)))
}

#[test]
fn queue_member_deny_filter_passes_the_message_on() {
    let (filtered, open) = work_queue(target());
    assert_eq!(filtered.0, 0, "no jobs.secret to the filtered members");
    assert_eq!(open.0, 100, "every jobs.secret reaches the member allowed to get it");
    assert_eq!(filtered.1 + open.1, 100, "every jobs.open exactly once");
    if skip_without_nats_server() {
        return;
    }
    let (rf, ro) = work_queue(Target::NatsServer);
    assert_eq!((rf.0, ro.0, rf.1 + ro.1), (0, 100, 100), "nats-server");
}

const SERVICE: &str = r#"
accounts {
  A: { users: [{user: a, password: p}]
       exports: [ {service: "svc"} ] }
  B: { users: [{user: b, password: p}]
       imports: [ {service: {account: A, subject: "svc"}} ] }
}
"#;

fn hdr_client(port: u16, user: &str) -> RawClient {
    RawClient::connect_with(
        port,
        &format!(r#"{{"verbose":false,"pedantic":false,"user":"{user}","pass":"p","headers":true,"no_responders":true}}"#),
    )
}

/// Sends an HPUB with `headers` from B through the service import and returns the header
/// block A's responder receives, with the `rtt` value blanked.
fn request_headers(t: Target, headers: &str) -> String {
    let s = TestServer::start_on(t, Some(SERVICE), &[]);
    let mut a = hdr_client(s.port, "a");
    a.send(b"SUB svc 1\r\n");
    a.sync_empty();
    let mut b = hdr_client(s.port, "b");
    b.send(format!("HPUB svc _INBOX.b {} {}\r\n{headers}\r\n", headers.len(), headers.len()).as_bytes());
    b.sync();
    let got = String::from_utf8_lossy(&a.read_until(b"\r\n\r\n", Duration::from_secs(5)).unwrap_or_default()).into_owned();
    let hdr = got.split_once("\r\n").map_or("", |(_, h)| h).to_string();
    // {"acc":"B","rtt":123} → rtt blanked.
    match hdr.find("\"rtt\":") {
        Some(i) => {
            let end = hdr[i..].find('}').map_or(hdr.len(), |e| i + e);
            format!("{}\"rtt\":N{}", &hdr[..i], &hdr[end..])
        }
        None => hdr,
    }
}

/// Item 16: a requester's forged `Nats-Request-Info` never reaches the service; the
/// server's own is the only one. One exact-case copy: as nats-server. Other cases and
/// repeated copies: natrix removes them all (nats-server removes only the first exact one).
#[test]
fn forged_request_info_is_removed() {
    let forged = "NATS/1.0\r\nNats-Request-Info: {\"acc\":\"A\",\"rtt\":1}\r\nX: 1\r\n\r\n";
    let want = "NATS/1.0\r\nX: 1\r\nNats-Request-Info: {\"acc\":\"B\",\"rtt\":N}\r\n\r\n";
    assert_eq!(request_headers(target(), forged), want);
    if target() == Target::Natrix {
        let many = "NATS/1.0\r\nnats-request-info: {\"acc\":\"A\"}\r\nX: 1\r\nNATS-REQUEST-INFO : {\"acc\":\"A\"}\r\nNats-Request-Info: {\"acc\":\"A\"}\r\n\r\n";
        assert_eq!(request_headers(Target::Natrix, many), want);
    }
    if skip_without_nats_server() {
        return;
    }
    assert_eq!(request_headers(Target::NatsServer, forged), want);
}

/// The last token of each generated reply A's responder sees for `n` requests from B.
fn reply_tokens(t: Target, n: usize) -> Vec<String> {
    let s = TestServer::start_on(t, Some(SERVICE), &[]);
    // Without headers: the request arrives as MSG, one line and its payload.
    let mut a = RawClient::connect_with(s.port, &creds("a"));
    a.send(b"SUB svc 1\r\n");
    a.sync_empty();
    let mut b = hdr_client(s.port, "b");
    b.send(b"SUB _INBOX.b.* 9\r\n");
    b.sync_empty();
    let mut out = Vec::new();
    for i in 0..n {
        b.send(format!("PUB svc _INBOX.b.{i} 1\r\nq\r\n").as_bytes());
        let line = a.read_line(Duration::from_secs(5)).expect("request at the service");
        let _payload = a.read_line(Duration::from_secs(5));
        let line = String::from_utf8_lossy(&line).into_owned();
        let reply = line.split(' ').nth(3).expect("MSG with a reply").to_string();
        assert!(reply.starts_with("_R_."), "{reply}");
        out.push(reply.rsplit('.').next().unwrap_or_default().to_string());
    }
    out
}

/// Item 20: consecutive `_R_` replies do not follow from each other (random, as
/// nats-server's): they are distinct and share hardly any leading characters.
#[test]
fn service_replies_are_unpredictable() {
    for t in [Some(target()), (!skip_without_nats_server()).then_some(Target::NatsServer)].into_iter().flatten() {
        let tokens = reply_tokens(t, 40);
        let distinct: BTreeSet<&String> = tokens.iter().collect();
        assert_eq!(distinct.len(), tokens.len(), "{t:?}: {tokens:?}");
        let shared: usize = tokens
            .windows(2)
            .map(|w| w[0].bytes().zip(w[1].bytes()).take_while(|(x, y)| x == y).count())
            .sum();
        assert!(shared < 10, "{t:?}: consecutive replies share {shared} leading characters: {tokens:?}");
        // Nor trailing ones (a little-endian counter).
        let shared_tail: usize = tokens
            .windows(2)
            .map(|w| w[0].bytes().rev().zip(w[1].bytes().rev()).take_while(|(x, y)| x == y).count())
            .sum();
        assert!(shared_tail < 10, "{t:?}: {tokens:?}");
    }
}

const RESPONDER: &str = r#"
authorization { users: [
  {user: u, password: p, permissions: {
      publish: {allow: ["req"]}
      subscribe: {allow: ["req"]}
      allow_responses: true
  }}
  {user: o, password: p}
]}
"#;

/// Item 21 (stricter than nats-server): a connection's own request, echoed back to it,
/// grants it no response permission on the reply subject; a request from anyone else does.
#[test]
fn own_echoed_request_grants_no_response_permission() {
    if target() == Target::NatsServer {
        println!("SKIPPED: natrix-only behaviour (nats-server 2.9.10 grants it)");
        return;
    }
    let s = TestServer::start_with_config(RESPONDER);
    let mut o = RawClient::connect_with(s.port, &creds("o"));
    o.send(b"SUB target.x 1\r\nSUB o.reply 2\r\n");
    o.sync_empty();
    let mut u = RawClient::connect_with(s.port, &creds("u"));
    u.send(b"SUB req 1\r\nPUB req target.x 1\r\nq\r\n");
    assert_eq!(show(&u.sync()), show(b"MSG req 1 target.x 1\r\nq\r\n"), "its own request echoed");
    u.send(b"PUB target.x 6\r\nforged\r\n");
    assert_eq!(show(&u.sync()), show(b"-ERR 'Permissions Violation for Publish to \"target.x\"'\r\n"));
    o.expect_nothing(Duration::from_millis(200));
    // A genuine request from another connection still grants the response.
    o.send(b"PUB req o.reply 1\r\nq\r\n");
    o.sync();
    assert_eq!(show(&u.sync()), show(b"MSG req 1 o.reply 1\r\nq\r\n"));
    u.send(b"PUB o.reply 2\r\nok\r\n");
    u.sync_empty();
    assert_eq!(show(&o.sync()), show(b"MSG o.reply 2 2\r\nok\r\n"));
}

/// A reload that takes away a user's permissions also takes away the delivery filter of
/// its live wildcard subscriptions (and one that adds a deny entry adds it).
#[test]
fn reload_replaces_delivery_filters() {
    if target() == Target::NatsServer {
        println!("SKIPPED: drives natrix's reload through its own config file");
        return;
    }
    let conf = |d_perms: &str| {
        format!("authorization {{ users: [ {{user: d, password: p{d_perms}}}, {{user: r, password: p}} ] }}\n")
    };
    let denied = ", permissions: {subscribe: {deny: [\"data.secret.*\"]}}";
    let s = TestServer::start_with_config(&conf(denied));
    let mut d = RawClient::connect_with(s.port, &creds("d"));
    d.send(b"SUB data.> 1\r\n");
    d.sync_empty();
    let mut r = RawClient::connect_with(s.port, &creds("r"));
    // Publishes data.secret.x and data.ok; returns what `d` got of them.
    let mut round = |d: &mut RawClient| -> String {
        r.send(b"PUB data.secret.x 1\r\ns\r\nPUB data.ok 1\r\no\r\n");
        r.sync();
        let ok = "MSG data.ok 1 1\r\no\r\n";
        let mut got = String::from_utf8_lossy(&d.sync()).into_owned();
        if !got.contains(ok) {
            // Delivered from another worker after the PONG.
            got.push_str(&String::from_utf8_lossy(&d.read_until(ok.as_bytes(), Duration::from_secs(2)).unwrap_or_default()));
        }
        got
    };
    assert_eq!(round(&mut d), "MSG data.ok 1 1\r\no\r\n", "filtered before the reload");
    let reloaded = |s: &TestServer, text: &str| {
        std::fs::write(s.dir().join("server.conf"), text).expect("rewrite config");
        s.reload();
    };
    reloaded(&s, &conf(""));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let got = round(&mut d);
        if got.contains("MSG data.secret.x 1 1\r\n") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "filter kept after the reload: {got:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    reloaded(&s, &conf(denied));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let got = round(&mut d);
        if got == "MSG data.ok 1 1\r\no\r\n" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "filter not restored after the reload: {got:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
