//! The server: mio workers, connections, routing and delivery.
