//! Client protocol parser and encoder throughput.
//!
//! `cargo bench --bench parser`. Streams of pipelined PUB/HPUB frames are parsed whole (one
//! buffer) and split at pseudo-random read boundaries (the caller keeps the unconsumed tail
//! and appends the next read, as a connection does).

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use natrix::proto::{write_msg, Frame, Limits, Parser};

const LIMITS: Limits = Limits { max_control_line: 4096, max_payload: 1024 * 1024 };
const STREAM_BYTES: usize = 1 << 20;

fn pub_stream(payload: usize, hpub: bool) -> Vec<u8> {
    let body = vec![b'x'; payload];
    let hdr = b"NATS/1.0\r\nX-Trace: 1234\r\n\r\n";
    let mut out = Vec::with_capacity(STREAM_BYTES + 2 * payload + 128);
    let mut i = 0u32;
    while out.len() < STREAM_BYTES {
        if hpub {
            let line = format!(
                "HPUB orders.eu.{} _INBOX.abc.{i} {} {}\r\n",
                i % 64,
                hdr.len(),
                hdr.len() + payload
            );
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(hdr);
        } else {
            out.extend_from_slice(format!("PUB orders.eu.{} {payload}\r\n", i % 64).as_bytes());
        }
        out.extend_from_slice(&body);
        out.extend_from_slice(b"\r\n");
        i = i.wrapping_add(1);
    }
    out
}

/// Read sizes from a fixed xorshift sequence (1 B – 64 KiB, biased to small-ish reads).
fn read_sizes(n: usize) -> Vec<usize> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let cap = [512usize, 4096, 16384, 65536][(x & 3) as usize];
            1 + (x >> 8) as usize % cap
        })
        .collect()
}

fn parse_whole(data: &[u8]) -> usize {
    let mut p = Parser::default();
    let mut pos = 0;
    let mut n = 0;
    while let Ok(Some((f, used))) = p.parse(&data[pos..], &LIMITS) {
        if let Frame::Pub(m) = f {
            n += m.payload.len();
        }
        pos += used;
    }
    n
}

fn parse_split(data: &[u8], sizes: &[usize], buf: &mut Vec<u8>) -> usize {
    let mut p = Parser::default();
    let mut n = 0;
    let mut fed = 0;
    let mut start = 0; // consumed prefix of `buf`, compacted before each read
    buf.clear();
    for &s in sizes.iter().cycle() {
        if fed >= data.len() {
            break;
        }
        buf.drain(..start);
        start = 0;
        let end = (fed + s).min(data.len());
        buf.extend_from_slice(&data[fed..end]);
        fed = end;
        while let Ok(Some((f, used))) = p.parse(&buf[start..], &LIMITS) {
            if let Frame::Pub(m) = f {
                n += m.payload.len();
            }
            start += used;
        }
    }
    n
}

fn bench_parse(c: &mut Criterion) {
    let sizes = read_sizes(4096);
    let mut g = c.benchmark_group("parse");
    for (name, payload, hpub) in
        [("pub_16", 16, false), ("pub_128", 128, false), ("pub_1k", 1024, false), ("hpub_128", 128, true)]
    {
        let data = pub_stream(payload, hpub);
        g.throughput(Throughput::Bytes(data.len() as u64));
        g.bench_with_input(BenchmarkId::new("whole", name), &data, |b, d| {
            b.iter(|| black_box(parse_whole(black_box(d))))
        });
        let mut buf = Vec::with_capacity(256 * 1024);
        g.bench_with_input(BenchmarkId::new("split", name), &data, |b, d| {
            b.iter(|| black_box(parse_split(black_box(d), &sizes, &mut buf)))
        });
    }
    g.finish();
}

fn bench_encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("write_msg");
    let hdr = b"NATS/1.0\r\nX-Trace: 1234\r\n\r\n";
    for payload in [16usize, 128, 1024] {
        let body = vec![b'x'; payload];
        const N: usize = 1000;
        g.throughput(Throughput::Elements(N as u64));
        let mut out = Vec::with_capacity(N * (payload + 128));
        g.bench_function(BenchmarkId::new("msg", payload), |b| {
            b.iter(|| {
                out.clear();
                for _ in 0..N {
                    write_msg(&mut out, b"orders.eu.7", b"42", Some(b"_INBOX.abc.1"), None, &body);
                }
                black_box(out.len())
            })
        });
        g.bench_function(BenchmarkId::new("hmsg", payload), |b| {
            b.iter(|| {
                out.clear();
                for _ in 0..N {
                    write_msg(&mut out, b"orders.eu.7", b"42", None, Some(hdr), &body);
                }
                black_box(out.len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_parse, bench_encode);
criterion_main!(benches);
