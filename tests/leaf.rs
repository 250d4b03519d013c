//! Leaf nodes with real servers on 127.0.0.1: a nats-server 2.9.10 leaf on a natrix
//! hub, a natrix leaf on a nats-server hub, and natrix on both ends, driven by
//! async-nats clients: pub/sub both ways with wildcards, headers, request/reply,
//! queue groups spanning the link (exactly once, local members first), user/password
//! with account binding, the hub user's permissions, deny_imports/deny_exports, the
//! hub restarted (the leaf redials and re-sends its interest) and a loop refused.
//! Every wait is bounded; servers die with the test.
mod common;

use async_nats::{Client, HeaderMap};
use common::{free_port, Target, TestServer};
use futures::StreamExt;
use std::collections::HashSet;
use std::time::{Duration, Instant};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

/// A hub listening for leafs on `leaf_port`, with `extra` config.
fn hub(t: Target, leaf_port: u16, leaf_extra: &str, extra: &str) -> TestServer {
    let conf = format!("server_name: HUB\n{extra}\nleafnodes {{\n  listen: 127.0.0.1:{leaf_port}\n  {leaf_extra}\n}}\n");
    TestServer::start_on(t, Some(&conf), &[])
}

/// A leaf with one remote `url` (`remote_extra` goes inside the remote entry).
fn leaf(t: Target, url: &str, remote_extra: &str, extra: &str) -> TestServer {
    let conf = format!(
        "server_name: LEAF\n{extra}\nleafnodes {{\n  reconnect: 1\n  remotes: [ {{ url: \"{url}\"\n {remote_extra} }} ]\n}}\n"
    );
    TestServer::start_on(t, Some(&conf), &[])
}

/// Publishes probes on `from` until `sub` gets one (the link is up and the interest
/// crossed it), then drains late probes.
async fn wait_interest(from: &Client, sub: &mut async_nats::Subscriber, subject: &str) {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        from.publish(subject.to_string(), "probe".into()).await.expect("publish probe");
        from.flush().await.expect("flush");
        if let Ok(Some(_)) = timeout(Duration::from_millis(100), sub.next()).await {
            while let Ok(Some(_)) = timeout(Duration::from_millis(100), sub.next()).await {}
            return;
        }
    }
    panic!("interest in {subject} never crossed the leaf link");
}

async fn collect(sub: &mut async_nats::Subscriber, n: usize) -> Vec<String> {
    let mut got = Vec::new();
    while got.len() < n {
        match timeout(Duration::from_secs(2), sub.next()).await {
            Ok(Some(m)) => got.push(String::from_utf8_lossy(&m.payload).into_owned()),
            _ => break,
        }
    }
    got
}

async fn pub_sub_one_way(a: &Client, b: &Client, tag: &str) {
    let mut star = b.subscribe(format!("{tag}.*.x")).await.expect("sub");
    let mut full = b.subscribe(format!("{tag}.>")).await.expect("sub");
    b.flush().await.expect("flush");
    wait_interest(a, &mut star, &format!("{tag}.probe.x")).await;
    while let Ok(Some(_)) = timeout(Duration::from_millis(200), full.next()).await {}
    for i in 0..100 {
        a.publish(format!("{tag}.{i}.x"), format!("{i}").into()).await.expect("publish");
    }
    a.flush().await.expect("flush");
    let want: Vec<String> = (0..100).map(|i| i.to_string()).collect();
    assert_eq!(collect(&mut star, 100).await, want, "{tag}: `*` subscriber gets all 100 once, in order");
    assert_eq!(collect(&mut full, 100).await, want, "{tag}: `>` subscriber gets all 100 once, in order");
    assert!(timeout(Duration::from_millis(300), full.next()).await.is_err(), "{tag}: nothing extra");
}

async fn headers_cross(a: &Client, b: &Client, subject: &str) {
    let mut s = b.subscribe(subject.to_string()).await.expect("sub");
    b.flush().await.expect("flush");
    wait_interest(a, &mut s, subject).await;
    let mut h = HeaderMap::new();
    h.insert("X-Trace", "abc123");
    a.publish_with_headers(subject.to_string(), h, "body".into()).await.expect("hpub");
    a.flush().await.expect("flush");
    let m = timeout(WAIT, s.next()).await.expect("time").expect("message");
    assert_eq!(m.headers.expect("headers").get("X-Trace").map(|v| v.as_str()), Some("abc123"));
    assert_eq!(&m.payload[..], b"body");
}

async fn request_reply(requester: &Client, responder: &Client, svc: &str) {
    let mut service = responder.subscribe(svc.to_string()).await.expect("sub");
    let r = responder.clone();
    let task = tokio::spawn(async move {
        while let Some(m) = service.next().await {
            if let Some(reply) = m.reply {
                let body = format!("re:{}", String::from_utf8_lossy(&m.payload));
                let _ = r.publish(reply, body.into()).await;
                let _ = r.flush().await;
            }
        }
    });
    let deadline = Instant::now() + WAIT;
    loop {
        match timeout(Duration::from_secs(1), requester.request(svc.to_string(), "0".into())).await {
            Ok(Ok(m)) => {
                assert_eq!(&m.payload[..], b"re:0");
                break;
            }
            _ => assert!(Instant::now() < deadline, "{svc}: never answered across the link"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for i in 1..20 {
        let m = timeout(Duration::from_secs(5), requester.request(svc.to_string(), format!("{i}").into()))
            .await
            .expect("request time")
            .expect("request");
        assert_eq!(String::from_utf8_lossy(&m.payload), format!("re:{i}"));
    }
    task.abort();
}

/// Members on both sides: a publisher's messages stay with its own side's members
/// while they exist (local first); with none left there, the other side's take them,
/// each message exactly once.
async fn queue_local_first_then_across(a: &Client, b: &Client, tag: &str) {
    let subject = format!("{tag}.work");
    let mut qa = a.queue_subscribe(subject.clone(), "g".into()).await.expect("qsub");
    let mut qb1 = b.queue_subscribe(subject.clone(), "g".into()).await.expect("qsub");
    let mut qb2 = b.queue_subscribe(subject.clone(), "g".into()).await.expect("qsub");
    a.flush().await.expect("flush");
    b.flush().await.expect("flush");
    // Interest both ways (a plain probe subscribed after the queue members).
    let mut pa = a.subscribe(format!("{tag}.pa")).await.expect("sub");
    let mut pb = b.subscribe(format!("{tag}.pb")).await.expect("sub");
    wait_interest(a, &mut pb, &format!("{tag}.pb")).await;
    wait_interest(b, &mut pa, &format!("{tag}.pa")).await;
    for i in 0..50 {
        a.publish(subject.clone(), format!("a{i}").into()).await.expect("publish");
    }
    a.flush().await.expect("flush");
    assert_eq!(collect(&mut qa, 50).await.len(), 50, "{tag}: the publisher's side member gets all (local first)");
    assert!(timeout(Duration::from_millis(300), qb1.next()).await.is_err(), "{tag}: other side got none");
    assert!(timeout(Duration::from_millis(100), qb2.next()).await.is_err(), "{tag}: other side got none");
    // No member left on a's side: the other side's members take them, once each.
    qa.unsubscribe().await.expect("unsub");
    a.flush().await.expect("flush");
    let deadline = Instant::now() + WAIT;
    let mut seen = HashSet::new();
    // The LS- may take a moment: publish in rounds until everything of a round arrives.
    'rounds: for round in 0.. {
        assert!(Instant::now() < deadline, "{tag}: the other side's members never took over");
        for i in 0..60 {
            a.publish(subject.clone(), format!("r{round}-{i}").into()).await.expect("publish");
        }
        a.flush().await.expect("flush");
        let mut got = 0;
        for q in [&mut qb1, &mut qb2] {
            while let Ok(Some(m)) = timeout(Duration::from_millis(500), q.next()).await {
                let id = String::from_utf8_lossy(&m.payload).into_owned();
                assert!(seen.insert(id.clone()), "{tag}: {id} delivered twice");
                if id.starts_with(&format!("r{round}-")) {
                    got += 1;
                }
            }
        }
        if got == 60 {
            break 'rounds;
        }
    }
}

async fn exercise(hub_srv: &TestServer, leaf_srv: &TestServer) {
    let h = common::client(hub_srv).await;
    let l = common::client(leaf_srv).await;
    pub_sub_one_way(&h, &l, "hl").await;
    pub_sub_one_way(&l, &h, "lh").await;
    headers_cross(&h, &l, "hdr.hl").await;
    headers_cross(&l, &h, "hdr.lh").await;
    request_reply(&h, &l, "svc.one").await;
    request_reply(&l, &h, "svc.two").await;
    queue_local_first_then_across(&h, &l, "qh").await;
    queue_local_first_then_across(&l, &h, "ql").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_server_leaf_on_natrix_hub() {
    if common::skip_without_nats_server() {
        return;
    }
    let port = free_port();
    let h = hub(Target::Natrix, port, "", "");
    let l = leaf(Target::NatsServer, &format!("nats://127.0.0.1:{port}"), "", "");
    exercise(&h, &l).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn natrix_leaf_on_nats_server_hub() {
    if common::skip_without_nats_server() {
        return;
    }
    let port = free_port();
    let h = hub(Target::NatsServer, port, "", "");
    let l = leaf(Target::Natrix, &format!("nats://127.0.0.1:{port}"), "", "");
    exercise(&h, &l).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn natrix_leaf_on_natrix_hub() {
    let port = free_port();
    let h = hub(Target::Natrix, port, "", "");
    let l = leaf(Target::Natrix, &format!("nats://127.0.0.1:{port}"), "", "");
    exercise(&h, &l).await;
}

/// Leaf users bind the link to an account: the leaf reaches that account's clients
/// only; a wrong password gets no link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_user_password_binds_the_account() {
    if common::skip_without_nats_server() {
        return;
    }
    let port = free_port();
    let accounts = "accounts {\n A: { users: [ {user: ua, password: pa} ] }\n B: { users: [ {user: ub, password: pb} ] }\n}\n";
    let h = hub(Target::Natrix, port, "authorization { users: [ {user: leafa, password: s3cret, account: A} ] }", accounts);
    let l = leaf(Target::NatsServer, &format!("nats://leafa:s3cret@127.0.0.1:{port}"), "", "");
    let ha = common::client_with(&h, async_nats::ConnectOptions::with_user_and_password("ua".into(), "pa".into())).await;
    let hb = common::client_with(&h, async_nats::ConnectOptions::with_user_and_password("ub".into(), "pb".into())).await;
    let lc = common::client(&l).await;
    let mut sa = ha.subscribe("acc.x").await.expect("sub");
    let mut sb = hb.subscribe("acc.x").await.expect("sub");
    ha.flush().await.expect("flush");
    hb.flush().await.expect("flush");
    wait_interest(&lc, &mut sa, "acc.x").await;
    assert!(timeout(Duration::from_millis(300), sb.next()).await.is_err(), "account B never sees the leaf");
    // And back: the leaf hears account A, not B.
    let mut ls = lc.subscribe("back.x").await.expect("sub");
    lc.flush().await.expect("flush");
    wait_interest(&ha, &mut ls, "back.x").await;
    hb.publish("back.x", "from B".into()).await.expect("publish");
    hb.flush().await.expect("flush");
    assert!(timeout(Duration::from_millis(300), ls.next()).await.is_err(), "B's message stays in B");

    // A wrong password: refused with nats-server's text, no link.
    let port2 = free_port();
    let h2 = hub(Target::Natrix, port2, "authorization { user: leafa, password: right }", "");
    let l2 = leaf(Target::NatsServer, &format!("nats://leafa:wrong@127.0.0.1:{port2}"), "", "");
    let deadline = Instant::now() + WAIT;
    while !l2.log().contains("Authorization Violation") {
        assert!(Instant::now() < deadline, "leaf never told of the refusal:\n{}", l2.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let c2 = common::client(&h2).await;
    let mut s2 = c2.subscribe("nolink").await.expect("sub");
    c2.flush().await.expect("flush");
    let lc2 = common::client(&l2).await;
    lc2.publish("nolink", "x".into()).await.expect("publish");
    lc2.flush().await.expect("flush");
    assert!(timeout(Duration::from_millis(500), s2.next()).await.is_err(), "no link, no message");
}

/// Without leaf users the client users apply, with their permissions: the leaf may
/// publish only what its hub user may publish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_user_permissions_limit_the_leaf() {
    if common::skip_without_nats_server() {
        return;
    }
    let port = free_port();
    let auth = "authorization { users: [\n {user: admin, password: a}\n {user: edge, password: e, permissions: { publish: [\"ok.>\"], subscribe: [\">\"] } }\n] }\n";
    let h = hub(Target::Natrix, port, "", auth);
    let l = leaf(Target::NatsServer, &format!("nats://edge:e@127.0.0.1:{port}"), "", "");
    let hc = common::client_with(&h, async_nats::ConnectOptions::with_user_and_password("admin".into(), "a".into())).await;
    let lc = common::client(&l).await;
    let mut ok = hc.subscribe("ok.x").await.expect("sub");
    let mut no = hc.subscribe("no.x").await.expect("sub");
    hc.flush().await.expect("flush");
    wait_interest(&lc, &mut ok, "ok.x").await;
    for _ in 0..5 {
        lc.publish("no.x", "denied".into()).await.expect("publish");
    }
    lc.publish("ok.x", "fine".into()).await.expect("publish");
    lc.flush().await.expect("flush");
    let m = timeout(WAIT, ok.next()).await.expect("time").expect("msg");
    assert_eq!(&m.payload[..], b"fine");
    assert!(timeout(Duration::from_millis(500), no.next()).await.is_err(), "the leaf may not publish no.x");
}

/// deny_imports / deny_exports on a natrix leaf of a nats-server hub.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_imports_and_exports() {
    if common::skip_without_nats_server() {
        return;
    }
    let port = free_port();
    let h = hub(Target::NatsServer, port, "", "");
    let l = leaf(
        Target::Natrix,
        &format!("nats://127.0.0.1:{port}"),
        "deny_imports: [\"in.secret\"]\n deny_exports: [\"out.secret\"]",
        "",
    );
    let hc = common::client(&h).await;
    let lc = common::client(&l).await;
    // Exports: out.secret never reaches the hub, out.open does.
    let mut open = hc.subscribe("out.open").await.expect("sub");
    let mut secret = hc.subscribe("out.secret").await.expect("sub");
    hc.flush().await.expect("flush");
    wait_interest(&lc, &mut open, "out.open").await;
    lc.publish("out.secret", "x".into()).await.expect("publish");
    lc.flush().await.expect("flush");
    assert!(timeout(Duration::from_millis(500), secret.next()).await.is_err(), "deny_exports honoured");
    // Imports: in.secret is never taken from the hub.
    let mut iopen = lc.subscribe("in.open").await.expect("sub");
    let mut isecret = lc.subscribe("in.secret").await.expect("sub");
    lc.flush().await.expect("flush");
    wait_interest(&hc, &mut iopen, "in.open").await;
    hc.publish("in.secret", "x".into()).await.expect("publish");
    hc.flush().await.expect("flush");
    assert!(timeout(Duration::from_millis(500), isecret.next()).await.is_err(), "deny_imports honoured");
}

/// The hub goes away and comes back on the same port: the leaf keeps serving its own
/// clients meanwhile, redials, and its interest is sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaf_redials_a_restarted_hub() {
    if common::skip_without_nats_server() {
        return;
    }
    let port = free_port();
    let h = hub(Target::NatsServer, port, "", "");
    let l = leaf(Target::Natrix, &format!("nats://127.0.0.1:{port}"), "", "");
    let lc = common::client(&l).await;
    let mut s = lc.subscribe("again.x").await.expect("sub");
    lc.flush().await.expect("flush");
    {
        let hc = common::client(&h).await;
        wait_interest(&hc, &mut s, "again.x").await;
    }
    drop(h);
    // Local traffic on the leaf while the hub is away.
    let mut local = lc.subscribe("local.x").await.expect("sub");
    lc.publish("local.x", "here".into()).await.expect("publish");
    lc.flush().await.expect("flush");
    let m = timeout(WAIT, local.next()).await.expect("time").expect("msg");
    assert_eq!(&m.payload[..], b"here");
    let h = hub(Target::NatsServer, port, "", "");
    let hc = common::client(&h).await;
    wait_interest(&hc, &mut s, "again.x").await;
}

/// Two servers each with a remote to the other: the `$LDS.` subject comes back and
/// the link is refused with nats-server's loop error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loop_is_detected() {
    if common::skip_without_nats_server() {
        return;
    }
    let (pa, pb) = (free_port(), free_port());
    let a = TestServer::start_on(
        Target::Natrix,
        Some(&format!("leafnodes {{\n listen: 127.0.0.1:{pa}\n remotes: [ {{ url: \"nats://127.0.0.1:{pb}\" }} ]\n}}\n")),
        &[],
    );
    let b = TestServer::start_on(
        Target::NatsServer,
        Some(&format!("leafnodes {{\n listen: 127.0.0.1:{pb}\n remotes: [ {{ url: \"nats://127.0.0.1:{pa}\" }} ]\n}}\n")),
        &[],
    );
    let deadline = Instant::now() + WAIT;
    let want = "Loop detected for leafnode account=\"$G\". Delaying attempt to reconnect for 30s";
    // natrix reports it (it found its own `$LDS.` subject, or was told by the peer).
    while !a.log().contains(want) {
        assert!(Instant::now() < deadline, "no loop reported:\nnatrix:\n{}\nnats-server:\n{}", a.log(), b.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A client on the leaf port is refused as nats-server refuses it.
#[test]
fn client_on_leaf_port_is_refused() {
    use std::io::{BufRead, BufReader, Write};
    let port = free_port();
    let h = hub(Target::Natrix, port, "", "");
    let s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(3))).expect("timeout");
    let mut r = BufReader::new(s.try_clone().expect("clone"));
    let mut info = String::new();
    r.read_line(&mut info).expect("info");
    assert!(info.starts_with("INFO {") && info.contains("\"leafnode_urls\"") && info.contains("\"info_on_connect\":true"), "{info}");
    (&s).write_all(b"CONNECT {\"verbose\":false,\"lang\":\"go\"}\r\n").expect("send");
    let mut err = String::new();
    r.read_line(&mut err).expect("err");
    assert_eq!(err, "-ERR 'attempted to connect to leaf node port'\r\n");
    drop(h);
}
