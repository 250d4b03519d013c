//! Message-level trust (`message_trust`, publish `types`): the parts that know
//! nothing about connections or sockets. `headers` finds and removes reserved
//! headers, `stamp` builds the `Natrix-Sender` line of a connection, `types`
//! compiles and checks the kind-of-message policy, `config` parses the blocks.
//! The server applies them in `server/trust_conn.rs`.
pub mod config;
pub mod headers;
pub mod stamp;
pub mod types;

pub use config::{StampFields, TrustConfig, TypesConfig};
pub use stamp::Stamp;
pub use types::{TypesPolicy, TypesRefusal};
