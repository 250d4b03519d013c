//! The nats-server compatible command line, with Go `flag` package semantics:
//! one or two dashes, `-p 4222`, `-p=4222`, `--port=4222`, boolean flags as `-D` or
//! `-D=false`; parsing stops at the first non-flag argument or `--`.
//! Flags override the configuration file.
use std::path::{Path, PathBuf};

use super::error::{ConfigError, ConfigWarning};
use super::options::Options;

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Run the server with these options; `warnings` should be logged at start.
    Run {
        options: Box<Options>,
        warnings: Vec<String>,
    },
    /// `-t -c FILE`: check the configuration file and exit (see [`check_config`]).
    CheckConfig { file: PathBuf },
    /// `-v`: print the version and exit.
    Version,
    /// `-h`: print [`usage`] and exit.
    Help,
    /// `--signal CMD[=PID|=PIDFILE]`: signal a running natrix (see `crate::control`).
    Signal { command: String, pid: Option<String>, pid_file: Option<PathBuf> },
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CliError {
    /// Bad flag syntax, unknown flag or bad flag value (Go `flag` texts).
    #[error("{0}")]
    Flag(String),
    /// The configuration file could not be loaded.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The resulting options are inconsistent (e.g. max_payload above max_pending).
    #[error("{0}")]
    Invalid(String),
    /// A feature natrix does not have and cannot ignore (JetStream).
    #[error("{0}")]
    Unsupported(String),
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Bool,
    Int,
    Str,
}

#[derive(Clone, Copy, PartialEq)]
enum Target {
    Help,
    Version,
    Port,
    Host,
    Name,
    Debug,
    Trace,
    DebugTrace,
    Logtime,
    Config,
    Check,
    Pid,
    Log,
    Workers,
    StoreDir,
    JetStream,
    HelpTls,
    HttpPort,
    HttpsPort,
    Signal,
    LogSizeLimit,
    User,
    Pass,
    Auth,
    Tls,
    TlsVerify,
    TlsCert,
    TlsKey,
    TlsCa,
    Cluster,
    Routes,
    ClusterName,
    ClusterAdvertise,
    NoAdvertise,
    ConnectRetries,
    PortsFileDir,
    NotYet,
}

/// (names, kind, target)
const FLAGS: &[(&[&str], Kind, Target)] = &[
    (&["h", "help"], Kind::Bool, Target::Help),
    (&["v", "version"], Kind::Bool, Target::Version),
    (&["p", "port"], Kind::Int, Target::Port),
    (&["a", "addr", "net"], Kind::Str, Target::Host),
    (&["n", "name", "server_name"], Kind::Str, Target::Name),
    (&["D", "debug"], Kind::Bool, Target::Debug),
    (&["V", "trace", "VV"], Kind::Bool, Target::Trace),
    (&["DV", "DVV"], Kind::Bool, Target::DebugTrace),
    (&["T", "logtime"], Kind::Bool, Target::Logtime),
    (&["c", "config"], Kind::Str, Target::Config),
    (&["t"], Kind::Bool, Target::Check),
    (&["P", "pid"], Kind::Str, Target::Pid),
    (&["l", "log", "log_file"], Kind::Str, Target::Log),
    (&["workers"], Kind::Int, Target::Workers),
    (&["sd", "store_dir"], Kind::Str, Target::StoreDir),
    (&["js", "jetstream"], Kind::Bool, Target::JetStream),
    (&["help_tls"], Kind::Bool, Target::HelpTls),
    (&["user"], Kind::Str, Target::User),
    (&["m", "http_port"], Kind::Int, Target::HttpPort),
    (&["ms", "https_port"], Kind::Int, Target::HttpsPort),
    (&["sl", "signal"], Kind::Str, Target::Signal),
    (&["log_size_limit"], Kind::Int, Target::LogSizeLimit),
    (&["pass"], Kind::Str, Target::Pass),
    (&["auth"], Kind::Str, Target::Auth),
    (&["tls"], Kind::Bool, Target::Tls),
    (&["tlsverify"], Kind::Bool, Target::TlsVerify),
    (&["tlscert"], Kind::Str, Target::TlsCert),
    (&["tlskey"], Kind::Str, Target::TlsKey),
    (&["tlscacert"], Kind::Str, Target::TlsCa),
    (&["cluster", "cluster_listen"], Kind::Str, Target::Cluster),
    (&["routes"], Kind::Str, Target::Routes),
    (&["cluster_name"], Kind::Str, Target::ClusterName),
    (&["cluster_advertise"], Kind::Str, Target::ClusterAdvertise),
    (&["no_advertise"], Kind::Bool, Target::NoAdvertise),
    (&["connect_retries"], Kind::Int, Target::ConnectRetries),
    (&["ports_file_dir"], Kind::Str, Target::PortsFileDir),
    (
        &[
            "client_advertise",
            "r",
            "remote_syslog",
        ],
        Kind::Str,
        Target::NotYet,
    ),
    (
        &[
            "max_traced_msg_len",
            "profile",
        ],
        Kind::Int,
        Target::NotYet,
    ),
    (
        &["s", "syslog"],
        Kind::Bool,
        Target::NotYet,
    ),
];

fn lookup(name: &str) -> Option<(Kind, Target)> {
    FLAGS
        .iter()
        .find(|(names, _, _)| names.contains(&name))
        .map(|&(_, k, t)| (k, t))
}

/// Go `strconv.ParseBool`.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Flag values seen on the command line, to be laid over the configuration file.
#[derive(Default)]
struct Flags {
    help: bool,
    version: bool,
    check: bool,
    config: Option<PathBuf>,
    port: Option<i64>,
    host: Option<String>,
    name: Option<String>,
    debug: Option<bool>,
    trace: Option<bool>,
    logtime: Option<bool>,
    pid: Option<PathBuf>,
    log: Option<PathBuf>,
    workers: Option<i64>,
    jetstream: bool,
    http_port: Option<i64>,
    https_port: Option<i64>,
    signal: Option<String>,
    log_size_limit: Option<i64>,
    user: Option<String>,
    pass: Option<String>,
    auth: Option<String>,
    tls: TlsFlags,
    cluster: ClusterFlags,
    warnings: Vec<String>,
}

/// `--cluster`, `--routes`, `--cluster_name`, `--cluster_advertise`, `--no_advertise`,
/// `--connect_retries`, `--ports_file_dir`.
#[derive(Default)]
struct ClusterFlags {
    listen: Option<String>,
    routes: Option<String>,
    name: Option<String>,
    advertise: Option<String>,
    no_advertise: Option<bool>,
    connect_retries: Option<i64>,
    ports_file_dir: Option<PathBuf>,
}

impl ClusterFlags {
    /// Lays the flags over the file's `cluster` block (or a fresh one).
    fn apply(self, o: &mut Options) -> Result<(), CliError> {
        use super::cluster::{apply_cluster_flag, RouteUrl};
        if let Some(d) = self.ports_file_dir {
            o.ports_file_dir = Some(d);
        }
        let any = self.listen.is_some()
            || self.routes.is_some()
            || self.name.is_some()
            || self.advertise.is_some()
            || self.no_advertise.is_some()
            || self.connect_retries.is_some();
        if !any {
            return Ok(());
        }
        let c = o.cluster.get_or_insert_with(Default::default);
        if let Some(url) = self.listen {
            apply_cluster_flag(c, &url).map_err(CliError::Flag)?;
        }
        if let Some(list) = self.routes {
            // nats-server: the flag replaces the file's routes.
            c.routes = list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(RouteUrl::parse)
                .collect::<Result<_, _>>()
                .map_err(|e| CliError::Flag(format!("invalid value for flag -routes: {e}")))?;
        }
        if let Some(n) = self.name {
            c.name = Some(n);
        }
        if let Some(a) = self.advertise {
            c.advertise = Some(a);
        }
        if let Some(b) = self.no_advertise {
            c.no_advertise = b;
        }
        if let Some(n) = self.connect_retries {
            c.connect_retries = u32::try_from(n)
                .map_err(|_| CliError::Flag(format!("invalid value \"{n}\" for flag -connect_retries: out of range")))?;
        }
        Ok(())
    }
}

/// `--tls`, `--tlsverify`, `--tlscert`, `--tlskey`, `--tlscacert`.
#[derive(Default)]
struct TlsFlags {
    tls: Option<bool>,
    verify: Option<bool>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    ca: Option<PathBuf>,
}

impl TlsFlags {
    fn any(&self) -> bool {
        self.tls == Some(true) || self.verify == Some(true) || self.cert.is_some() || self.key.is_some() || self.ca.is_some()
    }

    /// Lays the flags over the file's `tls` block (or a fresh one), as nats-server's
    /// `overrideTLS`: a certificate and a key are then required.
    fn apply(self, o: &mut Options) -> Result<(), CliError> {
        if !self.any() {
            return Ok(());
        }
        let mut t = o.tls.take().unwrap_or_default();
        if let Some(c) = self.cert {
            t.cert_file = Some(c);
        }
        if let Some(k) = self.key {
            t.key_file = Some(k);
        }
        if let Some(c) = self.ca {
            t.ca_file = Some(c);
        }
        if let Some(v) = self.verify {
            t.verify = v;
        }
        if t.cert_file.is_none() {
            return Err(CliError::Invalid("TLS Server certificate must be present and valid".into()));
        }
        if t.key_file.is_none() {
            return Err(CliError::Invalid("TLS Server private key must be present and valid".into()));
        }
        if t.verifies_clients() && t.ca_file.is_none() {
            return Err(CliError::Invalid("--tlsverify needs --tlscacert (natrix does not use the system trust store for clients)".into()));
        }
        o.tls = Some(t);
        Ok(())
    }
}

enum Val {
    Bool(bool),
    Int(i64),
    Str(String),
}

fn parse_flags(args: Vec<String>) -> Result<Flags, CliError> {
    let mut f = Flags::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg.len() < 2 || !arg.starts_with('-') {
            // First non-flag argument: the rest are commands (Go `fs.Args()`).
            i -= 1;
            break;
        }
        let mut body = &arg[1..];
        if let Some(rest) = body.strip_prefix('-') {
            if rest.is_empty() {
                break; // "--" ends the flags
            }
            body = rest;
        }
        if body.starts_with('-') || body.starts_with('=') {
            return Err(CliError::Flag(format!("bad flag syntax: {arg}")));
        }
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let Some((kind, target)) = lookup(name) else {
            return Err(CliError::Flag(format!(
                "flag provided but not defined: -{name}"
            )));
        };
        let val = match kind {
            Kind::Bool => match inline {
                None => Val::Bool(true),
                Some(v) => Val::Bool(parse_bool(&v).ok_or_else(|| {
                    CliError::Flag(format!(
                        "invalid boolean value {v:?} for -{name}: parse error"
                    ))
                })?),
            },
            Kind::Int | Kind::Str => {
                let v = match inline {
                    Some(v) => v,
                    None => {
                        let Some(v) = args.get(i) else {
                            return Err(CliError::Flag(format!("flag needs an argument: -{name}")));
                        };
                        i += 1;
                        v.clone()
                    }
                };
                if kind == Kind::Int {
                    Val::Int(v.parse::<i64>().map_err(|_| {
                        CliError::Flag(format!("invalid value {v:?} for flag -{name}: parse error"))
                    })?)
                } else {
                    Val::Str(v)
                }
            }
        };
        apply(&mut f, name, target, val);
    }
    // Remaining arguments are commands, as nats-server's ProcessCommandLineArgs.
    for cmd in &args[i.min(args.len())..] {
        match cmd.as_str() {
            "version" => f.version = true,
            "help" => f.help = true,
            other => return Err(CliError::Flag(format!("unrecognized command: {other:?}"))),
        }
    }
    Ok(f)
}

fn apply(f: &mut Flags, name: &str, target: Target, val: Val) {
    let b = matches!(val, Val::Bool(true));
    match (target, val) {
        (Target::Help | Target::HelpTls, _) => f.help |= b,
        (Target::Version, _) => f.version |= b,
        (Target::Check, _) => f.check = b,
        (Target::Port, Val::Int(n)) => f.port = Some(n),
        (Target::Workers, Val::Int(n)) => f.workers = Some(n),
        (Target::Host, Val::Str(s)) => f.host = Some(s),
        (Target::Name, Val::Str(s)) => f.name = Some(s),
        (Target::Config, Val::Str(s)) => f.config = Some(PathBuf::from(s)),
        (Target::Pid, Val::Str(s)) => f.pid = Some(PathBuf::from(s)),
        (Target::Log, Val::Str(s)) => f.log = Some(PathBuf::from(s)),
        (Target::User, Val::Str(s)) => f.user = Some(s),
        (Target::HttpPort, Val::Int(n)) => f.http_port = Some(n),
        (Target::HttpsPort, Val::Int(n)) => f.https_port = Some(n),
        (Target::Signal, Val::Str(s)) => f.signal = Some(s),
        (Target::LogSizeLimit, Val::Int(n)) => f.log_size_limit = Some(n),
        (Target::Pass, Val::Str(s)) => f.pass = Some(s),
        (Target::Auth, Val::Str(s)) => f.auth = Some(s),
        (Target::Tls, _) => f.tls.tls = Some(b),
        (Target::TlsVerify, _) => f.tls.verify = Some(b),
        (Target::TlsCert, Val::Str(s)) => f.tls.cert = Some(PathBuf::from(s)),
        (Target::TlsKey, Val::Str(s)) => f.tls.key = Some(PathBuf::from(s)),
        (Target::TlsCa, Val::Str(s)) => f.tls.ca = Some(PathBuf::from(s)),
        (Target::Cluster, Val::Str(s)) => f.cluster.listen = Some(s),
        (Target::Routes, Val::Str(s)) => f.cluster.routes = Some(s),
        (Target::ClusterName, Val::Str(s)) => f.cluster.name = Some(s),
        (Target::ClusterAdvertise, Val::Str(s)) => f.cluster.advertise = Some(s),
        (Target::NoAdvertise, _) => f.cluster.no_advertise = Some(b),
        (Target::ConnectRetries, Val::Int(n)) => f.cluster.connect_retries = Some(n),
        (Target::PortsFileDir, Val::Str(s)) => f.cluster.ports_file_dir = Some(PathBuf::from(s)),
        (Target::Debug, _) => f.debug = Some(b),
        (Target::Trace, _) => f.trace = Some(b),
        (Target::DebugTrace, _) => {
            f.debug = Some(b);
            f.trace = Some(b);
        }
        (Target::Logtime, _) => f.logtime = Some(b),
        (Target::JetStream, _) => f.jetstream = b,
        (Target::StoreDir, _) => f.warnings.push(format!(
            "flag -{name} only matters for JetStream, which natrix does not support; ignored"
        )),
        _ => f.warnings.push(format!(
            "flag -{name} is not supported by natrix yet; ignored"
        )),
    }
}

/// Parse the command line (without argv\[0\]), load the configuration file given with
/// `-c` and lay the flags over it.
pub fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Command, CliError> {
    let f = parse_flags(args.into_iter().collect())?;
    if f.version {
        return Ok(Command::Version);
    }
    if f.help {
        return Ok(Command::Help);
    }
    if f.jetstream {
        return Err(CliError::Unsupported(
            "natrix does not support JetStream; remove the -js/--jetstream flag".to_string(),
        ));
    }
    if f.check {
        return match f.config {
            Some(file) => Ok(Command::CheckConfig { file }),
            None => Err(CliError::Flag(
                "must specify [-c, --config] option to check configuration file syntax".to_string(),
            )),
        };
    }
    let mut warnings = Vec::new();
    let mut o = match &f.config {
        Some(file) => {
            let (o, w) = Options::from_file(file)?;
            warnings.extend(w.iter().map(ToString::to_string));
            o
        }
        None => Options::default(),
    };
    warnings.extend(f.warnings);
    if let Some(p) = f.port {
        if !(-1..=65535).contains(&p) {
            return Err(CliError::Flag(format!(
                "invalid value \"{p}\" for flag -p: out of range"
            )));
        }
        o.port = p as i32;
    }
    if let Some(w) = f.workers {
        o.workers = usize::try_from(w).map_err(|_| {
            CliError::Flag(format!(
                "invalid value \"{w}\" for flag -workers: must not be negative"
            ))
        })?;
    }
    if let Some(h) = f.host {
        o.host = h;
    }
    if let Some(n) = f.name {
        o.server_name = Some(n);
    }
    if let Some(d) = f.debug {
        o.debug = d;
    }
    if let Some(t) = f.trace {
        o.trace = t;
    }
    if let Some(t) = f.logtime {
        o.logtime = t;
    }
    if let Some(p) = f.pid {
        o.pid_file = Some(p);
    }
    if let Some(l) = f.log {
        o.log_file = Some(l);
    }
    if let Some(n) = f.log_size_limit {
        o.log_size_limit = u64::try_from(n).map_err(|_| {
            CliError::Flag(format!("invalid value \"{n}\" for flag -log_size_limit: must not be negative"))
        })?;
    }
    // --signal acts on a running server: it needs only the pid file (from -P or -c).
    if let Some(sig) = f.signal {
        let mut parts = sig.split('=');
        let command = parts.next().unwrap_or_default().to_string();
        let pid = parts.next().map(str::to_string);
        let extra: Vec<&str> = parts.collect();
        if !extra.is_empty() {
            return Err(CliError::Flag(format!("invalid signal parameters: {extra:?}")));
        }
        return Ok(Command::Signal { command, pid, pid_file: o.pid_file });
    }
    if let Some(p) = f.http_port {
        o.http_port = i32::try_from(p).ok().filter(|p| (-1..=65535).contains(p)).ok_or_else(|| {
            CliError::Flag(format!("invalid value \"{p}\" for flag -m: out of range"))
        })?;
    }
    if let Some(p) = f.https_port {
        o.https_port = i32::try_from(p).ok().filter(|p| (-1..=65535).contains(p)).ok_or_else(|| {
            CliError::Flag(format!("invalid value \"{p}\" for flag -ms: out of range"))
        })?;
    }
    // --user/--pass/--auth as nats-server: a single user, or a single token.
    if let Some(u) = f.user {
        o.auth.user = Some(u);
    }
    if let Some(p) = f.pass {
        o.auth.password = Some(crate::auth::Secret(p));
    }
    if let Some(t) = f.auth {
        o.auth.token = Some(crate::auth::Secret(t));
    }
    f.tls.apply(&mut o)?;
    f.cluster.apply(&mut o)?;
    o.apply_defaults();
    o.validate().map_err(CliError::Invalid)?;
    Ok(Command::Run {
        options: Box::new(o),
        warnings,
    })
}

/// `-t`: load and validate a configuration file; on success the caller prints
/// `natrix: configuration file F is valid` (and the returned warnings).
pub fn check_config(file: &Path) -> Result<Vec<ConfigWarning>, CliError> {
    let (o, w) = Options::from_file(file)?;
    o.validate().map_err(CliError::Invalid)?;
    Ok(w)
}

/// Help text, in nats-server's style.
pub fn usage() -> &'static str {
    "\
Usage: natrix [options]

Server Options:
    -a, --addr, --net <host>         Bind to host address (default: 0.0.0.0)
    -p, --port <port>                Use port for clients (default: 4222; -1 picks a free port)
    -n, --name
        --server_name <server_name>  Server name (default: server id)
    -P, --pid <file>                 File to store PID
    -c, --config <file>              Configuration file
    -t                               Test configuration and exit
        --workers <n>                Event-loop threads (default: 0 = one per core)

Logging Options:
    -l, --log <file>                 File to redirect log output
    -T, --logtime                    Timestamp log entries (default: true)
    -D, --debug                      Enable debugging output
    -V, --trace                      Trace the raw protocol
    -VV                              Verbose trace (same as -V in natrix)
    -DV                              Debug and trace
    -DVV                             Debug and verbose trace (same as -DV in natrix)

Monitoring Options:
    -m, --http_port <port>           Use port for http monitoring (-1 picks a free port)
    -ms,--https_port <port>          Use port for https monitoring (needs the tls options)

Signal Options:
    -sl, --signal <signal>[=<pid>]   Send signal to a natrix process (stop, quit, reopen,
                                     reload, ldm, term); <pid> may be a pid file; without
                                     it, the -P/config pid file, else the one natrix running
        --log_size_limit <bytes>     Rotate the log file past this size

TLS Options:
        --tls                        Enable TLS, do not verify clients (default: false)
        --tlscert <file>             Server certificate file
        --tlskey <file>              Private key for server certificate
        --tlsverify                  Enable TLS, verify client certificates
        --tlscacert <file>           Client certificate CA for verification

Cluster Options (routes as nats-server 2.9; no gossip, no cluster TLS):
        --routes <rurl-1, rurl-2>    Routes to solicit and connect (nats://[user:pass@]host:port)
        --cluster <cluster-url>      Cluster URL for solicited routes (nats://host:port, port -1 = free)
        --cluster_listen <url>       Same as --cluster
        --cluster_name <string>      Cluster name (required when clustering)
        --cluster_advertise <string> Cluster URL to advertise to other servers
        --no_advertise <bool>        Do not advertise known cluster information to clients
        --connect_retries <number>   For implicit routes, number of connect retries
        --ports_file_dir <dir>       Write <exe>_<pid>.ports with the bound ports (as nats-server)

Common Options:
    -h, --help                       Show this message
    -v, --version                    Show version

Accepted for compatibility with nats-server and ignored with a warning:
    --client_advertise, -s/--syslog, -r/--remote_syslog,
    --max_traced_msg_len, --profile, -sd/--store_dir

Refused: -js/--jetstream (natrix has no JetStream)
"
}

#[cfg(test)]
#[path = "cli_tests.rs"]
mod tests;
