//! The routing hot path does not allocate per message: with a counting global
//! allocator, an in-process server routes N more messages (to subscribers on the
//! same and on other workers, and RMSG in and out over a route) with far fewer than
//! N allocations.
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::io::{BufRead, BufReader};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: delegates every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The allocation count is process-wide: the tests measure one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const SUBSCRIBERS: usize = 4;
const PAYLOAD: usize = 16;

fn frame_len(sid: usize) -> usize {
    // "MSG bench.x <sid> 16\r\n" + payload + "\r\n"
    format!("MSG bench.x {sid} {PAYLOAD}\r\n").len() + PAYLOAD + 2
}

/// Reads exactly `n` bytes (bounded in time) into a reused buffer.
fn drain(s: &mut TcpStream, mut n: usize, buf: &mut [u8]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while n > 0 {
        assert!(Instant::now() < deadline, "timed out with {n} bytes outstanding");
        let want = n.min(buf.len());
        let got = s.read(&mut buf[..want]).expect("read");
        assert!(got > 0, "server closed");
        n -= got;
    }
}

#[test]
fn steady_state_routing_does_not_allocate_per_message() {
    let opts = natrix::config::Options { host: "127.0.0.1".into(), port: -1, workers: 2, ..Default::default() };
    run(opts, "{\"verbose\":false}", frame_len);
}

/// `message_trust { stamp: true }`: each message is stamped from the connection's
/// prebuilt line into a reused buffer (and copied for other workers) without allocating.
#[test]
fn steady_state_stamping_does_not_allocate_per_message() {
    let opts = natrix::config::Options {
        host: "127.0.0.1".into(),
        port: -1,
        workers: 2,
        message_trust: Some(natrix::trust::TrustConfig { stamp: Some(natrix::trust::StampFields::ALL) }),
        ..Default::default()
    };
    run(opts, "{\"verbose\":false,\"headers\":true}", |sid| {
        let hdr = "NATS/1.0\r\nNatrix-Sender: {\"acc\":\"$G\"}\r\n\r\n";
        format!("HMSG bench.x {sid} {} {}\r\n", hdr.len(), hdr.len() + PAYLOAD).len() + hdr.len() + PAYLOAD + 2
    });
}

fn run(opts: natrix::config::Options, sub_connect: &str, frame_len: fn(usize) -> usize) {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = natrix::server::start(opts).expect("start");
    let port = server.addr.port();

    let mut subs = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    for i in 0..SUBSCRIBERS {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        s.write_all(format!("CONNECT {sub_connect}\r\nSUB bench.> {i}\r\nPING\r\n").as_bytes()).expect("sub");
        // INFO ... PONG
        let mut got = Vec::new();
        while !got.ends_with(b"PONG\r\n") {
            let n = s.read(&mut buf).expect("read");
            assert!(n > 0);
            got.extend_from_slice(&buf[..n]);
        }
        subs.push(s);
    }
    let mut publ = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    publ.write_all(b"CONNECT {\"verbose\":false}\r\n").expect("connect");

    let one = format!("PUB bench.x {PAYLOAD}\r\n{}\r\n", "x".repeat(PAYLOAD));
    let batch_msgs = 2000;
    let batch = one.repeat(batch_msgs).into_bytes();
    let per_sub: Vec<usize> = (0..SUBSCRIBERS).map(|i| frame_len(i) * batch_msgs).collect();

    let round = |publ: &mut TcpStream, subs: &mut [TcpStream], buf: &mut [u8]| {
        publ.write_all(&batch).expect("publish");
        for (i, s) in subs.iter_mut().enumerate() {
            drain(s, per_sub[i], buf);
        }
    };
    // Warm up: buffers grow, match cache fills.
    for _ in 0..20 {
        round(&mut publ, &mut subs, &mut buf);
    }
    let rounds = 50;
    let before = ALLOCS.load(Ordering::Relaxed);
    for _ in 0..rounds {
        round(&mut publ, &mut subs, &mut buf);
    }
    let allocs = ALLOCS.load(Ordering::Relaxed) - before;
    let delivered = (rounds * batch_msgs * SUBSCRIBERS) as u64;
    eprintln!("{allocs} allocations for {delivered} deliveries");
    // Per read cycle there can be a few (a frozen read chunk shared with another
    // worker forces a fresh read buffer); per message there must be none.
    assert!(allocs * 20 < delivered, "{allocs} allocations for {delivered} deliveries");
    server.shutdown();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Reads CRLF lines from a route until one starts with `want` (bounded in count and by
/// the socket timeout); answers the server's PINGs.
fn route_until(w: &mut TcpStream, r: &mut BufReader<TcpStream>, want: &str) {
    for _ in 0..1000 {
        let mut l = String::new();
        let n = r.read_line(&mut l).unwrap_or_else(|e| panic!("route read waiting for {want}: {e}"));
        assert!(n > 0, "route closed while waiting for {want}");
        if l.starts_with("PING") {
            w.write_all(b"PONG\r\n").expect("pong");
        }
        if l.starts_with(want) {
            return;
        }
    }
    panic!("no {want} on the route");
}

/// RMSG out (a local PUB the peer has interest in) and RMSG in (delivered to local
/// subscribers on both workers), steady state, through a raw-socket peer route.
#[test]
fn steady_state_routed_messages_do_not_allocate_per_message() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let cluster_port = free_port();
    let opts = natrix::config::Options {
        host: "127.0.0.1".into(),
        port: -1,
        workers: 2,
        // No server PING on the route during the measurement (the first one comes
        // about a second after connect and is answered in the setup).
        ping_interval: Duration::from_secs(600),
        cluster: Some(natrix::config::cluster::ClusterOptions {
            name: Some("A1".into()),
            host: "127.0.0.1".into(),
            port: i32::from(cluster_port),
            ..Default::default()
        }),
        ..Default::default()
    };
    let server = natrix::server::start(opts).expect("start");
    let port = server.addr.port();

    let mut buf = vec![0u8; 64 * 1024];
    let mut subs = Vec::new();
    for i in 0..SUBSCRIBERS {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        s.write_all(format!("CONNECT {{\"verbose\":false}}\r\nSUB in.> {i}\r\nPING\r\n").as_bytes()).expect("sub");
        let mut got = Vec::new();
        while !got.ends_with(b"PONG\r\n") {
            let n = s.read(&mut buf).expect("read");
            assert!(n > 0);
            got.extend_from_slice(&buf[..n]);
        }
        subs.push(s);
    }

    // The peer: handshake, answer the first route PING, then interest in `out.>`.
    let mut peer = TcpStream::connect(("127.0.0.1", cluster_port)).expect("route connect");
    peer.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut peer_r = BufReader::new(peer.try_clone().expect("clone"));
    route_until(&mut peer, &mut peer_r, "INFO ");
    peer.write_all(
        b"CONNECT {\"name\":\"NPEER\",\"cluster\":\"A1\",\"headers\":true}\r\n\
          INFO {\"server_id\":\"NPEER\",\"server_name\":\"p\",\"cluster\":\"A1\",\"headers\":true} \r\n",
    )
    .expect("handshake");
    // Past the server's first route PING (about a second after connect): it is
    // answered below, before the measured byte counts start.
    std::thread::sleep(Duration::from_millis(1600));
    peer.write_all(b"RS+ $G out.>\r\nPING\r\n").expect("interest");
    route_until(&mut peer, &mut peer_r, "PONG");
    assert!(peer_r.buffer().is_empty(), "unexpected route bytes after PONG");

    let mut publ = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    publ.write_all(b"CONNECT {\"verbose\":false}\r\n").expect("connect");

    let payload = "x".repeat(PAYLOAD);
    let batch_msgs = 2000;
    let pubs = format!("PUB out.x {PAYLOAD}\r\n{payload}\r\n").repeat(batch_msgs).into_bytes();
    let rmsgs = format!("RMSG $G in.x {PAYLOAD}\r\n{payload}\r\n").repeat(batch_msgs).into_bytes();
    let rmsg_out = format!("RMSG $G out.x {PAYLOAD}\r\n").len() + PAYLOAD + 2;
    // "MSG in.x <sid> 16\r\n": as long as "MSG bench.x <sid> 16" minus 3.
    let per_sub: Vec<usize> = (0..SUBSCRIBERS).map(|i| (frame_len(i) - 3) * batch_msgs).collect();

    let mut round = |buf: &mut [u8]| {
        publ.write_all(&pubs).expect("publish");
        peer.write_all(&rmsgs).expect("route publish");
        drain(peer_r.get_mut(), rmsg_out * batch_msgs, buf);
        for (i, s) in subs.iter_mut().enumerate() {
            drain(s, per_sub[i], buf);
        }
    };
    for _ in 0..20 {
        round(&mut buf);
    }
    let rounds = 50;
    let before = ALLOCS.load(Ordering::Relaxed);
    for _ in 0..rounds {
        round(&mut buf);
    }
    let allocs = ALLOCS.load(Ordering::Relaxed) - before;
    // Each routed message in is delivered to every subscriber; each PUB is one RMSG out.
    let delivered = (rounds * batch_msgs * (SUBSCRIBERS + 1)) as u64;
    eprintln!("{allocs} allocations for {delivered} routed deliveries");
    assert!(allocs * 20 < delivered, "{allocs} allocations for {delivered} routed deliveries");
    server.shutdown();
}
