//! Module layering: the identity code (`src/auth`, `src/jwt`, `src/tls`) must not depend
//! on the I/O layer (`src/server`, `src/monitor`). A grep-style check over the sources.
use std::path::{Path, PathBuf};

const IDENTITY: &[&str] = &["src/auth", "src/jwt", "src/tls"];
const FORBIDDEN: &[&str] = &["crate::server", "crate::monitor", "natrix::server", "natrix::monitor", "mio::"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `super::…::server` paths climbing out of an identity module into the server.
fn climbs_into_server(line: &str) -> bool {
    line.split("super::").skip(1).any(|rest| rest.trim_start_matches("super::").starts_with("server"))
}

#[test]
fn identity_code_does_not_import_the_io_layer() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in IDENTITY {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() >= 10, "expected the identity sources, found {files:?}");
    let mut offences = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read source");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if FORBIDDEN.iter().any(|p| code.contains(p)) || climbs_into_server(code) {
                offences.push(format!("{}:{}: {}", f.strip_prefix(root).unwrap_or(f).display(), n + 1, line.trim()));
            }
        }
    }
    assert!(offences.is_empty(), "identity code imports the I/O layer:\n{}", offences.join("\n"));
}

#[test]
fn the_check_sees_an_offence() {
    // The matcher itself must catch the forms it is meant to catch.
    assert!(FORBIDDEN.iter().any(|p| "x = crate::server::account::GLOBAL_ACCOUNT".contains(p)));
    assert!(climbs_into_server("use super::super::server::shared;"));
    assert!(!climbs_into_server("use super::config::AuthConfig;"));
}
