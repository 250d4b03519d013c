//! Configuration reload (SIGHUP): re-read the file with the original flags applied
//! over it, refuse changes to options that cannot change while running (as
//! nats-server does, naming the field), and put the rest in force.
use super::shared::Shared;
use crate::config::cli::{self, Command};
use crate::config::Options;

/// Reloads from the original command line. On success returns the warnings of the
/// new file; on failure the running configuration is untouched.
pub fn reload(shared: &Shared, args: &[String]) -> Result<Vec<String>, String> {
    let (mut new, warnings) = match cli::parse_args(args.iter().cloned()) {
        Ok(Command::Run { options, warnings }) => (*options, warnings),
        Ok(_) => return Err("the command line does not start a server".to_string()),
        Err(e) => return Err(e.to_string()),
    };
    if new.config_file.is_none() {
        return Err("can only reload config when a file is provided using -c or --config".to_string());
    }
    new.validate()?;
    let old = shared.live_options();
    crate::jwt::config::carry_updates(&old.auth.trust, &mut new.auth.trust);
    check_reloadable(&old, &new)?;
    // Certificates are read again; a bad file refuses the reload.
    let tls = super::shared::build_tls(&new).map_err(|e| e.to_string())?;
    crate::logging::set_levels(new.debug, new.trace);
    super::imports::install(&shared.accounts, &new.auth);
    shared.set_live_options(new, tls);
    Ok(warnings)
}

/// nats-server refuses the whole reload when a non-reloadable option changed.
fn check_reloadable(old: &Options, new: &Options) -> Result<(), String> {
    fn refuse(field: &str, old: impl std::fmt::Debug, new: impl std::fmt::Debug) -> Result<(), String> {
        Err(format!("config reload not supported for {field}: old={old:?}, new={new:?}"))
    }
    if old.host != new.host {
        return refuse("Host", &old.host, &new.host);
    }
    if old.port != new.port && new.port != 0 {
        return refuse("Port", old.port, new.port);
    }
    if old.server_name != new.server_name {
        return refuse("ServerName", &old.server_name, &new.server_name);
    }
    if old.max_pending != new.max_pending {
        return refuse("MaxPending", old.max_pending, new.max_pending);
    }
    if old.max_subscriptions != new.max_subscriptions {
        return refuse("MaxSubs", old.max_subscriptions, new.max_subscriptions);
    }
    if old.workers != new.workers {
        return refuse("Workers", old.workers, new.workers);
    }
    if old.log_file != new.log_file {
        return refuse("LogFile", &old.log_file, &new.log_file);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn reloadable_and_not() {
        let old = Options::default();
        let mut new = old.clone();
        new.max_payload = 512;
        new.ping_interval = Duration::from_secs(5);
        new.max_connections = 10;
        assert!(check_reloadable(&old, &new).is_ok());
        new.max_pending = 1;
        let e = check_reloadable(&old, &new).unwrap_err();
        assert!(e.starts_with("config reload not supported for MaxPending: old=67108864, new=1"), "{e}");
    }
}
