//! One referral's page: the document in sections, notes, history, and the forms to act on it.

use super::*;

#[derive(Deserialize)]
pub(super) struct ReferralQuery {
    done: Option<String>,
}

/// What the officer typed into the referral page's forms, shown again beside its errors.
#[derive(Default)]
pub(super) struct FormValues {
    pub(super) received_by: String,
    pub(super) local_reference: String,
    pub(super) reason: String,
    pub(super) other_authority: String,
    pub(super) note: String,
}

#[handler]
pub(super) async fn referral_page(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
    Path(id): Path<String>,
    Query(q): Query<ReferralQuery>,
) -> Response {
    let session = match signed_in(req, &state, &limits).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(id) = ReferralId::parse(&id) else {
        return not_found();
    };
    let done = match q.done.as_deref() {
        Some("acknowledged") => Some("You acknowledged this referral"),
        Some("outcome") => Some("Your decision was recorded"),
        Some("note") => Some("Your note was added"),
        _ => None,
    };
    render_referral(
        &state,
        &session,
        &id,
        done,
        vec![],
        FormValues::default(),
        StatusCode::OK,
    )
    .await
}

/// Reads the referral as the officer (audited; the first read delivers it) and renders its page.
pub(super) async fn render_referral(
    state: &AppState,
    session: &Session,
    id: &ReferralId,
    done: Option<&'static str>,
    errors: Vec<FieldError>,
    typed: FormValues,
    status: StatusCode,
) -> Response {
    let who = Who::officer(&session.officer.id, &session.officer.gss_code);
    let now = state.clock.now_ms();
    let (read, notes) =
        match referrals::read_with_notes(&state.db, &who, id, Some(PAGE_ITEMS), now).await {
            Ok(r) => r,
            Err(ActionError::NotFound) => return not_found(),
            Err(e) => return internal_error(&e),
        };
    let row = &read.row;
    let erased = row.erased_at_ms.is_some();
    let events = match audit::latest_for_referral(state.db.conn(), &row.id, PAGE_ITEMS).await {
        Ok(e) => e,
        Err(e) => return internal_error(&e),
    };
    let (status_text, status_class) = status_words(row.status);
    let selected_reason = if typed.reason.is_empty() {
        row.outcome_reason.clone().unwrap_or_default()
    } else {
        typed.reason.clone()
    };
    let page = ReferralPage {
        nav: nav_of(session),
        errors,
        done,
        csrf: session.csrf.clone(),
        id: row.id.clone(),
        reference: reference(&row.id),
        organisation: row.organisation.clone(),
        agency: agency(row),
        status: status_text,
        status_class,
        received: when(row.submitted_at_ms),
        urgency: mail::urgency_of(row),
        warnings: other_warnings(row),
        erased,
        disclosed: read.disclosed,
        sections: if read.disclosed && !erased {
            sections(row)
        } else {
            vec![]
        },
        can_acknowledge: read.disclosed && !erased && row.status == Status::Delivered,
        received_by: typed.received_by,
        local_reference: typed.local_reference,
        can_record_outcome: read.disclosed
            && matches!(row.status, Status::Delivered | Status::Acknowledged),
        reasons: domain::OutcomeReason::TERMS
            .iter()
            .map(|(term, reason)| ReasonOption {
                id: format!("reason-{term}"),
                value: term,
                label: reason.label(),
                selected: *term == selected_reason,
            })
            .collect(),
        other_authority: typed.other_authority,
        outcome: outcome_words(row),
        notes: notes
            .iter()
            .take(usize::try_from(PAGE_ITEMS).unwrap_or(usize::MAX))
            .map(|n| NoteRow {
                author: if n.author_role == "referrer" {
                    n.author_organisation
                        .clone()
                        .unwrap_or_else(|| "The referrer".to_owned())
                } else {
                    authority_name(n.author_gss_code.as_deref().unwrap_or_default())
                },
                at: when(n.created_at_ms),
                text: n.text.clone().unwrap_or_default(),
            })
            .collect(),
        can_add_note: read.disclosed
            && matches!(row.status, Status::Delivered | Status::Acknowledged),
        note_text: typed.note,
        timeline: events
            .iter()
            .map(|e| TimelineRow {
                at: jiff::Timestamp::strptime("%Y-%m-%dT%H:%M:%S%.fZ", &e.at)
                    .ok()
                    .map(|t| when(t.as_millisecond()))
                    .unwrap_or_else(|| e.at.clone()),
                what: action_words(&e.action),
                who: actor_words(&e.actor_role),
            })
            .collect(),
    };
    html(status, &page)
}

pub(super) fn outcome_words(row: &referral::Model) -> Option<String> {
    let reason = domain::OutcomeReason::from_term(row.outcome_reason.as_deref()?)?;
    let mut words = reason.label().to_owned();
    if let Some(other) = &row.outcome_other_gss_code {
        words.push_str(&format!(" ({})", authority_name(other)));
    }
    if let Some(at) = row.outcome_recorded_at_ms {
        words.push_str(&format!(", recorded {}", when(at)));
    }
    Some(words)
}

/// The warnings that are not urgency, in the words the rules wrote them.
pub(super) fn other_warnings(row: &referral::Model) -> Vec<String> {
    serde_json::from_str::<Vec<serde_json::Value>>(&row.warnings)
        .unwrap_or_default()
        .iter()
        .filter(|w| {
            w["code"]
                .as_str()
                .and_then(domain::Code::from_str_code)
                .is_some_and(|c| c.urgency().is_none())
        })
        .filter_map(|w| w["message"].as_str().map(str::to_owned))
        .collect()
}

pub(super) fn action_words(action: &str) -> &'static str {
    match action {
        "referral.received" => "Sent by the referrer",
        "referral.accepted" => "Accepted by the service",
        "referral.viewed" => "Opened",
        "delivery.attempted" => "Delivery attempted",
        "delivery.succeeded" => "Delivered",
        "delivery.failed" => "Delivery failed",
        "referral.acknowledged" => "Acknowledged",
        "referral.redelivery_requested" => "Sent again",
        "referral.outcome_recorded" => "Decision recorded",
        "referral.withdrawn" => "Withdrawn by the referrer",
        "note.added" => "Note added",
        "notes.viewed" => "Notes read",
        "referral.erased" => "Personal details erased",
        "notification.sent" => "Your mailbox was told",
        "notification.failed" => "Telling your mailbox failed",
        _ => "Other",
    }
}

pub(super) fn actor_words(role: &str) -> &'static str {
    match role {
        "referrer" => "Referrer",
        "authority" => "Your council (API)",
        "officer" => "Your council (inbox)",
        "admin" => "Service administrator",
        _ => "The service",
    }
}

/// The document laid out for reading: one section per part of the referral, each a list of what
/// was given, in the order of the referral format.
pub(super) fn sections(row: &referral::Model) -> Vec<Section> {
    const ORDER: [(&str, &str); 9] = [
        ("person", "The person"),
        ("household", "Household"),
        ("housing_situation", "Housing situation"),
        ("risk", "Risks"),
        ("medical", "Health needs"),
        ("consent", "Consent"),
        ("safeguarding_override", "Shared without consent"),
        ("referrer", "Referrer"),
        ("housing_authority", "Housing authority chosen"),
    ];
    let Ok(serde_json::Value::Object(doc)) = serde_json::from_str(&row.document) else {
        return vec![];
    };
    let mut out = vec![];
    let mut seen = std::collections::HashSet::new();
    for (key, title) in ORDER {
        if let Some(v) = doc.get(key) {
            seen.insert(key);
            push_section(&mut out, title.to_owned(), v);
        }
    }
    for (key, v) in &doc {
        if !seen.contains(key.as_str()) {
            push_section(&mut out, label(key), v);
        }
    }
    out
}

pub(super) fn push_section(out: &mut Vec<Section>, title: String, value: &serde_json::Value) {
    let mut rows = vec![];
    flatten(&mut rows, "", value);
    if !rows.is_empty() {
        out.push(Section { title, rows });
    }
}

pub(super) fn flatten(rows: &mut Vec<(String, String)>, prefix: &str, value: &serde_json::Value) {
    use serde_json::Value;
    let join = |k: &str| {
        if prefix.is_empty() {
            label(k)
        } else {
            format!("{prefix}: {}", label(k).to_lowercase())
        }
    };
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                flatten(rows, &join(k), v);
            }
        }
        Value::Array(items) if items.iter().all(|i| !i.is_object()) => {
            let text: Vec<String> = items.iter().filter_map(scalar).collect();
            if !text.is_empty() {
                rows.push((prefix_or(prefix), text.join(", ")));
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten(rows, &format!("{} {}", prefix_or(prefix), i + 1), item);
            }
        }
        other => {
            if let Some(text) = scalar(other) {
                rows.push((prefix_or(prefix), text));
            }
        }
    }
}

pub(super) fn prefix_or(prefix: &str) -> String {
    if prefix.is_empty() {
        "Value".to_owned()
    } else {
        prefix.to_owned()
    }
}

pub(super) fn scalar(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Null => None,
        serde_json::Value::Bool(true) => Some("Yes".to_owned()),
        serde_json::Value::Bool(false) => Some("No".to_owned()),
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// A member's name in words.
pub(super) fn label(key: &str) -> String {
    match key {
        "gss_code" => "GSS code".to_owned(),
        "date_of_birth" => "Date of birth".to_owned(),
        "line1" => "Address line 1".to_owned(),
        "line2" => "Address line 2".to_owned(),
        "via_referrer" => "Contact through the referrer".to_owned(),
        "likely_homeless_on" => "Likely homeless on".to_owned(),
        "recorded_at" => "Recorded at".to_owned(),
        "to_self" => "Risk to self".to_owned(),
        "to_others" => "Risk to others".to_owned(),
        other => {
            let words = other.replace('_', " ");
            let mut chars = words.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
                .unwrap_or_default()
        }
    }
}

// ----- forms ------------------------------------------------------------------------------
