//! `natrix-bench jwt-setup DIR`: a fresh operator, account and user for JWT benchmarks —
//! writes `DIR/op.jwt`, `DIR/jwt.conf` (operator, MEMORY resolver, the account
//! preloaded; usable by natrix and nats-server) and `DIR/user.creds`.
use natrix::jwt::claims::{Account, Claims, Operator, User};
use natrix::jwt::{creds, encode};
use nkeys::KeyPair;
use std::path::Path;
use std::process::ExitCode;

pub fn run(args: &[String]) -> ExitCode {
    let Some(dir) = args.first() else {
        eprintln!("usage: natrix-bench jwt-setup DIR");
        return ExitCode::from(2);
    };
    match setup(Path::new(dir)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jwt-setup: {e}");
            ExitCode::from(1)
        }
    }
}

fn setup(dir: &Path) -> Result<(), String> {
    let (op, acc, user) = (KeyPair::new_operator(), KeyPair::new_account(), KeyPair::new_user());
    let e = |x: natrix::jwt::JwtError| x.to_string();
    let op_jwt = encode(&mut Claims { sub: op.public_key(), name: "bench".into(), nats: Operator::new(), ..Default::default() }, &op).map_err(e)?;
    let acc_jwt = encode(&mut Claims { sub: acc.public_key(), name: "bench".into(), nats: Account::unlimited(), ..Default::default() }, &op).map_err(e)?;
    let user_jwt = encode(&mut Claims { sub: user.public_key(), name: "bench".into(), nats: User::unlimited(), ..Default::default() }, &acc).map_err(e)?;
    let seed = user.seed().map_err(|x| x.to_string())?;
    std::fs::create_dir_all(dir).map_err(|x| x.to_string())?;
    let w = |name: &str, text: &str| std::fs::write(dir.join(name), text).map_err(|x| format!("{name}: {x}"));
    w("op.jwt", &op_jwt)?;
    w("user.creds", &creds::format(&user_jwt, &seed))?;
    let op_path = dir.join("op.jwt");
    w(
        "jwt.conf",
        &format!("operator: \"{}\"\nresolver: MEMORY\nresolver_preload {{\n  {}: \"{acc_jwt}\"\n}}\n", op_path.display(), acc.public_key()),
    )?;
    Ok(())
}
