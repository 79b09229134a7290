//! The running duty-to-refer service: configuration, the HTTP API, the web pages for people,
//! persistence, the audit log, the delivery worker and the `dtr` command line.
//!
//! The layers (README "Internals"): `http` (the API) and `web` (people's pages) authenticate,
//! parse, call a use case and shape the answer; the feature modules — `referrals`, `delivery`,
//! `authorities`, `people`, `keys`, `audit` — own their use cases (one function, one transaction)
//! and their repositories (every query); `referrals::lifecycle` decides every status, purely;
//! `db` is the storage itself. Lower layers never import `http` or `web`.

pub mod audit;
pub mod authorities;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod delivery;
mod entities;
pub mod http;
pub mod ids;
pub mod keys;
pub mod metrics;
pub mod people;
pub mod practitioners;
pub mod referrals;
pub mod serve;
pub mod slow_clients;
pub mod web;

pub use entities::*;
