//! Slow consumers under load (raw sockets, natrix only, a few seconds each): a client
//! that never reads is cut off whatever fills its output (deliveries or natrix's own
//! PONGs), a subscriber that reads at full speed survives a burst far larger than a
//! small `max_pending`, and a bystander's round trip stays far below 250 ms throughout.
mod common;

use common::load::{monitor_port, wait_varz, Bystander};
use common::raw::RawClient;
use common::{Target, TestServer};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Far from what the failure looks like (a stalled worker: seconds), far above normal (< 5 ms).
const BYSTANDER_BOUND: Duration = Duration::from_millis(250);

fn start(conf: &str) -> (TestServer, u16) {
    let s = TestServer::start_on(Target::Natrix, Some(conf), &["-m", "-1"]);
    let mon = monitor_port(&s);
    (s, mon)
}

/// A quiet client whose socket receive buffer is tiny, so the server's output to it
/// piles up in the server rather than in the kernel.
fn non_reader(port: u16, setup: &[u8]) -> RawClient {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    sock.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    sock.connect_timeout(&addr.into(), Duration::from_secs(5)).expect("connect");
    let mut c = RawClient::from_stream(sock.into());
    let info = c.read_line(Duration::from_secs(5)).expect("INFO");
    assert!(info.starts_with(b"INFO "));
    c.send(br#"CONNECT {"verbose":false,"pedantic":false}"#);
    c.send(b"\r\n");
    c.send(setup);
    c.sync();
    c
}

/// Reads everything `c` receives on its own thread until `want` bytes came (Ok) or the
/// connection closed or 60 s passed (Err with the count).
fn fast_reader(c: &RawClient, want: usize) -> JoinHandle<Result<usize, String>> {
    let mut sock: TcpStream = c.stream().try_clone().expect("clone");
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut buf = vec![0u8; 1 << 20];
        let mut got = 0usize;
        sock.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
        while got < want {
            if Instant::now() >= deadline {
                return Err(format!("only {got} of {want} bytes within 60 s"));
            }
            match sock.read(&mut buf) {
                Ok(0) => return Err(format!("closed after {got} of {want} bytes")),
                Ok(n) => got += n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
                Err(e) => return Err(format!("{e} after {got} of {want} bytes")),
            }
        }
        Ok(got)
    })
}

/// `n` frames `PUB s 100` with a 100-byte payload; each arrives as a 115-byte `MSG s 1 100`.
fn burst(n: usize) -> (Vec<u8>, usize) {
    let mut frame = b"PUB s 100\r\n".to_vec();
    frame.extend_from_slice(&[b'x'; 100]);
    frame.extend_from_slice(b"\r\n");
    (frame.repeat(n), n * 115)
}

#[test]
fn ping_flooding_non_reader_is_cut_off() {
    // write_deadline far away: only the pending-bytes limit can cut the flooder off.
    let (s, mon) = start("max_pending: 262144\nmax_payload: 1024\nwrite_deadline: \"60s\"\nworkers: 1\n");
    let by = Bystander::start(s.port, b"", b"PING\r\n", Duration::from_millis(2));
    let flooder = non_reader(s.port, b"");
    let mut sock = flooder.stream().try_clone().expect("clone");
    sock.set_write_timeout(Some(Duration::from_millis(200))).expect("timeout");
    let chunk = b"PING\r\n".repeat(10_000);
    let (mut off, mut sent) = (0usize, 0usize);
    let begun = Instant::now();
    let mut cut = None;
    // Bounded in time and bytes (without the limit the server queues every PONG).
    while begun.elapsed() < Duration::from_secs(15) && sent < 200 << 20 {
        match sock.write(&chunk[off..]) {
            Ok(n) => {
                sent += n;
                off = (off + n) % chunk.len();
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
            Err(_) => {
                cut = Some(begun.elapsed());
                break;
            }
        }
    }
    // A quick cut leaves the bystander few samples: it measures for at least 300 ms.
    std::thread::sleep(Duration::from_millis(300).saturating_sub(begun.elapsed()));
    let rt = by.finish().expect("bystander");
    let cut = cut.unwrap_or_else(|| panic!("flooder not cut off after {sent} bytes of PINGs in {:?}", begun.elapsed()));
    println!("flooder cut off after {sent} bytes of PINGs in {cut:?}; bystander: {}", rt.summary());
    assert_eq!(wait_varz(mon, "slow_consumers", Duration::from_secs(5), |v| v >= 1), Ok(1));
    assert!(rt.worst < BYSTANDER_BOUND, "bystander: {}", rt.summary());
    assert!(rt.count > 10, "bystander: {}", rt.summary());
}

#[test]
fn fast_reader_with_small_max_pending_survives_a_burst() {
    let (s, mon) = start("max_pending: 65536\nmax_payload: 1024\n");
    let by = Bystander::start(s.port, b"", b"PING\r\n", Duration::from_millis(2));
    let mut sub = RawClient::quiet(s.port);
    sub.send(b"SUB s 1\r\n");
    sub.sync();
    // 32k messages, 3.7 MB in one write: 56 times max_pending.
    let (frames, want) = burst(32 * 1024);
    let reader = fast_reader(&sub, want);
    let mut publ = RawClient::quiet(s.port);
    publ.send(&frames);
    publ.sync();
    let got = reader.join().expect("reader thread");
    let rt = by.finish().expect("bystander");
    println!("reader: {got:?}; bystander: {}", rt.summary());
    assert_eq!(got, Ok(want));
    assert_eq!(wait_varz(mon, "slow_consumers", Duration::ZERO, |v| v == 0), Ok(0));
    assert!(rt.worst < BYSTANDER_BOUND, "bystander: {}", rt.summary());
}

#[test]
fn non_reader_is_cut_off_without_slowing_the_publisher() {
    let (s, mon) = start("max_pending: 65536\nmax_payload: 1024\nwrite_deadline: \"60s\"\n");
    let by = Bystander::start(s.port, b"", b"PING\r\n", Duration::from_millis(2));
    let mut slow = non_reader(s.port, b"SUB s 1\r\n");
    let mut fast = RawClient::quiet(s.port);
    fast.send(b"SUB s 1\r\n");
    fast.sync();
    // 8.6 MB: more than the non-reader's kernel buffers and max_pending plus the burst cap.
    let (frames, want) = burst(76 * 1024);
    let reader = fast_reader(&fast, want);
    let mut publ = RawClient::quiet(s.port);
    let begun = Instant::now();
    publ.send(&frames);
    publ.sync();
    let published = begun.elapsed();
    let got = reader.join().expect("reader thread");
    assert_eq!(wait_varz(mon, "slow_consumers", Duration::from_secs(5), |v| v >= 1), Ok(1));
    let (_, closed) = slow.read_until_closed(Duration::from_secs(10));
    let rt = by.finish().expect("bystander");
    println!("published in {published:?}; fast reader: {got:?}; bystander: {}", rt.summary());
    assert!(closed, "the non-reader was not closed");
    // nats-server's wording and level (client.go `queueOutbound`).
    let log = s.log();
    assert!(
        log.lines().any(|l| l.contains("[INF] ") && l.contains(" - cid:") && l.ends_with("- Slow Consumer Detected: MaxPending of 65536 Exceeded")),
        "no slow consumer line at INF:\n{log}"
    );
    assert_eq!(got, Ok(want), "the fast reader lost messages");
    // Generous: a publisher stalled on the non-reader would wait for the grace or the
    // 60 s write deadline; unstalled it takes well under a second.
    assert!(published < Duration::from_secs(20), "publisher took {published:?}");
    assert!(rt.worst < BYSTANDER_BOUND, "bystander: {}", rt.summary());
}

/// A raw route peer on `cluster` that has interest in `s`; returns once natrix answered
/// its PING (the interest is registered).
fn route_peer(cluster: u16, tiny_rcvbuf: bool) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    if tiny_rcvbuf {
        sock.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    }
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], cluster).into();
    sock.connect_timeout(&addr.into(), Duration::from_secs(5)).expect("connect route");
    let mut s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    s.write_all(b"CONNECT {\"name\":\"RPEER\",\"cluster\":\"C1\",\"headers\":true}\r\nINFO {\"server_id\":\"RPEER\",\"server_name\":\"rp\",\"cluster\":\"C1\",\"headers\":true}\r\nRS+ $G s\r\nPING\r\n")
        .expect("send");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !seen.windows(6).any(|w| w == b"PONG\r\n") {
        assert!(Instant::now() < deadline, "no PONG on the route: {}", String::from_utf8_lossy(&seen));
        match s.read(&mut buf) {
            Ok(0) => panic!("route closed: {}", String::from_utf8_lossy(&seen)),
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    s
}

/// A route gets the clients' grace: a peer reading at full speed takes a burst far
/// larger than `max_pending` (it used to be cut at the first append past it).
#[test]
fn fast_route_with_small_max_pending_survives_a_burst() {
    let cluster = common::free_port();
    let (s, mon) = start(&format!("max_pending: 65536\nmax_payload: 1024\ncluster {{ listen: \"127.0.0.1:{cluster}\", name: C1 }}\n"));
    let peer = route_peer(cluster, false);
    // Each `PUB s 100` reaches the route as a 117-byte `RMSG $G s 100`.
    let n = 16 * 1024;
    let (frames, _) = burst(n);
    let peer = RawClient::from_stream(peer);
    let reader = fast_reader(&peer, n * 117);
    let mut publ = RawClient::quiet(s.port);
    publ.send(&frames);
    publ.sync();
    let got = reader.join().expect("reader thread");
    assert_eq!(got, Ok(n * 117), "the route was cut off:\n{}", s.log());
    assert_eq!(wait_varz(mon, "slow_consumers", Duration::ZERO, |v| v == 0), Ok(0));
}

/// A route that does not read is cut off after the grace, with nats-server's INF line
/// (`rid:` prefix).
#[test]
fn non_reading_route_is_cut_off_with_the_slow_consumer_line() {
    let cluster = common::free_port();
    let (s, mon) = start(&format!(
        "max_pending: 65536\nmax_payload: 1024\nwrite_deadline: \"60s\"\ncluster {{ listen: \"127.0.0.1:{cluster}\", name: C1 }}\n"
    ));
    let mut peer = RawClient::from_stream(route_peer(cluster, true));
    let (frames, _) = burst(76 * 1024);
    let mut publ = RawClient::quiet(s.port);
    publ.send(&frames);
    publ.sync();
    assert_eq!(wait_varz(mon, "slow_consumers", Duration::from_secs(5), |v| v >= 1), Ok(1));
    let (_, closed) = peer.read_until_closed(Duration::from_secs(20));
    assert!(closed, "the non-reading route was not closed");
    let log = s.log();
    assert!(
        log.lines().any(|l| l.contains("[INF] ") && l.contains(" - rid:") && l.ends_with("- Slow Consumer Detected: MaxPending of 65536 Exceeded")),
        "no route slow consumer line at INF:\n{log}"
    );
}
