//! The question pages (the GOV.UK "question pages" pattern), check your answers and submitting.
//! Each page writes its answers into the practitioner's draft — a referral document — and the
//! whole document is judged by `domain`, as `POST /v1/referrals/validate` judges it; a page shows
//! the findings whose pointers fall among its questions, in plain English at their field.

use super::*;
use domain::{AsOf, Code, Vocabulary};
use serde_json::{json, Value};

/// What kind of answer a question takes.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    /// One line of text.
    Text {
        input: &'static str,
        autocomplete: &'static str,
        width: &'static str,
    },
    /// Several lines.
    Area,
    /// A date in three boxes.
    Date,
    /// When consent was given: a date (today's is now; an earlier one noon in London).
    ConsentDate,
    /// Yes or no.
    YesNo,
    /// One of a vocabulary's values.
    Choice(fn() -> Vec<(&'static str, &'static str)>),
    /// A whole number.
    Count,
    /// A box to tick.
    Tick,
    /// A housing authority, found by name.
    Authority,
}

/// One question: where its answer goes in the document, and its words.
pub(super) struct Q {
    pub pointer: &'static str,
    pub label: &'static str,
    pub hint: &'static str,
    /// A heading printed before the question (grouping the questions of one page).
    pub section: &'static str,
    pub kind: Kind,
}

/// One question page.
pub(super) struct PageDef {
    pub slug: &'static str,
    pub heading: &'static str,
    pub intro: &'static str,
    pub questions: &'static [Q],
    /// The document's parts whose findings this page shows.
    pub covers: &'static [&'static str],
}

const fn text(
    pointer: &'static str,
    label: &'static str,
    hint: &'static str,
    autocomplete: &'static str,
) -> Q {
    Q {
        pointer,
        label,
        hint,
        section: "",
        kind: Kind::Text {
            input: "text",
            autocomplete,
            width: "",
        },
    }
}

fn labelled<V: Vocabulary>() -> Vec<(&'static str, &'static str)> {
    V::TERMS.iter().map(|(t, v)| (*t, v.label())).collect()
}

fn notice_kinds() -> Vec<(&'static str, &'static str)> {
    let mut v = vec![("", "No notice, or I do not know")];
    v.extend(labelled::<domain::NoticeKind>());
    v
}

const NO_AUTOCOMPLETE: &str = "off";
const WORK_AUTOCOMPLETE: &str = "";

/// The journey's pages, in order.
pub(super) const PAGES: &[PageDef] = &[
    PageDef {
        slug: "person",
        heading: "Who are you referring?",
        intro: "",
        questions: &[
            text("/person/given_name", "Given name", "", NO_AUTOCOMPLETE),
            text("/person/family_name", "Family name", "", NO_AUTOCOMPLETE),
            Q {
                pointer: "/person/date_of_birth",
                label: "Date of birth (optional)",
                hint: "For example, 27 3 1990",
                section: "",
                kind: Kind::Date,
            },
            text(
                "/case_reference",
                "Your reference for them (optional)",
                "Your own case or record number, so the council can quote it to you",
                NO_AUTOCOMPLETE,
            ),
        ],
        covers: &["/person/given_name", "/person/family_name", "/person/date_of_birth", "/case_reference"],
    },
    PageDef {
        slug: "contact",
        heading: "How can the council contact them?",
        intro: "Give at least one way, or tick the box if the council should contact them through you.",
        questions: &[
            Q {
                pointer: "/person/contact/via_referrer",
                label: "Contact them through me",
                hint: "For example, they have no phone or address, or it is not safe to contact them directly",
                section: "",
                kind: Kind::Tick,
            },
            Q {
                pointer: "/person/contact/phone",
                label: "Phone number",
                hint: "A UK number, or an international one starting with +",
                section: "",
                kind: Kind::Text { input: "tel", autocomplete: NO_AUTOCOMPLETE, width: "govuk-input--width-20" },
            },
            Q {
                pointer: "/person/contact/email",
                label: "E-mail address",
                hint: "",
                section: "",
                kind: Kind::Text { input: "email", autocomplete: NO_AUTOCOMPLETE, width: "" },
            },
            Q {
                pointer: "/person/contact/address/line1",
                label: "Address line 1",
                hint: "Where they can be reached, if anywhere",
                section: "Address",
                kind: Kind::Text { input: "text", autocomplete: NO_AUTOCOMPLETE, width: "" },
            },
            text("/person/contact/address/line2", "Address line 2 (optional)", "", NO_AUTOCOMPLETE),
            Q {
                pointer: "/person/contact/address/town",
                label: "Town or city (optional)",
                hint: "",
                section: "",
                kind: Kind::Text { input: "text", autocomplete: NO_AUTOCOMPLETE, width: "govuk-!-width-two-thirds" },
            },
            Q {
                pointer: "/person/contact/address/postcode",
                label: "Postcode",
                hint: "",
                section: "",
                kind: Kind::Text { input: "text", autocomplete: NO_AUTOCOMPLETE, width: "govuk-input--width-10" },
            },
        ],
        covers: &["/person/contact"],
    },
    PageDef {
        slug: "consent",
        heading: "Consent",
        intro: "You must have the person's consent to refer them, unless you refer them without it to safeguard a child or an adult at risk.",
        questions: &[
            Q {
                pointer: "/consent/referral",
                label: "Has the person agreed to be referred to the council?",
                hint: "",
                section: "",
                kind: Kind::YesNo,
            },
            Q {
                pointer: "/consent/share_contact_details",
                label: "Has the person agreed to their contact details being shared with the council?",
                hint: "",
                section: "",
                kind: Kind::YesNo,
            },
            Q {
                pointer: "/consent/recorded_at",
                label: "When did they agree, or when was it decided to refer them without consent?",
                hint: "For example, 27 3 2026",
                section: "",
                kind: Kind::ConsentDate,
            },
            Q {
                pointer: "/consent/safeguarding_override/concern_for",
                label: "Who is at risk?",
                hint: "",
                section: "Only if you are referring without consent",
                kind: Kind::Choice(labelled::<domain::ConcernFor>),
            },
            Q {
                pointer: "/consent/safeguarding_override/reason",
                label: "Why are you referring without consent?",
                hint: "At least 20 characters",
                section: "",
                kind: Kind::Area,
            },
            text(
                "/consent/safeguarding_override/authorised_by",
                "Who authorised it?",
                "The manager who authorised referring without consent",
                NO_AUTOCOMPLETE,
            ),
            text(
                "/consent/safeguarding_override/local_procedure",
                "Local safeguarding procedure (optional)",
                "A reference to the procedure you followed",
                NO_AUTOCOMPLETE,
            ),
        ],
        covers: &["/consent"],
    },
    PageDef {
        slug: "situation",
        heading: "Their housing situation",
        intro: "",
        questions: &[
            Q {
                pointer: "/housing_situation/reason",
                label: "Are they homeless now, or threatened with homelessness?",
                hint: "",
                section: "",
                kind: Kind::Choice(labelled::<domain::HousingReason>),
            },
            Q {
                pointer: "/housing_situation/likely_homeless_on",
                label: "If threatened: when are they likely to become homeless?",
                hint: "Within 56 days of today, unless a valid possession notice ends sooner. For example, 27 1 2027",
                section: "",
                kind: Kind::Date,
            },
            Q {
                pointer: "/housing_situation/rough_sleeping",
                label: "Are they sleeping rough?",
                hint: "",
                section: "",
                kind: Kind::Choice(labelled::<domain::RoughSleeping>),
            },
            Q {
                pointer: "/housing_situation/possession_notice/kind",
                label: "Has their landlord served a possession notice?",
                hint: "",
                section: "Possession notice",
                kind: Kind::Choice(notice_kinds),
            },
            Q {
                pointer: "/housing_situation/possession_notice/expires_on",
                label: "When does the notice expire?",
                hint: "For example, 15 1 2027",
                section: "",
                kind: Kind::Date,
            },
            Q {
                pointer: "/housing_situation/summary",
                label: "Why are they homeless or threatened with homelessness?",
                hint: "The reason you agreed with them, in your words (at least 10 characters)",
                section: "Reason",
                kind: Kind::Area,
            },
        ],
        covers: &["/housing_situation"],
    },
    PageDef {
        slug: "authority",
        heading: "Which council did they choose?",
        intro: "The person chooses the housing authority in England they are referred to.",
        questions: &[
            Q {
                pointer: "/housing_authority/gss_code",
                label: "Council",
                hint: "",
                section: "",
                kind: Kind::Authority,
            },
            Q {
                pointer: "/housing_authority/chosen_by_person",
                label: "Did the person choose this council?",
                hint: "",
                section: "",
                kind: Kind::YesNo,
            },
        ],
        covers: &["/housing_authority"],
    },
    PageDef {
        slug: "details",
        heading: "Household, risks and support needs",
        intro: "All optional. Tell the council what will help it help them safely.",
        questions: &[
            Q {
                pointer: "/household/adults",
                label: "Adults in the household",
                hint: "Including the person",
                section: "Household",
                kind: Kind::Count,
            },
            Q {
                pointer: "/household/children",
                label: "Children in the household",
                hint: "",
                section: "",
                kind: Kind::Count,
            },
            Q {
                pointer: "/household/pregnant",
                label: "Is anyone in the household pregnant?",
                hint: "",
                section: "",
                kind: Kind::YesNo,
            },
            Q {
                pointer: "/risk/to_self",
                label: "Risk to themself",
                hint: "",
                section: "Risks",
                kind: Kind::Area,
            },
            Q {
                pointer: "/risk/to_others",
                label: "Risk to others",
                hint: "",
                section: "",
                kind: Kind::Area,
            },
            Q {
                pointer: "/risk/to_staff",
                label: "Risk to staff",
                hint: "Anything a housing officer meeting them should know",
                section: "",
                kind: Kind::Area,
            },
            Q {
                pointer: "/medical/key_information",
                label: "Health and support needs they agreed to share",
                hint: "",
                section: "Support needs",
                kind: Kind::Area,
            },
        ],
        covers: &["/household", "/risk", "/medical"],
    },
];

/// The page "about you": answered once, remembered on the practitioner.
pub(super) const YOU: PageDef = PageDef {
    slug: "you",
    heading: "About you",
    intro: "The council will contact you about the referral. We remember these answers for your next referral.",
    questions: &[
        Q {
            pointer: "/agency_type",
            label: "Which service are you referring from?",
            hint: "",
            section: "",
            kind: Kind::Choice(Vec::new),
        },
        text("/referrer/name", "Your name", "", "name"),
        Q {
            pointer: "/referrer/phone",
            label: "Your phone number",
            hint: "A number the council can reach you on; an extension may follow, like 0113 496 0000 ext 123",
            section: "",
            kind: Kind::Text { input: "tel", autocomplete: "tel", width: "govuk-input--width-20" },
        },
        text("/referrer/team", "Your team (optional)", "", WORK_AUTOCOMPLETE),
    ],
    covers: &["/agency_type", "/referrer"],
};

/// A form field's id and name for a pointer: `/person/given_name` → `person-given_name`.
pub(super) fn field_id(pointer: &str) -> String {
    pointer.trim_start_matches('/').replace('/', "-")
}

/// Whether `pointer` is `part` or inside it.
fn within(pointer: &str, part: &str) -> bool {
    pointer == part || pointer.starts_with(&format!("{part}/"))
}

/// The page and question a finding belongs to: the page covering its pointer, and the question
/// at or under it (a finding about a whole part, like "no contact at all", goes to the part's
/// first question). `None` for what no page asks (the check page lists it).
pub(super) fn place_of(pointer: &str) -> Option<(&'static PageDef, &'static Q)> {
    let pages = || std::iter::once(&YOU).chain(PAGES.iter());
    // The page covering it, or else (a whole part missing, like `/person`) the first page that
    // asks a question inside it.
    let page = pages()
        .find(|p| p.covers.iter().any(|c| within(pointer, c)))
        .or_else(|| pages().find(|p| p.questions.iter().any(|q| within(q.pointer, pointer))))?;
    let q = page
        .questions
        .iter()
        .filter(|q| within(pointer, q.pointer))
        .max_by_key(|q| q.pointer.len())
        .or_else(|| page.questions.iter().find(|q| within(q.pointer, pointer)))
        .or_else(|| page.questions.first())?;
    Some((page, q))
}

/// A finding in plain English for the question it is shown at (the GOV.UK error message
/// patterns); the rule's own sentence where no plainer one is written.
pub(super) fn plain(q: &Q, issue: &domain::Issue) -> String {
    let label = q.label.trim_end_matches(" (optional)");
    let lower = {
        let mut c = label.chars();
        c.next()
            .map(|f| f.to_lowercase().chain(c).collect::<String>())
            .unwrap_or_default()
    };
    let select = matches!(q.kind, Kind::YesNo | Kind::Choice(_) | Kind::Authority);
    match issue.code {
        Code::FieldRequired | Code::FieldTooShort if select => format!("Select an answer: {lower}"),
        Code::FieldRequired if q.pointer == "/person/contact/via_referrer" => {
            "Give a way to contact them, or tick \u{201c}Contact them through me\u{201d}".to_owned()
        }
        Code::FieldRequired => format!("Enter {lower}"),
        Code::FieldTooShort => format!("{label} is too short: {}", issue.message),
        Code::FieldTooLong => format!("{label} is too long: {}", issue.message),
        Code::FieldControlChars => format!("Remove the special characters from {lower}"),
        Code::FieldType if matches!(q.kind, Kind::Count) => {
            format!("{label} must be a whole number, like 2")
        }
        Code::DateInvalid => format!("{label} must be a real date, like 27 3 2026"),
        Code::EmailInvalid => {
            "Enter an e-mail address in the correct format, like name@example.com".to_owned()
        }
        Code::PhoneInvalid => {
            "Enter a UK phone number, like 0113 496 0000, or an international number starting with +"
                .to_owned()
        }
        Code::PostcodeInvalid => "Enter a full UK postcode, like LS1 4AP".to_owned(),
        Code::ContactNone => {
            "Give a way to contact them, or tick \u{201c}Contact them through me\u{201d}".to_owned()
        }
        Code::ConsentOverrideRequired => "The person has not agreed to everything: answer the questions about referring without consent, or check their answers".to_owned(),
        Code::ConsentContactNotShared => "They did not agree to share their contact details: remove them and tick \u{201c}Contact them through me\u{201d}, or record the safeguarding reason".to_owned(),
        Code::ThreatDateRequired => "Enter the date they are likely to become homeless".to_owned(),
        Code::ThreatDateNotAllowed => "Remove the date: they are homeless now".to_owned(),
        Code::ThreatDateInPast => "The date they are likely to become homeless must be today or in the future; if it has passed, they are homeless now".to_owned(),
        Code::ThreatOutside56Days => "The date they are likely to become homeless must be within 56 days of today, unless a valid possession notice expires sooner".to_owned(),
        Code::ThreatAlreadyHomeless => "A person sleeping rough is homeless now: choose \u{201c}Homeless now\u{201d}".to_owned(),
        Code::PersonDateOfBirthInFuture => "Date of birth must be in the past".to_owned(),
        Code::PersonUnder16 => "The duty to refer is for people aged 16 or over: a child under 16 without a home is for children's services, under section 20 of the Children Act 1989".to_owned(),
        Code::HousingAuthorityNotChosen => "The person must choose the council, unless you are referring without consent to safeguard someone".to_owned(),
        Code::HousingAuthorityUnknown
        | Code::HousingAuthorityNotHousingAuthority
        | Code::HousingAuthorityNotInEngland => "Select a housing authority in England from the list".to_owned(),
        _ => issue.message.clone(),
    }
}

/// The findings of a document: its errors and warnings.
pub(super) fn judge(doc: &Value, now: jiff::Timestamp) -> (Vec<domain::Issue>, Vec<domain::Issue>) {
    match domain::Referral::parse(doc, &AsOf::at(now)) {
        Ok(accepted) => (vec![], accepted.warnings),
        Err(refused) => (refused.errors, refused.warnings),
    }
}

// ----- reading and writing answers ----------------------------------------------------------

fn set(doc: &mut Value, pointer: &str, value: Value) {
    let mut at = doc;
    let parts: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        if !at.is_object() {
            *at = json!({});
        }
        let Some(map) = at.as_object_mut() else {
            return;
        };
        if i + 1 == parts.len() {
            map.insert((*part).to_owned(), value);
            return;
        }
        at = map.entry((*part).to_owned()).or_insert_with(|| json!({}));
    }
}

fn remove(doc: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let target = if parent.is_empty() {
        Some(&mut *doc)
    } else {
        doc.pointer_mut(parent)
    };
    if let Some(Value::Object(map)) = target {
        map.remove(last);
        // An emptied part goes too, so a page left blank leaves nothing behind.
        if map.is_empty() && !parent.is_empty() {
            remove(doc, parent);
        }
    }
}

fn date_parts(raw: &str) -> (String, String, String) {
    if let Ok(d) = raw.get(..10).unwrap_or(raw).parse::<jiff::civil::Date>() {
        return (
            d.day().to_string(),
            d.month().to_string(),
            d.year().to_string(),
        );
    }
    let mut it = raw.splitn(3, '/').map(str::to_owned);
    (
        it.next().unwrap_or_default(),
        it.next().unwrap_or_default(),
        it.next().unwrap_or_default(),
    )
}

/// Three boxes' answers as the document's date: `YYYY-MM-DD` when they make one, else what was
/// typed (which the rules refuse as `date.invalid`, and the page shows again as typed).
fn date_value(day: &str, month: &str, year: &str) -> Option<String> {
    let (d, m, y) = (day.trim(), month.trim(), year.trim());
    if d.is_empty() && m.is_empty() && y.is_empty() {
        return None;
    }
    let parsed = (d.parse::<i8>(), m.parse::<i8>(), y.parse::<i16>());
    if let (Ok(d), Ok(m), Ok(y)) = parsed {
        if y >= 1000 {
            if let Ok(date) = jiff::civil::Date::new(y, m, d) {
                return Some(date.to_string());
            }
        }
    }
    Some(format!("{d}/{m}/{y}"))
}

/// When consent was given, as the document's instant: today's date is now (it cannot be in the
/// future); an earlier date is noon in London that day.
fn consent_instant(date: &str, now: jiff::Timestamp) -> String {
    let Ok(d) = date.parse::<jiff::civil::Date>() else {
        return date.to_owned();
    };
    let today = domain::calendar::uk_date(now);
    if d == today {
        return jiff::Timestamp::from_second(now.as_second())
            .unwrap_or(now)
            .to_string();
    }
    jiff::tz::TimeZone::get("Europe/London")
        .ok()
        .and_then(|tz| d.at(12, 0, 0, 0).to_zoned(tz).ok())
        .map_or_else(|| format!("{d}T12:00:00Z"), |z| z.timestamp().to_string())
}

fn consent_date(raw: &str) -> String {
    raw.parse::<jiff::Timestamp>()
        .map(|t| domain::calendar::uk_date(t).to_string())
        .unwrap_or_else(|_| raw.to_owned())
}

/// Writes a page's answers into `doc` from its form (each question's previous answer replaced).
pub(super) fn apply(
    doc: &mut Value,
    page: &PageDef,
    form: &HashMap<String, String>,
    now: jiff::Timestamp,
) {
    for q in page.questions {
        let id = field_id(q.pointer);
        let raw = |suffix: &str| {
            form.get(&format!("{id}{suffix}"))
                .map_or("", |v| v.as_str())
                .to_owned()
        };
        let value: Option<Value> = match q.kind {
            Kind::Text { .. } | Kind::Area => {
                let v = raw("");
                (!v.trim().is_empty()).then(|| json!(v))
            }
            Kind::Date => date_value(&raw("-day"), &raw("-month"), &raw("-year")).map(Value::from),
            Kind::ConsentDate => date_value(&raw("-day"), &raw("-month"), &raw("-year"))
                .map(|d| json!(consent_instant(&d, now))),
            Kind::YesNo => match raw("").as_str() {
                "yes" => Some(json!(true)),
                "no" => Some(json!(false)),
                _ => None,
            },
            // The agency types are the organisation's: the caller checks the answer against them.
            Kind::Choice(_) if q.pointer == "/agency_type" => {
                let v = raw("");
                (!v.is_empty()).then(|| json!(v))
            }
            Kind::Choice(options) => {
                let v = raw("");
                options()
                    .iter()
                    .any(|(term, _)| !term.is_empty() && *term == v)
                    .then(|| json!(v))
            }
            Kind::Authority => {
                let v = raw("");
                domain::register().get(&v).map(|a| json!(a.gss_code))
            }
            Kind::Count => {
                let v = raw("");
                let t = v.trim();
                if t.is_empty() {
                    None
                } else {
                    Some(t.parse::<u32>().map_or_else(|_| json!(t), |n| json!(n)))
                }
            }
            Kind::Tick => (raw("") == "true").then(|| json!(true)),
        };
        remove(doc, q.pointer);
        if let Some(v) = value {
            set(doc, q.pointer, v);
        }
    }
}

// ----- rendering ----------------------------------------------------------------------------

pub(super) struct Choice {
    pub id: String,
    pub value: String,
    pub label: String,
    pub checked: bool,
}

/// A question as the page shows it.
pub(super) struct Field {
    pub kind: &'static str,
    pub id: String,
    pub label: &'static str,
    pub hint: &'static str,
    pub section: &'static str,
    pub value: String,
    pub day: String,
    pub month: String,
    pub year: String,
    pub options: Vec<Choice>,
    pub error: Option<String>,
    pub input_type: &'static str,
    pub autocomplete: &'static str,
    pub width: &'static str,
}

impl Field {
    /// `aria-describedby`: the hint and the error, when there are.
    pub fn describedby(&self) -> String {
        let mut ids = vec![];
        if !self.hint.is_empty() {
            ids.push(format!("{}-hint", self.id));
        }
        if self.error.is_some() {
            ids.push(format!("{}-error", self.id));
        }
        ids.join(" ")
    }
}

/// An error in the summary: where it links and what it says.
pub(super) struct Problem {
    pub href: String,
    pub message: String,
}

fn scalar_text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(true)) => "yes".to_owned(),
        Some(Value::Bool(false)) => "no".to_owned(),
        _ => String::new(),
    }
}

/// The councils a search on the authority question finds — by postcode district when it reads
/// as one (`LS1`, or a whole postcode), else by name (at least two letters, at most 20) — and
/// what to tell the practitioner about the search, if anything: a district outside England,
/// one the table does not know, nothing found.
pub(super) fn find_councils(
    search: &str,
) -> (Vec<&'static domain::HousingAuthority>, Option<String>) {
    let search = search.trim();
    if search.is_empty() {
        return (vec![], None);
    }
    let register = domain::register();
    if let Some(district) = domain::PostcodeDistrict::parse(search) {
        let Some(found) = register.councils_in(&district) else {
            return (
                vec![],
                Some(format!(
                    "We do not know the postcode district {district}. Check it, or find the council by name."
                )),
            );
        };
        let note = match (found.authorities.len(), found.outside_england) {
            (0, _) => Some(format!(
                "{district} is outside England. A referral under the duty to refer goes to a housing authority in England: find the council the person chose by name."
            )),
            (_, true) => Some(format!(
                "Part of {district} is outside England: only the councils in England are listed."
            )),
            (1, false) => None,
            (_, false) => Some(format!(
                "{district} is split between councils: choose the one the person chose."
            )),
        };
        return (found.authorities, note);
    }
    if search.chars().count() < 2 {
        return (
            vec![],
            Some("Enter at least 2 letters of the council's name.".to_owned()),
        );
    }
    let found: Vec<_> = register.search(search).take(20).collect();
    let note = found.is_empty().then(|| {
        "No council in England has that name. Check the spelling, or enter a postcode district such as LS1.".to_owned()
    });
    (found, note)
}

/// The page's fields with the answers of `doc`, the errors of `errors` at their fields, and for
/// the authority question the councils `found` by its search (after the chosen one).
pub(super) fn fields(
    page: &PageDef,
    doc: &Value,
    errors: &[domain::Issue],
    found: &[&domain::HousingAuthority],
    agency_types: &[domain::AgencyType],
) -> (Vec<Field>, Vec<Problem>) {
    let mut problems = vec![];
    let mut out = vec![];
    for q in page.questions {
        let id = field_id(q.pointer);
        let current = scalar_text(doc.pointer(q.pointer));
        let error = errors
            .iter()
            .find(|e| {
                place_of(&e.pointer)
                    .is_some_and(|(p, eq)| p.slug == page.slug && eq.pointer == q.pointer)
            })
            .map(|e| plain(q, e));
        let (kind, input_type, autocomplete, width) = match q.kind {
            Kind::Text {
                input,
                autocomplete,
                width,
            } => ("text", input, autocomplete, width),
            Kind::Area => ("area", "", "", ""),
            Kind::Date | Kind::ConsentDate => ("date", "", "", ""),
            Kind::Count => ("text", "text", "off", "govuk-input--width-3"),
            Kind::Tick => ("tick", "", "", ""),
            Kind::YesNo | Kind::Choice(_) | Kind::Authority => ("radios", "", "", ""),
        };
        let options: Vec<(String, String)> = match q.kind {
            Kind::YesNo => vec![("yes".into(), "Yes".into()), ("no".into(), "No".into())],
            Kind::Choice(_) if q.pointer == "/agency_type" => agency_types
                .iter()
                .map(|a| (a.as_str().to_owned(), a.label().to_owned()))
                .collect(),
            Kind::Choice(list) => list()
                .into_iter()
                .map(|(t, l)| (t.to_owned(), l.to_owned()))
                .collect(),
            Kind::Authority => {
                let mut offered: Vec<(String, String)> = vec![];
                if let Some(a) = domain::register().get(&current) {
                    offered.push((a.gss_code.clone(), a.name.clone()));
                }
                for a in found {
                    if !offered.iter().any(|(c, _)| *c == a.gss_code) {
                        offered.push((a.gss_code.clone(), a.name.clone()));
                    }
                }
                offered
            }
            _ => vec![],
        };
        let options = options
            .into_iter()
            .enumerate()
            .map(|(i, (value, label))| Choice {
                id: if i == 0 {
                    id.clone()
                } else {
                    format!("{id}-{i}")
                },
                checked: value == current
                    || (value.is_empty() && current.is_empty() && q.pointer.ends_with("/kind")),
                value,
                label,
            })
            .collect();
        let shown = if matches!(q.kind, Kind::ConsentDate) {
            consent_date(&current)
        } else {
            current.clone()
        };
        let (day, month, year) = if kind == "date" && !shown.is_empty() {
            date_parts(&shown)
        } else {
            Default::default()
        };
        if let Some(message) = &error {
            let anchor = if kind == "date" {
                format!("{id}-day")
            } else {
                id.clone()
            };
            problems.push(Problem {
                href: format!("#{anchor}"),
                message: message.clone(),
            });
        }
        out.push(Field {
            kind,
            id,
            label: q.label,
            hint: q.hint,
            section: q.section,
            value: current,
            day,
            month,
            year,
            options,
            error,
            input_type,
            autocomplete,
            width,
        });
    }
    (out, problems)
}

#[derive(Template)]
#[template(path = "refer/question.html")]
pub(super) struct QuestionPage {
    pub nav: Option<ReferNav>,
    pub csrf: String,
    pub caption: String,
    pub heading: &'static str,
    pub intro: &'static str,
    pub action: String,
    pub back: String,
    pub problems: Vec<Problem>,
    pub warnings: Vec<String>,
    pub fields: Vec<Field>,
    pub returning: bool,
    pub search: Option<String>,
    /// What the search on the authority question found, when there is something to say.
    pub search_note: Option<String>,
}

fn page_def(slug: &str) -> Option<&'static PageDef> {
    PAGES.iter().find(|p| p.slug == slug)
}

fn next_after(slug: &str) -> String {
    let i = PAGES.iter().position(|p| p.slug == slug).unwrap_or(0);
    PAGES.get(i + 1).map_or_else(
        || "/refer/new/check".to_owned(),
        |p| format!("/refer/new/{}", p.slug),
    )
}

fn back_from(slug: &str) -> String {
    match PAGES.iter().position(|p| p.slug == slug) {
        Some(0) | None => "/refer/you".to_owned(),
        Some(i) => format!("/refer/new/{}", PAGES[i - 1].slug),
    }
}

/// The warnings shown on a page: those at its questions, in plain words.
fn page_warnings(page: &PageDef, warnings: &[domain::Issue]) -> Vec<String> {
    warnings
        .iter()
        .filter(|w| page.covers.iter().any(|c| within(&w.pointer, c)))
        .map(|w| w.message.clone())
        .collect()
}

/// The answers about the practitioner as a document part (for the page "about you").
fn you_doc(s: &Signed) -> Value {
    let p = &s.practitioner;
    let mut doc = json!({});
    for (pointer, v) in [
        ("/agency_type", &p.agency_type),
        ("/referrer/name", &p.name),
        ("/referrer/phone", &p.phone),
        ("/referrer/team", &p.team),
    ] {
        if let Some(v) = v {
            set(&mut doc, pointer, json!(v));
        }
    }
    doc
}

#[allow(clippy::too_many_arguments)]
fn render_question(
    s: &Signed,
    page: &'static PageDef,
    doc: &Value,
    errors: &[domain::Issue],
    warnings: &[domain::Issue],
    search: Option<String>,
    returning: bool,
    status: StatusCode,
) -> Response {
    let (found, search_note) = find_councils(search.as_deref().unwrap_or_default());
    let (fields, problems) = fields(page, doc, errors, &found, &s.organisation.agency_types);
    let (action, back, caption) = if page.slug == "you" {
        (
            "/refer/you".to_owned(),
            "/refer/referrals".to_owned(),
            "Before you start".to_owned(),
        )
    } else {
        let n = PAGES.iter().position(|p| p.slug == page.slug).unwrap_or(0) + 1;
        (
            format!("/refer/new/{}", page.slug),
            if returning {
                "/refer/new/check".to_owned()
            } else {
                back_from(page.slug)
            },
            format!("Question {n} of {}", PAGES.len()),
        )
    };
    html(
        status,
        &QuestionPage {
            nav: s.nav(),
            csrf: s.csrf.clone(),
            caption,
            heading: page.heading,
            intro: page.intro,
            action,
            back,
            problems,
            warnings: page_warnings(page, warnings),
            fields,
            returning,
            search: page
                .questions
                .iter()
                .any(|q| matches!(q.kind, Kind::Authority))
                .then(|| search.unwrap_or_default()),
            search_note,
        },
    )
}

// ----- handlers -----------------------------------------------------------------------------

/// "Make a referral": about you first if it was never answered, else the first question.
#[handler]
pub(super) async fn new_referral(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
) -> Response {
    let s = match signed(req, &state, &limits).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if practitioners::referrer(&s.practitioner, &s.organisation).is_none()
        || s.practitioner.name.is_none()
    {
        return see_other("/refer/you");
    }
    see_other(&format!("/refer/new/{}", PAGES[0].slug))
}

#[handler]
pub(super) async fn you_page(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
) -> Response {
    let s = match signed(req, &state, &limits).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let doc = you_doc(&s);
    render_question(&s, &YOU, &doc, &[], &[], None, false, StatusCode::OK)
}

#[handler]
pub(super) async fn you_form(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let s = match signed_form(req, &state, &limits, form.get("csrf").map(String::as_str)).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let mut doc = json!({});
    apply(&mut doc, &YOU, &form, state.clock.now());
    let text_at = |p: &str| doc.pointer(p).and_then(Value::as_str).map(str::to_owned);
    let agency = text_at("/agency_type")
        .filter(|a| s.organisation.agency_types.iter().any(|t| t.as_str() == a));
    // The referrer block is judged by the same rules as a referral's: a document with it alone
    // yields its findings at /referrer.
    let mut probe = json!({ "referrer": doc.get("referrer").cloned().unwrap_or(json!({})) });
    probe["referrer"]["email"] = json!(s.practitioner.email);
    let (mut errors, _) = judge(&probe, state.clock.now());
    errors.retain(|e| within(&e.pointer, "/referrer"));
    if agency.is_none() {
        errors.insert(
            0,
            domain::Issue {
                pointer: "/agency_type".to_owned(),
                code: Code::FieldRequired,
                message: String::new(),
            },
        );
    }
    if !errors.is_empty() {
        return render_question(
            &s,
            &YOU,
            &doc,
            &errors,
            &[],
            None,
            false,
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    let profile = practitioners::Profile {
        agency_type: agency,
        name: text_at("/referrer/name"),
        phone: text_at("/referrer/phone"),
        team: text_at("/referrer/team"),
    };
    if let Err(e) = practitioners::set_profile(&state.db, &s.practitioner.id, profile).await {
        return internal_error_in(Surface::Refer, &e);
    }
    see_other(&format!("/refer/new/{}", PAGES[0].slug))
}

#[handler]
pub(super) async fn question_page(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
    Path(slug): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(page) = page_def(&slug) else {
        return not_found_in(Surface::Refer);
    };
    let s = match signed(req, &state, &limits).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let answers = match practitioners::draft(&state.db, &s.practitioner.id).await {
        Ok(d) => d.map_or_else(|| json!({}), |(_, a)| a),
        Err(e) => return internal_error_in(Surface::Refer, &e),
    };
    // Warnings are shown before submitting: a page already answered shows its own.
    let answered = page
        .questions
        .iter()
        .any(|q| answers.pointer(q.pointer).is_some());
    let warnings = if answered {
        judge(
            &practitioners::document(&s.practitioner, &answers),
            state.clock.now(),
        )
        .1
    } else {
        vec![]
    };
    render_question(
        &s,
        page,
        &answers,
        &[],
        &warnings,
        q.get("q").cloned(),
        q.contains_key("return"),
        StatusCode::OK,
    )
}

#[handler]
pub(super) async fn question_form(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
    Path(slug): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let Some(page) = page_def(&slug) else {
        return not_found_in(Surface::Refer);
    };
    let s = match signed_form(req, &state, &limits, form.get("csrf").map(String::as_str)).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let now = state.clock.now();
    let mut answers = match practitioners::draft(&state.db, &s.practitioner.id).await {
        Ok(d) => d.map_or_else(|| json!({}), |(_, a)| a),
        Err(e) => return internal_error_in(Surface::Refer, &e),
    };
    apply(&mut answers, page, &form, now);
    // The answers are kept even when they break a rule: the practitioner fixes them here.
    if let Err(e) = practitioners::save_draft(
        &state.db,
        &s.practitioner.id,
        &answers,
        now.as_millisecond(),
    )
    .await
    {
        return internal_error_in(Surface::Refer, &e);
    }
    let returning = form.contains_key("return");
    let (errors, warnings) = judge(&practitioners::document(&s.practitioner, &answers), now);
    let mine: Vec<domain::Issue> = errors
        .into_iter()
        .filter(|e| place_of(&e.pointer).is_some_and(|(p, _)| p.slug == page.slug))
        // A question not answered yet is asked for only where it is required on this page; an
        // answer the practitioner has not reached (a later page's) is not an error here.
        .collect();
    let search_asked = form.contains_key("find");
    if !mine.is_empty() || search_asked {
        let status = if search_asked {
            StatusCode::OK
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        let errors = if search_asked { vec![] } else { mine };
        return render_question(
            &s,
            page,
            &answers,
            &errors,
            &warnings,
            form.get("q").cloned(),
            returning,
            status,
        );
    }
    if returning {
        return see_other("/refer/new/check");
    }
    see_other(&next_after(page.slug))
}

/// One answer on the check page.
pub(super) struct CheckRow {
    pub label: &'static str,
    pub value: String,
    pub change: String,
}

/// One page's answers on the check page.
pub(super) struct CheckSection {
    pub heading: &'static str,
    pub rows: Vec<CheckRow>,
}

#[derive(Template)]
#[template(path = "refer/check.html")]
pub(super) struct CheckPage {
    pub nav: Option<ReferNav>,
    pub csrf: String,
    pub draft_id: String,
    pub problems: Vec<Problem>,
    pub warnings: Vec<String>,
    pub sections: Vec<CheckSection>,
    pub can_send: bool,
}

fn answer_words(q: &Q, doc: &Value, today: jiff::civil::Date) -> String {
    let Some(v) = doc.pointer(q.pointer) else {
        return "Not given".to_owned();
    };
    let key = q.pointer.rsplit('/').next().unwrap_or_default();
    match (q.kind, v) {
        (Kind::Tick, Value::Bool(true)) => "Yes".to_owned(),
        (Kind::YesNo, Value::Bool(b)) => if *b { "Yes" } else { "No" }.to_owned(),
        (Kind::Authority, Value::String(code)) => domain::register()
            .get(code)
            .map_or_else(|| code.clone(), |a| a.name.clone()),
        (Kind::Choice(list), Value::String(t)) => list()
            .into_iter()
            .find(|(term, _)| term == t)
            .map_or_else(|| t.clone(), |(_, l)| l.to_owned()),
        _ => value_words(key, v, today).unwrap_or_else(|| scalar_text(Some(v))),
    }
}

async fn render_check(
    state: &AppState,
    s: &Signed,
    draft: Option<(String, Value)>,
    status: StatusCode,
) -> Response {
    let Some((draft_id, answers)) = draft else {
        return see_other("/refer/new");
    };
    let now = state.clock.now();
    let today = domain::calendar::uk_date(now);
    let (errors, warnings) = judge(&practitioners::document(&s.practitioner, &answers), now);
    let problems = errors
        .iter()
        .map(|e| match place_of(&e.pointer) {
            Some((page, q)) => {
                let id = field_id(q.pointer);
                let anchor = if matches!(q.kind, Kind::Date | Kind::ConsentDate) {
                    format!("{id}-day")
                } else {
                    id
                };
                let base = if page.slug == "you" {
                    "/refer/you".to_owned()
                } else {
                    format!("/refer/new/{}?return=1", page.slug)
                };
                Problem {
                    href: format!("{base}#{anchor}"),
                    message: plain(q, e),
                }
            }
            None => Problem {
                href: "#answers".to_owned(),
                message: e.message.clone(),
            },
        })
        .collect();
    let mut sections = vec![CheckSection {
        heading: "About you",
        rows: vec![
            CheckRow {
                label: "Service",
                value: s
                    .practitioner
                    .agency_type
                    .as_deref()
                    .and_then(|a| a.parse::<domain::AgencyType>().ok())
                    .map_or_else(|| "Not given".to_owned(), |a| a.label().to_owned()),
                change: "/refer/you".to_owned(),
            },
            CheckRow {
                label: "Your name",
                value: s
                    .practitioner
                    .name
                    .clone()
                    .unwrap_or_else(|| "Not given".to_owned()),
                change: "/refer/you".to_owned(),
            },
        ],
    }];
    for page in PAGES {
        let rows = page
            .questions
            .iter()
            .filter(|q| answers.pointer(q.pointer).is_some() || !q.label.ends_with("(optional)"))
            .map(|q| CheckRow {
                label: q.label,
                value: answer_words(q, &answers, today),
                change: format!("/refer/new/{}?return=1#{}", page.slug, field_id(q.pointer)),
            })
            .collect();
        sections.push(CheckSection {
            heading: page.heading,
            rows,
        });
    }
    html(
        status,
        &CheckPage {
            nav: s.nav(),
            csrf: s.csrf.clone(),
            draft_id,
            can_send: errors.is_empty(),
            problems,
            warnings: warnings.iter().map(|w| w.message.clone()).collect(),
            sections,
        },
    )
}

#[handler]
pub(super) async fn check_page(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
) -> Response {
    let s = match signed(req, &state, &limits).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match practitioners::draft(&state.db, &s.practitioner.id).await {
        Ok(d) => render_check(&state, &s, d, StatusCode::OK).await,
        Err(e) => internal_error_in(Surface::Refer, &e),
    }
}

#[handler]
pub(super) async fn submit_form(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let s = match signed_form(req, &state, &limits, form.get("csrf").map(String::as_str)).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let draft_id = form.get("draft").cloned().unwrap_or_default();
    let submitted = practitioners::submit_draft(
        &state.db,
        &state.writer,
        &s.practitioner,
        &s.organisation,
        &draft_id,
        state.clock.now(),
    )
    .await;
    match submitted {
        Ok(done) => {
            state.wake_worker();
            let row = done.row();
            tracing::info!(referral_id = %row.id, practitioner_id = %s.practitioner.id, "referral made on the web");
            see_other(&format!("/refer/referrals/{}?sent=1", row.id))
        }
        Err(practitioners::DraftError::NoDraft) => see_other("/refer/referrals"),
        Err(practitioners::DraftError::NoAgencyType) => see_other("/refer/you"),
        Err(practitioners::DraftError::Submit(crate::referrals::submit::SubmitError::Invalid(
            _,
        ))) => match practitioners::draft(&state.db, &s.practitioner.id).await {
            Ok(d) => render_check(&state, &s, d, StatusCode::UNPROCESSABLE_ENTITY).await,
            Err(e) => internal_error_in(Surface::Refer, &e),
        },
        Err(e) => internal_error_in(Surface::Refer, &e),
    }
}

#[handler]
pub(super) async fn discard_form(
    req: &Request,
    state: Data<&AppState>,
    limits: Data<&Arc<InboxLimits>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let s = match signed_form(req, &state, &limits, form.get("csrf").map(String::as_str)).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match practitioners::discard_draft(&state.db, &s.practitioner.id, state.clock.now_ms()).await {
        Ok(()) => see_other("/refer/referrals"),
        Err(e) => internal_error_in(Surface::Refer, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2026-12-04T10:00:00Z";

    fn now() -> jiff::Timestamp {
        NOW.parse().expect("instant")
    }

    /// A referral a practitioner could send: every page answered, nothing wrong.
    fn answered() -> Value {
        json!({
            "person": {
                "given_name": "Sam", "family_name": "Example", "date_of_birth": "1985-03-14",
                "contact": { "phone": "07911 123456" }
            },
            "consent": { "referral": true, "share_contact_details": true,
                         "recorded_at": "2026-12-04T09:00:00Z" },
            "housing_authority": { "gss_code": "E08000035", "chosen_by_person": true },
            "housing_situation": { "reason": "threatened_with_homelessness",
                                   "likely_homeless_on": "2027-01-10", "rough_sleeping": "no",
                                   "summary": "Tenancy ends; nowhere else to go." },
            "referrer": { "name": "Pat", "email": "pat@probation.example.gov.uk" }
        })
    }

    fn with(changes: &[(&str, Option<Value>)]) -> Value {
        let mut doc = answered();
        for (pointer, value) in changes {
            remove(&mut doc, pointer);
            if let Some(v) = value {
                set(&mut doc, pointer, v.clone());
            }
        }
        doc
    }

    #[test]
    fn the_answered_referral_has_no_errors() {
        let (errors, _) = judge(&answered(), now());
        assert_eq!(errors, vec![]);
    }

    /// Every finding a person can cause through the pages, made by answering them so, reaches a
    /// page and the question on it that caused it (with a plain message, not the API's).
    #[test]
    fn every_code_a_person_can_cause_is_shown_at_its_page_and_field() {
        let s = |v: &str| Some(json!(v));
        let cases: Vec<(Code, Value, &str, &str)> = vec![
            (
                Code::FieldRequired,
                with(&[("/person/given_name", None)]),
                "person",
                "/person/given_name",
            ),
            (
                Code::FieldTooLong,
                with(&[("/person/family_name", s(&"x".repeat(101)))]),
                "person",
                "/person/family_name",
            ),
            (
                Code::FieldControlChars,
                with(&[("/person/family_name", s("Ex\u{7}ample"))]),
                "person",
                "/person/family_name",
            ),
            (
                Code::DateInvalid,
                with(&[("/person/date_of_birth", s("31/2/1990"))]),
                "person",
                "/person/date_of_birth",
            ),
            (
                Code::PersonDateOfBirthInFuture,
                with(&[("/person/date_of_birth", s("2027-01-01"))]),
                "person",
                "/person/date_of_birth",
            ),
            (
                Code::PersonUnder16,
                with(&[("/person/date_of_birth", s("2010-12-05"))]),
                "person",
                "/person/date_of_birth",
            ),
            (
                Code::PersonAged16Or17,
                with(&[("/person/date_of_birth", s("2010-12-04"))]),
                "person",
                "/person/date_of_birth",
            ),
            (
                Code::PhoneInvalid,
                with(&[("/person/contact/phone", s("12345"))]),
                "contact",
                "/person/contact/phone",
            ),
            (
                Code::EmailInvalid,
                with(&[("/person/contact/email", s("not-an-address"))]),
                "contact",
                "/person/contact/email",
            ),
            (
                Code::PostcodeInvalid,
                with(&[
                    ("/person/contact/address/line1", s("1 Road")),
                    ("/person/contact/address/postcode", s("NOPE")),
                ]),
                "contact",
                "/person/contact/address/postcode",
            ),
            (
                Code::ContactNone,
                with(&[
                    ("/person/contact/phone", None),
                    ("/person/contact/via_referrer", Some(json!(false))),
                ]),
                "contact",
                "/person/contact/via_referrer",
            ),
            (
                Code::FieldRequired,
                with(&[("/person/contact/phone", None)]),
                "contact",
                "/person/contact/via_referrer",
            ),
            (
                Code::ConsentOverrideRequired,
                with(&[("/consent/referral", Some(json!(false)))]),
                "consent",
                "/consent/safeguarding_override/concern_for",
            ),
            (
                Code::ConsentOverrideIncomplete,
                with(&[
                    ("/consent/referral", Some(json!(false))),
                    (
                        "/consent/safeguarding_override/concern_for",
                        s("adult_at_risk"),
                    ),
                ]),
                "consent",
                "/consent/safeguarding_override/reason",
            ),
            (
                Code::ConsentRecordedInFuture,
                with(&[("/consent/recorded_at", s("2026-12-05T12:00:00Z"))]),
                "consent",
                "/consent/recorded_at",
            ),
            (
                Code::ConsentContactNotShared,
                with(&[("/consent/share_contact_details", Some(json!(false)))]),
                "contact",
                "/person/contact/phone",
            ),
            (
                Code::ConsentStale,
                with(&[("/consent/recorded_at", s("2026-10-01T12:00:00Z"))]),
                "consent",
                "/consent/recorded_at",
            ),
            (
                Code::HousingAuthorityNotChosen,
                with(&[("/housing_authority/chosen_by_person", Some(json!(false)))]),
                "authority",
                "/housing_authority/chosen_by_person",
            ),
            (
                Code::ThreatDateRequired,
                with(&[("/housing_situation/likely_homeless_on", None)]),
                "situation",
                "/housing_situation/likely_homeless_on",
            ),
            (
                Code::ThreatDateNotAllowed,
                with(&[("/housing_situation/reason", s("homeless"))]),
                "situation",
                "/housing_situation/likely_homeless_on",
            ),
            (
                Code::ThreatDateInPast,
                with(&[("/housing_situation/likely_homeless_on", s("2026-12-03"))]),
                "situation",
                "/housing_situation/likely_homeless_on",
            ),
            (
                Code::ThreatOutside56Days,
                with(&[("/housing_situation/likely_homeless_on", s("2027-01-30"))]),
                "situation",
                "/housing_situation/likely_homeless_on",
            ),
            (
                Code::ThreatAlreadyHomeless,
                with(&[("/housing_situation/rough_sleeping", s("sleeping_rough"))]),
                "situation",
                "/housing_situation/reason",
            ),
            (
                Code::RoughSleepingImminent,
                with(&[("/housing_situation/rough_sleeping", s("imminent"))]),
                "situation",
                "/housing_situation/rough_sleeping",
            ),
            (
                Code::FieldTooShort,
                with(&[("/housing_situation/summary", s("short"))]),
                "situation",
                "/housing_situation/summary",
            ),
            (
                Code::FieldType,
                with(&[("/household/adults", s("two"))]),
                "details",
                "/household/adults",
            ),
            (
                Code::FieldInvalidValue,
                with(&[("/household/children", Some(json!(51)))]),
                "details",
                "/household/children",
            ),
            (
                Code::FieldRequired,
                with(&[("/referrer/name", None)]),
                "you",
                "/referrer/name",
            ),
            (
                Code::PhoneInvalid,
                with(&[("/referrer/phone", s("0113"))]),
                "you",
                "/referrer/phone",
            ),
        ];
        for (code, doc, page, question) in cases {
            let (errors, warnings) = judge(&doc, now());
            let found = errors
                .iter()
                .chain(&warnings)
                .find(|i| i.code == code)
                .unwrap_or_else(|| panic!("{code:?} not produced: {errors:?} {warnings:?}"));
            let (p, q) = place_of(&found.pointer)
                .unwrap_or_else(|| panic!("{code:?} at {} has no page", found.pointer));
            assert_eq!(
                (p.slug, q.pointer),
                (page, question),
                "{code:?} at {}",
                found.pointer
            );
            if !code.is_warning() {
                let message = plain(q, found);
                assert!(
                    !message.contains('`') && !message.contains('/'),
                    "{code:?}: {message}"
                );
            }
        }
    }

    #[test]
    fn the_56_day_boundary_is_the_rules_on_the_situation_page() {
        let judge_on = |date: &str| {
            let doc = with(&[("/housing_situation/likely_homeless_on", Some(json!(date)))]);
            judge(&doc, now())
                .0
                .iter()
                .map(|e| e.code)
                .collect::<Vec<_>>()
        };
        // 4 December + 56 days = 29 January: in; the 30th: out.
        assert_eq!(judge_on("2027-01-29"), vec![]);
        assert_eq!(judge_on("2027-01-30"), vec![Code::ThreatOutside56Days]);
    }

    #[test]
    fn a_page_s_answers_replace_its_questions_and_blank_ones_leave_nothing() {
        let mut doc = answered();
        let form: HashMap<String, String> = [
            ("person-contact-via_referrer", "true"),
            ("person-contact-phone", ""),
            ("person-contact-address-line1", " "),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let contact = PAGES.iter().find(|p| p.slug == "contact").expect("page");
        apply(&mut doc, contact, &form, now());
        assert_eq!(doc["person"]["contact"], json!({ "via_referrer": true }));
        assert_eq!(judge(&doc, now()).0, vec![]);
    }

    #[test]
    fn dates_are_three_boxes_and_what_was_typed_comes_back() {
        assert_eq!(date_value("5", "1", "2027").as_deref(), Some("2027-01-05"));
        assert_eq!(date_value("31", "2", "2027").as_deref(), Some("31/2/2027"));
        assert_eq!(date_value("", " ", ""), None);
        assert_eq!(
            date_parts("2027-01-05"),
            ("5".into(), "1".into(), "2027".into())
        );
        assert_eq!(
            date_parts("31/2/2027"),
            ("31".into(), "2".into(), "2027".into())
        );
        // Consent given today is now; an earlier day is noon in London (GMT in December).
        assert_eq!(consent_instant("2026-12-04", now()), "2026-12-04T10:00:00Z");
        assert_eq!(consent_instant("2026-12-01", now()), "2026-12-01T12:00:00Z");
    }

    #[test]
    fn form_ids_follow_pointers() {
        assert_eq!(field_id("/person/contact/phone"), "person-contact-phone");
        assert!(place_of("/unknown_member").is_none());
        let (page, q) = place_of("/person").expect("a whole part missing");
        assert_eq!((page.slug, q.pointer), ("person", "/person/given_name"));
        assert_eq!(
            page_of_form("/refer/referrals/x/notes"),
            "/refer/referrals/x"
        );
        assert_eq!(page_of_form("/refer/new/person"), "/refer/new/person");
        assert_eq!(page_of_form("/refer/elsewhere"), "/refer/referrals");
    }
}
