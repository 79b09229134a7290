//! Housing authorities: where their referrals go (an endpoint with its signing secret, or the
//! inbox and a mailbox told of it), the rules an endpoint must meet, and the register.

pub mod endpoint_url;
pub mod repository;
pub mod secrets;
