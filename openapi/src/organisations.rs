//! Organisations whose practitioners refer on the web (docs/contract.md §14): what an admin sends
//! and reads. The rules of a body are read here, once, by the same reader as referrals, so every
//! fault is answered with a pointer and a stable code.

use domain::reader::Obj;
use domain::{Code, Findings};
use poem_openapi::Object;
use serde_json::Value;

/// The most e-mail domains and agency types one organisation lists.
pub const MAX_LISTED: usize = 50;

/// A new organisation of practitioners.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct OrganisationRequest {
    /// The organisation's name (1–100 characters): the `organisation` of its referrals.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub name: String,
    /// The agency types (`AgencyType` values) its practitioners may refer as; 1–50, distinct.
    pub agency_types: Vec<String>,
    /// The e-mail domains its staff use (`nhs.net`, `justice.gov.uk`); an address on one of them
    /// may sign in without being added first. 0–50, lower-cased, distinct.
    pub email_domains: Vec<String>,
}

/// A change to an organisation: the members given replace the stored ones.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct OrganisationPatch {
    /// The new name (1–100 characters). Referrals already made keep the old one.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub name: Option<String>,
    /// The new agency types; 1–50, distinct.
    pub agency_types: Option<Vec<String>>,
    /// The new e-mail domains; 0–50, distinct.
    pub email_domains: Option<Vec<String>>,
}

/// An organisation of practitioners.
#[derive(Debug, Clone, Object)]
pub struct OrganisationView {
    /// `org_` and 32 hex digits.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The agency types its practitioners may refer as.
    pub agency_types: Vec<String>,
    /// The e-mail domains its staff use.
    pub email_domains: Vec<String>,
    /// When it was added (RFC 3339).
    pub created_at: String,
    /// When it last changed (RFC 3339).
    pub updated_at: String,
}

/// Organisations, oldest first.
#[derive(Debug, Clone, Object)]
pub struct OrganisationList {
    /// Oldest first.
    pub items: Vec<OrganisationView>,
}

/// A practitioner of an organisation.
#[derive(Debug, Clone, Object)]
pub struct PractitionerView {
    /// `prt_` and 32 hex digits: the `practitioner_id` of their audit events.
    pub id: String,
    /// Their organisation.
    pub organisation_id: String,
    /// Their address, lower-cased.
    pub email: String,
    /// Added by an admin (`true`) or signed in from a listed domain (`false`).
    pub added_individually: bool,
    /// The agency type they refer as, once chosen.
    #[oai(nullable)]
    pub agency_type: Option<String>,
}

/// An organisation's practitioners, oldest first.
#[derive(Debug, Clone, Object)]
pub struct PractitionerList {
    /// Oldest first.
    pub items: Vec<PractitionerView>,
}

/// An organisation as read: every member checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganisationFields {
    /// The name, trimmed.
    pub name: Option<String>,
    /// Agency types, distinct, in the order given.
    pub agency_types: Option<Vec<domain::AgencyType>>,
    /// E-mail domains, lower-cased, distinct, in the order given.
    pub email_domains: Option<Vec<String>>,
}

impl OrganisationFields {
    /// Reads the members of an organisation body; `required` for a new one.
    pub fn read(body: &Obj<'_>, required: bool, f: &mut Findings) -> Option<Self> {
        let name = body
            .parse("name", required, f, domain::ShortText::parse)
            .map(|n| n.as_str().to_owned());
        let agency_types = list(body, "agency_types", required, 1, f, |raw| {
            raw.parse::<domain::AgencyType>().ok()
        });
        let email_domains = list(body, "email_domains", required, 0, f, email_domain);
        Some(OrganisationFields {
            name,
            agency_types,
            email_domains,
        })
    }
}

/// An e-mail domain as stored: lower-case letters, digits and hyphens in dot-separated labels, at
/// least two labels, at most 253 characters (RFC 1035); a leading `@` is tolerated.
pub fn email_domain(raw: &str) -> Option<String> {
    let d = raw.trim().trim_start_matches('@').to_ascii_lowercase();
    let labels: Vec<&str> = d.split('.').collect();
    let ok = d.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    ok.then_some(d)
}

/// A member that is an array of distinct strings, each parsed by `parse`.
fn list<T: PartialEq>(
    body: &Obj<'_>,
    key: &str,
    required: bool,
    min: usize,
    f: &mut Findings,
    parse: impl Fn(&str) -> Option<T>,
) -> Option<Vec<T>> {
    let at = body.at(key);
    let value = match body.get(key) {
        None | Some(Value::Null) => {
            if required {
                f.add(&at, Code::FieldRequired, format!("`{key}` is required."));
            }
            return None;
        }
        Some(v) => v,
    };
    let Some(items) = value.as_array() else {
        f.add(
            &at,
            Code::FieldType,
            format!("`{key}` must be an array of strings."),
        );
        return None;
    };
    if items.len() < min {
        f.add(
            &at,
            Code::FieldTooShort,
            format!("`{key}` must list at least {min}."),
        );
        return None;
    }
    if items.len() > MAX_LISTED {
        f.add(
            &at,
            Code::FieldTooLong,
            format!("`{key}` may list at most {MAX_LISTED}."),
        );
        return None;
    }
    let mut out = Vec::with_capacity(items.len());
    let mut bad = false;
    for (i, item) in items.iter().enumerate() {
        let here = format!("{at}/{i}");
        match item.as_str() {
            None => {
                f.add(&here, Code::FieldType, "Must be a string.");
                bad = true;
            }
            Some(raw) => match parse(raw) {
                None => {
                    f.add(
                        &here,
                        Code::FieldInvalidValue,
                        format!("Not a valid member of `{key}`."),
                    );
                    bad = true;
                }
                Some(v) if out.contains(&v) => {
                    f.add(
                        &here,
                        Code::FieldDuplicate,
                        format!("Listed twice in `{key}`."),
                    );
                    bad = true;
                }
                Some(v) => out.push(v),
            },
        }
    }
    (!bad).then_some(out)
}

impl crate::ReadBody for OrganisationRequest {
    const PROBLEM: crate::ProblemType = crate::ProblemType::OrganisationInvalid;
    const MEMBERS: &'static [&'static str] = &["name", "agency_types", "email_domains"];

    fn read(body: &Obj<'_>, f: &mut Findings) -> Option<Self> {
        let fields = OrganisationFields::read(body, true, f)?;
        Some(OrganisationRequest {
            name: fields.name?,
            agency_types: fields
                .agency_types?
                .iter()
                .map(|a| a.as_str().to_owned())
                .collect(),
            email_domains: fields.email_domains?,
        })
    }
}

impl crate::ReadBody for OrganisationPatch {
    const PROBLEM: crate::ProblemType = crate::ProblemType::OrganisationInvalid;
    const MEMBERS: &'static [&'static str] = &["name", "agency_types", "email_domains"];

    fn read(body: &Obj<'_>, f: &mut Findings) -> Option<Self> {
        let before = f.errors.len();
        let fields = OrganisationFields::read(body, false, f)?;
        if f.errors.len() > before {
            return None;
        }
        Some(OrganisationPatch {
            name: fields.name,
            agency_types: fields
                .agency_types
                .map(|l| l.iter().map(|a| a.as_str().to_owned()).collect()),
            email_domains: fields.email_domains,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_email_domain_is_lower_case_labels() {
        assert_eq!(email_domain("NHS.net"), Some("nhs.net".to_owned()));
        assert_eq!(
            email_domain("@justice.gov.uk"),
            Some("justice.gov.uk".to_owned())
        );
        for bad in ["", "localhost", "a..b", "-a.uk", "a b.uk", "a.uk/x", "ä.uk"] {
            assert_eq!(email_domain(bad), None, "{bad:?}");
        }
    }
}
