//! The officers' triage list (docs/contract.md §10b): an authority's referrals with who each is
//! about, how urgent it is today, and whether the referrer has written since anyone of the
//! authority last opened it — most urgent first, or newest first; or the ones found by a search for
//! a name, a date of birth or a reference. Listing and searching are audited with ids and counts
//! only: the trail never holds a name or what was searched for.

use super::lifecycle::Status;
use super::repository as store;
use crate::audit::{Actor, NewEvent};
use crate::db::Db;
use crate::entities::{audit_event, note};
use crate::keys::Caller;
use domain::{Urgency, UrgencyFacts, Vocabulary};
use jiff::civil::Date;
use openapi::AuditAction;
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// The most referrals a list is drawn from (newest first): an authority's working set is far
/// smaller; older ones are found by search or by their status.
pub const MAX_TRIAGE: u64 = 2_000;

/// How the list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Homeless now first, then by days until homeless, then the oldest received.
    #[default]
    Urgency,
    /// Newest received first.
    Newest,
}

/// Which referrals by urgency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UrgencyFilter {
    /// All of them.
    #[default]
    Any,
    /// Homeless today.
    HomelessNow,
    /// Homeless today or within 14 days.
    Within14Days,
    /// With this flag raised.
    Flag(domain::UrgencyFlag),
}

impl UrgencyFilter {
    /// Whether a referral this urgent passes.
    pub fn passes(self, urgency: Option<&Urgency>) -> bool {
        match (self, urgency) {
            (UrgencyFilter::Any, _) => true,
            (_, None) => false,
            (UrgencyFilter::HomelessNow, Some(u)) => u.homeless_now,
            (UrgencyFilter::Within14Days, Some(u)) => {
                u.homeless_now || u.days_until_homeless.is_some_and(|d| d <= 14)
            }
            (UrgencyFilter::Flag(flag), Some(u)) => u.has(flag),
        }
    }
}

/// What the officer asked to see.
#[derive(Debug, Clone, Default)]
pub struct TriageQuery {
    /// Only referrals in this status.
    pub status: Option<Status>,
    /// Order of the list.
    pub order: Order,
    /// A name, a date of birth or a reference to look for (a search, audited as such).
    pub search: Option<String>,
    /// Only the referrals assigned to this officer.
    pub assigned_to: Option<String>,
    /// Only the referrals this urgent.
    pub urgency: UrgencyFilter,
    /// Where the page starts, and how long it is.
    pub offset: usize,
    /// Page length.
    pub limit: usize,
}

/// Who a referral is about, as the list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PersonSummary {
    /// Given and family name.
    pub name: String,
    /// Date of birth, when given.
    pub date_of_birth: Option<Date>,
    /// The referrer's case reference, when given.
    pub case_reference: Option<String>,
}

/// One referral in the list.
#[derive(Debug, Clone)]
pub struct TriageItem {
    /// The referral, as a list reads it.
    pub row: store::Listed,
    /// Its urgency today (`None` once erased).
    pub urgency: Option<Urgency>,
    /// Who it is about (`None` once erased).
    pub person: Option<PersonSummary>,
    /// The referrer added a note after the authority last opened the referral.
    pub unread_note: bool,
    /// The officer it is assigned to, by id.
    pub assignee: Option<String>,
}

/// A page of the list and how many referrals match in all.
#[derive(Debug, Clone)]
pub struct TriagePage {
    /// The page.
    pub items: Vec<TriageItem>,
    /// How many match (for "showing 1 to 50 of 73").
    pub total: usize,
}

fn person_of(document: &serde_json::Value) -> Option<PersonSummary> {
    let person = document.get("person")?;
    let part = |k: &str| {
        person
            .get(k)
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
    };
    Some(PersonSummary {
        name: format!("{} {}", part("given_name"), part("family_name"))
            .trim()
            .to_owned(),
        date_of_birth: person
            .get("date_of_birth")
            .and_then(serde_json::Value::as_str)
            .and_then(|d| d.parse().ok()),
        case_reference: document
            .get("case_reference")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned),
    })
}

/// What a search may be: a date of birth (`12/04/1988`, `12-4-1988`, `1988-04-12`), or words of a
/// name or a reference.
fn parse_dob(text: &str) -> Option<Date> {
    if let Ok(d) = text.parse::<Date>() {
        return Some(d);
    }
    let parts: Vec<&str> = text.split(['/', '-', '.', ' ']).collect();
    if let [d, m, y] = parts.as_slice() {
        let (d, m, y) = (d.parse().ok()?, m.parse().ok()?, y.parse().ok()?);
        return Date::new(y, m, d).ok();
    }
    None
}

/// Whether `item` is one the officer searched for: the date of birth, every word of the name
/// (in any order, any case), the short reference or the referral's id, or the referrer's case
/// reference.
pub fn matches(item: &TriageItem, search: &str) -> bool {
    matches_parts(&item.row, item.person.as_ref(), search)
}

fn matches_parts(row: &store::Listed, person: Option<&PersonSummary>, search: &str) -> bool {
    let search = search.trim();
    if search.is_empty() {
        return true;
    }
    let Some(person) = person else {
        return false;
    };
    if let Some(dob) = parse_dob(search) {
        return person.date_of_birth == Some(dob);
    }
    let lower = search.to_lowercase();
    let hex: String = row.id.chars().filter(char::is_ascii_hexdigit).collect();
    let compact: String = lower
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if compact.len() >= 6 && hex.ends_with(&compact) || row.id == lower {
        return true;
    }
    if person
        .case_reference
        .as_deref()
        .is_some_and(|r| r.to_lowercase() == lower)
    {
        return true;
    }
    let name = person.name.to_lowercase();
    lower.split_whitespace().all(|word| name.contains(word))
}

/// What a list needs of a referral's document: read once per referral and kept, since a document
/// never changes — only erasure removes it, and an erased referral is never looked up here.
#[derive(Debug, Clone)]
struct ListFacts {
    urgency: Option<UrgencyFacts>,
    person: Option<PersonSummary>,
}

/// The facts of the referrals listed lately, by id: a list of a thousand referrals reads its
/// documents once, not on every view. Bounded; emptied when full (the next list reads again).
fn facts_cache() -> &'static Mutex<HashMap<String, Arc<ListFacts>>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<ListFacts>>>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

/// The most referrals whose facts are kept in memory.
const MAX_CACHED: usize = 50_000;

/// Forgets an erased referral's facts at once (the name and date of birth go with them).
pub fn forget(id: &str) {
    if let Ok(mut cache) = facts_cache().lock() {
        cache.remove(id);
    }
}

/// The facts of each row, in the rows' order (`None` for an erased one).
async fn facts_of(db: &Db, rows: &[store::Listed]) -> Result<Vec<Option<Arc<ListFacts>>>, DbErr> {
    let mut found: Vec<Option<Arc<ListFacts>>> = Vec::with_capacity(rows.len());
    let mut missing = vec![];
    {
        let mut cache = facts_cache()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (i, row) in rows.iter().enumerate() {
            if row.erased_at_ms.is_some() {
                cache.remove(&row.id);
                found.push(None);
                continue;
            }
            let f = cache.get(&row.id).cloned();
            if f.is_none() {
                missing.push((i, row.id.clone()));
            }
            found.push(f);
        }
    }
    if missing.is_empty() {
        return Ok(found);
    }
    let ids: Vec<String> = missing.iter().map(|(_, id)| id.clone()).collect();
    let documents: HashMap<String, String> = store::documents(db.conn(), &ids)
        .await?
        .into_iter()
        .collect();
    let mut cache = facts_cache()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if cache.len() + documents.len() > MAX_CACHED {
        cache.clear();
    }
    for (i, id) in missing {
        let Some(doc) = documents
            .get(&id)
            .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        else {
            continue;
        };
        let facts = Arc::new(ListFacts {
            urgency: UrgencyFacts::of_normalized(&doc),
            person: person_of(&doc),
        });
        cache.insert(id, facts.clone());
        found[i] = Some(facts);
    }
    Ok(found)
}

type ListKey = (String, Option<Status>);
type ListEntry = ((i64, i64, i64, i64, i64), Arc<Vec<store::Listed>>);

/// The rows of the lists viewed lately, by scope and status filter, with the fingerprint they were
/// read at: an unchanged list (the usual case between two views) costs one aggregate query.
fn lists_cache() -> &'static Mutex<HashMap<ListKey, ListEntry>> {
    static CACHE: OnceLock<Mutex<HashMap<ListKey, ListEntry>>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

/// The most lists kept (each at most [`MAX_TRIAGE`] rows without personal data).
const MAX_LISTS: usize = 64;

async fn listed(
    db: &Db,
    who: &Caller,
    status: Option<Status>,
) -> Result<Arc<Vec<store::Listed>>, DbErr> {
    let key: ListKey = (format!("{:?}", who.scope), status);
    let fingerprint = store::list_fingerprint(db.conn(), who, status).await?;
    if let Some((seen, rows)) = lists_cache()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&key)
    {
        if *seen == fingerprint {
            return Ok(rows.clone());
        }
    }
    let rows = Arc::new(store::list_visible_light(db.conn(), who, status, MAX_TRIAGE).await?);
    let mut cache = lists_cache()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if cache.len() >= MAX_LISTS && !cache.contains_key(&key) {
        cache.clear();
    }
    cache.insert(key, (fingerprint, rows.clone()));
    Ok(rows)
}

/// The list (or the search) `who` asked for, on `today`: audited as `referrals.listed` with the
/// ids shown, or `referrals.searched` with how many were found.
pub async fn triage(
    db: &Db,
    who: &Caller,
    query: &TriageQuery,
    today: Date,
    now_ms: i64,
) -> Result<TriagePage, DbErr> {
    let rows = listed(db, who, query.status).await?;
    let facts = facts_of(db, &rows).await?;
    let theirs = match &query.assigned_to {
        Some(officer) => Some(super::assignment::assigned_to(db, officer).await?),
        None => None,
    };
    // Ranked and ordered by index; the urgency itself is built only where a filter needs it and
    // for the page shown.
    let mut picked: Vec<(usize, (bool, bool, i64))> = rows
        .iter()
        .enumerate()
        .filter_map(|(i, row)| {
            let f = facts[i].as_deref();
            let person = f.and_then(|f| f.person.as_ref());
            if let Some(search) = &query.search {
                if !matches_parts(row, person, search) {
                    return None;
                }
            }
            if theirs.as_ref().is_some_and(|t| !t.contains(&row.id)) {
                return None;
            }
            let urgency = f.and_then(|f| f.urgency.as_ref());
            if query.urgency != UrgencyFilter::Any
                && !query.urgency.passes(urgency.map(|u| u.on(today)).as_ref())
            {
                return None;
            }
            Some((
                i,
                urgency.map_or((true, true, i64::MAX), |u| u.rank_on(today)),
            ))
        })
        .collect();
    match query.order {
        Order::Urgency => picked.sort_by_key(|(i, rank)| (*rank, rows[*i].submitted_at_ms)),
        Order::Newest => picked.sort_by_key(|(i, _)| std::cmp::Reverse(rows[*i].seq)),
    }
    let total = picked.len();
    let mut items: Vec<TriageItem> = picked
        .into_iter()
        .skip(query.offset)
        .take(query.limit)
        .map(|(i, _)| {
            let row = rows[i].clone();
            let f = facts[i].as_deref();
            TriageItem {
                person: f.and_then(|f| f.person.clone()),
                urgency: f.and_then(|f| f.urgency.as_ref()).map(|u| u.on(today)),
                unread_note: false,
                assignee: None,
                row,
            }
        })
        .collect();
    // Markers and assignees only for the page shown.
    let ids: Vec<String> = items.iter().map(|i| i.row.id.clone()).collect();
    let unread = unread_notes(db, &ids).await?;
    let mut assignees = super::assignment::assignees(db, &ids).await?;
    for item in &mut items {
        item.unread_note = unread.get(&item.row.id).copied().unwrap_or(false);
        item.assignee = assignees.remove(&item.row.id);
    }
    let event = match &query.search {
        Some(_) => json!({ "found": total }),
        None => {
            json!({ "referral_ids": items.iter().map(|i| i.row.id.as_str()).collect::<Vec<_>>() })
        }
    };
    let action = if query.search.is_some() {
        AuditAction::ReferralsSearched
    } else {
        AuditAction::ReferralsListed
    };
    let txn = db.begin_write().await?;
    store::record(
        &*txn,
        vec![NewEvent {
            actor: Actor::from(who),
            action,
            referral_id: None,
            detail: event,
        }],
        now_ms,
    )
    .await?;
    txn.commit().await?;
    Ok(TriagePage { items, total })
}

/// For each referral, whether the referrer added a note after the authority (an officer or its
/// key) last opened it.
async fn unread_notes(db: &Db, ids: &[String]) -> Result<HashMap<String, bool>, DbErr> {
    let mut unread = HashMap::new();
    if ids.is_empty() {
        return Ok(unread);
    }
    let mut last_note: HashMap<String, i64> = HashMap::new();
    for chunk in ids.chunks(500) {
        let notes = note::Entity::find()
            .filter(note::Column::ReferralId.is_in(chunk.to_vec()))
            .filter(note::Column::AuthorRole.eq("referrer"))
            .all(db.conn())
            .await?;
        for n in notes {
            let at = last_note.entry(n.referral_id.clone()).or_insert(i64::MIN);
            *at = (*at).max(n.created_at_ms);
        }
    }
    if last_note.is_empty() {
        return Ok(unread);
    }
    let noted: Vec<String> = last_note.keys().cloned().collect();
    let mut last_view: HashMap<String, i64> = HashMap::new();
    for chunk in noted.chunks(500) {
        let views = audit_event::Entity::find()
            .filter(audit_event::Column::ReferralId.is_in(chunk.to_vec()))
            .filter(audit_event::Column::Action.eq(AuditAction::ReferralViewed.term()))
            .filter(audit_event::Column::ActorRole.is_in(["officer", "authority"]))
            .all(db.conn())
            .await?;
        for v in views {
            let Some(id) = v.referral_id else { continue };
            let at =
                v.at.parse::<jiff::Timestamp>()
                    .map_or(i64::MIN, |t| t.as_millisecond());
            let seen = last_view.entry(id).or_insert(i64::MIN);
            *seen = (*seen).max(at);
        }
    }
    for (id, noted_at) in last_note {
        let seen = last_view.get(&id).copied().unwrap_or(i64::MIN);
        unread.insert(id, noted_at > seen);
    }
    Ok(unread)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(name: &str, dob: Option<&str>, case_ref: Option<&str>) -> TriageItem {
        let r = crate::referrals::lifecycle::tests::row(Status::Delivered);
        let row = store::Listed {
            seq: r.seq,
            id: r.id,
            status: r.status,
            submitted_at_ms: r.submitted_at_ms,
            organisation: r.organisation,
            agency_type: r.agency_type,
            erased_at_ms: None,
        };
        TriageItem {
            row,
            urgency: None,
            person: Some(PersonSummary {
                name: name.to_owned(),
                date_of_birth: dob.and_then(|d| d.parse().ok()),
                case_reference: case_ref.map(str::to_owned),
            }),
            unread_note: false,
            assignee: None,
        }
    }

    #[test]
    fn a_search_finds_by_name_words_in_any_order_and_case() {
        let i = item("Zephyrine Quill", None, None);
        assert!(matches(&i, "quill"));
        assert!(matches(&i, "QUILL zephyrine"));
        assert!(!matches(&i, "quill smith"));
    }

    #[test]
    fn a_search_finds_by_date_of_birth_in_british_or_iso_form() {
        let i = item("A B", Some("1988-04-12"), None);
        assert!(matches(&i, "12/04/1988"));
        assert!(matches(&i, "1988-04-12"));
        assert!(matches(&i, "12-4-1988"));
        assert!(!matches(&i, "13/04/1988"));
    }

    #[test]
    fn a_search_finds_by_case_reference_and_short_reference() {
        let i = item("A B", None, Some("PRB-1234"));
        assert!(matches(&i, "prb-1234"));
        let hex: String = i.row.id.chars().filter(char::is_ascii_hexdigit).collect();
        let short = hex[hex.len() - 12..].to_uppercase();
        assert!(matches(&i, &short));
        assert!(!matches(&i, "PRB-9999"));
    }

    #[test]
    fn an_erased_referral_is_never_found() {
        let mut i = item("A B", None, None);
        i.person = None;
        assert!(!matches(&i, "A"));
    }
}
