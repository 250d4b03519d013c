//! The load scenarios. Each returns an `Outcome`; every loop is bounded by a count
//! and a deadline.
use crate::client::{connect, ping_pong, pub_frames, MsgCounter};
use crate::latency::Latencies;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

/// Messages sent so far by the running scenario (read by the progress printer).
pub static PROGRESS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub(crate) fn count_sent(n: u64) {
    PROGRESS.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
}

/// Longest any scenario waits for stragglers after its main phase.
const DRAIN_LIMIT: Duration = Duration::from_secs(30);

#[derive(Default)]
pub struct Outcome {
    pub scenario: String,
    /// Messages that count for the rate (delivered ones where there are subscribers).
    pub msgs: u64,
    pub secs: f64,
    pub notes: Vec<(String, String)>,
    pub latency: Option<Latencies>,
}

impl Outcome {
    pub fn rate(&self) -> f64 {
        if self.secs > 0.0 {
            self.msgs as f64 / self.secs
        } else {
            0.0
        }
    }
    pub(crate) fn note(&mut self, k: &str, v: impl ToString) {
        self.notes.push((k.to_string(), v.to_string()));
    }
}

fn payload(size: usize) -> Vec<u8> {
    vec![b'x'; size]
}

/// Publishers writing `frames_per_write` frames per write for `secs`.
pub fn publish_only(addr: &str, size: usize, secs: f64, pubs: usize, frames_per_write: usize) -> io::Result<Outcome> {
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let handles: Vec<_> = (0..pubs)
        .map(|_| {
            let addr = addr.to_string();
            thread::spawn(move || -> io::Result<u64> {
                let mut s = connect(&addr, false)?;
                let chunk = pub_frames("bench.pub", &payload(size), frames_per_write);
                let mut sent = 0u64;
                while Instant::now() < deadline {
                    for _ in 0..64 {
                        s.write_all(&chunk)?;
                        sent += frames_per_write as u64;
                    }
                    count_sent(64 * frames_per_write as u64);
                }
                ping_pong(&mut s, DRAIN_LIMIT)?;
                Ok(sent)
            })
        })
        .collect();
    let mut total = 0;
    for h in handles {
        total += h.join().map_err(|_| io::Error::other("publisher panicked"))??;
    }
    let name = if frames_per_write * (size + 20) >= 32 * 1024 { "ingest" } else { "pub" };
    let mut o = Outcome { scenario: format!("{name} {size}B x{pubs}"), msgs: total, secs: start.elapsed().as_secs_f64(), ..Default::default() };
    o.note("frames_per_write", frames_per_write);
    Ok(o)
}

/// One publisher, `subs` subscribers on one subject (1 = pub→sub), `msgs` messages.
pub fn fanout(addr: &str, size: usize, msgs: u64, subs: usize) -> io::Result<Outcome> {
    let mut readers = Vec::new();
    for i in 0..subs {
        let mut s = connect(addr, false)?;
        s.write_all(format!("SUB bench.fan {i}\r\n").as_bytes())?;
        ping_pong(&mut s, DRAIN_LIMIT)?;
        readers.push(s);
    }
    // Each subscriber's progress, so the publisher can keep a bounded window in flight:
    // this measures sustained throughput, not how much a server buffers (natrix cuts a
    // subscriber off at max_pending rather than stall the publisher as nats-server does).
    let progress: std::sync::Arc<Vec<std::sync::atomic::AtomicU64>> =
        std::sync::Arc::new((0..subs).map(|_| std::sync::atomic::AtomicU64::new(0)).collect());
    let start = Instant::now();
    let counters: Vec<_> = readers
        .into_iter()
        .enumerate()
        .map(|(i, mut s)| {
            let progress = progress.clone();
            thread::spawn(move || -> io::Result<u64> {
                let mut c = MsgCounter::default();
                let mut buf = vec![0u8; 256 * 1024];
                let deadline = Instant::now() + DRAIN_LIMIT;
                s.set_read_timeout(Some(Duration::from_secs(1)))?;
                while c.total < msgs && Instant::now() < deadline {
                    match s.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            c.feed(&buf[..n]);
                            progress[i].store(c.total, std::sync::atomic::Ordering::Release);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(c.total)
            })
        })
        .collect();
    let mut p = connect(addr, false)?;
    let per_write = (64 * 1024 / (size + 24)).max(1);
    let chunk = pub_frames("bench.fan", &payload(size), per_write);
    let window = (16 * 1024 * 1024 / (size as u64 + 40)).max(per_write as u64);
    let mut sent = 0u64;
    let wait_limit = Instant::now() + DRAIN_LIMIT;
    while sent < msgs {
        let slowest = || progress.iter().map(|p| p.load(std::sync::atomic::Ordering::Acquire)).min().unwrap_or(0);
        while sent.saturating_sub(slowest()) > window && Instant::now() < wait_limit {
            thread::yield_now();
        }
        let n = per_write.min((msgs - sent) as usize);
        p.write_all(&chunk[..n * (chunk.len() / per_write)])?;
        sent += n as u64;
        count_sent(n as u64);
    }
    let mut delivered = 0;
    for c in counters {
        delivered += c.join().map_err(|_| io::Error::other("subscriber panicked"))??;
    }
    let secs = start.elapsed().as_secs_f64();
    let mut o = Outcome { scenario: format!("fanout 1->{subs} {size}B"), msgs: delivered, secs, ..Default::default() };
    if subs == 1 {
        o.scenario = format!("pubsub 1->1 {size}B");
    }
    o.note("expected", msgs * subs as u64);
    if delivered != msgs * subs as u64 {
        o.note("LOST", msgs * subs as u64 - delivered);
    }
    Ok(o)
}

/// `members` queue subscribers in one group; checks every message arrives exactly once.
pub fn queue(addr: &str, size: usize, msgs: u64, members: usize) -> io::Result<Outcome> {
    let size = size.max(8);
    let mut readers = Vec::new();
    for i in 0..members {
        let mut s = connect(addr, false)?;
        s.write_all(format!("SUB bench.q workers {i}\r\n").as_bytes())?;
        ping_pong(&mut s, DRAIN_LIMIT)?;
        readers.push(s);
    }
    let done = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let start = Instant::now();
    let handles: Vec<_> = readers
        .into_iter()
        .map(|mut s| {
            let done = done.clone();
            thread::spawn(move || -> io::Result<Vec<u64>> {
                let mut c = MsgCounter::with_seqs();
                let mut buf = vec![0u8; 256 * 1024];
                let deadline = Instant::now() + DRAIN_LIMIT;
                s.set_read_timeout(Some(Duration::from_millis(200)))?;
                while done.load(std::sync::atomic::Ordering::Acquire) < msgs && Instant::now() < deadline {
                    match s.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            let f = c.feed(&buf[..n]);
                            done.fetch_add(f.msgs, std::sync::atomic::Ordering::AcqRel);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(c.seqs)
            })
        })
        .collect();
    let mut p = connect(addr, false)?;
    let mut out = Vec::with_capacity(64 * 1024 + size + 32);
    let header = format!("PUB bench.q {size}\r\n");
    for seq in 0..msgs {
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(&seq.to_be_bytes());
        out.resize(out.len() + size - 8, b'x');
        out.extend_from_slice(b"\r\n");
        if out.len() >= 64 * 1024 {
            p.write_all(&out)?;
            out.clear();
        }
    }
    p.write_all(&out)?;
    let mut seen = vec![0u8; msgs as usize];
    let mut per_member = Vec::new();
    for h in handles {
        let seqs = h.join().map_err(|_| io::Error::other("member panicked"))??;
        per_member.push(seqs.len());
        for s in seqs {
            if let Some(slot) = seen.get_mut(s as usize) {
                *slot = slot.saturating_add(1);
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let once = seen.iter().filter(|&&n| n == 1).count();
    let dup = seen.iter().filter(|&&n| n > 1).count();
    let lost = seen.iter().filter(|&&n| n == 0).count();
    let mut o = Outcome { scenario: format!("queue {members} members {size}B"), msgs: per_member.iter().sum::<usize>() as u64, secs, ..Default::default() };
    o.note("exactly_once", format!("{}", dup == 0 && lost == 0 && once == msgs as usize));
    o.note("duplicates", dup);
    o.note("lost", lost);
    o.note("per_member", format!("{per_member:?}"));
    Ok(o)
}

/// Reads one MSG (control line + payload) from a buffered stream; returns the reply subject.
fn read_msg(r: &mut BufReader<TcpStream>, line: &mut String, body: &mut Vec<u8>) -> io::Result<Option<String>> {
    loop {
        line.clear();
        if r.read_line(line)? == 0 {
            return Err(io::Error::other("server closed"));
        }
        let l = line.trim_end();
        if l.starts_with("MSG ") {
            let parts: Vec<&str> = l.split(' ').collect();
            let size: usize = parts.last().and_then(|s| s.parse().ok()).ok_or_else(|| io::Error::other("bad MSG"))?;
            let reply = if parts.len() == 5 { Some(parts[3].to_string()) } else { None };
            body.resize(size + 2, 0);
            r.read_exact(body)?;
            return Ok(reply);
        }
        // PING from the server: answer it.
        if l == "PING" {
            r.get_mut().write_all(b"PONG\r\n")?;
        }
    }
}

/// Request/reply through one responder, with `concurrency` requesters, for `secs`.
pub fn reqrep(addr: &str, size: usize, secs: f64, concurrency: usize) -> io::Result<Outcome> {
    let mut resp = connect(addr, false)?;
    resp.write_all(b"SUB bench.req 1\r\n")?;
    ping_pong(&mut resp, DRAIN_LIMIT)?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_r = stop.clone();
    // Blocking reads without a timeout: a timeout in the middle of a message would lose the
    // part already read (and then a reply). The main thread shuts the socket down to stop it.
    let resp_ctl = resp.try_clone()?;
    let responder = thread::spawn(move || -> io::Result<()> {
        let mut w = resp.try_clone()?;
        let mut r = BufReader::with_capacity(256 * 1024, resp);
        let (mut line, mut body, mut out) = (String::new(), Vec::new(), Vec::new());
        while !stop_r.load(std::sync::atomic::Ordering::Acquire) {
            match read_msg(&mut r, &mut line, &mut body) {
                Ok(Some(reply)) => {
                    out.extend_from_slice(format!("PUB {reply} {}\r\n", body.len() - 2).as_bytes());
                    out.extend_from_slice(&body);
                    if r.buffer().is_empty() {
                        w.write_all(&out)?;
                        out.clear();
                    }
                }
                Ok(None) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    });
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let requesters: Vec<_> = (0..concurrency)
        .map(|i| {
            let addr = addr.to_string();
            thread::spawn(move || -> io::Result<Latencies> {
                let mut s = connect(&addr, false)?;
                s.write_all(format!("SUB bench.inbox.{i} 1\r\n").as_bytes())?;
                ping_pong(&mut s, DRAIN_LIMIT)?;
                s.set_read_timeout(Some(Duration::from_secs(5)))?;
                let request = pub_frames_with_reply("bench.req", &format!("bench.inbox.{i}"), &payload(size));
                let mut r = BufReader::new(s.try_clone()?);
                let (mut line, mut body) = (String::new(), Vec::new());
                let mut lat = Latencies::default();
                while Instant::now() < deadline {
                    let t0 = Instant::now();
                    s.write_all(&request)?;
                    read_msg(&mut r, &mut line, &mut body)?;
                    lat.record(t0.elapsed());
                    count_sent(1);
                }
                Ok(lat)
            })
        })
        .collect();
    let mut all = Latencies::default();
    for h in requesters {
        all.merge(h.join().map_err(|_| io::Error::other("requester panicked"))??);
    }
    let secs = start.elapsed().as_secs_f64();
    stop.store(true, std::sync::atomic::Ordering::Release);
    let _ = resp_ctl.shutdown(std::net::Shutdown::Both);
    let _ = responder.join();
    let mut o = Outcome { scenario: format!("reqrep c={concurrency} {size}B"), msgs: all.ns.len() as u64, secs, ..Default::default() };
    for p in [50.0, 90.0, 99.0, 99.9] {
        o.note(&format!("p{p}_us"), format!("{:.1}", all.percentile_us(p)));
    }
    o.latency = Some(all);
    Ok(o)
}

fn pub_frames_with_reply(subject: &str, reply: &str, payload: &[u8]) -> Vec<u8> {
    let mut f = format!("PUB {subject} {reply} {}\r\n", payload.len()).into_bytes();
    f.extend_from_slice(payload);
    f.extend_from_slice(b"\r\n");
    f
}

/// `nsubs` subscriptions (99% literal `w.<a>.<b>`, 1% wildcard `w.<a>.*`), one
/// publisher to random literal subjects for `secs`. Rate = published msgs/s.
pub fn wide(addr: &str, size: usize, secs: f64, nsubs: usize) -> io::Result<Outcome> {
    let mut sub = connect(addr, false)?;
    let mut lines = Vec::with_capacity(nsubs * 24);
    let wild = (nsubs / 100).max(1);
    for i in 0..nsubs {
        if i < wild {
            lines.extend_from_slice(format!("SUB w.{i}.* {i}\r\n").as_bytes());
        } else {
            lines.extend_from_slice(format!("SUB w.{}.{} {i}\r\n", i / 100, i % 100).as_bytes());
        }
    }
    sub.write_all(&lines)?;
    ping_pong(&mut sub, DRAIN_LIMIT)?;
    // A reader that just drains deliveries.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_r = stop.clone();
    let reader = thread::spawn(move || -> u64 {
        let mut c = MsgCounter::default();
        let mut buf = vec![0u8; 256 * 1024];
        let _ = sub.set_read_timeout(Some(Duration::from_millis(200)));
        while !stop_r.load(std::sync::atomic::Ordering::Acquire) {
            match sub.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    c.feed(&buf[..n]);
                }
                Err(_) => {}
            }
        }
        c.total
    });
    // Random subjects from the literal range, pre-built.
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut frames = Vec::new();
    let body = payload(size);
    for _ in 0..20_000 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let i = wild + (rng % (nsubs - wild).max(1) as u64) as usize;
        frames.extend_from_slice(&pub_frames(&format!("w.{}.{}", i / 100, i % 100), &body, 1));
    }
    let mut p = connect(addr, false)?;
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let mut sent = 0u64;
    while Instant::now() < deadline {
        p.write_all(&frames)?;
        sent += 20_000;
        count_sent(20_000);
    }
    ping_pong(&mut p, DRAIN_LIMIT)?;
    let secs = start.elapsed().as_secs_f64();
    thread::sleep(Duration::from_millis(300));
    stop.store(true, std::sync::atomic::Ordering::Release);
    let delivered = reader.join().unwrap_or(0);
    let mut o = Outcome { scenario: format!("wide {nsubs} subs {size}B"), msgs: sent, secs, ..Default::default() };
    o.note("delivered", delivered);
    Ok(o)
}

/// Opens `k` idle connections; with a server pid, reports RSS growth per connection.
pub fn conns(addr: &str, k: usize, pid: Option<u32>) -> io::Result<Outcome> {
    let before = pid.and_then(natrix::monitor::procinfo::rss_bytes_of);
    let start = Instant::now();
    let mut open = Vec::with_capacity(k);
    for _ in 0..k {
        open.push(connect(addr, false)?);
    }
    for s in open.iter_mut() {
        ping_pong(s, DRAIN_LIMIT)?;
    }
    thread::sleep(Duration::from_millis(500));
    let after = pid.and_then(natrix::monitor::procinfo::rss_bytes_of);
    let mut o = Outcome { scenario: format!("conns {k} idle"), msgs: k as u64, secs: start.elapsed().as_secs_f64(), ..Default::default() };
    if let (Some(b), Some(a)) = (before, after) {
        o.note("rss_per_conn_bytes", (a.saturating_sub(b)) / k as u64);
    }
    Ok(o)
}

/// Creates `n` subscriptions on one connection; reports RSS growth per subscription.
pub fn subs(addr: &str, n: usize, pid: Option<u32>) -> io::Result<Outcome> {
    let mut s = connect(addr, false)?;
    ping_pong(&mut s, DRAIN_LIMIT)?;
    let before = pid.and_then(natrix::monitor::procinfo::rss_bytes_of);
    let start = Instant::now();
    let mut batch = Vec::with_capacity(1 << 20);
    for i in 0..n {
        batch.extend_from_slice(format!("SUB s.{}.{} {i}\r\n", i / 1000, i % 1000).as_bytes());
        if batch.len() >= 1 << 20 {
            s.write_all(&batch)?;
            batch.clear();
        }
    }
    s.write_all(&batch)?;
    ping_pong(&mut s, Duration::from_secs(120))?;
    let secs = start.elapsed().as_secs_f64();
    thread::sleep(Duration::from_millis(500));
    let after = pid.and_then(natrix::monitor::procinfo::rss_bytes_of);
    let mut o = Outcome { scenario: format!("subs {n}"), msgs: n as u64, secs, ..Default::default() };
    if let (Some(b), Some(a)) = (before, after) {
        o.note("rss_per_sub_bytes", (a.saturating_sub(b)) / n as u64);
    }
    Ok(o)
}

/// This machine's ceiling: a loopback socket that only reads and discards the same
/// 16-byte PUB stream the ingest scenario writes.
pub fn ceiling(secs: f64) -> io::Result<Outcome> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let addr = l.local_addr()?;
    let reader = thread::spawn(move || -> io::Result<u64> {
        let (mut s, _) = l.accept()?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            let n = s.read(&mut buf)?;
            if n == 0 {
                return Ok(total);
            }
            total += n as u64;
        }
    });
    let mut w = TcpStream::connect(addr)?;
    let frame_len = pub_frames("bench.pub", &payload(16), 1).len();
    let chunk = pub_frames("bench.pub", &payload(16), 64 * 1024 / frame_len);
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    while Instant::now() < deadline {
        for _ in 0..64 {
            w.write_all(&chunk)?;
        }
    }
    w.shutdown(std::net::Shutdown::Write)?;
    let bytes = reader.join().map_err(|_| io::Error::other("reader panicked"))??;
    let secs = start.elapsed().as_secs_f64();
    let mut o = Outcome { scenario: "ceiling (loopback read+discard, 16B PUB frames)".into(), msgs: bytes / frame_len as u64, secs, ..Default::default() };
    o.note("MB_per_s", format!("{:.0}", bytes as f64 / secs / 1e6));
    Ok(o)
}

/// Connections per second: `c` threads each open a connection, CONNECT (with `--creds`
/// or `--user`, if given), PING/PONG, close — for `secs`.
pub fn connrate(addr: &str, secs: f64, c: usize) -> io::Result<Outcome> {
    let c = c.max(1);
    let stop = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    let handles: Vec<_> = (0..c)
        .map(|_| {
            let addr = addr.to_string();
            thread::spawn(move || -> io::Result<u64> {
                let mut n = 0u64;
                while Instant::now() < stop {
                    let mut s = connect(&addr, false)?;
                    ping_pong(&mut s, DRAIN_LIMIT)?;
                    n += 1;
                }
                Ok(n)
            })
        })
        .collect();
    let mut total = 0;
    for h in handles {
        total += h.join().map_err(|_| io::Error::other("connrate thread panicked"))??;
    }
    Ok(Outcome { scenario: format!("connrate c={c}"), msgs: total, secs: start.elapsed().as_secs_f64(), ..Default::default() })
}
