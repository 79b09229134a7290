//! What a housing authority does with a referral — read it, acknowledge it, record its outcome,
//! add a note, read the notes — each one function of one transaction, called alike by the API's
//! handlers (an authority key) and the web inbox's pages and forms (a signed-in officer,
//! docs/contract.md §10). Who may see what is decided by `store`, what changes by `lifecycle`; these
//! functions only put the two together, so the inbox can never drift from the API.

use crate::audit::{Actor, NewEvent};
use crate::db::Db;
use crate::entities::{note, referral};
use crate::keys::{Caller, Scope};
use crate::referrals::lifecycle::{self, NoteAuthor, Refusal};
use crate::referrals::repository as store;
use openapi::AuditAction;
use sea_orm::DbErr;
use serde_json::json;

/// Who acts: their scope (what they may see), how the trail names them, and how a note of theirs
/// is signed.
#[derive(Debug, Clone)]
pub struct Who {
    /// The scope visibility is judged by.
    pub caller: Caller,
    /// The audit actor.
    pub actor: Actor,
    /// A note's author.
    pub author: store::NoteAuthor,
}

impl Who {
    /// A caller with an API key.
    pub fn key(caller: &Caller) -> Who {
        Who {
            caller: caller.clone(),
            actor: Actor::from(caller),
            author: store::NoteAuthor::of(caller),
        }
    }

    /// An officer of the authority `gss_code`, signed in to the web inbox: seen by the service as
    /// that authority, named in the trail as the officer.
    pub fn officer(officer_id: &str, gss_code: &str) -> Who {
        Who {
            caller: Caller {
                key_id: String::new(),
                scope: Scope::Authority {
                    gss_code: gss_code.to_owned(),
                },
            },
            actor: Actor::officer(officer_id),
            author: store::NoteAuthor::officer(officer_id, gss_code),
        }
    }

    fn is_authority(&self) -> bool {
        matches!(self.caller.scope, Scope::Authority { .. })
    }
}

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
pub async fn read(db: &Db, who: &Who, id: &str, now_ms: i64) -> Result<Read, ActionError> {
    Ok(read_with_notes(db, who, id, None, now_ms).await?.0)
}

/// [`read`], and in the same transaction the first `notes` notes when the document is shown and
/// not erased (audited `notes.viewed` too): the web inbox's referral page.
pub async fn read_with_notes(
    db: &Db,
    who: &Who,
    id: &str,
    notes: Option<u64>,
    now_ms: i64,
) -> Result<(Read, Vec<note::Model>), ActionError> {
    let txn = db.begin_write().await?;
    let row = store::find_for_update(&*txn, &who.caller, id)
        .await?
        .ok_or(ActionError::NotFound)?;
    let disclosed = lifecycle::discloses_document(&row, who.is_authority());
    let viewed: Vec<NewEvent> = disclosed
        .then(|| {
            NewEvent::about(
                who.actor.clone(),
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
            who.actor.clone(),
            AuditAction::NotesViewed,
            &row.id,
            json!({ "notes": shown.len() }),
        ));
    }
    let collected = who
        .is_authority()
        .then(|| lifecycle::collect(&row, &who.actor, now_ms))
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

/// The authority confirms receipt (repeating it changes nothing).
pub async fn acknowledge(
    db: &Db,
    who: &Who,
    id: &str,
    received_by: String,
    local_reference: Option<String>,
    now_ms: i64,
) -> Result<referral::Model, ActionError> {
    let txn = db.begin_write().await?;
    let row = store::find_for_update(&*txn, &who.caller, id)
        .await?
        .ok_or(ActionError::NotFound)?;
    let row = match lifecycle::acknowledge(&row, received_by, local_reference, &who.actor, now_ms)?
    {
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
    who: &Who,
    id: &str,
    body: &serde_json::Value,
    duplicates: Vec<domain::Issue>,
    now_ms: i64,
) -> Result<(referral::Model, domain::Outcome), ActionError> {
    let txn = db.begin_write().await?;
    let row = store::find_for_update(&*txn, &who.caller, id)
        .await?
        .ok_or(ActionError::NotFound)?;
    let mut errors = duplicates;
    let outcome = match domain::Outcome::parse(body, &row.gss_code) {
        Ok(outcome) if errors.is_empty() => outcome,
        Ok(_) => return Err(ActionError::Invalid(errors)),
        Err(found) => {
            errors.extend(found);
            return Err(ActionError::Invalid(errors));
        }
    };
    let t = lifecycle::record_outcome(&row, &outcome, &who.actor, now_ms)?;
    let row = store::apply(&*txn, t, vec![], now_ms).await?;
    txn.commit().await?;
    Ok((row, outcome))
}

/// Adds a note (1–4000 characters, checked by the caller's reader); a referrer's note to an
/// authority that has the referral and an endpoint is followed by a push.
pub async fn add_note(
    db: &Db,
    who: &Who,
    author: NoteAuthor,
    id: &str,
    text: &str,
    now_ms: i64,
) -> Result<note::Model, ActionError> {
    let txn = db.begin_write().await?;
    let row = store::find_for_update(&*txn, &who.caller, id)
        .await?
        .ok_or(ActionError::NotFound)?;
    let note_id = uuid::Uuid::now_v7().to_string();
    let has_endpoint = store::endpoint(&*txn, &row.gss_code).await?.is_some();
    let t = lifecycle::add_note(&row, author, &note_id, has_endpoint, &who.actor)?;
    let note = store::insert_note(&*txn, &note_id, &row.id, &who.author, text, now_ms).await?;
    store::apply(&*txn, t, vec![], now_ms).await?;
    txn.commit().await?;
    Ok(note)
}

/// A referral's notes after `after_seq`: `limit` of them and one more when there are more (for the
/// caller's paging), audited as `notes.viewed` (they carry personal data). Refused once erased, and
/// for an authority that never received the referral.
pub async fn notes(
    db: &Db,
    who: &Who,
    id: &str,
    after_seq: i64,
    limit: u64,
    now_ms: i64,
) -> Result<Vec<note::Model>, ActionError> {
    let txn = db.begin_write().await?;
    let row = store::find_visible(&*txn, &who.caller, id)
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
            who.actor.clone(),
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
