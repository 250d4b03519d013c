//! natrix-bench: a lean load generator for any NATS server (plain blocking sockets,
//! pre-built frames, big buffers), modelled on `nats bench`.
//!
//! ```text
//! natrix-bench <scenario> [--url 127.0.0.1:4222] [--size 16] [--secs 3] [--msgs N]
//!              [--subs N] [--pubs N] [--concurrency C] [--server-pid PID] [--json]
//!              [--hist-out FILE]
//!              [--tls --tls-ca FILE] [--creds FILE]
//! scenarios: pub ingest pubsub fanout queue reqrep wide conns subs ceiling handshakes connrate
//! (with --tls: pubsub and handshakes over TLS)
//! natrix-bench jwt-setup <dir>   (operator, account, user.creds and jwt.conf for connrate)
//! natrix-bench svg <label=file.csv>... > plot.svg
//! ```
mod client;
mod jwt_setup;
mod latency;
mod scenarios;
mod tls;

use scenarios::Outcome;
use std::process::ExitCode;

struct Args {
    scenario: String,
    url: String,
    size: Option<usize>,
    secs: f64,
    msgs: Option<u64>,
    subs: Option<usize>,
    pubs: usize,
    concurrency: usize,
    server_pid: Option<u32>,
    json: bool,
    hist_out: Option<String>,
    user: Option<String>,
    pass: Option<String>,
    tls: bool,
    tls_ca: Option<String>,
    rest: Vec<String>,
}

const USAGE: &str = "usage: natrix-bench <pub|ingest|pubsub|fanout|queue|reqrep|wide|conns|subs|ceiling|handshakes|connrate> \
[--url host:port] [--size B] [--secs S] [--msgs N] [--subs N] [--pubs N] [--concurrency C] \
[--server-pid PID] [--json] [--hist-out FILE] [--user U --pass P] [--tls --tls-ca FILE] [--creds FILE]\n       natrix-bench jwt-setup DIR\n       natrix-bench svg label=file.csv ... > plot.svg";

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let scenario = it.next().ok_or(USAGE)?;
    let mut a = Args {
        scenario,
        url: "127.0.0.1:4222".into(),
        size: None,
        secs: 3.0,
        msgs: None,
        subs: None,
        pubs: 1,
        concurrency: 1,
        server_pid: None,
        json: false,
        hist_out: None,
        user: None,
        pass: None,
        tls: false,
        tls_ca: None,
        rest: Vec::new(),
    };
    fn num<T: std::str::FromStr>(flag: &str, v: Option<String>) -> Result<T, String> {
        v.ok_or(format!("{flag} needs a value"))?.parse().map_err(|_| format!("{flag}: not a number"))
    }
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--url" => a.url = it.next().ok_or("--url needs a value")?.trim_start_matches("nats://").to_string(),
            "--port" => a.url = format!("127.0.0.1:{}", num::<u16>("--port", it.next())?),
            "--size" => a.size = Some(num("--size", it.next())?),
            "--secs" => a.secs = num("--secs", it.next())?,
            "--msgs" => a.msgs = Some(num("--msgs", it.next())?),
            "--subs" => a.subs = Some(num("--subs", it.next())?),
            "--pubs" => a.pubs = num("--pubs", it.next())?,
            "--concurrency" | "-c" => a.concurrency = num("--concurrency", it.next())?,
            "--server-pid" => a.server_pid = Some(num("--server-pid", it.next())?),
            "--json" => a.json = true,
            "--hist-out" => a.hist_out = Some(it.next().ok_or("--hist-out needs a file")?),
            "--user" => a.user = Some(it.next().ok_or("--user needs a value")?),
            "--pass" => a.pass = Some(it.next().ok_or("--pass needs a value")?),
            "--tls" => a.tls = true,
            "--tls-ca" => {
                a.tls_ca = Some(it.next().ok_or("--tls-ca needs a file")?);
                a.tls = true;
            }
            "--creds" => client::load_creds(&it.next().ok_or("--creds needs a file")?)?,
            "-h" | "--help" => return Err(USAGE.into()),
            other if a.scenario == "svg" || a.scenario == "jwt-setup" => a.rest.push(other.to_string()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(a)
}

fn run(a: &Args) -> std::io::Result<Outcome> {
    let size = a.size.unwrap_or(16);
    let tls = match (a.tls, &a.tls_ca) {
        (false, _) => None,
        (true, Some(ca)) => Some(tls::client_config(ca)?),
        (true, None) => return Err(std::io::Error::other("--tls needs --tls-ca FILE (the CA of the server certificate)")),
    };
    if let Some(cfg) = &tls {
        return match a.scenario.as_str() {
            "pubsub" => tls::pubsub(&a.url, cfg, size, a.msgs.unwrap_or(1_000_000)),
            "handshakes" => tls::handshakes(&a.url, Some(cfg), a.secs, a.concurrency),
            other => Err(std::io::Error::other(format!("scenario {other:?} has no TLS variant (pubsub, handshakes)"))),
        };
    }
    match a.scenario.as_str() {
        "handshakes" => tls::handshakes(&a.url, None, a.secs, a.concurrency),
        "pub" => scenarios::publish_only(&a.url, size, a.secs, a.pubs, 128),
        "ingest" => {
            let frame = size + 20;
            scenarios::publish_only(&a.url, size, a.secs, a.pubs, (64 * 1024 / frame).max(1))
        }
        "pubsub" => scenarios::fanout(&a.url, size, a.msgs.unwrap_or(2_000_000), 1),
        "fanout" => scenarios::fanout(&a.url, size, a.msgs.unwrap_or(500_000), a.subs.unwrap_or(4)),
        "queue" => scenarios::queue(&a.url, size, a.msgs.unwrap_or(500_000), a.subs.unwrap_or(4)),
        "reqrep" => scenarios::reqrep(&a.url, size, a.secs, a.concurrency),
        "wide" => scenarios::wide(&a.url, size, a.secs, a.subs.unwrap_or(100_000)),
        "conns" => scenarios::conns(&a.url, a.subs.unwrap_or(1000), a.server_pid),
        "subs" => scenarios::subs(&a.url, a.subs.unwrap_or(1_000_000), a.server_pid),
        "ceiling" => scenarios::ceiling(a.secs),
        "connrate" => scenarios::connrate(&a.url, a.secs, a.concurrency),
        other => Err(std::io::Error::other(format!("unknown scenario {other:?}\n{USAGE}"))),
    }
}

fn svg(a: &Args) -> ExitCode {
    let mut series = Vec::new();
    for spec in &a.rest {
        let Some((label, file)) = spec.split_once('=') else {
            eprintln!("expected label=file.csv, got {spec:?}");
            return ExitCode::from(2);
        };
        match std::fs::read_to_string(file) {
            Ok(text) => series.push((label, latency::parse_csv(&text))),
            Err(e) => {
                eprintln!("{file}: {e}");
                return ExitCode::from(1);
            }
        }
    }
    print!("{}", latency::svg(&series));
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if a.scenario == "svg" {
        return svg(&a);
    }
    if a.scenario == "jwt-setup" {
        return jwt_setup::run(&a.rest);
    }
    if let Some(u) = &a.user {
        let _ = client::CREDENTIALS.set((u.clone(), a.pass.clone().unwrap_or_default()));
    }
    // The `conns` scenario needs many sockets.
    natrix::server::rlimit::raise_nofile();
    if !a.json {
        // Progress on long runs: every 2 s, to stderr.
        std::thread::spawn(|| {
            let start = std::time::Instant::now();
            loop {
                std::thread::sleep(std::time::Duration::from_secs(2));
                let n = scenarios::PROGRESS.load(std::sync::atomic::Ordering::Relaxed);
                eprintln!("  … {:.0}s, {n} msgs sent", start.elapsed().as_secs_f64());
            }
        });
    }
    let cpu_before = a.server_pid.and_then(natrix::monitor::procinfo::cpu_seconds);
    let mut o = match run(&a) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("natrix-bench {}: {e}", a.scenario);
            return ExitCode::from(1);
        }
    };
    let cpu = match (cpu_before, a.server_pid.and_then(natrix::monitor::procinfo::cpu_seconds)) {
        (Some(b), Some(x)) => Some(x - b),
        _ => None,
    };
    if let Some(c) = cpu {
        o.notes.push(("server_cpu_s".into(), format!("{c:.3}")));
        if o.msgs > 0 {
            o.notes.push(("server_cpu_ns_per_msg".into(), format!("{:.1}", c * 1e9 / o.msgs as f64)));
        }
    }
    if let (Some(path), Some(lat)) = (&a.hist_out, o.latency.as_mut()) {
        if let Err(e) = std::fs::write(path, lat.percentile_csv()) {
            eprintln!("{path}: {e}");
        }
    }
    if a.json {
        let mut fields = vec![
            format!("\"scenario\":{}", serde_json::Value::String(o.scenario.clone())),
            format!("\"msgs\":{}", o.msgs),
            format!("\"secs\":{:.4}", o.secs),
            format!("\"rate\":{:.1}", o.rate()),
        ];
        for (k, v) in &o.notes {
            fields.push(format!("{}:{}", serde_json::Value::String(k.clone()), serde_json::Value::String(v.clone())));
        }
        println!("{{{}}}", fields.join(","));
    } else {
        println!("{:<36} {:>12} msgs {:>8.2} s {:>14.0} msgs/s", o.scenario, o.msgs, o.secs, o.rate());
        for (k, v) in &o.notes {
            println!("    {k}: {v}");
        }
    }
    ExitCode::SUCCESS
}
