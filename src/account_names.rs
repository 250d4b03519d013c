//! Names of the accounts every server has. They sit below both the identity code
//! (`auth`, `jwt`) and the I/O layer (`server`) so identity never imports the server.

/// The account of clients that name none (nats-server's global account).
pub const GLOBAL_ACCOUNT: &str = "$G";
/// nats-server's default system account.
pub const SYSTEM_ACCOUNT: &str = "$SYS";
