//! bcrypt never runs on an event loop: clients hammering wrong bcrypt passwords, and a
//! reload with many bcrypt users connected, leave a bystander's round trip untouched;
//! bytes pipelined after a bcrypt CONNECT are processed in order with the final identity.
mod common;

use common::diff::{compare_all, Script};
use common::raw::{show, RawClient};
use common::{skip_without_nats_server, target, Target, TestServer};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A bystander's PING→PONG round trip must stay far below a bcrypt stall (~1 s).
const RTT_BOUND: Duration = Duration::from_millis(250);

/// A client with a plain password measuring its round trip until stopped.
struct Bystander {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<(Duration, usize)>,
}

impl Bystander {
    fn start(port: u16) -> Bystander {
        let mut c = RawClient::connect_with(port, r#"{"verbose":false,"pedantic":false,"user":"fast","pass":"plain"}"#);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let (mut worst, mut samples) = (Duration::ZERO, 0);
            // Bounded by count as well as by the stop flag (60 s at most).
            while !flag.load(Ordering::Acquire) && samples < 3000 {
                let t = Instant::now();
                c.send(b"PING\r\n");
                let got = c.read_until(b"PONG\r\n", Duration::from_secs(5));
                assert!(got.is_some(), "the bystander got no PONG within 5 s");
                worst = worst.max(t.elapsed());
                samples += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            (worst, samples)
        });
        Bystander { stop, handle }
    }

    /// Stops and returns the worst round trip seen and the number of samples.
    fn finish(self) -> (Duration, usize) {
        self.stop.store(true, Ordering::Release);
        self.handle.join().expect("bystander thread")
    }
}

fn read_until_closed(s: &mut TcpStream, limit: Duration) -> Vec<u8> {
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while Instant::now() < deadline {
        let _ = s.set_read_timeout(Some(deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1))));
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    got
}

#[test]
fn wrong_bcrypt_passwords_in_a_loop_do_not_stall_other_clients() {
    let hash = bcrypt::hash("right", 11).expect("hash");
    let conf = format!(
        "authorization {{ users: [ {{user: slow, password: \"{hash}\"}}, {{user: fast, password: plain}} ] }}\n"
    );
    let s = TestServer::start_with_config(&conf);
    let port = s.port;
    let bystander = Bystander::start(port);
    let deadline = Instant::now() + Duration::from_secs(3);
    let refused = Arc::new(AtomicUsize::new(0));
    let attackers: Vec<_> = (0..6)
        .map(|_| {
            let refused = refused.clone();
            std::thread::spawn(move || {
                for _ in 0..1000 {
                    if Instant::now() >= deadline {
                        break;
                    }
                    let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
                    let _ = c.write_all(b"CONNECT {\"verbose\":false,\"user\":\"slow\",\"pass\":\"wrong\"}\r\nPING\r\n");
                    let got = read_until_closed(&mut c, Duration::from_secs(60));
                    let text = String::from_utf8_lossy(&got);
                    assert!(text.contains("-ERR 'Authorization Violation'"), "attacker got {}", show(&got));
                    assert!(!text.contains("PONG"), "a wrong password was let in: {}", show(&got));
                    refused.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for a in attackers {
        a.join().expect("attacker");
    }
    let (worst, samples) = bystander.finish();
    assert!(refused.load(Ordering::Relaxed) >= 6, "every attacker was refused at least once");
    assert!(samples >= 20, "the bystander measured only {samples} round trips");
    assert!(worst < RTT_BOUND, "bystander round trip reached {worst:?} while wrong bcrypt passwords were checked");
    // The right password still works, after the flood (a cost-11 check at low priority
    // may take seconds on a busy machine).
    let mut c = RawClient::connect(port);
    c.send(b"CONNECT {\"verbose\":false,\"user\":\"slow\",\"pass\":\"right\"}\r\nPING\r\n");
    let got = c.read_until(b"PONG\r\n", Duration::from_secs(60));
    assert!(got.is_some_and(|g| g == b"PONG\r\n"), "the right password after the flood");
}

/// 40 users `u0`…`u39` with bcrypt passwords `pw0`…`pw39`, and `fast` with a plain one.
/// The short auth timeout is far below the time the 40 checks take together: a client
/// waiting for its check (it sent CONNECT in time) must not be timed out.
fn users_conf(hashes: &[String], extra: &str) -> String {
    let mut s = String::from("authorization { timeout: 0.5, users: [\n  {user: fast, password: plain}\n");
    for (i, h) in hashes.iter().enumerate() {
        s.push_str(&format!("  {{user: u{i}, password: \"{h}\"}}\n"));
    }
    s.push_str("] }\n");
    s.push_str(extra);
    s
}

/// Hashes `pw0`…`pw{n-1}` at `cost`, spread over a few threads.
fn hashes(n: usize, cost: u32, first_password: impl Fn(usize) -> String + Sync) -> Vec<String> {
    let mut out = vec![String::new(); n];
    std::thread::scope(|scope| {
        for (k, chunk) in out.chunks_mut(n.div_ceil(4)).enumerate() {
            let pw = &first_password;
            scope.spawn(move || {
                let base = k * n.div_ceil(4);
                for (j, slot) in chunk.iter_mut().enumerate() {
                    *slot = bcrypt::hash(pw(base + j), cost).expect("hash");
                }
            });
        }
    });
    out
}

fn wait_reloads(s: &TestServer, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.log().matches("Reloaded server configuration").count() < n {
        assert!(Instant::now() < deadline, "reload {n} not applied; log:\n{}", s.log());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn reload_with_40_bcrypt_users_connected_does_not_freeze_the_server() {
    const USERS: usize = 40;
    let first = hashes(USERS, 9, |i| format!("pw{i}"));
    let s = TestServer::start_with_config(&users_conf(&first, ""));
    // Connect all 40 at once (CONNECT + PING each), then collect the PONGs.
    let mut clients: Vec<RawClient> = (0..USERS)
        .map(|i| {
            let mut c = RawClient::connect(s.port);
            c.send(format!("CONNECT {{\"verbose\":false,\"user\":\"u{i}\",\"pass\":\"pw{i}\"}}\r\nPING\r\n").as_bytes());
            c
        })
        .collect();
    for (i, c) in clients.iter_mut().enumerate() {
        let got = c.read_until(b"PONG\r\n", Duration::from_secs(60));
        assert!(got.is_some_and(|g| g == b"PONG\r\n"), "u{i} did not connect");
    }
    let bystander = Bystander::start(s.port);
    std::thread::sleep(Duration::from_millis(200));

    // 1. Nothing about the users changed: no connection needs hashing again.
    std::fs::write(s.dir().join("server.conf"), users_conf(&first, "ping_interval: \"3m\"\n")).expect("rewrite");
    s.reload();
    wait_reloads(&s, 1);
    std::thread::sleep(Duration::from_millis(300));

    // 2. Every hash is new (same passwords, new salts), and u0's password changed: all
    // 40 are checked again, off the event loops; u0 is refused, the others stay.
    let mut second = hashes(USERS, 6, |i| format!("pw{i}"));
    second[0] = bcrypt::hash("changed", 6).expect("hash");
    std::fs::write(s.dir().join("server.conf"), users_conf(&second, "")).expect("rewrite");
    s.reload();
    wait_reloads(&s, 2);
    let (got, closed) = clients[0].read_until_closed(Duration::from_secs(60));
    assert!(closed, "u0's password changed: it is closed");
    assert!(String::from_utf8_lossy(&got).contains("-ERR 'Authorization Violation'"), "{}", show(&got));
    for (i, c) in clients.iter_mut().enumerate().skip(1) {
        c.send(b"PING\r\n");
        let got = c.read_until(b"PONG\r\n", Duration::from_secs(60));
        assert!(got.is_some_and(|g| g == b"PONG\r\n"), "u{i} still connected after the reload");
    }
    let (worst, samples) = bystander.finish();
    assert!(samples >= 20, "the bystander measured only {samples} round trips");
    assert!(worst < RTT_BOUND, "bystander round trip reached {worst:?} during reloads with {USERS} bcrypt users");
}

fn pipelined_conf() -> String {
    let hash = bcrypt::hash("pw", 6).expect("hash");
    format!(
        "authorization {{ users: [ {{user: u, password: \"{hash}\", \
         permissions: {{publish: [\"ok.>\"], subscribe: \">\"}}}} ] }}\n"
    )
}

const PIPELINED: &str = "CONNECT {\"verbose\":false,\"pedantic\":false,\"user\":\"u\",\"pass\":\"pw\"}\r\n\
    SUB ok.x 1\r\nPUB ok.x 2\r\nhi\r\nPUB no.x 2\r\nno\r\nPING\r\n";

#[test]
fn bytes_pipelined_after_a_bcrypt_connect_run_in_order_with_its_identity() {
    let s = TestServer::start_with_config(&pipelined_conf());
    let mut c = RawClient::connect(s.port);
    c.send(PIPELINED.as_bytes());
    let got = c.read_until(b"PONG\r\n", Duration::from_secs(30)).unwrap_or_default();
    assert_eq!(
        String::from_utf8_lossy(&got),
        "MSG ok.x 1 2\r\nhi\r\n-ERR 'Permissions Violation for Publish to \"no.x\"'\r\nPONG\r\n"
    );
    // A wrong password pipelined the same way runs nothing after the CONNECT.
    let mut c = RawClient::connect(s.port);
    c.send(PIPELINED.replace("\"pw\"", "\"px\"").as_bytes());
    let (got, closed) = c.read_until_closed(Duration::from_secs(30));
    assert!(closed);
    assert_eq!(String::from_utf8_lossy(&got), "-ERR 'Authorization Violation'\r\n");
}

#[test]
fn bytes_pipelined_after_a_bcrypt_connect_match_nats_server() {
    if skip_without_nats_server() {
        return;
    }
    let conf = pipelined_conf();
    let scripts = [
        Script::new("bcrypt connect, pipelined").conf(&conf).send(0, PIPELINED),
        Script::new("bcrypt connect, pipelined, wrong password")
            .conf(&conf)
            .send(0, &PIPELINED.replace("\"pw\"", "\"px\""))
            .close(0),
    ];
    let diffs = compare_all(&scripts, target());
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

/// nats-server processes what a client sent before it closed (the check runs first):
/// a publisher that sends a bcrypt CONNECT and a PUB and closes at once still publishes.
#[test]
fn a_client_closing_while_its_check_runs_still_has_its_input_processed() {
    let hash = bcrypt::hash("pw", 6).expect("hash");
    let conf =
        format!("authorization {{ users: [ {{user: u, password: \"{hash}\"}}, {{user: fast, password: plain}} ] }}\n");
    let mut targets = vec![Target::Natrix];
    if !skip_without_nats_server() {
        targets.push(Target::NatsServer);
    }
    for t in targets {
        let s = TestServer::start_on(t, Some(&conf), &[]);
        let mut sub = RawClient::connect_with(s.port, r#"{"verbose":false,"user":"fast","pass":"plain"}"#);
        sub.send(b"SUB x 1\r\n");
        sub.sync();
        for i in 0..3 {
            let mut p = RawClient::connect(s.port);
            p.send(format!("CONNECT {{\"verbose\":false,\"user\":\"u\",\"pass\":\"pw\"}}\r\nPUB x 1\r\n{i}\r\n").as_bytes());
            drop(p);
            let want = format!("MSG x 1 1\r\n{i}\r\n");
            let got = sub.read_until(want.as_bytes(), Duration::from_secs(30));
            assert!(got.is_some_and(|g| g == want.as_bytes()), "{t:?}: publish {i} of a client that closed");
        }
        // A wrong password sent the same way (then EOF) publishes nothing; the
        // server's close tells when the check is done.
        let mut p = RawClient::connect(s.port);
        p.send(b"CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"px\"}\r\nPUB x 1\r\nz\r\n");
        p.shutdown_write();
        let (got, closed) = p.read_until_closed(Duration::from_secs(30));
        assert!(closed, "{t:?}: the refused client is closed");
        assert_eq!(show(&got), show(b"-ERR 'Authorization Violation'\r\n"), "{t:?}");
        sub.send(b"PING\r\n");
        let got = sub.read_until(b"PONG\r\n", Duration::from_secs(10)).unwrap_or_default();
        assert_eq!(show(&got), show(b"PONG\r\n"), "{t:?}: nothing from the refused client");
    }
}
