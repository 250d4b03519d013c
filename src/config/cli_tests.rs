use super::*;
use std::time::Duration;

fn args(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}
fn run(s: &str) -> (Options, Vec<String>) {
    match parse_args(args(s)) {
        Ok(Command::Run { options, warnings }) => (*options, warnings),
        other => panic!("{s}: {other:?}"),
    }
}
fn err(s: &str) -> String {
    match parse_args(args(s)) {
        Err(e) => e.to_string(),
        Ok(c) => panic!("{s}: expected an error, got {c:?}"),
    }
}

#[test]
fn no_args_gives_defaults() {
    let (o, w) = run("");
    assert_eq!(o, Options::default());
    assert!(w.is_empty());
}

#[test]
fn go_flag_forms() {
    for s in [
        "-p 4333",
        "-p=4333",
        "--port=4333",
        "--port 4333",
        "-port 4333",
    ] {
        assert_eq!(run(s).0.port, 4333, "{s}");
    }
    assert_eq!(run("-p -1").0.port, -1);
    assert_eq!(run("-p 0").0.port, 4222);
    assert_eq!(run("-p 1 --port 2").0.port, 2);
    assert!(run("-D").0.debug);
    assert!(run("-D=true").0.debug);
    assert!(!run("-D=false").0.debug);
    assert!(run("--debug").0.debug);
    let o = run("-DV").0;
    assert!(o.debug && o.trace);
    let o = run("-DVV").0;
    assert!(o.debug && o.trace);
    let o = run("-VV").0;
    assert!(!o.debug && o.trace);
    assert!(run("-V").0.trace);
    assert!(!run("-T=false").0.logtime);
    assert!(run("-T").0.logtime);
    let o = run("-a 127.0.0.1 -n srv --pid /tmp/p --log /tmp/l --workers 2");
    assert_eq!(o.0.host, "127.0.0.1");
    assert_eq!(o.0.server_name.as_deref(), Some("srv"));
    assert_eq!(o.0.pid_file, Some(PathBuf::from("/tmp/p")));
    assert_eq!(o.0.log_file, Some(PathBuf::from("/tmp/l")));
    assert_eq!(o.0.workers, 2);
    assert_eq!(
        run("--net=10.0.0.1 --server_name x -l a").0.host,
        "10.0.0.1"
    );
    // Parsing stops at "--".
    assert_eq!(run("-p 5 -- ").0.port, 5);
}

#[test]
fn flag_errors() {
    assert_eq!(err("-foo"), "flag provided but not defined: -foo");
    assert_eq!(err("--foo=1"), "flag provided but not defined: -foo");
    assert_eq!(err("-p"), "flag needs an argument: -p");
    assert_eq!(
        err("-p abc"),
        "invalid value \"abc\" for flag -p: parse error"
    );
    assert_eq!(
        err("-D=maybe"),
        "invalid boolean value \"maybe\" for -D: parse error"
    );
    assert_eq!(err("---p 1"), "bad flag syntax: ---p");
    assert_eq!(err("-p 1 extra"), "unrecognized command: \"extra\"");
    assert!(err("-p 70000").contains("out of range"));
    assert!(err("--workers -1").contains("workers"));
}

#[test]
fn commands() {
    assert_eq!(parse_args(args("-v")), Ok(Command::Version));
    assert_eq!(parse_args(args("--version")), Ok(Command::Version));
    assert_eq!(parse_args(args("version")), Ok(Command::Version));
    assert_eq!(parse_args(args("-h")), Ok(Command::Help));
    assert_eq!(parse_args(args("--help")), Ok(Command::Help));
    assert_eq!(
        parse_args(args("-t -c x.conf")),
        Ok(Command::CheckConfig {
            file: "x.conf".into()
        })
    );
    assert_eq!(
        parse_args(args("-c x.conf -t")),
        Ok(Command::CheckConfig {
            file: "x.conf".into()
        })
    );
    assert!(err("-t").contains("must specify [-c, --config]"));
    assert!(usage().contains("--port"));
}

#[test]
fn jetstream_and_later_features() {
    assert!(err("-js").contains("JetStream"));
    assert!(err("--jetstream").contains("JetStream"));
    let (o, w) = run("-js=false -sd /tmp/js -m 8222 --user a --pass b --client_advertise c --profile 0 -p 5");
    assert_eq!(o.port, 5, "values of unsupported flags are consumed");
    assert_eq!(w.len(), 3, "{w:?} (--user/--pass/-m are supported)");
    assert_eq!(o.http_port, 8222);
    assert_eq!(o.auth.user.as_deref(), Some("a"));
    assert!(o.auth.password.is_some());
    assert!(w[0].contains("JetStream"));
    assert_eq!(w[1], "flag -client_advertise is not supported by natrix yet; ignored");
    assert!(err("-m abc").contains("parse error"));
}

#[test]
fn signal_and_log_size_limit_flags() {
    match parse_args(args("-sl reload -P /run/n.pid")) {
        Ok(Command::Signal { command, pid, pid_file }) => {
            assert_eq!(command, "reload");
            assert_eq!(pid, None);
            assert_eq!(pid_file, Some(PathBuf::from("/run/n.pid")));
        }
        other => panic!("{other:?}"),
    }
    match parse_args(args("--signal=ldm=42")) {
        Ok(Command::Signal { command, pid, .. }) => assert_eq!((command.as_str(), pid.as_deref()), ("ldm", Some("42"))),
        other => panic!("{other:?}"),
    }
    assert!(err("--signal reload=1=2").contains("invalid signal parameters"));
    let (o, w) = run("--log_size_limit 1000");
    assert_eq!((o.log_size_limit, w.len()), (1000, 0));
    assert!(err("--log_size_limit -5").contains("must not be negative"));
}

fn temp_conf(name: &str, body: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("natrix-cli-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let f = d.join(name);
    std::fs::write(&f, body).unwrap();
    f
}

#[test]
fn flags_override_the_file() {
    let f = temp_conf(
        "a.conf",
        "listen: 127.0.0.2:4999\ndebug: true\nping_interval: \"5s\"\nocsp {}\n",
    );
    let p = f.display().to_string();
    let (o, w) = run(&format!("-c {p}"));
    assert_eq!(
        (o.host.as_str(), o.port, o.debug),
        ("127.0.0.2", 4999, true)
    );
    assert_eq!(o.ping_interval, Duration::from_secs(5));
    assert_eq!(o.config_file.as_deref(), Some(f.as_path()));
    assert_eq!(w.len(), 1);
    assert!(
        w[0].ends_with(":4:1: \"ocsp\" is not supported by natrix yet; ignored"),
        "{w:?}"
    );
    // -p overrides the port and keeps the file's host.
    let (o, _) = run(&format!("-c {p} -p 5000 -D=false"));
    assert_eq!(
        (o.host.as_str(), o.port, o.debug),
        ("127.0.0.2", 5000, false)
    );
    // -p 0 means the default port, even over listen.
    assert_eq!(run(&format!("-p 0 --config={p}")).0.port, 4222);
    let (o, _) = run(&format!("-c {p} -a 0.0.0.0 -p -1"));
    assert_eq!((o.host.as_str(), o.port), ("0.0.0.0", -1));
    assert!(check_config(&f).is_ok());
}

#[test]
fn config_errors_propagate() {
    let f = temp_conf("bad.conf", "port: 1\nfoo: 2\n");
    let p = f.display().to_string();
    match parse_args(args(&format!("-c {p}"))) {
        Err(CliError::Config(e)) => {
            assert_eq!(e.to_string(), format!("{p}:2:1: unknown field \"foo\""))
        }
        other => panic!("{other:?}"),
    }
    assert!(check_config(&f).is_err());
    let f = temp_conf("inv.conf", "max_payload: 2MB\nmax_pending: 1MB\n");
    let e = err(&format!("-c {}", f.display()));
    assert_eq!(
        e,
        "max_payload (2097152) cannot be higher than max_pending (1048576)"
    );
    assert!(matches!(
        parse_args(args("-c /nonexistent/natrix.conf")),
        Err(CliError::Config(_))
    ));
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn parse_args_never_panics(v in proptest::collection::vec("-{0,3}[a-zA-Z]{0,6}(=[-a-z0-9]{0,4})?|[-0-9]{1,6}", 0..6)) {
            let _ = parse_args(v.into_iter().filter(|a| !a.starts_with("-c") && !a.starts_with("--c")));
        }
    }
}

#[test]
fn tls_flags() {
    assert_eq!(err("--tls"), "TLS Server certificate must be present and valid");
    assert_eq!(err("--tls --tlscert c.pem"), "TLS Server private key must be present and valid");
    assert!(err("--tlsverify --tlscert c.pem --tlskey k.pem").contains("--tlscacert"));
    let e = err("--tls --tlscert /nonexistent/c.pem --tlskey /nonexistent/k.pem");
    assert!(e.contains("error loading cert_file \"/nonexistent/c.pem\""), "{e}");
}

#[test]
fn cluster_flags() {
    let (o, _) = run("--cluster nats://u:p@127.0.0.1:-1 --cluster_name C1 --routes nats://a:1,nats-route://r:s@b:2 \
                 --cluster_advertise ex:9 --no_advertise --connect_retries 4");
    let c = o.cluster.unwrap();
    assert_eq!((c.port, c.user.as_deref(), c.routes.len()), (-1, Some("u"), 2));
    assert_eq!(c.routes[1].user.as_deref(), Some("r"));
    assert_eq!(c.advertise.as_deref(), Some("ex:9"));
    let (o, w) = run("--cluster_name C1 --routes nats://a:1 --no_advertise --connect_retries 4 --ports_file_dir /tmp/pd");
    assert!(w.is_empty(), "{w:?}");
    let c = o.cluster.unwrap();
    assert_eq!(c.name.as_deref(), Some("C1"));
    assert_eq!(c.routes.len(), 1);
    assert!(c.no_advertise);
    assert_eq!(c.connect_retries, 4);
    assert_eq!(o.ports_file_dir.as_deref(), Some(std::path::Path::new("/tmp/pd")));
    assert!(err("--cluster 127.0.0.1:1 --cluster_name C").contains("-cluster"));
    assert!(err("--routes http://x:1").contains("nats://"));
    assert!(err("--cluster nats://127.0.0.1:-1").contains("cluster name is required"));
}
