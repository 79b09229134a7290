//! The one place that decides HTTP statuses for failures. Handlers return facts (`ApiError`
//! variants built by the constructors below); internal causes are logged here and never returned.

use openapi::{Problem, ProblemJson, ProblemType, ValidationIssue};
use poem_openapi::ApiResponse;

/// Every failure an operation can answer with, as RFC 9457 problems.
#[derive(Debug, ApiResponse)]
pub enum ApiError {
    /// The request is malformed (bad parameter, cursor or JSON).
    #[oai(status = 400)]
    BadRequest(ProblemJson),
    /// No valid API key.
    #[oai(status = 401)]
    Unauthorized(ProblemJson, #[oai(header = "WWW-Authenticate")] String),
    /// The key's role may not use this operation.
    #[oai(status = 403)]
    Forbidden(ProblemJson),
    /// Not found, or not visible to this key (existence is never disclosed).
    #[oai(status = 404)]
    NotFound(ProblemJson),
    /// The resource is not in a state that allows this.
    #[oai(status = 409)]
    Conflict(ProblemJson),
    /// The request body did not arrive within 10 seconds of its headers; nothing was done.
    #[oai(status = 408)]
    RequestTimeout(ProblemJson),
    /// The request body is larger than `DTR_MAX_BODY_BYTES`.
    #[oai(status = 413)]
    TooLarge(ProblemJson),
    /// The body is not `application/json`.
    #[oai(status = 415)]
    UnsupportedMediaType(ProblemJson),
    /// The content is understood but refused (invalid referral, reused idempotency key, bad endpoint URL).
    #[oai(status = 422)]
    Unprocessable(ProblemJson),
    /// Too many requests for this API key; see `Retry-After`.
    #[oai(status = 429)]
    TooManyRequests(ProblemJson, #[oai(header = "Retry-After")] u64),
    /// Something failed on our side; the cause is logged, not returned.
    #[oai(status = 500)]
    Internal(ProblemJson),
    /// Nothing was stored: the database cannot take it now (`storage.unavailable`: a full disk, a
    /// lost or restarting database) or too much is waiting already (`service.overloaded`). Try
    /// again after `Retry-After` seconds.
    #[oai(status = 503)]
    Unavailable(ProblemJson, #[oai(header = "Retry-After")] u64),
}

impl ApiError {
    /// 400.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        ApiError::BadRequest(ProblemJson::from(Problem::new(400, detail)))
    }

    /// 401 with `WWW-Authenticate: Bearer`.
    pub fn unauthorized() -> Self {
        ApiError::Unauthorized(
            ProblemJson::from(Problem::new(
                401,
                "Send a valid API key as Authorization: Bearer <key>.",
            )),
            "Bearer".to_owned(),
        )
    }

    /// 403: the role never may.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        ApiError::Forbidden(ProblemJson::from(Problem::new(403, detail)))
    }

    /// 404.
    pub fn not_found(what: &str) -> Self {
        ApiError::NotFound(ProblemJson::from(Problem::new(
            404,
            format!("No {what} with this id is visible to this key."),
        )))
    }

    /// 429: this key holds as many long polls as it may.
    pub fn too_many_long_polls(max: usize) -> Self {
        ApiError::TooManyRequests(
            ProblemJson::from(Problem::new(
                429,
                format!("This key already holds {max} long polls of the event feed; end one, or poll without wait."),
            )),
            1,
        )
    }

    /// 409.
    pub fn conflict(name: ProblemType, detail: impl Into<String>) -> Self {
        ApiError::Conflict(ProblemJson::from(Problem::typed(409, name, detail)))
    }

    /// 422 with a stable type name.
    pub fn unprocessable(name: ProblemType, detail: impl Into<String>) -> Self {
        ApiError::Unprocessable(ProblemJson::from(Problem::typed(422, name, detail)))
    }

    /// 422 listing the first errors, with the count of those left out.
    pub fn invalid_truncated(
        name: ProblemType,
        detail: impl Into<String>,
        errors: Vec<ValidationIssue>,
        more: usize,
    ) -> Self {
        let mut p = Problem::typed(422, name, detail);
        p.errors = Some(errors);
        p.more_errors = (more > 0).then(|| u32::try_from(more).unwrap_or(u32::MAX));
        ApiError::Unprocessable(ProblemJson::from(p))
    }

    /// 422 listing every error at once.
    pub fn invalid(
        name: ProblemType,
        detail: impl Into<String>,
        errors: Vec<ValidationIssue>,
    ) -> Self {
        let mut p = Problem::typed(422, name, detail);
        p.errors = Some(errors);
        ApiError::Unprocessable(ProblemJson::from(p))
    }
}

impl From<crate::referrals::lifecycle::Refusal> for ApiError {
    fn from(r: crate::referrals::lifecycle::Refusal) -> Self {
        use crate::referrals::lifecycle::Refusal;
        match r {
            Refusal::WrongState(status) => ApiError::conflict(
                ProblemType::ReferralWrongState,
                format!(
                    "This referral is {}, which does not allow this.",
                    status.as_str()
                ),
            ),
            Refusal::Erased => ApiError::conflict(
                ProblemType::ReferralErased,
                "This referral's personal data was erased.",
            ),
            Refusal::DutyAccepted => ApiError::conflict(
                ProblemType::ReferralWrongState,
                "The authority accepted a duty to this person (prevention, relief or interim accommodation); a withdrawal does not end it. Only consent_withdrawn may still be recorded: it erases this service's copy and tells the authority.",
            ),
            Refusal::NoEndpoint => ApiError::conflict(
                ProblemType::AuthorityNoEndpoint,
                "The authority has no endpoint; it collects referrals from its inbox instead.",
            ),
        }
    }
}

impl From<crate::referrals::ActionError> for ApiError {
    fn from(e: crate::referrals::ActionError) -> Self {
        use crate::referrals::ActionError;
        match e {
            ActionError::NotFound => ApiError::not_found("referral"),
            ActionError::Refused(r) => r.into(),
            ActionError::Invalid(errors) => ApiError::invalid(
                ProblemType::RequestMalformed,
                "The request is invalid; see errors.",
                errors.iter().map(Into::into).collect(),
            ),
            ActionError::Db(e) => e.into(),
        }
    }
}

/// What a client is told to wait before retrying after a storage fault or overload, in seconds.
pub const RETRY_AFTER_SECONDS: u64 = 5;

impl ApiError {
    /// 503 `storage.unavailable`: nothing was stored.
    pub fn storage_unavailable() -> Self {
        ApiError::Unavailable(
            ProblemJson::from(Problem::typed(
                503,
                ProblemType::StorageUnavailable,
                "The database cannot store anything now; nothing was stored. Try again after Retry-After seconds (a submission retried with the same Idempotency-Key never makes two referrals).",
            )),
            RETRY_AFTER_SECONDS,
        )
    }

    /// 503 `service.overloaded`: nothing was stored.
    pub fn overloaded() -> Self {
        ApiError::Unavailable(
            ProblemJson::from(Problem::typed(
                503,
                ProblemType::ServiceOverloaded,
                "The service has more work waiting than it takes at once; nothing was stored. Try again after Retry-After seconds.",
            )),
            RETRY_AFTER_SECONDS,
        )
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        use crate::db::Fault;
        match Fault::of(&e) {
            Fault::Storage => {
                tracing::error!(error = %e, "storage unavailable");
                ApiError::storage_unavailable()
            }
            Fault::Overloaded => {
                tracing::warn!("too many writes waiting; answered 503");
                ApiError::overloaded()
            }
            Fault::Other => {
                tracing::error!(error = %e, "database error");
                ApiError::Internal(ProblemJson::from(Problem::new(
                    500,
                    "An internal error occurred; it has been logged.",
                )))
            }
        }
    }
}
