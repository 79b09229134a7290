//! The list of an authority's referrals, filtered by status and paged.

use super::*;

#[derive(Deserialize)]
pub(super) struct ListQuery {
    status: Option<String>,
    before: Option<i64>,
}

/// The filters the list offers, as the authority sees its referrals.
pub(super) const FILTERS: [(&str, &str, Option<Status>); 6] = [
    ("", "All referrals", None),
    (
        "awaiting_collection",
        "New",
        Some(Status::AwaitingCollection),
    ),
    ("delivered", "Read", Some(Status::Delivered)),
    ("acknowledged", "Acknowledged", Some(Status::Acknowledged)),
    ("withdrawn", "Withdrawn", Some(Status::Withdrawn)),
    ("failed", "Not delivered", Some(Status::Failed)),
];

#[handler]
pub(super) async fn list_page(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
    Query(q): Query<ListQuery>,
) -> Response {
    let session = match signed_in(req, &state, &limits).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let chosen = q.status.unwrap_or_default();
    let Some(&(value, label, status)) = FILTERS.iter().find(|(v, _, _)| *v == chosen) else {
        return not_found();
    };
    let who = Who::officer(&session.officer.id, &session.officer.gss_code);
    let mut rows = match referrals::list(&state.db, &who, status, q.before, PAGE + 1).await {
        Ok(r) => r,
        Err(e) => return internal_error(&e),
    };
    let more = rows.len() > usize::try_from(PAGE).unwrap_or(usize::MAX);
    rows.truncate(usize::try_from(PAGE).unwrap_or(usize::MAX));
    let filter = if value.is_empty() {
        String::new()
    } else {
        format!("status={value}&")
    };
    let next_page = more
        .then(|| {
            rows.last()
                .map(|r| format!("/inbox?{filter}before={}", r.seq))
        })
        .flatten();
    let first_page = q.before.is_some().then(|| {
        if value.is_empty() {
            "/inbox".to_owned()
        } else {
            format!("/inbox?status={value}")
        }
    });
    let authority = authority_name(&session.officer.gss_code);
    let page = ListPage {
        nav: nav_of(&session),
        caption: if value.is_empty() {
            "Newest first".to_owned()
        } else {
            format!("{label}, newest first")
        },
        authority,
        statuses: FILTERS
            .iter()
            .map(|(v, l, _)| StatusOption {
                value: v,
                label: l,
                selected: *v == value,
            })
            .collect(),
        rows: rows
            .iter()
            .map(|r| {
                let (status, status_class) = status_words(r.status);
                ListRow {
                    id: r.id.clone(),
                    reference: reference(&r.id),
                    received: when(r.submitted_at_ms),
                    organisation: r.organisation.clone(),
                    agency: agency(r),
                    status,
                    status_class,
                    urgency: mail::urgency_of(r),
                }
            })
            .collect(),
        next_page,
        first_page,
    };
    html(StatusCode::OK, &page)
}

// ----- a referral -------------------------------------------------------------------------
