//! The wire contract of the duty-to-refer service: request and response objects as poem-openapi
//! types, RFC 9457 problems, conversions from the domain, and the example referrals. Knows HTTP
//! shapes, never storage.

mod document;
pub mod examples;
mod feed;
mod organisations;
mod problem;
mod resources;
mod validation;
mod vocab;
mod webhook;

pub use document::*;
pub use feed::*;
pub use organisations::*;
pub use problem::{is_json_content_type, reason_phrase, Problem, ProblemJson, PROBLEM_JSON};
pub use resources::*;
pub use validation::{ValidationIssue, ValidationReport};
pub use vocab::{ActorRole, AuditAction, ProblemType};
pub use webhook::{
    ReferralCreatedEvent, ReferralErasedEvent, ReferralNoteAddedEvent, ReferralWithdrawnEvent,
    WEBHOOK_EVENTS, WEBHOOK_EVENT_TYPES,
};
