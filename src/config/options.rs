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
    /// Lame duck mode (SIGUSR2): how long to spread closing clients over (default 2m).
    pub lame_duck_duration: Duration,
    /// Lame duck mode: how long to wait before closing the first client (default 10s).
    pub lame_duck_grace_period: Duration,
    pub debug: bool,
    pub trace: bool,
    /// Timestamps in log lines (default true).
    pub logtime: bool,
    pub log_file: Option<PathBuf>,
    /// Rotate the log file past this many bytes (`logfile_size_limit`); 0 = never.
    pub log_size_limit: u64,
    pub pid_file: Option<PathBuf>,
    /// Worker threads (event loops); 0 = one per core.
    pub workers: usize,
    /// The config file these options came from, if any.
    pub config_file: Option<PathBuf>,
    /// `authorization`, `accounts`, `no_auth_user`, `system_account` (and `--user`,
    /// `--pass`, `--auth`).
    pub auth: crate::auth::AuthConfig,
    /// HTTP monitoring: host and port (`http`, `http_port`/`monitor_port`, `-m`); port 0 = off.
    pub http_host: Option<String>,
    pub http_port: i32,
    pub http_base_path: String,
    /// HTTPS monitoring port (`https`, `https_port`, `-ms`); 0 = off. Needs `tls {}`.
    pub https_port: i32,
    /// Client-port TLS (`tls {}` block, `--tls*` flags).
    pub tls: Option<crate::tls::TlsOptions>,
    /// `cluster {}` and the cluster flags (`None`: no block, no flags).
    pub cluster: Option<super::cluster::ClusterOptions>,
    /// `leafnodes {}` (`None`: no block).
    pub leafnodes: Option<super::leaf::LeafOptions>,
    /// `ports_file_dir`, `--ports_file_dir`: where to write `<exe>_<pid>.ports`.
    pub ports_file_dir: Option<PathBuf>,
    /// Top-level `message_trust {}` (every account); accounts may have their own.
    pub message_trust: Option<crate::trust::TrustConfig>,
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
            lame_duck_duration: Duration::from_secs(120),
            lame_duck_grace_period: Duration::from_secs(10),
            debug: false,
            trace: false,
            logtime: true,
            log_file: None,
            log_size_limit: 0,
            pid_file: None,
            workers: 0,
            config_file: None,
            auth: Default::default(),
            http_host: None,
            http_port: 0,
            http_base_path: String::new(),
            https_port: 0,
            tls: None,
            cluster: None,
            leafnodes: None,
            ports_file_dir: None,
            message_trust: None,
        }
    }
}

use std::path::Path;

use super::duration::parse_duration;
use super::error::{ConfigError, ConfigWarning};
use super::listen::parse_listen;
use super::parser::{parse_file, parse_str, Key, Node, Value};

/// Top-level keys of nats-server 2.9.10 that belong to features natrix does not have yet.
/// They are accepted with a warning.
const NOT_YET_SUPPORTED: &[&str] = &[
    "client_advertise",
    "server_tags",
    "mappings",
    "maps",
    "disable_sublist_cache",
    "no_sublist_cache",
    "gateway",
    "syslog",
    "remote_syslog",
    "prof_port",
    "max_traced_msg_len",
    "max_sub_tokens",
    "max_subscription_tokens",
    "ocsp",
    "allow_non_tls",
    "resolver_tls",
    "no_system",
    "no_sys_acc",
    "no_header_support",
    "connect_error_reports",
    "reconnect_error_reports",
    "websocket",
    "ws",
    "mqtt",
    "default_js_domain",
];

impl Options {
    /// Load a configuration file. Warnings are things natrix accepts but ignores.
    pub fn from_file(path: &Path) -> Result<(Options, Vec<ConfigWarning>), ConfigError> {
        let root = parse_file(path)?;
        let (mut opts, warnings) = Options::from_node(&root)?;
        opts.config_file = Some(path.to_path_buf());
        Ok((opts, warnings))
    }

    /// Load configuration text; `file` names it in positions and anchors relative includes.
    pub fn from_str(src: &str, file: &Path) -> Result<(Options, Vec<ConfigWarning>), ConfigError> {
        let root = parse_str(src, file)?;
        let (mut opts, warnings) = Options::from_node(&root)?;
        if !file.as_os_str().is_empty() {
            opts.config_file = Some(file.to_path_buf());
        }
        Ok((opts, warnings))
    }

    /// Build options from a parsed configuration tree (its top-level map).
    pub fn from_node(root: &Node) -> Result<(Options, Vec<ConfigWarning>), ConfigError> {
        let mut o = Options::default();
        let mut warnings = Vec::new();
        for (key, node) in root.entries() {
            o.apply_key(key, node, &mut warnings)?;
        }
        crate::jwt::config::check(&o.auth)?;
        o.apply_defaults();
        Ok((o, warnings))
    }

    /// Zero values mean "the default", as in nats-server's `setBaselineOptions`.
    pub fn apply_defaults(&mut self) {
        let d = Options::default();
        if self.host.is_empty() {
            self.host = d.host;
        }
        if self.port == 0 {
            self.port = d.port;
        }
        if self.max_payload == 0 {
            self.max_payload = d.max_payload;
        }
        if self.max_control_line == 0 {
            self.max_control_line = d.max_control_line;
        }
        if self.max_connections == 0 {
            self.max_connections = d.max_connections;
        }
        if self.max_pending == 0 {
            self.max_pending = d.max_pending;
        }
        if self.ping_interval.is_zero() {
            self.ping_interval = d.ping_interval;
        }
        if self.ping_max == 0 {
            self.ping_max = d.ping_max;
        }
        if self.write_deadline.is_zero() {
            self.write_deadline = d.write_deadline;
        }
    }

    fn apply_key(
        &mut self,
        key: &Key,
        v: &Node,
        warnings: &mut Vec<ConfigWarning>,
    ) -> Result<(), ConfigError> {
        let k = key.name.as_str();
        match k.to_ascii_lowercase().as_str() {
            "listen" => {
                let hp = parse_listen(k, v)?;
                self.host = hp.host.unwrap_or_default();
                self.port = hp.port;
            }
            "port" => self.port = int_in(k, v, -1, 65535)? as i32,
            "host" | "net" => self.host = string(k, v)?,
            "server_name" => self.server_name = Some(string(k, v)?),
            "max_payload" => self.max_payload = int_max(k, v, i32::MAX as i64)? as u32,
            "max_control_line" => self.max_control_line = int_max(k, v, i32::MAX as i64)? as u32,
            "max_connections" | "max_conn" => {
                self.max_connections = int_max(k, v, i32::MAX as i64)? as usize
            }
            "max_pending" => self.max_pending = int_max(k, v, i64::MAX)? as u64,
            "max_subscriptions" | "max_subs" => {
                self.max_subscriptions = int_max(k, v, u32::MAX as i64)? as u32
            }
            "ping_interval" => self.ping_interval = duration(k, v, warnings)?,
            "ping_max" => self.ping_max = int_max(k, v, u32::MAX as i64)? as u32,
            "write_deadline" => self.write_deadline = duration(k, v, warnings)?,
            "lame_duck_duration" => self.lame_duck_duration = duration(k, v, warnings)?,
            "lame_duck_grace_period" => self.lame_duck_grace_period = duration(k, v, warnings)?,
            "debug" => self.debug = boolean(k, v)?,
            "trace" => self.trace = boolean(k, v)?,
            "trace_verbose" => {
                self.trace = boolean(k, v)?;
                warnings.push(ConfigWarning::at(
                    &key.pos,
                    format!("\"{k}\" is not supported by natrix yet; treated as \"trace\""),
                ));
            }
            "logtime" => self.logtime = boolean(k, v)?,
            "log_file" | "logfile" => self.log_file = Some(string(k, v)?.into()),
            "logfile_size_limit" | "log_size_limit" => self.log_size_limit = int_max(k, v, i64::MAX)? as u64,
            "pid_file" | "pidfile" => self.pid_file = Some(string(k, v)?.into()),
            "workers" => self.workers = int_max(k, v, 4096)? as usize,
            // A bare port (or ":port") leaves the host to default to the client host.
            "http" => {
                let hp = parse_listen(k, v)?;
                self.http_host = hp.host;
                self.http_port = hp.port;
            }
            "http_port" | "monitor_port" => self.http_port = int_in(k, v, -1, 65535)? as i32,
            "https" => {
                let hp = parse_listen(k, v)?;
                self.http_host = hp.host;
                self.https_port = hp.port;
            }
            "https_port" => self.https_port = int_in(k, v, -1, 65535)? as i32,
            "http_base_path" => self.http_base_path = string(k, v)?,
            "tls" => self.tls = Some(crate::tls::parse_tls_block(v, warnings)?),
            "cluster" => {
                let c = self.cluster.get_or_insert_with(Default::default);
                super::cluster::parse_cluster(v, c)?;
            }
            "leafnodes" | "leaf" => {
                let l = self.leafnodes.get_or_insert_with(Default::default);
                super::leaf::parse_leafnodes(v, l)?;
            }
            "ports_file_dir" => self.ports_file_dir = Some(string(k, v)?.into()),
            "authorization" => crate::auth::config::parse_authorization(v, &mut self.auth)?,
            "message_trust" => self.message_trust = Some(crate::trust::config::parse_trust(v)?),
            "accounts" => crate::auth::config::parse_accounts(v, &mut self.auth)?,
            "operator" | "operators" | "root" | "roots" | "root_operator" | "root_operators" => {
                crate::jwt::config::parse_operators(k, v, &mut self.auth.trust)?
            }
            "trusted" | "trusted_keys" => crate::jwt::config::parse_trusted_keys(k, v, &mut self.auth.trust)?,
            "resolver" | "account_resolver" | "accounts_resolver" => {
                crate::jwt::config::parse_resolver(k, v, &mut self.auth.trust)?
            }
            "resolver_preload" => crate::jwt::config::parse_preload(k, v, &mut self.auth.trust)?,
            "resolver_pinned_accounts" => crate::jwt::config::parse_pinned(k, v, &mut self.auth.trust)?,
            "no_auth_user" => self.auth.no_auth_user = Some(string(k, v)?),
            "system_account" | "system" | "no_system_account" => {
                if k.eq_ignore_ascii_case("no_system_account") {
                    self.auth.no_system_account = boolean(k, v)?;
                } else {
                    self.auth.system_account = Some(string(k, v)?);
                }
                warnings.push(ConfigWarning::at(
                    &key.pos,
                    format!("\"{k}\": natrix has no system account events; in operator mode it only serves account JWT updates and lookups"),
                ));
            }
            "jetstream" => {
                let disabled = match &v.value {
                    Value::Bool(b) => !b,
                    Value::String(s) => {
                        matches!(s.to_ascii_lowercase().as_str(), "disabled" | "disable")
                    }
                    _ => false,
                };
                if !disabled {
                    return Err(ConfigError::at(
                        &key.pos,
                        format!("natrix does not support JetStream; remove the \"{k}\" block"),
                    ));
                }
                warnings.push(ConfigWarning::at(
                    &key.pos,
                    format!("\"{k}\" is disabled and natrix has no JetStream; ignored"),
                ));
            }
            "store_dir" | "storedir" => warnings.push(ConfigWarning::at(
                &key.pos,
                format!(
                    "\"{k}\" only matters for JetStream, which natrix does not support; ignored"
                ),
            )),
            lower if NOT_YET_SUPPORTED.contains(&lower) => warnings.push(ConfigWarning::at(
                &key.pos,
                format!("\"{k}\" is not supported by natrix yet; ignored"),
            )),
            // A variable definition that was used as `$name` is not an option.
            _ if key.used_as_variable => {}
            _ => return Err(ConfigError::at(&key.pos, format!("unknown field \"{k}\""))),
        }
        Ok(())
    }

    /// Cross-field checks, as nats-server's `validateOptions`.
    pub fn validate(&self) -> Result<(), String> {
        self.auth.validate()?;
        if !(-1..=65535).contains(&self.port) {
            return Err(format!(
                "invalid port {}: must be between -1 and 65535",
                self.port
            ));
        }
        if self.host.is_empty() {
            return Err("host can not be empty".to_string());
        }
        if let Some(c) = &self.cluster {
            c.validate()?;
        }
        if let Some(l) = &self.leafnodes {
            let names: Vec<String> = self.auth.accounts.iter().map(|a| a.name.clone()).collect();
            l.validate(&names)?;
        }
        if self.https_port != 0 && self.tls.is_none() {
            return Err("https monitoring (https, https_port, -ms) needs TLS: add a tls {} block or --tls flags".to_string());
        }
        if let Some(name) = &self.server_name {
            if name.contains(' ') {
                return Err("server name cannot contain spaces".to_string());
            }
        }
        if self.max_payload > i32::MAX as u32 {
            return Err("max_payload value is too big".to_string());
        }
        if self.max_payload as u64 > self.max_pending {
            return Err(format!(
                "max_payload ({}) cannot be higher than max_pending ({})",
                self.max_payload, self.max_pending
            ));
        }
        if self.max_control_line == 0 || self.max_control_line > i32::MAX as u32 {
            return Err(format!(
                "invalid max_control_line {}",
                self.max_control_line
            ));
        }
        if self.max_connections == 0 {
            return Err("max_connections must be at least 1".to_string());
        }
        if self.ping_max < 1 {
            return Err("ping_max must be at least 1".to_string());
        }
        if self.ping_interval.is_zero() {
            return Err("ping_interval must be greater than zero".to_string());
        }
        if self.write_deadline.is_zero() {
            return Err("write_deadline must be greater than zero".to_string());
        }
        // As nats-server, the certificate files are loaded while checking the options,
        // so `-t`, start and reload all refuse a TLS block whose files do not load.
        if let Some(t) = &self.tls {
            crate::tls::ServerTls::new(t).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

fn type_err(k: &str, v: &Node, want: &str) -> ConfigError {
    ConfigError::at(
        &v.pos,
        format!("\"{k}\" must be {want}, got {}", v.value.type_name()),
    )
}

fn string(k: &str, v: &Node) -> Result<String, ConfigError> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| type_err(k, v, "a string"))
}

fn boolean(k: &str, v: &Node) -> Result<bool, ConfigError> {
    v.as_bool().ok_or_else(|| type_err(k, v, "a boolean"))
}

fn int_in(k: &str, v: &Node, min: i64, max: i64) -> Result<i64, ConfigError> {
    let n = v.as_int().ok_or_else(|| type_err(k, v, "an integer"))?;
    if n < min || n > max {
        return Err(ConfigError::at(
            &v.pos,
            format!("{k} value {n} is out of range ({min}..{max})"),
        ));
    }
    Ok(n)
}

/// A non-negative integer no larger than `max` (nats-server: "X value is too big").
fn int_max(k: &str, v: &Node, max: i64) -> Result<i64, ConfigError> {
    let n = v.as_int().ok_or_else(|| type_err(k, v, "an integer"))?;
    if n < 0 {
        return Err(ConfigError::at(
            &v.pos,
            format!("{k} value can not be negative"),
        ));
    }
    if n > max {
        return Err(ConfigError::at(&v.pos, format!("{k} value is too big")));
    }
    Ok(n)
}

/// A Go duration string, or (deprecated, with a warning) an integer number of seconds.
fn duration(
    k: &str,
    v: &Node,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<std::time::Duration, ConfigError> {
    match &v.value {
        Value::String(s) => parse_duration(s)
            .map_err(|e| ConfigError::at(&v.pos, format!("error parsing {k}: {e}"))),
        Value::Int(n) => {
            let secs = u64::try_from(*n)
                .map_err(|_| ConfigError::at(&v.pos, format!("{k} value can not be negative")))?;
            warnings.push(ConfigWarning::at(
                &v.pos,
                format!("{k} should be converted to a duration"),
            ));
            Ok(Duration::from_secs(secs))
        }
        _ => Err(type_err(k, v, "a duration string such as \"2s\"")),
    }
}

#[cfg(test)]
#[path = "options_tests.rs"]
mod tests;
