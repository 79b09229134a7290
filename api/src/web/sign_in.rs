//! Signing in and out: the sign-in page and its e-mailed single-use link, the page that uses the
//! link (a POST, so a mail scanner following it signs nobody in), and signing out.

use super::*;

#[derive(Deserialize)]
pub(super) struct SignInQuery {
    next: Option<String>,
    expired: Option<String>,
}

/// A page before sign-in with a double-submit token: the cookie and the form carry the same value.
pub(super) fn with_csrf_cookie(state: &AppState, req: &Request) -> (String, Option<String>) {
    with_csrf_cookie_in(state, req, Surface::Inbox)
}

/// [`with_csrf_cookie`] of a surface (its own cookie, scoped to its path).
pub(super) fn with_csrf_cookie_in(
    state: &AppState,
    req: &Request,
    surface: Surface,
) -> (String, Option<String>) {
    match cookie_value(req, surface.csrf_cookie()) {
        Some(existing) if existing.len() == 43 => (existing, None),
        _ => {
            let token = people::new_secret();
            let cookie = set_cookie_in(state, surface, surface.csrf_cookie(), &token, 3600);
            (token, Some(cookie))
        }
    }
}

pub(super) fn with_cookie(mut resp: Response, cookie: Option<String>) -> Response {
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

#[handler]
pub(super) async fn sign_in_page(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
    Query(q): Query<SignInQuery>,
) -> Response {
    if let Some(r) = anonymous_limit(req, &limits) {
        return r;
    }
    let (csrf, cookie) = with_csrf_cookie(&state, req);
    let notice = q
        .expired
        .is_some()
        .then(|| "Your session has ended. Sign in again to carry on.".to_owned());
    let page = SignInPage {
        nav: None,
        surface: Surface::Inbox,
        errors: vec![],
        notice,
        csrf,
        next: safe_next(q.next.as_deref()),
        email: String::new(),
    };
    with_cookie(html(StatusCode::OK, &page), cookie)
}

#[derive(Deserialize)]
pub(super) struct SignInForm {
    csrf: Option<String>,
    email: Option<String>,
    next: Option<String>,
}

#[handler]
pub(super) async fn sign_in_form(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
    Form(form): Form<SignInForm>,
) -> Response {
    if let Some(r) = anonymous_form(req, &limits, form.csrf.as_deref()) {
        return r;
    }
    let raw = form.email.unwrap_or_default();
    let next = safe_next(form.next.as_deref());
    let (email, send) = match sign_in_request(req, &limits, &raw, |error| {
        let page = SignInPage {
            nav: None,
            surface: Surface::Inbox,
            errors: vec![error],
            notice: None,
            // Passed the double-submit check: the form's token is the cookie's.
            csrf: form.csrf.clone().unwrap_or_default(),
            next: next.clone(),
            email: raw.clone(),
        };
        html(StatusCode::UNPROCESSABLE_ENTITY, &page)
    }) {
        Ok(ok) => ok,
        Err(r) => return r,
    };
    // The answer is the same, and as quick, whether or not the address is an officer's: the
    // link is made and sent after answering.
    let (db, clock, mailer, public_url) = (
        state.db.clone(),
        state.clock.clone(),
        state.mailer.clone(),
        state.config.public_url.clone(),
    );
    let address = email.clone();
    tokio::spawn(async move {
        if !send {
            tracing::warn!("sign-in links for one address asked for too often; none sent");
            return;
        }
        let now = clock.now_ms();
        let issued = people::request_link(&db, &address, now).await;
        match (issued, mailer) {
            (Ok(Some((officer, token))), Some(mailer)) => {
                let link = format!(
                    "{public_url}/inbox/sign-in/link?token={token}&next={}",
                    url_encode(&next)
                );
                let email = mail::sign_in(&link, &officer.gss_code);
                let id = format!("signin_{}", uuid::Uuid::new_v4().simple());
                let outcome = mailer.send(&officer.email, &email, &id).await;
                tracing::info!(officer_id = %officer.id, outcome = ?outcome, "sign-in link e-mailed");
            }
            (Ok(Some((officer, _))), None) => {
                tracing::warn!(officer_id = %officer.id, "a sign-in link was asked for, but e-mail is not configured (DTR_SMTP_URL)");
            }
            (Ok(None), _) => {
                tracing::info!("a sign-in link was asked for an address that is no officer's")
            }
            (Err(e), _) => tracing::error!(error = %e, "could not make a sign-in link"),
        }
    });
    html(
        StatusCode::OK,
        &CheckEmailPage {
            nav: None,
            surface: Surface::Inbox,
            email,
        },
    )
}

#[derive(Deserialize)]
pub(super) struct LinkQuery {
    token: Option<String>,
    next: Option<String>,
}

pub(super) fn link_refused() -> Response {
    message(
        StatusCode::GONE,
        None,
        "This sign-in link has expired",
        &["Sign-in links work once, for 15 minutes. Ask for a new one."],
        ("/inbox/sign-in", "Get a new sign-in link"),
    )
}

#[handler]
pub(super) async fn link_page(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
    Query(q): Query<LinkQuery>,
) -> Response {
    if let Some(r) = anonymous_limit(req, &limits) {
        return r;
    }
    let token = q.token.unwrap_or_default();
    match people::link_is_valid(&state.db, &token, state.clock.now_ms()).await {
        Ok(true) => {}
        Ok(false) => return link_refused(),
        Err(e) => return internal_error(&e),
    }
    let (csrf, cookie) = with_csrf_cookie(&state, req);
    let page = LinkPage {
        nav: None,
        surface: Surface::Inbox,
        csrf,
        token,
        next: safe_next(q.next.as_deref()),
    };
    with_cookie(html(StatusCode::OK, &page), cookie)
}

#[derive(Deserialize)]
pub(super) struct LinkForm {
    csrf: Option<String>,
    token: Option<String>,
    next: Option<String>,
}

#[handler]
pub(super) async fn use_link(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
    Form(form): Form<LinkForm>,
) -> Response {
    if let Some(r) = anonymous_form(req, &limits, form.csrf.as_deref()) {
        return r;
    }
    let token = form.token.unwrap_or_default();
    let redeemed = people::sign_in(&state.db, &token, state.clock.now_ms()).await;
    let session = match redeemed {
        Ok(Some(s)) => s,
        Ok(None) => return link_refused(),
        Err(e) => return internal_error(&e),
    };
    tracing::info!(officer_id = %session.officer.id, "officer signed in");
    signed_in_answer(
        &state,
        Surface::Inbox,
        &session.cookie,
        &safe_next(form.next.as_deref()),
    )
}

#[handler]
pub(super) async fn sign_out_page(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
) -> Response {
    let session = match signed_in(req, &state, &limits).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    html(
        StatusCode::OK,
        &SignOutPage {
            nav: nav_of(&session),
            surface: Surface::Inbox,
            csrf: session.csrf,
        },
    )
}

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    csrf: Option<String>,
}

#[handler]
pub(super) async fn sign_out_form(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(r) = signed_in_form(req, &state, &limits, form.csrf.as_deref()).await {
        return r;
    }
    signed_out(&state, req, Surface::Inbox).await
}

// ----- the list ---------------------------------------------------------------------------

/// A form sent before sign-in: the per-address limit, then its double-submit token (the cookie
/// and the field must match); the answer to give when either fails.
fn anonymous_form(req: &Request, limits: &InboxLimits, csrf: Option<&str>) -> Option<Response> {
    anonymous_form_in(req, limits, Surface::Inbox, csrf)
}

/// [`anonymous_form`] of a surface.
pub(super) fn anonymous_form_in(
    req: &Request,
    limits: &InboxLimits,
    surface: Surface,
    csrf: Option<&str>,
) -> Option<Response> {
    if let Some(r) = anonymous_limit(req, limits) {
        return Some(r);
    }
    let cookie = cookie_value(req, surface.csrf_cookie()).unwrap_or_default();
    if cookie.is_empty() || !same(&cookie, csrf.unwrap_or_default()) {
        return Some(csrf_refused_in(surface));
    }
    None
}

/// The sign-in page's address check and limits, shared by both surfaces: the normalised address,
/// whether a link may be e-mailed to it (at most 10 an hour), or the answer to give instead (the
/// page again with the error, or "too many requests").
// The error is the page to answer with, built at most once per request.
#[allow(clippy::result_large_err)]
pub(super) fn sign_in_request(
    req: &Request,
    limits: &InboxLimits,
    raw: &str,
    invalid: impl FnOnce(FieldError) -> Response,
) -> Result<(String, bool), Response> {
    let email = match domain::EmailAddress::parse(raw) {
        Ok(e) => people::normalise_email(e.as_str()),
        Err(_) => {
            return Err(invalid(FieldError {
                field: "email",
                message: "Enter an e-mail address in the correct format, like name@example.gov.uk"
                    .to_owned(),
            }))
        }
    };
    let from = client(req, limits);
    if from.is_some_and(|ip| limits.per_client.check_key(&ip).is_err())
        || limits.per_email.check_key(&(email.clone(), from)).is_err()
    {
        return Err(too_many());
    }
    let send = limits.per_email_sent.check_key(&email).is_ok();
    Ok((email, send))
}

/// The answer to a used link: to `next`, with the new session's cookie and the pre-sign-in token's
/// cookie cleared.
pub(super) fn signed_in_answer(
    state: &AppState,
    surface: Surface,
    cookie: &str,
    next: &str,
) -> Response {
    let mut resp = see_other(next);
    let max_age = people::SESSION_MAX.as_secs();
    for c in [
        set_cookie_in(state, surface, surface.session_cookie(), cookie, max_age),
        set_cookie_in(state, surface, surface.csrf_cookie(), "", 0),
    ] {
        if let Ok(v) = HeaderValue::from_str(&c) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

/// Signing out of a surface: the session ends and its cookie is cleared.
pub(super) async fn signed_out(state: &AppState, req: &Request, surface: Surface) -> Response {
    if let Some(cookie) = cookie_value(req, surface.session_cookie()) {
        if let Err(e) = people::end_session(&state.db, &cookie).await {
            return internal_error_in(surface, &e);
        }
    }
    let mut resp = message_in(
        surface,
        StatusCode::OK,
        "You have signed out",
        &["Close the browser window if you are on a shared computer."],
        (&format!("{}/sign-in", surface.root()), "Sign in again"),
    );
    let clear = set_cookie_in(state, surface, surface.session_cookie(), "", 0);
    if let Ok(v) = HeaderValue::from_str(&clear) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}
