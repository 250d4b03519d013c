//! Clustering: the NATS route protocol as nats-server 2.9 speaks it, sans-IO.
//!
//! `parser` (RS+/RS-/RMSG/HMSG/INFO/CONNECT/PING/PONG/+OK/-ERR frames), `encode`,
//! `leaf` and `leaf_interest` (leaf links: handshake and LS+/LS- per link; the
//! parser and encoders are shared, `parse_leaf`/`write_lmsg`),
//! `info` (route INFO/CONNECT JSON and the handshake checks) and `interest` (local
//! interest counts → RS+/RS- updates; a peer's interest by raw key, with queue
//! weights), `link` (one route's handshake decisions), `gossip` (forwarding a new
//! route's INFO, implicit routes, duplicate links), `urls` (the client
//! `connect_urls` the routes bring), `permissions` (cluster import/export). The mio integration is
//! `server::cluster_conn` and `server::cluster_state`; nothing here does I/O.
pub mod encode;
pub mod gossip;
pub mod info;
pub mod interest;
pub mod leaf;
pub mod leaf_interest;
pub mod link;
pub mod parser;
pub mod permissions;
pub mod urls;
#[cfg(test)]
mod proptests;

pub use parser::{parse, parse_leaf, Queues, RouteFrame, RouteParseError, RoutedMsg};
