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

use super::middleware::{client_address, RateLimits};
use super::AppState;
use crate::audit;
use crate::delivery::email as mail;
use crate::entities::referral;
use crate::people::{self, NoSession, Session};
use crate::referrals::lifecycle::{self, NoteAuthor, Status};
use crate::referrals::repository as store;
use crate::referrals::{self, ActionError, Who};
use askama::Template;
use domain::Vocabulary;
use poem::http::{header, HeaderValue, StatusCode};
use poem::web::{Data, Form, Path, Query};
use poem::{get, handler, EndpointExt, IntoEndpoint, Request, Response, Route};
use serde::Deserialize;
use std::num::NonZeroU32;
use std::sync::Arc;
use subtle::ConstantTimeEq;

const SESSION_COOKIE: &str = "dtr_session";
const CSRF_COOKIE: &str = "dtr_csrf";
const CSS: &str = include_str!("../../assets/govuk/govuk-frontend-6.6.0.min.css");
const INBOX_CSS: &str = include_str!("../../assets/govuk/inbox.css");
/// Referrals per page of the list.
const PAGE: u64 = 50;
/// The most notes (the first) and history events (the latest) a referral page shows.
const PAGE_ITEMS: u64 = 200;

/// The `Content-Security-Policy` of every inbox answer: our own styles and images, no script, forms
/// only to ourselves, never framed.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

type KeyedLimiter<K> = governor::RateLimiter<
    K,
    governor::state::keyed::DashMapStateStore<K>,
    crate::clock::Clock,
    governor::middleware::NoOpMiddleware<<crate::clock::Clock as governor::clock::Clock>::Instant>,
>;

/// What the inbox needs besides the application state: the API's rate limits (an officer's
/// session counts like a key; requests without one like requests without a key) and the sign-in
/// limits (per address asked for, and per client).
pub(super) struct InboxLimits {
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

/// The inbox's routes (full paths: nested at `/inbox` without stripping it).
pub(super) fn routes(limits: Arc<InboxLimits>) -> impl poem::Endpoint {
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
        .at("/inbox/assets/govuk-frontend-6.6.0.min.css", get(govuk_css))
        .at("/inbox/assets/inbox.css", get(inbox_css))
        .at("/inbox/*rest", poem::endpoint::make_sync(|_| not_found()))
        .data(limits)
        .into_endpoint()
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

#[derive(Template)]
#[template(path = "inbox/sign_in.html")]
struct SignInPage {
    nav: Option<Nav>,
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
    email: String,
}

#[derive(Template)]
#[template(path = "inbox/link.html")]
struct LinkPage {
    nav: Option<Nav>,
    csrf: String,
    token: String,
    next: String,
}

#[derive(Template)]
#[template(path = "inbox/sign_out.html")]
struct SignOutPage {
    nav: Option<Nav>,
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

struct StatusOption {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

struct ListRow {
    id: String,
    reference: String,
    received: String,
    organisation: String,
    agency: &'static str,
    status: &'static str,
    status_class: &'static str,
    urgency: Vec<&'static str>,
}

#[derive(Template)]
#[template(path = "inbox/list.html")]
struct ListPage {
    nav: Option<Nav>,
    authority: String,
    statuses: Vec<StatusOption>,
    rows: Vec<ListRow>,
    caption: String,
    next_page: Option<String>,
    first_page: Option<String>,
}

struct Section {
    title: String,
    rows: Vec<(String, String)>,
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
    what: &'static str,
    who: &'static str,
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
    urgency: Vec<&'static str>,
    warnings: Vec<String>,
    erased: bool,
    disclosed: bool,
    sections: Vec<Section>,
    can_acknowledge: bool,
    received_by: String,
    local_reference: String,
    can_record_outcome: bool,
    reasons: Vec<ReasonOption>,
    other_authority: String,
    outcome: Option<String>,
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

fn not_found() -> Response {
    message(
        StatusCode::NOT_FOUND,
        None,
        "Page not found",
        &["If you typed the web address, check it is correct. A referral of another authority cannot be opened here."],
        ("/inbox", "Go to your referrals"),
    )
}

fn csrf_refused() -> Response {
    message(
        StatusCode::FORBIDDEN,
        None,
        "This form has expired",
        &["For your security, the form could not be accepted. Nothing was changed. Go back, reload the page and try again."],
        ("/inbox", "Go to your referrals"),
    )
}

fn too_many() -> Response {
    let mut resp = message(
        StatusCode::TOO_MANY_REQUESTS,
        None,
        "Too many requests",
        &["Wait a minute, then try again."],
        ("/inbox", "Go to your referrals"),
    );
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
    resp
}

fn internal_error(e: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %e, "an inbox request failed");
    message(
        StatusCode::INTERNAL_SERVER_ERROR,
        None,
        "Sorry, there is a problem with the service",
        &["Try again later. Nothing was changed."],
        ("/inbox", "Go to your referrals"),
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

fn set_cookie(state: &AppState, name: &str, value: &str, max_age_secs: u64) -> String {
    let secure = if !state.config.public_url.starts_with("https://") {
        ""
    } else {
        "; Secure"
    };
    format!(
        "{name}={value}; Path=/inbox; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}"
    )
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Only a path inside the inbox is a place to return to after signing in.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with("/inbox")
                && !n.starts_with("//")
                && !n.contains(['\\', '\r', '\n'])
                && n.len() < 200 =>
        {
            n.to_owned()
        }
        _ => "/inbox".to_owned(),
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

/// The officer signed in with this request's cookie, or the answer to give instead: the sign-in
/// page (with "your session has ended" when it ended), coming back here afterwards.
async fn signed_in(
    req: &Request,
    state: &AppState,
    limits: &InboxLimits,
) -> Result<Session, Response> {
    let path = req
        .uri()
        .path_and_query()
        .map_or("/inbox", |p| p.as_str())
        .to_owned();
    let back = |expired: bool| {
        // After signing in again, a GET comes back where it was; a form comes back to its page.
        let next = if req.method() == poem::http::Method::GET {
            path.clone()
        } else {
            page_of_form(req.uri().path())
        };
        see_other(&format!(
            "/inbox/sign-in?next={}{}",
            url_encode(&safe_next(Some(&next))),
            if expired { "&expired=1" } else { "" }
        ))
    };
    let Some(cookie) = cookie_value(req, SESSION_COOKIE) else {
        if let Some(r) = anonymous_limit(req, limits) {
            return Err(r);
        }
        // A link followed from webmail is a cross-site navigation, which a SameSite=Strict cookie
        // does not accompany. The page asks the officer to continue: their click is a same-site
        // navigation that brings the cookie. It never continues by itself, so a page on another
        // site that links to a referral cannot make an officer "read" it (and mark it delivered)
        // without their choosing to.
        let cross_site = req
            .headers()
            .get("sec-fetch-site")
            .is_some_and(|v| v == "cross-site");
        if cross_site && req.method() == poem::http::Method::GET {
            return Err(reload(&path));
        }
        return Err(back(false));
    };
    match people::session(&state.db, &cookie, state.clock.now_ms()).await {
        Ok(Ok(session)) => {
            if let Some(limiter) = &limits.api.per_key {
                if limiter
                    .check_key(&format!("officer:{}", session.officer.id))
                    .is_err()
                {
                    return Err(too_many());
                }
            }
            Ok(session)
        }
        Ok(Err(NoSession::Expired)) => Err(back(true)),
        Ok(Err(NoSession::Unknown)) => {
            Err(anonymous_limit(req, limits).unwrap_or_else(|| back(false)))
        }
        Err(e) => Err(internal_error(&e)),
    }
}

/// The page a form's action belongs to: `/inbox/referrals/{id}/notes` → `/inbox/referrals/{id}`.
fn page_of_form(action: &str) -> String {
    for suffix in ["/acknowledge", "/outcome", "/notes"] {
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
    // The last 12 hex digits of a UUID v7 are random: short enough to read out, unique enough.
    let hex: String = id.chars().filter(char::is_ascii_hexdigit).collect();
    hex[hex.len().saturating_sub(12)..].to_uppercase()
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
    row.agency_type
        .parse::<domain::AgencyType>()
        .map_or("Public body", domain::AgencyType::label)
}

// ----- sign-in ----------------------------------------------------------------------------

#[derive(Deserialize)]
struct SignInQuery {
    next: Option<String>,
    expired: Option<String>,
}

/// A page before sign-in with a double-submit token: the cookie and the form carry the same value.
fn with_csrf_cookie(state: &AppState, req: &Request) -> (String, Option<String>) {
    match cookie_value(req, CSRF_COOKIE) {
        Some(existing) if existing.len() == 43 => (existing, None),
        _ => {
            let token = people::new_secret();
            let cookie = set_cookie(state, CSRF_COOKIE, &token, 3600);
            (token, Some(cookie))
        }
    }
}

fn with_cookie(mut resp: Response, cookie: Option<String>) -> Response {
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

#[handler]
async fn sign_in_page(
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
        errors: vec![],
        notice,
        csrf,
        next: safe_next(q.next.as_deref()),
        email: String::new(),
    };
    with_cookie(html(StatusCode::OK, &page), cookie)
}

#[derive(Deserialize)]
struct SignInForm {
    csrf: Option<String>,
    email: Option<String>,
    next: Option<String>,
}

#[handler]
async fn sign_in_form(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
    Form(form): Form<SignInForm>,
) -> Response {
    if let Some(r) = anonymous_limit(req, &limits) {
        return r;
    }
    let cookie = cookie_value(req, CSRF_COOKIE).unwrap_or_default();
    if cookie.is_empty() || !same(&cookie, form.csrf.as_deref().unwrap_or_default()) {
        return csrf_refused();
    }
    let raw = form.email.unwrap_or_default();
    let next = safe_next(form.next.as_deref());
    let email = match domain::EmailAddress::parse(&raw) {
        Ok(e) => people::normalise_email(e.as_str()),
        Err(_) => {
            let page = SignInPage {
                nav: None,
                errors: vec![FieldError {
                    field: "email",
                    message:
                        "Enter an e-mail address in the correct format, like name@council.gov.uk"
                            .to_owned(),
                }],
                notice: None,
                csrf: cookie,
                next,
                email: raw,
            };
            return html(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    let from = client(req, &limits);
    if from.is_some_and(|ip| limits.per_client.check_key(&ip).is_err())
        || limits.per_email.check_key(&(email.clone(), from)).is_err()
    {
        return too_many();
    }
    let send = limits.per_email_sent.check_key(&email).is_ok();
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
        let issued = async {
            // Only an officer's address takes the write turn: a flood of requests for other
            // addresses costs a read each.
            if !people::is_officer(db.conn(), &address).await? {
                return Ok(None);
            }
            let txn = db.begin_write().await?;
            let issued = people::issue_link(&*txn, &address, now).await?;
            txn.commit().await?;
            Ok::<_, sea_orm::DbErr>(issued)
        }
        .await;
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
    html(StatusCode::OK, &CheckEmailPage { nav: None, email })
}

#[derive(Deserialize)]
struct LinkQuery {
    token: Option<String>,
    next: Option<String>,
}

fn link_refused() -> Response {
    message(
        StatusCode::GONE,
        None,
        "This sign-in link has expired",
        &["Sign-in links work once, for 15 minutes. Ask for a new one."],
        ("/inbox/sign-in", "Get a new sign-in link"),
    )
}

#[handler]
async fn link_page(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
    Query(q): Query<LinkQuery>,
) -> Response {
    if let Some(r) = anonymous_limit(req, &limits) {
        return r;
    }
    let token = q.token.unwrap_or_default();
    match people::link_is_valid(state.db.conn(), &token, state.clock.now_ms()).await {
        Ok(true) => {}
        Ok(false) => return link_refused(),
        Err(e) => return internal_error(&e),
    }
    let (csrf, cookie) = with_csrf_cookie(&state, req);
    let page = LinkPage {
        nav: None,
        csrf,
        token,
        next: safe_next(q.next.as_deref()),
    };
    with_cookie(html(StatusCode::OK, &page), cookie)
}

#[derive(Deserialize)]
struct LinkForm {
    csrf: Option<String>,
    token: Option<String>,
    next: Option<String>,
}

#[handler]
async fn use_link(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
    Form(form): Form<LinkForm>,
) -> Response {
    if let Some(r) = anonymous_limit(req, &limits) {
        return r;
    }
    let cookie = cookie_value(req, CSRF_COOKIE).unwrap_or_default();
    if cookie.is_empty() || !same(&cookie, form.csrf.as_deref().unwrap_or_default()) {
        return csrf_refused();
    }
    let token = form.token.unwrap_or_default();
    let redeemed = async {
        let txn = state.db.begin_write().await?;
        let session = people::redeem(&*txn, &token, state.clock.now_ms()).await?;
        txn.commit().await?;
        Ok::<_, sea_orm::DbErr>(session)
    }
    .await;
    let session = match redeemed {
        Ok(Some(s)) => s,
        Ok(None) => return link_refused(),
        Err(e) => return internal_error(&e),
    };
    tracing::info!(officer_id = %session.officer.id, "officer signed in");
    let mut resp = see_other(&safe_next(form.next.as_deref()));
    let max_age = people::SESSION_MAX.as_secs();
    for c in [
        set_cookie(&state, SESSION_COOKIE, &session.cookie, max_age),
        set_cookie(&state, CSRF_COOKIE, "", 0),
    ] {
        if let Ok(v) = HeaderValue::from_str(&c) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

#[handler]
async fn sign_out_page(
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
            csrf: session.csrf,
        },
    )
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: Option<String>,
}

#[handler]
async fn sign_out_form(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let session = match signed_in(req, &state, &limits).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !same(&session.csrf, form.csrf.as_deref().unwrap_or_default()) {
        return csrf_refused();
    }
    if let Some(cookie) = cookie_value(req, SESSION_COOKIE) {
        if let Err(e) = people::end_session(&state.db, &cookie).await {
            return internal_error(&e);
        }
    }
    let mut resp = message(
        StatusCode::OK,
        None,
        "You have signed out",
        &["Close the browser window if you are on a shared computer."],
        ("/inbox/sign-in", "Sign in again"),
    );
    if let Ok(v) = HeaderValue::from_str(&set_cookie(&state, SESSION_COOKIE, "", 0)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

// ----- the list ---------------------------------------------------------------------------

#[derive(Deserialize)]
struct ListQuery {
    status: Option<String>,
    before: Option<i64>,
}

/// The filters the list offers, as the authority sees its referrals.
const FILTERS: [(&str, &str, Option<Status>); 6] = [
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
async fn list_page(
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
    let mut rows =
        match store::list_visible(state.db.conn(), &who.caller, status, q.before, PAGE + 1).await {
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

#[derive(Deserialize)]
struct ReferralQuery {
    done: Option<String>,
}

/// What the officer typed into the referral page's forms, shown again beside its errors.
#[derive(Default)]
struct Typed {
    received_by: String,
    local_reference: String,
    reason: String,
    other_authority: String,
    note: String,
}

#[handler]
async fn referral_page(
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
        Typed::default(),
        StatusCode::OK,
    )
    .await
}

/// Reads the referral as the officer (audited; the first read delivers it) and renders its page.
async fn render_referral(
    state: &AppState,
    session: &Session,
    id: &str,
    done: Option<&'static str>,
    errors: Vec<FieldError>,
    typed: Typed,
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

fn outcome_words(row: &referral::Model) -> Option<String> {
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
fn other_warnings(row: &referral::Model) -> Vec<String> {
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

fn action_words(action: &str) -> &'static str {
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

fn actor_words(role: &str) -> &'static str {
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
fn sections(row: &referral::Model) -> Vec<Section> {
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

fn push_section(out: &mut Vec<Section>, title: String, value: &serde_json::Value) {
    let mut rows = vec![];
    flatten(&mut rows, "", value);
    if !rows.is_empty() {
        out.push(Section { title, rows });
    }
}

fn flatten(rows: &mut Vec<(String, String)>, prefix: &str, value: &serde_json::Value) {
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

fn prefix_or(prefix: &str) -> String {
    if prefix.is_empty() {
        "Value".to_owned()
    } else {
        prefix.to_owned()
    }
}

fn scalar(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Null => None,
        serde_json::Value::Bool(true) => Some("Yes".to_owned()),
        serde_json::Value::Bool(false) => Some("No".to_owned()),
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// A member's name in words.
fn label(key: &str) -> String {
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

/// Checks the session and its form token; the answer to give otherwise.
async fn form_session(
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

/// The referral page again, with one form error beside the field and what the officer typed.
async fn form_error(
    state: &AppState,
    session: &Session,
    id: &str,
    field: &'static str,
    message: String,
    typed: Typed,
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

/// A refused action as the officer sees it: a form error, or a page.
async fn refused(
    state: &AppState,
    session: &Session,
    id: &str,
    e: ActionError,
    field: &'static str,
    typed: Typed,
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
            || "Check what you entered.".to_owned(),
            |i| i.message.clone(),
        ),
    };
    form_error(state, session, id, field, message, typed).await
}

#[derive(Deserialize)]
struct AcknowledgeForm {
    csrf: Option<String>,
    received_by: Option<String>,
    local_reference: Option<String>,
}

#[handler]
async fn acknowledge_form(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
    Path(id): Path<String>,
    Form(form): Form<AcknowledgeForm>,
) -> Response {
    let session = match form_session(req, &state, &limits, form.csrf.as_deref()).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let typed = Typed {
        received_by: form.received_by.clone().unwrap_or_default(),
        local_reference: form.local_reference.clone().unwrap_or_default(),
        ..Typed::default()
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
            let message = issues
                .first()
                .map_or_else(String::new, |i| i.message.clone());
            let field = if issues
                .iter()
                .any(|i| i.pointer.starts_with("/local_reference"))
            {
                "local_reference"
            } else {
                "received_by"
            };
            return form_error(&state, &session, &id, field, message, typed).await;
        }
    };
    let who = Who::officer(&session.officer.id, &session.officer.gss_code);
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
struct OutcomeForm {
    csrf: Option<String>,
    reason: Option<String>,
    other_authority: Option<String>,
}

#[handler]
async fn outcome_form(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
    Path(id): Path<String>,
    Form(form): Form<OutcomeForm>,
) -> Response {
    let session = match form_session(req, &state, &limits, form.csrf.as_deref()).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let reason = form.reason.clone().unwrap_or_default();
    let other = form.other_authority.clone().unwrap_or_default();
    let typed = Typed {
        reason: reason.clone(),
        other_authority: other.clone(),
        ..Typed::default()
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
    let who = Who::officer(&session.officer.id, &session.officer.gss_code);
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
struct NoteForm {
    csrf: Option<String>,
    text: Option<String>,
}

#[handler]
async fn note_form(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
    Path(id): Path<String>,
    Form(form): Form<NoteForm>,
) -> Response {
    let session = match form_session(req, &state, &limits, form.csrf.as_deref()).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let text = form.text.clone().unwrap_or_default();
    let typed = Typed {
        note: text.clone(),
        ..Typed::default()
    };
    let body = serde_json::json!({ "text": text });
    let request = match openapi::read_body::<openapi::NoteRequest>(&body) {
        Ok(r) => r,
        Err(issues) => {
            let message = issues
                .first()
                .map_or_else(|| "Enter a note".to_owned(), |i| i.message.clone());
            return form_error(&state, &session, &id, "text", message, typed).await;
        }
    };
    let who = Who::officer(&session.officer.id, &session.officer.gss_code);
    match referrals::add_note(
        &state.db,
        &who,
        NoteAuthor::Authority,
        &id,
        &request.text,
        state.clock.now_ms(),
    )
    .await
    {
        Ok(_) => {
            state.wake_worker();
            see_other(&format!("/inbox/referrals/{id}?done=note"))
        }
        Err(e) => refused(&state, &session, &id, e, "text", typed).await,
    }
}

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
    fn the_document_reads_as_labelled_sections_in_the_format_s_order() {
        let mut row = lifecycle::tests::row(Status::Delivered);
        row.document = serde_json::json!({
            "referrer": {"name": "Pat"},
            "person": {"given_name": "Sam", "date_of_birth": "2009-01-01",
                       "contact": {"via_referrer": true}},
            "household": {"adults": 1}
        })
        .to_string();
        let s = sections(&row);
        let titles: Vec<&str> = s.iter().map(|s| s.title.as_str()).collect();
        assert_eq!(titles, ["The person", "Household", "Referrer"]);
        assert_eq!(
            s[0].rows,
            vec![
                ("Given name".to_owned(), "Sam".to_owned()),
                ("Date of birth".to_owned(), "2009-01-01".to_owned()),
                (
                    "Contact: contact through the referrer".to_owned(),
                    "Yes".to_owned()
                ),
            ]
        );
    }
}
