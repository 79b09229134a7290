//! The wire contract of the duty-to-refer service: request and response objects as poem-openapi
//! types, conversions from the domain, and the example referrals. Knows HTTP shapes, never storage.

mod validation;

pub use validation::{ValidationIssue, ValidationReport};
