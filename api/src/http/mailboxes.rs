//! Reaching authorities without software (docs/contract.md §10): the mailbox told when a referral waits,
//! and the officers who may sign in to the web inbox. Both need e-mail (`DTR_SMTP_URL`): without
//! it they answer 409 `smtp.not_configured`, since nobody could be told or sign in.

use super::auth::{require, BearerAuth, Tag};
use super::error::ApiError;
use super::AppState;
use crate::audit::Actor;
use crate::authorities;
use crate::ids::{GssCode, OfficerId};
use crate::people as officers;
use openapi::{EmailRequest, JsonBody, NotifyView, OfficerList, OfficerView, ProblemType, Role};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

/// `204 No Content`.
#[derive(ApiResponse)]
pub enum Done {
    /// Done.
    #[oai(status = 204)]
    NoContent,
}

/// `201 Created`: the officer.
#[derive(ApiResponse)]
pub enum OfficerAdded {
    /// The officer may now sign in.
    #[oai(status = 201)]
    Created(Json<OfficerView>),
}

fn authority(gss_code: &str) -> Result<&'static domain::HousingAuthority, ApiError> {
    domain::register()
        .get(gss_code)
        .ok_or_else(|| ApiError::not_found("housing authority"))
}

fn smtp_configured(state: &AppState) -> Result<(), ApiError> {
    if state.mailer.is_none() {
        return Err(ApiError::conflict(
            ProblemType::SmtpNotConfigured,
            "E-mail is not configured (DTR_SMTP_URL), so nobody can be told or sign in.",
        ));
    }
    Ok(())
}

fn officer_view(o: crate::entities::officer::Model) -> OfficerView {
    OfficerView {
        id: o.id,
        email: o.email,
        gss_code: o.gss_code,
    }
}

/// The mailbox and officer operations.
pub struct MailboxesApi;

#[OpenApi]
impl MailboxesApi {
    /// Tell an authority's mailbox about waiting referrals
    ///
    /// From now on, each referral that enters the authority's inbox (`awaiting_collection`) is
    /// announced by one e-mail to `email` — the authority, the referring organisation and agency
    /// type, the urgency in words and a link to the web inbox; never personal data — and a
    /// withdrawal of a referral it was told about is told the same way. Replaces an earlier
    /// address. 409 `smtp.not_configured` without `DTR_SMTP_URL`. Role: admin.
    #[oai(
        path = "/v1/authorities/:gss_code/notify",
        method = "put",
        tag = "Tag::Authorities",
        operation_id = "set_authority_notify"
    )]
    async fn set_notify(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        gss_code: Path<String>,
        body: JsonBody<EmailRequest>,
    ) -> Result<Json<NotifyView>, ApiError> {
        let caller = &auth.0;
        require(caller, &[Role::Admin], "manage authority notifications")?;
        let a = authority(&gss_code.0)?;
        smtp_configured(&state)?;
        let email = officers::normalise_email(&body.0.email);
        authorities::set_notify(
            &state.db,
            Actor::from(caller),
            &GssCode::of(a),
            Some(&email),
            state.clock.now_ms(),
        )
        .await?;
        Ok(Json(NotifyView {
            gss_code: a.gss_code.clone(),
            email,
        }))
    }

    /// Stop telling an authority's mailbox
    ///
    /// No more e-mails; those queued and not yet sent are not sent. Role: admin.
    #[oai(
        path = "/v1/authorities/:gss_code/notify",
        method = "delete",
        tag = "Tag::Authorities",
        operation_id = "delete_authority_notify"
    )]
    async fn delete_notify(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        gss_code: Path<String>,
    ) -> Result<Done, ApiError> {
        let caller = &auth.0;
        require(caller, &[Role::Admin], "manage authority notifications")?;
        let a = authority(&gss_code.0)?;
        authorities::set_notify(
            &state.db,
            Actor::from(caller),
            &GssCode::of(a),
            None,
            state.clock.now_ms(),
        )
        .await?;
        Ok(Done::NoContent)
    }

    /// Add an officer
    ///
    /// A person of the authority who may sign in to the web inbox (`/inbox`) with a link e-mailed
    /// to `email`. An address belongs to one officer (409 `officer.exists`). 409
    /// `smtp.not_configured` without `DTR_SMTP_URL`. Role: admin.
    #[oai(
        path = "/v1/authorities/:gss_code/officers",
        method = "post",
        tag = "Tag::Authorities",
        operation_id = "add_officer"
    )]
    async fn add_officer(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        gss_code: Path<String>,
        body: JsonBody<EmailRequest>,
    ) -> Result<OfficerAdded, ApiError> {
        let caller = &auth.0;
        require(caller, &[Role::Admin], "manage officers")?;
        let a = authority(&gss_code.0)?;
        smtp_configured(&state)?;
        let added = officers::add_officer(
            &state.db,
            Actor::from(caller),
            &GssCode::of(a),
            &body.0.email,
            state.clock.now_ms(),
        )
        .await?;
        let Some(officer) = added else {
            return Err(ApiError::conflict(
                ProblemType::OfficerExists,
                "This address is already an officer's; each address belongs to one officer.",
            ));
        };
        Ok(OfficerAdded::Created(Json(officer_view(officer))))
    }

    /// List an authority's officers
    ///
    /// Oldest first. Role: admin.
    #[oai(
        path = "/v1/authorities/:gss_code/officers",
        method = "get",
        tag = "Tag::Authorities",
        operation_id = "list_officers"
    )]
    async fn officers(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        gss_code: Path<String>,
    ) -> Result<Json<OfficerList>, ApiError> {
        require(&auth.0, &[Role::Admin], "manage officers")?;
        let a = authority(&gss_code.0)?;
        let items = officers::list_officers(&state.db, &GssCode::of(a))
            .await?
            .into_iter()
            .map(officer_view)
            .collect();
        Ok(Json(OfficerList { items }))
    }

    /// Remove an officer
    ///
    /// Their sessions end at once and their sign-in links stop working. Role: admin.
    #[oai(
        path = "/v1/authorities/:gss_code/officers/:id",
        method = "delete",
        tag = "Tag::Authorities",
        operation_id = "remove_officer"
    )]
    async fn remove_officer(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        gss_code: Path<String>,
        id: Path<String>,
    ) -> Result<Done, ApiError> {
        let caller = &auth.0;
        require(caller, &[Role::Admin], "manage officers")?;
        let a = authority(&gss_code.0)?;
        let removed = officers::remove_officer(
            &state.db,
            Actor::from(caller),
            &GssCode::of(a),
            &OfficerId::parse(&id.0).ok_or_else(|| ApiError::not_found("officer"))?,
            state.clock.now_ms(),
        )
        .await?;
        if !removed {
            return Err(ApiError::not_found("officer"));
        }
        Ok(Done::NoContent)
    }
}
