//! Deterministic multi-worker tests of the sans-IO core: two `Core`s in one thread,
//! connections fed bytes by hand, batches carried between them by the test.
use super::batch::Batch;
use super::conn::CloseReason;
use super::core::Core;
use crate::config::Options;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

struct Rig {
    cores: Vec<Core>,
    _polls: Vec<mio::Poll>,
}

impl Rig {
    fn new(opts: Options) -> Rig {
        let (shared, polls) = super::build_shared(opts, 2, 4222).expect("shared");
        let now = Instant::now();
        let cores = (0..2).map(|i| Core::new(i as u16, shared.clone(), now)).collect();
        Rig { cores, _polls: polls }
    }

    /// A connected client on worker `w`; its INFO is discarded.
    fn client(&mut self, w: usize, connect: &str) -> (usize, u32) {
        let addr: SocketAddr = "127.0.0.1:5000".parse().expect("addr");
        let slot = self.cores[w].accept(addr);
        self.take_out(w, slot);
        self.send(w, slot, format!("CONNECT {connect}\r\n").as_bytes());
        self.take_out(w, slot);
        (w, slot)
    }

    fn send(&mut self, w: usize, slot: u32, bytes: &[u8]) {
        let core = &mut self.cores[w];
        core.conn_mut(slot).expect("conn").rbuf.extend_from_slice(bytes);
        core.process_input(slot);
        self.carry();
    }

    /// Moves every outgoing batch to its destination core, as the workers' mailboxes do.
    fn carry(&mut self) {
        for w in 0..self.cores.len() {
            self.cores[w].send_batches();
        }
        for w in 0..self.cores.len() {
            let shared = self.cores[w].shared.clone();
            let mut batches: Vec<Batch> = Vec::new();
            shared.inboxes[w].drain_into(&mut batches);
            for b in batches {
                self.cores[w].receive_batch(&b);
            }
        }
    }

    fn take_out(&mut self, w: usize, slot: u32) -> String {
        let c = self.cores[w].conn_mut(slot).expect("conn");
        let s = String::from_utf8_lossy(c.out.unwritten()).into_owned();
        c.out.buf.clear();
        c.out.head = 0;
        s
    }

    fn out(&mut self, c: (usize, u32)) -> String {
        self.take_out(c.0, c.1)
    }
}

fn quiet() -> &'static str {
    r#"{"verbose":false,"pedantic":false,"headers":true,"no_responders":true}"#
}

#[test]
fn delivery_across_workers_uses_shared_chunks() {
    let mut rig = Rig::new(Options::default());
    let sub = rig.client(1, quiet());
    let publ = rig.client(0, quiet());
    rig.send(sub.0, sub.1, b"SUB foo.* 7\r\n");
    rig.send(publ.0, publ.1, b"PUB foo.bar r 5\r\nhello\r\nHPUB foo.baz 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    assert_eq!(
        rig.out(sub),
        "MSG foo.bar 7 r 5\r\nhello\r\nHMSG foo.baz 7 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"
    );
    assert_eq!(rig.out(publ), "");
}

#[test]
fn queue_group_exactly_once_across_workers() {
    let mut rig = Rig::new(Options::default());
    let members: Vec<_> = (0..4).map(|i| rig.client(i % 2, quiet())).collect();
    for (i, m) in members.iter().enumerate() {
        rig.send(m.0, m.1, format!("SUB work g {i}\r\n").as_bytes());
    }
    let publ = rig.client(0, quiet());
    let n = 400;
    let mut frames = Vec::new();
    for _ in 0..n {
        frames.extend_from_slice(b"PUB work 1\r\nx\r\n");
    }
    rig.send(publ.0, publ.1, &frames);
    let counts: Vec<usize> = members.iter().map(|&m| rig.out(m).matches("MSG work").count()).collect();
    assert_eq!(counts.iter().sum::<usize>(), n, "{counts:?}");
    assert!(counts.iter().all(|&c| c > 40), "spread over members: {counts:?}");
}

#[test]
fn auto_unsubscribe_counts_deliveries_from_any_worker() {
    let mut rig = Rig::new(Options::default());
    let sub = rig.client(1, quiet());
    rig.send(sub.0, sub.1, b"SUB a 1\r\nUNSUB 1 3\r\n");
    let p0 = rig.client(0, quiet());
    let p1 = rig.client(1, quiet());
    rig.send(p0.0, p0.1, b"PUB a 1\r\n1\r\nPUB a 1\r\n2\r\n");
    rig.send(p1.0, p1.1, b"PUB a 1\r\n3\r\nPUB a 1\r\n4\r\n");
    assert_eq!(rig.out(sub).matches("MSG a 1").count(), 3);
    assert!(rig.cores[1].conn(sub.1).expect("conn").subs.is_empty());
    assert_eq!(rig.cores[0].shared.accounts.global().sublist.count(), 0);
}

#[test]
fn no_responders_and_echo_off() {
    let mut rig = Rig::new(Options::default());
    let me = rig.client(0, r#"{"verbose":false,"headers":true,"no_responders":true,"echo":false}"#);
    rig.send(me.0, me.1, b"SUB _INBOX.> 9\r\nSUB svc 2\r\nPUB svc _INBOX.1 0\r\n\r\n");
    // Its own subscription on `svc` is skipped (echo off), so nobody got it: 503.
    assert_eq!(rig.out(me), "HMSG _INBOX.1 9 16 16\r\nNATS/1.0 503\r\n\r\n\r\n");
}

#[test]
fn slow_consumer_is_cut_off_publisher_unaffected() {
    let opts = Options { max_pending: 4096, max_payload: 1024, ..Options::default() };
    let mut rig = Rig::new(opts);
    let slow = rig.client(1, quiet());
    let fine = rig.client(0, quiet());
    rig.send(slow.0, slow.1, b"SUB s 1\r\n");
    rig.send(fine.0, fine.1, b"SUB s 1\r\n");
    let publ = rig.client(0, quiet());
    let payload = "y".repeat(512);
    let start = rig.cores[0].now;
    for i in 0..20 {
        rig.send(publ.0, publ.1, format!("PUB s {}\r\n{payload}\r\n", payload.len()).as_bytes());
        // `fine` reads everything; `slow` never does. Both were written to (judged).
        rig.out(fine);
        for core in rig.cores.iter_mut() {
            core.now = start + Duration::from_millis(100 * i);
        }
        rig.cores[0].judge_output(fine.1);
        rig.cores[1].judge_output(slow.1);
    }
    let slow_conn = rig.cores[1].conn(slow.1).expect("conn");
    assert_eq!(slow_conn.closing, Some(CloseReason::SlowConsumerPending));
    assert!(rig.cores[0].conn(publ.1).expect("conn").closing.is_none());
    assert_eq!(rig.cores[0].conn(fine.1).expect("conn").stats.out_msgs, 20);
}

#[test]
fn ping_timer_then_stale() {
    let opts = Options { ping_interval: Duration::from_secs(1), ping_max: 2, ..Options::default() };
    let mut rig = Rig::new(opts);
    let c = rig.client(0, quiet());
    let start = rig.cores[0].now;
    let mut pings = 0;
    for step in 1..=40 {
        rig.cores[0].now = start + Duration::from_millis(100 * step);
        rig.cores[0].tick();
        pings += rig.out(c).matches("PING").count();
        if rig.cores[0].conn(c.1).expect("conn").closing.is_some() {
            break;
        }
    }
    assert_eq!(pings, 2);
    assert_eq!(rig.cores[0].conn(c.1).expect("conn").closing, Some(CloseReason::StaleConnection));
}

#[test]
fn closing_a_connection_removes_its_subscriptions() {
    let mut rig = Rig::new(Options::default());
    let c = rig.client(1, quiet());
    rig.send(c.0, c.1, b"SUB a 1\r\nSUB b.> 2\r\nSUB c q 3\r\n");
    assert_eq!(rig.cores[1].shared.accounts.global().sublist.count(), 3);
    rig.cores[1].close(c.1, CloseReason::ClientClosed);
    rig.cores[1].remove(c.1);
    assert_eq!(rig.cores[1].shared.accounts.global().sublist.count(), 0);
}

#[test]
fn auto_unsubscribe_limit_reached_in_one_read_still_delivers_all() {
    // The publisher claims all three before the owner's worker sees any of them.
    let mut rig = Rig::new(Options::default());
    let sub = rig.client(1, quiet());
    rig.send(sub.0, sub.1, b"SUB a 1\r\nUNSUB 1 3\r\n");
    let p = rig.client(0, quiet());
    rig.send(p.0, p.1, &b"PUB a 1\r\nx\r\n".repeat(10));
    assert_eq!(rig.out(sub).matches("MSG a 1").count(), 3);
}

#[test]
fn messages_in_flight_after_unsub_are_dropped() {
    let mut rig = Rig::new(Options::default());
    let sub = rig.client(1, quiet());
    rig.send(sub.0, sub.1, b"SUB a 1\r\n");
    let p = rig.client(0, quiet());
    // Publish without carrying the batch yet, then unsubscribe, then carry.
    rig.cores[0].conn_mut(p.1).expect("conn").rbuf.extend_from_slice(b"PUB a 1\r\nx\r\n");
    rig.cores[0].process_input(p.1);
    rig.cores[1].conn_mut(sub.1).expect("conn").rbuf.extend_from_slice(b"UNSUB 1\r\n");
    rig.cores[1].process_input(sub.1);
    rig.carry();
    assert_eq!(rig.out(sub), "");
}

/// Queues `frames` to `c` in 64 KiB reads, never draining its output, until it is
/// closed (or 16 MiB went in). Returns the most output it ever had pending.
fn flood(rig: &mut Rig, c: (usize, u32), frames: &[u8]) -> usize {
    let mut chunk = Vec::new();
    while chunk.len() < 64 * 1024 {
        chunk.extend_from_slice(frames);
    }
    let mut most = 0;
    for _ in 0..(16 << 20) / chunk.len() {
        rig.send(c.0, c.1, &chunk);
        let conn = rig.cores[c.0].conn(c.1).expect("conn");
        most = most.max(conn.out.pending());
        if conn.closing.is_some() {
            break;
        }
    }
    most
}

#[test]
fn own_output_counts_against_max_pending() {
    // PONGs, +OKs and no-responders 503s for a client that never reads: each closes it as
    // a slow consumer by the cap, as deliveries do, instead of queueing without bound.
    let opts = Options { max_pending: 64 * 1024, max_payload: 1024, ..Options::default() };
    let cap = 64 * 1024 + super::output::BURST_ALLOWANCE;
    let cases: [(&str, &[u8]); 3] = [
        (quiet(), b"PING\r\n"),
        (r#"{"verbose":true,"pedantic":false}"#, b"PUB nobody 0\r\n\r\n"),
        (quiet(), b"PUB nobody _INBOX.1 0\r\n\r\n"),
    ];
    for (connect, frames) in cases {
        let mut rig = Rig::new(opts.clone());
        let c = rig.client(0, connect);
        rig.send(c.0, c.1, b"SUB _INBOX.> 1\r\n");
        rig.out(c);
        let most = flood(&mut rig, c, frames);
        let conn = rig.cores[0].conn(c.1).expect("conn");
        let what = String::from_utf8_lossy(frames);
        assert_eq!(conn.closing, Some(CloseReason::SlowConsumerPending), "{what}");
        assert!(most <= cap, "{what}: {most} bytes pending, cap {cap}");
        assert!(most > 64 * 1024, "{what}: closed before passing max_pending ({most})");
    }
}

#[test]
fn burst_over_max_pending_is_judged_after_the_write() {
    let opts = Options { max_pending: 64 * 1024, max_payload: 1024, ..Options::default() };
    let grace = super::output::SLOW_CONSUMER_GRACE;
    let mut rig = Rig::new(opts);
    let sub = rig.client(0, quiet());
    rig.send(sub.0, sub.1, b"SUB s 1\r\n");
    let publ = rig.client(0, quiet());
    // A 1 MiB burst in one cycle: 16 times max_pending, well under the cap.
    let burst = b"PUB s 100\r\n".iter().chain(&[b'x'; 100]).chain(b"\r\n").copied().collect::<Vec<u8>>();
    let burst = burst.repeat((1 << 20) / burst.len());
    rig.send(publ.0, publ.1, &burst);
    let core = &mut rig.cores[0];
    assert!(core.conn(sub.1).expect("conn").out.pending() > 1 << 20);
    assert!(core.conn(sub.1).expect("conn").closing.is_none(), "cut off before its write");
    // A reader at full speed took it all: nothing is held against it.
    rig.out(sub);
    let core = &mut rig.cores[0];
    core.judge_output(sub.1);
    assert!(core.conn(sub.1).expect("conn").over_limit_since.is_none());

    // The same burst to a reader that takes only part of it: over the limit after the
    // write, still draining, it gets the grace and then is cut off.
    rig.send(publ.0, publ.1, &burst);
    let core = &mut rig.cores[0];
    let start = core.now;
    core.conn_mut(sub.1).expect("conn").out.consume(512 * 1024);
    core.judge_output(sub.1);
    core.now = start + grace - Duration::from_millis(1);
    core.conn_mut(sub.1).expect("conn").out.consume(256 * 1024);
    core.judge_output(sub.1);
    core.tick();
    assert!(core.conn(sub.1).expect("conn").closing.is_none(), "cut off within the grace");
    core.now = start + grace;
    core.tick();
    assert_eq!(core.conn(sub.1).expect("conn").closing, Some(CloseReason::SlowConsumerPending));
    assert!(core.conn(publ.1).expect("conn").closing.is_none());
}

#[test]
fn burst_past_the_cap_cuts_off_at_once() {
    let opts = Options { max_pending: 64 * 1024, max_payload: 1024, ..Options::default() };
    let cap = 64 * 1024 + super::output::BURST_ALLOWANCE;
    let mut rig = Rig::new(opts);
    let sub = rig.client(1, quiet());
    rig.send(sub.0, sub.1, b"SUB s 1\r\n");
    let publ = rig.client(0, quiet());
    let frame = b"PUB s 1000\r\n".iter().chain(&[b'x'; 1000]).chain(b"\r\n").copied().collect::<Vec<u8>>();
    let most = flood(&mut rig, publ, &frame);
    assert_eq!(most, 0, "the publisher's own output");
    let conn = rig.cores[1].conn(sub.1).expect("conn");
    assert_eq!(conn.closing, Some(CloseReason::SlowConsumerPending));
    assert!(conn.out.pending() <= cap && conn.out.pending() > cap - 2048, "{}", conn.out.pending());
    assert!(rig.cores[0].conn(publ.1).expect("conn").closing.is_none());
}
