//! Fuzz the leaf dialect of the shared route/leaf parser: never panics, never claims
//! more bytes than it was given, is prefix-stable, and re-encoded LMSG/HMSG and
//! LS+/LS- frames parse back to the same frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use natrix::cluster::{encode, parse_leaf, RouteFrame};

fuzz_target!(|data: &[u8]| {
    let mut pos = 0;
    let mut frames = 0;
    while pos < data.len() && frames < 256 {
        let rest = &data[pos..];
        match parse_leaf(rest, 4096) {
            Ok(Some((frame, n))) => {
                assert!(n > 0 && n <= rest.len());
                let again = parse_leaf(&rest[..n], 4096).expect("prefix parses").expect("complete");
                assert_eq!(again, (frame, n));
                let mut out = Vec::new();
                match frame {
                    RouteFrame::Msg(m) => {
                        assert!(m.account.is_empty(), "leaf frames carry no account");
                        let queues: Vec<&[u8]> = m.queues.iter().collect();
                        encode::write_lmsg(&mut out, m.subject, m.reply, queues.iter().copied(), m.headers, m.payload);
                        match parse_leaf(&out, 1 << 20) {
                            Ok(Some((RouteFrame::Msg(m2), n2))) => {
                                assert_eq!(n2, out.len());
                                assert_eq!((m2.subject, m2.payload, m2.headers), (m.subject, m.payload, m.headers));
                                assert!(m2.queues.iter().eq(m.queues.iter()));
                            }
                            _ => panic!("re-encoded message does not parse"),
                        }
                    }
                    RouteFrame::Sub { subject, queue, weight, .. } => {
                        encode::write_ls_plus(&mut out, subject, queue.map(|q| (q, weight)));
                        let Ok(Some((f2, _))) = parse_leaf(&out, 1 << 20) else { panic!("LS+ does not parse back") };
                        assert_eq!(f2, frame);
                    }
                    RouteFrame::Unsub { subject, queue, .. } => {
                        encode::write_ls_minus(&mut out, subject, queue);
                        let Ok(Some((f2, _))) = parse_leaf(&out, 1 << 20) else { panic!("LS- does not parse back") };
                        assert_eq!(f2, frame);
                    }
                    _ => {}
                }
                pos += n;
                frames += 1;
            }
            Ok(None) | Err(_) => break,
        }
    }
});
