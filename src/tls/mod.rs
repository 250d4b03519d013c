//! TLS for the client port: the `tls {}` options (`config`), the rustls server
//! configuration built from them (`server`), and the identity a verified client
//! certificate carries, mapped to a user as nats-server's `verify_and_map` does
//! (`identity`).
pub mod config;
pub mod identity;
pub mod server;

pub use config::{parse_tls_block, TlsOptions};
pub use identity::{CertIdentity, Dn};
pub use server::{ServerTls, TlsError};
