//! People who sign in to the service's web pages: housing officers of authorities without
//! software today, practitioners next. Each use case opens its one transaction; the queries are in
//! [`repository`].
//!
//! Secrets — a link's token, a session's id — are 256 random bits, shown once (in the e-mail, in
//! the cookie) and stored only as their SHA-256, like API keys: a copy of the database signs nobody
//! in. A link works once, for 15 minutes. A session ends after 30 minutes idle or 8 hours, at
//! sign-out, or when the officer is removed (their rows go with them).

pub mod repository;

pub use repository::{
    end_session, new_secret, normalise_email, session, NewSession, NoSession, Session,
    SESSION_IDLE, SESSION_MAX,
};

use crate::audit::Actor;
use crate::db::Db;
use crate::entities::officer;
use crate::ids::{GssCode, OfficerId};
use sea_orm::DbErr;

/// Adds an officer of `gss_code`; `None` when the address is already an officer's. Audited
/// `officer.added`.
pub async fn add_officer(
    db: &Db,
    actor: Actor,
    gss_code: &GssCode,
    email: &str,
    now_ms: i64,
) -> Result<Option<officer::Model>, DbErr> {
    let txn = db.begin_write().await?;
    let added = repository::add(&*txn, actor, gss_code.as_str(), email, now_ms).await?;
    if added.is_some() {
        txn.commit().await?;
    }
    Ok(added)
}

/// An authority's officers, oldest first.
pub async fn list_officers(db: &Db, gss_code: &GssCode) -> Result<Vec<officer::Model>, DbErr> {
    repository::list(db.conn(), gss_code.as_str()).await
}

/// Removes an officer of `gss_code`, ending their sessions and links at once; `false` when there is
/// no such officer there. Audited `officer.removed`.
pub async fn remove_officer(
    db: &Db,
    actor: Actor,
    gss_code: &GssCode,
    id: &OfficerId,
    now_ms: i64,
) -> Result<bool, DbErr> {
    let txn = db.begin_write().await?;
    let removed = repository::remove(&*txn, actor, gss_code.as_str(), id.as_str(), now_ms).await?;
    if removed {
        txn.commit().await?;
    }
    Ok(removed)
}

/// A new sign-in link's token for the officer with this address; `None` when nobody has it (the
/// caller answers alike either way). Only an officer's address takes the write turn: a flood of
/// requests for other addresses costs a read each.
pub async fn request_link(
    db: &Db,
    email: &str,
    now_ms: i64,
) -> Result<Option<(officer::Model, String)>, DbErr> {
    if !repository::is_officer(db.conn(), email).await? {
        return Ok(None);
    }
    let txn = db.begin_write().await?;
    let issued = repository::issue_link(&*txn, email, now_ms).await?;
    txn.commit().await?;
    Ok(issued)
}

/// Signs in with a link's token (once): a new session, audited `officer.signed_in`; `None` when the
/// token is unknown, used or expired.
pub async fn sign_in(db: &Db, token: &str, now_ms: i64) -> Result<Option<NewSession>, DbErr> {
    let txn = db.begin_write().await?;
    let session = repository::redeem(&*txn, token, now_ms).await?;
    txn.commit().await?;
    Ok(session)
}

/// Whether a sign-in link's token would still sign someone in (the page that asks to use it).
pub async fn link_is_valid(db: &Db, token: &str, now_ms: i64) -> Result<bool, DbErr> {
    repository::link_is_valid(db.conn(), repository::OFFICER, token, now_ms).await
}

/// The e-mail addresses of the officers who wrote these notes, by officer id (a removed officer
/// is absent): notes are signed by the officer on both sides.
pub async fn officer_emails(
    db: &Db,
    notes: &[crate::entities::note::Model],
) -> Result<std::collections::HashMap<String, String>, DbErr> {
    let mut out = std::collections::HashMap::new();
    for id in notes.iter().filter_map(|n| n.author_officer_id.as_deref()) {
        if out.contains_key(id) {
            continue;
        }
        if let Some(o) = repository::find(db.conn(), id).await? {
            out.insert(o.id, o.email);
        }
    }
    Ok(out)
}

/// Whether the officer asked to be e-mailed when a referrer adds a note.
pub async fn note_emails_on(db: &Db, officer_id: &str) -> Result<bool, DbErr> {
    use sea_orm::EntityTrait;
    Ok(
        crate::entities::note_subscription::Entity::find_by_id(officer_id.to_owned())
            .one(db.conn())
            .await?
            .is_some(),
    )
}

/// Turns the officer's note e-mails on or off.
pub async fn set_note_emails(
    db: &Db,
    officer: &officer::Model,
    on: bool,
    now_ms: i64,
) -> Result<(), DbErr> {
    use crate::entities::note_subscription;
    use sea_orm::{ActiveModelTrait, EntityTrait, Set};
    let txn = db.begin_write().await?;
    note_subscription::Entity::delete_by_id(officer.id.clone())
        .exec(&*txn)
        .await?;
    if on {
        note_subscription::ActiveModel {
            officer_id: Set(officer.id.clone()),
            gss_code: Set(officer.gss_code.clone()),
            created_at_ms: Set(now_ms),
        }
        .insert(&*txn)
        .await?;
    }
    txn.commit().await?;
    Ok(())
}
