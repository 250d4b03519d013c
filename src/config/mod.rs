//! Configuration: the NATS config file format, typed options and the command line.
pub mod options;
pub use options::Options;
