//! What operators and their tools talk to: the web console, the metrics and health server,
//! the control socket `imagine-agent state` reads, systemd's notify protocol,
//! and TLS for the webhook receiver.

pub mod console;
pub mod control;
pub mod metrics_server;
pub mod systemd;
pub mod tls;
