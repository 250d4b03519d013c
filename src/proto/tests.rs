//! Unit tests for the parser and encoders. Behaviour marked (v) was checked against the
//! nats-server 2.9.10 binary with raw sockets.

use super::*;

/// An owned copy of a frame, for comparing results across different buffers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum F {
    Connect(Vec<u8>),
    Info(Vec<u8>),
    Pub { subject: Vec<u8>, reply: Option<Vec<u8>>, headers: Option<Vec<u8>>, payload: Vec<u8>, hpub: bool },
    Sub { subject: Vec<u8>, queue: Option<Vec<u8>>, sid: Vec<u8> },
    Unsub { sid: Vec<u8>, max: Option<Vec<u8>> },
    Ping,
    Pong,
    Ok,
    Err(Vec<u8>),
}

impl From<Frame<'_>> for F {
    fn from(f: Frame<'_>) -> F {
        let v = |s: &[u8]| s.to_vec();
        match f {
            Frame::Connect(j) => F::Connect(v(j)),
            Frame::Info(j) => F::Info(v(j)),
            Frame::Pub(m) => F::Pub {
                subject: v(m.subject),
                reply: m.reply.map(v),
                headers: m.headers.map(v),
                payload: v(m.payload),
                hpub: m.is_hpub,
            },
            Frame::Sub { subject, queue, sid } => {
                F::Sub { subject: v(subject), queue: queue.map(v), sid: v(sid) }
            }
            Frame::Unsub { sid, max } => F::Unsub { sid: v(sid), max: max.map(v) },
            Frame::Ping => F::Ping,
            Frame::Pong => F::Pong,
            Frame::Ok => F::Ok,
            Frame::Err(t) => F::Err(v(t)),
        }
    }
}

pub(super) const L: Limits = Limits { max_control_line: 4096, max_payload: 1024 * 1024 };

/// Parse a whole stream: the frames, then the error (if any) and the unconsumed tail length.
pub(super) fn parse_whole(data: &[u8], limits: &Limits) -> (Vec<F>, Option<ParseError>, usize) {
    let mut p = Parser::default();
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        match p.parse(&data[pos..], limits) {
            Ok(Some((f, n))) => {
                assert!(n > 0 && n <= data.len() - pos);
                out.push(f.into());
                pos += n;
            }
            Ok(None) => return (out, None, data.len() - pos),
            Err(e) => return (out, Some(e), data.len() - pos),
        }
    }
}

/// Feed `data` in chunks the way a connection does: keep unconsumed bytes, append, parse.
pub(super) fn parse_chunked(
    data: &[u8],
    cuts: &[usize],
    limits: &Limits,
) -> (Vec<F>, Option<ParseError>, usize) {
    let mut p = Parser::default();
    let mut out = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut cuts: Vec<usize> = cuts.iter().map(|&c| c.min(data.len())).collect();
    cuts.sort_unstable();
    cuts.push(data.len());
    let mut fed = 0;
    for c in cuts {
        buf.extend_from_slice(&data[fed..c]);
        fed = c;
        loop {
            match p.parse(&buf, limits) {
                Ok(Some((f, n))) => {
                    out.push(f.into());
                    buf.drain(..n);
                }
                Ok(None) => break,
                Err(e) => return (out, Some(e), buf.len() + data.len() - fed),
            }
        }
    }
    (out, None, buf.len())
}

fn one(data: &[u8]) -> Result<Option<(F, usize)>, ParseError> {
    Parser::default().parse(data, &L).map(|o| o.map(|(f, n)| (f.into(), n)))
}

fn frames(data: &[u8]) -> Vec<F> {
    let (f, e, rest) = parse_whole(data, &L);
    assert_eq!(e, None, "{:?}", String::from_utf8_lossy(data));
    assert_eq!(rest, 0, "{:?}", String::from_utf8_lossy(data));
    f
}

fn err(data: &[u8]) -> ParseError {
    err_with(data, &L)
}

fn err_with(data: &[u8], l: &Limits) -> ParseError {
    let (_, e, _) = parse_whole(data, l);
    let e = e.unwrap_or_else(|| panic!("no error for {:?}", String::from_utf8_lossy(data)));
    // the same error whatever the read boundaries
    for cut in 0..data.len() {
        assert_eq!(parse_chunked(data, &[cut], l).1, Some(e), "cut {cut}");
    }
    e
}

fn pubf(subject: &str, reply: Option<&str>, payload: &str) -> F {
    F::Pub {
        subject: subject.into(),
        reply: reply.map(Into::into),
        headers: None,
        payload: payload.into(),
        hpub: false,
    }
}

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

#[test]
fn pub_basic() {
    assert_eq!(one(b"PUB foo 5\r\nhello\r\n").unwrap(), Some((pubf("foo", None, "hello"), 18)));
    assert_eq!(frames(b"PUB foo bar 5\r\nhello\r\n"), vec![pubf("foo", Some("bar"), "hello")]);
    assert_eq!(frames(b"PUB foo 0\r\n\r\n"), vec![pubf("foo", None, "")]);
    // payload containing CRLF
    assert_eq!(frames(b"PUB a 4\r\n\r\n\r\n\r\n"), vec![pubf("a", None, "\r\n\r\n")]);
    // tabs and runs of blanks (v)
    assert_eq!(frames(b"PUB\ta\t\t1\r\nx\r\n"), vec![pubf("a", None, "x")]);
    assert_eq!(frames(b"PUB   a  r   1   \r\nx\r\n"), vec![pubf("a", Some("r"), "x")]);
    // bare LF on the control line (v)
    assert_eq!(frames(b"PUB a 1\nx\r\n"), vec![pubf("a", None, "x")]);
    // 9-digit size with leading zeros (v)
    assert_eq!(frames(b"PUB a 000000001\r\nx\r\n"), vec![pubf("a", None, "x")]);
}

#[test]
fn case_insensitive_ops() {
    let want = vec![
        pubf("a", None, "x"),
        F::Sub { subject: b("a"), queue: None, sid: b("1") },
        F::Unsub { sid: b("1"), max: None },
        F::Ping,
        F::Pong,
        F::Ok,
        F::Connect(b("{}")),
        F::Info(b("{}")),
    ];
    for s in [
        "PUB a 1\r\nx\r\nSUB a 1\r\nUNSUB 1\r\nPING\r\nPONG\r\n+OK\r\nCONNECT {}\r\nINFO {}\r\n",
        "pub a 1\r\nx\r\nsub a 1\r\nunsub 1\r\nping\r\npong\r\n+ok\r\nconnect {}\r\ninfo {}\r\n",
        "pUb a 1\r\nx\r\nSuB a 1\r\nUnSuB 1\r\npInG\r\nPoNg\r\n+oK\r\ncOnNeCt {}\r\niNfO {}\r\n",
    ] {
        assert_eq!(frames(s.as_bytes()), want, "{s}");
    }
    let h = frames(b"hpub a 3 4\r\nabcd\r\n");
    assert!(matches!(&h[0], F::Pub { hpub: true, .. }));
    assert_eq!(frames(b"-err 'x'\r\n"), vec![F::Err(b("'x'"))]);
}

#[test]
fn hpub() {
    let hdr = "NATS/1.0\r\nA: B\r\n\r\n";
    let s = format!("HPUB foo r {} {}\r\n{hdr}hi\r\n", hdr.len(), hdr.len() + 2);
    assert_eq!(
        frames(s.as_bytes()),
        vec![F::Pub {
            subject: b("foo"),
            reply: Some(b("r")),
            headers: Some(b(hdr)),
            payload: b("hi"),
            hpub: true
        }]
    );
    // #hdr 0: no header block, still HPUB (v: delivered as plain MSG)
    assert_eq!(
        frames(b"HPUB foo 0 2\r\nhi\r\n"),
        vec![F::Pub { subject: b("foo"), reply: None, headers: None, payload: b("hi"), hpub: true }]
    );
    // header only
    let s = format!("HPUB foo {0} {0}\r\n{hdr}\r\n", hdr.len());
    let f = frames(s.as_bytes());
    assert!(matches!(&f[0], F::Pub { payload, headers: Some(_), .. } if payload.is_empty()));
    // hdr > total: silent close (v)
    assert_eq!(err(b"HPUB foo 5 4\r\n"), ParseError::ProtocolViolation);
    assert_eq!(err(b"HPUB foo 4\r\nabcd\r\n"), ParseError::ProtocolViolation);
    assert_eq!(err(b"HPUB foo a b c 4\r\n"), ParseError::ProtocolViolation);
    assert_eq!(err(b"HPUB foo x 4\r\n"), ParseError::ProtocolViolation);
}

#[test]
fn sub_unsub() {
    assert_eq!(frames(b"SUB foo 1\r\n"), vec![F::Sub { subject: b("foo"), queue: None, sid: b("1") }]);
    assert_eq!(
        frames(b"SUB foo q 1\r\n"),
        vec![F::Sub { subject: b("foo"), queue: Some(b("q")), sid: b("1") }]
    );
    assert_eq!(frames(b"SUB\tfoo\t\tq 1 \n").len(), 1);
    assert_eq!(frames(b"UNSUB 1\r\n"), vec![F::Unsub { sid: b("1"), max: None }]);
    // max is raw; a non-number is the connection's business (v: accepted)
    assert_eq!(frames(b"UNSUB 1 x\r\n"), vec![F::Unsub { sid: b("1"), max: Some(b("x")) }]);
    assert_eq!(err(b"SUB foo\r\n"), ParseError::ProtocolViolation);
    assert_eq!(err(b"SUB a b c d\r\n"), ParseError::ProtocolViolation); // (v)
    assert_eq!(err(b"UNSUB 1 2 3\r\n"), ParseError::ProtocolViolation);
    assert_eq!(err(b"UNSUB \r\n"), ParseError::ProtocolViolation);
    // splitArg also splits on a CR inside the line
    assert_eq!(
        frames(b"SUB a\rb 1\r\n"),
        vec![F::Sub { subject: b("a"), queue: Some(b("b")), sid: b("1") }]
    );
}

#[test]
fn ping_pong_ok_ignore_rest_of_line() {
    // (v) PING foo, PINGX -> PONG
    assert_eq!(frames(b"PINGX\r\nPING foo\r\nPING\n"), vec![F::Ping, F::Ping, F::Ping]);
    assert_eq!(frames(b"PONG whatever\r\n+OK\r\n+OKAY\n"), vec![F::Pong, F::Ok, F::Ok]);
    assert_eq!(one(b"PING\r\nPI").unwrap(), Some((F::Ping, 6)));
}

#[test]
fn connect_info_err() {
    assert_eq!(frames(b"CONNECT {\"verbose\":false}\r\n"), vec![F::Connect(b("{\"verbose\":false}"))]);
    // no blank needed (v), blanks trimmed
    assert_eq!(frames(b"CONNECT{}\r\n"), vec![F::Connect(b("{}"))]);
    assert_eq!(frames(b"CONNECT \t {} \t\r\n"), vec![F::Connect(b("{}"))]);
    // "CONNECT\r\n": the argument is the lone "\r" (Go), bad JSON -> close (v)
    let f = frames(b"CONNECT\r\n");
    assert_eq!(f, vec![F::Connect(b("\r"))]);
    assert!(parse_connect(b"\r").is_err());
    // (v) "CONNECT\n{...}": the '\n' starts the argument, the JSON is still fine
    assert_eq!(frames(b"CONNECT\n{}\r\n"), vec![F::Connect(b("\n{}"))]);
    assert!(parse_connect(b"\n{}").is_ok());
    assert_eq!(frames(b"INFO {}\r\n"), vec![F::Info(b("{}"))]);
    assert_eq!(frames(b"-ERR 'boom'\r\n"), vec![F::Err(b("'boom'"))]);
}

#[test]
fn unknown_ops() {
    for s in [
        &b"MSG a 1 1\r\nx\r\n"[..], // (v)
        b"HMSG a 1 1\r\nx\r\n",     // (v for this form)
        b"RS+ a\r\n",
        b"A+ a\r\n",
        b"LS+ a\r\n",
        b"PUBX a 1\r\n", // (v)
        b"PU\r\n",       // (v)
        b"PUB\r\n",
        b"SUB\r\n",
        b"\r\nPING\r\n", // (v) empty line
        b" PING\r\n",    // (v)
        b"+O\nPING\r\n", // (v)
        b"-ERR\r\n",
        b"CONNEXT {}\r\n",
        b"X",
        b"px",
        b"hx",
    ] {
        assert_eq!(err(s), ParseError::UnknownOp, "{:?}", String::from_utf8_lossy(s));
    }
}

#[test]
fn payload_must_end_in_crlf() {
    assert_eq!(err(b"PUB a 1\r\nxy\r\n"), ParseError::UnknownOp); // (v)
    assert_eq!(err(b"PUB a 1\r\nx\nPING\r\n"), ParseError::UnknownOp); // (v)
    assert_eq!(err(b"PUB a 1\r\nx\r\r"), ParseError::UnknownOp);
    // reported as soon as the wrong byte arrives, before the rest
    assert_eq!(one(b"PUB a 1\r\nxy"), Err(ParseError::UnknownOp));
    assert_eq!(one(b"PUB a 1\r\nx\r").unwrap(), None);
}

#[test]
fn sizes_and_arg_counts() {
    for s in [
        &b"PUB a 0000000001\r\n"[..], // 10 digits (v)
        b"PUB a -1\r\n",              // (v)
        b"PUB a\r\n",
        b"PUB a b c 1\r\n",
        b"PUB a 1x\r\n",
        b"PUB \r\n",
        b"HPUB a 1\r\n",
        b"HPUB a r 1 2 3\r\n",
    ] {
        assert_eq!(err(s), ParseError::ProtocolViolation, "{:?}", String::from_utf8_lossy(s));
    }
}

#[test]
fn max_payload_checked_on_the_line() {
    let l = Limits { max_control_line: 4096, max_payload: 64 };
    // (v) with max_payload 64: 65 -> error before the payload arrives, 64 -> waits
    assert_eq!(err_with(b"PUB a 65\r\n", &l), ParseError::MaxPayload);
    assert_eq!(err_with(b"HPUB a 10 65\r\n", &l), ParseError::MaxPayload);
    let mut p = Parser::default();
    assert_eq!(p.parse(b"PUB a 64\r\n", &l), Ok(None));
    assert_eq!(p.pending_frame_len(), Some(10 + 64 + 2));
    let mut s = b"PUB a 64\r\n".to_vec();
    s.extend_from_slice(&[b'x'; 64]);
    s.extend_from_slice(b"\r\n");
    assert_eq!(parse_whole(&s, &l).0.len(), 1);
}

#[test]
fn max_control_line_counts_the_argument() {
    // Verified on 2.9.10 with max_control_line: 32.
    let l = Limits { max_control_line: 32, max_payload: 1024 };
    let s30 = "a".repeat(30);
    let ok = |s: String| {
        let (f, e, rest) = parse_whole(s.as_bytes(), &l);
        assert_eq!((e, rest), (None, 0), "{s:?}");
        assert!(!f.is_empty());
    };
    let bad = |s: String| assert_eq!(err_with(s.as_bytes(), &l), ParseError::MaxControlLine, "{s:?}");
    ok(format!("PUB {s30} 1\r\nx\r\n")); // arg = 32
    bad(format!("PUB {s30}b 1\r\nx\r\n")); // arg = 33
    ok(format!("PUB     {s30} 1\r\nx\r\n")); // leading blanks don't count
    bad(format!("PUB {s30} 1 \r\nx\r\n")); // trailing blank counts
    ok(format!("PUB {s30} 1\nx\r\n"));
    ok(format!("SUB {s30} 1\r\n"));
    bad(format!("SUB {s30}b 1\r\n"));
    // CONNECT: the JSON (after optional blanks) counts the same way (v: 32 ok, 33 refused)
    let j32 = format!("{{\"verbose\":false,\"name\":\"{}\"}}", "n".repeat(32 - 27));
    assert_eq!(j32.len(), 32);
    ok(format!("CONNECT {j32}\r\n"));
    ok(format!("CONNECT{j32}\r\n"));
    bad(format!("CONNECT {j32} \r\n"));
    bad(format!("CONNECT {j32}x\r\n"));
    bad(format!("INFO {{\"a\":\"{}\"}}\r\n", "x".repeat(40)));
    bad(format!("-ERR '{}'\r\n", "x".repeat(40)));
    bad(format!("UNSUB {}\r\n", "1".repeat(33)));
    ok(format!("UNSUB {}\r\n", "1".repeat(32)));
}

#[test]
fn max_control_line_on_partial_lines() {
    let l = Limits { max_control_line: 32, max_payload: 1024 };
    let s30 = "a".repeat(30);
    let mut p = Parser::default();
    // 32 bytes of argument without '\n': wait (v)
    assert_eq!(p.parse(format!("PUB {s30} 1").as_bytes(), &l), Ok(None));
    // 32 + '\r': wait (v)
    assert_eq!(p.parse(format!("PUB {s30} 1\r").as_bytes(), &l), Ok(None));
    // 33: refused before the line ends (v)
    let mut p = Parser::default();
    assert_eq!(p.parse(format!("PUB {s30} 12").as_bytes(), &l), Err(ParseError::MaxControlLine));
    // an endless line fails as soon as it is too long, whatever the op
    for op in ["PUB ", "SUB ", "UNSUB ", "CONNECT ", "INFO ", "-ERR ", "HPUB "] {
        let mut p = Parser::default();
        let mut buf = op.as_bytes().to_vec();
        let mut failed = false;
        for _ in 0..100 {
            buf.extend_from_slice(b"x");
            match p.parse(&buf, &l) {
                Ok(None) => {}
                Err(ParseError::MaxControlLine) => {
                    failed = true;
                    break;
                }
                other => panic!("{op}: {other:?}"),
            }
        }
        assert!(failed && buf.len() == op.len() + 33, "{op}");
    }
    // bytes nats-server ignores are bounded too (deviation, see Parser docs)
    let mut p = Parser::default();
    assert_eq!(p.parse(format!("PING{}", "x".repeat(32)).as_bytes(), &l), Ok(None));
    assert_eq!(p.parse(format!("PING{}", "x".repeat(33)).as_bytes(), &l), Err(ParseError::MaxControlLine));
    assert_eq!(
        Parser::default().parse(format!("PUB{}", " ".repeat(34)).as_bytes(), &l),
        Err(ParseError::MaxControlLine)
    );
    assert_eq!(Parser::default().parse(format!("PUB{}", " ".repeat(33)).as_bytes(), &l), Ok(None));
}

#[test]
fn go_cr_drop_quirk() {
    // (v) "PUB a\rb 1\n": Go drops the last byte when a CR occurs anywhere in the argument,
    // leaving "a\rb " = one argument -> silent close.
    assert_eq!(err(b"PUB a\rb 1\nx\r\n"), ParseError::ProtocolViolation);
    // (v) the first byte after the blanks always starts the argument, even a '\n'
    assert_eq!(frames(b"PUB \nfoo 1\r\nx\r\n"), vec![pubf("\nfoo", None, "x")]);
}

#[test]
fn pipelined_and_split_everywhere() {
    let hdr = "NATS/1.0\r\nA: B\r\n\r\n";
    let s = format!(
        "CONNECT {{\"verbose\":false}}\r\nPING\r\nSUB foo 1\r\nSUB foo q 2\nPUB foo r 5\r\nhello\r\n\
         HPUB foo {} {}\r\n{hdr}hi\r\nHPUB foo 0 0\r\n\r\nUNSUB 1 10\r\nPUB foo 4\r\n\r\n\r\n\r\nPONG\r\n+OK\r\n",
        hdr.len(),
        hdr.len() + 2
    );
    let data = s.as_bytes();
    let whole = frames(data);
    assert_eq!(whole.len(), 11);
    for a in 0..data.len() {
        assert_eq!(parse_chunked(data, &[a], &L), (whole.clone(), None, 0), "cut {a}");
        for c in (a..data.len()).step_by(7) {
            assert_eq!(parse_chunked(data, &[a, c], &L).0, whole, "cuts {a} {c}");
        }
    }
    // byte by byte
    let cuts: Vec<usize> = (0..data.len()).collect();
    assert_eq!(parse_chunked(data, &cuts, &L), (whole, None, 0));
}

#[test]
fn resume_hints_do_not_rescan() {
    // A big payload arriving in small pieces: the parser says "need more" without
    // re-reading the control line or the payload, and the frame borrows from the buffer.
    let mut p = Parser::default();
    let mut buf = b"PUB big 100000\r\n".to_vec();
    assert_eq!(p.parse(&buf, &L), Ok(None));
    assert!(p.is_mid_frame());
    for _ in 0..1000 {
        buf.extend_from_slice(&[b'z'; 100]);
        assert_eq!(p.parse(&buf, &L), Ok(None));
    }
    buf.extend_from_slice(b"\r\nPING\r\n");
    let (f, n) = p.parse(&buf, &L).unwrap().unwrap();
    match f {
        Frame::Pub(m) => {
            assert_eq!(m.payload.len(), 100_000);
            assert_eq!(m.payload.as_ptr(), buf[16..].as_ptr());
        }
        other => panic!("{other:?}"),
    }
    assert!(!p.is_mid_frame());
    assert_eq!(p.parse(&buf[n..], &L).unwrap().map(|x| x.0), Some(Frame::Ping));
    // a caller that (wrongly) hands a shorter buffer does not make the parser panic
    let mut p = Parser::default();
    assert_eq!(p.parse(b"PUB a 10\r\nxx", &L), Ok(None));
    assert_eq!(p.parse(b"PING\r\n", &L).unwrap().map(|x| x.0), Some(Frame::Ping));
}

#[test]
fn errors_text_and_reason() {
    assert_eq!(ParseError::UnknownOp.err_text(), Some("Unknown Protocol Operation"));
    assert_eq!(ParseError::MaxPayload.err_text(), Some("Maximum Payload Violation"));
    assert_eq!(ParseError::MaxControlLine.err_text(), Some("maximum control line exceeded"));
    assert_eq!(ParseError::ProtocolViolation.err_text(), None);
    assert_eq!(ParseError::UnknownOp.close_reason(), "Protocol Violation");
    assert_eq!(ParseError::ProtocolViolation.close_reason(), "Protocol Violation");
    assert_eq!(ParseError::MaxPayload.close_reason(), "Maximum Message Payload Exceeded");
    assert_eq!(ParseError::MaxControlLine.close_reason(), "Maximum Control Line Exceeded");
}

#[test]
fn encoders() {
    let mut out = Vec::new();
    write_msg(&mut out, b"foo", b"1", None, None, b"hello");
    assert_eq!(out, b"MSG foo 1 5\r\nhello\r\n");
    out.clear();
    write_msg(&mut out, b"foo", b"1", Some(b"bar"), None, b"");
    assert_eq!(out, b"MSG foo 1 bar 0\r\n\r\n");
    out.clear();
    write_msg(&mut out, b"r.1", b"9", None, Some(b"NATS/1.0 503\r\n\r\n"), b"");
    assert_eq!(out, b"HMSG r.1 9 16 16\r\nNATS/1.0 503\r\n\r\n\r\n"); // reference 1.7
    out.clear();
    write_msg(&mut out, b"a", b"22", Some(b"r"), Some(b"NATS/1.0\r\n\r\n"), b"xyz");
    assert_eq!(out, b"HMSG a 22 r 12 15\r\nNATS/1.0\r\n\r\nxyz\r\n");
    out.clear();
    write_err(&mut out, "Unknown Protocol Operation");
    assert_eq!(out, b"-ERR 'Unknown Protocol Operation'\r\n");
    assert_eq!((PING, PONG, OK), (&b"PING\r\n"[..], &b"PONG\r\n"[..], &b"+OK\r\n"[..]));
    let mut big = Vec::new();
    encode::write_usize(&mut big, usize::MAX);
    assert_eq!(big, usize::MAX.to_string().as_bytes());
}

#[test]
fn info_like_2_9_10() {
    let info = ServerInfo {
        server_id: "NCC3".into(),
        server_name: "NCC3".into(),
        version: "2.9.10".into(),
        proto: 1,
        go: "go1.19.8".into(),
        host: "127.0.0.1".into(),
        port: 37810,
        headers: true,
        max_payload: 1048576,
        client_id: 4,
        client_ip: Some("127.0.0.1".into()),
        ..Default::default()
    };
    let mut out = Vec::new();
    write_info(&mut out, &info);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "INFO {\"server_id\":\"NCC3\",\"server_name\":\"NCC3\",\"version\":\"2.9.10\",\"proto\":1,\
         \"go\":\"go1.19.8\",\"host\":\"127.0.0.1\",\"port\":37810,\"headers\":true,\
         \"max_payload\":1048576,\"client_id\":4,\"client_ip\":\"127.0.0.1\"} \r\n"
    );
    let info = ServerInfo {
        server_name: "a<b>&c".into(),
        auth_required: true,
        tls_required: true,
        nonce: Some("abc".into()),
        connect_urls: vec!["1.2.3.4:4222".into()],
        lame_duck_mode: true,
        ..Default::default()
    };
    let mut out = Vec::new();
    write_info(&mut out, &info);
    let s = String::from_utf8(out).unwrap();
    assert!(s.contains("\"server_name\":\"a\\u003cb\\u003e\\u0026c\""), "{s}");
    assert!(s.contains(
        "\"headers\":false,\"auth_required\":true,\"tls_required\":true,\"max_payload\":0,\"nonce\":\"abc\",\"connect_urls\":[\"1.2.3.4:4222\"],\"ldm\":true}"
    ), "{s}");
}
