//! The `tls {}` block inside `cluster`: the client `tls` keys (`crate::tls::config`),
//! with route rules on top. Routes always require and verify the peer's certificate
//! (nats-server 2.9.10 advertises `tls_verify` on routes whatever `verify` says), so
//! `verify` is forced on and a `ca_file` is needed to verify against.
use super::error::ConfigError;
use super::parser::Node;
use crate::tls::TlsOptions;

/// Parses `cluster { tls { … } }`.
pub fn parse_cluster_tls(block: &Node) -> Result<TlsOptions, ConfigError> {
    if let Some(entries) = block.as_map() {
        for (key, v) in entries {
            match key.name.to_ascii_lowercase().as_str() {
                // nats-server skips verifying solicited routes' certificates with it: unsafe.
                "insecure" if v.as_bool() == Some(true) => {
                    return Err(ConfigError::at(
                        &key.pos,
                        "cluster tls \"insecure\" is refused by natrix: routes always verify the peer certificate",
                    ))
                }
                "verify_and_map" => {
                    return Err(ConfigError::at(&key.pos, "cluster tls \"verify_and_map\" is not supported by natrix"))
                }
                // Routes always start with the handshake; nats-server 2.9.10 does not know the key.
                "handshake_first" | "first" | "immediate" => {
                    return Err(ConfigError::at(
                        &key.pos,
                        format!("error parsing tls config, unknown field [\"{}\"]", key.name),
                    ))
                }
                _ => {}
            }
        }
    }
    // The only warning the client parser gives is for `insecure`, handled above.
    let mut warnings = Vec::new();
    let mut t = crate::tls::parse_tls_block(block, &mut warnings)?;
    if t.ca_file.is_none() {
        return Err(ConfigError::at(
            &block.pos,
            "cluster tls needs 'ca_file' in natrix: route certificates are always verified against it",
        ));
    }
    t.verify = true;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use crate::config::Options;
    use std::path::Path;

    fn load(src: &str) -> Result<Options, String> {
        Options::from_str(src, Path::new("t.conf")).map(|(o, _)| o).map_err(|e| e.to_string())
    }

    #[test]
    fn block_forces_verify() {
        let o = load("cluster {\n name: C1\n tls { cert_file: c.pem, key_file: k.pem, ca_file: ca.pem, timeout: 3 }\n}\n").unwrap();
        let t = o.cluster.unwrap().tls.unwrap();
        assert!(t.verify);
        assert_eq!(t.timeout, std::time::Duration::from_secs(3));
        assert_eq!(t.ca_file.as_deref(), Some(Path::new("ca.pem")));
    }

    #[test]
    fn refusals() {
        let e = load("cluster {\n name: C1\n tls { cert_file: c.pem, key_file: k.pem }\n}\n").unwrap_err();
        assert!(e.starts_with("t.conf:3:") && e.contains("needs 'ca_file'"), "{e}");
        let e = load("cluster {\n name: C1\n tls { cert_file: c, key_file: k, ca_file: a,\n  insecure: true }\n}\n").unwrap_err();
        assert!(e.starts_with("t.conf:4:3: cluster tls \"insecure\" is refused"), "{e}");
        load("cluster {\n name: C1\n tls { cert_file: c, key_file: k, ca_file: a, insecure: false }\n}\n").unwrap();
        let e = load("cluster {\n tls { cert_file: c, key_file: k, ca_file: a, verify_and_map: true }\n}\n").unwrap_err();
        assert!(e.contains("verify_and_map"), "{e}");
        let e = load("cluster {\n tls { cert_file: c, key_file: k, ca_file: a, handshake_first: true }\n}\n").unwrap_err();
        assert!(e.contains("unknown field [\"handshake_first\"]"), "{e}");
        let e = load("cluster {\n tls { key_file: k, ca_file: a }\n}\n").unwrap_err();
        assert!(e.contains("missing 'cert_file'"), "{e}");
    }
}
