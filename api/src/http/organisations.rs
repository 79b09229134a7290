//! Organisations whose practitioners refer on the web, and their practitioners (docs/contract.md
//! §14): admin only. Each handler calls one use case of [`crate::practitioners`].

use super::auth::{require, BearerAuth, Tag};
use super::error::ApiError;
use super::AppState;
use crate::audit::Actor;
use crate::db::rfc3339_ms;
use crate::practitioners::{
    self, AddPractitionerError, NewOrganisation, Organisation, OrganisationChange,
};
use openapi::{
    EmailRequest, JsonBody, OrganisationList, OrganisationPatch, OrganisationRequest,
    OrganisationView, PractitionerList, PractitionerView, ProblemType, Role,
};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

/// `204 No Content`.
#[derive(ApiResponse)]
pub enum Removed {
    /// Removed.
    #[oai(status = 204)]
    NoContent,
}

/// `201 Created`: the organisation.
#[derive(ApiResponse)]
pub enum OrganisationAdded {
    /// Its practitioners may now sign in at `/refer`.
    #[oai(status = 201)]
    Created(Json<OrganisationView>),
}

/// `201 Created`: the practitioner.
#[derive(ApiResponse)]
pub enum PractitionerAdded {
    /// They may now sign in at `/refer`.
    #[oai(status = 201)]
    Created(Json<PractitionerView>),
}

fn view(o: Organisation) -> OrganisationView {
    OrganisationView {
        agency_types: o
            .agency_types
            .iter()
            .map(|a| a.as_str().to_owned())
            .collect(),
        email_domains: o.email_domains,
        created_at: rfc3339_ms(o.created_at_ms),
        updated_at: rfc3339_ms(o.updated_at_ms),
        id: o.id,
        name: o.name,
    }
}

fn practitioner_view(p: crate::entities::practitioner::Model) -> PractitionerView {
    PractitionerView {
        id: p.id,
        organisation_id: p.organisation_id,
        email: p.email,
        added_individually: p.added_individually,
        agency_type: p.agency_type,
    }
}

fn agency_types(raw: Vec<String>) -> Vec<domain::AgencyType> {
    // Checked by the body's reader: every member parses.
    raw.iter().filter_map(|a| a.parse().ok()).collect()
}

/// The organisation operations.
pub struct OrganisationsApi;

#[OpenApi]
impl OrganisationsApi {
    /// Add an organisation of practitioners
    ///
    /// An organisation whose practitioners refer on the web (`/refer`) without a case system: its
    /// name (the `organisation` of its referrals), the agency types they may refer as, and the
    /// e-mail domains its staff use — an address on one of them may sign in without being added
    /// first. A domain may be listed by several organisations; a practitioner on it chooses
    /// theirs when signing in. Role: admin.
    #[oai(
        path = "/v1/organisations",
        method = "post",
        tag = "Tag::Organisations",
        operation_id = "add_organisation"
    )]
    async fn add(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        body: JsonBody<OrganisationRequest>,
    ) -> Result<OrganisationAdded, ApiError> {
        let caller = &auth.0;
        require(caller, &[Role::Admin], "manage organisations")?;
        let b = body.0;
        let added = practitioners::add_organisation(
            &state.db,
            Actor::from(caller),
            NewOrganisation {
                name: b.name,
                agency_types: agency_types(b.agency_types),
                email_domains: b.email_domains,
            },
            state.clock.now_ms(),
        )
        .await?;
        Ok(OrganisationAdded::Created(Json(view(added))))
    }

    /// List organisations
    ///
    /// Oldest first. Role: admin.
    #[oai(
        path = "/v1/organisations",
        method = "get",
        tag = "Tag::Organisations",
        operation_id = "list_organisations"
    )]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<Json<OrganisationList>, ApiError> {
        require(&auth.0, &[Role::Admin], "manage organisations")?;
        let items = practitioners::organisations(&state.db)
            .await?
            .into_iter()
            .map(view)
            .collect();
        Ok(Json(OrganisationList { items }))
    }

    /// Read an organisation
    ///
    /// Role: admin.
    #[oai(
        path = "/v1/organisations/:id",
        method = "get",
        tag = "Tag::Organisations",
        operation_id = "get_organisation"
    )]
    async fn get(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> Result<Json<OrganisationView>, ApiError> {
        require(&auth.0, &[Role::Admin], "manage organisations")?;
        practitioners::organisation(&state.db, &id.0)
            .await?
            .map(|o| Json(view(o)))
            .ok_or_else(|| ApiError::not_found("organisation"))
    }

    /// Change an organisation
    ///
    /// The members given replace the stored ones. Referrals already made keep the name they were
    /// made with. A practitioner whose agency type is no longer listed chooses again; one who
    /// signed in from a domain no longer listed (and was not added individually) is removed and
    /// signed out at once. Role: admin.
    #[oai(
        path = "/v1/organisations/:id",
        method = "patch",
        tag = "Tag::Organisations",
        operation_id = "change_organisation"
    )]
    async fn change(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        body: JsonBody<OrganisationPatch>,
    ) -> Result<Json<OrganisationView>, ApiError> {
        let caller = &auth.0;
        require(caller, &[Role::Admin], "manage organisations")?;
        let b = body.0;
        let change = OrganisationChange {
            name: b.name,
            agency_types: b.agency_types.map(agency_types),
            email_domains: b.email_domains,
        };
        practitioners::change_organisation(
            &state.db,
            Actor::from(caller),
            &id.0,
            change,
            state.clock.now_ms(),
        )
        .await?
        .map(|o| Json(view(o)))
        .ok_or_else(|| ApiError::not_found("organisation"))
    }

    /// Remove an organisation
    ///
    /// Its practitioners are removed with it: their sessions end at once and their drafts are
    /// erased. Its referrals stay, unchanged. Role: admin.
    #[oai(
        path = "/v1/organisations/:id",
        method = "delete",
        tag = "Tag::Organisations",
        operation_id = "remove_organisation"
    )]
    async fn remove(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> Result<Removed, ApiError> {
        let caller = &auth.0;
        require(caller, &[Role::Admin], "manage organisations")?;
        if !practitioners::remove_organisation(
            &state.db,
            Actor::from(caller),
            &id.0,
            state.clock.now_ms(),
        )
        .await?
        {
            return Err(ApiError::not_found("organisation"));
        }
        Ok(Removed::NoContent)
    }

    /// Add a practitioner to an organisation
    ///
    /// For staff whose address is on a domain the organisation does not list (a shared or
    /// national one). 409 `practitioner.exists` when the address was already added to it. Role:
    /// admin.
    #[oai(
        path = "/v1/organisations/:id/practitioners",
        method = "post",
        tag = "Tag::Organisations",
        operation_id = "add_practitioner"
    )]
    async fn add_practitioner(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        body: JsonBody<EmailRequest>,
    ) -> Result<PractitionerAdded, ApiError> {
        let caller = &auth.0;
        require(caller, &[Role::Admin], "manage organisations")?;
        match practitioners::add_practitioner(
            &state.db,
            Actor::from(caller),
            &id.0,
            &body.0.email,
            state.clock.now_ms(),
        )
        .await
        {
            Ok(p) => Ok(PractitionerAdded::Created(Json(practitioner_view(p)))),
            Err(AddPractitionerError::NoOrganisation) => Err(ApiError::not_found("organisation")),
            Err(AddPractitionerError::Exists) => Err(ApiError::conflict(
                ProblemType::PractitionerExists,
                "This address is already a practitioner of this organisation.",
            )),
            Err(AddPractitionerError::Db(e)) => Err(e.into()),
        }
    }

    /// List an organisation's practitioners
    ///
    /// Those added individually and those who signed in from a listed domain; oldest first.
    /// Role: admin.
    #[oai(
        path = "/v1/organisations/:id/practitioners",
        method = "get",
        tag = "Tag::Organisations",
        operation_id = "list_practitioners"
    )]
    async fn practitioners(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> Result<Json<PractitionerList>, ApiError> {
        require(&auth.0, &[Role::Admin], "manage organisations")?;
        let items = practitioners::practitioners(&state.db, &id.0)
            .await?
            .ok_or_else(|| ApiError::not_found("organisation"))?
            .into_iter()
            .map(practitioner_view)
            .collect();
        Ok(Json(PractitionerList { items }))
    }

    /// Remove a practitioner
    ///
    /// Their sessions end at once and their draft is erased; their referrals stay. Role: admin.
    #[oai(
        path = "/v1/organisations/:id/practitioners/:practitioner_id",
        method = "delete",
        tag = "Tag::Organisations",
        operation_id = "remove_practitioner"
    )]
    async fn remove_practitioner(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        practitioner_id: Path<String>,
    ) -> Result<Removed, ApiError> {
        let caller = &auth.0;
        require(caller, &[Role::Admin], "manage organisations")?;
        if !practitioners::remove_practitioner(
            &state.db,
            Actor::from(caller),
            &id.0,
            &practitioner_id.0,
            state.clock.now_ms(),
        )
        .await?
        {
            return Err(ApiError::not_found("practitioner"));
        }
        Ok(Removed::NoContent)
    }
}
