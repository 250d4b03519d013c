//! The rustls server configuration built from `TlsOptions`: certificate chain and
//! key from PEM files, the client-certificate verifier, cipher suites, key exchange
//! groups and protocol versions. Built at start and again on every reload; new
//! connections take the configuration in force when they are accepted.
use super::config::{CipherSuite, Curve, TlsOptions};
use rustls::crypto::ring::{cipher_suite as cs, kx_group};
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedCipherSuite};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;

/// Why TLS could not be configured. Displays with the position of the `tls` block
/// when it came from a file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{at}error loading {what} {path:?}: {source}")]
    Pem { at: String, what: &'static str, path: String, source: rustls_pki_types::pem::Error },
    #[error("{at}no certificates found in {what} {path:?}")]
    NoCertificates { at: String, what: &'static str, path: String },
    #[error("{at}invalid CA certificate in ca_file {path:?}: {source}")]
    BadCa { at: String, path: String, source: rustls::Error },
    #[error("{at}cannot build the client certificate verifier: {source}")]
    Verifier { at: String, source: rustls::server::VerifierBuilderError },
    #[error("{at}TLS configuration refused by rustls: {source}")]
    Rustls { at: String, source: rustls::Error },
    #[error("{at}{message}")]
    Invalid { at: String, message: String },
}

/// A built server-side TLS configuration, shared by all workers.
pub struct ServerTls {
    pub config: Arc<ServerConfig>,
    pub opts: TlsOptions,
    /// SHA-256 digests of pinned SubjectPublicKeyInfos.
    pinned: Vec<[u8; 32]>,
    /// The `ca_file` certificates client chains are verified against (with `verify`).
    anchors: Vec<CertificateDer<'static>>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls").field("opts", &self.opts).finish_non_exhaustive()
    }
}

/// Encrypted output rustls may hold per connection before `write` pushes back.
const TLS_BUFFER_LIMIT: usize = 256 * 1024;

impl ServerTls {
    pub fn new(o: &TlsOptions) -> Result<ServerTls, TlsError> {
        let at = o.pos.as_ref().map(|p| format!("{p}: ")).unwrap_or_default();
        let (Some(cert_file), Some(key_file)) = (&o.cert_file, &o.key_file) else {
            return Err(TlsError::Invalid { at, message: "TLS needs both a certificate and a key file".into() });
        };
        let chain = load_certs(&at, "cert_file", cert_file)?;
        let key = PrivateKeyDer::from_pem_file(key_file).map_err(|source| TlsError::Pem {
            at: at.clone(),
            what: "key_file",
            path: key_file.display().to_string(),
            source,
        })?;
        let provider = Arc::new(provider(o));
        let versions: &[&rustls::SupportedProtocolVersion] = if o.min_version >= 13 {
            &[&rustls::version::TLS13]
        } else {
            &[&rustls::version::TLS13, &rustls::version::TLS12]
        };
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .map_err(|source| TlsError::Rustls { at: at.clone(), source })?;
        let mut anchors = Vec::new();
        let builder = match (&o.ca_file, o.verifies_clients()) {
            (Some(ca), true) => {
                let mut roots = RootCertStore::empty();
                for c in load_certs(&at, "ca_file", ca)? {
                    anchors.push(c.clone());
                    roots.add(c).map_err(|source| TlsError::BadCa {
                        at: at.clone(),
                        path: ca.display().to_string(),
                        source,
                    })?;
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(|source| TlsError::Verifier { at: at.clone(), source })?;
                builder.with_client_cert_verifier(verifier)
            }
            (None, true) => {
                return Err(TlsError::Invalid { at, message: "verify needs ca_file".into() });
            }
            _ => builder.with_no_client_auth(),
        };
        let config =
            builder.with_single_cert(chain, key).map_err(|source| TlsError::Rustls { at: at.clone(), source })?;
        let pinned = o.pinned_certs.iter().filter_map(|h| hex32(h)).collect();
        Ok(ServerTls { config: Arc::new(config), opts: o.clone(), pinned, anchors })
    }

    /// A server-side TLS session for a new connection.
    pub fn accept(&self) -> Result<rustls::ServerConnection, rustls::Error> {
        let mut c = rustls::ServerConnection::new(self.config.clone())?;
        c.set_buffer_limit(Some(TLS_BUFFER_LIMIT));
        Ok(c)
    }

    /// With `pinned_certs`, whether the client's certificate (DER) has a pinned key.
    pub fn pinned_ok(&self, end_entity: Option<&[u8]>) -> bool {
        if self.opts.pinned_certs.is_empty() {
            return true;
        }
        let Some(der) = end_entity else { return false };
        let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else { return false };
        let digest: [u8; 32] = Sha256::digest(cert.tbs_certificate.subject_pki.raw).into();
        self.pinned.contains(&digest)
    }
}

impl ServerTls {
    /// The chain a verified client certificate was checked along, leaf first and the
    /// `ca_file` root last, as Go's `VerifiedChains[0]` (the auth callout sends it): the
    /// certificates the client presented, completed with the anchors that issued them.
    /// rustls verified a path already; this only names its certificates.
    pub fn verified_chain(&self, presented: &[CertificateDer<'_>]) -> Vec<Vec<u8>> {
        let mut chain: Vec<Vec<u8>> = presented.iter().map(|c| c.as_ref().to_vec()).collect();
        // Bounded: a chain longer than this is not one rustls accepts either.
        for _ in 0..8 {
            let Some(last) = chain.last() else { break };
            let Ok((_, cert)) = x509_parser::parse_x509_certificate(last) else { break };
            let issuer = cert.issuer().as_raw();
            if issuer == cert.subject().as_raw() {
                break;
            }
            let next = self.anchors.iter().find(|a| {
                x509_parser::parse_x509_certificate(a.as_ref()).is_ok_and(|(_, ca)| ca.subject().as_raw() == issuer)
                    && !chain.iter().any(|c| c.as_slice() == a.as_ref())
            });
            match next {
                Some(a) => chain.push(a.as_ref().to_vec()),
                None => break,
            }
        }
        chain
    }
}

pub(super) fn load_certs(at: &str, what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem_err = |source| TlsError::Pem { at: at.to_string(), what, path: path.display().to_string(), source };
    let certs =
        CertificateDer::pem_file_iter(path).map_err(pem_err)?.collect::<Result<Vec<_>, _>>().map_err(pem_err)?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificates { at: at.to_string(), what, path: path.display().to_string() });
    }
    Ok(certs)
}

/// ring's provider restricted to the configured suites and curves. As in Go, the
/// listed TLS 1.2 suites restrict TLS 1.2 only; TLS 1.3 suites stay on unless some
/// are listed.
pub(super) fn provider(o: &TlsOptions) -> CryptoProvider {
    let mut p = rustls::crypto::ring::default_provider();
    if !o.cipher_suites.is_empty() {
        let listed: Vec<SupportedCipherSuite> = o.cipher_suites.iter().map(|&s| suite(s)).collect();
        let any13 = listed.iter().any(|s| s.version() == &rustls::version::TLS13);
        p.cipher_suites.retain(|s| {
            let is13 = s.version() == &rustls::version::TLS13;
            (is13 && !any13) || listed.iter().any(|l| l.suite() == s.suite())
        });
    }
    if !o.curve_preferences.is_empty() {
        p.kx_groups = o
            .curve_preferences
            .iter()
            .map(|c| match c {
                Curve::X25519 => kx_group::X25519,
                Curve::P256 => kx_group::SECP256R1,
                Curve::P384 => kx_group::SECP384R1,
            })
            .collect();
    }
    p
}

fn suite(s: CipherSuite) -> SupportedCipherSuite {
    match s {
        CipherSuite::Tls13Aes128GcmSha256 => cs::TLS13_AES_128_GCM_SHA256,
        CipherSuite::Tls13Aes256GcmSha384 => cs::TLS13_AES_256_GCM_SHA384,
        CipherSuite::Tls13Chacha20Poly1305Sha256 => cs::TLS13_CHACHA20_POLY1305_SHA256,
        CipherSuite::EcdheEcdsaAes128GcmSha256 => cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        CipherSuite::EcdheEcdsaAes256GcmSha384 => cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        CipherSuite::EcdheEcdsaChacha20Poly1305 => cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        CipherSuite::EcdheRsaAes128GcmSha256 => cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        CipherSuite::EcdheRsaAes256GcmSha384 => cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        CipherSuite::EcdheRsaChacha20Poly1305 => cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    }
}

fn hex32(h: &str) -> Option<[u8; 32]> {
    let b = h.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        let s = std::str::from_utf8(&b[2 * i..2 * i + 2]).ok()?;
        *o = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_digests() {
        assert_eq!(hex32(&"0a".repeat(32)), Some([10u8; 32]));
        assert_eq!(hex32("zz"), None);
        assert_eq!(hex32(&"g0".repeat(32)), None);
    }

    #[test]
    fn suites_restrict_tls12_only() {
        let o = TlsOptions { cipher_suites: vec![CipherSuite::EcdheEcdsaAes128GcmSha256], ..Default::default() };
        let p = provider(&o);
        let tls12: Vec<_> = p.cipher_suites.iter().filter(|s| s.version() == &rustls::version::TLS12).collect();
        assert_eq!(tls12.len(), 1);
        assert_eq!(p.cipher_suites.len(), 4, "three TLS 1.3 suites stay");
        let o = TlsOptions { curve_preferences: vec![Curve::P384], ..Default::default() };
        assert_eq!(provider(&o).kx_groups.len(), 1);
    }

    #[test]
    fn missing_files_are_errors() {
        let o = TlsOptions {
            cert_file: Some("/nonexistent/c.pem".into()),
            key_file: Some("/nonexistent/k.pem".into()),
            ..Default::default()
        };
        let e = ServerTls::new(&o).unwrap_err().to_string();
        assert!(e.contains("error loading cert_file \"/nonexistent/c.pem\""), "{e}");
    }
}
