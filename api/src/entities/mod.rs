//! sea-orm entities, written to match the `migration` crate (the schema's source of truth).
//! Persistence functions take and return domain-level values; these rows stay inside `api`.

pub mod api_key;
pub mod assignment;
pub mod audit_event;
pub mod authority_endpoint;
pub mod authority_notify;
pub mod draft;
pub mod feed_entry;
pub mod note;
pub mod note_subscription;
pub mod officer;
pub mod organisation;
pub mod organisation_domain;
pub mod outbox;
pub mod practitioner;
pub mod referral;
pub mod session;
pub mod sign_in_token;
