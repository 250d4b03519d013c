//! `natrix`: command line (nats-server compatible flags) → Options → server.
use natrix::config::cli::{self, Command};
use natrix::config::Options;
use natrix::{error, info, server, warn};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match cli::parse_args(args) {
        Err(e) => {
            eprintln!("natrix: {e}");
            eprintln!("{}", cli::usage());
            ExitCode::from(1)
        }
        Ok(Command::Help) => {
            println!("{}", cli::usage());
            ExitCode::SUCCESS
        }
        Ok(Command::Version) => {
            println!("natrix: v{} (nats-server v{} protocol)", natrix::NATRIX_VERSION, natrix::VERSION);
            ExitCode::SUCCESS
        }
        Ok(Command::CheckConfig { file }) => match Options::from_file(&file) {
            Ok((opts, warnings)) => {
                for w in &warnings {
                    eprintln!("natrix: warning: {w}");
                }
                if let Err(e) = opts.validate() {
                    eprintln!("natrix: {e}");
                    return ExitCode::from(1);
                }
                println!("natrix: configuration file {} is valid", file.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("natrix: {e}");
                ExitCode::from(1)
            }
        },
        Ok(Command::Signal { command, pid, pid_file }) => {
            match natrix::control::send(&command, pid.as_deref(), pid_file.as_deref()) {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("natrix: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Ok(Command::Run { options, warnings }) => run(*options, &warnings, args_for_reload()),
    }
}

/// Waits until lame duck mode has closed every client (or its duration is over),
/// then shuts the server down.
fn finish_lame_duck(shared: &natrix::server::shared::Shared) {
    let opts = shared.live_options();
    let deadline = std::time::Instant::now() + opts.lame_duck_duration + std::time::Duration::from_secs(1);
    // Give workers one tick to stop accepting before "no clients left" means done.
    std::thread::sleep(std::time::Duration::from_millis(200));
    while std::time::Instant::now() < deadline
        && shared.num_conns.load(std::sync::atomic::Ordering::Acquire) > 0
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    info!("Lame duck mode done, shutting down");
    shared.begin_shutdown();
}

/// Logs where a monitor listens, or why it could not start (`Err(())` then).
fn logged_listener<M>(kind: &str, host: &str, started: std::io::Result<M>, addr: impl Fn(&M) -> std::net::SocketAddr) -> Result<M, ()> {
    match started {
        Ok(m) => {
            // As nats-server: the configured host (not the `[::]` a default host binds).
            info!("Starting {kind} monitor on {}", server::listener::join_host_port(host, addr(&m).port()));
            Ok(m)
        }
        Err(e) => {
            error!("Can't listen on the {kind} monitor port: {e}");
            Err(())
        }
    }
}

fn args_for_reload() -> Vec<String> {
    std::env::args().skip(1).collect()
}

fn run(opts: Options, warnings: &[String], args: Vec<String>) -> ExitCode {
    if let Err(e) = natrix::logging::init(opts.log_file.as_deref(), opts.logtime, opts.debug, opts.trace, opts.log_size_limit) {
        eprintln!("natrix: cannot open log file: {e}");
        return ExitCode::from(1);
    }
    for w in warnings {
        warn!("{w}");
    }
    if let Err(e) = opts.validate() {
        error!("{e}");
        return ExitCode::from(1);
    }
    let signals = match signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2]) {
        Ok(s) => s,
        Err(e) => {
            error!("cannot install signal handlers: {e}");
            return ExitCode::from(1);
        }
    };
    info!("Starting natrix");
    info!("  Version:  {} (nats-server {} protocol)", natrix::NATRIX_VERSION, natrix::VERSION);
    if let Some(f) = &opts.config_file {
        info!("Using configuration file: {}", f.display());
    }
    if let Some(n) = server::rlimit::raise_nofile() {
        natrix::debug!("open files limit: {n}");
    }
    let pid_file = opts.pid_file.clone();
    let (opts_http_host, opts_http_port, opts_https_port) = (opts.http_host.clone(), opts.http_port, opts.https_port);
    let handle = match server::start(opts) {
        Ok(h) => h,
        Err(e) => {
            error!("Error listening on port: {e}");
            return ExitCode::from(1);
        }
    };
    info!("  Name:     {}", handle.shared.server_name);
    info!("  ID:       {}", handle.shared.server_id);
    info!("  Workers:  {}", handle.shared.inboxes.len());
    if let Some(path) = &pid_file {
        if let Err(e) = std::fs::write(path, std::process::id().to_string()) {
            error!("Could not write pidfile: {e}");
            handle.shutdown();
            return ExitCode::from(1);
        }
    }
    let host = opts_http_host.unwrap_or_else(|| handle.shared.opts.host.clone());
    let shared = &handle.shared;
    let monitor = (opts_http_port != 0)
        .then(|| logged_listener("http", &host, natrix::monitor::start(shared.clone(), &host, opts_http_port), |m| m.addr))
        .transpose();
    let https_monitor = (opts_https_port != 0)
        .then(|| logged_listener("https", &host, natrix::monitor::https::start(shared.clone(), &host, opts_https_port), |m| m.addr))
        .transpose();
    let (Ok(monitor), Ok(https_monitor)) = (monitor, https_monitor) else {
        handle.shutdown();
        return ExitCode::from(1);
    };
    info!(
        "Listening for client connections on {}",
        server::listener::join_host_port(&handle.shared.info_host, handle.addr.port())
    );
    if handle.shared.tls().is_some() {
        info!("TLS required for client connections");
    }
    let cluster_url = handle.shared.cluster.as_ref().map(|c| {
        info!("Cluster name is {}", c.name);
        info!("Listening for route connections on {}", c.listen);
        format!("nats://{}", c.listen)
    });
    info!("Server is ready");
    if let Some(dir) = &handle.shared.opts.ports_file_dir {
        let monitoring: Vec<String> = monitor.iter().map(|m| format!("http://{}", m.addr)).collect();
        write_ports_file(dir, &format!("nats://{}", handle.addr), cluster_url.as_deref(), &monitoring);
    }

    let shared = handle.shared.clone();
    std::thread::spawn(move || {
        let mut signals = signals;
        for sig in signals.forever() {
            match sig {
                SIGTERM if shared.lame_duck.get().is_some() => {
                    info!("Trapped \"terminated\" signal: ignored during lame duck mode");
                }
                SIGUSR2 => {
                    if shared.begin_lame_duck() {
                        info!("Entering lame duck mode, stop accepting new clients");
                        let sh = shared.clone();
                        std::thread::spawn(move || finish_lame_duck(&sh));
                    }
                }
                SIGINT | SIGTERM => {
                    let name = if sig == SIGINT { "interrupt" } else { "terminated" };
                    info!("Trapped \"{name}\" signal");
                    shared.begin_shutdown();
                    return;
                }
                SIGHUP => {
                    info!("Trapped \"hangup\" signal");
                    match server::reload::reload(&shared, &args) {
                        Ok(warnings) => {
                            for w in warnings {
                                warn!("{w}");
                            }
                            info!("Reloaded server configuration");
                        }
                        Err(e) => error!("Failed to reload server configuration: {e}"),
                    }
                }
                SIGUSR1 => match natrix::logging::reopen() {
                    Ok(true) => info!("File log re-opened"),
                    Ok(false) => {}
                    Err(e) => error!("Could not reopen the log file: {e}"),
                },
                other => warn!("Trapped signal {other}: ignored"),
            }
        }
    });
    handle.join();
    if let Some(m) = monitor {
        m.stop();
    }
    if let Some(m) = https_monitor {
        m.stop();
    }
    info!("Server Exiting..");
    ExitCode::SUCCESS
}

/// `--ports_file_dir`: `<dir>/<exe>_<pid>.ports` as nats-server writes it.
fn write_ports_file(dir: &std::path::Path, client: &str, cluster: Option<&str>, monitoring: &[String]) {
    let exe = std::env::args().next().unwrap_or_else(|| "natrix".into());
    let exe = std::path::Path::new(&exe).file_name().map_or("natrix".into(), |f| f.to_string_lossy().into_owned());
    let path = dir.join(format!("{exe}_{}.ports", std::process::id()));
    let mut body = serde_json::json!({ "nats": [client] });
    if let Some(c) = cluster {
        body["cluster"] = serde_json::json!([c]);
    }
    if !monitoring.is_empty() {
        body["monitoring"] = serde_json::json!(monitoring);
    }
    if let Err(e) = std::fs::write(&path, body.to_string()) {
        error!("writing ports file {}: {e}", path.display());
    }
}
