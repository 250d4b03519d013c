//! Fuzz the JWT and creds decoders: arbitrary text never panics, and whatever decodes
//! as a user JWT has a user subject and an account issuer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use natrix::jwt::{self, claims::User, codec::KeyKind};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(c) = jwt::decode_user(text) {
        assert!(jwt::codec::is_public_key(&c.sub, KeyKind::User));
        assert!(jwt::codec::is_public_key(&c.iss, KeyKind::Account));
    }
    let _ = jwt::decode_account(text);
    let _ = jwt::decode_operator(text);
    let _ = jwt::decode_activation(text);
    let _ = jwt::decode::<User>(text);
    let _ = jwt::creds::parse(text);
    let _ = jwt::creds::blocks(text);
    let _ = jwt::creds::decorated_jwt(text);
});
