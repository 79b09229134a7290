//! What a housing authority does with a referral — read it, acknowledge it, record its outcome,
//! add a note, read the notes — each one function of one transaction, called alike by the API's
//! handlers (an authority key) and the web inbox's pages and forms (a signed-in officer,
//! docs/contract.md §10). Who may see what is decided by `store`, what changes by `lifecycle`; these
//! functions only put the two together, so the inbox can never drift from the API.

use crate::audit::{Actor, NewEvent};
use crate::db::Db;
use crate::entities::{note, referral};
use crate::ids::ReferralId;
use crate::keys::Caller;
use crate::referrals::lifecycle::{self, Refusal};
use crate::referrals::repository::{self as store, NoteAuthor};
use openapi::AuditAction;
use sea_orm::DbErr;
use serde_json::json;

/// Why an action did nothing.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// No such referral for this caller (another authority's answers the same).
    #[error("no such referral")]
    NotFound,
    /// The lifecycle refused it.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The input breaks rules (every problem listed).
    #[error("the input is invalid")]
    Invalid(Vec<domain::Issue>),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// A read of one referral: the row after the read, and whether its document was shown.
pub struct Read {
    /// The referral (delivered now, if this read collected it).
    pub row: referral::Model,
    /// Whether the reader may see the document (the read was audited as `referral.viewed`).
    pub disclosed: bool,
}

/// Reads a referral: the document is shown and audited (`referral.viewed`) when the reader may see
/// it, and the authority's first read of a referral in its inbox delivers it.
pub async fn read(
    db: &Db,
    who: &Caller,
    id: &ReferralId,
    now_ms: i64,
) -> Result<Read, ActionError> {
    Ok(read_with_notes(db, who, id, None, now_ms).await?.0)
}

/// [`read`], and in the same transaction the first `notes` notes when the document is shown and
/// not erased (audited `notes.viewed` too): the web inbox's referral page.
pub async fn read_with_notes(
    db: &Db,
    who: &Caller,
    id: &ReferralId,
    notes: Option<u64>,
    now_ms: i64,
) -> Result<(Read, Vec<note::Model>), ActionError> {
    let (txn, row) = open_for_update(db, who, id).await?;
    let disclosed = lifecycle::discloses_document(&row, who.is_authority());
    let viewed: Vec<NewEvent> = disclosed
        .then(|| {
            NewEvent::about(
                Actor::from(who),
                AuditAction::ReferralViewed,
                &row.id,
                json!({}),
            )
        })
        .into_iter()
        .collect();
    let mut viewed = viewed;
    let mut shown = vec![];
    if let (Some(limit), true, None) = (notes, disclosed, row.erased_at_ms) {
        shown = store::notes(&*txn, &row.id, 0, limit).await?;
        viewed.push(NewEvent::about(
            Actor::from(who),
            AuditAction::NotesViewed,
            &row.id,
            json!({ "notes": shown.len() }),
        ));
    }
    let collected = who
        .is_authority()
        .then(|| lifecycle::collect(&row, &Actor::from(who), now_ms))
        .flatten();
    let row = match collected {
        Some(t) if disclosed => store::apply(&*txn, t, viewed, now_ms).await?,
        _ => {
            store::record(&*txn, viewed, now_ms).await?;
            row
        }
    };
    txn.commit().await?;
    Ok((Read { row, disclosed }, shown))
}

/// Opens an action's one transaction and locks the referral `id` as `who` may see it: the first
/// step every action on one referral shares.
async fn open_for_update(
    db: &Db,
    who: &Caller,
    id: &ReferralId,
) -> Result<(crate::db::WriteTxn, referral::Model), ActionError> {
    let txn = db.begin_write().await?;
    let row = store::find_for_update(&*txn, who, id.as_str())
        .await?
        .ok_or(ActionError::NotFound)?;
    Ok((txn, row))
}

/// The authority confirms receipt (repeating it changes nothing).
pub async fn acknowledge(
    db: &Db,
    who: &Caller,
    id: &ReferralId,
    received_by: String,
    local_reference: Option<String>,
    now_ms: i64,
) -> Result<referral::Model, ActionError> {
    let (txn, row) = open_for_update(db, who, id).await?;
    let row = match lifecycle::acknowledge(
        &row,
        received_by,
        local_reference,
        &Actor::from(who),
        now_ms,
    )? {
        Some(t) => store::apply(&*txn, t, vec![], now_ms).await?,
        None => row,
    };
    txn.commit().await?;
    Ok(row)
}

/// The authority records (or replaces) its decision; `body` is the outcome as JSON (the API's
/// request body, or the inbox form's fields), judged by `domain::Outcome`. `duplicates` are the
/// pointers of members given twice in the body.
pub async fn record_outcome(
    db: &Db,
    who: &Caller,
    id: &ReferralId,
    body: &serde_json::Value,
    duplicates: Vec<domain::Issue>,
    now_ms: i64,
) -> Result<(referral::Model, domain::Outcome), ActionError> {
    let (txn, row) = open_for_update(db, who, id).await?;
    let mut errors = duplicates;
    let outcome = match domain::Outcome::parse(body, &row.gss_code) {
        Ok(outcome) if errors.is_empty() => outcome,
        Ok(_) => return Err(ActionError::Invalid(errors)),
        Err(found) => {
            errors.extend(found);
            return Err(ActionError::Invalid(errors));
        }
    };
    let t = lifecycle::record_outcome(&row, &outcome, &Actor::from(who), now_ms)?;
    let row = store::apply(&*txn, t, vec![], now_ms).await?;
    txn.commit().await?;
    Ok((row, outcome))
}

/// Adds a note (1–4000 characters, checked by the caller's reader) on the caller's side of the
/// referral; a referrer's note to an authority that has the referral and an endpoint is followed
/// by a push. An admin writes on neither side: its handler refuses first (403); here it finds no
/// referral to write on.
pub async fn add_note(
    db: &Db,
    who: &Caller,
    id: &ReferralId,
    text: &str,
    now_ms: i64,
) -> Result<note::Model, ActionError> {
    let author = lifecycle::NoteAuthor::of(who).ok_or(ActionError::NotFound)?;
    let (txn, row) = open_for_update(db, who, id).await?;
    let note_id = uuid::Uuid::now_v7().to_string();
    let has_endpoint = crate::authorities::repository::endpoint(&*txn, &row.gss_code)
        .await?
        .is_some();
    let has_mailbox = crate::authorities::repository::notify_address(&*txn, &row.gss_code)
        .await?
        .is_some();
    let watchers = crate::people::repository::note_watchers(&*txn, &row.gss_code).await?;
    let t = lifecycle::add_note(
        &row,
        author,
        &note_id,
        has_endpoint,
        has_mailbox,
        &watchers,
        &Actor::from(who),
    )?;
    let note =
        store::insert_note(&*txn, &note_id, &row.id, &NoteAuthor::of(who), text, now_ms).await?;
    store::apply(&*txn, t, vec![], now_ms).await?;
    txn.commit().await?;
    Ok(note)
}

/// A referral's notes after `after_seq`: `limit` of them and one more when there are more (for the
/// caller's paging), audited as `notes.viewed` (they carry personal data). Refused once erased, and
/// for an authority that never received the referral.
pub async fn notes(
    db: &Db,
    who: &Caller,
    id: &ReferralId,
    after_seq: i64,
    limit: u64,
    now_ms: i64,
) -> Result<Vec<note::Model>, ActionError> {
    let txn = db.begin_write().await?;
    let row = store::find_visible(&*txn, who, id.as_str())
        .await?
        .ok_or(ActionError::NotFound)?;
    if row.erased_at_ms.is_some() {
        return Err(Refusal::Erased.into());
    }
    if !lifecycle::discloses_document(&row, who.is_authority()) {
        return Err(Refusal::WrongState(row.status).into());
    }
    let notes = store::notes(&*txn, &row.id, after_seq, limit + 1).await?;
    store::record(
        &*txn,
        vec![NewEvent::about(
            Actor::from(who),
            AuditAction::NotesViewed,
            &row.id,
            json!({ "notes": notes.len().min(usize::try_from(limit).unwrap_or(usize::MAX)) }),
        )],
        now_ms,
    )
    .await?;
    txn.commit().await?;
    Ok(notes)
}

/// An admin puts a `failed` referral back in the push queue with a fresh retry schedule (the same
/// message, so the same `webhook-id`). Refused unless it is `failed` and its authority has an
/// endpoint. The caller wakes the delivery worker after it returns.
pub async fn redeliver(
    db: &Db,
    who: &Caller,
    id: &ReferralId,
    now_ms: i64,
) -> Result<referral::Model, ActionError> {
    let (txn, row) = open_for_update(db, who, id).await?;
    let has_endpoint = crate::authorities::repository::endpoint(&*txn, &row.gss_code)
        .await?
        .is_some();
    let t = lifecycle::redeliver(&row, has_endpoint, &Actor::from(who), now_ms)?;
    let row = store::apply(&*txn, t, vec![], now_ms).await?;
    txn.commit().await?;
    Ok(row)
}

/// The referrer withdraws its referral (again: unchanged). A withdrawal for
/// `consent_withdrawn` also erases the personal data at once, in the same transaction, even when it
/// was withdrawn before for another reason: without consent there is no basis to keep what was
/// shared (docs/rules.md §7). The caller wakes the delivery worker after it returns.
pub async fn withdraw(
    db: &Db,
    who: &Caller,
    id: &ReferralId,
    reason: domain::WithdrawalReason,
    now_ms: i64,
) -> Result<referral::Model, ActionError> {
    let (txn, row) = open_for_update(db, who, id).await?;
    let has_endpoint = crate::authorities::repository::endpoint(&*txn, &row.gss_code)
        .await?
        .is_some();
    let emailed = store::settle_waiting_email(&*txn, &row.id).await?;
    let mut row = match lifecycle::withdraw(
        &row,
        reason,
        has_endpoint,
        emailed,
        &Actor::from(who),
        now_ms,
    )? {
        Some(t) => store::apply(&*txn, t, vec![], now_ms).await?,
        None => row,
    };
    if reason == domain::WithdrawalReason::ConsentWithdrawn {
        let erasure = lifecycle::Erasure::Requested(domain::ErasureReason::ConsentWithdrawn);
        row = store::erase(&*txn, &row, erasure, &Actor::from(who), now_ms).await?;
    }
    txn.commit().await?;
    if row.erased_at_ms.is_some() {
        db.erased();
    }
    Ok(row)
}

/// An admin erases a referral's personal data at once (again: unchanged); the id, statuses, codes,
/// times and the whole audit trail stay.
pub async fn erase(
    db: &Db,
    who: &Caller,
    id: &ReferralId,
    reason: domain::ErasureReason,
    now_ms: i64,
) -> Result<referral::Model, ActionError> {
    let (txn, row) = open_for_update(db, who, id).await?;
    let erasure = lifecycle::Erasure::Requested(reason);
    let row = store::erase(&*txn, &row, erasure, &Actor::from(who), now_ms).await?;
    txn.commit().await?;
    db.erased();
    Ok(row)
}

/// The referrals `who` may see, newest first, before `before_seq`, in `status` when given: a
/// list shows no document, so it is not a read and not audited.
pub async fn list(
    db: &Db,
    who: &Caller,
    status: Option<lifecycle::Status>,
    before_seq: Option<i64>,
    limit: u64,
) -> Result<Vec<referral::Model>, DbErr> {
    store::list_visible(db.conn(), who, status, before_seq, limit).await
}

/// A referral's audit events after `after_seq`, oldest first, when `who` may see the referral.
pub async fn audit_trail(
    db: &Db,
    who: &Caller,
    id: &ReferralId,
    after_seq: i64,
    limit: u64,
) -> Result<Vec<crate::entities::audit_event::Model>, ActionError> {
    store::find_visible(db.conn(), who, id.as_str())
        .await?
        .ok_or(ActionError::NotFound)?;
    Ok(crate::audit::for_referral(db.conn(), id.as_str(), after_seq, limit).await?)
}
