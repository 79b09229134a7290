//! The example referrals of `openapi/examples/`, compiled in for the OpenAPI documentation.

/// A valid referral of a person who is homeless today.
pub const VALID_HOMELESS: &str = include_str!("../examples/valid-homeless.json");
/// A referral made under a safeguarding override.
pub const VALID_SAFEGUARDING_OVERRIDE: &str =
    include_str!("../examples/valid-safeguarding-override.json");
/// An invalid referral with structural errors in several places.
pub const INVALID_STRUCTURE: &str = include_str!("../examples/invalid-structure.json");
/// A valid referral of a person threatened with homelessness within 56 days (dated: judge it with
/// `dtr validate --as-of` the instant in `expected.json`).
pub const VALID_THREATENED: &str = include_str!("../examples/valid-threatened.json");

/// Answers of the live service, recorded by the black-box test
/// `every_json_answer_has_an_example_and_the_live_answers_match_their_schemas` (run it with
/// `DTR_RECORD_EXAMPLES=1` to re-record): operation id → `{ status, example }`, secrets masked.
/// The spec shows them as the examples of every JSON answer without a hand-written one.
pub const RECORDED_RESPONSES: &str = include_str!("../recorded-responses.json");
