//! The triage list of an authority's referrals: most urgent first (or newest first), filtered by
//! status, searched by name, date of birth or reference, paged.

use super::*;

#[derive(Deserialize)]
pub(super) struct ListQuery {
    status: Option<String>,
    sort: Option<String>,
    q: Option<String>,
    assigned: Option<String>,
    urgency: Option<String>,
    page: Option<usize>,
}

/// The urgency filters the list offers.
const URGENCIES: [(&str, &str); 5] = [
    ("", "Any"),
    ("homeless_now", "Homeless now"),
    ("within_14_days", "Homeless now or within 14 days"),
    ("aged_16_or_17", "Aged 16 or 17"),
    ("shared_without_consent", "Shared without consent"),
];

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
    let order = match q.sort.as_deref() {
        None | Some("") | Some("urgency") => triage::Order::Urgency,
        Some("newest") => triage::Order::Newest,
        Some(_) => return not_found(),
    };
    let search =
        q.q.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.chars().take(100).collect::<String>());
    let mine = match q.assigned.as_deref() {
        None | Some("") => false,
        Some("me") => true,
        Some(_) => return not_found(),
    };
    let urgency_value = q.urgency.unwrap_or_default();
    let urgency = match urgency_value.as_str() {
        "" => triage::UrgencyFilter::Any,
        "homeless_now" => triage::UrgencyFilter::HomelessNow,
        "within_14_days" => triage::UrgencyFilter::Within14Days,
        other => match <domain::UrgencyFlag as Vocabulary>::from_term(other) {
            Some(flag) => triage::UrgencyFilter::Flag(flag),
            None => return not_found(),
        },
    };
    let page_number = q.page.unwrap_or(1).max(1);
    let query = triage::TriageQuery {
        status,
        order,
        search: search.clone(),
        assigned_to: mine.then(|| session.officer.id.clone()),
        urgency,
        offset: (page_number - 1).saturating_mul(PAGE_ROWS),
        limit: PAGE_ROWS,
    };
    let who = session_caller(&session);
    let today = state.today();
    let found = match triage::triage(&state.db, &who, &query, today, state.clock.now_ms()).await {
        Ok(p) => p,
        Err(e) => return internal_error(&e),
    };
    let link = |page: usize| {
        let mut parts = vec![];
        if !value.is_empty() {
            parts.push(format!("status={value}"));
        }
        if order == triage::Order::Newest {
            parts.push("sort=newest".to_owned());
        }
        if let Some(s) = &search {
            parts.push(format!("q={}", url_encode(s)));
        }
        if mine {
            parts.push("assigned=me".to_owned());
        }
        if !urgency_value.is_empty() {
            parts.push(format!("urgency={urgency_value}"));
        }
        if page > 1 {
            parts.push(format!("page={page}"));
        }
        if parts.is_empty() {
            "/inbox".to_owned()
        } else {
            format!("/inbox?{}", parts.join("&"))
        }
    };
    let shown_to = query.offset + found.items.len();
    let next_page = (shown_to < found.total).then(|| link(page_number + 1));
    let previous_page = (page_number > 1).then(|| link(page_number - 1));
    let order_words = match order {
        triage::Order::Urgency => "most urgent first",
        triage::Order::Newest => "newest first",
    };
    let caption = match (&search, found.total) {
        (Some(_), 0) => "No referrals found".to_owned(),
        (Some(_), n) => format!("{n} found, {order_words}"),
        (None, _) if value.is_empty() && !mine => capitalise(order_words),
        (None, _) if value.is_empty() => format!("Assigned to you, {order_words}"),
        (None, _) => format!("{label}, {order_words}"),
    };
    let officers = people::list_officers(
        &state.db,
        &GssCode::stored(session.officer.gss_code.clone()),
    )
    .await
    .unwrap_or_default();
    let assignee_words = |id: &str| {
        if id == session.officer.id {
            "Assigned to you".to_owned()
        } else {
            officers.iter().find(|o| o.id == id).map_or_else(
                || "Assigned".to_owned(),
                |o| format!("Assigned to {}", o.email),
            )
        }
    };
    let page = ListPage {
        nav: nav_of(&session),
        caption,
        authority: authority_name(&session.officer.gss_code),
        statuses: FILTERS
            .iter()
            .map(|(v, l, _)| StatusOption {
                value: v,
                label: l,
                selected: *v == value,
            })
            .collect(),
        newest: order == triage::Order::Newest,
        mine,
        urgencies: URGENCIES
            .iter()
            .map(|(v, l)| StatusOption {
                value: v,
                label: l,
                selected: *v == urgency_value,
            })
            .collect(),
        search: search.clone().unwrap_or_default(),
        searched: search.is_some(),
        rows: found
            .items
            .iter()
            .map(|item| {
                let mut row = list_row(item, today);
                row.assigned = item.assignee.as_deref().map(assignee_words);
                row
            })
            .collect(),
        next_page,
        previous_page,
        range: (found.total > 0).then(|| {
            format!(
                "Showing {} to {} of {}",
                query.offset + 1,
                shown_to,
                found.total
            )
        }),
    };
    html(StatusCode::OK, &page)
}

// ----- a referral -------------------------------------------------------------------------

/// Referrals per page of the list.
const PAGE_ROWS: usize = 50;

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// One row of the list: who, how urgent, and what happened.
fn list_row(item: &triage::TriageItem, today: jiff::civil::Date) -> ListRow {
    let r = &item.row;
    let (status, status_class) = status_words(r.status);
    let person = item.person.clone().unwrap_or_default();
    ListRow {
        id: r.id.clone(),
        reference: reference(&r.id),
        name: if item.person.is_some() {
            person.name.clone()
        } else {
            "Personal details erased".to_owned()
        },
        age: person
            .date_of_birth
            .map(|born| format!("Age {}", domain::calendar::age_on(born, today))),
        case_reference: person.case_reference.clone(),
        received: when(r.submitted_at_ms),
        organisation: r.organisation.clone(),
        agency: agency_words(&r.agency_type),
        status,
        status_class,
        urgency: item.urgency.as_ref().map(|u| u.headline()),
        urgent: item
            .urgency
            .as_ref()
            .is_some_and(|u| u.homeless_now || u.days_until_homeless.is_some_and(|d| d <= 14)),
        flags: item.urgency.as_ref().map_or_else(Vec::new, |u| {
            u.flags
                .iter()
                .filter(|f| !(u.homeless_now && **f == domain::UrgencyFlag::RoughSleepingNow))
                .map(|f| f.label())
                .collect()
        }),
        unread_note: item.unread_note,
        withdrawn: r.status == Status::Withdrawn,
        assigned: None,
    }
}
