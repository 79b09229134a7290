//! One referral's page: the document in sections, notes, history, and the forms to act on it.

use super::*;
use std::collections::HashMap;
use std::sync::Mutex;

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
        Some("assigned") => Some("The referral was assigned"),
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
    let who = session_caller(session);
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
    let today = state.today();
    let document: Option<serde_json::Value> = (read.disclosed && !erased)
        .then(|| serde_json::from_str(&row.document).ok())
        .flatten();
    let urgency = document
        .as_ref()
        .and_then(|d| domain::Urgency::of_normalized(d, today));
    let officers = people::list_officers(
        &state.db,
        &GssCode::stored(session.officer.gss_code.clone()),
    )
    .await
    .unwrap_or_default();
    let assignee = referrals::assignment::assignees(&state.db, std::slice::from_ref(&row.id))
        .await
        .unwrap_or_default()
        .remove(&row.id);
    let email_of = |officer_id: &str| {
        officers.iter().find(|o| o.id == officer_id).map_or_else(
            || "An officer no longer registered".to_owned(),
            |o| o.email.clone(),
        )
    };
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
        name: document.as_ref().and_then(|d| d.get("person")).map(|p| {
            let part = |k: &str| p.get(k).and_then(serde_json::Value::as_str).unwrap_or("");
            format!("{} {}", part("given_name"), part("family_name"))
        }),
        urgency: urgency
            .as_ref()
            .map(|u| {
                let mut words = vec![u.headline()];
                words.extend(
                    u.flags
                        .iter()
                        .filter(|f| {
                            !(u.homeless_now && **f == domain::UrgencyFlag::RoughSleepingNow)
                        })
                        .map(|f| f.label().to_owned()),
                );
                words
            })
            .unwrap_or_default(),
        safety: document.as_ref().map(safety_panel).unwrap_or_default(),
        assigned_to: assignee.as_deref().map(|a| {
            if a == session.officer.id {
                format!("You ({})", session.officer.email)
            } else {
                email_of(a)
            }
        }),
        can_assign: read.disclosed && !erased,
        acknowledged: row.acknowledged_at_ms.map(|at| {
            match row.received_by.as_deref().filter(|r| !r.is_empty()) {
                Some(by) => format!("Received by {by}, acknowledged {}", when(at)),
                None => format!("Acknowledged {}", when(at)),
            }
        }),
        authority_options: authority_options(&typed.other_authority, &row.gss_code),
        colleagues: {
            let mut list: Vec<OfficerOption> = officers
                .iter()
                .map(|o| OfficerOption {
                    id: o.id.clone(),
                    label: if o.id == session.officer.id {
                        format!("Me ({})", o.email)
                    } else {
                        o.email.clone()
                    },
                    selected: assignee
                        .as_deref()
                        .map_or(o.id == session.officer.id, |a| a == o.id),
                })
                .collect();
            list.sort_by_key(|o| o.id != session.officer.id);
            list
        },
        withdrawal: row.withdrawal_reason.as_deref().map(|reason| {
            domain::WithdrawalReason::from_term(reason)
                .map_or_else(|| reason.to_owned(), |r| r.label().to_owned())
        }),
        warnings: other_warnings(row),
        erased,
        disclosed: read.disclosed,
        sections: document
            .as_ref()
            .map(|d| sections(d, today))
            .unwrap_or_default(),
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
        outcome: outcome_words(row),
        outcome_warnings: referrals::outcome_warnings(row)
            .into_iter()
            .map(|w| w.message)
            .collect(),
        notes: notes
            .iter()
            .take(usize::try_from(PAGE_ITEMS).unwrap_or(usize::MAX))
            .map(|n| NoteRow {
                author: if n.author_role == "referrer" {
                    n.author_organisation
                        .clone()
                        .unwrap_or_else(|| "The referrer".to_owned())
                } else {
                    // Signed by the officer who wrote it, when one did in the inbox.
                    n.author_officer_id
                        .as_deref()
                        .and_then(|id| officers.iter().find(|o| o.id == id))
                        .map_or_else(
                            || authority_name(n.author_gss_code.as_deref().unwrap_or_default()),
                            |o| o.email.clone(),
                        )
                },
                at: when(n.created_at_ms),
                text: n.text.clone().unwrap_or_default(),
            })
            .collect(),
        can_add_note: read.disclosed
            && matches!(row.status, Status::Delivered | Status::Acknowledged),
        note_text: typed.note,
        timeline: timeline(&events, &officers),
    };
    html(status, &page)
}

/// The `<optgroup>`s of every current council but this one, by kind then name, for choosing the
/// one the person was referred to (no script needed: a grouped select), with `selected` marked.
/// The register is fixed, so each authority's list is rendered once and kept; only a form shown
/// again with a choice is rendered afresh.
pub(super) fn authority_options(selected: &str, own: &str) -> String {
    static RENDERED: std::sync::OnceLock<Mutex<HashMap<String, Arc<String>>>> =
        std::sync::OnceLock::new();
    if !selected.is_empty() {
        return render_authority_options(selected, own);
    }
    let cache = RENDERED.get_or_init(Mutex::default);
    let mut cache = cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    cache
        .entry(own.to_owned())
        .or_insert_with(|| Arc::new(render_authority_options("", own)))
        .as_ref()
        .clone()
}

fn render_authority_options(selected: &str, own: &str) -> String {
    use domain::AuthorityKind;
    let escape = |text: &str| {
        askama::filters::escape(text, askama::filters::Html)
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    let mut html = String::with_capacity(16 * 1024);
    for (_, kind) in AuthorityKind::TERMS {
        let mut options: Vec<&domain::HousingAuthority> = domain::register()
            .authorities()
            .iter()
            .filter(|a| a.kind == *kind && a.gss_code != own)
            .collect();
        if options.is_empty() {
            continue;
        }
        options.sort_by(|a, b| a.name.cmp(&b.name));
        html.push_str(&format!("<optgroup label=\"{}\">", escape(kind.label())));
        for a in options {
            html.push_str(&format!(
                "<option value=\"{}\"{}>{}</option>",
                escape(&a.gss_code),
                if a.gss_code == selected {
                    " selected"
                } else {
                    ""
                },
                escape(&a.name)
            ));
        }
        html.push_str("</optgroup>");
    }
    html
}

/// What an officer must know before contacting anyone: the override with its reason and who
/// authorised it, contact through the referrer, and the risks to staff and to others.
pub(super) fn safety_panel(doc: &serde_json::Value) -> Vec<(String, String)> {
    let text = |p: &str| {
        doc.pointer(p)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    let mut rows = vec![];
    if doc.pointer("/consent/safeguarding_override").is_some() {
        let concern = text("/consent/safeguarding_override/concern_for")
            .and_then(|t| domain::ConcernFor::from_term(&t))
            .map_or("someone", |c| c.label());
        rows.push((
            "Shared without consent".to_owned(),
            format!(
                "The referrer used the safeguarding override, for a concern about {}. Reason: {}",
                concern.to_lowercase(),
                text("/consent/safeguarding_override/reason").unwrap_or_default()
            ),
        ));
        if let Some(by) = text("/consent/safeguarding_override/authorised_by") {
            rows.push(("Override authorised by".to_owned(), by));
        }
    }
    if doc.pointer("/person/contact/via_referrer") == Some(&serde_json::Value::Bool(true)) {
        rows.push((
            "Contact".to_owned(),
            "Contact the person through the referrer".to_owned(),
        ));
    }
    if doc.pointer("/consent/share_contact_details") == Some(&serde_json::Value::Bool(false)) {
        rows.push((
            "Contact details".to_owned(),
            "The person did not agree to share their contact details".to_owned(),
        ));
    }
    for (pointer, label) in [
        ("/risk/to_staff", "Risk to staff"),
        ("/risk/to_others", "Risk to others"),
        ("/risk/to_self", "Risk to self"),
    ] {
        if let Some(risk) = text(pointer) {
            rows.push((label.to_owned(), risk));
        }
    }
    rows
}

/// The history in words, oldest first, naming the officer who acted; consecutive opens and
/// note reads are folded into one row ("Opened 12 times, last by …").
pub(super) fn timeline(
    events: &[crate::entities::audit_event::Model],
    officers: &[crate::entities::officer::Model],
) -> Vec<TimelineRow> {
    let who = |e: &crate::entities::audit_event::Model| -> String {
        e.actor_officer_id
            .as_deref()
            .and_then(|id| officers.iter().find(|o| o.id == id))
            .map_or_else(
                || actor_words(&e.actor_role).to_owned(),
                |o| o.email.clone(),
            )
    };
    let mut rows: Vec<(TimelineRow, &'static str, usize)> = vec![];
    for e in events {
        let at = jiff::Timestamp::strptime("%Y-%m-%dT%H:%M:%S%.fZ", &e.at)
            .or_else(|_| e.at.parse::<jiff::Timestamp>())
            .ok()
            .map(|t| when(t.as_millisecond()))
            .unwrap_or_else(|| e.at.clone());
        let what = action_words(&e.action);
        let folds = matches!(e.action.as_str(), "referral.viewed" | "notes.viewed");
        if let Some((last, last_what, count)) = rows.last_mut() {
            if folds && *last_what == what {
                *count += 1;
                last.at = at;
                last.who = who(e);
                last.what = format!("{what} {count} times, last");
                continue;
            }
        }
        rows.push((
            TimelineRow {
                at,
                what: what.to_owned(),
                who: who(e),
            },
            what,
            1,
        ));
    }
    rows.into_iter().map(|(row, _, _)| row).collect()
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
        "referrer" | "practitioner" => "Referrer",
        "authority" => "Your council (API)",
        "officer" => "Your council (inbox)",
        "admin" => "Service administrator",
        _ => "The service",
    }
}

/// The document laid out for reading: one section per part of the referral, each a list of what
/// was given, in the order of the referral format.
pub(super) fn sections(document: &serde_json::Value, today: jiff::civil::Date) -> Vec<Section> {
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
    let serde_json::Value::Object(doc) = document else {
        return vec![];
    };
    let mut out = vec![];
    let mut seen = std::collections::HashSet::new();
    for (key, title) in ORDER {
        if let Some(v) = doc.get(key) {
            seen.insert(key);
            push_section(&mut out, title.to_owned(), v, today);
        }
    }
    // Single values (the case reference) are listed together, each under its own name.
    let mut single = vec![];
    for (key, v) in doc {
        if seen.contains(key.as_str()) {
            continue;
        }
        if v.is_object() || v.is_array() {
            push_section(&mut out, label(key), v, today);
        } else if let Some(text) = value_words(key, v, today) {
            single.push((label(key), text, None));
        }
    }
    if !single.is_empty() {
        out.push(Section {
            title: "Referrer's references".to_owned(),
            rows: single,
        });
    }
    out
}

pub(super) fn push_section(
    out: &mut Vec<Section>,
    title: String,
    value: &serde_json::Value,
    today: jiff::civil::Date,
) {
    let mut rows = vec![];
    flatten(&mut rows, "", "", value, today);
    if !rows.is_empty() {
        out.push(Section { title, rows });
    }
}

pub(super) fn flatten(
    rows: &mut Vec<(String, String, Option<String>)>,
    prefix: &str,
    key: &str,
    value: &serde_json::Value,
    today: jiff::civil::Date,
) {
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
                flatten(rows, &join(k), k, v, today);
            }
        }
        Value::Array(items) if items.iter().all(|i| !i.is_object()) => {
            let text: Vec<String> = items
                .iter()
                .filter_map(|i| value_words(key, i, today))
                .collect();
            if !text.is_empty() {
                rows.push((prefix_or(prefix), text.join(", "), None));
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten(
                    rows,
                    &format!("{} {}", prefix_or(prefix), i + 1),
                    key,
                    item,
                    today,
                );
            }
        }
        other => {
            if let Some(text) = value_words(key, other, today) {
                rows.push((prefix_or(prefix), text, contact_link(key, other)));
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

/// A value in people's words, by the member it is the value of: enumerations by their labels,
/// dates as "12 April 1988 (age 38)", instants in UK time, phone numbers in national form, an
/// authority by its name.
pub(super) fn value_words(
    key: &str,
    v: &serde_json::Value,
    today: jiff::civil::Date,
) -> Option<String> {
    use domain::{ConcernFor, HousingReason, NoticeKind, RoughSleeping};
    let text = v.as_str();
    let words = match (key, text) {
        ("reason", Some(t)) => HousingReason::from_term(t).map(|r| r.label().to_owned()),
        ("rough_sleeping", Some(t)) => RoughSleeping::from_term(t).map(|r| r.label().to_owned()),
        ("kind", Some(t)) => NoticeKind::from_term(t).map(|k| k.label().to_owned()),
        ("concern_for", Some(t)) => ConcernFor::from_term(t).map(|c| c.label().to_owned()),
        ("gss_code", Some(t)) => Some(authority_name(t)),
        ("date_of_birth", Some(t)) => t.parse::<jiff::civil::Date>().ok().map(|born| {
            format!(
                "{} (age {})",
                long_date(born),
                domain::calendar::age_on(born, today)
            )
        }),
        ("likely_homeless_on" | "expires_on", Some(t)) => {
            t.parse::<jiff::civil::Date>().ok().map(long_date)
        }
        ("recorded_at" | "authorised_at", Some(t)) => t
            .parse::<jiff::Timestamp>()
            .ok()
            .map(|at| when(at.as_millisecond())),
        ("phone", Some(t)) => Some(national_phone(t)),
        _ => None,
    };
    words.or_else(|| scalar(v))
}

/// A link that reaches the person or the referrer: `tel:` for a phone number (E.164, without
/// its extension), `mailto:` for an e-mail address.
pub(super) fn contact_link(key: &str, v: &serde_json::Value) -> Option<String> {
    let text = v.as_str()?;
    match key {
        "phone" => Some(format!(
            "tel:{}",
            text.split_once(";ext=").map_or(text, |(n, _)| n)
        )),
        "email" => Some(format!("mailto:{text}")),
        _ => None,
    }
}

/// "12 April 1988".
pub(super) fn long_date(d: jiff::civil::Date) -> String {
    d.strftime("%-d %B %Y").to_string()
}

/// A UK number in the form people dial it (`+441134960000` → `0113 496 0000`); others as stored.
pub(super) fn national_phone(e164: &str) -> String {
    let (number, ext) = e164
        .split_once(";ext=")
        .map_or((e164, None), |(n, e)| (n, Some(e)));
    let national = match number.strip_prefix("+44") {
        Some(rest) => {
            let digits = format!("0{rest}");
            // 02x: 3+4+4; 01xx1 and 011x: 4+3+4; 07 and 0800-style: 5+6; the rest 5+6.
            let cut = |a: usize, b: usize| -> String {
                if digits.len() > b {
                    format!("{} {} {}", &digits[..a], &digits[a..b], &digits[b..])
                } else {
                    digits.clone()
                }
            };
            if digits.starts_with("02") {
                cut(3, 7)
            } else if digits.starts_with("011")
                || digits.get(3..4) == Some("1") && digits.starts_with("01")
            {
                cut(4, 7)
            } else if digits.len() == 11 {
                format!("{} {}", &digits[..5], &digits[5..])
            } else {
                digits
            }
        }
        None => number.to_owned(),
    };
    match ext {
        Some(ext) => format!("{national} extension {ext}"),
        None => national,
    }
}

/// A member's name in words.
pub(super) fn label(key: &str) -> String {
    match key {
        "gss_code" => "Council".to_owned(),
        "given_name" => "Given name".to_owned(),
        "family_name" => "Family name".to_owned(),
        "concern_for" => "Concern for".to_owned(),
        "expires_on" => "Notice expires on".to_owned(),
        "rough_sleeping" => "Rough sleeping".to_owned(),
        "to_staff" => "Risk to staff".to_owned(),
        "key_information" => "Key information".to_owned(),
        "share_contact_details" => "Agreed to share contact details".to_owned(),
        "referral" => "Agreed to the referral".to_owned(),
        "chosen_by_person" => "Chosen by the person".to_owned(),
        "case_reference" => "Case reference".to_owned(),
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
