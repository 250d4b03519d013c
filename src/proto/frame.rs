//! The frames a client sends, borrowed from the read buffer.

/// Per-connection protocol limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest control-line argument (bytes after the op name and its blanks, without the
    /// line end); nats-server's `max_control_line` (default 4096).
    pub max_control_line: usize,
    /// Largest `PUB` size / `HPUB` total size (default 1 MiB).
    pub max_payload: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_control_line: 4096, max_payload: 1024 * 1024 }
    }
}

/// One client protocol operation. Every slice borrows from the parser's input buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// The JSON after `CONNECT` (leading and trailing blanks trimmed). Decode with
    /// [`parse_connect`](super::parse_connect).
    Connect(&'a [u8]),
    /// The JSON after a client `INFO` (nats-server decodes it, closes on bad JSON, ignores it).
    Info(&'a [u8]),
    /// `PUB` or `HPUB` with its payload.
    Pub(Message<'a>),
    /// `SUB <subject> [queue] <sid>`.
    Sub { subject: &'a [u8], queue: Option<&'a [u8]>, sid: &'a [u8] },
    /// `UNSUB <sid> [max]`; `max` is raw, the connection interprets it (nats-server:
    /// `parseSize`, so anything but 1–9 digits means "now").
    Unsub { sid: &'a [u8], max: Option<&'a [u8]> },
    /// `PING` (anything up to the line end is ignored).
    Ping,
    /// `PONG`.
    Pong,
    /// `+OK` (nats-server ignores it).
    Ok,
    /// `-ERR <text>` from a client: nats-server closes the connection (reason "Parse Error").
    Err(&'a [u8]),
}

/// A published message (`PUB` or `HPUB`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    pub subject: &'a [u8],
    pub reply: Option<&'a [u8]>,
    /// `Some(non-empty header block)` only for `HPUB` with `#hdr > 0`.
    pub headers: Option<&'a [u8]>,
    /// The body after the headers.
    pub payload: &'a [u8],
    /// True for `HPUB`, even when `#hdr == 0` (then `headers` is `None`). nats-server refuses
    /// HPUB (silent close) unless the client said `"headers":true`.
    pub is_hpub: bool,
}
