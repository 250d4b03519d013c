//! TLS for the client port: the `tls {}` options (`config`), the rustls server
//! configuration built from them (`server`), and the identity a verified client
//! certificate carries, mapped to a user as nats-server's `verify_and_map` does
//! (`identity`). Routes use the same options with both sides verified (`route`).
pub mod config;
pub mod identity;
pub mod route;
pub mod server;

pub use config::{parse_tls_block, TlsOptions};
pub use identity::{CertIdentity, Dn};
pub use route::RouteTls;
pub use server::{ServerTls, TlsError};
