//! The web inbox (docs/contract.md §10): server-rendered pages in the GOV.UK Design System's style for
//! housing officers of authorities without software. Works without JavaScript; its styles are
//! served by `dtr` itself.
//!
//! Officers sign in with a single-use link e-mailed to their registered address (the sign-in page
//! answers the same whether or not the address is registered), and then see only their own
//! authority's referrals — judged by the same `store` scoping as an authority key. Reading a
//! referral, acknowledging it, recording the outcome and adding a note call the same
//! [`crate::referrals`] as the API, so an officer's read is audited and delivers the referral exactly
//! as the authority's API read does.
//!
//! Security (OWASP session management, CSRF and HTTP headers cheat sheets): the session cookie
//! `dtr_session` is HttpOnly, SameSite=Strict, Secure unless in insecure mode, and holds 256
//! random bits stored only as a hash; sessions end after 30 minutes idle or 8 hours. Every form
//! carries a synchronizer token (the session's), or before sign-in a double-submit token; a POST
//! without the right one is 403. Pages are `no-store`, framed by nobody, and their
//! `Content-Security-Policy` allows no script at all.

use crate::audit;
use crate::delivery::email as mail;
use crate::entities::referral;
use crate::http::middleware::{client_address, RateLimits};
use crate::http::AppState;
use crate::ids::{GssCode, OfficerId, ReferralId};
use crate::keys::Caller;
use crate::people::{self, NoSession, Session};
use crate::referrals::lifecycle::{self, Status};
use crate::referrals::{self, triage, ActionError};
use askama::Template;
use domain::Vocabulary;
use poem::http::{header, HeaderValue, StatusCode};
use poem::web::{Data, Form, Path, Query};
use poem::{get, handler, EndpointExt, IntoEndpoint, Request, Response, Route};
use serde::Deserialize;
use std::num::NonZeroU32;
use std::sync::Arc;
use subtle::ConstantTimeEq;

mod forms;
mod info;
mod list;
mod refer;
mod referral_page;
mod settings;
mod sign_in;

use forms::*;
use info::*;
use list::*;
use referral_page::*;
use settings::*;
use sign_in::*;

const SESSION_COOKIE: &str = "dtr_session";
const CSRF_COOKIE: &str = "dtr_csrf";

/// The two web surfaces for people: the officers' inbox (docs/contract.md §10) and the
/// practitioners' referral journey (§14). They share the sign-in machinery, session and CSRF
/// rules, headers and page layout; each has its own path, cookies (scoped to its path) and words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Surface {
    /// `/inbox`.
    Inbox,
    /// `/refer`.
    Refer,
}

impl Surface {
    /// The path every page of the surface is under.
    fn root(self) -> &'static str {
        match self {
            Surface::Inbox => "/inbox",
            Surface::Refer => "/refer",
        }
    }

    // The error is the page to answer with, built at most once per request.
    #[allow(clippy::result_large_err)]
    fn session_cookie(self) -> &'static str {
        match self {
            Surface::Inbox => SESSION_COOKIE,
            Surface::Refer => "dtr_refer_session",
        }
    }

    fn csrf_cookie(self) -> &'static str {
        match self {
            Surface::Inbox => CSRF_COOKIE,
            Surface::Refer => "dtr_refer_csrf",
        }
    }

    /// Where "go back to the start" leads once signed in.
    fn home(self) -> (&'static str, &'static str) {
        match self {
            Surface::Inbox => ("/inbox", "Go to your referrals"),
            Surface::Refer => ("/refer/referrals", "Go to your referrals"),
        }
    }

    fn sign_in_heading(self) -> &'static str {
        match self {
            Surface::Inbox => "Sign in to your duty to refer inbox",
            Surface::Refer => "Sign in to make a referral",
        }
    }

    fn sign_in_intro(self) -> &'static str {
        match self {
            Surface::Inbox => "Enter the e-mail address your council registered for you. We will e-mail you a link to sign in. It works once, for 15 minutes.",
            Surface::Refer => "Enter your work e-mail address. We will e-mail you a link to sign in. It works once, for 15 minutes.",
        }
    }

    fn check_email_before(self) -> &'static str {
        match self {
            Surface::Inbox => "If",
            Surface::Refer => "We have sent an e-mail to",
        }
    }

    fn check_email_after(self) -> &'static str {
        match self {
            Surface::Inbox => "is registered for a duty to refer inbox, we have sent it a link to sign in. The link works once, for 15 minutes.",
            Surface::Refer => "with a link to sign in, if your organisation is set up to use this service, or with what to do if it is not. The link works once, for 15 minutes.",
        }
    }

    fn not_registered(self) -> &'static str {
        match self {
            Surface::Inbox => "If your address is not registered, ask your council's administrator of this service.",
            Surface::Refer => "If your organisation is not set up, ask the person who manages its use of this service.",
        }
    }
}
const CSS: &str = include_str!("../../assets/govuk/govuk-frontend-6.6.0.min.css");
const INBOX_CSS: &str = include_str!("../../assets/govuk/inbox.css");
/// The most notes (the first) and history events (the latest) a referral page shows.
const PAGE_ITEMS: u64 = 200;

/// The `Content-Security-Policy` of every inbox answer: our own styles and images, no script, forms
/// only to ourselves, never framed.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

type KeyedLimiter<K> = governor::RateLimiter<
    K,
    governor::state::keyed::DashMapStateStore<K>,
    crate::clock::Clock,
    governor::middleware::NoOpMiddleware<<crate::clock::Clock as governor::clock::Clock>::Instant>,
>;

/// What the inbox needs besides the application state: the API's rate limits (an officer's
/// session counts like a key; requests without one like requests without a key) and the sign-in
/// limits (per address asked for, and per client).
pub(crate) struct InboxLimits {
    pub api: Arc<RateLimits>,
    /// Sign-in links per e-mail address and requesting client: 5 per 15 minutes. Keyed by both,
    /// so a stranger who knows an officer's address cannot lock the officer out.
    pub per_email: KeyedLimiter<(String, Option<std::net::IpAddr>)>,
    /// Sign-in links e-mailed to one address from all clients: 10 an hour. Beyond it the page
    /// answers as usual but sends nothing, so strangers together cannot flood an officer's mailbox.
    pub per_email_sent: KeyedLimiter<String>,
    /// Sign-in requests per client address: 10 a minute.
    pub per_client: KeyedLimiter<std::net::IpAddr>,
}

impl InboxLimits {
    pub fn new(api: Arc<RateLimits>, clock: crate::clock::Clock) -> Self {
        let five = NonZeroU32::new(5).unwrap_or(NonZeroU32::MIN);
        let ten = NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN);
        InboxLimits {
            api,
            per_email: governor::RateLimiter::dashmap_with_clock(
                governor::Quota::with_period(std::time::Duration::from_secs(180))
                    .unwrap_or_else(|| governor::Quota::per_minute(NonZeroU32::MIN))
                    .allow_burst(five),
                clock.clone(),
            ),
            per_email_sent: governor::RateLimiter::dashmap_with_clock(
                governor::Quota::with_period(std::time::Duration::from_secs(360))
                    .unwrap_or_else(|| governor::Quota::per_minute(NonZeroU32::MIN))
                    .allow_burst(ten),
                clock.clone(),
            ),
            per_client: governor::RateLimiter::dashmap_with_clock(
                governor::Quota::per_minute(ten).allow_burst(ten),
                clock,
            ),
        }
    }

    /// Forgets buckets not used lately.
    pub fn tidy(&self) {
        self.per_email.retain_recent();
        self.per_email_sent.retain_recent();
        self.per_client.retain_recent();
    }
}

pub(crate) use refer::routes as refer_routes;

/// The inbox's routes (full paths: nested at `/inbox` without stripping it).
pub(crate) fn routes(limits: Arc<InboxLimits>) -> impl poem::Endpoint {
    Route::new()
        .at("/inbox", get(list_page))
        .at("/inbox/", get(list_page))
        .at("/inbox/sign-in", get(sign_in_page).post(sign_in_form))
        .at("/inbox/sign-in/link", get(link_page).post(use_link))
        .at("/inbox/sign-out", get(sign_out_page).post(sign_out_form))
        .at("/inbox/referrals/:id", get(referral_page))
        .at(
            "/inbox/referrals/:id/acknowledge",
            get(to_form_page).post(acknowledge_form),
        )
        .at(
            "/inbox/referrals/:id/outcome",
            get(to_form_page).post(outcome_form),
        )
        .at(
            "/inbox/referrals/:id/notes",
            get(to_form_page).post(note_form),
        )
        .at(
            "/inbox/referrals/:id/assign",
            get(to_form_page).post(assign_form),
        )
        .at("/inbox/settings", get(settings_page).post(settings_form))
        .at("/inbox/help", get(help_page))
        .at("/inbox/privacy", get(privacy_page))
        .at("/inbox/accessibility", get(accessibility_page))
        .at("/inbox/assets/govuk-frontend-6.6.0.min.css", get(govuk_css))
        .at("/inbox/assets/inbox.css", get(inbox_css))
        .at("/inbox/*rest", poem::endpoint::make_sync(|_| not_found()))
        .data(limits)
        .into_endpoint()
        .around(page_headers)
}

/// The web pages' own headers: pages are never cached (they hold personal data; the stylesheets
/// may be), run no script, are framed by nobody and open no window onto another site.
async fn page_headers<E: poem::Endpoint>(next: Arc<E>, req: Request) -> poem::Result<Response> {
    let mut resp = next
        .call(req)
        .await
        .map(poem::IntoResponse::into_response)?;
    let headers = resp.headers_mut();
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    headers.insert("content-security-policy", HeaderValue::from_static(CSP));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), interest-cohort=()"),
    );
    Ok(resp)
}

// ----- pages ------------------------------------------------------------------------------

/// The signed-in officer's authority, for the header.
struct Nav {
    authority: String,
}

/// One problem with a form, for the error summary and the field.
struct FieldError {
    field: &'static str,
    message: String,
}

impl FieldError {
    /// Where the error summary's link goes: the field's first input (a radio group's first
    /// radio, since the group itself cannot take focus).
    fn anchor(&self) -> &'static str {
        match self.field {
            "reason" => "reason-prevention_duty",
            other => other,
        }
    }
}

#[derive(Template)]
#[template(path = "inbox/sign_in.html")]
struct SignInPage {
    nav: Option<Nav>,
    surface: Surface,
    errors: Vec<FieldError>,
    notice: Option<String>,
    csrf: String,
    next: String,
    email: String,
}

#[derive(Template)]
#[template(path = "inbox/check_email.html")]
struct CheckEmailPage {
    nav: Option<Nav>,
    surface: Surface,
    email: String,
}

#[derive(Template)]
#[template(path = "inbox/link.html")]
struct LinkPage {
    nav: Option<Nav>,
    surface: Surface,
    csrf: String,
    token: String,
    next: String,
}

#[derive(Template)]
#[template(path = "inbox/sign_out.html")]
struct SignOutPage {
    nav: Option<Nav>,
    surface: Surface,
    csrf: String,
}

#[derive(Template)]
#[template(path = "inbox/message.html")]
struct MessagePage {
    nav: Option<Nav>,
    heading: String,
    paragraphs: Vec<String>,
    link_href: String,
    link_text: String,
}

struct OfficerOption {
    id: String,
    label: String,
    selected: bool,
}

struct StatusOption {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

struct ListRow {
    id: String,
    reference: String,
    name: String,
    age: Option<String>,
    case_reference: Option<String>,
    received: String,
    organisation: String,
    agency: &'static str,
    status: &'static str,
    status_class: &'static str,
    urgency: Option<String>,
    urgent: bool,
    flags: Vec<&'static str>,
    unread_note: bool,
    withdrawn: bool,
    assigned: Option<String>,
}

#[derive(Template)]
#[template(path = "inbox/list.html")]
struct ListPage {
    nav: Option<Nav>,
    authority: String,
    statuses: Vec<StatusOption>,
    newest: bool,
    mine: bool,
    urgencies: Vec<StatusOption>,
    search: String,
    searched: bool,
    rows: Vec<ListRow>,
    caption: String,
    range: Option<String>,
    next_page: Option<String>,
    previous_page: Option<String>,
}

struct Section {
    title: String,
    /// Each answer: its name, its value in words, and a link when it is a way to reach someone.
    rows: Vec<(String, String, Option<String>)>,
}

struct ReasonOption {
    id: String,
    value: &'static str,
    label: &'static str,
    selected: bool,
}

struct NoteRow {
    author: String,
    at: String,
    text: String,
}

struct TimelineRow {
    at: String,
    what: String,
    who: String,
}

#[derive(Template)]
#[template(path = "inbox/referral.html")]
struct ReferralPage {
    nav: Option<Nav>,
    errors: Vec<FieldError>,
    done: Option<&'static str>,
    csrf: String,
    id: String,
    reference: String,
    organisation: String,
    agency: &'static str,
    status: &'static str,
    status_class: &'static str,
    received: String,
    name: Option<String>,
    urgency: Vec<String>,
    safety: Vec<(String, String)>,
    withdrawal: Option<String>,
    assigned_to: Option<String>,
    acknowledged: Option<String>,
    authority_options: String,
    can_assign: bool,
    colleagues: Vec<OfficerOption>,
    warnings: Vec<String>,
    erased: bool,
    disclosed: bool,
    sections: Vec<Section>,
    can_acknowledge: bool,
    received_by: String,
    local_reference: String,
    can_record_outcome: bool,
    reasons: Vec<ReasonOption>,
    outcome: Option<String>,
    outcome_warnings: Vec<String>,
    notes: Vec<NoteRow>,
    can_add_note: bool,
    note_text: String,
    timeline: Vec<TimelineRow>,
}

impl ReferralPage {
    fn field_error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }
}

// ----- responses --------------------------------------------------------------------------

fn html(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => Response::builder()
            .status(status)
            .content_type("text/html; charset=utf-8")
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "an inbox page did not render");
            Response::builder()
                .status(StatusCode::INTERNAL_SERVER_ERROR)
                .content_type("text/plain; charset=utf-8")
                .body("An internal error occurred; it has been logged.")
        }
    }
}

fn message(
    status: StatusCode,
    nav: Option<Nav>,
    heading: &str,
    paragraphs: &[&str],
    link: (&str, &str),
) -> Response {
    html(
        status,
        &MessagePage {
            nav,
            heading: heading.to_owned(),
            paragraphs: paragraphs.iter().map(|p| (*p).to_owned()).collect(),
            link_href: link.0.to_owned(),
            link_text: link.1.to_owned(),
        },
    )
}

/// A page with a heading, a few sentences and one way on, in a surface's layout (without its
/// menu: for answers before, or instead of, a signed-in page).
fn message_in(
    surface: Surface,
    status: StatusCode,
    heading: &str,
    paragraphs: &[&str],
    link: (&str, &str),
) -> Response {
    match surface {
        Surface::Inbox => message(status, None, heading, paragraphs, link),
        Surface::Refer => refer::message(status, None, heading, paragraphs, link),
    }
}

fn not_found() -> Response {
    not_found_in(Surface::Inbox)
}

fn not_found_in(surface: Surface) -> Response {
    let why = match surface {
        Surface::Inbox => "If you typed the web address, check it is correct. A referral of another authority cannot be opened here.",
        Surface::Refer => "If you typed the web address, check it is correct. Only referrals you made can be opened here.",
    };
    message_in(
        surface,
        StatusCode::NOT_FOUND,
        "Page not found",
        &[why],
        surface.home(),
    )
}

fn csrf_refused() -> Response {
    csrf_refused_in(Surface::Inbox)
}

fn csrf_refused_in(surface: Surface) -> Response {
    message_in(
        surface,
        StatusCode::FORBIDDEN,
        "This form has expired",
        &["For your security, the form could not be accepted. Nothing was changed. Go back, reload the page and try again."],
        surface.home(),
    )
}

fn too_many() -> Response {
    too_many_in(Surface::Inbox)
}

fn too_many_in(surface: Surface) -> Response {
    let mut resp = message_in(
        surface,
        StatusCode::TOO_MANY_REQUESTS,
        "Too many requests",
        &["Wait a minute, then try again."],
        surface.home(),
    );
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
    resp
}

fn internal_error(e: &dyn std::fmt::Display) -> Response {
    internal_error_in(Surface::Inbox, e)
}

fn internal_error_in(surface: Surface, e: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %e, surface = surface.root(), "a web request failed");
    message_in(
        surface,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Sorry, there is a problem with the service",
        &["Try again later. Nothing was changed."],
        surface.home(),
    )
}

fn see_other(location: &str) -> Response {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, location)
        .finish()
}

fn cookie_value(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty())
}

/// A cookie of a surface: sent only to its pages.
fn set_cookie_in(
    state: &AppState,
    surface: Surface,
    name: &str,
    value: &str,
    max_age_secs: u64,
) -> String {
    let path = surface.root();
    let secure = if !state.config.public_url.starts_with("https://") {
        ""
    } else {
        "; Secure"
    };
    format!(
        "{name}={value}; Path={path}; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}"
    )
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Only a path inside the inbox is a place to return to after signing in.
fn safe_next(next: Option<&str>) -> String {
    safe_next_in(Surface::Inbox, next)
}

/// Only a path inside the surface is a place to return to after signing in.
fn safe_next_in(surface: Surface, next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with(surface.root())
                && !n.starts_with("//")
                && !n.contains(['\\', '\r', '\n'])
                && n.len() < 200 =>
        {
            n.to_owned()
        }
        _ => surface.home().0.to_owned(),
    }
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The client a request comes from, as the limits count it (IPv6 by its prefix).
fn client(req: &Request, limits: &InboxLimits) -> Option<std::net::IpAddr> {
    let peer = req.remote_addr().as_socket_addr().map(|a| a.ip());
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok());
    client_address(peer, forwarded, &limits.api.trusted_proxies)
        .map(|ip| crate::slow_clients::client_key(ip, limits.api.ipv6_prefix))
}

/// The per-address limit of requests without a session (like API requests without a key): the
/// answer to give when it is spent.
fn anonymous_limit(req: &Request, limits: &InboxLimits) -> Option<Response> {
    match (&limits.api.per_address, client(req, limits)) {
        (Some(limiter), Some(ip)) if limiter.check_key(&ip).is_err() => Some(too_many()),
        _ => None,
    }
}

/// Where a request without a live session goes: the surface's sign-in page (with "your session
/// has ended" when it ended), coming back here afterwards.
fn to_sign_in(req: &Request, surface: Surface, expired: bool) -> Response {
    let path = req
        .uri()
        .path_and_query()
        .map_or(surface.root(), |p| p.as_str())
        .to_owned();
    // After signing in again, a GET comes back where it was; a form comes back to its page.
    let next = if req.method() == poem::http::Method::GET {
        path
    } else {
        match surface {
            Surface::Inbox => page_of_form(req.uri().path()),
            Surface::Refer => refer::page_of_form(req.uri().path()),
        }
    };
    see_other(&format!(
        "{}/sign-in?next={}{}",
        surface.root(),
        url_encode(&safe_next_in(surface, Some(&next))),
        if expired { "&expired=1" } else { "" }
    ))
}

/// The session cookie of this request for `surface`, or the answer to give instead.
// The error is the page to answer with, built at most once per request.
#[allow(clippy::result_large_err)]
fn session_cookie(
    req: &Request,
    limits: &InboxLimits,
    surface: Surface,
) -> Result<String, Response> {
    if let Some(cookie) = cookie_value(req, surface.session_cookie()) {
        return Ok(cookie);
    }
    if let Some(r) = anonymous_limit(req, limits) {
        return Err(r);
    }
    // A link followed from webmail is a cross-site navigation, which a SameSite=Strict cookie
    // does not accompany. The page asks the person to continue: their click is a same-site
    // navigation that brings the cookie. It never continues by itself, so a page on another
    // site that links to a referral cannot make an officer "read" it (and mark it delivered)
    // without their choosing to.
    let cross_site = req
        .headers()
        .get("sec-fetch-site")
        .is_some_and(|v| v == "cross-site");
    if cross_site && req.method() == poem::http::Method::GET {
        let path = req
            .uri()
            .path_and_query()
            .map_or(surface.root(), |p| p.as_str());
        return Err(reload(path));
    }
    Err(to_sign_in(req, surface, false))
}

/// A person's session (of either surface) counts like an API key against the rate limit.
// The error is the page to answer with, built at most once per request.
#[allow(clippy::result_large_err)]
fn session_limit(limits: &InboxLimits, key: &str) -> Result<(), Response> {
    match &limits.api.per_key {
        Some(limiter) if limiter.check_key(&key.to_owned()).is_err() => Err(too_many()),
        _ => Ok(()),
    }
}

/// The answer to a cookie that opened no session.
fn no_session(req: &Request, limits: &InboxLimits, surface: Surface, why: NoSession) -> Response {
    match why {
        NoSession::Expired => to_sign_in(req, surface, true),
        NoSession::Unknown => {
            anonymous_limit(req, limits).unwrap_or_else(|| to_sign_in(req, surface, false))
        }
    }
}

/// The officer signed in with this request's cookie, or the answer to give instead: the sign-in
/// page (with "your session has ended" when it ended), coming back here afterwards.
async fn signed_in(
    req: &Request,
    state: &AppState,
    limits: &InboxLimits,
) -> Result<Session, Response> {
    let cookie = session_cookie(req, limits, Surface::Inbox)?;
    match people::session(&state.db, &cookie, state.clock.now_ms()).await {
        Ok(Ok(session)) => {
            session_limit(limits, &format!("officer:{}", session.officer.id))?;
            Ok(session)
        }
        Ok(Err(why)) => Err(no_session(req, limits, Surface::Inbox, why)),
        Err(e) => Err(internal_error(&e)),
    }
}

/// The officer signed in with this request's cookie whose form carries the session's token; the
/// answer to give otherwise (the sign-in page, or the CSRF refusal).
async fn signed_in_form(
    req: &Request,
    state: &AppState,
    limits: &InboxLimits,
    csrf: Option<&str>,
) -> Result<Session, Response> {
    let session = signed_in(req, state, limits).await?;
    if !same(&session.csrf, csrf.unwrap_or_default()) {
        return Err(csrf_refused());
    }
    Ok(session)
}

/// The page a form's action belongs to: `/inbox/referrals/{id}/notes` → `/inbox/referrals/{id}`.
fn page_of_form(action: &str) -> String {
    for suffix in ["/acknowledge", "/outcome", "/notes", "/assign"] {
        if let Some(page) = action.strip_suffix(suffix) {
            return page.to_owned();
        }
    }
    "/inbox".to_owned()
}

/// A GET on a form's action (a bookmark, a reload after an error): to the form's page.
#[handler]
fn to_form_page(req: &Request) -> Response {
    see_other(&page_of_form(req.uri().path()))
}

fn reload(path: &str) -> Response {
    let escaped = askama::filters::escape(path, askama::filters::Html)
        .map(|e| e.to_string())
        .unwrap_or_else(|_| "/inbox".to_owned());
    Response::builder()
        .status(StatusCode::OK)
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!DOCTYPE html><html lang=\"en\" class=\"govuk-template\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Continue to the duty to refer inbox – Duty to refer</title><link rel=\"stylesheet\" href=\"/inbox/assets/govuk-frontend.min.css\"></head><body class=\"govuk-template__body\"><div class=\"govuk-width-container\"><main class=\"govuk-main-wrapper\" id=\"main-content\"><h1 class=\"govuk-heading-l\">Continue to the duty to refer inbox</h1><p class=\"govuk-body\">You followed a link from another website or an e-mail.</p><a href=\"{escaped}\" role=\"button\" draggable=\"false\" class=\"govuk-button\" data-module=\"govuk-button\">Continue</a></main></div></body></html>"
        ))
}

fn nav_of(session: &Session) -> Option<Nav> {
    Some(Nav {
        authority: authority_name(&session.officer.gss_code),
    })
}

/// The officer of a session as the use cases see them: their authority, named as themself.
fn session_caller(session: &Session) -> Caller {
    Caller::officer(
        OfficerId::stored(session.officer.id.clone()),
        GssCode::stored(session.officer.gss_code.clone()),
    )
}

fn authority_name(gss: &str) -> String {
    domain::register()
        .get(gss)
        .map_or_else(|| gss.to_owned(), |a| a.name.clone())
}

fn when(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .ok()
        .and_then(|t| {
            let tz = jiff::tz::TimeZone::get("Europe/London").ok()?;
            Some(t.to_zoned(tz).strftime("%-d %B %Y, %-I:%M%P").to_string())
        })
        .unwrap_or_default()
}

fn reference(id: &str) -> String {
    referrals::short_reference(id)
}

fn status_words(status: Status) -> (&'static str, &'static str) {
    match status {
        Status::AwaitingCollection => ("New", "govuk-tag--blue"),
        Status::Delivered => ("Read", "govuk-tag--yellow"),
        Status::Acknowledged => ("Acknowledged", "govuk-tag--green"),
        Status::Withdrawn => ("Withdrawn", "govuk-tag--grey"),
        Status::Failed => ("Not delivered", "govuk-tag--red"),
        Status::Queued => ("Being sent", "govuk-tag--grey"),
    }
}

fn agency(row: &referral::Model) -> &'static str {
    agency_words(&row.agency_type)
}

fn agency_words(agency_type: &str) -> &'static str {
    agency_type
        .parse::<domain::AgencyType>()
        .map_or("Public body", domain::AgencyType::label)
}

// ----- sign-in ----------------------------------------------------------------------------

// ----- assets -----------------------------------------------------------------------------

fn stylesheet(body: &'static str) -> Response {
    Response::builder()
        .content_type("text/css; charset=utf-8")
        .header(header::CACHE_CONTROL, "public, max-age=86400")
        .body(body)
}

#[handler]
fn govuk_css() -> Response {
    stylesheet(CSS)
}

#[handler]
fn inbox_css() -> Response {
    stylesheet(INBOX_CSS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_inbox_paths_are_places_to_return_to() {
        assert_eq!(safe_next(Some("/inbox/referrals/x")), "/inbox/referrals/x");
        for hostile in [
            "https://evil.example/inbox",
            "//evil.example/inbox",
            "/inbox\\@evil",
            "/v1/api-keys",
            "/inbox\r\nSet-Cookie: x",
        ] {
            assert_eq!(safe_next(Some(hostile)), "/inbox", "{hostile:?}");
        }
        assert_eq!(safe_next(None), "/inbox");
    }

    #[test]
    fn a_form_leads_back_to_its_page() {
        assert_eq!(
            page_of_form("/inbox/referrals/abc/notes"),
            "/inbox/referrals/abc"
        );
        assert_eq!(
            page_of_form("/inbox/referrals/abc/outcome"),
            "/inbox/referrals/abc"
        );
        assert_eq!(page_of_form("/inbox/sign-out"), "/inbox");
    }

    #[test]
    fn a_reference_is_the_random_end_of_the_id() {
        assert_eq!(
            reference("0190f5d6-1234-7abc-8def-0123456789ab"),
            "0123456789AB"
        );
    }

    #[test]
    fn values_read_in_peoples_words() {
        let today = jiff::civil::date(2026, 12, 4);
        let words = |k: &str, v: serde_json::Value| value_words(k, &v, today).expect("words");
        assert_eq!(
            words("rough_sleeping", "sleeping_rough".into()),
            "Sleeping rough now"
        );
        assert_eq!(
            words("reason", "threatened_with_homelessness".into()),
            "Threatened with homelessness within 56 days"
        );
        assert_eq!(
            words("kind", "section_21".into()),
            "Section 21 notice (no-fault)"
        );
        assert_eq!(words("gss_code", "E08000035".into()), "Leeds");
        assert_eq!(
            words("likely_homeless_on", "2027-01-29".into()),
            "29 January 2027"
        );
        assert_eq!(words("phone", "+441134960000".into()), "0113 496 0000");
        assert_eq!(words("phone", "+447911123456".into()), "07911 123456");
        assert_eq!(words("phone", "+442079460000".into()), "020 7946 0000");
        assert_eq!(
            words("phone", "+441134960000;ext=123".into()),
            "0113 496 0000 extension 123"
        );
        // British Summer Time: 13:00 UTC in July is 2pm in London; in December 1pm.
        assert_eq!(
            words("recorded_at", "2026-07-01T13:00:00Z".into()),
            "1 July 2026, 2:00pm"
        );
        assert_eq!(
            words("recorded_at", "2026-12-01T13:00:00Z".into()),
            "1 December 2026, 1:00pm"
        );
        assert_eq!(words("summary", "free text".into()), "free text");
    }

    #[test]
    fn the_document_reads_as_labelled_sections_in_the_format_s_order() {
        let mut row = lifecycle::tests::row(Status::Delivered);
        row.document = serde_json::json!({
            "referrer": {"name": "Pat"},
            "person": {"given_name": "Sam", "date_of_birth": "2009-01-01",
                       "contact": {"via_referrer": true}},
            "household": {"adults": 1}
        })
        .to_string();
        let document: serde_json::Value = serde_json::from_str(&row.document).expect("json");
        let s = sections(&document, jiff::civil::date(2026, 12, 4));
        let titles: Vec<&str> = s.iter().map(|s| s.title.as_str()).collect();
        assert_eq!(titles, ["The person", "Household", "Referrer"]);
        assert_eq!(
            s[0].rows,
            vec![
                ("Given name".to_owned(), "Sam".to_owned(), None),
                (
                    "Date of birth".to_owned(),
                    "1 January 2009 (age 17)".to_owned(),
                    None
                ),
                (
                    "Contact: contact through the referrer".to_owned(),
                    "Yes".to_owned(),
                    None
                ),
            ]
        );
    }

    #[test]
    fn phone_numbers_and_addresses_are_links_to_reach_someone() {
        let today = jiff::civil::date(2026, 12, 4);
        let document = serde_json::json!({
            "referrer": { "name": "Pat", "email": "pat@probation.example.gov.uk",
                          "phone": "+441134960000;ext=12" }
        });
        let s = sections(&document, today);
        let rows = &s[0].rows;
        assert!(rows.contains(&(
            "Email".to_owned(),
            "pat@probation.example.gov.uk".to_owned(),
            Some("mailto:pat@probation.example.gov.uk".to_owned())
        )));
        assert!(rows.contains(&(
            "Phone".to_owned(),
            "0113 496 0000 extension 12".to_owned(),
            Some("tel:+441134960000".to_owned())
        )));
        assert!(rows.contains(&("Name".to_owned(), "Pat".to_owned(), None)));
    }
}
