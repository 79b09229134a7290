//! The running duty-to-refer service: configuration, the HTTP API, persistence, the audit log, the
//! delivery worker and the `dtr` command line.

pub mod actions;
pub mod audit;
pub mod batch;
pub mod checkpoint;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod delivery;
pub mod endpoint_url;
mod entities;
pub mod feed;
pub mod http;
pub mod keys;
pub mod keys_cmd;
pub mod lifecycle;
pub mod mail;
pub mod metrics;
pub mod officers;
pub mod retention;
pub mod secrets;
pub mod serve;
pub mod signing;
pub mod slow_clients;
pub mod store;
mod validate_cmd;

pub use entities::*;
