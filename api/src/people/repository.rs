//! Persistence of the people who sign in to the web pages (docs/contract.md §10): officers, their
//! single-use sign-in links and their sessions. Functions taking a connection run in the caller's
//! transaction; the use cases in `people` open it.
//!
//! Secrets — a link's token, a session's id — are 256 random bits, shown once (in the e-mail, in
//! the cookie) and stored only as their SHA-256, like API keys: a copy of the database signs nobody
//! in. A link works once, for 15 minutes. A session ends after 30 minutes idle or 8 hours, at
//! sign-out, or when the officer is removed (their rows go with them).

use crate::audit::{self, Actor, NewEvent};
use crate::entities::{officer, session, sign_in_token};
use base64::Engine;
use openapi::AuditAction;
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set, SqlErr,
};
use std::time::Duration;

/// A session ends after this long without a request.
pub const SESSION_IDLE: Duration = Duration::from_secs(30 * 60);

/// A session ends this long after sign-in, however busy.
pub const SESSION_MAX: Duration = Duration::from_secs(8 * 3600);

/// How often a busy session's last-seen time is written (idle expiry is this precise).
const TOUCH_EVERY: Duration = Duration::from_secs(60);

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)
}

/// 256 random bits, URL-safe base64 (43 characters).
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// How a secret is stored.
pub fn digest(secret: &str) -> String {
    use sha2::Digest;
    crate::keys::hex(&sha2::Sha256::digest(secret.as_bytes()))
}

/// E-mail addresses are compared case-insensitively (RFC 5321 leaves the local part to the
/// receiving host; councils' systems ignore case).
pub fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Adds an officer; `Ok(None)` when the address is already an officer's. Audited `officer.added`.
pub async fn add(
    txn: &impl ConnectionTrait,
    actor: Actor,
    gss_code: &str,
    email: &str,
    now_ms: i64,
) -> Result<Option<officer::Model>, DbErr> {
    let inserted = officer::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        gss_code: Set(gss_code.to_owned()),
        email: Set(normalise_email(email)),
        created_at_ms: Set(now_ms),
    }
    .insert(txn)
    .await;
    let officer = match inserted {
        Ok(o) => o,
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    audit::append(
        txn,
        now_ms,
        vec![NewEvent {
            actor,
            action: AuditAction::OfficerAdded,
            referral_id: None,
            detail: serde_json::json!({ "officer_id": officer.id, "gss_code": gss_code }),
        }],
    )
    .await?;
    Ok(Some(officer))
}

/// An authority's officers, oldest first.
pub async fn list(db: &impl ConnectionTrait, gss_code: &str) -> Result<Vec<officer::Model>, DbErr> {
    officer::Entity::find()
        .filter(officer::Column::GssCode.eq(gss_code))
        .order_by_asc(officer::Column::CreatedAtMs)
        .order_by_asc(officer::Column::Id)
        .all(db)
        .await
}

/// One officer by id.
pub async fn find(db: &impl ConnectionTrait, id: &str) -> Result<Option<officer::Model>, DbErr> {
    officer::Entity::find_by_id(id.to_owned()).one(db).await
}

/// Removes an officer of `gss_code` with their sessions and links, so they are signed out at once.
/// `false` when there is no such officer there. Audited `officer.removed`.
pub async fn remove(
    txn: &impl ConnectionTrait,
    actor: Actor,
    gss_code: &str,
    id: &str,
    now_ms: i64,
) -> Result<bool, DbErr> {
    let removed = officer::Entity::delete_many()
        .filter(officer::Column::Id.eq(id))
        .filter(officer::Column::GssCode.eq(gss_code))
        .exec(txn)
        .await?
        .rows_affected
        > 0;
    if !removed {
        return Ok(false);
    }
    end_sessions_of(txn, &[id.to_owned()]).await?;
    crate::entities::note_subscription::Entity::delete_by_id(id.to_owned())
        .exec(txn)
        .await?;
    audit::append(
        txn,
        now_ms,
        vec![NewEvent {
            actor,
            action: AuditAction::OfficerRemoved,
            referral_id: None,
            detail: serde_json::json!({ "officer_id": id, "gss_code": gss_code }),
        }],
    )
    .await?;
    Ok(true)
}

/// Whether `email` is an officer's (read only: the sign-in page asks this before taking the write
/// turn).
pub async fn is_officer(db: &impl ConnectionTrait, email: &str) -> Result<bool, DbErr> {
    Ok(officer::Entity::find()
        .filter(officer::Column::Email.eq(normalise_email(email)))
        .one(db)
        .await?
        .is_some())
}

/// A link or session of a housing officer (its subject is the officer's id).
pub const OFFICER: &str = "officer";
/// A link of a practitioner (its subject is the e-mail address) or a session of one who has
/// chosen their organisation (its subject is the practitioner's id).
pub const PRACTITIONER: &str = "practitioner";
/// A session of a practitioner whose e-mail domain several organisations list, before they chose
/// theirs (its subject is the e-mail address).
pub const CHOOSING: &str = "choosing";

/// A new single-use sign-in link's token of `kind` for `subject`; expired links are tidied on the
/// way. Officers' and practitioners' links are one machinery; the kind keeps them apart.
pub async fn issue_token(
    txn: &impl ConnectionTrait,
    kind: &str,
    subject: &str,
    now_ms: i64,
) -> Result<String, DbErr> {
    sign_in_token::Entity::delete_many()
        .filter(sign_in_token::Column::ExpiresAtMs.lte(now_ms))
        .exec(txn)
        .await?;
    let token = new_secret();
    sign_in_token::ActiveModel {
        token_hash: Set(digest(&token)),
        officer_id: Set(subject.to_owned()),
        created_at_ms: Set(now_ms),
        expires_at_ms: Set(now_ms + ms(crate::delivery::email::SIGN_IN_VALID)),
        kind: Set(kind.to_owned()),
    }
    .insert(txn)
    .await?;
    Ok(token)
}

/// A new sign-in link's token for the officer with this address; `None` when nobody has it (the
/// caller answers the same either way).
pub async fn issue_link(
    txn: &impl ConnectionTrait,
    email: &str,
    now_ms: i64,
) -> Result<Option<(officer::Model, String)>, DbErr> {
    let Some(officer) = officer::Entity::find()
        .filter(officer::Column::Email.eq(normalise_email(email)))
        .one(txn)
        .await?
    else {
        return Ok(None);
    };
    let token = issue_token(txn, OFFICER, &officer.id, now_ms).await?;
    Ok(Some((officer, token)))
}

/// Whether a link's token of `kind` is still good (not used, not expired), without using it: the
/// page a link opens asks the person to confirm, because mail scanners open links too.
pub async fn link_is_valid(
    db: &impl ConnectionTrait,
    kind: &str,
    token: &str,
    now_ms: i64,
) -> Result<bool, DbErr> {
    Ok(sign_in_token::Entity::find_by_id(digest(token))
        .filter(sign_in_token::Column::ExpiresAtMs.gt(now_ms))
        .filter(sign_in_token::Column::Kind.eq(kind))
        .one(db)
        .await?
        .is_some())
}

/// Uses a link of `kind` (once): its subject, or `None` when the token is unknown, used, expired
/// or of another kind.
pub async fn take_token(
    txn: &impl ConnectionTrait,
    kind: &str,
    token: &str,
    now_ms: i64,
) -> Result<Option<String>, DbErr> {
    let hash = digest(token);
    let Some(link) = sign_in_token::Entity::find_by_id(hash.clone())
        .filter(sign_in_token::Column::ExpiresAtMs.gt(now_ms))
        .filter(sign_in_token::Column::Kind.eq(kind))
        .one(txn)
        .await?
    else {
        return Ok(None);
    };
    // Single use: whoever deletes the row signs in; a second request finds nothing to delete.
    let used = sign_in_token::Entity::delete_by_id(hash)
        .exec(txn)
        .await?
        .rows_affected;
    Ok((used > 0).then_some(link.officer_id))
}

/// A new session of `kind` for `subject`: the cookie's value, shown once.
pub async fn open_session(
    txn: &impl ConnectionTrait,
    kind: &str,
    subject: &str,
    now_ms: i64,
) -> Result<String, DbErr> {
    let cookie = new_secret();
    session::ActiveModel {
        id_hash: Set(digest(&cookie)),
        officer_id: Set(subject.to_owned()),
        csrf_token: Set(new_secret()),
        created_at_ms: Set(now_ms),
        last_seen_at_ms: Set(now_ms),
        kind: Set(kind.to_owned()),
    }
    .insert(txn)
    .await?;
    Ok(cookie)
}

/// Ends every session and link whose subject is one of `subjects` (a removed officer or
/// practitioner, or the address of one still choosing).
pub async fn end_sessions_of(txn: &impl ConnectionTrait, subjects: &[String]) -> Result<(), DbErr> {
    if subjects.is_empty() {
        return Ok(());
    }
    session::Entity::delete_many()
        .filter(session::Column::OfficerId.is_in(subjects.iter().cloned()))
        .exec(txn)
        .await?;
    sign_in_token::Entity::delete_many()
        .filter(sign_in_token::Column::OfficerId.is_in(subjects.iter().cloned()))
        .exec(txn)
        .await?;
    Ok(())
}

/// A new session: the cookie's value (shown once) and the row.
pub struct NewSession {
    /// The `dtr_session` cookie's value.
    pub cookie: String,
    /// The officer.
    pub officer: officer::Model,
}

/// Uses a link (once): a new session for its officer, audited `officer.signed_in`. `None` when the
/// token is unknown, used or expired.
pub async fn redeem(
    txn: &impl ConnectionTrait,
    token: &str,
    now_ms: i64,
) -> Result<Option<NewSession>, DbErr> {
    let Some(officer_id) = take_token(txn, OFFICER, token, now_ms).await? else {
        return Ok(None);
    };
    let Some(officer) = find(txn, &officer_id).await? else {
        return Ok(None);
    };
    let cookie = open_session(txn, OFFICER, &officer.id, now_ms).await?;
    audit::append(
        txn,
        now_ms,
        vec![NewEvent {
            actor: Actor::officer(&officer.id),
            action: AuditAction::OfficerSignedIn,
            referral_id: None,
            detail: serde_json::json!({ "gss_code": officer.gss_code }),
        }],
    )
    .await?;
    Ok(Some(NewSession { cookie, officer }))
}

/// A live session: its officer and the token its forms carry.
#[derive(Debug, Clone)]
pub struct Session {
    /// The signed-in officer.
    pub officer: officer::Model,
    /// The CSRF token of every form of this session.
    pub csrf: String,
}

/// Why a session cookie did not open a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoSession {
    /// No cookie, or one we never issued (or the officer was removed).
    Unknown,
    /// It was valid but ended (idle or too old): the officer signs in again.
    Expired,
}

/// The live session row of a cookie of one of `kinds`, kept alive by this request; ended ones are
/// deleted. (Writes take the database's write turn; most requests only read.) A cookie of another
/// kind is unknown here: an officer's session opens no practitioner's page, nor the reverse.
pub async fn session_row(
    db: &crate::db::Db,
    cookie: &str,
    kinds: &[&str],
    now_ms: i64,
) -> Result<Result<session::Model, NoSession>, DbErr> {
    let hash = digest(cookie);
    let Some(row) = session::Entity::find_by_id(hash.clone())
        .one(db.conn())
        .await?
        .filter(|row| kinds.contains(&row.kind.as_str()))
    else {
        return Ok(Err(NoSession::Unknown));
    };
    if now_ms - row.last_seen_at_ms >= ms(SESSION_IDLE)
        || now_ms - row.created_at_ms >= ms(SESSION_MAX)
    {
        let txn = db.begin_write().await?;
        session::Entity::delete_by_id(hash).exec(&*txn).await?;
        txn.commit().await?;
        return Ok(Err(NoSession::Expired));
    }
    if now_ms - row.last_seen_at_ms >= ms(TOUCH_EVERY) {
        let txn = db.begin_write().await?;
        session::Entity::update_many()
            .col_expr(
                session::Column::LastSeenAtMs,
                sea_orm::sea_query::Expr::value(now_ms),
            )
            .filter(session::Column::IdHash.eq(hash))
            .exec(&*txn)
            .await?;
        txn.commit().await?;
    }
    Ok(Ok(row))
}

/// The officer's session of a cookie, kept alive by this request.
pub async fn session(
    db: &crate::db::Db,
    cookie: &str,
    now_ms: i64,
) -> Result<Result<Session, NoSession>, DbErr> {
    let row = match session_row(db, cookie, &[OFFICER], now_ms).await? {
        Ok(row) => row,
        Err(no) => return Ok(Err(no)),
    };
    let Some(officer) = find(db.conn(), &row.officer_id).await? else {
        return Ok(Err(NoSession::Unknown));
    };
    Ok(Ok(Session {
        officer,
        csrf: row.csrf_token,
    }))
}

/// Ends a session (sign-out).
pub async fn end_session(db: &crate::db::Db, cookie: &str) -> Result<(), DbErr> {
    let txn = db.begin_write().await?;
    session::Entity::delete_by_id(digest(cookie))
        .exec(&*txn)
        .await?;
    txn.commit().await
}

/// The officers of `gss_code` who asked to be e-mailed when a referrer adds a note, by id.
pub async fn note_watchers(
    db: &impl ConnectionTrait,
    gss_code: &str,
) -> Result<Vec<String>, DbErr> {
    use crate::entities::note_subscription;
    Ok(note_subscription::Entity::find()
        .filter(note_subscription::Column::GssCode.eq(gss_code))
        .all(db)
        .await?
        .into_iter()
        .map(|s| s.officer_id)
        .collect())
}
