//! Logging in nats-server's format.
