//! The running duty-to-refer service: configuration, the HTTP API, persistence, the audit log, the
//! delivery worker and the `dtr` command line.

pub mod cli;
mod validate_cmd;
