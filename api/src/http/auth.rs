//! Who is calling: the bearer-key security scheme, the role check, and the spec's tags.

use super::error::ApiError;
use super::AppState;
use crate::keys::Caller;
use openapi::Role;
use poem::Request;
use poem_openapi::auth::Bearer;
use poem_openapi::{SecurityScheme, Tags};

#[derive(Tags)]
pub enum Tag {
    /// Validate, submit, read and track referrals.
    Referrals,
    /// The register of English housing authorities and their delivery endpoints.
    Authorities,
    /// API keys (admin).
    Keys,
    /// The tamper-evident audit trail.
    Audit,
    /// Health and metrics for operators.
    Operations,
    /// Organisations whose practitioners refer on the web, and their practitioners (admin).
    Organisations,
}

/// `Authorization: Bearer <key>`. Keys are created by an admin (`POST /v1/api-keys` or
/// `dtr keys create`) and shown once.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", checker = "check_bearer")]
pub struct BearerAuth(pub Caller);

async fn check_bearer(req: &Request, bearer: Bearer) -> Option<Caller> {
    let state = req.data::<AppState>()?;
    match state
        .keys
        .authenticate(state.db.conn(), &bearer.token, state.clock.now_ms())
        .await
    {
        Ok(caller) => caller,
        Err(e) => {
            tracing::error!(error = %e, "could not check an API key");
            None
        }
    }
}

/// Refuses (403) a caller whose role is not `allowed`; `what` completes "… key may not …".
pub fn require(caller: &Caller, allowed: &[Role], what: &str) -> Result<(), ApiError> {
    if allowed.contains(&caller.scope.role()) {
        Ok(())
    } else {
        let role = caller.scope.role().as_str();
        let article = if role.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "An"
        } else {
            "A"
        };
        Err(ApiError::forbidden(format!(
            "{article} {role} key may not {what}."
        )))
    }
}
