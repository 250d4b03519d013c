//! The real Rust client (async-nats) against the server under test.
mod common;

use async_nats::{ConnectOptions, HeaderMap};
use common::TestServer;
use futures::StreamExt;
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

async fn client(s: &TestServer) -> async_nats::Client {
    async_nats::connect(s.addr()).await.expect("connect")
}

/// A round trip through the server: everything this client sent before has been
/// processed when it returns. (async-nats' `flush()` only flushes the socket, which does
/// not order this client's SUBs before another connection's PUBs.) A request to a subject
/// nobody serves comes back as a no-responders status once the server has handled it.
async fn server_sync(c: &async_nats::Client) {
    let answer = timeout(WAIT, c.request("natrix.test.sync", "".into())).await;
    assert!(answer.is_ok(), "no answer to the sync request within {WAIT:?}");
}

/// Receives exactly `n` messages (bounded in time).
#[track_caller]
fn take(sub: &mut async_nats::Subscriber, n: usize) -> impl std::future::Future<Output = Vec<async_nats::Message>> + '_ {
    let caller = std::panic::Location::caller();
    take_at(sub, n, caller)
}

async fn take_at(
    sub: &mut async_nats::Subscriber,
    n: usize,
    caller: &'static std::panic::Location<'static>,
) -> Vec<async_nats::Message> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        match timeout(WAIT, sub.next()).await {
            Ok(Some(m)) => out.push(m),
            Ok(None) => panic!("{caller}: subscription ended after {} of {n}", out.len()),
            Err(_) => panic!("{caller}: timed out after {} of {n} messages", out.len()),
        }
    }
    out
}

/// Asserts nothing more arrives within a short time.
async fn assert_quiet(sub: &mut async_nats::Subscriber) {
    if let Ok(Some(m)) = timeout(Duration::from_millis(200), sub.next()).await {
        panic!("unexpected message on {}: {:?}", m.subject, m.payload);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pub_sub_and_wildcards() {
    let s = TestServer::start();
    let c = client(&s).await;
    let mut exact = c.subscribe("a.b.c").await.expect("sub");
    let mut star = c.subscribe("a.*.c").await.expect("sub");
    let mut tail = c.subscribe("a.>").await.expect("sub");
    server_sync(&c).await;
    for subj in ["a.b.c", "a.x.c", "a.b.c.d", "b.b.c"] {
        c.publish(subj, subj.into()).await.expect("pub");
    }
    server_sync(&c).await;
    let got = |v: Vec<async_nats::Message>| v.into_iter().map(|m| m.subject.to_string()).collect::<Vec<_>>();
    assert_eq!(got(take(&mut exact, 1).await), ["a.b.c"]);
    assert_eq!(got(take(&mut star, 2).await), ["a.b.c", "a.x.c"]);
    assert_eq!(got(take(&mut tail, 3).await), ["a.b.c", "a.x.c", "a.b.c.d"]);
    assert_quiet(&mut exact).await;
    assert_quiet(&mut star).await;
    assert_quiet(&mut tail).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_groups_exactly_once_per_group() {
    let s = TestServer::start();
    let publisher = client(&s).await;
    let mut members = Vec::new();
    for group in ["g1", "g2"] {
        for _ in 0..3 {
            // Separate connections, so members land on different workers.
            let c = client(&s).await;
            let sub = c.queue_subscribe("work", group.into()).await.expect("qsub");
            server_sync(&c).await;
            members.push((group, c, sub));
        }
    }
    let plain_c = client(&s).await;
    let mut plain = plain_c.subscribe("work").await.expect("sub");
    server_sync(&plain_c).await;

    let n = 5000usize;
    for i in 0..n {
        publisher.publish("work", i.to_string().into()).await.expect("pub");
    }
    server_sync(&publisher).await;
    assert_eq!(take(&mut plain, n).await.len(), n);

    // Each group gets every message exactly once, spread over its members.
    let mut per_group: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut per_member = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut total = 0;
    let mut counts = vec![0usize; members.len()];
    while total < 2 * n && tokio::time::Instant::now() < deadline {
        for (i, (group, _, sub)) in members.iter_mut().enumerate() {
            while let Ok(Some(m)) = timeout(Duration::from_millis(5), sub.next()).await {
                let v: usize = std::str::from_utf8(&m.payload).expect("utf8").parse().expect("number");
                per_group.entry(group).or_default().push(v);
                counts[i] += 1;
                total += 1;
            }
        }
    }
    for group in ["g1", "g2"] {
        let mut got = per_group.remove(group).unwrap_or_default();
        got.sort_unstable();
        assert_eq!(got, (0..n).collect::<Vec<_>>(), "group {group} got each message exactly once");
    }
    per_member.extend(counts);
    assert!(per_member.iter().all(|&c| c > n / 10), "load spread over members: {per_member:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_reply_and_no_responders() {
    let s = TestServer::start();
    let service = client(&s).await;
    let mut requests = service.subscribe("svc.echo").await.expect("sub");
    server_sync(&service).await;
    let responder = tokio::spawn(async move {
        for _ in 0..20 {
            let Some(m) = requests.next().await else { return };
            if let Some(reply) = m.reply {
                let mut body = b"echo:".to_vec();
                body.extend_from_slice(&m.payload);
                service.publish(reply, body.into()).await.expect("reply");
                // The last reply must be on the wire before this task drops the client.
                server_sync(&service).await;
            }
        }
    });
    let c = client(&s).await;
    for i in 0..20 {
        let r = timeout(WAIT, c.request("svc.echo", format!("{i}").into())).await.expect("time").expect("request");
        assert_eq!(&r.payload[..], format!("echo:{i}").as_bytes());
    }
    responder.await.expect("responder");

    let err = c.request("nobody.home", "x".into()).await.expect_err("no responders");
    assert_eq!(err.kind(), async_nats::RequestErrorKind::NoResponders);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_round_trip() {
    let s = TestServer::start();
    let c = client(&s).await;
    let mut sub = c.subscribe("h").await.expect("sub");
    server_sync(&c).await;
    let mut headers = HeaderMap::new();
    headers.insert("X-Trace", "abc123");
    headers.append("X-Multi", "1");
    headers.append("X-Multi", "2");
    c.publish_with_headers("h", headers, "body".into()).await.expect("pub");
    server_sync(&c).await;
    let m = take(&mut sub, 1).await.remove(0);
    let h = m.headers.expect("headers");
    assert_eq!(h.get("X-Trace").map(|v| v.as_str()), Some("abc123"));
    let multi: Vec<&str> = h.get_all("X-Multi").map(|v| v.as_str()).collect();
    assert_eq!(multi, ["1", "2"]);
    assert_eq!(&m.payload[..], b"body");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsubscribe_after_n() {
    let s = TestServer::start();
    let c = client(&s).await;
    let mut sub = c.subscribe("limited").await.expect("sub");
    sub.unsubscribe_after(3).await.expect("unsub after");
    server_sync(&c).await;
    let p = client(&s).await;
    for i in 0..10 {
        p.publish("limited", format!("{i}").into()).await.expect("pub");
    }
    server_sync(&p).await;
    let got = take(&mut sub, 3).await;
    assert_eq!(got.iter().map(|m| m.payload.to_vec()).collect::<Vec<_>>(), [b"0".to_vec(), b"1".to_vec(), b"2".to_vec()]);
    match timeout(Duration::from_millis(300), sub.next()).await {
        Ok(None) | Err(_) => {}
        Ok(Some(m)) => panic!("got a message past the limit: {:?}", m.payload),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_off_skips_own_messages() {
    let s = TestServer::start();
    let quiet = ConnectOptions::new().no_echo().connect(s.addr()).await.expect("connect");
    let mut own = quiet.subscribe("e").await.expect("sub");
    server_sync(&quiet).await;
    let other = client(&s).await;
    let mut theirs = other.subscribe("e").await.expect("sub");
    server_sync(&other).await;
    quiet.publish("e", "from-quiet".into()).await.expect("pub");
    server_sync(&quiet).await;
    assert_eq!(&take(&mut theirs, 1).await[0].payload[..], b"from-quiet");
    assert_quiet(&mut own).await;
    other.publish("e", "from-other".into()).await.expect("pub");
    server_sync(&other).await;
    assert_eq!(&take(&mut own, 1).await[0].payload[..], b"from-other");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_subscriptions_on_one_connection() {
    let s = TestServer::start();
    let c = client(&s).await;
    let n = 10_000;
    let mut subs = Vec::with_capacity(n);
    for i in 0..n {
        subs.push(c.subscribe(format!("many.{i}")).await.expect("sub"));
    }
    server_sync(&c).await;
    let p = client(&s).await;
    for i in 0..n {
        p.publish(format!("many.{i}"), format!("{i}").into()).await.expect("pub");
    }
    server_sync(&p).await;
    for (i, sub) in subs.iter_mut().enumerate() {
        let m = take(sub, 1).await.remove(0);
        assert_eq!(m.payload, format!("{i}").as_bytes());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_from_one_publisher_is_kept() {
    let s = TestServer::start();
    let c = client(&s).await;
    let mut sub = c.subscribe("ordered").await.expect("sub");
    server_sync(&c).await;
    let p = client(&s).await;
    let n = 20_000u32;
    for i in 0..n {
        p.publish("ordered", i.to_be_bytes().to_vec().into()).await.expect("pub");
    }
    server_sync(&p).await;
    let got = take(&mut sub, n as usize).await;
    for (i, m) in got.iter().enumerate() {
        assert_eq!(&m.payload[..], &(i as u32).to_be_bytes(), "message {i} out of order");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payload_limits() {
    let s = TestServer::start_with_config("max_payload: 64KB\n");
    let c = client(&s).await;
    assert_eq!(c.server_info().max_payload, 65536);
    let mut sub = c.subscribe("big").await.expect("sub");
    server_sync(&c).await;
    let body = vec![7u8; 65536];
    c.publish("big", body.clone().into()).await.expect("pub");
    server_sync(&c).await;
    assert_eq!(take(&mut sub, 1).await[0].payload.len(), body.len());
    // One byte over the limit is refused by the client before it is sent.
    assert!(c.publish("big", vec![0u8; 65537].into()).await.is_err());
}
