//! Authentication and authorization: who may connect (token, user/password with plain
//! or bcrypt passwords, nkeys, `no_auth_user`) and what each identity may publish and
//! subscribe (compiled permissions, response permissions). Sans-IO: the server calls it
//! once per CONNECT and keeps the result with the connection.
pub mod authenticate;
pub mod callout;
pub mod callout_config;
pub mod config;
pub mod password;
pub mod permissions;

pub use authenticate::{new_nonce, AuthError, Authenticator, Identity};
pub use password::{Admission, PasswordCache, PasswordCheck};
pub use config::{AuthConfig, PermissionsConfig, ResponsePermission, Secret};
pub use permissions::{Permissions, PubDecisions, ResponseTracker};
