use super::*;
use std::path::Path;

fn load(src: &str) -> (Options, Vec<ConfigWarning>) {
    match Options::from_str(src, Path::new("t.conf")) {
        Ok(x) => x,
        Err(e) => panic!("{e}"),
    }
}
fn load_err(src: &str) -> String {
    match Options::from_str(src, Path::new("t.conf")) {
        Ok(x) => panic!("expected an error, got {x:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn empty_file_gives_defaults() {
    let (o, w) = load("");
    assert!(w.is_empty());
    assert_eq!(
        Options {
            config_file: None,
            ..o
        },
        Options::default()
    );
}

#[test]
fn all_supported_keys() {
    let (o, w) = load(
        "host: 127.0.0.1\nport: 4333\nserver_name: srv1\nmax_payload: 2MB\nmax_control_line: 2k\n\
         max_connections: 100\nmax_pending: 100MB\nmax_subscriptions: 10\nping_interval: \"30s\"\n\
         ping_max: 5\nwrite_deadline: \"1m30s\"\ndebug: true\ntrace: yes\nlogtime: false\n\
         log_file: /tmp/n.log\npid_file: '/tmp/n.pid'\nworkers: 3\n",
    );
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(o.host, "127.0.0.1");
    assert_eq!(o.port, 4333);
    assert_eq!(o.server_name.as_deref(), Some("srv1"));
    assert_eq!(o.max_payload, 2 << 20);
    assert_eq!(o.max_control_line, 2000);
    assert_eq!(o.max_connections, 100);
    assert_eq!(o.max_pending, 100 << 20);
    assert_eq!(o.max_subscriptions, 10);
    assert_eq!(o.ping_interval, Duration::from_secs(30));
    assert_eq!(o.ping_max, 5);
    assert_eq!(o.write_deadline, Duration::from_secs(90));
    assert!(o.debug && o.trace && !o.logtime);
    assert_eq!(o.log_file, Some(PathBuf::from("/tmp/n.log")));
    assert_eq!(o.pid_file, Some(PathBuf::from("/tmp/n.pid")));
    assert_eq!(o.workers, 3);
    assert_eq!(o.config_file, Some(PathBuf::from("t.conf")));
    assert_eq!(o.validate(), Ok(()));
}

#[test]
fn aliases_and_case() {
    let (o, _) = load(
        "net: 10.0.0.1\nmax_conn: 7\nmax_subs: 8\nlogfile: a.log\npidfile: a.pid\nPORT: 5000\n",
    );
    assert_eq!(o.host, "10.0.0.1");
    assert_eq!(o.max_connections, 7);
    assert_eq!(o.max_subscriptions, 8);
    assert_eq!(o.log_file, Some(PathBuf::from("a.log")));
    assert_eq!(o.pid_file, Some(PathBuf::from("a.pid")));
    assert_eq!(o.port, 5000);
}

#[test]
fn listen_forms() {
    let (o, _) = load("listen: 127.0.0.1:4555\n");
    assert_eq!((o.host.as_str(), o.port), ("127.0.0.1", 4555));
    let (o, _) = load("host: 10.1.1.1\nlisten: \":4556\"\n");
    assert_eq!((o.host.as_str(), o.port), ("0.0.0.0", 4556));
    let (o, _) = load("listen: 4557\n");
    assert_eq!((o.host.as_str(), o.port), ("0.0.0.0", 4557));
    let (o, _) = load("listen: \"[::1]:4558\"\n");
    assert_eq!((o.host.as_str(), o.port), ("::1", 4558));
    assert!(load_err("listen: nohost\n").contains("could not parse address"));
    assert!(load_err("listen: \"h:abc\"\n").contains("could not parse port"));
}

#[test]
fn http_and_https_take_a_bare_port() {
    // A number is a port on the client host: no host of its own (it used to be "").
    let (o, _) = load("http: 8222\n");
    assert_eq!((o.http_host.as_deref(), o.http_port), (None, 8222));
    let (o, _) = load("http: \":8223\"\n");
    assert_eq!((o.http_host.as_deref(), o.http_port), (None, 8223));
    let (o, _) = load("http: \"127.0.0.1:8224\"\n");
    assert_eq!((o.http_host.as_deref(), o.http_port), (Some("127.0.0.1"), 8224));
    let (o, _) = load("https: 8443\n");
    assert_eq!((o.http_host.as_deref(), o.https_port, o.http_port), (None, 8443, 0));
    // As nats-server: a string is always host:port.
    let e = load_err("http: \"8222\"\n");
    assert!(e.contains("t.conf:1:") && e.contains("could not parse address string \"8222\""), "{e}");
}

fn responses(v: &str) -> Result<crate::auth::config::ResponsePermission, String> {
    let src = format!("authorization {{ users: [ {{user: a, password: b, permissions: {{\n allow_responses: {v}\n}}}} ] }}\n");
    Options::from_str(&src, Path::new("t.conf"))
        .map(|(o, _)| o.auth.users[0].permissions.clone().and_then(|p| p.allow_responses).expect("allow_responses"))
        .map_err(|e| e.to_string())
}

#[test]
fn allow_responses_zero_means_default_and_expires_needs_a_duration() {
    use crate::auth::config::{RESPONSES_NEVER_EXPIRE, UNLIMITED_RESPONSES};
    let r = responses("{max: 0, expires: \"0s\"}").expect("valid");
    assert_eq!((r.max, r.expires), (1, Duration::from_secs(120)), "zero values are nats-server's defaults");
    let r = responses("{max: -1, expires: \"-1s\"}").expect("valid");
    assert_eq!((r.max, r.expires), (UNLIMITED_RESPONSES, RESPONSES_NEVER_EXPIRE), "negative values lift the limit");
    let r = responses("{max: 3, expires: \"1m\"}").expect("valid");
    assert_eq!((r.max, r.expires), (3, Duration::from_secs(60)));
    for bad in ["{expires: 0}", "{expires: 5}"] {
        let e = responses(bad).unwrap_err();
        assert!(e.contains("t.conf:2:") && e.contains("error parsing expires, not a duration string"), "{bad}: {e}");
    }
    assert!(responses("{expires: \"abc\"}").unwrap_err().contains("error parsing expires: time: invalid duration \"abc\""));
    assert!(responses("{expires: \"-abc\"}").unwrap_err().contains("time: invalid duration \"-abc\""), "the whole value is named");
    assert_eq!(responses("{expires: \"-0s\"}").expect("valid").expires, Duration::from_secs(120));
}

#[test]
fn random_port_and_zero_defaults() {
    let (o, _) = load("port: -1\n");
    assert_eq!(o.port, -1);
    let (o, _) = load("port: 0\nmax_payload: 0\nping_max: 0\nping_interval: \"0s\"\n");
    assert_eq!(o.port, 4222);
    assert_eq!(o.max_payload, 1 << 20);
    assert_eq!(o.ping_max, 2);
    assert_eq!(o.ping_interval, Duration::from_secs(120));
    assert!(load_err("port: 70000\n").contains("out of range"));
}

#[test]
fn integer_durations_warn() {
    let (o, w) = load("ping_interval: 60\nwrite_deadline: 5\n");
    assert_eq!(o.ping_interval, Duration::from_secs(60));
    assert_eq!(o.write_deadline, Duration::from_secs(5));
    assert_eq!(w.len(), 2);
    assert_eq!(
        w[0].to_string(),
        "t.conf:1:16: ping_interval should be converted to a duration"
    );
    let e = load_err("ping_interval: \"abc\"\n");
    assert_eq!(
        e,
        "t.conf:1:16: error parsing ping_interval: time: invalid duration \"abc\""
    );
    // Bare 5s lexes as a string.
    let (o, _) = load("write_deadline: 5s\n");
    assert_eq!(o.write_deadline, Duration::from_secs(5));
}

#[test]
fn wrong_types_report_the_value_position() {
    assert_eq!(
        load_err("port: \"abc\"\n"),
        "t.conf:1:7: \"port\" must be an integer, got string"
    );
    assert_eq!(
        load_err("\n  debug = 1\n"),
        "t.conf:2:11: \"debug\" must be a boolean, got integer"
    );
    assert_eq!(
        load_err("host: [1]\n"),
        "t.conf:1:7: \"host\" must be a string, got array"
    );
    assert_eq!(
        load_err("max_payload: 3GB\n"),
        "t.conf:1:14: max_payload value is too big"
    );
    assert_eq!(
        load_err("max_pending: -1\n"),
        "t.conf:1:14: max_pending value can not be negative"
    );
}

#[test]
fn unknown_field() {
    assert_eq!(
        load_err("port: 4222\n  foo: 1\n"),
        "t.conf:2:3: unknown field \"foo\""
    );
}

#[test]
fn top_level_variables() {
    // A used variable is not an unknown field; an unused one is.
    let (o, w) = load("P = 4999\nport: $P\n");
    assert_eq!(o.port, 4999);
    assert!(w.is_empty());
    assert_eq!(
        load_err("X = 5\nport: 4222\n"),
        "t.conf:1:1: unknown field \"X\""
    );
    let e = load_err("port: $NATRIX_CFG_SURELY_UNSET_2\n");
    assert!(
        e.contains("variable reference for 'NATRIX_CFG_SURELY_UNSET_2' on line 1 can not be found"),
        "{e}"
    );
}

#[test]
fn jetstream_is_refused() {
    assert_eq!(
        load_err("port: 1\njetstream {\n  store_dir: /x\n}\n"),
        "t.conf:2:1: natrix does not support JetStream; remove the \"jetstream\" block"
    );
    assert!(load_err("jetstream: true\n").contains("JetStream"));
    assert!(load_err("jetstream: enabled\n").contains("JetStream"));
    let (_, w) = load("jetstream: false\n");
    assert_eq!(w.len(), 1);
    let (_, w) = load("store_dir: /tmp/js\n");
    assert_eq!(w.len(), 1);
    assert!(w[0]
        .to_string()
        .starts_with("t.conf:1:1: \"store_dir\" only matters for JetStream"));
}

#[test]
fn later_features_warn() {
    let src = "port: 4222\nocsp {\n  mode: x\n}\nauthorization { users: [{user: a, password: b}] }\nhttp_port: 8222\n\
               cluster { listen: 0.0.0.0:6222 }\nleafnodes {}\naccounts {}\nmappings {}\ngateway {}\n\
               websocket {}\nmqtt {}\nsystem_account: SYS\nno_auth_user: a\nserver_tags: [a]\ntrace_verbose: true\n";
    let (o, w) = load(src);
    assert_eq!(o.port, 4222);
    let text: Vec<String> = w.iter().map(ToString::to_string).collect();
    assert_eq!(
        text[0],
        "t.conf:2:1: \"ocsp\" is not supported by natrix yet; ignored"
    );
    assert!(!text.iter().any(|t| t.contains("\"cluster\"")), "cluster is supported: {text:?}");
    assert_eq!(o.cluster.as_ref().map(|c| c.port), Some(6222));
    assert!(!text.iter().any(|t| t.contains("leafnodes")), "leafnodes is supported: {text:?}");
    assert!(o.leafnodes.is_some());
    assert_eq!(o.http_port, 8222);
    assert_eq!(w.len(), 8, "{text:?} (authorization, accounts and no_auth_user are supported)");
    assert_eq!(o.auth.no_auth_user.as_deref(), Some("a"));
    assert_eq!(o.auth.users.len(), 1);
    assert!(o.trace, "trace_verbose implies trace");
}

#[test]
fn validation() {
    let (o, _) = load("max_payload: 2MB\nmax_pending: 1MB\n");
    assert_eq!(
        o.validate(),
        Err("max_payload (2097152) cannot be higher than max_pending (1048576)".to_string())
    );
    let o = Options {
        ping_max: 0,
        ..Options::default()
    };
    assert!(o.validate().is_err());
    let o = Options {
        max_payload: u32::MAX,
        max_pending: u64::MAX,
        ..Options::default()
    };
    assert_eq!(
        o.validate(),
        Err("max_payload value is too big".to_string())
    );
    let o = Options {
        server_name: Some("a b".into()),
        ..Options::default()
    };
    assert!(o.validate().is_err());
    assert_eq!(Options::default().validate(), Ok(()));
}

#[test]
fn from_file_sets_config_file_and_reports_io_errors() {
    let d = std::env::temp_dir().join(format!("natrix-opts-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let f = d.join("n.conf");
    std::fs::write(&f, "port: 4111\ninclude inc.conf\n").unwrap();
    std::fs::write(d.join("inc.conf"), "debug: true\n").unwrap();
    let (o, _) = Options::from_file(&f).unwrap();
    assert_eq!(o.port, 4111);
    assert!(o.debug);
    assert_eq!(o.config_file.as_deref(), Some(f.as_path()));
    assert!(Options::from_file(&d.join("missing.conf")).is_err());
    let _ = std::fs::remove_dir_all(&d);
}

/// Differential check against the reference server (`nats-server -t`), when installed:
/// files nats-server accepts are accepted, and syntax errors are refused by both.
#[test]
fn agrees_with_nats_server_on_validity() {
    let oracle = Path::new("/usr/sbin/nats-server");
    if !oracle.exists() {
        return;
    }
    let cases: &[(&str, bool)] = &[
        ("port: 4222 # c\ndebug = true; trace = false\n", true),
        (
            "listen: 127.0.0.1:4333\nmax_payload: 100MB\nmax_pending: 200MB\n",
            true,
        ),
        ("X = 4444\nport: $X\nwrite_deadline: \"3s\"\n", true),
        ("{\n  server_name: a\n  ping_interval: \"1m\"\n}\n", true),
        ("p: 'x'\nlog_file: $p\nmax_conn: 10, max_subs: 5\n", true),
        ("text (\n  block\n)\nport: 1\n", false),
        ("port: 4222\n  foo: 1\n", false),
        ("X = 5\nport: 4222\n", false),
        ("trace:\n", false),
        ("listen: 10.0.1.22:foo\n", false),
        ("port: \"abc\"\n", false),
        ("port: $NATRIX_CFG_SURELY_UNSET_3\n", false),
        ("a: \"x\\q\"\n", false),
    ];
    let dir = std::env::temp_dir().join(format!("natrix-oracle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (i, (src, valid)) in cases.iter().enumerate() {
        let f = dir.join(format!("c{i}.conf"));
        std::fs::write(&f, src).unwrap();
        let out = std::process::Command::new(oracle)
            .arg("-t")
            .arg("-c")
            .arg(&f)
            .output()
            .unwrap();
        let theirs = out.status.success();
        let ours = Options::from_file(&f).is_ok_and(|(o, _)| o.validate().is_ok());
        assert_eq!(
            theirs,
            *valid,
            "nats-server on {src:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(ours, *valid, "natrix on {src:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
