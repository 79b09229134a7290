//! An officer's own settings: whether to be e-mailed when a referrer adds a note.

use super::*;

#[derive(Template)]
#[template(path = "inbox/settings.html")]
pub(super) struct SettingsPage {
    nav: Option<Nav>,
    csrf: String,
    email: String,
    note_emails: bool,
    saved: bool,
}

#[derive(Deserialize)]
pub(super) struct SettingsQuery {
    saved: Option<String>,
}

#[handler]
pub(super) async fn settings_page(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
    Query(q): Query<SettingsQuery>,
) -> Response {
    let session = match signed_in(req, &state, &limits).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let note_emails = match people::note_emails_on(&state.db, &session.officer.id).await {
        Ok(on) => on,
        Err(e) => return internal_error(&e),
    };
    let page = SettingsPage {
        nav: nav_of(&session),
        csrf: session.csrf.clone(),
        email: session.officer.email.clone(),
        note_emails,
        saved: q.saved.is_some(),
    };
    html(StatusCode::OK, &page)
}

#[derive(Deserialize)]
pub(super) struct SettingsForm {
    csrf: Option<String>,
    note_emails: Option<String>,
}

#[handler]
pub(super) async fn settings_form(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
    Form(form): Form<SettingsForm>,
) -> Response {
    let session = match signed_in_form(req, &state, &limits, form.csrf.as_deref()).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let on = form.note_emails.as_deref() == Some("yes");
    match people::set_note_emails(&state.db, &session.officer, on, state.clock.now_ms()).await {
        Ok(()) => see_other("/inbox/settings?saved=1"),
        Err(e) => internal_error(&e),
    }
}
