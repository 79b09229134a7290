//! RFC 9457 problem details: the body of every non-2xx answer (docs/contract.md §8), served as
//! `application/problem+json`.

use crate::{ProblemType, ValidationIssue};
use poem::{IntoResponse, Response};
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, MetaSchemaRef, Registry};
use poem_openapi::types::{ToJSON, Type};
use poem_openapi::{ApiResponse, Object};

/// The media type of problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct Problem {
    /// A URI reference naming the problem type; `about:blank` when the status says it all, otherwise
    /// a stable `urn:dtr:problem:…` name a client may branch on.
    #[oai(rename = "type")]
    pub kind: String,
    /// Short summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request. Never contains internal causes or personal data.
    pub detail: String,
    /// For an invalid referral or request body: every error (at most 200), each with a JSON pointer
    /// and a stable code.
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<Vec<ValidationIssue>>,
    /// How many more errors there were than `errors` lists (present only when some were left out).
    #[oai(skip_serializing_if_is_none)]
    pub more_errors: Option<u32>,
}

impl Problem {
    /// A problem whose type follows from `status` (`auth.missing` for 401, `not_found` for 404,
    /// …; `about:blank` only for a status with no name of its own).
    pub fn new(status: u16, detail: impl Into<String>) -> Self {
        Problem {
            kind: ProblemType::for_status(status)
                .map_or_else(|| "about:blank".to_owned(), ProblemType::uri),
            title: reason_phrase(status).to_owned(),
            status,
            detail: detail.into(),
            errors: None,
            more_errors: None,
        }
    }

    /// A problem with a stable type name, e.g. `idempotency.key_reused` → `urn:dtr:problem:idempotency.key_reused`.
    pub fn typed(status: u16, name: ProblemType, detail: impl Into<String>) -> Self {
        Problem {
            kind: name.uri(),
            ..Problem::new(status, detail)
        }
    }

    /// Serialized JSON.
    pub fn to_json_string(&self) -> String {
        ToJSON::to_json_string(self)
    }

    /// A 422 for a request body that was read but refused: every fault with its pointer and code.
    pub fn refused_body(name: ProblemType, errors: Vec<ValidationIssue>) -> poem::Error {
        let detail = match errors.len() {
            1 => "The request body has 1 error; see errors.".to_owned(),
            n => format!("The request body has {n} errors; see errors."),
        };
        let mut problem = Problem::typed(422, name, detail);
        problem.errors = Some(errors);
        poem::Error::from_response(ProblemJson::from(problem).into_response())
    }

    /// A 400 for a request body that cannot be read (not JSON, too deep, not an object), as the
    /// error a payload extractor returns. `detail` must not quote the body.
    pub fn malformed_body(detail: impl Into<String>) -> poem::Error {
        let detail = detail.into();
        let mut problem = Problem::typed(400, ProblemType::RequestMalformed, detail.clone());
        problem.errors = Some(vec![ValidationIssue {
            pointer: String::new(),
            code: domain::Code::FieldType.as_str().to_owned(),
            message: detail,
        }]);
        poem::Error::from_response(ProblemJson::from(problem).into_response())
    }
}

/// Whether a `Content-Type` is JSON: `application/json` or a `+json` type, parameters aside.
pub fn is_json_content_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The standard reason phrase for the statuses this service answers with.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// A payload served as `application/problem+json` (boxed: it travels in every error `Result`).
#[derive(Debug, Clone, PartialEq)]
pub struct ProblemJson(pub Box<Problem>);

impl From<Problem> for ProblemJson {
    fn from(p: Problem) -> Self {
        ProblemJson(Box::new(p))
    }
}

impl Payload for ProblemJson {
    const CONTENT_TYPE: &'static str = PROBLEM_JSON;

    fn schema_ref() -> MetaSchemaRef {
        Problem::schema_ref()
    }

    fn register(registry: &mut Registry) {
        Problem::register(registry);
    }
}

impl IntoResponse for ProblemJson {
    fn into_response(self) -> Response {
        let status = poem::http::StatusCode::from_u16(self.0.status)
            .unwrap_or(poem::http::StatusCode::INTERNAL_SERVER_ERROR);
        Response::builder()
            .status(status)
            .content_type(PROBLEM_JSON)
            .body(self.0.to_json_string())
    }
}

impl ApiResponse for ProblemJson {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "A problem (RFC 9457).",
                status: None,
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: PROBLEM_JSON,
                    schema: Problem::schema_ref(),
                }],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        Problem::register(registry);
    }
}
