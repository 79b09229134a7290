//! Black-box tests of `dtr serve`: the real service on port 0 with a fresh database per test
//! (SQLite by default; PostgreSQL when `DTR_TEST_POSTGRES_URL` names a server), real HTTP, and
//! wiremock receivers for authorities. One binary, one module per capability.

#![allow(clippy::unwrap_used)]

mod audit;
mod authorities;
mod data_protection;
mod delivery;
mod errors;
mod inbox;
mod keys;
mod lifecycle;
mod mail;
mod operations;
mod refer;
mod referrals;
mod safety;
mod scoping;
mod spec;
mod storage;
mod triage;
