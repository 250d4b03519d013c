//! Route protocol encoders (nats-server 2.9 wire format): single spaces, CRLF.
use crate::proto::write_usize;
use std::io::Write;

/// `RS+ <acc> <subj>` or `RS+ <acc> <subj> <queue> <weight>`.
pub fn write_rs_plus(out: &mut Vec<u8>, account: &[u8], subject: &[u8], queue: Option<(&[u8], u32)>) {
    write_plus(out, b"RS+ ", Some(account), subject, queue);
}

/// `RS- <acc> <subj>[ <queue>]`.
pub fn write_rs_minus(out: &mut Vec<u8>, account: &[u8], subject: &[u8], queue: Option<&[u8]>) {
    write_minus(out, b"RS- ", Some(account), subject, queue);
}

/// `LS+ <subj>` or `LS+ <subj> <queue> <weight>` (a leaf link is bound to one account).
pub fn write_ls_plus(out: &mut Vec<u8>, subject: &[u8], queue: Option<(&[u8], u32)>) {
    write_plus(out, b"LS+ ", None, subject, queue);
}

/// `LS- <subj>[ <queue>]`.
pub fn write_ls_minus(out: &mut Vec<u8>, subject: &[u8], queue: Option<&[u8]>) {
    write_minus(out, b"LS- ", None, subject, queue);
}

fn write_plus(out: &mut Vec<u8>, op: &[u8], account: Option<&[u8]>, subject: &[u8], queue: Option<(&[u8], u32)>) {
    out.extend_from_slice(op);
    if let Some(a) = account {
        out.extend_from_slice(a);
        out.push(b' ');
    }
    out.extend_from_slice(subject);
    if let Some((q, w)) = queue {
        out.push(b' ');
        out.extend_from_slice(q);
        let _ = write!(out, " {}", w.max(1));
    }
    out.extend_from_slice(b"\r\n");
}

fn write_minus(out: &mut Vec<u8>, op: &[u8], account: Option<&[u8]>, subject: &[u8], queue: Option<&[u8]>) {
    out.extend_from_slice(op);
    if let Some(a) = account {
        out.extend_from_slice(a);
        out.push(b' ');
    }
    out.extend_from_slice(subject);
    if let Some(q) = queue {
        out.push(b' ');
        out.extend_from_slice(q);
    }
    out.extend_from_slice(b"\r\n");
}

/// `RMSG`/`HMSG` with the queue groups picked for the receiving route. `headers` is
/// `None` for a peer without header support (the caller strips them). An empty reply
/// is never written (`+` with an empty reply broke the line in nats-server, PR #3185).
pub fn write_rmsg<'q>(
    out: &mut Vec<u8>,
    account: &[u8],
    subject: &[u8],
    reply: Option<&[u8]>,
    queues: impl Iterator<Item = &'q [u8]> + Clone,
    headers: Option<&[u8]>,
    payload: &[u8],
) {
    write_msg(out, Some(account), subject, reply, queues, headers, payload);
}

/// `LMSG`/`HMSG` for a leaf link (no account), same forms as `write_rmsg`.
pub fn write_lmsg<'q>(
    out: &mut Vec<u8>,
    subject: &[u8],
    reply: Option<&[u8]>,
    queues: impl Iterator<Item = &'q [u8]> + Clone,
    headers: Option<&[u8]>,
    payload: &[u8],
) {
    write_msg(out, None, subject, reply, queues, headers, payload);
}

fn write_msg<'q>(
    out: &mut Vec<u8>,
    account: Option<&[u8]>,
    subject: &[u8],
    reply: Option<&[u8]>,
    queues: impl Iterator<Item = &'q [u8]> + Clone,
    headers: Option<&[u8]>,
    payload: &[u8],
) {
    let reply = reply.filter(|r| !r.is_empty());
    let hlen = headers.map_or(0, <[u8]>::len);
    let total = hlen + payload.len();
    // One reservation for the whole frame (queue names aside): the per-message path
    // must not grow the buffer piecemeal.
    out.reserve(account.map_or(0, <[u8]>::len) + subject.len() + reply.map_or(0, <[u8]>::len) + total + 40);
    out.extend_from_slice(match (headers.is_some(), account.is_some()) {
        (true, _) => b"HMSG ",
        (false, true) => b"RMSG ",
        (false, false) => b"LMSG ",
    });
    if let Some(a) = account {
        out.extend_from_slice(a);
        out.push(b' ');
    }
    out.extend_from_slice(subject);
    let has_queues = queues.clone().next().is_some();
    match (reply, has_queues) {
        (Some(r), true) => {
            out.extend_from_slice(b" + ");
            out.extend_from_slice(r);
        }
        (None, true) => out.extend_from_slice(b" |"),
        (Some(r), false) => {
            out.push(b' ');
            out.extend_from_slice(r);
        }
        (None, false) => {}
    }
    for q in queues {
        out.push(b' ');
        out.extend_from_slice(q);
    }
    // Sizes without `core::fmt` (it was ~7% of a routing node's CPU).
    if headers.is_some() {
        out.push(b' ');
        write_usize(out, hlen);
    }
    out.push(b' ');
    write_usize(out, total);
    out.extend_from_slice(b"\r\n");
    if let Some(h) = headers {
        out.extend_from_slice(h);
    }
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::parser::{parse, RouteFrame};

    fn rmsg(reply: Option<&[u8]>, q: &[&[u8]], h: Option<&[u8]>) -> Vec<u8> {
        let mut out = Vec::new();
        write_rmsg(&mut out, b"$G", b"s", reply, q.iter().copied(), h, b"pp");
        out
    }

    #[test]
    fn forms_as_nats_server_writes_them() {
        assert_eq!(rmsg(None, &[], None), b"RMSG $G s 2\r\npp\r\n");
        assert_eq!(rmsg(Some(b"r"), &[], None), b"RMSG $G s r 2\r\npp\r\n");
        assert_eq!(rmsg(Some(b""), &[], None), b"RMSG $G s 2\r\npp\r\n");
        assert_eq!(rmsg(Some(b""), &[b"g"], None), b"RMSG $G s | g 2\r\npp\r\n");
        assert_eq!(rmsg(Some(b"r"), &[b"g1", b"g2"], None), b"RMSG $G s + r g1 g2 2\r\npp\r\n");
        assert_eq!(rmsg(None, &[b"g"], Some(b"hh")), b"HMSG $G s | g 2 4\r\nhhpp\r\n");
        let mut o = Vec::new();
        write_rs_plus(&mut o, b"$G", b"w", Some((b"g", 3)));
        write_rs_plus(&mut o, b"A", b"x.>", None);
        write_rs_minus(&mut o, b"$G", b"w", Some(b"g"));
        assert_eq!(o, b"RS+ $G w g 3\r\nRS+ A x.>\r\nRS- $G w g\r\n");
    }

    #[test]
    fn leaf_forms() {
        let mut o = Vec::new();
        write_ls_plus(&mut o, b"sq", Some((b"g", 2)));
        write_ls_plus(&mut o, b"foo", None);
        write_ls_minus(&mut o, b"sq", Some(b"g"));
        write_lmsg(&mut o, b"lq", Some(b"rep"), [&b"grp"[..]].into_iter(), None, b"hi");
        write_lmsg(&mut o, b"lfoo", None, std::iter::empty(), Some(b"NATS/1.0\r\n\r\n"), b"hi");
        assert_eq!(o, &b"LS+ sq g 2\r\nLS+ foo\r\nLS- sq g\r\nLMSG lq + rep grp 2\r\nhi\r\nHMSG lfoo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"[..]);
    }

    #[test]
    fn round_trip() {
        let out = rmsg(Some(b"r"), &[b"g1", b"g2"], Some(b"hh"));
        let Some((RouteFrame::Msg(m), n)) = parse(&out, 4096).unwrap() else { panic!() };
        assert_eq!(n, out.len());
        assert_eq!((m.reply, m.headers, m.payload), (Some(&b"r"[..]), Some(&b"hh"[..]), &b"pp"[..]));
        assert_eq!(m.queues.0, b"g1 g2");
    }
}
