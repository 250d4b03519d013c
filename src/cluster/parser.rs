//! The route protocol parser (nats-server 2.9 wire format), sans-IO and stateless:
//! each call parses one complete frame from the start of a buffer, borrowing it, or
//! says that more bytes are needed. Control lines may be long (an RMSG can name many
//! queue groups), so the limit is wider than the client one.
use thiserror::Error;

/// A routed message can be at most this big (routes carry no max_payload check in
/// nats-server; a hostile peer must still not make us buffer gigabytes).
pub const MAX_ROUTE_PAYLOAD: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RouteParseError {
    /// An op a route may not send (`MSG`, `PUB`, `SUB`, leaf ops …).
    #[error("Unknown Protocol Operation")]
    UnknownOp,
    #[error("Maximum Control Line Exceeded")]
    ControlLineTooLong,
    #[error("processing {0}: wrong number of arguments")]
    BadArgs(&'static str),
    #[error("processing {0}: bad size")]
    BadSize(&'static str),
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("message payload is not followed by CRLF")]
    MissingCrlf,
}

impl RouteParseError {
    /// The `-ERR` text sent to the peer before closing.
    pub fn err_text(self) -> &'static str {
        match self {
            RouteParseError::UnknownOp => "Unknown Protocol Operation",
            RouteParseError::ControlLineTooLong => "Maximum Control Line Exceeded",
            RouteParseError::PayloadTooLarge => "Maximum Payload Exceeded",
            _ => "Protocol Error",
        }
    }
}

/// A queue-group list of an RMSG/HMSG: the raw, space-separated names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Queues<'a>(pub &'a [u8]);

impl<'a> Queues<'a> {
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.0.split(|b| is_space(*b)).filter(|s| !s.is_empty())
    }

    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    pub fn contains(&self, q: &[u8]) -> bool {
        self.iter().any(|x| x == q)
    }
}

/// An RMSG or HMSG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoutedMsg<'a> {
    pub account: &'a [u8],
    pub subject: &'a [u8],
    pub reply: Option<&'a [u8]>,
    /// Groups the sender picked this server's members for (no list: no queue delivery).
    pub queues: Queues<'a>,
    pub headers: Option<&'a [u8]>,
    pub payload: &'a [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteFrame<'a> {
    Info(&'a [u8]),
    Connect(&'a [u8]),
    Ping,
    Pong,
    Ok,
    Err(&'a [u8]),
    /// `RS+ <acc> <subj> [<queue> <weight>]`. `key` is `"<acc> <subj>[ <queue>]"` with
    /// single spaces, the text nats-server keys remote interest by.
    Sub { account: &'a [u8], subject: &'a [u8], queue: Option<&'a [u8]>, weight: u32 },
    /// `RS- <acc> <subj> [<queue>]`.
    Unsub { account: &'a [u8], subject: &'a [u8], queue: Option<&'a [u8]> },
    Msg(RoutedMsg<'a>),
    /// `A+`/`A-`: gateway-only ops nats-server ignores on routes.
    Ignored,
}

#[inline]
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn args(line: &[u8]) -> smallvec::SmallVec<[&[u8]; 8]> {
    line.split(|b| is_space(*b)).filter(|s| !s.is_empty()).collect()
}

fn parse_size(s: &[u8]) -> Option<usize> {
    if s.is_empty() || s.len() > 10 {
        return None;
    }
    // At most 10 digits: no overflow in u64.
    let mut n = 0u64;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(b - b'0');
    }
    usize::try_from(n).ok()
}

/// The slice of `line` from the start of `first` to the end of `last` (both sub-slices).
fn span<'a>(line: &'a [u8], first: &[u8], last: &[u8]) -> &'a [u8] {
    let base = line.as_ptr() as usize;
    let start = first.as_ptr() as usize - base;
    let end = last.as_ptr() as usize - base + last.len();
    &line[start..end]
}

/// Parses one frame at the start of `buf`. `Ok(None)`: incomplete, read more.
/// Returns the frame and the number of bytes it used.
pub fn parse(buf: &[u8], max_line: usize) -> Result<Option<(RouteFrame<'_>, usize)>, RouteParseError> {
    parse_as(buf, max_line, Dialect::Route)
}

/// Which link a frame comes from: routes name the account in every op (RS+/RS-/RMSG);
/// leaf links are bound to one account and leave it out (LS+/LS-/LMSG; HMSG and RMSG
/// without an account). Leaf frames carry an empty `account`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Route,
    Leaf,
}

/// `parse` for a leaf link.
pub fn parse_leaf(buf: &[u8], max_line: usize) -> Result<Option<(RouteFrame<'_>, usize)>, RouteParseError> {
    parse_as(buf, max_line, Dialect::Leaf)
}

fn parse_as(buf: &[u8], max_line: usize, dialect: Dialect) -> Result<Option<(RouteFrame<'_>, usize)>, RouteParseError> {
    let Some(nl) = memchr::memchr(b'\n', buf) else {
        if buf.len() > max_line {
            return Err(RouteParseError::ControlLineTooLong);
        }
        return Ok(None);
    };
    if nl > max_line {
        return Err(RouteParseError::ControlLineTooLong);
    }
    let mut line = &buf[..nl];
    if line.last() == Some(&b'\r') {
        line = &line[..line.len() - 1];
    }
    let trimmed_start = line.iter().position(|b| !is_space(*b)).unwrap_or(line.len());
    let line = &line[trimmed_start..];
    let op_end = line.iter().position(|b| is_space(*b)).unwrap_or(line.len());
    let (op, rest) = line.split_at(op_end);
    let rest_trim = {
        let s = rest.iter().position(|b| !is_space(*b)).unwrap_or(rest.len());
        &rest[s..]
    };
    let used = nl + 1;
    // Case-insensitive op without allocating: uppercase into a small stack buffer.
    let mut upper = [0u8; 8];
    let op: &[u8] = if op.len() <= upper.len() {
        for (d, s) in upper.iter_mut().zip(op) {
            *d = s.to_ascii_uppercase();
        }
        &upper[..op.len()]
    } else {
        return Err(RouteParseError::UnknownOp);
    };
    let frame = match op {
        b"PING" => RouteFrame::Ping,
        b"PONG" => RouteFrame::Pong,
        b"+OK" => RouteFrame::Ok,
        b"-ERR" => RouteFrame::Err(rest_trim),
        b"INFO" => RouteFrame::Info(rest_trim),
        b"CONNECT" => RouteFrame::Connect(rest_trim),
        b"A+" | b"A-" => RouteFrame::Ignored,
        b"RS+" if dialect == Dialect::Route => sub_frame(&args(rest), "RS+", true)?,
        b"LS+" if dialect == Dialect::Leaf => sub_frame(&args(rest), "LS+", false)?,
        b"RS-" if dialect == Dialect::Route => unsub_frame(&args(rest), "RS-", true)?,
        b"LS-" if dialect == Dialect::Leaf => unsub_frame(&args(rest), "LS-", false)?,
        b"RMSG" => return parse_msg(buf, rest, used, false, dialect),
        b"LMSG" if dialect == Dialect::Leaf => return parse_msg(buf, rest, used, false, dialect),
        b"HMSG" => return parse_msg(buf, rest, used, true, dialect),
        _ => return Err(RouteParseError::UnknownOp),
    };
    Ok(Some((frame, used)))
}

/// `RS+ <acc> <subj> [<queue> <weight>]` or (leaf) `LS+ <subj> [<queue> <weight>]`.
fn sub_frame<'a>(a: &[&'a [u8]], name: &'static str, with_account: bool) -> Result<RouteFrame<'a>, RouteParseError> {
    let (account, a) = split_account(a, with_account).ok_or(RouteParseError::BadArgs(name))?;
    match a.len() {
        1 => Ok(RouteFrame::Sub { account, subject: a[0], queue: None, weight: 0 }),
        3 => {
            let w = parse_size(a[2]).filter(|w| *w > 0 && *w <= u32::MAX as usize).ok_or(RouteParseError::BadSize(name))?;
            Ok(RouteFrame::Sub { account, subject: a[0], queue: Some(a[1]), weight: w as u32 })
        }
        _ => Err(RouteParseError::BadArgs(name)),
    }
}

/// `RS- <acc> <subj> [<queue>]` or (leaf) `LS- <subj> [<queue>]`.
fn unsub_frame<'a>(a: &[&'a [u8]], name: &'static str, with_account: bool) -> Result<RouteFrame<'a>, RouteParseError> {
    let (account, a) = split_account(a, with_account).ok_or(RouteParseError::BadArgs(name))?;
    match a.len() {
        1 => Ok(RouteFrame::Unsub { account, subject: a[0], queue: None }),
        2 => Ok(RouteFrame::Unsub { account, subject: a[0], queue: Some(a[1]) }),
        _ => Err(RouteParseError::BadArgs(name)),
    }
}

fn split_account<'a, 's>(a: &'s [&'a [u8]], with_account: bool) -> Option<(&'a [u8], &'s [&'a [u8]])> {
    if !with_account {
        return Some((&[], a));
    }
    let (first, rest) = a.split_first()?;
    Some((first, rest))
}

fn parse_msg<'a>(
    buf: &'a [u8],
    rest: &'a [u8],
    used: usize,
    hdr: bool,
    dialect: Dialect,
) -> Result<Option<(RouteFrame<'a>, usize)>, RouteParseError> {
    let name = match (hdr, dialect) {
        (true, _) => "HMSG",
        (false, Dialect::Route) => "RMSG",
        (false, Dialect::Leaf) => "LMSG",
    };
    let a = args(rest);
    let sizes = if hdr { 2 } else { 1 };
    let (account, a) = match dialect {
        Dialect::Route => (a.first().copied().unwrap_or_default(), a.get(1..).unwrap_or_default()),
        Dialect::Leaf => (&[][..], &a[..]),
    };
    if a.len() < 1 + sizes {
        return Err(RouteParseError::BadArgs(name));
    }
    if dialect == Dialect::Route && account.is_empty() {
        return Err(RouteParseError::BadArgs(name));
    }
    let mid = &a[1..a.len() - sizes];
    let (reply, queues) = match mid.len() {
        0 => (None, Queues::default()),
        1 => (Some(mid[0]), Queues::default()),
        _ => match mid[0] {
            b"+" => {
                let q = if mid.len() > 2 { Queues(span(rest, mid[2], mid[mid.len() - 1])) } else { Queues::default() };
                (Some(mid[1]), q)
            }
            b"|" => (None, Queues(span(rest, mid[1], mid[mid.len() - 1]))),
            _ => return Err(RouteParseError::BadArgs(name)),
        },
    };
    let total = parse_size(a[a.len() - 1]).ok_or(RouteParseError::BadSize(name))?;
    let hsize = if hdr {
        let h = parse_size(a[a.len() - 2]).ok_or(RouteParseError::BadSize(name))?;
        if h > total {
            return Err(RouteParseError::BadSize(name));
        }
        Some(h)
    } else {
        None
    };
    if total > MAX_ROUTE_PAYLOAD {
        return Err(RouteParseError::PayloadTooLarge);
    }
    let end = used + total;
    if buf.len() < end + 2 {
        return Ok(None);
    }
    if &buf[end..end + 2] != b"\r\n" {
        return Err(RouteParseError::MissingCrlf);
    }
    let body = &buf[used..end];
    let (headers, payload) = match hsize {
        Some(h) => (Some(&body[..h]), &body[h..]),
        None => (None, body),
    };
    let msg = RoutedMsg { account, subject: a[0], reply, queues, headers, payload };
    Ok(Some((RouteFrame::Msg(msg), end + 2)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &[u8]) -> RouteFrame<'_> {
        let (f, n) = parse(s, 4096).unwrap().unwrap();
        assert_eq!(n, s.len(), "whole input used");
        f
    }

    fn msg(s: &[u8]) -> RoutedMsg<'_> {
        match one(s) {
            RouteFrame::Msg(m) => m,
            f => panic!("{f:?}"),
        }
    }

    #[test]
    fn interest_ops() {
        assert_eq!(one(b"RS+ $G foo\r\n"), RouteFrame::Sub { account: b"$G", subject: b"foo", queue: None, weight: 0 });
        assert_eq!(
            one(b"RS+  $G w g 3\r\n"),
            RouteFrame::Sub { account: b"$G", subject: b"w", queue: Some(b"g"), weight: 3 }
        );
        assert_eq!(one(b"rs- $G w g\r\n"), RouteFrame::Unsub { account: b"$G", subject: b"w", queue: Some(b"g") });
        assert_eq!(one(b"RS- $G w\r\n"), RouteFrame::Unsub { account: b"$G", subject: b"w", queue: None });
        assert_eq!(parse(b"RS+ $G\r\n", 99), Err(RouteParseError::BadArgs("RS+")));
        assert_eq!(parse(b"RS+ $G w g 0\r\n", 99), Err(RouteParseError::BadSize("RS+")));
        assert_eq!(parse(b"RS+ $G w g x\r\n", 99), Err(RouteParseError::BadSize("RS+")));
    }

    #[test]
    fn all_rmsg_forms() {
        let m = msg(b"RMSG $G foo 2\r\nhi\r\n");
        assert_eq!((m.account, m.subject, m.reply, m.payload), (&b"$G"[..], &b"foo"[..], None, &b"hi"[..]));
        let m = msg(b"RMSG $G baz rep 3\r\nabc\r\n");
        assert_eq!(m.reply, Some(&b"rep"[..]));
        assert!(m.queues.is_empty());
        let m = msg(b"RMSG $G m + rr g1 g2 1\r\nx\r\n");
        assert_eq!(m.reply, Some(&b"rr"[..]));
        assert_eq!(m.queues.iter().collect::<Vec<_>>(), vec![&b"g1"[..], b"g2"]);
        let m = msg(b"RMSG $G m | g1 g2 1\r\nx\r\n");
        assert_eq!(m.reply, None);
        assert!(m.queues.contains(b"g2") && !m.queues.contains(b"g"));
        let m = msg(b"RMSG $G qq + r0 1\r\nx\r\n");
        assert_eq!((m.reply, m.queues.is_empty()), (Some(&b"r0"[..]), true));
        let m = msg(b"HMSG $G baz 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
        assert_eq!(m.headers, Some(&b"NATS/1.0\r\n\r\n"[..]));
        assert_eq!(m.payload, b"hi");
        let m = msg(b"HMSG $G s + r q 2 3\r\nabc\r\n");
        assert_eq!((m.headers, m.payload, m.queues.0), (Some(&b"ab"[..]), &b"c"[..], &b"q"[..]));
    }

    #[test]
    fn bad_and_partial() {
        assert_eq!(parse(b"RMSG $G foo 5\r\nhi", 99), Ok(None));
        assert_eq!(parse(b"RMSG $G foo", 99), Ok(None));
        assert_eq!(parse(b"RMSG $G foo x y 1\r\nh\r\n", 99), Err(RouteParseError::BadArgs("RMSG")));
        assert_eq!(parse(b"RMSG $G foo 1\r\nhXX", 99), Err(RouteParseError::MissingCrlf));
        assert_eq!(parse(b"HMSG $G foo 3 2\r\nhi\r\n", 99), Err(RouteParseError::BadSize("HMSG")));
        assert_eq!(parse(b"RMSG $G foo -1\r\n", 99), Err(RouteParseError::BadSize("RMSG")));
        assert_eq!(parse(b"MSG foo 1 1\r\nx\r\n", 99), Err(RouteParseError::UnknownOp));
        assert_eq!(parse(b"LS+ LC $G x\r\n", 99), Err(RouteParseError::UnknownOp));
        assert_eq!(parse(b"RMSG $G foo 99999999\r\n", 99), Err(RouteParseError::PayloadTooLarge));
        assert_eq!(parse(&[b'R'; 200], 99), Err(RouteParseError::ControlLineTooLong));
        assert_eq!(one(b"A+ x\r\n"), RouteFrame::Ignored);
        assert_eq!(one(b"INFO {\"a\":1} \r\n"), RouteFrame::Info(b"{\"a\":1} "));
        assert_eq!(one(b"-ERR 'x'\r\n"), RouteFrame::Err(b"'x'"));
        assert_eq!(one(b"PING\r\n"), RouteFrame::Ping);
    }

    fn leaf(s: &[u8]) -> RouteFrame<'_> {
        let (f, n) = parse_leaf(s, 4096).unwrap().unwrap();
        assert_eq!(n, s.len(), "whole input used");
        f
    }

    #[test]
    fn leaf_forms() {
        assert_eq!(leaf(b"LS+ foo\r\n"), RouteFrame::Sub { account: b"", subject: b"foo", queue: None, weight: 0 });
        assert_eq!(leaf(b"LS+ sq g 2\r\n"), RouteFrame::Sub { account: b"", subject: b"sq", queue: Some(b"g"), weight: 2 });
        assert_eq!(leaf(b"ls- sq g\r\n"), RouteFrame::Unsub { account: b"", subject: b"sq", queue: Some(b"g") });
        assert_eq!(parse_leaf(b"LS+ a b c d\r\n", 99), Err(RouteParseError::BadArgs("LS+")));
        assert_eq!(parse_leaf(b"RS+ $G foo\r\n", 99), Err(RouteParseError::UnknownOp));
        let RouteFrame::Msg(m) = leaf(b"LMSG lq + rep grp 2\r\nhi\r\n") else { panic!() };
        assert_eq!((m.account, m.subject, m.reply, m.queues.0), (&b""[..], &b"lq"[..], Some(&b"rep"[..]), &b"grp"[..]));
        let RouteFrame::Msg(m) = leaf(b"HMSG lfoo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n") else { panic!() };
        assert_eq!((m.subject, m.payload), (&b"lfoo"[..], &b"hi"[..]));
        // A leaf link takes RMSG as LMSG.
        let RouteFrame::Msg(m) = leaf(b"RMSG foo r 1\r\nx\r\n") else { panic!() };
        assert_eq!((m.subject, m.reply), (&b"foo"[..], Some(&b"r"[..])));
        assert_eq!(parse_leaf(b"LMSG 1\r\nx\r\n", 99), Err(RouteParseError::BadArgs("LMSG")));
        assert_eq!(parse(b"LMSG foo 1\r\nx\r\n", 99), Err(RouteParseError::UnknownOp));
    }
}
