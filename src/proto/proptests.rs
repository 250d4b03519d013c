//! Property tests: chunked parsing == whole parsing == what was generated; encoders
//! round-trip; arbitrary bytes never panic.

use proptest::prelude::*;

use super::tests::{parse_chunked, parse_whole, F, L};
use super::*;

fn token() -> impl Strategy<Value = Vec<u8>> {
    proptest::string::string_regex("[A-Za-z0-9_$*>.-]{1,24}").unwrap().prop_map(String::into_bytes)
}

fn blanks() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(prop_oneof![Just(b' '), Just(b'\t')], 1..3)
}

fn eol() -> impl Strategy<Value = &'static [u8]> {
    prop_oneof![4 => Just(&b"\r\n"[..]), 1 => Just(&b"\n"[..])]
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        proptest::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'x')], 0..16),
        proptest::collection::vec(any::<u8>(), 0..3000),
    ]
}

fn headers() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(("[A-Za-z-]{1,10}", "[ -~]{0,20}"), 0..4).prop_map(|kv| {
        let mut h = b"NATS/1.0\r\n".to_vec();
        for (k, v) in kv {
            h.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        h.extend_from_slice(b"\r\n");
        h
    })
}

/// Randomly change the case of an op name.
fn cased(name: &str, mask: u16) -> Vec<u8> {
    name.bytes()
        .enumerate()
        .map(|(i, c)| if mask & (1 << i) != 0 { c.to_ascii_lowercase() } else { c })
        .collect()
}

/// One frame as wire bytes plus the frame the parser must yield.
fn frame() -> impl Strategy<Value = (Vec<u8>, F)> {
    let pubf = (token(), proptest::option::of(token()), payload(), any::<u16>(), blanks(), blanks(), eol())
        .prop_map(|(s, r, p, m, b1, b2, e)| {
            let mut w = cased("PUB", m);
            w.extend(&b1);
            w.extend(&s);
            w.extend(&b2);
            if let Some(r) = &r {
                w.extend(r);
                w.push(b' ');
            }
            w.extend(p.len().to_string().bytes());
            w.extend(e);
            w.extend(&p);
            w.extend(b"\r\n");
            (w, F::Pub { subject: s, reply: r, headers: None, payload: p, hpub: false })
        });
    let hpub = (token(), proptest::option::of(token()), proptest::option::of(headers()), payload(), any::<u16>(), eol())
        .prop_map(|(s, r, h, p, m, e)| {
            let mut w = cased("HPUB", m);
            w.push(b' ');
            w.extend(&s);
            w.push(b' ');
            if let Some(r) = &r {
                w.extend(r);
                w.push(b'\t');
            }
            let hl = h.as_ref().map_or(0, Vec::len);
            w.extend(format!("{hl} {}", hl + p.len()).bytes());
            w.extend(e);
            if let Some(h) = &h {
                w.extend(h);
            }
            w.extend(&p);
            w.extend(b"\r\n");
            (w, F::Pub { subject: s, reply: r, headers: h, payload: p, hpub: true })
        });
    let sub = (token(), proptest::option::of(token()), "[a-z0-9]{1,8}", any::<u16>(), blanks(), eol())
        .prop_map(|(s, q, sid, m, b, e)| {
            let mut w = cased("SUB", m);
            w.extend(&b);
            w.extend(&s);
            w.extend(&b);
            if let Some(q) = &q {
                w.extend(q);
                w.extend(&b);
            }
            w.extend(sid.bytes());
            w.extend(e);
            (w, F::Sub { subject: s, queue: q, sid: sid.into_bytes() })
        });
    let unsub = ("[a-z0-9]{1,8}", proptest::option::of("[0-9]{1,5}"), any::<u16>(), eol()).prop_map(
        |(sid, max, m, e)| {
            let mut w = cased("UNSUB", m);
            w.push(b' ');
            w.extend(sid.bytes());
            if let Some(x) = &max {
                w.push(b' ');
                w.extend(x.bytes());
            }
            w.extend(e);
            (w, F::Unsub { sid: sid.into_bytes(), max: max.map(String::into_bytes) })
        },
    );
    let simple = (0..3usize, any::<u16>(), "[ -~]{0,8}", eol()).prop_map(|(k, m, junk, e)| {
        let (name, f) = [("PING", F::Ping), ("PONG", F::Pong), ("+OK", F::Ok)][k].clone();
        let mut w = cased(name, m);
        w.extend(junk.bytes());
        w.extend(e);
        (w, f)
    });
    let connect = ("[a-z]{0,10}", any::<u16>(), any::<bool>(), eol()).prop_map(|(n, m, sp, e)| {
        let json = format!("{{\"verbose\":false,\"name\":\"{n}\"}}");
        let mut w = cased("CONNECT", m);
        if sp {
            w.push(b' ');
        }
        w.extend(json.bytes());
        w.extend(e);
        (w, F::Connect(json.into_bytes()))
    });
    prop_oneof![4 => pubf, 2 => hpub, 2 => sub, 1 => unsub, 1 => simple, 1 => connect]
}

/// subject, sid, reply, headers, payload
type MsgParts = (Vec<u8>, Vec<u8>, Option<Vec<u8>>, Option<Vec<u8>>, Vec<u8>);

/// A test-only reader for what `write_msg` produces.
fn read_msg(w: &[u8]) -> Option<MsgParts> {
    let nl = w.iter().position(|&c| c == b'\n')?;
    let line = std::str::from_utf8(w.get(..nl.checked_sub(1)?)?).ok()?;
    let a: Vec<&str> = line.split(' ').collect();
    let body = &w[nl + 1..];
    let (hpub, rest) = match a[0] {
        "MSG" => (false, &a[1..]),
        "HMSG" => (true, &a[1..]),
        _ => return None,
    };
    let nums = if hpub { 2 } else { 1 };
    let (fixed, sizes) = rest.split_at(rest.len() - nums);
    let reply = match fixed.len() {
        2 => None,
        3 => Some(fixed[2].as_bytes().to_vec()),
        _ => return None,
    };
    let total: usize = sizes[nums - 1].parse().ok()?;
    let hdr: usize = if hpub { sizes[0].parse().ok()? } else { 0 };
    if body.len() != total + 2 || &body[total..] != b"\r\n" {
        return None;
    }
    let headers = hpub.then(|| body[..hdr].to_vec());
    Some((fixed[0].as_bytes().to_vec(), fixed[1].as_bytes().to_vec(), reply, headers, body[hdr..total].to_vec()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn chunked_equals_whole_equals_generated(
        frames in proptest::collection::vec(frame(), 1..24),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let mut data = Vec::new();
        let mut want = Vec::new();
        for (w, f) in frames {
            data.extend(w);
            want.push(f);
        }
        let cuts: Vec<usize> = cuts.into_iter().map(|c| c % (data.len() + 1)).collect();
        let whole = parse_whole(&data, &L);
        prop_assert_eq!(&whole, &(want.clone(), None, 0));
        prop_assert_eq!(parse_chunked(&data, &cuts, &L), whole);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_chunking_does_not_matter(
        data in proptest::collection::vec(
            prop_oneof![
                Just(b"PUB a 3\r\n".to_vec()), Just(b"HPUB a 2 3\r\n".to_vec()),
                Just(b"SUB a 1\r\n".to_vec()), Just(b"PING\r\n".to_vec()),
                Just(b"\r\n".to_vec()), Just(b" ".to_vec()), Just(b"\t".to_vec()),
                Just(b"\r".to_vec()), Just(b"\n".to_vec()),
                proptest::collection::vec(any::<u8>(), 0..8),
                "[A-Za-z0-9 +-]{0,8}".prop_map(String::into_bytes),
            ],
            0..40,
        ).prop_map(|v| v.concat()),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
        mcl in 1usize..48,
        max_payload in 0usize..8,
    ) {
        let l = Limits { max_control_line: mcl, max_payload };
        let whole = parse_whole(&data, &l);
        prop_assert_eq!(parse_chunked(&data, &cuts, &l), whole);
    }

    #[test]
    fn write_msg_round_trips(
        subject in token(), sid in "[a-z0-9]{1,8}", reply in proptest::option::of(token()),
        headers in proptest::option::of(headers()), payload in payload(),
    ) {
        let mut out = Vec::new();
        write_msg(&mut out, &subject, sid.as_bytes(), reply.as_deref(), headers.as_deref(), &payload);
        let got = read_msg(&out);
        prop_assert_eq!(got, Some((subject.clone(), sid.into_bytes(), reply.clone(), headers.clone(), payload.clone())));
        // and the same message as HPUB/PUB parses back to the same fields
        let mut w = if headers.is_some() { b"HPUB ".to_vec() } else { b"PUB ".to_vec() };
        w.extend(&subject);
        w.push(b' ');
        if let Some(r) = &reply { w.extend(r); w.push(b' '); }
        let hl = headers.as_ref().map_or(0, Vec::len);
        if headers.is_some() { w.extend(format!("{hl} ").bytes()); }
        w.extend(format!("{}\r\n", hl + payload.len()).bytes());
        if let Some(h) = &headers { w.extend(h); }
        w.extend(&payload);
        w.extend(b"\r\n");
        let (f, e, rest) = parse_whole(&w, &L);
        prop_assert_eq!((e, rest), (None, 0));
        let hdrs = headers.filter(|h| !h.is_empty());
        prop_assert_eq!(f, vec![F::Pub { subject, reply, hpub: hdrs.is_some(), headers: hdrs, payload }]);
    }
}
