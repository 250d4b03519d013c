//! Configuration: the NATS config file format, typed options and the command line.
pub mod cli;
pub mod cluster;
mod cluster_tls;
mod duration;
mod error;
pub mod leaf;
mod lexer;
pub mod listen;
pub mod options;
mod parser;

pub use duration::parse_duration;
pub use error::{ConfigError, ConfigWarning, Pos};
pub use listen::{parse_listen, HostPort};
pub use options::Options;
pub use parser::{parse_file, parse_str, Key, Node, Value};
