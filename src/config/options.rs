//! Typed server options with nats-server defaults.
use std::path::PathBuf;
use std::time::Duration;

/// Everything the server needs to run. Defaults follow nats-server 2.9.10 (`server/const.go`).
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Interface to listen on for clients (`host`, `net`, `listen`, `-a`).
    pub host: String,
    /// Client port. 0 means the default 4222; -1 picks a free port.
    pub port: i32,
    /// `server_name`; the server id is used when absent.
    pub server_name: Option<String>,
    /// Largest payload a client may publish, in bytes (default 1 MiB).
    pub max_payload: u32,
    /// Longest control line (arguments of one op), in bytes (default 4096).
    pub max_control_line: u32,
    /// Most client connections at once (default 65536).
    pub max_connections: usize,
    /// Outbound bytes a connection may have queued before it is a slow consumer (default 64 MiB).
    pub max_pending: u64,
    /// Most subscriptions per connection; 0 = unlimited.
    pub max_subscriptions: u32,
    /// Interval between server PINGs (default 2m).
    pub ping_interval: Duration,
    /// Outstanding PINGs before the connection is stale (default 2).
    pub ping_max: u32,
    /// How long a write may make no progress before the client is cut off (default 10s).
    pub write_deadline: Duration,
    pub debug: bool,
    pub trace: bool,
    /// Timestamps in log lines (default true).
    pub logtime: bool,
    pub log_file: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    /// Worker threads (event loops); 0 = one per core.
    pub workers: usize,
    /// The config file these options came from, if any.
    pub config_file: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            host: "0.0.0.0".to_string(),
            port: 4222,
            server_name: None,
            max_payload: 1024 * 1024,
            max_control_line: 4096,
            max_connections: 64 * 1024,
            max_pending: 64 * 1024 * 1024,
            max_subscriptions: 0,
            ping_interval: Duration::from_secs(120),
            ping_max: 2,
            write_deadline: Duration::from_secs(10),
            debug: false,
            trace: false,
            logtime: true,
            log_file: None,
            pid_file: None,
            workers: 0,
            config_file: None,
        }
    }
}
