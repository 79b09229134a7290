//! The OpenAPI spec as served at `/openapi.json` and `/openapi.yaml` and printed by `dtr openapi`:
//! poem-openapi's output, completed with what its derive macros cannot say.

use super::Api;
use poem_openapi::OpenApiService;

const DESCRIPTION: &str = include_str!("api_description.md");

/// The API description with the lists of error and warning codes taken from the domain's one list.
fn description() -> String {
    let list = |warning: bool| {
        domain::Code::ALL
            .iter()
            .filter(|c| c.is_warning() == warning)
            .map(|c| format!("`{}`", c.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    DESCRIPTION
        .replace("{error_codes}", &list(false))
        .replace("{warning_codes}", &list(true))
}

/// The OpenAPI service (also the source of `dtr openapi`).
pub fn openapi_service() -> OpenApiService<Api, ()> {
    OpenApiService::new(
        super::api(),
        "Duty to refer (s.213B Housing Act 1996)",
        env!("CARGO_PKG_VERSION"),
    )
    .description(description())
}

/// Request objects that refuse unknown members (`deny_unknown_fields`); poem-openapi does not write
/// that into the spec, so it is added here for clients and fuzzers.
const CLOSED_OBJECTS: &[&str] = &[
    "Referral",
    "PersonDoc",
    "ContactDoc",
    "AddressDoc",
    "ConsentDoc",
    "SafeguardingOverrideDoc",
    "HousingAuthorityDoc",
    "HousingSituationDoc",
    "PossessionNoticeDoc",
    "RiskDoc",
    "MedicalDoc",
    "HouseholdDoc",
    "ReferrerDoc",
    "EndpointRequest",
    "ApiKeyRequest",
    "AcknowledgeRequest",
];

/// String formats the request objects use (the types are plain strings so the domain can report
/// every problem itself).
const FORMATS: &[(&str, &str, &str)] = &[
    ("PersonDoc", "date_of_birth", "date"),
    ("ConsentDoc", "recorded_at", "date-time"),
    ("HousingSituationDoc", "likely_homeless_on", "date"),
    ("PossessionNoticeDoc", "expires_on", "date"),
    ("ContactDoc", "email", "email"),
    ("ReferrerDoc", "email", "email"),
    ("EndpointRequest", "url", "uri"),
];

/// The spec as a JSON value, completed with what the derive macros cannot say.
pub fn spec_value() -> serde_json::Value {
    let mut spec: serde_json::Value =
        serde_json::from_str(&openapi_service().spec()).unwrap_or_default();
    if let Some(schemas) = spec
        .pointer_mut("/components/schemas")
        .and_then(|v| v.as_object_mut())
    {
        for name in CLOSED_OBJECTS {
            if let Some(schema) = schemas.get_mut(*name).and_then(|v| v.as_object_mut()) {
                schema.insert(
                    "additionalProperties".to_owned(),
                    serde_json::Value::Bool(false),
                );
            }
        }
        for (name, property, format) in FORMATS {
            if let Some(p) = schemas
                .get_mut(*name)
                .and_then(|s| s.pointer_mut(&format!("/properties/{property}")))
                .and_then(|v| v.as_object_mut())
            {
                p.insert("format".to_owned(), serde_json::Value::from(*format));
            }
        }
    }
    spec
}

/// The spec as served at `/openapi.json` and printed by `dtr openapi`.
pub fn spec_json() -> String {
    serde_json::to_string_pretty(&spec_value()).unwrap_or_default()
}

/// The spec as served at `/openapi.yaml`.
pub fn spec_yaml() -> String {
    serde_yaml::to_string(&spec_value()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_objects_are_closed_and_dates_have_formats_in_the_spec() {
        let spec = spec_value();
        assert_eq!(
            spec.pointer("/components/schemas/Referral/additionalProperties"),
            Some(&serde_json::Value::Bool(false))
        );
        assert_eq!(
            spec.pointer(
                "/components/schemas/HousingSituationDoc/properties/likely_homeless_on/format"
            )
            .and_then(|v| v.as_str()),
            Some("date")
        );
    }
}
