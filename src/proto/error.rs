//! Protocol errors and how the server reports them.

/// A protocol error: the connection sends [`ParseError::err_text`] (if any) and closes with
/// [`ParseError::close_reason`].
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Unknown or client-illegal operation (`MSG`, `R…`, `A…`, `L…`, `HMSG`, garbage), a
    /// missing blank after `PUB`/`SUB`/…, or a payload not followed by exactly `\r\n`.
    #[error("unknown protocol operation")]
    UnknownOp,
    /// The size announced by `PUB`/`HPUB` is larger than `max_payload`.
    #[error("maximum payload violation")]
    MaxPayload,
    /// A control line (complete, or still waiting for its `\n`) is longer than
    /// `max_control_line`.
    #[error("maximum control line exceeded")]
    MaxControlLine,
    /// Wrong argument count, a bad size, or `#hdr > #total`: nats-server closes silently.
    #[error("protocol violation")]
    ProtocolViolation,
}

impl ParseError {
    /// The exact text nats-server 2.9.10 sends as `-ERR '<text>'`; `None` = close silently.
    pub fn err_text(&self) -> Option<&'static str> {
        match self {
            ParseError::UnknownOp => Some("Unknown Protocol Operation"),
            ParseError::MaxPayload => Some("Maximum Payload Violation"),
            ParseError::MaxControlLine => Some("maximum control line exceeded"),
            ParseError::ProtocolViolation => None,
        }
    }

    /// The close reason shown in `/connz` (nats-server's `ClosedState` string).
    pub fn close_reason(&self) -> &'static str {
        match self {
            ParseError::UnknownOp | ParseError::ProtocolViolation => "Protocol Violation",
            ParseError::MaxPayload => "Maximum Message Payload Exceeded",
            ParseError::MaxControlLine => "Maximum Control Line Exceeded",
        }
    }
}
