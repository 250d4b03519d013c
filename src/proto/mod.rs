//! The NATS client protocol: zero-copy parser and encoders.
//!
//! * [`Parser`] turns the bytes a client sent into [`Frame`]s that borrow from the read buffer
//!   (no copy, no allocation per frame). It follows nats-server 2.9.10's `server/parser.go`
//!   byte for byte where that is observable; the few deliberate differences are listed on
//!   [`Parser`].
//! * [`parse_connect`] decodes the CONNECT JSON like Go's `encoding/json` into `ClientOpts`.
//! * `encode` appends server → client protocol lines (`MSG`, `HMSG`, `-ERR`, `INFO`, …) to a
//!   caller-owned buffer.

mod args;
mod connect;
mod encode;
mod error;
mod frame;
mod info;
mod parser;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use connect::{check_info, parse_connect, ConnectError, ConnectOptions};
pub use encode::{write_err, write_info, write_msg, OK, PING, PONG};
pub(crate) use encode::write_usize;
pub use error::ParseError;
pub use frame::{Frame, Limits, Message};
pub use info::ServerInfo;
pub use parser::Parser;
