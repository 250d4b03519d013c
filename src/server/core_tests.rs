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
    for _ in 0..20 {
        rig.send(publ.0, publ.1, format!("PUB s {}\r\n{payload}\r\n", payload.len()).as_bytes());
        // `fine` reads everything; `slow` never does.
        rig.out(fine);
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
