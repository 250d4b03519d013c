//! Fuzz the client protocol parser: it never panics, every frame borrows inside the input,
//! and feeding the stream in chunks (as a connection does: keep the unconsumed tail, append
//! the next read) gives exactly the frames and the error of parsing it whole.
//!
//! Input layout: byte 0 selects the limits, bytes 1..4 seed the read boundaries, the rest is
//! the stream.
//!
//! Run: `cd fuzz && cargo +nightly fuzz run proto_parser corpus/proto_parser`.
//! Without cargo-fuzz installed, the same binary builds with
//! `RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4
//! -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table
//! -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions"
//! cargo +nightly build --release --target x86_64-unknown-linux-gnu --bin proto_parser`
//! (the explicit `--target` keeps the flags off build scripts), then run
//! `target/x86_64-unknown-linux-gnu/release/proto_parser corpus/proto_parser`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use natrix::proto::{parse_connect, Frame, Limits, ParseError, Parser};

#[derive(Debug, PartialEq, Eq)]
enum Owned {
    Connect(Vec<u8>),
    Info(Vec<u8>),
    Pub(Vec<u8>, Option<Vec<u8>>, Option<Vec<u8>>, Vec<u8>, bool),
    Sub(Vec<u8>, Option<Vec<u8>>, Vec<u8>),
    Unsub(Vec<u8>, Option<Vec<u8>>),
    Ping,
    Pong,
    Ok,
    Err(Vec<u8>),
}

fn own(f: &Frame<'_>) -> Owned {
    let v = |s: &[u8]| s.to_vec();
    match *f {
        Frame::Connect(j) => {
            let _ = parse_connect(j);
            Owned::Connect(v(j))
        }
        Frame::Info(j) => Owned::Info(v(j)),
        Frame::Pub(m) => {
            assert!(m.headers.is_none_or(|h| !h.is_empty()));
            assert!(m.is_hpub || m.headers.is_none());
            Owned::Pub(v(m.subject), m.reply.map(v), m.headers.map(v), v(m.payload), m.is_hpub)
        }
        Frame::Sub { subject, queue, sid } => Owned::Sub(v(subject), queue.map(v), v(sid)),
        Frame::Unsub { sid, max } => Owned::Unsub(v(sid), max.map(v)),
        Frame::Ping => Owned::Ping,
        Frame::Pong => Owned::Pong,
        Frame::Ok => Owned::Ok,
        Frame::Err(t) => Owned::Err(v(t)),
    }
}

fn within(buf: &[u8], s: &[u8]) -> bool {
    let (b, p) = (buf.as_ptr() as usize, s.as_ptr() as usize);
    s.is_empty() || (p >= b && p + s.len() <= b + buf.len())
}

fn check_borrows(buf: &[u8], f: &Frame<'_>) {
    let ok = match *f {
        Frame::Connect(s) | Frame::Info(s) | Frame::Err(s) => within(buf, s),
        Frame::Pub(m) => {
            within(buf, m.subject)
                && m.reply.is_none_or(|r| within(buf, r))
                && m.headers.is_none_or(|h| within(buf, h))
                && within(buf, m.payload)
        }
        Frame::Sub { subject, queue, sid } => {
            within(buf, subject) && within(buf, sid) && queue.is_none_or(|q| within(buf, q))
        }
        Frame::Unsub { sid, max } => within(buf, sid) && max.is_none_or(|m| within(buf, m)),
        Frame::Ping | Frame::Pong | Frame::Ok => true,
    };
    assert!(ok, "frame borrows outside the buffer");
}

type Outcome = (Vec<Owned>, Option<ParseError>, usize);

fn whole(data: &[u8], l: &Limits) -> Outcome {
    let mut p = Parser::default();
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        let buf = &data[pos..];
        match p.parse(buf, l) {
            Ok(Some((f, n))) => {
                assert!(n > 0 && n <= buf.len());
                check_borrows(&buf[..n], &f);
                out.push(own(&f));
                pos += n;
            }
            Ok(None) => return (out, None, data.len() - pos),
            Err(e) => return (out, Some(e), data.len() - pos),
        }
    }
}

fn chunked(data: &[u8], seed: u32, l: &Limits) -> Outcome {
    let mut p = Parser::default();
    let mut out = Vec::new();
    let mut buf = Vec::new();
    let mut fed = 0;
    let mut x = seed | 1;
    while fed < data.len() {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let step = 1 + (x as usize % 64);
        let end = (fed + step).min(data.len());
        buf.extend_from_slice(&data[fed..end]);
        fed = end;
        loop {
            match p.parse(&buf, l) {
                Ok(Some((f, n))) => {
                    out.push(own(&f));
                    buf.drain(..n);
                }
                Ok(None) => break,
                Err(e) => return (out, Some(e), buf.len() + data.len() - fed),
            }
        }
    }
    (out, None, buf.len())
}

fuzz_target!(|input: &[u8]| {
    if input.len() < 5 {
        return;
    }
    let l = Limits {
        max_control_line: 1 + (input[0] as usize & 0x3f),
        max_payload: [0usize, 4, 64, 4096][(input[0] >> 6) as usize],
    };
    let seed = u32::from_le_bytes([input[1], input[2], input[3], input[4]]);
    let data = &input[5..];
    let w = whole(data, &l);
    let c = chunked(data, seed, &l);
    assert_eq!(w, c);
});
