//! Header blocks as clients send them (`NATS/1.0[ status]\r\n`, `Name: value\r\n`
//! lines, continuation lines starting with a space or tab, `\r\n`): finding the
//! headers natrix reserves for itself and copying a block without them.

/// The name prefix natrix reserves (any case).
const RESERVED_PREFIX: &[u8] = b"natrix-";
/// Written by natrix on service imports; a client's copy is never passed on.
const REQUEST_INFO: &[u8] = b"nats-request-info";

/// The field name of a header line (`None` for the status line's successors that
/// have no colon, and for continuation lines).
#[inline]
fn field_name(line: &[u8]) -> Option<&[u8]> {
    if matches!(line.first(), Some(b' ' | b'\t')) {
        return None;
    }
    memchr::memchr(b':', line).map(|i| line[..i].trim_ascii())
}

/// Whether a field name is reserved: `Natrix-*` or `Nats-Request-Info`, any case.
#[inline]
pub fn is_reserved(name: &[u8]) -> bool {
    (name.len() >= RESERVED_PREFIX.len() && name[..RESERVED_PREFIX.len()].eq_ignore_ascii_case(RESERVED_PREFIX))
        || is_request_info(name)
}

/// The lines of a header block after the status line (each with its line end),
/// without the final empty line.
fn field_lines(h: &[u8]) -> impl Iterator<Item = &[u8]> {
    let body = h.strip_suffix(b"\r\n").unwrap_or(h);
    let mut lines = body.split_inclusive(|&b| b == b'\n');
    lines.next();
    lines
}

/// The status line of a header block, line end included (`NATS/1.0\r\n` if missing).
pub fn status_line(h: &[u8]) -> &[u8] {
    match memchr::memchr(b'\n', h) {
        Some(i) => &h[..=i],
        None => b"NATS/1.0\r\n",
    }
}

/// Whether the block holds a reserved header. A quick scan: only lines whose first
/// byte is `N`/`n` are looked at closer.
#[inline]
pub fn has_reserved(h: &[u8]) -> bool {
    field_lines(h).any(|l| matches!(l.first(), Some(b'N' | b'n')) && field_name(l).is_some_and(is_reserved))
}

/// Appends the field lines of `h` (not the status line, not the final empty line)
/// to `out`, leaving out reserved fields with their continuation lines. Returns
/// whether any was left out.
pub fn copy_fields_without_reserved(h: &[u8], out: &mut Vec<u8>) -> bool {
    copy_fields_without(field_lines(h), out, is_reserved)
}

/// Whether a field name is `Nats-Request-Info` (any case).
#[inline]
pub fn is_request_info(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(REQUEST_INFO)
}

/// Appends header field `lines` (each with its line end) to `out`, leaving out the
/// fields whose name `drop` selects together with their continuation lines. Returns
/// whether any field was left out.
pub fn copy_fields_without<'h>(lines: impl Iterator<Item = &'h [u8]>, out: &mut Vec<u8>, drop: impl Fn(&[u8]) -> bool) -> bool {
    let (mut dropping, mut dropped) = (false, false);
    for line in lines {
        if !matches!(line.first(), Some(b' ' | b'\t')) {
            dropping = field_name(line).is_some_and(&drop);
            dropped |= dropping;
        }
        if !dropping {
            out.extend_from_slice(line);
        }
    }
    dropped
}

/// The values of every copy of field `name` (any case), trimmed.
pub fn values<'h, 'n>(h: &'h [u8], name: &'n [u8]) -> impl Iterator<Item = &'h [u8]> + use<'h, 'n> {
    field_lines(h).filter_map(move |line| {
        let n = field_name(line)?;
        if !n.eq_ignore_ascii_case(name) {
            return None;
        }
        let colon = memchr::memchr(b':', line)?;
        Some(line[colon + 1..].trim_ascii())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_names() {
        for n in ["Natrix-Sender", "natrix-sender", "NATRIX-X", "Natrix-", "Nats-Request-Info", "nats-request-INFO"] {
            assert!(is_reserved(n.as_bytes()), "{n}");
        }
        for n in ["Natrix", "Nats-Request-Infox", "X-Natrix-Sender", "Nats-Msg-Id", ""] {
            assert!(!is_reserved(n.as_bytes()), "{n}");
        }
    }

    #[test]
    fn strips_every_copy_and_continuations() {
        let h = b"NATS/1.0\r\nNatrix-Sender: {\"acc\":\"X\"}\r\nA: 1\r\nnatrix-sender : f\r\n  cont\r\nNATS-REQUEST-INFO:g\r\nB: 2\r\n\r\n";
        assert!(has_reserved(h));
        let mut out = Vec::new();
        copy_fields_without_reserved(h, &mut out);
        assert_eq!(out, b"A: 1\r\nB: 2\r\n");
        let clean = b"NATS/1.0 503\r\nNatrixfoo: 1\r\nX-Natrix-Sender: 2\r\n\r\n";
        assert!(!has_reserved(clean));
        assert_eq!(status_line(clean), b"NATS/1.0 503\r\n");
    }

    #[test]
    fn header_values() {
        let h = b"NATS/1.0\r\nce-type: a.b\r\nX: 1\r\nCE-Type:c \r\n\r\n";
        let v: Vec<&[u8]> = values(h, b"ce-type").collect();
        assert_eq!(v, vec![&b"a.b"[..], &b"c"[..]]);
        assert_eq!(values(b"NATS/1.0\r\n\r\n", b"ce-type").count(), 0);
    }
}
