//! TLS for routes: one configuration for both directions. Accepted routes use the
//! server side (`ServerTls`, client certificate required and verified); dialed routes
//! present the same certificate and verify the peer's against `ca_file` (webpki:
//! chain, validity, the dialed host or IP, and the server-auth usage). A route
//! certificate therefore needs both the server and the client auth usages, as with
//! nats-server.
use super::config::TlsOptions;
use crate::tls::server::{load_certs, provider, ServerTls, TlsError};
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{PrivateKeyDer, ServerName};
use std::sync::Arc;

/// Encrypted output rustls may hold per route before `write` pushes back.
const ROUTE_BUFFER_LIMIT: usize = 1024 * 1024;

/// The route TLS configuration, shared by the route worker.
#[derive(Debug)]
pub struct RouteTls {
    /// Accepting side; also carries the options (timeout, pinned certificates).
    pub server: Arc<ServerTls>,
    client: Arc<ClientConfig>,
}

impl RouteTls {
    pub fn new(o: &TlsOptions) -> Result<RouteTls, TlsError> {
        let o = TlsOptions { verify: true, ..o.clone() };
        let server = ServerTls::new(&o)?;
        let at = o.pos.as_ref().map(|p| format!("{p}: ")).unwrap_or_default();
        let (Some(cert_file), Some(key_file), Some(ca)) = (&o.cert_file, &o.key_file, &o.ca_file) else {
            return Err(TlsError::Invalid { at, message: "route TLS needs cert_file, key_file and ca_file".into() });
        };
        let mut roots = RootCertStore::empty();
        for c in load_certs(&at, "ca_file", ca)? {
            roots.add(c).map_err(|source| TlsError::BadCa { at: at.clone(), path: ca.display().to_string(), source })?;
        }
        let chain = load_certs(&at, "cert_file", cert_file)?;
        let key = PrivateKeyDer::from_pem_file(key_file).map_err(|source| TlsError::Pem {
            at: at.clone(),
            what: "key_file",
            path: key_file.display().to_string(),
            source,
        })?;
        let versions: &[&rustls::SupportedProtocolVersion] = if o.min_version >= 13 {
            &[&rustls::version::TLS13]
        } else {
            &[&rustls::version::TLS13, &rustls::version::TLS12]
        };
        let client = ClientConfig::builder_with_provider(Arc::new(provider(&o)))
            .with_protocol_versions(versions)
            .map_err(|source| TlsError::Rustls { at: at.clone(), source })?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|source| TlsError::Rustls { at: at.clone(), source })?;
        Ok(RouteTls { server: Arc::new(server), client: Arc::new(client) })
    }

    /// The server side of an accepted route.
    pub fn accept(&self) -> Result<rustls::Connection, rustls::Error> {
        let mut c = rustls::ServerConnection::new(self.server.config.clone())?;
        c.set_buffer_limit(Some(ROUTE_BUFFER_LIMIT));
        Ok(c.into())
    }

    /// The client side of a route dialed to `host` (a name or an IP address, which the
    /// peer's certificate must carry).
    pub fn dial(&self, host: &str) -> Result<rustls::Connection, rustls::Error> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_string()).map_err(|_| rustls::Error::General(format!("invalid route host {host:?}")))?;
        let mut c = rustls::ClientConnection::new(self.client.clone(), name)?;
        c.set_buffer_limit(Some(ROUTE_BUFFER_LIMIT));
        Ok(c.into())
    }
}
