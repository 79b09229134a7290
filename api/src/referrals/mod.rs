//! Referrals: their use cases (one function, one transaction each), their repository, the
//! group-commit writer of the hot paths, the lifecycle that decides every status, and retention.

mod actions;
pub mod group_commit;
pub mod lifecycle;
pub mod repository;
pub mod retention;
pub mod submit;

pub use actions::*;
