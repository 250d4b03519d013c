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

/// Append `MSG <subject> <sid> [reply] <#bytes>\r\n<payload>\r\n`, or, when `headers` is
/// `Some`, `HMSG <subject> <sid> [reply] <#hdr> <#total>\r\n<headers><payload>\r\n`.
pub fn write_msg(
    out: &mut Vec<u8>,
    subject: &[u8],
    sid: &[u8],
    reply: Option<&[u8]>,
    headers: Option<&[u8]>,
    payload: &[u8],
) {
    let hdr_len = headers.map_or(0, <[u8]>::len);
    // op + 3 blanks + 2 numbers (≤ 20 digits each) + CRLF + body + CRLF
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
