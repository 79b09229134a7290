//! E-mail (docs/contract.md §10): telling an authority's mailbox that a referral waits in its inbox (or was
//! withdrawn), and sending officers their sign-in links, through the SMTP relay in `DTR_SMTP_URL`.
//!
//! **No personal data in any e-mail.** Messages are built from the referral's row alone — its id,
//! authority, referring organisation, agency type and warning codes — never from its document, so
//! a name, date of birth, contact detail, free text or case reference cannot reach a subject, a
//! header or a body (a test renders every message for a referral full of distinctive personal
//! data). E-mail crosses systems we do not control; the inbox behind a sign-in is where the
//! referral is read.

use crate::config::{SmtpTls, SmtpUrl};
use crate::entities::referral;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

/// How long a sign-in link is valid.
pub const SIGN_IN_VALID: Duration = Duration::from_secs(15 * 60);

/// One e-mail's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
}

/// A stored referral's urgency on `today` in words, the headline first ("Homeless in 10 days",
/// then "Aged 16 or 17", …); empty once erased. The same judgement as the inbox and the API.
pub fn urgency_words(row: &referral::Model, today: jiff::civil::Date) -> Vec<String> {
    crate::referrals::urgency(row, today).map_or_else(Vec::new, |u| {
        let mut words = vec![u.headline()];
        words.extend(
            u.flags
                .iter()
                .filter(|f| !(u.homeless_now && **f == domain::UrgencyFlag::RoughSleepingNow))
                .map(|f| f.label().to_owned()),
        );
        words
    })
}

/// Whether a referral should be read first: homeless now, within 14 days, or a flag raised.
pub fn is_urgent(row: &referral::Model, today: jiff::civil::Date) -> bool {
    crate::referrals::urgency(row, today).is_some_and(|u| {
        u.homeless_now || u.days_until_homeless.is_some_and(|d| d <= 14) || !u.flags.is_empty()
    })
}

fn authority_name(gss_code: &str) -> String {
    domain::register()
        .get(gss_code)
        .map_or_else(|| gss_code.to_owned(), |a| a.name.clone())
}

fn agency_label(agency_type: &str) -> &'static str {
    agency_type
        .parse::<domain::AgencyType>()
        .map_or("Public body", domain::AgencyType::label)
}

/// The link an officer follows to a referral.
pub fn referral_link(public_url: &str, id: &str) -> String {
    format!("{public_url}/inbox/referrals/{id}")
}

/// A referral waits in the authority's inbox.
pub fn referral_waiting(
    row: &referral::Model,
    public_url: &str,
    today: jiff::civil::Date,
) -> Email {
    let authority = authority_name(&row.gss_code);
    let urgency = urgency_words(row, today);
    let urgent_line = if urgency.is_empty() {
        "Urgency: nothing flagged".to_owned()
    } else {
        format!("Urgency: {}", urgency.join("; "))
    };
    let reference = crate::referrals::short_reference(&row.id);
    // The short reference in every subject, so a mail client never threads two referrals together.
    let subject = match (is_urgent(row, today), urgency.first()) {
        (true, Some(headline)) => format!(
            "Duty to refer: an urgent new referral for {authority}, ref {reference} ({})",
            headline.to_lowercase()
        ),
        _ => format!("Duty to refer: a new referral for {authority}, ref {reference}"),
    };
    let text = format!(
        "A referral under the duty to refer (section 213B of the Housing Act 1996) is waiting for \
         {authority}.\n\n\
         Referred by: {organisation} ({agency})\n\
         {urgent_line}\n\n\
         Read it in your inbox (sign in with your registered e-mail address):\n\
         {link}\n\n\
         This e-mail holds no personal details: they are only in the inbox.\n",
        organisation = row.organisation,
        agency = agency_label(&row.agency_type),
        link = referral_link(public_url, &row.id),
    );
    Email { subject, text }
}

/// This service erased a referral the authority's mailbox was told about (UK GDPR art. 19).
pub fn referral_erased(row: &referral::Model, public_url: &str) -> Email {
    let authority = authority_name(&row.gss_code);
    let why = match row
        .erased_at_ms
        .and(row.withdrawal_reason.as_deref())
        .filter(|r| *r == "consent_withdrawn")
    {
        Some(_) => "the person withdrew their consent",
        None => "the person asked, it was sent in error, or its retention period ended",
    };
    Email {
        subject: format!(
            "Duty to refer: referral {} for {authority} was erased",
            crate::referrals::short_reference(&row.id)
        ),
        text: format!(
            "This service has erased the personal details of a referral to {authority} from \
             {organisation} ({agency}): {why}.\n\n\
             If you keep a copy of it, consider whether you must erase it too (UK GDPR article \
             17); a duty you already owe the person continues.\n\
             {link}\n\n\
             This e-mail holds no personal details.\n",
            organisation = row.organisation,
            agency = agency_label(&row.agency_type),
            link = referral_link(public_url, &row.id),
        ),
    }
}

/// A referral the authority was told about was withdrawn by its referrer.
pub fn referral_withdrawn(row: &referral::Model, public_url: &str) -> Email {
    let authority = authority_name(&row.gss_code);
    let reason = row
        .withdrawal_reason
        .as_deref()
        .and_then(<domain::WithdrawalReason as domain::Vocabulary>::from_term)
        .map_or("no reason given", withdrawal_words);
    let consent_withdrawn = row.withdrawal_reason.as_deref() == Some("consent_withdrawn");
    // A withdrawal does not end a duty already owed (ss.188, 189B, 195): after an accepted
    // decision the authority is told what it means, never to stop work.
    let what_now = match (row.outcome_decision.as_deref(), consent_withdrawn) {
        (Some("accepted"), _) => {
            "The person withdrew their consent to the referral, and this service has erased its copy. \
             A duty you already owe them continues as the Housing Act 1996 provides; what you hold \
             in your own case record is yours to manage."
        }
        (_, true) => {
            "The person withdrew their consent: do not act on the referral, and erase what it shared \
             with you."
        }
        _ => "Stop any work on the referral.",
    };
    Email {
        subject: format!(
            "Duty to refer: referral {} for {authority} was withdrawn",
            crate::referrals::short_reference(&row.id)
        ),
        text: format!(
            "A referral to {authority} under the duty to refer was withdrawn by {organisation} \
             ({agency}).\n\n\
             Reason: {reason}\n\n\
             {what_now}\n\
             {link}\n\n\
             This e-mail holds no personal details.\n",
            organisation = row.organisation,
            agency = agency_label(&row.agency_type),
            link = referral_link(public_url, &row.id),
        ),
    }
}

fn withdrawal_words(reason: domain::WithdrawalReason) -> &'static str {
    use domain::WithdrawalReason as W;
    match reason {
        W::NewReferral => "replaced by a new referral",
        W::IncorrectAuthority => "sent to the wrong authority",
        W::ConsentWithdrawn => "the person withdrew their consent",
        W::Disengaged => "the person disengaged",
        W::HousingNeedResolved => "the housing need was resolved",
        W::NotEligible => "the person is not eligible",
        W::Other => "another reason",
    }
}

/// The referrer added a note to a referral the authority has (reference and link, never the text).
pub fn note_added(row: &referral::Model, public_url: &str) -> Email {
    let authority = authority_name(&row.gss_code);
    let reference = crate::referrals::short_reference(&row.id);
    Email {
        subject: format!("Duty to refer: a new note from the referrer on referral {reference} for {authority}"),
        text: format!(
            "{organisation} ({agency}) added a note to a referral to {authority}.\n\n\
             Reference: {reference}\n\
             Read it in your inbox:\n\
             {link}\n\n\
             This e-mail holds no personal details and not the note itself: they are only in the inbox.\n",
            organisation = row.organisation,
            agency = agency_label(&row.agency_type),
            link = referral_link(public_url, &row.id),
        ),
    }
}

/// A colleague assigned a referral to this officer (reference and link only).
pub fn assigned(row: &referral::Model, public_url: &str) -> Email {
    let authority = authority_name(&row.gss_code);
    let reference = crate::referrals::short_reference(&row.id);
    Email {
        subject: format!("Duty to refer: referral {reference} for {authority} was assigned to you"),
        text: format!(
            "A colleague at {authority} assigned a referral under the duty to refer to you.\n\n\
             Reference: {reference}\n\
             {link}\n\n\
             This e-mail holds no personal details: they are only in the inbox.\n",
            link = referral_link(public_url, &row.id),
        ),
    }
}

/// An officer's sign-in link.
pub fn sign_in(link: &str, authority_gss: &str) -> Email {
    let authority = authority_name(authority_gss);
    let minutes = SIGN_IN_VALID.as_secs() / 60;
    Email {
        subject: "Duty to refer: your sign-in link".to_owned(),
        text: format!(
            "Use this link to sign in to the duty to refer inbox of {authority}. It works once, \
             for {minutes} minutes:\n\n{link}\n\n\
             If you did not ask to sign in, you can ignore this e-mail.\n"
        ),
    }
}

/// What the authority did with a practitioner's referral (docs/contract.md §14): reference, the
/// authority's name and a link to the referral on `/refer` — never the person's details, the
/// decision's words or a note's text, which are only behind sign-in.
pub fn to_practitioner(kind: &str, row: &referral::Model, public_url: &str) -> Email {
    use crate::referrals::lifecycle as l;
    let authority = authority_name(&row.gss_code);
    let reference = crate::referrals::short_reference(&row.id);
    let what = match kind {
        l::EMAIL_TO_PRACTITIONER_ACKNOWLEDGED => "acknowledged your referral",
        l::EMAIL_TO_PRACTITIONER_OUTCOME => "recorded its decision on your referral",
        _ => "added a note to your referral",
    };
    Email {
        subject: format!("Duty to refer: {authority} {what} {reference}"),
        text: format!(
            "{authority} {what}.\n\n             Reference: {reference}\n             See it after signing in:\n             {public_url}/refer/referrals/{id}\n\n             This e-mail holds no personal details: they are only in the service. You can turn              these e-mails off under Settings.\n",
            id = row.id,
        ),
    }
}

/// A practitioner's sign-in link (docs/contract.md §14).
pub fn practitioner_sign_in(link: &str) -> Email {
    let minutes = SIGN_IN_VALID.as_secs() / 60;
    Email {
        subject: "Duty to refer: your sign-in link".to_owned(),
        text: format!(
            "Use this link to sign in and make a referral under the duty to refer. It works once, \
             for {minutes} minutes:\n\n{link}\n\n\
             If you did not ask to sign in, you can ignore this e-mail.\n"
        ),
    }
}

/// The answer to a sign-in request from an address no organisation takes: nothing to sign in to
/// yet, and who can change that.
pub fn practitioner_not_set_up(public_url: &str) -> Email {
    Email {
        subject: "Duty to refer: your organisation is not set up yet".to_owned(),
        text: format!(
            "You asked to sign in to make a referral under the duty to refer, but your e-mail \
             address is not on a domain of an organisation set up to use this service, and it has \
             not been added on its own.\n\n\
             Ask the person who manages your organisation's use of the service to add your \
             organisation's e-mail domain, or your address. Until then, refer through the \
             housing authority's own form or e-mail address.\n\n\
             About the service: {public_url}/refer\n\n\
             If you did not ask to sign in, you can ignore this e-mail.\n"
        ),
    }
}

pub use crate::referrals::lifecycle::SendOutcome;

/// Sends e-mail through the relay.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The domain of Message-IDs (the sender's).
    id_domain: String,
    /// The longest one e-mail's whole exchange with the relay may take.
    timeout: Duration,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from).finish()
    }
}

impl Mailer {
    /// A mailer for the relay; `timeout` bounds the whole exchange of one e-mail (connection,
    /// greeting, TLS, every command and reply): lettre's own timeout covers only some of them, and
    /// a relay that accepts the connection and then stops answering must not hold a delivery slot.
    /// `extra_roots`: PEM certificates trusted besides the public roots (`DTR_SMTP_CA_FILE`).
    pub fn new(
        url: &SmtpUrl,
        from: &str,
        timeout: Duration,
        extra_roots: Option<&[u8]>,
    ) -> Result<Mailer, String> {
        let from: Mailbox = from
            .parse()
            .map_err(|_| "DTR_SMTP_FROM is not an address".to_owned())?;
        let mut params = TlsParameters::builder(url.host.clone());
        if let Some(pem) = extra_roots {
            let cert = lettre::transport::smtp::client::Certificate::from_pem(pem)
                .map_err(|e| format!("DTR_SMTP_CA_FILE: {e}"))?;
            params = params.add_root_certificate(cert);
        }
        let params = params
            .build_rustls()
            .map_err(|e| format!("the SMTP relay: {e}"))?;
        let tls = match url.tls {
            SmtpTls::StartTls => Tls::Required(params),
            SmtpTls::Implicit => Tls::Wrapper(params),
            SmtpTls::Opportunistic => Tls::Opportunistic(params),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&url.host)
            .tls(tls)
            .port(url.port)
            .timeout(Some(timeout));
        if let Some((user, password)) = &url.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        let id_domain = from.email.domain().to_owned();
        Ok(Mailer {
            transport: builder.build(),
            from,
            id_domain,
            timeout,
        })
    }

    /// Hands one e-mail to the relay. `message_id` is the same on every attempt at one
    /// notification, so a relay or a mail client can recognise a repeat.
    pub async fn send(&self, to: &str, email: &Email, message_id: &str) -> SendOutcome {
        let Ok(to) = to.parse::<Mailbox>() else {
            return SendOutcome::Permanent {
                code: None,
                error: "address".to_owned(),
            };
        };
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            .message_id(Some(format!("<{message_id}@{}>", self.id_domain)))
            .header(ContentType::TEXT_PLAIN)
            .body(email.text.clone());
        let Ok(message) = message else {
            return SendOutcome::Permanent {
                code: None,
                error: "message".to_owned(),
            };
        };
        let Ok(sent) = tokio::time::timeout(self.timeout, self.transport.send(message)).await
        else {
            return SendOutcome::Transient {
                code: None,
                error: "timeout".to_owned(),
            };
        };
        match sent {
            Ok(response) => SendOutcome::Sent(u16::from(response.code())),
            Err(e) => {
                let code = e.status().map(u16::from);
                let error = match code {
                    Some(c) => format!("smtp_{c}"),
                    None if e.is_timeout() => "timeout".to_owned(),
                    None if e.is_tls() => "tls".to_owned(),
                    None => "connect".to_owned(),
                };
                if e.is_permanent() {
                    SendOutcome::Permanent { code, error }
                } else {
                    SendOutcome::Transient { code, error }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_practitioner_is_told_the_reference_and_a_link_and_nothing_personal() {
        use crate::referrals::lifecycle as l;
        let mut row = l::tests::row(l::Status::Acknowledged);
        row.submitted_by = "prt_0123456789abcdef0123456789abcdef".into();
        row.document = serde_json::json!({
            "person": { "given_name": "Wilhelmina", "family_name": "Quartermaine",
                        "contact": { "phone": "07700 900123" } },
            "housing_situation": { "summary": "Eviction on Friday" }
        })
        .to_string();
        row.outcome_reason = Some("prevention_duty".into());
        for kind in [
            l::EMAIL_TO_PRACTITIONER_ACKNOWLEDGED,
            l::EMAIL_TO_PRACTITIONER_OUTCOME,
            l::EMAIL_TO_PRACTITIONER_NOTE,
        ] {
            let email = to_practitioner(kind, &row, "https://dtr.example.gov.uk");
            let all = format!("{}\n{}", email.subject, email.text);
            assert!(
                all.contains(&crate::referrals::short_reference(&row.id)),
                "{all}"
            );
            assert!(all.contains(&format!(
                "https://dtr.example.gov.uk/refer/referrals/{}",
                row.id
            )));
            for personal in [
                "Wilhelmina",
                "Quartermaine",
                "07700",
                "Eviction",
                "prevention",
            ] {
                assert!(!all.contains(personal), "{kind}: {personal} in {all}");
            }
        }
    }

    #[test]
    fn urgency_is_in_words_headline_first_and_the_subject_carries_the_reference() {
        let mut row = crate::referrals::lifecycle::tests::row(
            crate::referrals::lifecycle::Status::AwaitingCollection,
        );
        row.document = serde_json::json!({
            "person": { "given_name": "A", "family_name": "B", "date_of_birth": "2009-06-01" },
            "consent": { "referral": true, "share_contact_details": true },
            "housing_situation": { "reason": "homeless", "rough_sleeping": "sleeping_rough" }
        })
        .to_string();
        let today = jiff::civil::date(2026, 12, 4);
        assert_eq!(
            urgency_words(&row, today),
            vec!["Sleeping rough now", "Aged 16 or 17"]
        );
        let email = referral_waiting(&row, "https://dtr.example.gov.uk", today);
        assert!(email.subject.contains("urgent"), "{}", email.subject);
        assert!(
            email
                .subject
                .contains(&crate::referrals::short_reference(&row.id)),
            "{}",
            email.subject
        );
        assert!(!email.subject.contains("A B"), "no name in a subject");
        assert!(email.text.contains("Sleeping rough now; Aged 16 or 17"));
        assert!(email.text.contains(&format!(
            "https://dtr.example.gov.uk/inbox/referrals/{}",
            row.id
        )));
    }
}
