//! The practitioner's referral journey (docs/contract.md §14): `/refer`. A practitioner of an
//! organisation without a case system signs in by e-mailed link — the inbox's machinery, with its
//! own cookies — answers question pages judged by the same `domain` rules as the API, checks their
//! answers and sends the referral through the very submission the API uses. Afterwards they see
//! their referrals, the authority's answers and notes, and may add a note or withdraw.
//!
//! Same rules as the inbox: no script, `no-store`, a synchronizer token on every form (a
//! double-submit token before sign-in), SameSite=Strict HttpOnly cookies scoped to `/refer`.

use super::*;
use crate::practitioners::{self, Organisation, SignedIn};
use std::collections::HashMap;

mod journey;
mod mine;

use journey::{
    check_page, discard_form, new_referral, question_form, question_page, submit_form, you_form,
    you_page,
};
use mine::{note_form, referral_page, referrals_page, to_referral, withdraw_form};

const SIGNED_IN_KEY: &str = "practitioner";

/// The signed-in practitioner's organisation, for the header.
pub(super) struct ReferNav {
    organisation: String,
}

#[derive(Template)]
#[template(path = "refer/message.html")]
struct ReferMessagePage {
    nav: Option<ReferNav>,
    heading: String,
    paragraphs: Vec<String>,
    link_href: String,
    link_text: String,
}

#[derive(Template)]
#[template(path = "refer/sign_in.html")]
struct ReferSignInPage {
    nav: Option<ReferNav>,
    surface: Surface,
    errors: Vec<FieldError>,
    notice: Option<String>,
    csrf: String,
    next: String,
    email: String,
}

#[derive(Template)]
#[template(path = "refer/check_email.html")]
struct ReferCheckEmailPage {
    nav: Option<ReferNav>,
    surface: Surface,
    email: String,
}

#[derive(Template)]
#[template(path = "refer/link.html")]
struct ReferLinkPage {
    nav: Option<ReferNav>,
    surface: Surface,
    csrf: String,
    token: String,
    next: String,
}

#[derive(Template)]
#[template(path = "refer/sign_out.html")]
struct ReferSignOutPage {
    nav: Option<ReferNav>,
    surface: Surface,
    csrf: String,
}

#[derive(Template)]
#[template(path = "refer/start.html")]
struct StartPage {
    nav: Option<ReferNav>,
    signed_in: bool,
}

struct OrganisationChoice {
    id: String,
    name: String,
}

#[derive(Template)]
#[template(path = "refer/choose.html")]
struct ChoosePage {
    nav: Option<ReferNav>,
    errors: Vec<FieldError>,
    csrf: String,
    email: String,
    organisations: Vec<OrganisationChoice>,
}

#[derive(Template)]
#[template(path = "refer/info.html")]
struct ReferInfoPage {
    nav: Option<ReferNav>,
    heading: &'static str,
    sections: Vec<(&'static str, Vec<String>)>,
}

#[derive(Template)]
#[template(path = "refer/settings.html")]
struct ReferSettingsPage {
    nav: Option<ReferNav>,
    csrf: String,
    emails_on: bool,
    saved: bool,
    email: String,
}

/// A page with a heading, a few sentences and one way on, in the journey's layout.
pub(super) fn message(
    status: StatusCode,
    nav: Option<ReferNav>,
    heading: &str,
    paragraphs: &[&str],
    link: (&str, &str),
) -> Response {
    html(
        status,
        &ReferMessagePage {
            nav,
            heading: heading.to_owned(),
            paragraphs: paragraphs.iter().map(|p| (*p).to_owned()).collect(),
            link_href: link.0.to_owned(),
            link_text: link.1.to_owned(),
        },
    )
}

/// The page a form of the journey belongs to: a question page is its own; a referral's form
/// (`…/notes`, `…/withdraw`) belongs to the referral's page.
pub(super) fn page_of_form(action: &str) -> String {
    for suffix in ["/notes", "/withdraw"] {
        if let Some(page) = action.strip_suffix(suffix) {
            return page.to_owned();
        }
    }
    if action.starts_with("/refer/new/") || action == "/refer/you" || action == "/refer/settings" {
        return action.to_owned();
    }
    "/refer/referrals".to_owned()
}

/// The journey's routes (full paths: nested at `/refer` without stripping it).
pub(crate) fn routes(limits: Arc<InboxLimits>) -> impl poem::Endpoint {
    Route::new()
        .at("/refer", get(start_page))
        .at("/refer/", get(start_page))
        .at("/refer/sign-in", get(sign_in_page).post(sign_in_form))
        .at("/refer/sign-in/link", get(link_page).post(use_link))
        .at("/refer/sign-out", get(sign_out_page).post(sign_out_form))
        .at("/refer/organisation", get(choose_page).post(choose_form))
        .at("/refer/you", get(you_page).post(you_form))
        .at("/refer/new", get(new_referral))
        .at("/refer/new/check", get(check_page).post(submit_form))
        .at("/refer/new/discard", get(to_referrals).post(discard_form))
        .at("/refer/new/:page", get(question_page).post(question_form))
        .at("/refer/referrals", get(referrals_page))
        .at("/refer/referrals/:id", get(referral_page))
        .at(
            "/refer/referrals/:id/notes",
            get(to_referral).post(note_form),
        )
        .at(
            "/refer/referrals/:id/withdraw",
            get(to_referral).post(withdraw_form),
        )
        .at("/refer/settings", get(settings_page).post(settings_form))
        .at("/refer/privacy", get(privacy_page))
        .at("/refer/accessibility", get(accessibility_page))
        .at(
            "/refer/*rest",
            poem::endpoint::make_sync(|_| not_found_in(Surface::Refer)),
        )
        .data(limits)
        .into_endpoint()
        .around(page_headers)
}

// ----- sessions -----------------------------------------------------------------------------

/// A signed-in practitioner who has chosen their organisation.
pub(super) struct Signed {
    practitioner: crate::entities::practitioner::Model,
    organisation: Organisation,
    csrf: String,
}

impl Signed {
    fn nav(&self) -> Option<ReferNav> {
        Some(ReferNav {
            organisation: self.organisation.name.clone(),
        })
    }
}

/// The practitioner's session of this request, or the answer to give instead (the sign-in page,
/// or the page to choose an organisation while they have not).
async fn session(
    req: &Request,
    state: &AppState,
    limits: &InboxLimits,
) -> Result<practitioners::Session, Response> {
    let cookie = session_cookie(req, limits, Surface::Refer)?;
    match practitioners::session(&state.db, &cookie, state.clock.now_ms()).await {
        Ok(Ok(session)) => {
            session_limit(limits, &format!("{SIGNED_IN_KEY}:{}", session.email))?;
            Ok(session)
        }
        Ok(Err(why)) => Err(no_session(req, limits, Surface::Refer, why)),
        Err(e) => Err(internal_error_in(Surface::Refer, &e)),
    }
}

/// [`session`], for a form: its token must be the session's.
async fn session_form(
    req: &Request,
    state: &AppState,
    limits: &InboxLimits,
    csrf: Option<&str>,
) -> Result<practitioners::Session, Response> {
    let s = session(req, state, limits).await?;
    if !same(&s.csrf, csrf.unwrap_or_default()) {
        return Err(csrf_refused_in(Surface::Refer));
    }
    Ok(s)
}

/// A practitioner who has chosen their organisation, or the answer to give instead.
async fn signed(req: &Request, state: &AppState, limits: &InboxLimits) -> Result<Signed, Response> {
    let s = session(req, state, limits).await?;
    match s.practitioner {
        Some((practitioner, organisation)) => Ok(Signed {
            practitioner,
            organisation,
            csrf: s.csrf,
        }),
        None => Err(see_other("/refer/organisation")),
    }
}

/// [`signed`], for a form: its token must be the session's.
async fn signed_form(
    req: &Request,
    state: &AppState,
    limits: &InboxLimits,
    csrf: Option<&str>,
) -> Result<Signed, Response> {
    let s = signed(req, state, limits).await?;
    if !same(&s.csrf, csrf.unwrap_or_default()) {
        return Err(csrf_refused_in(Surface::Refer));
    }
    Ok(s)
}

// ----- start, sign-in, sign-out -------------------------------------------------------------

#[handler]
async fn start_page(req: &Request) -> Response {
    let signed_in = cookie_value(req, Surface::Refer.session_cookie()).is_some();
    html(
        StatusCode::OK,
        &StartPage {
            nav: None,
            signed_in,
        },
    )
}

#[handler]
async fn sign_in_page(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = anonymous_limit(req, &limits) {
        return r;
    }
    let (csrf, cookie) = with_csrf_cookie_in(&state, req, Surface::Refer);
    let notice = q
        .contains_key("expired")
        .then(|| "Your session has ended. Sign in again to carry on.".to_owned());
    let page = ReferSignInPage {
        nav: None,
        surface: Surface::Refer,
        errors: vec![],
        notice,
        csrf,
        next: safe_next_in(Surface::Refer, q.get("next").map(String::as_str)),
        email: String::new(),
    };
    with_cookie(html(StatusCode::OK, &page), cookie)
}

#[handler]
async fn sign_in_form(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let csrf = form.get("csrf").cloned().unwrap_or_default();
    if let Some(r) = anonymous_form_in(req, &limits, Surface::Refer, Some(&csrf)) {
        return r;
    }
    let raw = form.get("email").cloned().unwrap_or_default();
    let next = safe_next_in(Surface::Refer, form.get("next").map(String::as_str));
    let (email, send) = match sign_in_request(req, &limits, &raw, |error| {
        let page = ReferSignInPage {
            nav: None,
            surface: Surface::Refer,
            errors: vec![error],
            notice: None,
            csrf: csrf.clone(),
            next: next.clone(),
            email: raw.clone(),
        };
        html(StatusCode::UNPROCESSABLE_ENTITY, &page)
    }) {
        Ok(ok) => ok,
        Err(r) => return r,
    };
    // The answer is the same, and as quick, whatever the address: the e-mail is sent after.
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
        let Some(mailer) = mailer else {
            tracing::warn!("a practitioner's sign-in link was asked for, but e-mail is not configured (DTR_SMTP_URL)");
            return;
        };
        let email = match practitioners::request_link(&db, &address, clock.now_ms()).await {
            Ok(practitioners::Link::Token(token)) => mail::practitioner_sign_in(&format!(
                "{public_url}/refer/sign-in/link?token={token}&next={}",
                url_encode(&next)
            )),
            Ok(practitioners::Link::NotSetUp) => mail::practitioner_not_set_up(&public_url),
            Err(e) => {
                tracing::error!(error = %e, "could not make a practitioner's sign-in link");
                return;
            }
        };
        let id = format!("signin_{}", uuid::Uuid::new_v4().simple());
        let outcome = mailer.send(&address, &email, &id).await;
        tracing::info!(outcome = ?outcome, "practitioner sign-in e-mail sent");
    });
    html(
        StatusCode::OK,
        &ReferCheckEmailPage {
            nav: None,
            surface: Surface::Refer,
            email,
        },
    )
}

fn link_refused() -> Response {
    message(
        StatusCode::GONE,
        None,
        "This sign-in link has expired",
        &["Sign-in links work once, for 15 minutes. Ask for a new one."],
        ("/refer/sign-in", "Get a new sign-in link"),
    )
}

#[handler]
async fn link_page(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = anonymous_limit(req, &limits) {
        return r;
    }
    let token = q.get("token").cloned().unwrap_or_default();
    match practitioners::link_is_valid(&state.db, &token, state.clock.now_ms()).await {
        Ok(true) => {}
        Ok(false) => return link_refused(),
        Err(e) => return internal_error_in(Surface::Refer, &e),
    }
    let (csrf, cookie) = with_csrf_cookie_in(&state, req, Surface::Refer);
    let page = ReferLinkPage {
        nav: None,
        surface: Surface::Refer,
        csrf,
        token,
        next: safe_next_in(Surface::Refer, q.get("next").map(String::as_str)),
    };
    with_cookie(html(StatusCode::OK, &page), cookie)
}

#[handler]
async fn use_link(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Some(r) = anonymous_form_in(
        req,
        &limits,
        Surface::Refer,
        form.get("csrf").map(String::as_str),
    ) {
        return r;
    }
    let token = form.get("token").cloned().unwrap_or_default();
    let next = safe_next_in(Surface::Refer, form.get("next").map(String::as_str));
    match practitioners::sign_in(&state.db, &token, state.clock.now_ms()).await {
        Ok(Some(SignedIn::Practitioner { cookie })) => {
            signed_in_answer(&state, Surface::Refer, &cookie, &next)
        }
        Ok(Some(SignedIn::Choosing { cookie })) => {
            signed_in_answer(&state, Surface::Refer, &cookie, "/refer/organisation")
        }
        Ok(Some(SignedIn::NotSetUp)) => not_set_up(),
        Ok(None) => link_refused(),
        Err(e) => internal_error_in(Surface::Refer, &e),
    }
}

fn not_set_up() -> Response {
    message(
        StatusCode::FORBIDDEN,
        None,
        "Your organisation is not set up to use this service",
        &[
            "Your e-mail address is not on a domain of an organisation that uses this service, and it has not been added on its own.",
            "Ask the person who manages your organisation's use of this service to add your organisation's e-mail domain, or your address. Until then, refer through the council's own form or e-mail address.",
        ],
        ("/refer", "About this service"),
    )
}

#[handler]
async fn sign_out_page(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
) -> Response {
    let s = match session(req, &state, &limits).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let nav = s.practitioner.as_ref().map(|(_, o)| ReferNav {
        organisation: o.name.clone(),
    });
    html(
        StatusCode::OK,
        &ReferSignOutPage {
            nav,
            surface: Surface::Refer,
            csrf: s.csrf,
        },
    )
}

#[handler]
async fn sign_out_form(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = session_form(req, &state, &limits, form.get("csrf").map(String::as_str)).await {
        return r;
    }
    signed_out(&state, req, Surface::Refer).await
}

// ----- choosing an organisation -------------------------------------------------------------

async fn render_choose(
    state: &AppState,
    s: &practitioners::Session,
    errors: Vec<FieldError>,
    status: StatusCode,
) -> Response {
    let orgs = match practitioners::organisations_for(&state.db, &s.email).await {
        Ok(o) => o,
        Err(e) => return internal_error_in(Surface::Refer, &e),
    };
    if orgs.is_empty() {
        return not_set_up();
    }
    html(
        status,
        &ChoosePage {
            nav: None,
            errors,
            csrf: s.csrf.clone(),
            email: s.email.clone(),
            organisations: orgs
                .into_iter()
                .map(|o| OrganisationChoice {
                    id: o.id,
                    name: o.name,
                })
                .collect(),
        },
    )
}

#[handler]
async fn choose_page(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
) -> Response {
    match session(req, &state, &limits).await {
        Ok(s) if s.practitioner.is_none() => {
            render_choose(&state, &s, vec![], StatusCode::OK).await
        }
        Ok(_) => see_other("/refer/referrals"),
        Err(r) => r,
    }
}

#[handler]
async fn choose_form(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let s = match session_form(req, &state, &limits, form.get("csrf").map(String::as_str)).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if s.practitioner.is_some() {
        return see_other("/refer/referrals");
    }
    let Some(cookie) = cookie_value(req, Surface::Refer.session_cookie()) else {
        return to_sign_in(req, Surface::Refer, false);
    };
    let chosen = form.get("organisation").cloned().unwrap_or_default();
    match practitioners::choose_organisation(
        &state.db,
        &cookie,
        &s.email,
        &chosen,
        state.clock.now_ms(),
    )
    .await
    {
        Ok(true) => see_other("/refer/referrals"),
        Ok(false) => {
            let error = FieldError {
                field: "organisation",
                message: "Select the organisation you work for".to_owned(),
            };
            render_choose(&state, &s, vec![error], StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => internal_error_in(Surface::Refer, &e),
    }
}

// ----- settings and information -------------------------------------------------------------

#[handler]
async fn settings_page(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let s = match signed(req, &state, &limits).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    html(
        StatusCode::OK,
        &ReferSettingsPage {
            nav: s.nav(),
            csrf: s.csrf.clone(),
            emails_on: !s.practitioner.emails_off,
            saved: q.contains_key("saved"),
            email: s.practitioner.email.clone(),
        },
    )
}

#[handler]
async fn settings_form(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let s = match signed_form(req, &state, &limits, form.get("csrf").map(String::as_str)).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let off = form.get("emails").map(String::as_str) == Some("off");
    match practitioners::set_emails_off(&state.db, &s.practitioner.id, off).await {
        Ok(()) => see_other("/refer/settings?saved=1"),
        Err(e) => internal_error_in(Surface::Refer, &e),
    }
}

fn owned(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[handler]
fn privacy_page(state: Data<&AppState>) -> Response {
    let days = state.config.retention.as_secs() / 86_400;
    let draft_days = (state.config.draft_retention.as_secs() / 86_400).max(1);
    let page = ReferInfoPage {
        nav: None,
        heading: "Privacy notice",
        sections: vec![
            ("What we hold", vec![
                "The referrals you make under the duty to refer (section 213B of the Housing Act 1996): the person's name, date of birth and contact details, their housing situation, risks, health needs they agreed to share, their household, and you as the referrer.".to_owned(),
                "About you: your work e-mail address, your organisation, your name, phone and team as you gave them, when you signed in and what you did.".to_owned(),
            ]),
            ("Why", vec![
                "To pass the referral to the council the person chose, so it can help them (a public task under the Housing Act 1996), to tell you what became of it, and to keep a record that proves what happened.".to_owned(),
            ]),
            ("How long", vec![
                format!("An unfinished referral is erased {draft_days} days after you last changed it, and as soon as you send it."),
                format!("A referral's personal details are erased {days} days after it was acknowledged, withdrawn or could not be delivered, or sooner if the person withdraws consent or asks."),
            ]),
            ("Your rights", owned(&[
                "You can ask to see, correct or erase what we hold about you. Ask the person who manages your organisation's use of this service.",
            ])),
        ],
    };
    html(StatusCode::OK, &page)
}

#[handler]
fn accessibility_page() -> Response {
    let page = ReferInfoPage {
        nav: None,
        heading: "Accessibility statement",
        sections: vec![
            ("", owned(&[
                "This service is built to meet the Web Content Accessibility Guidelines (WCAG) 2.2 at level AA. It uses the GOV.UK Design System, works without JavaScript, can be used with a keyboard alone, and reflows to a 320 pixel wide screen without scrolling sideways.",
            ])),
            ("How we test it", owned(&[
                "Every page is checked with axe-core in Chromium at 320 and 1280 pixels wide, empty, with errors and with warnings, and a keyboard-only journey from the sign-in e-mail to the confirmation runs before each release.",
            ])),
            ("Known problems", owned(&[
                "We know of none. If you find one, tell the person who manages your organisation's use of this service, or the council you refer to.",
            ])),
        ],
    };
    html(StatusCode::OK, &page)
}

#[handler]
fn to_referrals() -> Response {
    see_other("/refer/referrals")
}
