//! The pages every footer links to: help for officers, the privacy notice (what is held, why and
//! for how long — the retention period is the service's own setting) and the accessibility
//! statement. They hold nothing personal and need no sign-in.

use super::*;

#[derive(Template)]
#[template(path = "inbox/info.html")]
pub(super) struct InfoPage {
    nav: Option<Nav>,
    heading: &'static str,
    sections: Vec<(&'static str, Vec<String>)>,
}

fn owned(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[handler]
pub(super) fn help_page() -> Response {
    let page = InfoPage {
        nav: None,
        heading: "Help for housing officers",
        sections: vec![
            ("Signing in", owned(&[
                "Enter the e-mail address your council registered for you. We e-mail you a link that works once, for 15 minutes. Your session ends after 30 minutes without use, or 8 hours after you signed in.",
            ])),
            ("Which referral first", owned(&[
                "The list shows the most urgent referrals first: people homeless now (those sleeping rough first), then people threatened with homelessness, fewest days left first. Within each, the referral received first comes first. Tags show what else needs attention: rough sleeping, a 16 or 17 year old, or a referral shared without the person's full consent.",
                "Choose \u{201c}Newest first\u{201d} to see referrals in the order they arrived.",
            ])),
            ("Finding a referral", owned(&[
                "Search by the person's name, their date of birth (for example 12/04/1988), the 12-character reference in our e-mails, or the referrer's case reference. You only ever see your own council's referrals.",
            ])),
            ("Acting on a referral", owned(&[
                "Opening a referral tells the referrer it was delivered. Acknowledge it to confirm you have it, record your decision when you have made one, and use notes to talk to the referrer. Everything you open or do is recorded in the audit trail.",
            ])),
        ],
    };
    html(StatusCode::OK, &page)
}

#[handler]
pub(super) fn privacy_page(state: Data<&AppState>) -> Response {
    let days = state.config.retention.as_secs() / 86_400;
    let page = InfoPage {
        nav: None,
        heading: "Privacy notice",
        sections: vec![
            ("What we hold", vec![
                "Referrals made under the duty to refer (section 213B of the Housing Act 1996): the person's name, date of birth and contact details, their housing situation, risks, health needs they agreed to share, their household, and who referred them. Health information is special category data.".to_owned(),
                "For officers: your e-mail address, your council, when you signed in, and what you opened and did.".to_owned(),
            ]),
            ("Why", vec![
                "To pass the referral to the council the person chose, so it can help them (a public task under the Housing Act 1996), and to keep a record that proves what happened to it.".to_owned(),
                "A referral may be made without the person's consent only to safeguard a child or an adult at risk; the referral says so, with the reason.".to_owned(),
            ]),
            ("How long", vec![
                format!("A referral's personal details are erased {days} days after it was acknowledged, withdrawn or could not be delivered, or sooner if the person withdraws consent or asks. What stays is its history without personal details: when it was sent, delivered and acted on, and by whom."),
            ]),
            ("Your rights", vec![
                "You can ask to see, correct or erase what we hold about you. Ask the council or the body that referred you; they will ask us.".to_owned(),
            ]),
        ],
    };
    html(StatusCode::OK, &page)
}

#[handler]
pub(super) fn accessibility_page() -> Response {
    let page = InfoPage {
        nav: None,
        heading: "Accessibility statement",
        sections: vec![
            ("", owned(&[
                "This inbox is built to meet the Web Content Accessibility Guidelines (WCAG) 2.2 at level AA. It uses the GOV.UK Design System, works without JavaScript, can be used with a keyboard alone, and reflows to a 320 pixel wide screen without scrolling sideways.",
            ])),
            ("How we test it", owned(&[
                "Every page is checked with axe-core in Chromium at 320 and 1280 pixels wide, with a keyboard-only journey from the e-mail to acknowledging a referral, before each release.",
            ])),
            ("Known problems", owned(&[
                "None are known. If you find one, tell your council's housing options manager, who will tell us.",
            ])),
        ],
    };
    html(StatusCode::OK, &page)
}
