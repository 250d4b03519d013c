//! The NATS client protocol: zero-copy parser and encoders.
