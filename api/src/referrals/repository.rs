//! Persistence: every query the service makes about referrals, endpoints, notes and the outbox,
//! taking and returning typed values (entity rows with typed statuses). Who may see what (docs/contract.md
//! §2) is decided here too, in one place; wire objects are built in the HTTP layer.

use crate::audit::{self, Actor, NewEvent};
use crate::authorities::repository::{mailboxes, notify_address, push_authorities_for_submission};
use crate::entities::outbox::{Channel, OutboxStatus};
use crate::entities::{note, outbox, referral};
use crate::keys::{Caller, Credential, Scope};
use crate::referrals::lifecycle::{self, FollowUp, Status, Transition};
use openapi::AuditAction;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, TryIntoModel,
};

/// Whether `caller` may see `row`: a referrer its own organisation's (and agency type's), an
/// authority those addressed to it, an admin everything.
pub fn visible(caller: &Caller, row: &referral::Model) -> bool {
    match &caller.scope {
        Scope::Referrer {
            organisation,
            agency_type,
        } => row.organisation == *organisation && row.agency_type == agency_type.as_str(),
        Scope::Authority { gss_code } => gss_code == row.gss_code.as_str(),
        Scope::Admin => true,
    }
}

fn scope_condition(caller: &Caller) -> Condition {
    match &caller.scope {
        Scope::Referrer {
            organisation,
            agency_type,
        } => Condition::all()
            .add(referral::Column::Organisation.eq(organisation.clone()))
            .add(referral::Column::AgencyType.eq(agency_type.as_str())),
        Scope::Authority { gss_code } => {
            Condition::all().add(referral::Column::GssCode.eq(gss_code.clone()))
        }
        Scope::Admin => Condition::all(),
    }
}

/// The referral with this id, whoever may see it (the caller decides: a practitioner sees only
/// the ones they submitted).
pub async fn find(db: &impl ConnectionTrait, id: &str) -> Result<Option<referral::Model>, DbErr> {
    referral::Entity::find()
        .filter(referral::Column::Id.eq(id))
        .one(db)
        .await
}

/// The referral with this id, if `caller` may see it.
pub async fn find_visible(
    db: &impl ConnectionTrait,
    caller: &Caller,
    id: &str,
) -> Result<Option<referral::Model>, DbErr> {
    Ok(find(db, id).await?.filter(|r| visible(caller, r)))
}

/// [`find_visible`] inside a write transaction, locking the row on PostgreSQL (`FOR UPDATE`) so
/// that the delivery worker's record of an attempt waits for this transition and then sees it.
/// (SQLite's write transactions are serialized already.)
pub async fn find_for_update(
    txn: &impl ConnectionTrait,
    caller: &Caller,
    id: &str,
) -> Result<Option<referral::Model>, DbErr> {
    let mut query = referral::Entity::find().filter(referral::Column::Id.eq(id));
    if txn.get_database_backend() == DbBackend::Postgres {
        query = query.lock_exclusive();
    }
    Ok(query.one(txn).await?.filter(|r| visible(caller, r)))
}

/// A page of visible referrals, newest first, strictly older than `before_seq`.
pub async fn list_visible(
    db: &impl ConnectionTrait,
    caller: &Caller,
    status: Option<Status>,
    before_seq: Option<i64>,
    limit: u64,
) -> Result<Vec<referral::Model>, DbErr> {
    visible_query(caller, status, before_seq, limit)
        .all(db)
        .await
}

/// What a list of many referrals needs of each: no document, no delivery state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Insertion order.
    pub seq: i64,
    /// The referral's id.
    pub id: String,
    /// Its status.
    pub status: Status,
    /// When it was accepted.
    pub submitted_at_ms: i64,
    /// The referring organisation.
    pub organisation: String,
    /// Its agency type.
    pub agency_type: String,
    /// When its personal data was erased.
    pub erased_at_ms: Option<i64>,
}

/// [`list_visible`] as [`Listed`] rows: seven columns read by position, so a list drawn from a
/// thousand referrals costs a fraction of reading them whole.
pub async fn list_visible_light(
    db: &impl ConnectionTrait,
    caller: &Caller,
    status: Option<Status>,
    limit: u64,
) -> Result<Vec<Listed>, DbErr> {
    type Row = (i64, String, Status, i64, String, String, Option<i64>);
    let rows: Vec<Row> = visible_query(caller, status, None, limit)
        .select_only()
        .column(referral::Column::Seq)
        .column(referral::Column::Id)
        .column(referral::Column::Status)
        .column(referral::Column::SubmittedAtMs)
        .column(referral::Column::Organisation)
        .column(referral::Column::AgencyType)
        .column(referral::Column::ErasedAtMs)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(
            |(seq, id, status, submitted_at_ms, organisation, agency_type, erased_at_ms)| Listed {
                seq,
                id,
                status,
                submitted_at_ms,
                organisation,
                agency_type,
                erased_at_ms,
            },
        )
        .collect())
}

/// A fingerprint of the referrals a list shows: how many, the newest, and sums that move whenever
/// one changes status or is erased. Equal fingerprints mean an unchanged list, found by one
/// aggregate query instead of reading every row.
pub async fn list_fingerprint(
    db: &impl ConnectionTrait,
    caller: &Caller,
    status: Option<Status>,
) -> Result<(i64, i64, i64, i64, i64), DbErr> {
    use sea_orm::sea_query::Expr;
    let row: Option<(i64, i64, i64, i64, i64)> = visible_filter(caller, status)
        .select_only()
        .column_as(Expr::cust("CAST(COUNT(*) AS BIGINT)"), "n")
        .column_as(
            Expr::cust("CAST(COALESCE(MAX(seq), 0) AS BIGINT)"),
            "newest",
        )
        .column_as(
            Expr::cust("CAST(COALESCE(SUM(status_changed_at_ms), 0) AS BIGINT)"),
            "changed",
        )
        .column_as(
            Expr::cust("CAST(COALESCE(SUM(LENGTH(status)), 0) AS BIGINT)"),
            "statuses",
        )
        .column_as(Expr::cust("CAST(COUNT(erased_at_ms) AS BIGINT)"), "erased")
        .into_tuple()
        .one(db)
        .await?;
    Ok(row.unwrap_or_default())
}

/// The stored documents of these referrals, by id.
pub async fn documents(
    db: &impl ConnectionTrait,
    ids: &[String],
) -> Result<Vec<(String, String)>, DbErr> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let rows: Vec<(String, String)> = referral::Entity::find()
            .select_only()
            .column(referral::Column::Id)
            .column(referral::Column::Document)
            .filter(referral::Column::Id.is_in(chunk.to_vec()))
            .into_tuple()
            .all(db)
            .await?;
        out.extend(rows);
    }
    Ok(out)
}

fn visible_query(
    caller: &Caller,
    status: Option<Status>,
    before_seq: Option<i64>,
    limit: u64,
) -> sea_orm::Select<referral::Entity> {
    let mut q = visible_filter(caller, status);
    if let Some(seq) = before_seq {
        q = q.filter(referral::Column::Seq.lt(seq));
    }
    q.order_by_desc(referral::Column::Seq).limit(limit)
}

/// The referrals `caller` may list, in `status` when given (no order, no limit).
fn visible_filter(caller: &Caller, status: Option<Status>) -> sea_orm::Select<referral::Entity> {
    let mut q = referral::Entity::find().filter(scope_condition(caller));
    if matches!(caller.scope, Scope::Authority { .. }) {
        // A referral withdrawn before it reached the authority was never disclosed to it, and is
        // not now: not even that it existed.
        q = q.filter(
            sea_orm::Condition::any()
                .add(referral::Column::Status.ne(Status::Withdrawn))
                .add(referral::Column::DeliveredAtMs.is_not_null()),
        );
    }
    if let Some(s) = status {
        q = q.filter(referral::Column::Status.eq(s));
    }
    q
}

/// How an `Idempotency-Key` is stored: its SHA-256, lowercase hex. A caller may build keys from
/// its own case reference or the person's name; the service never needs the key back, only to
/// recognise it. (Migration m20261129_000003 hashed the stored keys the same way.)
pub fn idempotency_hash(key: &str) -> String {
    use sha2::Digest;
    crate::keys::hex(&sha2::Sha256::digest(key.as_bytes()))
}

/// The referral an organisation's agency type stored under an `Idempotency-Key` (as sent; it is
/// hashed here).
pub async fn find_by_idempotency_key(
    db: &impl ConnectionTrait,
    organisation: &str,
    agency_type: &str,
    key: &str,
) -> Result<Option<referral::Model>, DbErr> {
    referral::Entity::find()
        .filter(referral::Column::Organisation.eq(organisation))
        .filter(referral::Column::AgencyType.eq(agency_type))
        .filter(referral::Column::IdempotencyKey.eq(idempotency_hash(key)))
        .one(db)
        .await
}

/// Moves an authority's undelivered referrals to the other delivery mode as
/// [`lifecycle::mode_switch`] says — push to `url`, or pull when `None` — and records
/// `authority.endpoint_changed` with the URL.
pub async fn switch_delivery_mode(
    txn: &impl ConnectionTrait,
    actor: Actor,
    gss_code: &str,
    url: Option<&str>,
    now_ms: i64,
) -> Result<u64, DbErr> {
    let push = url.is_some();
    let switch = lifecycle::mode_switch(push);
    // Which referrals move, for the e-mails of those entering the inbox.
    let moving: Vec<String> = referral::Entity::find()
        .select_only()
        .column(referral::Column::Id)
        .filter(referral::Column::GssCode.eq(gss_code))
        .filter(referral::Column::Status.is_in(switch.from.iter().copied()))
        .filter(referral::Column::ErasedAtMs.is_null())
        .into_tuple()
        .all(txn)
        .await?;
    let moved = release_lease(
        referral::Entity::update_many(),
        referral::Column::LeaseUntilMs,
        referral::Column::LeaseOwner,
    )
    .col_expr(referral::Column::Status, Expr::value(switch.to))
    .col_expr(referral::Column::DeliveryMode, Expr::value(switch.mode))
    .col_expr(
        referral::Column::NextAttemptAtMs,
        Expr::value(switch.due_now.then_some(now_ms)),
    )
    .col_expr(referral::Column::StatusChangedAtMs, Expr::value(now_ms))
    .filter(referral::Column::GssCode.eq(gss_code))
    .filter(referral::Column::Status.is_in(switch.from.iter().copied()))
    // An erased referral has nothing left to deliver: it stays where it is, never pushed.
    .filter(referral::Column::ErasedAtMs.is_null())
    .exec(txn)
    .await?
    .rows_affected;
    let mailbox = notify_address(txn, gss_code).await?.is_some();
    for id in &moving {
        if let Some(notice) = lifecycle::waiting_notice(id, switch.to, mailbox) {
            enqueue_for(txn, id, gss_code, &[notice], now_ms).await?;
        }
    }
    audit::append(
        txn,
        now_ms,
        vec![NewEvent {
            actor,
            action: AuditAction::AuthorityEndpointChanged,
            referral_id: None,
            detail: serde_json::json!({
                "gss_code": gss_code,
                "delivery_mode": if push { "push" } else { "pull" },
                "url": url,
                "moved": moved,
            }),
        }],
    )
    .await?;
    Ok(moved)
}

/// Applies a transition in the caller's transaction: the row's changes, its audit events (after
/// `extra_before`, e.g. a read), and its follow-up pushes queued in the outbox.
pub async fn apply(
    txn: &impl ConnectionTrait,
    transition: Transition,
    extra: Vec<NewEvent>,
    now_ms: i64,
) -> Result<referral::Model, DbErr> {
    let Transition {
        changes,
        mut events,
        follow_ups,
    } = transition;
    let row = if changes.is_changed() {
        changes.update(txn).await?
    } else {
        changes.try_into_model()?
    };
    enqueue(txn, &row, &follow_ups, now_ms).await?;
    events.extend(extra);
    audit::append(txn, now_ms, events).await?;
    Ok(row)
}

/// Queues follow-up events (pushes and e-mails) for the referral's authority, each with its own
/// `webhook-id` (an e-mail's Message-ID).
pub async fn enqueue(
    txn: &impl ConnectionTrait,
    row: &referral::Model,
    follow_ups: &[FollowUp],
    now_ms: i64,
) -> Result<(), DbErr> {
    enqueue_for(txn, &row.id, &row.gss_code, follow_ups, now_ms).await
}

/// [`enqueue`] by the referral's id and authority.
pub async fn enqueue_for(
    txn: &impl ConnectionTrait,
    referral_id: &str,
    gss_code: &str,
    follow_ups: &[FollowUp],
    now_ms: i64,
) -> Result<(), DbErr> {
    for f in follow_ups {
        outbox::ActiveModel {
            seq: sea_orm::NotSet,
            id: Set(uuid::Uuid::now_v7().to_string()),
            referral_id: Set(referral_id.to_owned()),
            gss_code: Set(gss_code.to_owned()),
            channel: Set(f.channel),
            event_type: Set(f.event_type.to_owned()),
            payload: Set(f.payload.to_string()),
            webhook_id: Set(format!("msg_{}", uuid::Uuid::new_v4().simple())),
            status: Set(OutboxStatus::Queued),
            attempts: Set(0),
            next_attempt_at_ms: Set(Some(now_ms)),
            lease_until_ms: Set(None),
            lease_owner: Set(None),
            last_attempt_at_ms: Set(None),
            last_error: Set(None),
            sent_at_ms: Set(None),
            created_at_ms: Set(now_ms),
        }
        .insert(txn)
        .await?;
    }
    Ok(())
}

/// On withdrawal: a waiting e-mail not yet being sent is called off (the authority never learns of
/// the referral), and the answer says whether the mailbox was told (sent, or an attempt in flight),
/// so the withdrawal is told the same way.
pub async fn settle_waiting_email(
    txn: &impl ConnectionTrait,
    referral_id: &str,
) -> Result<bool, DbErr> {
    let waiting = || {
        outbox::Entity::find()
            .filter(outbox::Column::ReferralId.eq(referral_id))
            .filter(outbox::Column::Channel.eq(Channel::Email))
            .filter(outbox::Column::EventType.eq(lifecycle::EMAIL_WAITING))
    };
    outbox::Entity::update_many()
        .col_expr(outbox::Column::Status, Expr::value(OutboxStatus::Failed))
        .col_expr(
            outbox::Column::NextAttemptAtMs,
            Expr::value(Option::<i64>::None),
        )
        .col_expr(outbox::Column::LastError, Expr::value("withdrawn"))
        .filter(outbox::Column::ReferralId.eq(referral_id))
        .filter(outbox::Column::Channel.eq(Channel::Email))
        .filter(outbox::Column::EventType.eq(lifecycle::EMAIL_WAITING))
        .filter(outbox::Column::Status.eq(OutboxStatus::Queued))
        .filter(outbox::Column::LeaseOwner.is_null())
        .exec(txn)
        .await?;
    Ok(waiting()
        .filter(
            Condition::any()
                .add(outbox::Column::Status.eq(OutboxStatus::Sent))
                .add(
                    Condition::all()
                        .add(outbox::Column::Status.eq(OutboxStatus::Queued))
                        .add(outbox::Column::LeaseOwner.is_not_null()),
                ),
        )
        .one(txn)
        .await?
        .is_some())
}

/// Whether the authority's mailbox was told that this referral was waiting (or is being told).
async fn was_emailed(txn: &impl ConnectionTrait, referral_id: &str) -> Result<bool, DbErr> {
    Ok(outbox::Entity::find()
        .filter(outbox::Column::ReferralId.eq(referral_id))
        .filter(outbox::Column::Channel.eq(Channel::Email))
        .filter(outbox::Column::EventType.eq(lifecycle::EMAIL_WAITING))
        .filter(
            Condition::any()
                .add(outbox::Column::Status.eq(OutboxStatus::Sent))
                .add(outbox::Column::LeaseOwner.is_not_null()),
        )
        .one(txn)
        .await?
        .is_some())
}

/// Appends audit events in their own transaction's caller (no row changes): a read.
pub async fn record(
    txn: &impl ConnectionTrait,
    events: Vec<NewEvent>,
    now_ms: i64,
) -> Result<(), DbErr> {
    audit::append(txn, now_ms, events).await
}

/// Erases a referral's personal data (what goes is decided by [`lifecycle::erase`]), with its
/// notes' text; already erased, it is returned unchanged.
pub async fn erase(
    txn: &impl ConnectionTrait,
    row: &referral::Model,
    reason: lifecycle::Erasure,
    actor: &Actor,
    now_ms: i64,
) -> Result<referral::Model, DbErr> {
    let mut erased = erase_all(txn, std::slice::from_ref(row), reason, actor, now_ms).await?;
    Ok(erased.pop().unwrap_or_else(|| row.clone()))
}

/// [`erase`] for a batch in one transaction: one update per referral, then the notes' text and
/// the audit events of the whole batch in one statement each. Returns the rows it erased.
pub async fn erase_all(
    txn: &impl ConnectionTrait,
    rows: &[referral::Model],
    reason: lifecycle::Erasure,
    actor: &Actor,
    now_ms: i64,
) -> Result<Vec<referral::Model>, DbErr> {
    let mut erased = Vec::with_capacity(rows.len());
    let mut events = Vec::with_capacity(rows.len());
    let with_endpoint = push_authorities_for_submission(txn).await?;
    let mailboxes = mailboxes(txn).await?;
    for row in rows {
        let told = lifecycle::Recipients {
            endpoint: with_endpoint.contains(&row.gss_code),
            mailbox: mailboxes.contains(&row.gss_code) && was_emailed(txn, &row.id).await?,
        };
        let Some(t) = lifecycle::erase(row, reason, told, actor, now_ms) else {
            continue;
        };
        let updated = t.changes.update(txn).await?;
        if !t.follow_ups.is_empty() {
            enqueue(txn, &updated, &t.follow_ups, now_ms).await?;
        }
        erased.push(updated);
        events.extend(t.events);
    }
    if erased.is_empty() {
        return Ok(erased);
    }
    note::Entity::update_many()
        .col_expr(note::Column::Text, Expr::value(Option::<String>::None))
        .filter(note::Column::ReferralId.is_in(erased.iter().map(|r| r.id.clone())))
        .exec(txn)
        .await?;
    audit::append(txn, now_ms, events).await?;
    for row in &erased {
        // The lists' copy of the name and date of birth goes too.
        super::triage::forget(&row.id);
    }
    Ok(erased)
}

/// The referrals retention must erase now (their status entered at or before `cutoff_ms`), at most
/// `limit`, in no particular order (the index `referrals_due_for_erasure` finds them without
/// reading any document); locked on PostgreSQL so that several processes erase disjoint batches.
pub async fn due_for_erasure(
    txn: &impl ConnectionTrait,
    cutoff_ms: i64,
    limit: u64,
) -> Result<Vec<referral::Model>, DbErr> {
    let mut q = referral::Entity::find()
        .filter(referral::Column::ErasedAtMs.is_null())
        .filter(referral::Column::Status.is_in(lifecycle::RETAINED_UNTIL_ERASED))
        .filter(referral::Column::StatusChangedAtMs.lte(cutoff_ms))
        .limit(limit);
    if txn.get_database_backend() == DbBackend::Postgres {
        q = q.lock_with_behavior(
            sea_orm::sea_query::LockType::Update,
            sea_orm::sea_query::LockBehavior::SkipLocked,
        );
    }
    q.all(txn).await
}

/// Who wrote a note, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteAuthor {
    /// `referrer` or `authority`.
    pub role: &'static str,
    /// The key that wrote it.
    pub key_id: Option<String>,
    /// A referrer's organisation.
    pub organisation: Option<String>,
    /// A referrer's agency type.
    pub agency_type: Option<String>,
    /// An authority's code.
    pub gss_code: Option<String>,
    /// The officer who wrote it in the web inbox.
    pub officer_id: Option<String>,
}

impl NoteAuthor {
    /// The author a caller writes as.
    pub fn of(caller: &Caller) -> Self {
        let (organisation, agency_type, gss_code) = match &caller.scope {
            Scope::Referrer {
                organisation,
                agency_type,
            } => (
                Some(organisation.clone()),
                Some(agency_type.as_str().to_owned()),
                None,
            ),
            Scope::Authority { gss_code } => (None, None, Some(gss_code.to_string())),
            Scope::Admin => (None, None, None),
        };
        let officer_id = match &caller.credential {
            Credential::Officer(id) => Some(id.to_string()),
            _ => None,
        };
        NoteAuthor {
            role: caller.scope.role().as_str(),
            key_id: caller.key_id().map(ToString::to_string),
            organisation,
            agency_type,
            gss_code,
            officer_id,
        }
    }
}

/// Stores a note.
pub async fn insert_note(
    txn: &impl ConnectionTrait,
    id: &str,
    referral_id: &str,
    author: &NoteAuthor,
    text: &str,
    now_ms: i64,
) -> Result<note::Model, DbErr> {
    note::ActiveModel {
        seq: sea_orm::NotSet,
        id: Set(id.to_owned()),
        referral_id: Set(referral_id.to_owned()),
        author_role: Set(author.role.to_owned()),
        author_key_id: Set(author.key_id.clone()),
        author_organisation: Set(author.organisation.clone()),
        author_agency_type: Set(author.agency_type.clone()),
        author_gss_code: Set(author.gss_code.clone()),
        author_officer_id: Set(author.officer_id.clone()),
        text: Set(Some(text.to_owned())),
        created_at_ms: Set(now_ms),
    }
    .insert(txn)
    .await
}

/// A referral's notes, oldest first, after `after_seq`.
pub async fn notes(
    db: &impl ConnectionTrait,
    referral_id: &str,
    after_seq: i64,
    limit: u64,
) -> Result<Vec<note::Model>, DbErr> {
    note::Entity::find()
        .filter(note::Column::ReferralId.eq(referral_id))
        .filter(note::Column::Seq.gt(after_seq))
        .order_by_asc(note::Column::Seq)
        .limit(limit)
        .all(db)
        .await
}

/// Records an outbox attempt while `owner` still holds the message's lease (the audit event is
/// marked `superseded` otherwise: another worker took it over), with its audit event, in the
/// caller's transaction.
pub async fn record_outbox_attempt(
    txn: &impl ConnectionTrait,
    event: &outbox::Model,
    owner: &str,
    result: lifecycle::OutboxResult,
    started_ms: i64,
    now_ms: i64,
) -> Result<(), DbErr> {
    let lifecycle::OutboxResult {
        status,
        next_attempt_at_ms,
        last_error,
        action,
        mut detail,
    } = result;
    let updated = release_lease(
        outbox::Entity::update_many(),
        outbox::Column::LeaseUntilMs,
        outbox::Column::LeaseOwner,
    )
    .col_expr(outbox::Column::Status, Expr::value(status))
    .col_expr(outbox::Column::Attempts, Expr::value(event.attempts + 1))
    .col_expr(
        outbox::Column::NextAttemptAtMs,
        Expr::value(next_attempt_at_ms),
    )
    .col_expr(outbox::Column::LastAttemptAtMs, Expr::value(started_ms))
    .col_expr(outbox::Column::LastError, Expr::value(last_error))
    .col_expr(
        outbox::Column::SentAtMs,
        Expr::value((status == OutboxStatus::Sent).then_some(now_ms)),
    )
    .filter(outbox::Column::Id.eq(event.id.clone()))
    .filter(outbox::Column::LeaseOwner.eq(owner))
    .exec(txn)
    .await?
    .rows_affected
        > 0;
    if !updated {
        detail["superseded"] = serde_json::json!(true);
    }
    audit::append(
        txn,
        now_ms,
        vec![NewEvent::about(
            Actor::system(),
            action,
            &event.referral_id,
            detail,
        )],
    )
    .await?;
    Ok(())
}

/// An update that also releases a delivery lease (`until` and `owner` set to NULL): a referral or
/// outbox row being settled is free for the next claim.
pub fn release_lease<E: EntityTrait>(
    update: sea_orm::UpdateMany<E>,
    until: E::Column,
    owner: E::Column,
) -> sea_orm::UpdateMany<E> {
    update
        .col_expr(until, Expr::value(Option::<i64>::None))
        .col_expr(owner, Expr::value(Option::<String>::None))
}

/// Applies a push attempt's result while the referral is still queued under `owner`'s lease;
/// `false` (nothing changed) when it moved on meanwhile (withdrawn, erased, taken over).
pub async fn record_push_attempt(
    txn: &impl ConnectionTrait,
    id: &str,
    owner: &str,
    started_ms: i64,
    r: &lifecycle::AttemptResult,
) -> Result<bool, DbErr> {
    Ok(release_lease(
        referral::Entity::update_many(),
        referral::Column::LeaseUntilMs,
        referral::Column::LeaseOwner,
    )
    .col_expr(referral::Column::Status, Expr::value(r.status))
    .col_expr(referral::Column::Attempts, Expr::value(r.attempts))
    .col_expr(
        referral::Column::NextAttemptAtMs,
        Expr::value(r.next_attempt_at_ms),
    )
    .col_expr(referral::Column::LastAttemptAtMs, Expr::value(started_ms))
    .col_expr(
        referral::Column::LastError,
        Expr::value(r.last_error.clone()),
    )
    .col_expr(
        referral::Column::DeliveredAtMs,
        Expr::value(r.delivered_at_ms),
    )
    .col_expr(
        referral::Column::StatusChangedAtMs,
        Expr::value(r.status_changed_at_ms),
    )
    .filter(referral::Column::Id.eq(id))
    .filter(referral::Column::LeaseOwner.eq(owner))
    .filter(referral::Column::Status.eq(Status::Queued))
    .exec(txn)
    .await?
    .rows_affected
        > 0)
}
