//! Instruction-count workloads for `perf/instructions.sh`: the real sans-IO core of two
//! workers, driven as the worker shell drives it (a read appended to the connection's
//! buffer, `process_input`, then the end of the cycle: batches carried to the other
//! worker, queued output "written" by dropping it), without sockets or clocks.
//!
//! `instructions <workload> <messages>`; the work on the messages happens inside
//! `measured`, which the script counts with `valgrind --tool=callgrind
//! --toggle-collect=*measured*` (setup and warm-up are outside it).
use natrix::config::Options;
use natrix::server::batch::Batch;
use natrix::server::core::Core;
use std::net::SocketAddr;
use std::time::Instant;

/// Bytes per read handed to the core (the worker reads up to 64 KiB at a time).
const READ: usize = 64 * 1024;

struct Rig {
    cores: Vec<Core>,
    _polls: Vec<mio::Poll>,
    scratch: Vec<Batch>,
}

impl Rig {
    fn new() -> Rig {
        let opts = Options::default();
        let (shared, polls) = natrix::server::build_shared(opts, 2, 4222).expect("shared");
        let now = Instant::now();
        let cores = (0..2).map(|i| Core::new(i as u16, shared.clone(), now)).collect();
        Rig { cores, _polls: polls, scratch: Vec::new() }
    }

    fn client(&mut self, w: usize) -> (usize, u32) {
        let addr: SocketAddr = "127.0.0.1:5000".parse().expect("addr");
        let slot = self.cores[w].accept(addr);
        let connect = br#"CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true}"#;
        let mut bytes = connect.to_vec();
        bytes.extend_from_slice(b"\r\n");
        self.read((w, slot), &bytes);
        (w, slot)
    }

    /// One read: the bytes land in the connection's buffer and the core parses them,
    /// then the cycle ends on both workers.
    fn read(&mut self, c: (usize, u32), bytes: &[u8]) {
        let core = &mut self.cores[c.0];
        if let Some(conn) = core.conn_mut(c.1) {
            conn.rbuf.extend_from_slice(bytes);
        }
        core.process_input(c.1);
        self.end_cycle();
    }

    /// What `Worker::end_cycle` does minus the syscalls: batches to their worker (which
    /// delivers them), then every dirty connection's output counts as written.
    fn end_cycle(&mut self) {
        for w in 0..self.cores.len() {
            self.cores[w].send_batches();
        }
        for w in 0..self.cores.len() {
            let shared = self.cores[w].shared.clone();
            shared.inboxes[w].drain_into(&mut self.scratch);
            for b in self.scratch.drain(..) {
                self.cores[w].receive_batch(&b);
                shared.inboxes[b.from as usize].give_spare(b);
            }
        }
        for core in &mut self.cores {
            let list = std::mem::take(&mut core.flush_list);
            for &slot in &list {
                if let Some(c) = core.conn_mut(slot) {
                    c.dirty = false;
                    let n = c.out.pending();
                    c.out.consume(n);
                }
                core.judge_output(slot);
            }
            core.flush_list = list;
            core.flush_list.clear();
            let stats = core.shared.clone();
            core.cycle.publish(&stats.stats);
        }
    }
}

/// A stream of `n` PUB frames on `subjects` (cycled) with a `size`-byte payload.
fn frames(subjects: &[String], size: usize, n: usize) -> Vec<u8> {
    let payload = vec![b'x'; size];
    let mut out = Vec::new();
    for i in 0..n {
        let s = &subjects[i % subjects.len()];
        out.extend_from_slice(format!("PUB {s} {size}\r\n").as_bytes());
        out.extend_from_slice(&payload);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Feeds `stream` to connection `c` in reads of `READ` bytes; returns the reads.
#[inline(never)]
fn measured(rig: &mut Rig, c: (usize, u32), stream: &[u8]) -> usize {
    let mut reads = 0;
    for chunk in stream.chunks(READ) {
        rig.read(c, chunk);
        reads += 1;
    }
    reads
}

fn main() {
    let mut args = std::env::args().skip(1);
    let workload = args.next().unwrap_or_else(|| "ingest16".into());
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let mut rig = Rig::new();
    let (publ, subjects, size) = match workload.as_str() {
        // No subscribers: parse, account, match (an empty result), drop.
        "ingest16" => (rig.client(0), vec!["ingest".to_string()], 16),
        // One subscriber on the publisher's worker.
        "pubsub128_local" => {
            let sub = rig.client(0);
            rig.read(sub, b"SUB bench 1\r\n");
            (rig.client(0), vec!["bench".to_string()], 128)
        }
        // One subscriber on the other worker (the batch hand-off).
        "pubsub128_cross" => {
            let sub = rig.client(1);
            rig.read(sub, b"SUB bench 1\r\n");
            (rig.client(0), vec!["bench".to_string()], 128)
        }
        // Four subscribers, two on each worker.
        "fanout128_4" => {
            for i in 0..4 {
                let sub = rig.client(i % 2);
                rig.read(sub, b"SUB bench 1\r\n");
            }
            (rig.client(0), vec!["bench".to_string()], 128)
        }
        // The harness's wide layout: 100k subscriptions (90% `wide.<a>.<b>`, 10%
        // `wc.<k>.*`/`wc.<k>.>`) on 4 connections over both workers; published subjects
        // 80% existing literals, 10% wildcard hits, 10% misses, drawn from a fixed sequence.
        "wide100k" => {
            let subs: Vec<_> = (0..4).map(|i| rig.client(i % 2)).collect();
            let (nl, nw) = (90_000usize, 10_000usize);
            let mut bufs = vec![Vec::new(); 4];
            for i in 0..nl + nw {
                let s = if i < nl {
                    format!("wide.{}.{}", i / 1000, i % 1000)
                } else if (i - nl) % 2 == 0 {
                    format!("wc.{}.*", i - nl)
                } else {
                    format!("wc.{}.>", i - nl)
                };
                bufs[i % 4].extend_from_slice(format!("SUB {s} {i}\r\n").as_bytes());
            }
            for (c, b) in subs.iter().zip(&bufs) {
                for chunk in b.split_inclusive(|&x| x == b'\n').collect::<Vec<_>>().chunks(4096) {
                    rig.read(*c, &chunk.concat());
                }
            }
            let mut rng = 0x9e37_79b9_7f4a_7c15u64;
            let mut next = move |m: u64| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng % m
            };
            let subjects = (0..1 << 16)
                .map(|_| match next(100) {
                    0..=9 => format!("wide.{}.{}", 90 + next(100), next(1000)),
                    10..=19 => format!("wc.{}.m", next(nw as u64)),
                    _ => {
                        let i = next(nl as u64);
                        format!("wide.{}.{}", i / 1000, i % 1000)
                    }
                })
                .collect();
            (rig.client(0), subjects, 16)
        }
        other => {
            eprintln!("unknown workload {other}: ingest16 pubsub128_local pubsub128_cross fanout128_4 wide100k");
            std::process::exit(2);
        }
    };
    // Warm-up (buffers grown, caches filled), then the measured messages.
    let warm = frames(&subjects, size, (n / 10).max(1000));
    for chunk in warm.chunks(READ) {
        rig.read(publ, chunk);
    }
    let stream = frames(&subjects, size, n);
    let reads = measured(&mut rig, publ, &stream);
    let c = rig.cores[publ.0].conn(publ.1).expect("publisher still connected");
    assert!(c.closing.is_none(), "publisher closed: {:?}", c.closing);
    println!("{workload} {n} messages in {reads} reads");
}

