//! Fuzz the route protocol parser: never panics, never claims more bytes than it was
//! given, frames are consistent, and parsing is prefix-stable (a frame parsed from a
//! prefix parses the same from the whole input). Re-encoded messages parse back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use natrix::cluster::{encode, parse, RouteFrame};

fuzz_target!(|data: &[u8]| {
    let mut pos = 0;
    let mut frames = 0;
    while pos < data.len() && frames < 256 {
        let rest = &data[pos..];
        match parse(rest, 4096) {
            Ok(Some((frame, n))) => {
                assert!(n > 0 && n <= rest.len());
                // The same frame from exactly its own bytes.
                let again = parse(&rest[..n], 4096).expect("prefix parses").expect("complete");
                assert_eq!(again, (frame, n));
                if let RouteFrame::Msg(m) = frame {
                    let mut out = Vec::new();
                    let queues: Vec<&[u8]> = m.queues.iter().collect();
                    encode::write_rmsg(&mut out, m.account, m.subject, m.reply, queues.iter().copied(), m.headers, m.payload);
                    if let Ok(Some((RouteFrame::Msg(m2), n2))) = parse(&out, 1 << 20) {
                        assert_eq!(n2, out.len());
                        assert_eq!((m2.account, m2.subject, m2.payload, m2.headers), (m.account, m.subject, m.payload, m.headers));
                        assert!(m2.queues.iter().eq(m.queues.iter()));
                    } else if !m.subject.is_empty() {
                        panic!("re-encoded message does not parse");
                    }
                }
                pos += n;
                frames += 1;
            }
            Ok(None) | Err(_) => break,
        }
    }
});
