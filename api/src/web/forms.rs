//! The referral page's forms — acknowledge, record the outcome, add a note — each calling the same
//! use case as the API, and answering a refusal or an invalid form on the referral's page.

use super::*;

/// Checks the session and its form token, and reads the referral id of the form's path; the
/// answer to give otherwise.
pub(super) async fn form_session(
    req: &Request,
    state: &AppState,
    limits: &InboxLimits,
    csrf: Option<&str>,
    id: &str,
) -> Result<(Session, ReferralId), Response> {
    let session = signed_in_form(req, state, limits, csrf).await?;
    let id = ReferralId::parse(id).ok_or_else(not_found)?;
    Ok((session, id))
}

/// The referral page again, with one form error beside the field and what the officer typed.
pub(super) async fn form_error(
    state: &AppState,
    session: &Session,
    id: &ReferralId,
    field: &'static str,
    message: String,
    typed: FormValues,
) -> Response {
    render_referral(
        state,
        session,
        id,
        None,
        vec![FieldError { field, message }],
        typed,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

/// A rule's finding in words for the field it belongs to (the GOV.UK error message patterns),
/// instead of the API's message written for developers.
pub(super) fn plain_message(field: &str, issue: &domain::Issue) -> String {
    use domain::Code;
    let what = match field {
        "received_by" => "your name or team",
        "local_reference" => "your reference",
        "text" => "a note",
        "other_authority" => "the council you referred the person to",
        _ => "an answer",
    };
    match (field, issue.code) {
        ("other_authority", _) => {
            "Select the council you referred the person to, from the list".to_owned()
        }
        ("reason", _) => "Select your decision".to_owned(),
        (_, Code::FieldRequired | Code::FieldTooShort) => format!("Enter {what}"),
        ("text", Code::FieldTooLong) => "A note must be 4,000 characters or fewer".to_owned(),
        (_, Code::FieldTooLong) => {
            let mut chars = what.chars();
            let capital: String = chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect())
                .unwrap_or_default();
            format!("{capital} must be 200 characters or fewer")
        }
        (_, Code::FieldControlChars) => {
            format!("Remove the special characters from {what}")
        }
        _ => format!("Check {what}"),
    }
}

/// A refused action as the officer sees it: a form error, or a page.
pub(super) async fn refused(
    state: &AppState,
    session: &Session,
    id: &ReferralId,
    e: ActionError,
    field: &'static str,
    typed: FormValues,
) -> Response {
    let message = match e {
        ActionError::NotFound => return not_found(),
        ActionError::Db(e) => return internal_error(&e),
        ActionError::Refused(lifecycle::Refusal::Erased) => {
            "The personal details of this referral were erased, so this cannot be done.".to_owned()
        }
        ActionError::Refused(lifecycle::Refusal::WrongState(s)) => format!(
            "This cannot be done to a referral that is {}.",
            status_words(s).0.to_lowercase()
        ),
        ActionError::Refused(other) => other.to_string(),
        ActionError::Invalid(issues) => issues.first().map_or_else(
            || "Check what you entered".to_owned(),
            |i| plain_message(field, i),
        ),
    };
    form_error(state, session, id, field, message, typed).await
}

#[derive(Deserialize)]
pub(super) struct AcknowledgeForm {
    csrf: Option<String>,
    received_by: Option<String>,
    local_reference: Option<String>,
}

#[handler]
pub(super) async fn acknowledge_form(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
    Path(id): Path<String>,
    Form(form): Form<AcknowledgeForm>,
) -> Response {
    let (session, id) = match form_session(req, &state, &limits, form.csrf.as_deref(), &id).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let typed = FormValues {
        received_by: form.received_by.clone().unwrap_or_default(),
        local_reference: form.local_reference.clone().unwrap_or_default(),
        ..FormValues::default()
    };
    // The same reader as the API's acknowledgement body: the same limits and messages.
    let body = serde_json::json!({
        "received_by": typed.received_by,
        "local_reference": (!typed.local_reference.trim().is_empty()).then_some(&typed.local_reference),
    });
    let parsed = openapi::read_body::<openapi::AcknowledgeRequest>(&body);
    let request = match parsed {
        Ok(r) => r,
        Err(issues) => {
            let field = if issues
                .iter()
                .any(|i| i.pointer.starts_with("/local_reference"))
            {
                "local_reference"
            } else {
                "received_by"
            };
            let message = issues
                .iter()
                .find(|i| i.pointer.starts_with(&format!("/{field}")))
                .or(issues.first())
                .map_or_else(|| format!("Check {field}"), |i| plain_message(field, i));
            return form_error(&state, &session, &id, field, message, typed).await;
        }
    };
    let who = session_caller(&session);
    match referrals::acknowledge(
        &state.db,
        &who,
        &id,
        request.received_by,
        request.local_reference,
        state.clock.now_ms(),
    )
    .await
    {
        Ok(_) => see_other(&format!("/inbox/referrals/{id}?done=acknowledged")),
        Err(e) => refused(&state, &session, &id, e, "received_by", typed).await,
    }
}

#[derive(Deserialize)]
pub(super) struct OutcomeForm {
    csrf: Option<String>,
    reason: Option<String>,
    other_authority: Option<String>,
}

#[handler]
pub(super) async fn outcome_form(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
    Path(id): Path<String>,
    Form(form): Form<OutcomeForm>,
) -> Response {
    let (session, id) = match form_session(req, &state, &limits, form.csrf.as_deref(), &id).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let reason = form.reason.clone().unwrap_or_default();
    let other = form.other_authority.clone().unwrap_or_default();
    let typed = FormValues {
        reason: reason.clone(),
        other_authority: other.clone(),
        ..FormValues::default()
    };
    let Some(chosen) = domain::OutcomeReason::from_term(&reason) else {
        return form_error(
            &state,
            &session,
            &id,
            "reason",
            "Select your decision".to_owned(),
            typed,
        )
        .await;
    };
    // The form's fields as the API's outcome body, judged by the same rules.
    let mut body = serde_json::json!({ "decision": chosen.decision().term(), "reason": reason });
    if chosen == domain::OutcomeReason::ReferredToAnotherAuthority || !other.trim().is_empty() {
        body["other_authority"] = serde_json::json!({ "gss_code": other.trim() });
    }
    let who = session_caller(&session);
    match referrals::record_outcome(&state.db, &who, &id, &body, vec![], state.clock.now_ms()).await
    {
        Ok(_) => see_other(&format!("/inbox/referrals/{id}?done=outcome")),
        Err(ActionError::Invalid(issues)) => {
            let field = if issues
                .iter()
                .any(|i| i.pointer.starts_with("/other_authority"))
            {
                "other_authority"
            } else {
                "reason"
            };
            refused(
                &state,
                &session,
                &id,
                ActionError::Invalid(issues),
                field,
                typed,
            )
            .await
        }
        Err(e) => refused(&state, &session, &id, e, "reason", typed).await,
    }
}

#[derive(Deserialize)]
pub(super) struct NoteForm {
    csrf: Option<String>,
    text: Option<String>,
}

#[handler]
pub(super) async fn note_form(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
    Path(id): Path<String>,
    Form(form): Form<NoteForm>,
) -> Response {
    let (session, id) = match form_session(req, &state, &limits, form.csrf.as_deref(), &id).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let text = form.text.clone().unwrap_or_default();
    let typed = FormValues {
        note: text.clone(),
        ..FormValues::default()
    };
    let body = serde_json::json!({ "text": text });
    let request = match openapi::read_body::<openapi::NoteRequest>(&body) {
        Ok(r) => r,
        Err(issues) => {
            let message = issues
                .first()
                .map_or_else(|| "Enter a note".to_owned(), |i| plain_message("text", i));
            return form_error(&state, &session, &id, "text", message, typed).await;
        }
    };
    let who = session_caller(&session);
    match referrals::add_note(&state.db, &who, &id, &request.text, state.clock.now_ms()).await {
        Ok(_) => {
            state.wake_worker();
            see_other(&format!("/inbox/referrals/{id}?done=note"))
        }
        Err(e) => refused(&state, &session, &id, e, "text", typed).await,
    }
}

#[derive(Deserialize)]
pub(super) struct AssignForm {
    csrf: Option<String>,
    officer: Option<String>,
}

/// Assigns the referral to the chosen officer of the authority; a colleague chosen is e-mailed
/// (reference and link only).
#[handler]
pub(super) async fn assign_form(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
    Path(id): Path<String>,
    Form(form): Form<AssignForm>,
) -> Response {
    let (session, id) = match form_session(req, &state, &limits, form.csrf.as_deref(), &id).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    // Parsed at the edge: what is not an officer's id is no officer of this authority.
    let Some(officer) = OfficerId::parse(&form.officer.unwrap_or_default()) else {
        let message = "Select who to assign this referral to".to_owned();
        return form_error(
            &state,
            &session,
            &id,
            "officer",
            message,
            FormValues::default(),
        )
        .await;
    };
    let who = session_caller(&session);
    match referrals::assignment::assign(&state.db, &who, &id, &officer, state.clock.now_ms()).await
    {
        Ok((row, assignee)) => {
            if assignee.id != session.officer.id {
                if let Some(mailer) = state.mailer.clone() {
                    let email = mail::assigned(&row, &state.config.public_url);
                    let message_id = format!("assigned_{}", uuid::Uuid::new_v4().simple());
                    tokio::spawn(async move {
                        let outcome = mailer.send(&assignee.email, &email, &message_id).await;
                        tracing::info!(officer_id = %assignee.id, outcome = ?outcome, "assignment e-mailed");
                    });
                }
            }
            see_other(&format!("/inbox/referrals/{id}?done=assigned"))
        }
        Err(e) => refused(&state, &session, &id, e, "officer", FormValues::default()).await,
    }
}
