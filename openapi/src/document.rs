//! The referral document as the OpenAPI spec shows it (docs/contract.md §4), and [`RawReferral`], the request
//! body type that *presents* this schema in the spec but hands the untouched JSON to the domain
//! parser — so a referral with five problems gets five errors, not the first one.

use poem::{FromRequest, Request, RequestBody};
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use poem_openapi::Object;
use std::borrow::Cow;

/// The person referred.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct PersonDoc {
    /// Given name; 1–100 characters after trimming.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub given_name: String,
    /// Family name; 1–100 characters after trimming.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub family_name: String,
    /// Date of birth, `YYYY-MM-DD`. Under 16 is refused; 16 or 17 is accepted with a warning.
    pub date_of_birth: Option<String>,
    /// How the housing authority can contact the person: at least one way.
    pub contact: ContactDoc,
}

/// At least one of `email`, `phone`, `address`, or `via_referrer: true`.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct ContactDoc {
    /// E-mail address.
    pub email: Option<String>,
    /// UK national number (`020 7946 0018`) or international E.164 (`+33142685300`); normalized to E.164.
    pub phone: Option<String>,
    /// Postal address.
    pub address: Option<AddressDoc>,
    /// `true`: no phone, e-mail or address — contact the person through the referrer.
    pub via_referrer: Option<bool>,
}

/// A UK postal address.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct AddressDoc {
    /// First line; required.
    #[oai(validator(max_length = 100))]
    pub line1: String,
    /// Second line.
    #[oai(validator(max_length = 100))]
    pub line2: Option<String>,
    /// Town.
    #[oai(validator(max_length = 100))]
    pub town: Option<String>,
    /// UK postcode; normalized to upper case with one space (`SW1A 1AA`).
    pub postcode: String,
}

/// The two consents of s.213B(2), or the safeguarding override that stands in for them.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct ConsentDoc {
    /// Consent to being referred.
    pub referral: bool,
    /// Consent to the contact details going to the authority.
    pub share_contact_details: bool,
    /// RFC 3339 instant when consent was given or the override decided; more than 5 minutes in the
    /// future is an error, more than 30 days ago a warning.
    pub recorded_at: String,
    /// Required when either consent is `false`; also allows an authority the person did not choose.
    pub safeguarding_override: Option<SafeguardingOverrideDoc>,
}

/// A referral without (full) consent, to safeguard a child or an adult at risk (Working Together 2023).
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct SafeguardingOverrideDoc {
    /// Whom the concern is for.
    pub concern_for: String,
    /// Why the referral is made without consent; 20–4000 characters.
    #[oai(validator(min_length = 20, max_length = 4000))]
    pub reason: String,
    /// The manager who authorised the override.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub authorised_by: String,
    /// Reference to the local safeguarding procedure followed.
    #[oai(validator(max_length = 200))]
    pub local_procedure: Option<String>,
}

/// The housing authority in England the person chose.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct HousingAuthorityDoc {
    /// ONS GSS code (E06, E07, E08 or E09); see `GET /v1/authorities`.
    pub gss_code: String,
    /// Whether the person chose this authority; `false` needs a safeguarding override.
    pub chosen_by_person: bool,
}

/// A notice seeking possession (s.175(5)).
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct PossessionNoticeDoc {
    /// Which notice.
    pub kind: String,
    /// `YYYY-MM-DD` the notice expires / possession may be sought.
    pub expires_on: String,
}

/// The housing situation and the agreed reason for the referral.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct HousingSituationDoc {
    /// Homeless or threatened.
    pub reason: String,
    /// `YYYY-MM-DD`; required iff threatened, from today to today + 56 (UK date) unless a possession
    /// notice expiring in that window is given.
    pub likely_homeless_on: Option<String>,
    /// A possession notice, if one was served.
    pub possession_notice: Option<PossessionNoticeDoc>,
    /// Risk of rough sleeping.
    pub rough_sleeping: String,
    /// The agreed reason for the referral; 10–4000 characters.
    #[oai(validator(min_length = 10, max_length = 4000))]
    pub summary: String,
}

/// Risk information; each at most 4000 characters.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct RiskDoc {
    /// Risk to the person.
    #[oai(validator(max_length = 4000))]
    pub to_self: Option<String>,
    /// Risk to others.
    #[oai(validator(max_length = 4000))]
    pub to_others: Option<String>,
    /// Risk to staff.
    #[oai(validator(max_length = 4000))]
    pub to_staff: Option<String>,
}

/// Key medical information (special category data).
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct MedicalDoc {
    /// At most 4000 characters.
    #[oai(validator(max_length = 4000))]
    pub key_information: Option<String>,
}

/// Household make-up.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct HouseholdDoc {
    /// Adults, 0–50.
    #[oai(validator(minimum(value = "0"), maximum(value = "50")))]
    pub adults: Option<u32>,
    /// Children, 0–50.
    #[oai(validator(minimum(value = "0"), maximum(value = "50")))]
    pub children: Option<u32>,
    /// Whether anyone in the household is pregnant.
    pub pregnant: Option<bool>,
}

/// The practitioner making the referral (the organisation comes from the API key).
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct ReferrerDoc {
    /// Name; required.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub name: String,
    /// E-mail; required.
    pub email: String,
    /// Telephone.
    pub phone: Option<String>,
    /// Team.
    #[oai(validator(max_length = 100))]
    pub team: Option<String>,
}

/// A s.213B duty-to-refer referral. Unknown members are refused (`field.unknown`).
#[derive(Debug, Clone, Object)]
#[oai(rename = "Referral", deny_unknown_fields)]
pub struct ReferralDocument {
    /// The person.
    pub person: PersonDoc,
    /// Consents or override.
    pub consent: ConsentDoc,
    /// The chosen housing authority.
    pub housing_authority: HousingAuthorityDoc,
    /// The housing situation.
    pub housing_situation: HousingSituationDoc,
    /// Risk information.
    pub risk: Option<RiskDoc>,
    /// Key medical information.
    pub medical: Option<MedicalDoc>,
    /// Household.
    pub household: Option<HouseholdDoc>,
    /// The referring practitioner.
    pub referrer: ReferrerDoc,
    /// The referrer's own case id, at most 100 characters.
    #[oai(validator(max_length = 100))]
    pub case_reference: Option<String>,
}

/// A request body shown in the spec as a [`ReferralDocument`] but parsed only as "a JSON object":
/// every rule is checked by `domain`, which reports all problems at once.
#[derive(Debug, Clone, PartialEq)]
pub struct RawReferral(pub serde_json::Value);

impl Type for RawReferral {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        ReferralDocument::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        ReferralDocument::schema_ref()
    }

    fn register(registry: &mut Registry) {
        ReferralDocument::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl ParseFromJSON for RawReferral {
    fn parse_from_json(value: Option<serde_json::Value>) -> ParseResult<Self> {
        match value {
            Some(v @ serde_json::Value::Object(_)) => Ok(RawReferral(v)),
            _ => Err(ParseError::custom(
                "expected a JSON object (a referral document)",
            )),
        }
    }
}

/// A request body shown in the spec as a `T` but handed over as the raw document read by the
/// domain's reader, so that a member given twice (`field.duplicate`) and every other problem are
/// reported together, and nesting is limited before any rule runs. Used where the rules need more
/// than the body: a referral (every legal rule at once), an outcome (the addressed authority).
pub struct RawBody<T>(
    pub domain::JsonDocument,
    std::marker::PhantomData<fn() -> T>,
);

/// The request body of `POST /v1/referrals` and `POST /v1/referrals/validate`.
pub type ReferralBody = RawBody<ReferralDocument>;

impl<T: Type> Payload for RawBody<T> {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(content_type: &str) -> bool {
        crate::is_json_content_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Type + Send> ParsePayload for RawBody<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let bytes = Vec::<u8>::from_request(request, body).await?;
        let document = domain::JsonDocument::parse(&bytes).map_err(|e| match e {
            domain::JsonError::TooDeep => crate::Problem::malformed_body(format!(
                "The request body is nested more than {} levels deep.",
                domain::MAX_DEPTH
            )),
            domain::JsonError::Syntax { .. } => {
                crate::Problem::malformed_body(format!("The request body is {e}."))
            }
        })?;
        if !document.value().is_object() {
            return Err(crate::Problem::malformed_body(
                "The request body must be a JSON object.",
            ));
        }
        Ok(RawBody(document, std::marker::PhantomData))
    }
}

use poem_openapi::impl_apirequest_for_payload;
impl_apirequest_for_payload!(RawBody<T>, T: Type + Send);

impl ToJSON for RawReferral {
    fn to_json(&self) -> Option<serde_json::Value> {
        Some(self.0.clone())
    }
}

/// A JSON request body read with the domain's reader (the one that reads referrals): the schema in
/// the spec is `T`'s, and every fault — malformed JSON, a member given twice, an unknown or missing
/// member, a wrong type, a value outside its set or its length — is answered as problem+json with
/// a `urn:dtr:problem:*` type and `errors[]`, each with a pointer and a stable code. No answer
/// quotes the submitted value.
pub trait ReadBody: Type + Sized {
    /// The problem type name of a refused body (`urn:dtr:problem:<PROBLEM>`).
    const PROBLEM: crate::ProblemType;
    /// The members the object may have; others are `field.unknown`.
    const MEMBERS: &'static [&'static str];
    /// Reads the object, recording every fault in `f`.
    fn read(body: &domain::reader::Obj<'_>, f: &mut domain::Findings) -> Option<Self>;
}

/// A request body of type `T`, read by [`ReadBody::read`].
#[derive(Debug, Clone, PartialEq)]
pub struct JsonBody<T>(pub T);

impl<T: ReadBody> Payload for JsonBody<T> {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(content_type: &str) -> bool {
        crate::is_json_content_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: ReadBody + Send> ParsePayload for JsonBody<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let RawBody(document, _) = RawBody::<T>::from_request(request, body).await?;
        let mut f = domain::Findings::default();
        for pointer in document.duplicates() {
            f.add(
                pointer,
                domain::Code::FieldDuplicate,
                "This member is given more than once in its object; send it once.",
            );
        }
        match read_into::<T>(document.value(), f) {
            Ok(value) => Ok(JsonBody(value)),
            Err(errors) => Err(crate::Problem::refused_body(
                T::PROBLEM,
                errors.iter().map(Into::into).collect(),
            )),
        }
    }
}

/// Reads `value` as a `T` with the rules every request body of that type is read with (the web
/// inbox's forms are read this way too), or every problem found.
pub fn read_body<T: ReadBody>(value: &serde_json::Value) -> Result<T, Vec<domain::Issue>> {
    read_into(value, domain::Findings::default())
}

fn read_into<T: ReadBody>(
    value: &serde_json::Value,
    mut f: domain::Findings,
) -> Result<T, Vec<domain::Issue>> {
    let read = domain::reader::open(Some(value), "", true, T::MEMBERS, &mut f)
        .and_then(|obj| T::read(&obj, &mut f));
    match read {
        Some(value) if f.errors.is_empty() => Ok(value),
        _ => Err(f.errors),
    }
}

impl_apirequest_for_payload!(JsonBody<T>, T: ReadBody + Send);
