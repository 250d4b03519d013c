//! The INFO line sent on accept: a per-worker template, completed per connection
//! with `client_id` and `client_ip`.
use super::shared::Shared;
use crate::config::Options;
use crate::proto::{self, ServerInfo};
use std::net::SocketAddr;

/// The server's INFO fields (those that are the same for every connection).
pub fn template(shared: &Shared, opts: &Options) -> ServerInfo {
    ServerInfo {
        server_id: shared.server_id.clone(),
        server_name: shared.server_name.clone(),
        version: crate::VERSION.to_string(),
        proto: 1,
        go: concat!("natrix-", env!("CARGO_PKG_VERSION")).to_string(),
        host: shared.info_host.clone(),
        port: shared.info_port,
        headers: true,
        max_payload: i32::try_from(opts.max_payload).unwrap_or(i32::MAX),
        cluster: shared.cluster.as_ref().map(|c| c.name.clone()).filter(|n| !n.is_empty()),
        ..ServerInfo::default()
    }
}

/// Appends the full INFO line for one connection.
pub fn write_info(out: &mut Vec<u8>, template: &ServerInfo, cid: u64, addr: SocketAddr, nonce: Option<&str>) {
    let mut info = template.clone();
    info.nonce = nonce.map(str::to_string);
    info.client_id = cid;
    info.client_ip = Some(addr.ip().to_string());
    proto::write_info(out, &info);
}
