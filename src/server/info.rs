//! The INFO line sent on accept. The server part is rendered once per worker;
//! only `client_id` and `client_ip` are appended per connection.
use super::shared::Shared;
use std::fmt::Write as _;
use std::net::SocketAddr;

/// `INFO {"server_id":…,"max_payload":…` — everything up to the per-connection fields,
/// in nats-server 2.9.10's field order.
pub fn info_prefix(shared: &Shared) -> String {
    let s = |v: &str| serde_json::to_string(v).unwrap_or_else(|_| "\"\"".to_string());
    let mut out = String::with_capacity(256);
    let _ = write!(
        out,
        "INFO {{\"server_id\":{},\"server_name\":{},\"version\":{},\"proto\":1,\"go\":{},\"host\":{},\"port\":{},\"headers\":true,\"max_payload\":{}",
        s(&shared.server_id),
        s(&shared.server_name),
        s(crate::VERSION),
        s(concat!("natrix-", env!("CARGO_PKG_VERSION"))),
        s(&shared.info_host),
        shared.info_port,
        shared.opts.max_payload,
    );
    out
}

/// Appends the full INFO line for one connection.
pub fn write_info(out: &mut Vec<u8>, prefix: &str, cid: u64, addr: SocketAddr) {
    out.extend_from_slice(prefix.as_bytes());
    let mut tail = String::with_capacity(64);
    let _ = write!(tail, ",\"client_id\":{cid},\"client_ip\":\"{}\"}} \r\n", addr.ip());
    out.extend_from_slice(tail.as_bytes());
}
