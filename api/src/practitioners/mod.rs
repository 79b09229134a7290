//! Referrers without a case system (docs/contract.md §14): organisations and the e-mail domains
//! their staff use, the practitioners who sign in from them, their drafts, and the submission of a
//! draft — through the very `referrals::submit` the API calls, so a referral made on the web is an
//! ordinary referral that differs only by its actor. Each use case opens its one transaction; the
//! queries are in [`repository`]. Signing in shares the officers' machinery in `people`: links and
//! sessions of another kind.

pub mod repository;

use crate::audit::{self, Actor, NewEvent};
use crate::db::Db;
use crate::entities::{draft, organisation, practitioner, referral};
use crate::people::repository::{self as people, NoSession, CHOOSING, PRACTITIONER};
use crate::referrals::group_commit::BatchWriter;
use crate::referrals::submit::{self, Referrer, SubmitError, Submitted};
use domain::AgencyType;
use openapi::AuditAction;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::{json, Value};
use std::time::Duration;

/// An organisation as the service uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organisation {
    /// `org_…`.
    pub id: String,
    /// Its name: the `organisation` of its referrals.
    pub name: String,
    /// The agency types its practitioners may refer as.
    pub agency_types: Vec<AgencyType>,
    /// The e-mail domains its staff use.
    pub email_domains: Vec<String>,
    /// When it was added.
    pub created_at_ms: i64,
    /// When it last changed.
    pub updated_at_ms: i64,
}

impl From<organisation::Model> for Organisation {
    fn from(row: organisation::Model) -> Self {
        let strings = |raw: &str| serde_json::from_str::<Vec<String>>(raw).unwrap_or_default();
        Organisation {
            agency_types: strings(&row.agency_types)
                .iter()
                .filter_map(|a| a.parse().ok())
                .collect(),
            email_domains: strings(&row.email_domains),
            id: row.id,
            name: row.name,
            created_at_ms: row.created_at_ms,
            updated_at_ms: row.updated_at_ms,
        }
    }
}

fn agency_json(types: &[AgencyType]) -> String {
    json!(types.iter().map(|a| a.as_str()).collect::<Vec<_>>()).to_string()
}

/// What an admin sends for a new organisation, already checked by `openapi::OrganisationFields`.
#[derive(Debug, Clone)]
pub struct NewOrganisation {
    /// Name.
    pub name: String,
    /// Agency types, at least one.
    pub agency_types: Vec<AgencyType>,
    /// E-mail domains, lower-cased.
    pub email_domains: Vec<String>,
}

/// Adds an organisation. Audited `organisation.added` (its id and domains; the name is not
/// personal data but the trail keeps ids and codes only).
pub async fn add_organisation(
    db: &Db,
    actor: Actor,
    new: NewOrganisation,
    now_ms: i64,
) -> Result<Organisation, DbErr> {
    let txn = db.begin_write().await?;
    let row = organisation::ActiveModel {
        id: Set(repository::new_id("org_")),
        name: Set(new.name),
        agency_types: Set(agency_json(&new.agency_types)),
        email_domains: Set(json!(new.email_domains).to_string()),
        created_at_ms: Set(now_ms),
        updated_at_ms: Set(now_ms),
    }
    .insert(&*txn)
    .await?;
    repository::set_domains(&*txn, &row.id, &new.email_domains).await?;
    audit::append(
        &*txn,
        now_ms,
        vec![NewEvent {
            actor,
            action: AuditAction::OrganisationAdded,
            referral_id: None,
            detail: json!({ "organisation_id": row.id, "email_domains": new.email_domains }),
        }],
    )
    .await?;
    txn.commit().await?;
    Ok(row.into())
}

/// Every organisation, oldest first.
pub async fn organisations(db: &Db) -> Result<Vec<Organisation>, DbErr> {
    Ok(repository::all(db.conn())
        .await?
        .into_iter()
        .map(Organisation::from)
        .collect())
}

/// One organisation.
pub async fn organisation(db: &Db, id: &str) -> Result<Option<Organisation>, DbErr> {
    Ok(repository::find(db.conn(), id)
        .await?
        .map(Organisation::from))
}

/// A change to an organisation: the members given replace the stored ones.
#[derive(Debug, Clone, Default)]
pub struct OrganisationChange {
    /// New name.
    pub name: Option<String>,
    /// New agency types.
    pub agency_types: Option<Vec<AgencyType>>,
    /// New e-mail domains.
    pub email_domains: Option<Vec<String>>,
}

/// Changes an organisation; `None` when there is none. A practitioner whose agency type is no
/// longer listed chooses again; one who signed in from a domain no longer listed (and was not
/// added individually) is removed, their sessions ended at once. Audited `organisation.changed`.
pub async fn change_organisation(
    db: &Db,
    actor: Actor,
    id: &str,
    change: OrganisationChange,
    now_ms: i64,
) -> Result<Option<Organisation>, DbErr> {
    let txn = db.begin_write().await?;
    let Some(row) = repository::find(&*txn, id).await? else {
        return Ok(None);
    };
    let mut active = row.clone().into_active_model();
    let mut changed: Vec<&str> = vec![];
    if let Some(name) = change.name {
        active.name = Set(name);
        changed.push("name");
    }
    if let Some(types) = &change.agency_types {
        active.agency_types = Set(agency_json(types));
        changed.push("agency_types");
        let kept: Vec<&str> = types.iter().map(|a| a.as_str()).collect();
        for p in repository::practitioners(&*txn, id).await? {
            if p.agency_type.as_deref().is_some_and(|a| !kept.contains(&a)) {
                let mut p = p.into_active_model();
                p.agency_type = Set(None);
                p.update(&*txn).await?;
            }
        }
    }
    let mut removed = vec![];
    if let Some(domains) = &change.email_domains {
        active.email_domains = Set(json!(domains).to_string());
        changed.push("email_domains");
        repository::set_domains(&*txn, id, domains).await?;
        for p in repository::practitioners(&*txn, id).await? {
            let domain = p.email.rsplit_once('@').map_or("", |(_, d)| d);
            if !p.added_individually && !domains.iter().any(|d| d == domain) {
                removed.push(p.id);
            }
        }
        remove_practitioners(&*txn, &removed, now_ms).await?;
    }
    active.updated_at_ms = Set(now_ms);
    let row = active.update(&*txn).await?;
    audit::append(
        &*txn,
        now_ms,
        vec![NewEvent {
            actor,
            action: AuditAction::OrganisationChanged,
            referral_id: None,
            detail: json!({
                "organisation_id": id,
                "changed": changed,
                "practitioners_removed": removed,
            }),
        }],
    )
    .await?;
    txn.commit().await?;
    if !removed.is_empty() {
        db.erased();
    }
    Ok(Some(row.into()))
}

/// Deletes practitioners with their sessions, links and drafts (each draft's erasure audited).
async fn remove_practitioners(
    txn: &impl sea_orm::ConnectionTrait,
    ids: &[String],
    now_ms: i64,
) -> Result<(), DbErr> {
    if ids.is_empty() {
        return Ok(());
    }
    let drafts = repository::drafts_of(txn, ids).await?;
    erase_drafts(
        txn,
        Actor::system(),
        &drafts,
        "practitioner_removed",
        now_ms,
    )
    .await?;
    people::end_sessions_of(txn, ids).await?;
    practitioner::Entity::delete_many()
        .filter(practitioner::Column::Id.is_in(ids.iter().cloned()))
        .exec(txn)
        .await?;
    Ok(())
}

/// Removes an organisation; `false` when there is none. Its practitioners go with it — their
/// sessions end at once, their drafts are erased — while its referrals stay, as ordinary
/// referrals of their organisation's name. Audited `organisation.removed`.
pub async fn remove_organisation(
    db: &Db,
    actor: Actor,
    id: &str,
    now_ms: i64,
) -> Result<bool, DbErr> {
    let txn = db.begin_write().await?;
    if repository::find(&*txn, id).await?.is_none() {
        return Ok(false);
    }
    let ids: Vec<String> = repository::practitioners(&*txn, id)
        .await?
        .into_iter()
        .map(|p| p.id)
        .collect();
    remove_practitioners(&*txn, &ids, now_ms).await?;
    repository::set_domains(&*txn, id, &[]).await?;
    organisation::Entity::delete_by_id(id.to_owned())
        .exec(&*txn)
        .await?;
    audit::append(
        &*txn,
        now_ms,
        vec![NewEvent {
            actor,
            action: AuditAction::OrganisationRemoved,
            referral_id: None,
            detail: json!({ "organisation_id": id, "practitioners_removed": ids.len() }),
        }],
    )
    .await?;
    txn.commit().await?;
    db.erased();
    Ok(true)
}

/// Why a practitioner could not be added.
#[derive(Debug, thiserror::Error)]
pub enum AddPractitionerError {
    /// No such organisation.
    #[error("no such organisation")]
    NoOrganisation,
    /// The address is already this organisation's practitioner.
    #[error("already a practitioner of this organisation")]
    Exists,
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// Adds a practitioner individually (staff on a shared domain the organisation does not list).
/// Audited `practitioner.added`.
pub async fn add_practitioner(
    db: &Db,
    actor: Actor,
    organisation_id: &str,
    email: &str,
    now_ms: i64,
) -> Result<practitioner::Model, AddPractitionerError> {
    let email = people::normalise_email(email);
    let txn = db.begin_write().await?;
    if repository::find(&*txn, organisation_id).await?.is_none() {
        return Err(AddPractitionerError::NoOrganisation);
    }
    let p = match repository::practitioner_in(&*txn, organisation_id, &email).await? {
        Some(p) if p.added_individually => return Err(AddPractitionerError::Exists),
        // Signed in from a listed domain before: now also added in their own right, so they
        // stay when the domain goes.
        Some(p) => {
            let mut active = p.into_active_model();
            active.added_individually = Set(true);
            active.update(&*txn).await?
        }
        None => {
            repository::insert_practitioner(&*txn, organisation_id, &email, true, now_ms).await?
        }
    };
    audit::append(
        &*txn,
        now_ms,
        vec![NewEvent {
            actor,
            action: AuditAction::PractitionerAdded,
            referral_id: None,
            detail: json!({ "practitioner_id": p.id, "organisation_id": organisation_id }),
        }],
    )
    .await?;
    txn.commit().await?;
    Ok(p)
}

/// An organisation's practitioners; `None` when there is no such organisation.
pub async fn practitioners(
    db: &Db,
    organisation_id: &str,
) -> Result<Option<Vec<practitioner::Model>>, DbErr> {
    if repository::find(db.conn(), organisation_id)
        .await?
        .is_none()
    {
        return Ok(None);
    }
    Ok(Some(
        repository::practitioners(db.conn(), organisation_id).await?,
    ))
}

/// Removes a practitioner of an organisation, ending their sessions at once and erasing their
/// draft; `false` when there is no such practitioner there. Audited `practitioner.removed`.
pub async fn remove_practitioner(
    db: &Db,
    actor: Actor,
    organisation_id: &str,
    id: &str,
    now_ms: i64,
) -> Result<bool, DbErr> {
    let txn = db.begin_write().await?;
    match repository::practitioner(&*txn, id).await? {
        Some(p) if p.organisation_id == organisation_id => {}
        _ => return Ok(false),
    }
    remove_practitioners(&*txn, &[id.to_owned()], now_ms).await?;
    audit::append(
        &*txn,
        now_ms,
        vec![NewEvent {
            actor,
            action: AuditAction::PractitionerRemoved,
            referral_id: None,
            detail: json!({ "practitioner_id": id, "organisation_id": organisation_id }),
        }],
    )
    .await?;
    txn.commit().await?;
    db.erased();
    Ok(true)
}

// ----- signing in ---------------------------------------------------------------------------

/// What a sign-in request leads to.
#[derive(Debug)]
pub enum Link {
    /// A link's token for an address some organisation takes.
    Token(String),
    /// No organisation lists the address's domain or added it: the e-mail says so.
    NotSetUp,
}

/// A sign-in link for `email` (normalised), or word that no organisation takes it. Only an address
/// some organisation takes costs a write.
pub async fn request_link(db: &Db, email: &str, now_ms: i64) -> Result<Link, DbErr> {
    if repository::organisations_for(db.conn(), email)
        .await?
        .is_empty()
    {
        return Ok(Link::NotSetUp);
    }
    let txn = db.begin_write().await?;
    let token = people::issue_token(&*txn, PRACTITIONER, email, now_ms).await?;
    txn.commit().await?;
    Ok(Link::Token(token))
}

/// Whether a practitioner's link would still sign someone in.
pub async fn link_is_valid(db: &Db, token: &str, now_ms: i64) -> Result<bool, DbErr> {
    people::link_is_valid(db.conn(), PRACTITIONER, token, now_ms).await
}

/// What using a link led to.
#[derive(Debug)]
pub enum SignedIn {
    /// Signed in as the practitioner of the one organisation that takes the address.
    Practitioner {
        /// The session cookie's value.
        cookie: String,
    },
    /// Several organisations take the address: the practitioner chooses (the session can do
    /// nothing else until then).
    Choosing {
        /// The session cookie's value.
        cookie: String,
    },
    /// No organisation takes the address (any more).
    NotSetUp,
}

/// Uses a practitioner's link (once). `None` when it is unknown, used or expired.
pub async fn sign_in(db: &Db, token: &str, now_ms: i64) -> Result<Option<SignedIn>, DbErr> {
    let txn = db.begin_write().await?;
    let Some(email) = people::take_token(&*txn, PRACTITIONER, token, now_ms).await? else {
        return Ok(None);
    };
    let orgs = repository::organisations_for(&*txn, &email).await?;
    let signed = match orgs.as_slice() {
        [] => SignedIn::NotSetUp,
        [only] => {
            let p = repository::practitioner_of(&*txn, &only.id, &email, now_ms).await?;
            signed_in_event(&*txn, &p, now_ms).await?;
            SignedIn::Practitioner {
                cookie: people::open_session(&*txn, PRACTITIONER, &p.id, now_ms).await?,
            }
        }
        _ => SignedIn::Choosing {
            cookie: people::open_session(&*txn, CHOOSING, &email, now_ms).await?,
        },
    };
    txn.commit().await?;
    Ok(Some(signed))
}

async fn signed_in_event(
    txn: &impl sea_orm::ConnectionTrait,
    p: &practitioner::Model,
    now_ms: i64,
) -> Result<(), DbErr> {
    audit::append(
        txn,
        now_ms,
        vec![NewEvent {
            actor: Actor::practitioner(&p.id),
            action: AuditAction::PractitionerSignedIn,
            referral_id: None,
            detail: json!({ "organisation_id": p.organisation_id }),
        }],
    )
    .await
}

/// A practitioner's live session.
#[derive(Debug, Clone)]
pub struct Session {
    /// Their address.
    pub email: String,
    /// Who they are, once their organisation is known (`None` while choosing).
    pub practitioner: Option<(practitioner::Model, Organisation)>,
    /// The token every form of the session carries.
    pub csrf: String,
}

/// The practitioner's session of a cookie, kept alive by this request. A removed practitioner or
/// organisation has none.
pub async fn session(
    db: &Db,
    cookie: &str,
    now_ms: i64,
) -> Result<Result<Session, NoSession>, DbErr> {
    let row = match people::session_row(db, cookie, &[PRACTITIONER, CHOOSING], now_ms).await? {
        Ok(row) => row,
        Err(no) => return Ok(Err(no)),
    };
    if row.kind == CHOOSING {
        return Ok(Ok(Session {
            email: row.officer_id,
            practitioner: None,
            csrf: row.csrf_token,
        }));
    }
    let Some(p) = repository::practitioner(db.conn(), &row.officer_id).await? else {
        return Ok(Err(NoSession::Unknown));
    };
    let Some(org) = repository::find(db.conn(), &p.organisation_id).await? else {
        return Ok(Err(NoSession::Unknown));
    };
    Ok(Ok(Session {
        email: p.email.clone(),
        practitioner: Some((p, org.into())),
        csrf: row.csrf_token,
    }))
}

/// The organisations an address may sign in as, oldest first.
pub async fn organisations_for(db: &Db, email: &str) -> Result<Vec<Organisation>, DbErr> {
    Ok(repository::organisations_for(db.conn(), email)
        .await?
        .into_iter()
        .map(Organisation::from)
        .collect())
}

/// A practitioner still choosing picks `organisation_id` (one that takes their address): the
/// session becomes that organisation's practitioner's. Audited `practitioner.organisation_chosen`
/// and `practitioner.signed_in`. `false` when it is not one of theirs.
pub async fn choose_organisation(
    db: &Db,
    cookie: &str,
    email: &str,
    organisation_id: &str,
    now_ms: i64,
) -> Result<bool, DbErr> {
    use crate::entities::session;
    let txn = db.begin_write().await?;
    let orgs = repository::organisations_for(&*txn, email).await?;
    if !orgs.iter().any(|o| o.id == organisation_id) {
        return Ok(false);
    }
    let p = repository::practitioner_of(&*txn, organisation_id, email, now_ms).await?;
    let updated = session::Entity::update_many()
        .col_expr(
            session::Column::Kind,
            sea_orm::sea_query::Expr::value(PRACTITIONER),
        )
        .col_expr(
            session::Column::OfficerId,
            sea_orm::sea_query::Expr::value(p.id.clone()),
        )
        .filter(session::Column::IdHash.eq(crate::people::repository::digest(cookie)))
        .filter(session::Column::Kind.eq(CHOOSING))
        .exec(&*txn)
        .await?
        .rows_affected;
    if updated == 0 {
        return Ok(false);
    }
    audit::append(
        &*txn,
        now_ms,
        vec![NewEvent {
            actor: Actor::practitioner(&p.id),
            action: AuditAction::PractitionerOrganisationChosen,
            referral_id: None,
            detail: json!({ "organisation_id": organisation_id, "choices": orgs.len() }),
        }],
    )
    .await?;
    signed_in_event(&*txn, &p, now_ms).await?;
    txn.commit().await?;
    Ok(true)
}

/// The referrer block's answers a practitioner gives once: remembered for their next referral.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    /// The agency type they refer as (one of their organisation's).
    pub agency_type: Option<String>,
    /// Their name.
    pub name: Option<String>,
    /// Their phone.
    pub phone: Option<String>,
    /// Their team.
    pub team: Option<String>,
}

/// Remembers the practitioner's answers about themself.
pub async fn set_profile(db: &Db, id: &str, profile: Profile) -> Result<(), DbErr> {
    let txn = db.begin_write().await?;
    repository::set_profile(&*txn, id, profile).await?;
    txn.commit().await
}

/// Turns the e-mails about the practitioner's referrals off or on.
pub async fn set_emails_off(db: &Db, id: &str, off: bool) -> Result<(), DbErr> {
    let txn = db.begin_write().await?;
    practitioner::Entity::update_many()
        .col_expr(
            practitioner::Column::EmailsOff,
            sea_orm::sea_query::Expr::value(off),
        )
        .filter(practitioner::Column::Id.eq(id))
        .exec(&*txn)
        .await?;
    txn.commit().await
}

/// The address of a practitioner who still wants e-mails about their referrals.
pub async fn email_if_wanted(db: &Db, id: &str) -> Result<Option<String>, DbErr> {
    Ok(repository::practitioner(db.conn(), id)
        .await?
        .filter(|p| !p.emails_off)
        .map(|p| p.email))
}

// ----- drafts -------------------------------------------------------------------------------

/// The practitioner's draft: its id and answers (a referral document without the referrer).
pub async fn draft(db: &Db, practitioner_id: &str) -> Result<Option<(String, Value)>, DbErr> {
    Ok(repository::draft_of(db.conn(), practitioner_id)
        .await?
        .map(|d| (d.id, serde_json::from_str(&d.answers).unwrap_or(json!({})))))
}

/// Keeps the practitioner's answers (a new draft, or the one they have): its id.
pub async fn save_draft(
    db: &Db,
    practitioner_id: &str,
    answers: &Value,
    now_ms: i64,
) -> Result<String, DbErr> {
    let txn = db.begin_write().await?;
    let id = repository::put_draft(&*txn, practitioner_id, answers, now_ms).await?;
    txn.commit().await?;
    Ok(id)
}

/// Deletes drafts and records each erasure (`draft.erased`, with why: `submitted`, `discarded`,
/// `expired`, `practitioner_removed`).
async fn erase_drafts(
    txn: &impl sea_orm::ConnectionTrait,
    actor: Actor,
    drafts: &[draft::Model],
    reason: &str,
    now_ms: i64,
) -> Result<(), DbErr> {
    let ids: Vec<String> = drafts.iter().map(|d| d.id.clone()).collect();
    if repository::delete_drafts(txn, &ids).await? == 0 {
        return Ok(());
    }
    let events = drafts
        .iter()
        .map(|d| NewEvent {
            actor: actor.clone(),
            action: AuditAction::DraftErased,
            referral_id: None,
            detail: json!({
                "draft_id": d.id,
                "practitioner_id": d.practitioner_id,
                "reason": reason,
            }),
        })
        .collect();
    audit::append(txn, now_ms, events).await
}

/// The practitioner throws their draft away.
pub async fn discard_draft(db: &Db, practitioner_id: &str, now_ms: i64) -> Result<(), DbErr> {
    let txn = db.begin_write().await?;
    if let Some(d) = repository::draft_of(&*txn, practitioner_id).await? {
        erase_drafts(
            &*txn,
            Actor::practitioner(practitioner_id),
            &[d],
            "discarded",
            now_ms,
        )
        .await?;
    }
    txn.commit().await?;
    // Drafts hold personal data like referrals: the SQLite file is rewritten after they go.
    db.erased();
    Ok(())
}

/// Erases drafts not changed for `retention` (`DTR_DRAFT_RETENTION`); how many went.
pub async fn sweep_drafts(db: &Db, now_ms: i64, retention: Duration) -> Result<usize, DbErr> {
    let cutoff = now_ms - i64::try_from(retention.as_millis()).unwrap_or(i64::MAX / 2);
    let mut total = 0;
    loop {
        let stale = repository::stale_drafts(db.conn(), cutoff, 200).await?;
        if stale.is_empty() {
            return Ok(total);
        }
        let txn = db.begin_write().await?;
        erase_drafts(&*txn, Actor::system(), &stale, "expired", now_ms).await?;
        txn.commit().await?;
        db.erased();
        total += stale.len();
    }
}

/// The Idempotency-Key a draft is submitted with: a second submission of the same draft (the back
/// button, a double click) finds the first one's referral.
fn draft_key(draft_id: &str) -> String {
    format!("web-draft:{draft_id}")
}

/// The referral document of a practitioner's answers: the answers with the referrer block filled
/// from the practitioner (their e-mail, and the name, phone and team they gave).
pub fn document(p: &practitioner::Model, answers: &Value) -> Value {
    let mut doc = match answers {
        Value::Object(_) => answers.clone(),
        _ => json!({}),
    };
    let mut referrer = serde_json::Map::new();
    referrer.insert("email".into(), json!(p.email));
    for (key, value) in [("name", &p.name), ("phone", &p.phone), ("team", &p.team)] {
        if let Some(v) = value {
            referrer.insert(key.into(), json!(v));
        }
    }
    doc["referrer"] = Value::Object(referrer);
    doc
}

/// Who a practitioner submits as: their organisation's name and their agency type.
pub fn referrer(p: &practitioner::Model, org: &Organisation) -> Option<Referrer> {
    let agency_type: AgencyType = p.agency_type.as_deref()?.parse().ok()?;
    org.agency_types.contains(&agency_type).then(|| Referrer {
        organisation: org.name.clone(),
        agency_type,
        submitted_by: p.id.clone(),
        actor: Actor::practitioner(&p.id),
    })
}

/// Why a draft was not submitted.
#[derive(Debug, thiserror::Error)]
pub enum DraftError {
    /// There is no draft with this id (and no referral made from it).
    #[error("no such draft")]
    NoDraft,
    /// The practitioner has not chosen an agency type of their organisation.
    #[error("no agency type chosen")]
    NoAgencyType,
    /// Submitting failed.
    #[error(transparent)]
    Submit(#[from] SubmitError),
}

impl From<DbErr> for DraftError {
    fn from(e: DbErr) -> Self {
        DraftError::Submit(SubmitError::Db(e))
    }
}

/// Submits the practitioner's draft `draft_id` through the API's own submission, then erases it
/// (`draft.erased`, `submitted`). The same draft submitted twice makes one referral: the second
/// finds the first's by the draft's Idempotency-Key, even after the draft is gone.
pub async fn submit_draft(
    db: &Db,
    writer: &BatchWriter,
    p: &practitioner::Model,
    org: &Organisation,
    draft_id: &str,
    now: jiff::Timestamp,
) -> Result<Submitted, DraftError> {
    let referrer = referrer(p, org).ok_or(DraftError::NoAgencyType)?;
    let key = draft_key(draft_id);
    let answers = match repository::draft_of(db.conn(), &p.id).await? {
        Some(d) if d.id == draft_id => serde_json::from_str(&d.answers).unwrap_or(json!({})),
        _ => {
            return match crate::referrals::repository::find_by_idempotency_key(
                db.conn(),
                &referrer.organisation,
                referrer.agency_type.as_str(),
                &key,
            )
            .await?
            {
                Some(row) if row.submitted_by == p.id => Ok(Submitted::Replayed(row)),
                _ => Err(DraftError::NoDraft),
            };
        }
    };
    let doc = domain::JsonDocument::from_value(document(p, &answers));
    let submitted = submit::submit(db, writer, &referrer, &doc, Some(&key), now).await?;
    let now_ms = now.as_millisecond();
    let txn = db.begin_write().await?;
    if let Some(d) = repository::draft_of(&*txn, &p.id)
        .await?
        .filter(|d| d.id == draft_id)
    {
        erase_drafts(&*txn, Actor::practitioner(&p.id), &[d], "submitted", now_ms).await?;
    }
    txn.commit().await?;
    db.erased();
    Ok(submitted)
}

/// The referrals a practitioner made on the web, newest first: a page of `limit` after skipping
/// `offset`, and how many there are.
pub async fn referrals(
    db: &Db,
    practitioner_id: &str,
    offset: u64,
    limit: u64,
) -> Result<(Vec<referral::Model>, u64), DbErr> {
    let query = referral::Entity::find().filter(referral::Column::SubmittedBy.eq(practitioner_id));
    let total = query.clone().count(db.conn()).await?;
    let rows = query
        .order_by_desc(referral::Column::SubmittedAtMs)
        .order_by_desc(referral::Column::Id)
        .offset(offset)
        .limit(limit)
        .all(db.conn())
        .await?;
    Ok((rows, total))
}

/// The caller a practitioner acts as on the referral `id`, if they made it (see [`who`]); `None`
/// for a referral that does not exist or is not theirs, which the page answers alike.
pub async fn acting_on(
    db: &Db,
    p: &practitioner::Model,
    id: &crate::ids::ReferralId,
) -> Result<Option<crate::keys::Caller>, DbErr> {
    let row = crate::referrals::repository::find(db.conn(), id.as_str()).await?;
    Ok(row.as_ref().and_then(|row| who(p, row)))
}

/// How a practitioner acts on a referral they made: seen as a referrer of the referral's own
/// organisation and agency type, named in the trail as the practitioner. `None` for a referral
/// they did not make (it answers "not found").
pub fn who(p: &practitioner::Model, row: &referral::Model) -> Option<crate::keys::Caller> {
    if row.submitted_by != p.id {
        return None;
    }
    let agency_type: AgencyType = row.agency_type.parse().ok()?;
    Some(crate::keys::Caller::practitioner(
        crate::ids::PractitionerId::stored(p.id.clone()),
        row.organisation.clone(),
        agency_type,
    ))
}
