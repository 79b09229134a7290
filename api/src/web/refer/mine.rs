//! After submitting: the practitioner's referrals with status and outcome, one referral's page
//! with the authority's answers and notes both ways, adding a note and withdrawing — each through
//! the same `referrals` use cases as the API, seen as a referrer and named as the practitioner.

use super::*;

/// A row of "your referrals".
pub(super) struct MineRow {
    pub id: String,
    pub reference: String,
    pub name: String,
    pub authority: String,
    pub sent: String,
    pub status: &'static str,
    pub status_class: &'static str,
    pub outcome: Option<String>,
}

#[derive(Template)]
#[template(path = "refer/list.html")]
pub(super) struct MinePage {
    pub nav: Option<ReferNav>,
    pub rows: Vec<MineRow>,
    pub total: u64,
    pub draft: bool,
    pub next_page: Option<String>,
    pub previous_page: Option<String>,
}

/// Referrals per page of the list.
const PER_PAGE: u64 = 25;

/// The person's name as the list shows it (from the stored document; gone once erased).
fn person_name(row: &referral::Model) -> String {
    if row.erased_at_ms.is_some() {
        return "Personal details erased".to_owned();
    }
    let doc: serde_json::Value = serde_json::from_str(&row.document).unwrap_or_default();
    let part = |k: &str| doc["person"][k].as_str().unwrap_or_default().to_owned();
    format!("{} {}", part("given_name"), part("family_name"))
        .trim()
        .to_owned()
}

#[handler]
pub(super) async fn referrals_page(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let s = match signed(req, &state, &limits).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let page: u64 = q
        .get("page")
        .and_then(|p| p.parse().ok())
        .filter(|p| *p >= 1 && *p <= 10_000)
        .unwrap_or(1);
    let (rows, total) = match practitioners::referrals(
        &state.db,
        &s.practitioner.id,
        (page - 1) * PER_PAGE,
        PER_PAGE,
    )
    .await
    {
        Ok(r) => r,
        Err(e) => return internal_error_in(Surface::Refer, &e),
    };
    let draft = match practitioners::draft(&state.db, &s.practitioner.id).await {
        Ok(d) => d.is_some(),
        Err(e) => return internal_error_in(Surface::Refer, &e),
    };
    let rows = rows
        .iter()
        .map(|row| {
            let (status, status_class) = status_words(row.status);
            MineRow {
                id: row.id.clone(),
                reference: reference(&row.id),
                name: person_name(row),
                authority: authority_name(&row.gss_code),
                sent: when(row.submitted_at_ms),
                status,
                status_class,
                outcome: outcome_words(row),
            }
        })
        .collect();
    html(
        StatusCode::OK,
        &MinePage {
            nav: s.nav(),
            rows,
            total,
            draft,
            next_page: (page * PER_PAGE < total)
                .then(|| format!("/refer/referrals?page={}", page + 1)),
            previous_page: (page > 1).then(|| format!("/refer/referrals?page={}", page - 1)),
        },
    )
}

pub(super) struct ReasonChoice {
    pub id: String,
    pub value: &'static str,
    pub label: &'static str,
}

#[derive(Template)]
#[template(path = "refer/referral.html")]
pub(super) struct ReferReferralPage {
    pub nav: Option<ReferNav>,
    pub csrf: String,
    pub id: String,
    pub reference: String,
    pub sent: bool,
    pub done: Option<&'static str>,
    pub errors: Vec<FieldError>,
    pub authority: String,
    pub submitted: String,
    pub status: &'static str,
    pub status_class: &'static str,
    pub acknowledged: Option<String>,
    pub outcome: Option<String>,
    pub outcome_warnings: Vec<String>,
    pub withdrawal: Option<String>,
    pub erased: bool,
    pub sections: Vec<Section>,
    pub notes: Vec<NoteRow>,
    pub can_add_note: bool,
    pub note_text: String,
    pub can_withdraw: bool,
    pub reasons: Vec<ReasonChoice>,
}

impl ReferReferralPage {
    fn field_error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }
}

/// The referral `id` if the practitioner made it, with how they act on it; otherwise the "not
/// found" page (another practitioner's referral, or another organisation's, is not disclosed).
async fn mine(
    state: &AppState,
    s: &Signed,
    id: &str,
) -> Result<(ReferralId, crate::keys::Caller), Response> {
    let id = ReferralId::parse(id).ok_or_else(|| not_found_in(Surface::Refer))?;
    practitioners::acting_on(&state.db, &s.practitioner, &id)
        .await
        .map_err(|e| internal_error_in(Surface::Refer, &e))?
        .map(|who| (id, who))
        .ok_or_else(|| not_found_in(Surface::Refer))
}

/// A form on a referral's page: the practitioner (with the form's token checked) and the
/// referral, which must be theirs; the answer to give otherwise.
async fn mine_form(
    req: &Request,
    state: &AppState,
    limits: &InboxLimits,
    csrf: Option<&str>,
    id: &str,
) -> Result<(Signed, ReferralId, crate::keys::Caller), Response> {
    let s = signed_form(req, state, limits, csrf).await?;
    let (id, who) = mine(state, &s, id).await?;
    Ok((s, id, who))
}

#[allow(clippy::too_many_arguments)]
async fn render(
    state: &AppState,
    s: &Signed,
    id: &ReferralId,
    who: &crate::keys::Caller,
    sent: bool,
    done: Option<&'static str>,
    errors: Vec<FieldError>,
    note_text: String,
    status: StatusCode,
) -> Response {
    let now = state.clock.now_ms();
    let (read, notes) =
        match referrals::read_with_notes(&state.db, who, id, Some(PAGE_ITEMS), now).await {
            Ok(r) => r,
            Err(ActionError::NotFound) => return not_found_in(Surface::Refer),
            Err(e) => return internal_error_in(Surface::Refer, &e),
        };
    let row = &read.row;
    let erased = row.erased_at_ms.is_some();
    let today = state.today();
    let document: Option<serde_json::Value> = (read.disclosed && !erased)
        .then(|| serde_json::from_str(&row.document).ok())
        .flatten();
    let (status_text, status_class) = status_words(row.status);
    let authority = authority_name(&row.gss_code);
    let notes = notes
        .into_iter()
        .map(|n| NoteRow {
            author: if n.author_role == "authority" {
                authority.clone()
            } else {
                "Your organisation".to_owned()
            },
            at: when(n.created_at_ms),
            text: n.text.unwrap_or_default(),
        })
        .collect();
    let open = !erased && row.status != Status::Withdrawn;
    html(
        status,
        &ReferReferralPage {
            nav: s.nav(),
            csrf: s.csrf.clone(),
            id: row.id.clone(),
            reference: reference(&row.id),
            sent,
            done,
            errors,
            submitted: when(row.submitted_at_ms),
            status: status_text,
            status_class,
            acknowledged: row.acknowledged_at_ms.map(when),
            outcome: outcome_words(row),
            outcome_warnings: referrals::outcome_warnings(row)
                .into_iter()
                .map(|w| w.message)
                .collect(),
            withdrawal: row.withdrawal_reason.as_deref().map(|r| {
                domain::WithdrawalReason::from_term(r)
                    .map_or_else(|| r.to_owned(), |w| w.label().to_owned())
            }),
            erased,
            sections: document
                .as_ref()
                .map(|d| sections(d, today))
                .unwrap_or_default(),
            notes,
            can_add_note: open,
            note_text,
            can_withdraw: open,
            reasons: domain::WithdrawalReason::TERMS
                .iter()
                .enumerate()
                .map(|(i, (term, r))| ReasonChoice {
                    id: if i == 0 {
                        "reason".to_owned()
                    } else {
                        format!("reason-{term}")
                    },
                    value: term,
                    label: r.label(),
                })
                .collect(),
            authority,
        },
    )
}

#[handler]
pub(super) async fn referral_page(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let s = match signed(req, &state, &limits).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (id, who) = match mine(&state, &s, &id).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let done = match q.get("done").map(String::as_str) {
        Some("note") => Some("Your note was added"),
        Some("withdrawn") => Some("You withdrew this referral"),
        _ => None,
    };
    render(
        &state,
        &s,
        &id,
        &who,
        q.contains_key("sent"),
        done,
        vec![],
        String::new(),
        StatusCode::OK,
    )
    .await
}

#[handler]
pub(super) fn to_referral(req: &Request) -> Response {
    see_other(&page_of_form(req.uri().path()))
}

#[handler]
pub(super) async fn note_form(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let (s, id, who) = match mine_form(
        req,
        &state,
        &limits,
        form.get("csrf").map(String::as_str),
        &id,
    )
    .await
    {
        Ok(m) => m,
        Err(r) => return r,
    };
    let text = form.get("text").cloned().unwrap_or_default();
    let error = |message: &str| FieldError {
        field: "text",
        message: message.to_owned(),
    };
    let checked = match domain::FreeText::parse(&text) {
        Ok(t) => t,
        Err(e) => {
            let message = match e.code {
                domain::Code::FieldTooLong => "A note must be 4,000 characters or fewer",
                domain::Code::FieldControlChars => "Remove the special characters from the note",
                _ => "Enter a note",
            };
            return render(
                &state,
                &s,
                &id,
                &who,
                false,
                None,
                vec![error(message)],
                text,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let added =
        referrals::add_note(&state.db, &who, &id, checked.as_str(), state.clock.now_ms()).await;
    match added {
        Ok(_) => {
            state.wake_worker();
            see_other(&format!("/refer/referrals/{}?done=note", id.as_str()))
        }
        Err(ActionError::NotFound) => not_found_in(Surface::Refer),
        Err(ActionError::Refused(_)) => {
            let e = error("A note cannot be added to this referral any more");
            render(
                &state,
                &s,
                &id,
                &who,
                false,
                None,
                vec![e],
                text,
                StatusCode::CONFLICT,
            )
            .await
        }
        Err(e) => internal_error_in(Surface::Refer, &e),
    }
}

#[handler]
pub(super) async fn withdraw_form(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let (s, id, who) = match mine_form(
        req,
        &state,
        &limits,
        form.get("csrf").map(String::as_str),
        &id,
    )
    .await
    {
        Ok(m) => m,
        Err(r) => return r,
    };
    let Some(reason) = form
        .get("reason")
        .and_then(|r| domain::WithdrawalReason::from_term(r))
    else {
        let e = FieldError {
            field: "reason",
            message: "Select why you are withdrawing the referral".to_owned(),
        };
        return render(
            &state,
            &s,
            &id,
            &who,
            false,
            None,
            vec![e],
            String::new(),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    match referrals::withdraw(&state.db, &who, &id, reason, state.clock.now_ms()).await {
        Ok(_) => {
            state.wake_worker();
            see_other(&format!("/refer/referrals/{}?done=withdrawn", id.as_str()))
        }
        Err(ActionError::NotFound) => not_found_in(Surface::Refer),
        Err(ActionError::Refused(why)) => {
            let message = match why {
                crate::referrals::lifecycle::Refusal::DutyAccepted => "The council has accepted a duty to this person: the referral can now only be withdrawn if the person withdrew their consent",
                _ => "This referral cannot be withdrawn any more",
            };
            let e = FieldError {
                field: "reason",
                message: message.to_owned(),
            };
            render(
                &state,
                &s,
                &id,
                &who,
                false,
                None,
                vec![e],
                String::new(),
                StatusCode::CONFLICT,
            )
            .await
        }
        Err(e) => internal_error_in(Surface::Refer, &e),
    }
}
