//! natrix: a NATS-compatible message broker.
//!
//! The crate is split by responsibility (see `docs/architecture.md`):
//! `config` (file format, options, command line), `proto` (zero-copy client
//! protocol parser and encoders), `subject` (subject validation and the sharded
//! subscription trie), `server` (mio workers, connections, delivery) and
//! `logging`.

pub mod account_names;
pub mod auth;
pub mod cluster;
pub mod config;
pub mod control;
pub mod jwt;
pub mod logging;
pub mod monitor;
pub mod proto;
pub mod server;
pub mod subject;
pub mod tls;
pub mod trust;

/// The protocol version string natrix reports in INFO (it speaks the 2.9.10 dialect).
pub const VERSION: &str = "2.9.10";
/// natrix's own version.
pub const NATRIX_VERSION: &str = env!("CARGO_PKG_VERSION");
