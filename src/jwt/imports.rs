//! Exports and imports declared in account JWTs, translated into the same
//! `AccountConfig` entries the `accounts {}` config block produces, so the server's
//! cross-account routing (`server/imports.rs`) serves both. An import is kept only when
//! the exporter's JWT has a matching export of the same kind and, for a private export
//! (`token_req`), the import carries a valid activation token; others are dropped with
//! a warning, as nats-server marks them invalid.
use super::claims::{AccountClaims, Export, ExportType, Import};
use super::config::TrustConfig;
use super::{codec, verify, JwtError};
use crate::auth::config::{AccountConfig, ExportConfig, ImportConfig, ResponseType, DEFAULT_RESPONSE_THRESHOLD};
use crate::subject;
use std::collections::HashMap;
use std::time::Duration;

/// The exports and imports of the account JWTs, as configs.
#[derive(Debug, Default)]
pub struct JwtImports {
    /// One per preloaded, trusted account (named by its public key).
    pub configs: Vec<AccountConfig>,
    /// The earliest `exp` (Unix seconds) of the activation tokens of the imports kept:
    /// when it passes, the imports must be computed again (nats-server stops such an
    /// import at that moment with a timer).
    pub next_expiry: Option<i64>,
}

/// The preloaded, trusted accounts' exports and imports as account configs, checked at
/// `now` (Unix seconds).
pub fn account_configs(trust: &TrustConfig, now: i64) -> JwtImports {
    if !trust.enabled() {
        return JwtImports::default();
    }
    let auth = verify::JwtAuth::new(trust);
    let accounts: HashMap<&str, &AccountClaims> =
        auth.account_keys().filter_map(|k| auth.account(k).map(|a| (k, &a.claims))).collect();
    let mut out = JwtImports::default();
    for (key, claims) in &accounts {
        let mut cfg = AccountConfig { name: key.to_string(), ..Default::default() };
        cfg.exports = claims.nats.exports.iter().filter(|e| e.kind != ExportType::Unknown).map(export_config).collect();
        for imp in &claims.nats.imports {
            match check_import(key, imp, &accounts, now) {
                Ok(expires) => {
                    cfg.imports.push(import_config(imp));
                    if let Some(e) = expires {
                        out.next_expiry = Some(out.next_expiry.map_or(e, |n| n.min(e)));
                    }
                }
                Err(e) => crate::warn!("account {key}: import of {:?} from {}: {e}; ignored", imp.subject, imp.account),
            }
        }
        out.configs.push(cfg);
    }
    out.configs.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn export_config(e: &Export) -> ExportConfig {
    ExportConfig {
        service: e.kind == ExportType::Service,
        subject: e.subject.clone(),
        accounts: None,
        response_type: match e.response_type.to_ascii_lowercase().as_str() {
            "stream" => ResponseType::Stream,
            "chunked" => ResponseType::Chunked,
            _ => ResponseType::Singleton,
        },
        response_threshold: if e.response_threshold > 0 {
            Duration::from_nanos(e.response_threshold as u64)
        } else {
            DEFAULT_RESPONSE_THRESHOLD
        },
    }
}

/// JWT import roles: a stream's `subject` is the exporter's, `to` a prefix and
/// `local_subject` a remap; a service's `subject` is what the importer publishes and
/// `to` the exporter's subject, unless `local_subject` names the local side.
fn import_config(i: &Import) -> ImportConfig {
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
    match i.kind {
        ExportType::Service => {
            let (remote, local) = if !i.local_subject.is_empty() {
                (i.subject.clone(), Some(i.local_subject.clone()))
            } else if !i.to.is_empty() {
                (i.to.clone(), Some(i.subject.clone()))
            } else {
                (i.subject.clone(), None)
            };
            ImportConfig { service: true, account: i.account.clone(), subject: remote, prefix: None, to: local, share: i.share }
        }
        _ => ImportConfig {
            service: false,
            account: i.account.clone(),
            subject: i.subject.clone(),
            prefix: if i.local_subject.is_empty() { opt(&i.to) } else { None },
            to: opt(&i.local_subject),
            share: i.share,
        },
    }
}

/// The exporter's subject an import refers to.
fn remote_subject(i: &Import) -> &str {
    if i.kind == ExportType::Service && i.local_subject.is_empty() && !i.to.is_empty() {
        &i.to
    } else {
        &i.subject
    }
}

/// Whether the import may be used; `Ok(Some(exp))` when its activation token expires.
fn check_import(importer: &str, imp: &Import, accounts: &HashMap<&str, &AccountClaims>, now: i64) -> Result<Option<i64>, JwtError> {
    let exporter = accounts.get(imp.account.as_str()).ok_or_else(|| JwtError::UnknownAccount(imp.account.clone()))?;
    let remote = remote_subject(imp);
    if !subject::is_valid_subject(remote.as_bytes()) {
        return Err(JwtError::Invalid(format!("invalid subject {remote:?}")));
    }
    let export = exporter
        .nats
        .exports
        .iter()
        .find(|e| e.kind == imp.kind && subject::subject_is_subset(remote.as_bytes(), e.subject.as_bytes()))
        .ok_or_else(|| JwtError::Invalid("no matching export".into()))?;
    if !export.token_req {
        return Ok(None);
    }
    if imp.token.is_empty() {
        return Err(JwtError::Invalid("private export needs an activation token".into()));
    }
    let act = codec::decode_activation(&imp.token)?;
    codec::check_times(&act, now)?;
    // nats-server's `checkActivation`: expired once `exp <= now` (whole seconds).
    if act.exp > 0 && act.exp <= now {
        return Err(JwtError::Expired);
    }
    let issuer_ok = act.iss == exporter.sub
        || (act.nats.issuer_account == exporter.sub && exporter.nats.signing_keys.iter().any(|k| k.key() == act.iss));
    if !issuer_ok {
        return Err(JwtError::UnknownIssuer(act.iss));
    }
    if act.sub != importer {
        return Err(JwtError::Invalid("activation token is for another account".into()));
    }
    if act.nats.kind != imp.kind || !subject::subject_is_subset(remote.as_bytes(), act.nats.subject.as_bytes()) {
        return Err(JwtError::Invalid("activation token does not cover the import".into()));
    }
    if verify::is_revoked(&export.revocations, importer, act.iat) {
        return Err(JwtError::Revoked);
    }
    Ok((act.exp > 0).then_some(act.exp))
}
