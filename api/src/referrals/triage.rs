//! The officers' triage list (docs/contract.md §10b): an authority's referrals with who each is
//! about, how urgent it is today, and whether the referrer has written since anyone of the
//! authority last opened it — most urgent first, or newest first; or the ones found by a search for
//! a name, a date of birth or a reference. Listing and searching are audited with ids and counts
//! only: the trail never holds a name or what was searched for.

use super::lifecycle::Status;
use super::repository as store;
use super::Who;
use crate::audit::NewEvent;
use crate::db::Db;
use crate::entities::{audit_event, note, referral};
use domain::{Urgency, Vocabulary};
use jiff::civil::Date;
use openapi::AuditAction;
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter};
use serde_json::json;
use std::collections::HashMap;

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
    /// The referral.
    pub row: referral::Model,
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
    let search = search.trim();
    if search.is_empty() {
        return true;
    }
    let Some(person) = &item.person else {
        return false;
    };
    if let Some(dob) = parse_dob(search) {
        return person.date_of_birth == Some(dob);
    }
    let lower = search.to_lowercase();
    let hex: String = item
        .row
        .id
        .chars()
        .filter(char::is_ascii_hexdigit)
        .collect();
    let compact: String = lower
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if compact.len() >= 6 && hex.ends_with(&compact) || item.row.id == lower {
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

/// The sort key of the default order; ties go to the oldest received.
fn urgency_key(item: &TriageItem) -> ((bool, bool, i64), i64) {
    let rank = item
        .urgency
        .as_ref()
        .map_or((true, true, i64::MAX), Urgency::rank);
    (rank, item.row.submitted_at_ms)
}

/// The list (or the search) `who` asked for, on `today`: audited as `referrals.listed` with the
/// ids shown, or `referrals.searched` with how many were found.
pub async fn triage(
    db: &Db,
    who: &Who,
    query: &TriageQuery,
    today: Date,
    now_ms: i64,
) -> Result<TriagePage, DbErr> {
    let rows = store::list_visible(db.conn(), &who.caller, query.status, None, MAX_TRIAGE).await?;
    let unread = unread_notes(db, &rows).await?;
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut assignees = super::assignment::assignees(db, &ids).await?;
    let mut items: Vec<TriageItem> = rows
        .into_iter()
        .map(|row| {
            let document: Option<serde_json::Value> = row
                .erased_at_ms
                .is_none()
                .then(|| serde_json::from_str(&row.document).ok())
                .flatten();
            let unread_note = unread.get(&row.id).copied().unwrap_or(false);
            TriageItem {
                assignee: assignees.remove(&row.id),
                urgency: document
                    .as_ref()
                    .and_then(|d| Urgency::of_normalized(d, today)),
                person: document.as_ref().and_then(person_of),
                unread_note,
                row,
            }
        })
        .collect();
    if let Some(search) = &query.search {
        items.retain(|item| matches(item, search));
    }
    if let Some(officer) = &query.assigned_to {
        items.retain(|item| item.assignee.as_deref() == Some(officer.as_str()));
    }
    match query.order {
        Order::Urgency => items.sort_by_key(urgency_key),
        Order::Newest => items.sort_by_key(|i| std::cmp::Reverse(i.row.seq)),
    }
    let total = items.len();
    let items: Vec<TriageItem> = items
        .into_iter()
        .skip(query.offset)
        .take(query.limit)
        .collect();
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
            actor: who.actor.clone(),
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
async fn unread_notes(db: &Db, rows: &[referral::Model]) -> Result<HashMap<String, bool>, DbErr> {
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
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
        let row = crate::referrals::lifecycle::tests::row(Status::Delivered);
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
