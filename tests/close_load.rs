//! A connection with a huge number of subscriptions on one subject closes while
//! bystanders keep talking to the server: their round trips stay far below 250 ms.
//! Raw sockets, loopback, a few seconds per case. `measure_close_natrix_vs_nats_server`
//! (ignored) prints the same figures for natrix and nats-server side by side.
mod common;

use common::load::{monitor_port, wait_varz, Bystander, RoundTrips};
use common::raw::RawClient;
use common::{Target, TestServer};
use std::time::{Duration, Instant};

const BYSTANDER_BOUND: Duration = Duration::from_millis(250);

#[derive(Clone, Copy, Debug)]
enum Heavy {
    /// `n` plain subscriptions on `foo`.
    Plain(usize),
    /// `n` subscriptions on `foo`, each in its own queue group.
    Groups(usize),
}

impl Heavy {
    fn frames(self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Heavy::Plain(n) => (0..n).for_each(|i| out.extend_from_slice(format!("SUB foo {i}\r\n").as_bytes())),
            Heavy::Groups(n) => (0..n).for_each(|i| out.extend_from_slice(format!("SUB foo g{i} {i}\r\n").as_bytes())),
        }
        out
    }

    fn count(self) -> u64 {
        match self {
            Heavy::Plain(n) | Heavy::Groups(n) => n as u64,
        }
    }
}

struct Figures {
    subscribed: Duration,
    /// From the close until /varz shows the subscriptions gone (None: not within 30 s).
    gone: Option<Duration>,
    /// PING/PONG from before the close until after the subscriptions are gone.
    pinger: Result<RoundTrips, String>,
    /// `PUB foo` + PING/PONG, from just after the close on (matches the dying subject).
    publisher: Result<RoundTrips, String>,
}

/// Subscribes `heavy` on one connection, closes it, and measures two bystanders.
fn close_heavy(s: &TestServer, heavy: Heavy) -> Figures {
    let mon = monitor_port(s);
    // (nats-server counts its own system subscriptions too.)
    let base = wait_varz(mon, "subscriptions", Duration::ZERO, |_| true).unwrap_or_else(|v| v);
    let mut conn = RawClient::quiet(s.port);
    let begun = Instant::now();
    conn.send(&heavy.frames());
    conn.send(b"PING\r\n");
    assert!(conn.read_until(b"PONG\r\n", Duration::from_secs(60)).is_some(), "subscribing took over 60 s");
    let subscribed = begun.elapsed();
    assert_eq!(wait_varz(mon, "subscriptions", Duration::from_secs(5), |v| v >= base + heavy.count()), Ok(base + heavy.count()));

    let pinger = Bystander::start(s.port, b"", b"PING\r\n", Duration::from_millis(1));
    std::thread::sleep(Duration::from_millis(200));
    let closed_at = Instant::now();
    drop(conn);
    let publisher = Bystander::start(s.port, b"", b"PUB foo 0\r\n\r\nPING\r\n", Duration::from_millis(1));
    let gone = wait_varz(mon, "subscriptions", Duration::from_secs(30), |v| v == base);
    let gone_after = closed_at.elapsed();
    std::thread::sleep(Duration::from_millis(200));
    let (pinger, publisher) = (pinger.finish(), publisher.finish());
    Figures { subscribed, gone: gone.ok().map(|_| gone_after), pinger, publisher }
}

fn check(heavy: Heavy) {
    // One worker: the bystanders share it with the closing connection (the worst case).
    let s = TestServer::start_on(Target::Natrix, Some("workers: 1\n"), &["-m", "-1"]);
    let f = close_heavy(&s, heavy);
    let gone = f.gone.expect("subscriptions still there 30 s after the close");
    let pinger = f.pinger.expect("pinging bystander");
    let publisher = f.publisher.expect("publishing bystander");
    println!(
        "{heavy:?}: subscribed in {:?}, gone {gone:?} after the close; PING: {}; PUB foo: {}",
        f.subscribed,
        pinger.summary(),
        publisher.summary()
    );
    assert!(pinger.count > 10 && publisher.count > 0, "too few round trips");
    assert!(pinger.worst < BYSTANDER_BOUND, "PING bystander: {}", pinger.summary());
    assert!(publisher.worst < BYSTANDER_BOUND, "PUB bystander: {}", publisher.summary());
}

#[test]
fn closing_200k_subscriptions_on_one_subject_keeps_bystanders_fast() {
    check(Heavy::Plain(200_000));
}

#[test]
fn closing_100k_queue_groups_on_one_subject_keeps_bystanders_fast() {
    check(Heavy::Groups(100_000));
}

/// Prints the bystanders' figures for natrix (one worker and the default) and
/// nats-server, alternating, in one run:
/// `cargo test --release --test close_load -- --ignored --nocapture`.
#[test]
#[ignore]
fn measure_close_natrix_vs_nats_server() {
    if common::skip_without_nats_server() {
        return;
    }
    let servers: [(&str, Target, Option<&str>); 3] = [
        ("natrix workers=1", Target::Natrix, Some("workers: 1\n")),
        ("natrix default", Target::Natrix, None),
        ("nats-server 2.9.10", Target::NatsServer, None),
    ];
    println!("| case | server | round | subscribe | gone after close | PING worst | PING p99 | PUB foo worst | PUB foo p99 |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    let ms = common::load::ms;
    for heavy in [Heavy::Plain(200_000), Heavy::Groups(100_000)] {
        for round in 1..=3 {
            for (name, t, conf) in servers {
                let s = TestServer::start_on(t, conf, &["-m", "-1"]);
                let f = close_heavy(&s, heavy);
                let gone = f.gone.map_or("over 30 s".to_string(), |g| format!("{:.0} ms", ms(g)));
                let show = |r: &Result<RoundTrips, String>| match r {
                    Ok(r) => format!("{:.2} ms | {:.2} ms", ms(r.worst), ms(r.percentile(0.99))),
                    Err(e) => format!("failed: {e} | -"),
                };
                println!(
                    "| {heavy:?} | {name} | {round} | {:.0} ms | {gone} | {} | {} |",
                    ms(f.subscribed),
                    show(&f.pinger),
                    show(&f.publisher),
                );
            }
        }
    }
}

/// The bystanders' figures on an idle server, to tell the machine's noise from the close.
#[test]
#[ignore]
fn measure_idle_bystander() {
    let s = TestServer::start_on(Target::Natrix, Some("workers: 1\n"), &["-m", "-1"]);
    let pinger = Bystander::start(s.port, b"", b"PING\r\n", Duration::from_millis(1));
    std::thread::sleep(Duration::from_secs(3));
    println!("idle natrix: PING: {}", pinger.finish().expect("bystander").summary());
}
