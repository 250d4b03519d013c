//! The zero-copy client protocol parser (nats-server 2.9.10 `server/parser.go` semantics).

use memchr::memchr;

use super::args::{is_blank, is_split_arg_sep, parse_size, split};
use super::{Frame, Limits, Message, ParseError};

/// Resumable parser for one client connection.
///
/// The caller owns the read buffer. It calls [`Parser::parse`] with the unconsumed bytes; on
/// `Ok(Some((frame, n)))` it handles the frame and drops `buf[..n]`; on `Ok(None)` it keeps the
/// bytes, appends what it reads next and calls again (the new buffer must start with the same
/// bytes). The parser itself only keeps *hints* so that a large partial frame is not scanned
/// again: how far a partial control line was already searched for `\n`, and the parsed control
/// line of a `PUB`/`HPUB` whose payload is still arriving (the payload is never scanned; the
/// parser waits for `#bytes + 2` bytes and checks the trailing `\r\n`).
///
/// # Line and limit rules (checked against nats-server 2.9.10)
///
/// * Op names are case-insensitive. `PUB HPUB SUB UNSUB -ERR` need a space or tab after the
///   name; more blanks are skipped. `CONNECT`/`INFO` skip optional blanks. `PING`, `PONG`,
///   `+OK` ignore everything up to `\n`.
/// * The *argument* starts at the first byte after those blanks — whatever it is, even `\r` or
///   `\n` (as in Go, whose state machine consumes that byte on the state change) — and the line
///   ends at the next `\n`. If a `\r` occurs anywhere in the argument after its first byte,
///   the argument loses its last byte (Go's `drop` flag): normally that is the `\r` before
///   `\n`, so bare `\n` and `\r\n` both work.
/// * `max_control_line` limits the argument length (without the op name, its blanks and the
///   line end): `len(arg) > max_control_line` → [`ParseError::MaxControlLine`]. This is what
///   2.9.10 counts, for every op including `CONNECT` and `INFO` (a `CONNECT` JSON longer than
///   the limit is refused). An unfinished argument is checked the same way each time more
///   bytes arrive, so a line without `\n` fails as soon as it is too long.
/// * Deliberate differences, needed so memory stays bounded while the caller holds the bytes
///   (Go discards them instead): the bytes nats-server *ignores* — the blanks between an op
///   name and its argument, and the rest of a `PING`/`PONG`/`+OK` line — may also not exceed
///   `max_control_line` (→ `MaxControlLine`; Go would accept e.g. `PING` + 5000 bytes).
///   A client `HMSG` is `UnknownOp` (2.9.10 accepts `HMSG <anything>\r\n\r\n` by accident
///   and ignores it). When Go receives an argument split across reads it drops every `\r` in
///   it instead of the last byte; this parser behaves the same whatever the read boundaries.
/// * Payload: `#bytes` (`#total` for HPUB) must be 1–9 digits (else `ProtocolViolation`) and
///   `<= max_payload` (else `MaxPayload`, checked as soon as the control line is complete);
///   the payload must be followed by exactly `\r\n` (else `UnknownOp`, reported as soon as
///   the offending byte arrives).
#[derive(Debug, Default, Clone)]
pub struct Parser {
    /// `buf[..scanned]` of the current partial control line holds no line end (0 = unknown).
    scanned: usize,
    /// A `PUB`/`HPUB` whose control line is parsed and whose payload is incomplete.
    pending: Option<Pending>,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    /// Index of the first payload byte (just after the control line's `\n`).
    body: usize,
    subject: (usize, usize),
    reply: Option<(usize, usize)>,
    hdr: usize,
    total: usize,
    is_hpub: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Pub,
    Hpub,
    Sub,
    Unsub,
    Connect,
    Info,
    Ping,
    Pong,
    Ok,
    Err,
}

impl Op {
    /// Upper-case name and whether a space/tab must follow it.
    fn name(self) -> (&'static [u8], bool) {
        match self {
            Op::Pub => (b"PUB", true),
            Op::Hpub => (b"HPUB", true),
            Op::Sub => (b"SUB", true),
            Op::Unsub => (b"UNSUB", true),
            Op::Connect => (b"CONNECT", false),
            Op::Info => (b"INFO", false),
            Op::Ping => (b"PING", false),
            Op::Pong => (b"PONG", false),
            Op::Ok => (b"+OK", false),
            Op::Err => (b"-ERR", true),
        }
    }
}

/// Which op `buf` starts with, and the length of its name (plus the mandatory blank).
/// `Ok(None)`: not enough bytes yet to tell.
#[inline]
fn recognize(buf: &[u8]) -> Result<Option<(Op, usize)>, ParseError> {
    let Some(&first) = buf.first() else { return Ok(None) };
    let op = match first.to_ascii_uppercase() {
        b'P' => match buf.get(1).map(u8::to_ascii_uppercase) {
            None => return Ok(None),
            Some(b'U') => Op::Pub,
            Some(b'I') => Op::Ping,
            Some(b'O') => Op::Pong,
            Some(_) => return Err(ParseError::UnknownOp),
        },
        b'H' => Op::Hpub,
        b'S' => Op::Sub,
        b'U' => Op::Unsub,
        b'C' => Op::Connect,
        b'I' => Op::Info,
        b'+' => Op::Ok,
        b'-' => Op::Err,
        // MSG, R…, A…, L… (route/leaf ops) and everything else.
        _ => return Err(ParseError::UnknownOp),
    };
    let (name, needs_blank) = op.name();
    for (i, &want) in name.iter().enumerate() {
        match buf.get(i) {
            None => return Ok(None),
            Some(b) if b.to_ascii_uppercase() == want => {}
            Some(_) => return Err(ParseError::UnknownOp),
        }
    }
    if !needs_blank {
        return Ok(Some((op, name.len())));
    }
    match buf.get(name.len()) {
        None => Ok(None),
        Some(&b) if is_blank(b) => Ok(Some((op, name.len() + 1))),
        Some(_) => Err(ParseError::UnknownOp),
    }
}

/// Offset of `part` (a sub-slice of `whole`) inside `whole`.
#[inline]
fn offset_in(whole: &[u8], part: &[u8]) -> usize {
    (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize)
}

#[inline]
fn range_in(whole: &[u8], part: &[u8]) -> (usize, usize) {
    let s = offset_in(whole, part);
    (s, s + part.len())
}

#[inline]
fn slice(buf: &[u8], r: (usize, usize)) -> &[u8] {
    buf.get(r.0..r.1).unwrap_or_default()
}

impl Parser {
    /// A fresh parser (same as `Parser::default()`).
    pub fn new() -> Self {
        Self::default()
    }

    /// True while the parser holds hints about a partial frame at the start of the buffer
    /// (the caller must then keep those bytes).
    pub fn is_mid_frame(&self) -> bool {
        self.pending.is_some() || self.scanned > 0
    }

    /// For a `PUB`/`HPUB` whose payload is incomplete: the total number of bytes the whole
    /// frame occupies at the start of the buffer (control line + payload + `\r\n`). Only a
    /// hint (e.g. to size the next read); never needed for correctness.
    pub fn pending_frame_len(&self) -> Option<usize> {
        self.pending.map(|p| p.body + p.total + 2)
    }

    /// Parse one frame from the START of `buf`.
    ///
    /// `Ok(Some((frame, n)))`: the frame used `buf[..n]`. `Ok(None)`: need more bytes — keep
    /// `buf`, append, and call again with a buffer that starts with the same bytes.
    /// `Err`: protocol error (send [`ParseError::err_text`] and close).
    pub fn parse<'a>(
        &mut self,
        buf: &'a [u8],
        limits: &Limits,
    ) -> Result<Option<(Frame<'a>, usize)>, ParseError> {
        if let Some(p) = self.pending {
            if buf.len() >= p.body {
                return self.finish_payload(buf, p);
            }
            // The caller broke the contract (shorter buffer): start over.
            self.pending = None;
        }
        if self.scanned > buf.len() {
            self.scanned = 0;
        }
        if self.scanned == 0 {
            if let Some(result) = self.parse_plain_pub(buf, limits) {
                return result;
            }
        }
        let result = self.parse_line(buf, limits);
        if result.is_err() {
            self.scanned = 0;
            self.pending = None;
        }
        result
    }

    /// Fast path for the most common frames, a complete `PUB <subject> [reply] <size>\r\n`
    /// line in upper case with single spaces: one pass over the line finds the tokens and
    /// its end (no `memchr` set-up, no general argument splitting, no second scan for
    /// blanks). Anything else (odd blanks, control bytes, lower case, too many or too few
    /// tokens, errors, partial lines) returns `None` and takes the general path, which gives
    /// the same frame or the exact error.
    #[inline]
    fn parse_plain_pub<'a>(
        &mut self,
        buf: &'a [u8],
        limits: &Limits,
    ) -> Option<Result<Option<(Frame<'a>, usize)>, ParseError>> {
        if !buf.starts_with(b"PUB ") {
            return None;
        }
        // Token ends; a token is a run of bytes above ' ' ended by one ' ' or by "\r\n".
        let mut ends = [0usize; 3];
        let mut n = 0;
        let mut i = 4;
        loop {
            let len = buf.get(i..)?.iter().position(|&b| b <= b' ')?;
            if len == 0 || n == ends.len() {
                return None;
            }
            i += len;
            ends[n] = i;
            n += 1;
            match buf[i] {
                b' ' => i += 1,
                b'\r' => break,
                _ => return None,
            }
        }
        if buf.get(i + 1) != Some(&b'\n') || i - 4 > limits.max_control_line {
            return None;
        }
        let (reply, size) = match n {
            2 => (None, (ends[0] + 1, ends[1])),
            3 => (Some((ends[0] + 1, ends[1])), (ends[1] + 1, ends[2])),
            _ => return None,
        };
        let total = parse_size(slice(buf, size))?;
        if total > limits.max_payload {
            return None;
        }
        let p = Pending { body: i + 2, subject: (4, ends[0]), reply, hdr: 0, total, is_hpub: false };
        Some(self.finish_payload(buf, p))
    }

    fn parse_line<'a>(
        &mut self,
        buf: &'a [u8],
        limits: &Limits,
    ) -> Result<Option<(Frame<'a>, usize)>, ParseError> {
        let mcl = limits.max_control_line;
        let Some((op, name_len)) = recognize(buf)? else { return Ok(None) };

        if matches!(op, Op::Ping | Op::Pong | Op::Ok) {
            let from = self.scanned.max(name_len);
            let rest = buf.get(from..).unwrap_or_default();
            return match memchr(b'\n', rest) {
                Some(k) => {
                    let nl = from + k;
                    if nl - name_len > mcl {
                        return Err(ParseError::MaxControlLine);
                    }
                    self.scanned = 0;
                    let frame = match op {
                        Op::Ping => Frame::Ping,
                        Op::Pong => Frame::Pong,
                        _ => Frame::Ok,
                    };
                    Ok(Some((frame, nl + 1)))
                }
                None => {
                    if buf.len() - name_len > mcl {
                        return Err(ParseError::MaxControlLine);
                    }
                    self.scanned = buf.len();
                    Ok(None)
                }
            };
        }

        // Skip the blanks before the argument.
        let blanks = buf
            .get(name_len..)
            .unwrap_or_default()
            .iter()
            .take_while(|&&b| is_blank(b))
            .count();
        if blanks > mcl {
            return Err(ParseError::MaxControlLine);
        }
        let arg_start = name_len + blanks;
        if arg_start >= buf.len() {
            return Ok(None);
        }
        // The first argument byte is taken as is; the line ends at the next '\n'.
        let from = self.scanned.max(arg_start + 1);
        let rest = buf.get(from..).unwrap_or_default();
        let Some(k) = memchr(b'\n', rest) else {
            let partial = buf.len() - arg_start;
            if partial > mcl {
                let drop = memchr(b'\r', buf.get(arg_start + 1..).unwrap_or_default()).is_some();
                if partial - usize::from(drop) > mcl {
                    return Err(ParseError::MaxControlLine);
                }
            }
            self.scanned = buf.len();
            return Ok(None);
        };
        self.scanned = 0;
        let nl = from + k;
        let inner = buf.get(arg_start + 1..nl).unwrap_or_default();
        let drop = inner.last() == Some(&b'\r') || memchr(b'\r', inner).is_some();
        let arg = buf.get(arg_start..nl - usize::from(drop)).unwrap_or_default();
        if arg.len() > mcl {
            return Err(ParseError::MaxControlLine);
        }
        let used = nl + 1;
        match op {
            Op::Pub | Op::Hpub => self.parse_pub(buf, arg, used, op == Op::Hpub, limits),
            Op::Sub => {
                let (a, n) = split::<3>(arg, is_split_arg_sep);
                let frame = match n {
                    2 => Frame::Sub { subject: a[0], queue: None, sid: a[1] },
                    3 => Frame::Sub { subject: a[0], queue: Some(a[1]), sid: a[2] },
                    _ => return Err(ParseError::ProtocolViolation),
                };
                Ok(Some((frame, used)))
            }
            Op::Unsub => {
                let (a, n) = split::<2>(arg, is_split_arg_sep);
                let frame = match n {
                    1 => Frame::Unsub { sid: a[0], max: None },
                    2 => Frame::Unsub { sid: a[0], max: Some(a[1]) },
                    _ => return Err(ParseError::ProtocolViolation),
                };
                Ok(Some((frame, used)))
            }
            Op::Connect => Ok(Some((Frame::Connect(trim_end_blanks(arg)), used))),
            Op::Info => Ok(Some((Frame::Info(trim_end_blanks(arg)), used))),
            Op::Err => Ok(Some((Frame::Err(arg), used))),
            Op::Ping | Op::Pong | Op::Ok => Err(ParseError::UnknownOp), // handled above
        }
    }

    fn parse_pub<'a>(
        &mut self,
        buf: &'a [u8],
        arg: &'a [u8],
        body: usize,
        is_hpub: bool,
        limits: &Limits,
    ) -> Result<Option<(Frame<'a>, usize)>, ParseError> {
        let (a, n) = split::<4>(arg, is_blank);
        let (subject, reply, hdr, total) = match (is_hpub, n) {
            (false, 2) => (a[0], None, None, a[1]),
            (false, 3) => (a[0], Some(a[1]), None, a[2]),
            (true, 3) => (a[0], None, Some(a[1]), a[2]),
            (true, 4) => (a[0], Some(a[1]), Some(a[2]), a[3]),
            _ => return Err(ParseError::ProtocolViolation),
        };
        let hdr = match hdr {
            Some(h) => parse_size(h).ok_or(ParseError::ProtocolViolation)?,
            None => 0,
        };
        let total = parse_size(total).ok_or(ParseError::ProtocolViolation)?;
        if hdr > total {
            return Err(ParseError::ProtocolViolation);
        }
        if total > limits.max_payload {
            return Err(ParseError::MaxPayload);
        }
        let p = Pending {
            body,
            subject: range_in(buf, subject),
            reply: reply.map(|r| range_in(buf, r)),
            hdr,
            total,
            is_hpub,
        };
        self.finish_payload(buf, p)
    }

    #[inline]
    fn finish_payload<'a>(
        &mut self,
        buf: &'a [u8],
        p: Pending,
    ) -> Result<Option<(Frame<'a>, usize)>, ParseError> {
        let end = p.body + p.total;
        match buf.get(end..end + 2) {
            Some(b"\r\n") => {}
            Some(_) => return self.fail(ParseError::UnknownOp),
            None => {
                if buf.len() > end && buf[end] != b'\r' {
                    return self.fail(ParseError::UnknownOp);
                }
                self.pending = Some(p);
                return Ok(None);
            }
        }
        self.pending = None;
        let split_at = p.body + p.hdr;
        let headers = if p.hdr > 0 { Some(slice(buf, (p.body, split_at))) } else { None };
        let msg = Message {
            subject: slice(buf, p.subject),
            reply: p.reply.map(|r| slice(buf, r)),
            headers,
            payload: slice(buf, (split_at, end)),
            is_hpub: p.is_hpub,
        };
        Ok(Some((Frame::Pub(msg), end + 2)))
    }

    fn fail<T>(&mut self, e: ParseError) -> Result<T, ParseError> {
        self.pending = None;
        self.scanned = 0;
        Err(e)
    }
}

#[inline]
fn trim_end_blanks(s: &[u8]) -> &[u8] {
    let n = s.iter().rev().take_while(|&&b| is_blank(b)).count();
    &s[..s.len() - n]
}
