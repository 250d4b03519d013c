//! The official Python client (nats-py) against the server, when it is installed
//! (`pip install nats-py`; CI installs it).
mod common;

use common::TestServer;
use std::process::Command;

fn nats_py_available() -> bool {
    Command::new("python3")
        .args(["-c", "import nats"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[test]
fn nats_py_smoke() {
    if !nats_py_available() {
        if std::env::var_os("NATRIX_REQUIRE_CLIENTS").is_some() {
            panic!("nats-py is not installed but NATRIX_REQUIRE_CLIENTS is set");
        }
        println!("SKIPPED: python3 with nats-py not found (pip install nats-py)");
        return;
    }
    let s = TestServer::start();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/python_smoke.py");
    let out = Command::new("timeout")
        .args(["60", "python3", script, &s.port.to_string()])
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "nats-py smoke test failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
