//! Server → client protocol encoders. All append to a caller-owned buffer.

use super::ServerInfo;

/// `PING\r\n`
pub const PING: &[u8] = b"PING\r\n";
/// `PONG\r\n`
pub const PONG: &[u8] = b"PONG\r\n";
/// `+OK\r\n`
pub const OK: &[u8] = b"+OK\r\n";

/// Append the decimal form of `n` (no allocation).
#[inline]
pub(crate) fn write_usize(out: &mut Vec<u8>, mut n: usize) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
}

/// Room for a MSG/HMSG control line assembled on the stack (longer lines take `write_msg_long`).
const LINE: usize = 192;

/// Append `MSG <subject> <sid> [reply] <#bytes>\r\n<payload>\r\n`, or, when `headers` is
/// `Some`, `HMSG <subject> <sid> [reply] <#hdr> <#total>\r\n<headers><payload>\r\n`.
/// The control line is put together on the stack and appended with the body in three
/// copies (instead of one bounds-checked append per piece).
pub fn write_msg(
    out: &mut Vec<u8>,
    subject: &[u8],
    sid: &[u8],
    reply: Option<&[u8]>,
    headers: Option<&[u8]>,
    payload: &[u8],
) {
    let hdr_len = headers.map_or(0, <[u8]>::len);
    // op + 3 blanks + 2 numbers (≤ 20 digits each) + CRLF
    let need = 5 + subject.len() + sid.len() + reply.map_or(0, |r| r.len() + 1) + 48;
    if need > LINE {
        return write_msg_long(out, subject, sid, reply, headers, payload);
    }
    let mut line = [0u8; LINE];
    let mut n = 0;
    let mut put = |part: &[u8]| {
        line[n..n + part.len()].copy_from_slice(part);
        n += part.len();
    };
    put(if headers.is_some() { b"HMSG " } else { b"MSG " });
    put(subject);
    put(b" ");
    put(sid);
    put(b" ");
    if let Some(r) = reply {
        put(r);
        put(b" ");
    }
    if headers.is_some() {
        n = put_usize(&mut line, n, hdr_len);
        line[n] = b' ';
        n += 1;
    }
    n = put_usize(&mut line, n, hdr_len + payload.len());
    line[n..n + 2].copy_from_slice(b"\r\n");
    n += 2;
    out.reserve(n + hdr_len + payload.len() + 2);
    out.extend_from_slice(&line[..n]);
    if let Some(h) = headers {
        out.extend_from_slice(h);
    }
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
}

/// Writes the decimal form of `v` into `line` at `at`; returns the new end.
#[inline]
fn put_usize(line: &mut [u8; LINE], at: usize, mut v: usize) -> usize {
    // Sizes and sids are mostly short: up to three digits without a loop.
    if v < 1000 {
        let (h, t, o) = ((v / 100) as u8, (v / 10 % 10) as u8, (v % 10) as u8);
        let mut i = at;
        if h > 0 {
            line[i] = b'0' + h;
            i += 1;
        }
        if h > 0 || t > 0 {
            line[i] = b'0' + t;
            i += 1;
        }
        line[i] = b'0' + o;
        return i + 1;
    }
    let mut digits = 1;
    let mut t = v;
    while t >= 10 {
        t /= 10;
        digits += 1;
    }
    let end = at + digits;
    let mut i = end;
    loop {
        i -= 1;
        line[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    end
}

/// `write_msg` for control lines too long for the stack buffer: one append per piece.
fn write_msg_long(
    out: &mut Vec<u8>,
    subject: &[u8],
    sid: &[u8],
    reply: Option<&[u8]>,
    headers: Option<&[u8]>,
    payload: &[u8],
) {
    let hdr_len = headers.map_or(0, <[u8]>::len);
    out.reserve(
        5 + subject.len()
            + sid.len()
            + reply.map_or(0, |r| r.len() + 1)
            + 48
            + hdr_len
            + payload.len(),
    );
    out.extend_from_slice(if headers.is_some() { b"HMSG " } else { b"MSG " });
    out.extend_from_slice(subject);
    out.push(b' ');
    out.extend_from_slice(sid);
    out.push(b' ');
    if let Some(r) = reply {
        out.extend_from_slice(r);
        out.push(b' ');
    }
    if let Some(h) = headers {
        write_usize(out, h.len());
        out.push(b' ');
        write_usize(out, h.len() + payload.len());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(h);
    } else {
        write_usize(out, payload.len());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
}

/// Append `-ERR '<text>'\r\n`.
pub fn write_err(out: &mut Vec<u8>, text: &str) {
    out.reserve(text.len() + 9);
    out.extend_from_slice(b"-ERR '");
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"'\r\n");
}

/// Append `INFO {json} \r\n` exactly as nats-server 2.9.10 writes it (note the blank before
/// CRLF; the JSON uses Go's field order, omitempty rules and HTML-safe escaping).
pub fn write_info(out: &mut Vec<u8>, info: &ServerInfo) {
    out.extend_from_slice(b"INFO ");
    info.write_json(out);
    out.extend_from_slice(b" \r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stack-assembled line and the piecewise one give the same bytes, around the
    /// length where `write_msg` switches between them.
    #[test]
    fn short_and_long_lines_agree() {
        for len in [1usize, 10, 100, 130, 135, 140, 141, 142, 150, 300] {
            let subject = vec![b's'; len];
            for (reply, headers) in [(None, None), (Some(&b"r.1"[..]), None), (None, Some(&b"NATS/1.0\r\n\r\n"[..])), (Some(&b"_INBOX.x"[..]), Some(&b"NATS/1.0\r\n\r\n"[..]))] {
                for payload in [&b""[..], b"x", b"0123456789", &[7u8; 1000]] {
                    let (mut a, mut b) = (vec![1u8], vec![1u8]);
                    write_msg(&mut a, &subject, b"12345", reply, headers, payload);
                    write_msg_long(&mut b, &subject, b"12345", reply, headers, payload);
                    assert_eq!(a, b, "subject {len} reply {reply:?} headers {headers:?} payload {}", payload.len());
                }
            }
        }
        let mut a = Vec::new();
        write_msg(&mut a, b"foo", b"1", Some(b"bar"), None, b"hello");
        assert_eq!(a, b"MSG foo 1 bar 5\r\nhello\r\n");
        for v in [0usize, 1, 9, 10, 11, 99, 100, 101, 110, 999, 1000, 1001, 999_999_999, usize::MAX] {
            let mut line = [0u8; LINE];
            let end = put_usize(&mut line, 3, v);
            assert_eq!(&line[3..end], v.to_string().as_bytes());
        }
    }
}
