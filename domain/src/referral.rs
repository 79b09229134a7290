//! The referral document (docs/contract.md §4) and its one parser. A `Referral` can only be made by
//! [`Referral::parse`], so holding one proves every rule below was met.

use crate::calendar::{self, age_on};
use crate::contact::{EmailAddress, PhoneNumber, Postcode};
use crate::issue::{Code, Findings, Issue};
use crate::json::JsonDocument;
use crate::reader::{self, Obj};
use crate::register::{register, HousingAuthority};
use crate::situation::HousingSituation;
use crate::text::{FreeText, ShortText};
use crate::{consent, situation, AgencyType, AsOf, Consent};
use jiff::civil::Date;
use serde::Serialize;

/// Postal address: `line1` and `postcode` required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Address {
    line1: ShortText,
    #[serde(skip_serializing_if = "Option::is_none")]
    line2: Option<ShortText>,
    #[serde(skip_serializing_if = "Option::is_none")]
    town: Option<ShortText>,
    postcode: Postcode,
}

/// How the authority can contact the person; at least one way is always present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Contact {
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<EmailAddress>,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone: Option<PhoneNumber>,
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<Address>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    via_referrer: bool,
}

/// The person referred.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Person {
    given_name: ShortText,
    family_name: ShortText,
    #[serde(skip_serializing_if = "Option::is_none")]
    date_of_birth: Option<Date>,
    contact: Contact,
}

/// The housing authority the referral goes to, by its *current* code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthorityChoice {
    #[serde(skip)]
    authority: &'static HousingAuthority,
    gss_code: &'static str,
    chosen_by_person: bool,
}

impl AuthorityChoice {
    /// The authority from the register.
    pub fn authority(&self) -> &'static HousingAuthority {
        self.authority
    }
}

/// Risk information (Code of Guidance 4.10): to the person, to others, to staff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Risk {
    #[serde(skip_serializing_if = "Option::is_none")]
    to_self: Option<FreeText>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to_others: Option<FreeText>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to_staff: Option<FreeText>,
}

/// Key medical information: special category data (UK GDPR art. 9).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Medical {
    key_information: FreeText,
}

/// Household make-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Household {
    #[serde(skip_serializing_if = "Option::is_none")]
    adults: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    children: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pregnant: Option<bool>,
}

/// The practitioner who referred.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Referrer {
    name: ShortText,
    email: EmailAddress,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone: Option<PhoneNumber>,
    #[serde(skip_serializing_if = "Option::is_none")]
    team: Option<ShortText>,
}

/// A valid s.213B referral in normalized form: names trimmed, phone numbers E.164, postcodes
/// upper case with one space, the authority's current code. Serializing it gives the `normalized`
/// document of docs/contract.md §5, which validates again unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Referral {
    person: Person,
    consent: Consent,
    housing_authority: AuthorityChoice,
    housing_situation: HousingSituation,
    #[serde(skip_serializing_if = "Option::is_none")]
    risk: Option<Risk>,
    #[serde(skip_serializing_if = "Option::is_none")]
    medical: Option<Medical>,
    #[serde(skip_serializing_if = "Option::is_none")]
    household: Option<Household>,
    referrer: Referrer,
    #[serde(skip_serializing_if = "Option::is_none")]
    case_reference: Option<ShortText>,
}

/// A referral that passed, with the warnings the authority should see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The valid referral.
    pub referral: Referral,
    /// Warnings (docs/contract.md §5), possibly none.
    pub warnings: Vec<Issue>,
}

/// A referral that failed: every error at once, and the warnings found on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// At least one error.
    pub errors: Vec<Issue>,
    /// Warnings found while checking.
    pub warnings: Vec<Issue>,
}

const TOP_MEMBERS: &[&str] = &[
    "person",
    "consent",
    "housing_authority",
    "housing_situation",
    "risk",
    "medical",
    "household",
    "referrer",
    "case_reference",
];

impl Referral {
    /// Checks a raw JSON document against every rule of docs/contract.md §4–§5 in one pass, as of `as_of`
    /// (the instant of the referral and its UK date).
    pub fn parse(document: &serde_json::Value, as_of: &AsOf) -> Result<Accepted, Refused> {
        Self::judge(document, &[], as_of)
    }

    /// [`Referral::parse`] of a document read from JSON text, which also refuses every member
    /// given twice in one object (`field.duplicate`): the API and `dtr validate` both read referrals
    /// this way.
    pub fn parse_document(document: &JsonDocument, as_of: &AsOf) -> Result<Accepted, Refused> {
        Self::judge(document.value(), document.duplicates(), as_of)
    }

    fn judge(
        document: &serde_json::Value,
        duplicates: &[String],
        as_of: &AsOf,
    ) -> Result<Accepted, Refused> {
        let mut f = Findings::default();
        for pointer in duplicates {
            // RFC 7493 §2.3: names within an object must be unique. Which of two values a parser
            // keeps is not ours to decide for a consent or a date.
            f.add(
                pointer,
                Code::FieldDuplicate,
                "This member is given more than once in its object; send it once.",
            );
        }
        let referral = reader::open(Some(document), "", true, TOP_MEMBERS, &mut f)
            .and_then(|doc| read_referral(&doc, as_of, &mut f));
        match referral {
            Some(referral) if f.errors.is_empty() => Ok(Accepted {
                referral,
                warnings: f.warnings,
            }),
            _ => {
                if f.errors.is_empty() {
                    // Every path that yields no referral records why; this keeps the promise even if
                    // a future rule forgets to.
                    f.add(
                        "",
                        Code::FieldInvalidValue,
                        "The referral could not be read.",
                    );
                }
                Err(Refused {
                    errors: f.errors,
                    warnings: f.warnings,
                })
            }
        }
    }

    /// The chosen housing authority.
    pub fn housing_authority(&self) -> &'static HousingAuthority {
        self.housing_authority.authority
    }

    /// The consents or the override.
    pub fn consent(&self) -> &Consent {
        &self.consent
    }

    /// The housing situation.
    pub fn housing_situation(&self) -> &HousingSituation {
        &self.housing_situation
    }

    /// The normalized document as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

fn read_referral(doc: &Obj<'_>, as_of: &AsOf, f: &mut Findings) -> Option<Referral> {
    let (person, date_of_birth) = read_person(doc, as_of, f);
    let consent = consent::read(doc, as_of, date_of_birth, &own_contact_details(doc), f);
    let (housing_authority, chosen_by_person) = read_authority(doc, consent.override_given, f);
    if consent.both_given && consent.override_given && chosen_by_person == Some(true) {
        // The override changes nothing: both consents were given and the person chose the
        // authority. (When they did not choose it, the override is what waives
        // housing_authority.not_chosen, so it was needed.)
        f.add(
            &consent.override_pointer,
            Code::ConsentOverrideUnnecessary,
            "The person gave both consents and chose the authority, so no safeguarding override was needed; it is kept with the referral.",
        );
    }
    let housing_situation = situation::read(doc, as_of, f);
    let risk = doc
        .form("risk", &["to_self", "to_others", "to_staff"], f)
        .and_then(|r| {
            let risk = Risk {
                to_self: r.optional("to_self", f, FreeText::parse),
                to_others: r.optional("to_others", f, FreeText::parse),
                to_staff: r.optional("to_staff", f, FreeText::parse),
            };
            (risk.to_self.is_some() || risk.to_others.is_some() || risk.to_staff.is_some())
                .then_some(risk)
        });
    let medical = doc
        .form("medical", &["key_information"], f)
        .and_then(|m| m.optional("key_information", f, FreeText::parse))
        .map(|key_information| Medical { key_information });
    let household = doc
        .form("household", &["adults", "children", "pregnant"], f)
        .map(|h| Household {
            adults: h.count("adults", false, 0, 50, f),
            children: h.count("children", false, 0, 50, f),
            pregnant: h.boolean("pregnant", false, f),
        });
    let referrer = read_referrer(doc, f);
    if let (Some(authoriser), Some(referrer)) = (&consent.authorised_by, &referrer) {
        if same_person(authoriser.as_str(), referrer.name.as_str()) {
            // Working Together 2023: the decision to share without consent is a manager's, made
            // under the local procedure; one made by the practitioner alone should be checked.
            f.add(
                &consent.authorised_by_pointer,
                Code::ConsentOverrideSelfAuthorised,
                "The override was authorised by the referrer themself: a safeguarding override is normally authorised by a manager under the local procedure.",
            );
        }
    }
    let case_reference = doc.optional("case_reference", f, ShortText::parse);
    // "No override was needed" is advice about a referral that can go: beside errors that refuse
    // it, it only distracts (the errors may be why an override will be needed).
    if !f.errors.is_empty() {
        f.warnings
            .retain(|w| w.code != Code::ConsentOverrideUnnecessary);
    }
    Some(Referral {
        person: person?,
        consent: consent.consent?,
        housing_authority: housing_authority?,
        housing_situation: housing_situation?,
        risk,
        medical,
        household,
        referrer: referrer?,
        case_reference,
    })
}

/// Whether two names are the same person's, ignoring case and spacing.
fn same_person(a: &str, b: &str) -> bool {
    // A role in brackets after the name ("Pat Smith (Team Manager)") does not make another person.
    let without_role = |s: &str| -> String {
        match (s.find('('), s.trim_end().ends_with(')')) {
            (Some(open), true) if open > 0 => s[..open].to_owned(),
            _ => s.to_owned(),
        }
    };
    let folded = |s: &str| -> String {
        without_role(s)
            .chars()
            .filter(|c| !c.is_whitespace() && !crate::text::is_invisible(*c))
            .flat_map(char::to_lowercase)
            .collect()
    };
    folded(a) == folded(b)
}

/// The person, and their date of birth when it was read (other rules compare dates with it).
fn read_person(doc: &Obj<'_>, as_of: &AsOf, f: &mut Findings) -> (Option<Person>, Option<Date>) {
    let Some(p) = doc.object(
        "person",
        true,
        &["given_name", "family_name", "date_of_birth", "contact"],
        f,
    ) else {
        return (None, None);
    };
    let given_name = p.parse("given_name", true, f, ShortText::parse);
    let family_name = p.parse("family_name", true, f, ShortText::parse);
    let date_of_birth = p.optional("date_of_birth", f, calendar::parse_date);
    let mut dob_ok = true;
    if let Some(born) = date_of_birth {
        let pointer = p.at("date_of_birth");
        let age = age_on(born, as_of.today);
        if born > as_of.today {
            f.add(
                &pointer,
                Code::PersonDateOfBirthInFuture,
                "The date of birth is after today.",
            );
            dob_ok = false;
        } else if age < 16 {
            // docs/rules.md §5: a child under 16 without accommodation is a children's services matter.
            f.add(
                &pointer,
                Code::PersonUnder16,
                under_16_message(as_of.referrer_agency),
            );
            dob_ok = false;
        } else if age < 18 {
            // docs/rules.md §5: 16- and 17-year-olds need a joint assessment with children's services.
            f.add(
                &pointer,
                Code::PersonAged16Or17,
                "The person is 16 or 17: the housing authority and children's services must assess jointly.",
            );
        } else if age > 125 {
            f.add(
                &pointer,
                Code::FieldInvalidValue,
                "The date of birth is implausibly long ago.",
            );
            dob_ok = false;
        }
    }
    let contact = read_contact(&p, f);
    let person = (|| {
        Some(Person {
            given_name: given_name?,
            family_name: family_name?,
            date_of_birth: if dob_ok { date_of_birth } else { return None },
            contact: contact?,
        })
    })();
    // A date of birth in the future has its own error; other dates are not compared with it.
    (person, date_of_birth.filter(|born| *born <= as_of.today))
}

/// A phone number member: optional (`""` is not given), and warned about when its range is not
/// listed as allocated.
fn read_phone(o: &Obj<'_>, f: &mut Findings) -> Option<PhoneNumber> {
    let phone = o.optional("phone", f, PhoneNumber::parse)?;
    if !phone.in_allocated_range() {
        f.add(
            &o.at("phone"),
            Code::PhoneUnrecognisedRange,
            "The number has a valid shape but is in a range not listed as allocated (such as Ofcom's drama ranges): check it before relying on it.",
        );
    }
    Some(phone)
}

/// The message of `person.under_16`, which speaks to the referrer's own duty when the referrer
/// is children's services (docs/rules.md §5): for them the child is theirs to assess and, if need
/// be, accommodate under s.20 Children Act 1989; for anyone else, children's services are whom to
/// tell.
fn under_16_message(agency: Option<AgencyType>) -> &'static str {
    match agency {
        Some(AgencyType::ChildrensSocialCare) => {
            "The person is under 16: this is not a housing referral. As children's services, assess them as a child in need: your duty to accommodate them is under section 20 of the Children Act 1989."
        }
        _ => {
            "The person is under 16: this is not a housing referral. Refer them to children's services, whose duty to accommodate a child in need is under section 20 of the Children Act 1989."
        }
    }
}

const ADDRESS_MEMBERS: &[&str] = &["line1", "line2", "town", "postcode"];

/// How criminal-justice and health systems record that a person has no address ("no fixed abode",
/// "NFA"): an address that says only this is no address.
fn is_no_fixed_abode(raw: &str) -> bool {
    let words: String = crate::text::trim(raw)
        .chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace())
        .collect::<String>()
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    matches!(
        words.as_str(),
        "nfa" | "no fixed abode" | "no fixed address" | "n f a"
    )
}

/// Whether an address form gives no address: blank throughout, or saying only "No fixed abode" /
/// "NFA" (in `line1` or `postcode`, every other member blank or saying the same). A form with a
/// member an address does not have is read as usual, so that member is reported.
fn address_says_nothing(v: &serde_json::Value) -> bool {
    use crate::reader::is_blank_value;
    let serde_json::Value::Object(map) = v else {
        return is_blank_value(v);
    };
    if !map.keys().all(|k| ADDRESS_MEMBERS.contains(&k.as_str())) {
        return false;
    }
    let said = |k: &str| {
        map.get(k)
            .and_then(serde_json::Value::as_str)
            .is_some_and(is_no_fixed_abode)
    };
    map.values().all(is_blank_value)
        || ((said("line1") || said("postcode"))
            && ADDRESS_MEMBERS
                .iter()
                .all(|k| said(k) || map.get(*k).is_none_or(is_blank_value)))
}

/// The pointers of the person's own contact details that are given (an e-mail address, a phone
/// number, an address), whether or not they are well formed: sharing them is what
/// `share_contact_details` is about.
fn own_contact_details(doc: &Obj<'_>) -> Vec<String> {
    let Some(serde_json::Value::Object(contact)) = doc.get("person").and_then(|p| p.get("contact"))
    else {
        return vec![];
    };
    ["email", "phone", "address"]
        .into_iter()
        .filter(|k| match contact.get(*k) {
            None => false,
            Some(v) if *k == "address" => !address_says_nothing(v),
            Some(v) => !crate::reader::is_blank_value(v),
        })
        .map(|k| format!("/person/contact/{k}"))
        .collect()
}

fn read_contact(p: &Obj<'_>, f: &mut Findings) -> Option<Contact> {
    let c = p.object(
        "contact",
        true,
        &["email", "phone", "address", "via_referrer"],
        f,
    )?;
    let email = c.optional("email", f, EmailAddress::parse);
    let phone = read_phone(&c, f);
    let no_address = c.get("address").is_none_or(address_says_nothing);
    let address = (!no_address)
        .then(|| c.object("address", false, ADDRESS_MEMBERS, f))
        .flatten()
        .and_then(|a| {
            let line1 = a.parse("line1", true, f, ShortText::parse);
            let line2 = a.optional("line2", f, ShortText::parse);
            let town = a.optional("town", f, ShortText::parse);
            let postcode = a.parse("postcode", true, f, Postcode::parse);
            if postcode.as_ref().is_some_and(Postcode::is_forces_post) {
                f.add(
                    &a.at("postcode"),
                    Code::PostcodeBfpo,
                    "A BF1 postcode is a British Forces Post Office address: post reaches the person through the forces' mail, possibly abroad, and it says nothing about where they will live. Refer to the authority the person chose; a member or former member of the regular forces may have a local connection where they served (s.199(2)-(3)).",
                );
            }
            Some(Address {
                line1: line1?,
                line2,
                town,
                postcode: postcode?,
            })
        });
    let via_referrer = c.boolean("via_referrer", false, f);
    // s.213B(2)(b): the authority must be told how to contact the person. A way that was given but
    // is malformed has its own error; contact.none is for when no way was given at all.
    let given = c.given("email") || c.given("phone") || !no_address || via_referrer == Some(true);
    if !given {
        f.add(
            c.pointer(),
            Code::ContactNone,
            "Give at least one way to contact the person: email, phone, address, or via_referrer: true.",
        );
        return None;
    }
    Some(Contact {
        email,
        phone,
        address,
        via_referrer: via_referrer.unwrap_or(false),
    })
}

/// The chosen authority, and whether the person chose it (when that was read).
fn read_authority(
    doc: &Obj<'_>,
    override_given: bool,
    f: &mut Findings,
) -> (Option<AuthorityChoice>, Option<bool>) {
    let Some(h) = doc.object(
        "housing_authority",
        true,
        &["gss_code", "chosen_by_person"],
        f,
    ) else {
        return (None, None);
    };
    let resolution = h.parse("gss_code", true, f, |raw| register().resolve(raw));
    if let Some(former) = resolution.as_ref().and_then(|r| r.former_code.as_ref()) {
        let authority = resolution.as_ref().map(|r| r.authority);
        if let Some(a) = authority {
            f.add(
                &h.at("gss_code"),
                Code::HousingAuthorityCodeChanged,
                format!(
                    "{former} is {}'s former code; the referral uses its current code {}.",
                    a.name, a.gss_code
                ),
            );
        }
    }
    let chosen = h.boolean("chosen_by_person", true, f);
    // s.213B(2): the person identifies the authority; only a safeguarding override can stand in.
    if chosen == Some(false) && !override_given {
        f.add(
            &h.at("chosen_by_person"),
            Code::HousingAuthorityNotChosen,
            "The person must choose the housing authority (s.213B(2)); without their choice a referral needs a safeguarding override.",
        );
        return (None, chosen);
    }
    let choice = (|| {
        let authority = resolution?.authority;
        Some(AuthorityChoice {
            authority,
            gss_code: &authority.gss_code,
            chosen_by_person: chosen?,
        })
    })();
    (choice, chosen)
}

fn read_referrer(doc: &Obj<'_>, f: &mut Findings) -> Option<Referrer> {
    let r = doc.object("referrer", true, &["name", "email", "phone", "team"], f)?;
    let name = r.parse("name", true, f, ShortText::parse);
    let email = r.parse("email", true, f, EmailAddress::parse);
    let phone = read_phone(&r, f);
    let team = r.optional("team", f, ShortText::parse);
    Some(Referrer {
        name: name?,
        email: email?,
        phone,
        team,
    })
}

#[cfg(test)]
#[path = "referral_tests.rs"]
mod tests;
