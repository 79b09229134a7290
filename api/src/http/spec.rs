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

/// Request objects that refuse unknown members; poem-openapi does not write that into the spec, so
/// it is added here for clients and fuzzers.
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
    "OutcomeRequest",
    "OtherAuthorityDoc",
    "WithdrawRequest",
    "EraseRequest",
    "EmailRequest",
    "NoteRequest",
];

/// String formats (the request types are plain strings so the domain can report every problem
/// itself; the answers' instants and ids are written by this service).
const FORMATS: &[(&str, &str, &str)] = &[
    ("PersonDoc", "date_of_birth", "date"),
    ("ConsentDoc", "recorded_at", "date-time"),
    ("HousingSituationDoc", "likely_homeless_on", "date"),
    ("PossessionNoticeDoc", "expires_on", "date"),
    ("ContactDoc", "email", "email"),
    ("ReferrerDoc", "email", "email"),
    ("EndpointRequest", "url", "uri"),
    ("EndpointCreated", "url", "uri"),
    ("ReferralResource", "id", "uuid"),
    ("ReferralResource", "submitted_at", "date-time"),
    ("Delivery", "last_attempt_at", "date-time"),
    ("Delivery", "next_attempt_at", "date-time"),
    ("Delivery", "delivered_at", "date-time"),
    ("Acknowledgement", "acknowledged_at", "date-time"),
    ("ApiKeyCreated", "id", "uuid"),
    ("AuditEvent", "at", "date-time"),
    ("AuditEvent", "referral_id", "uuid"),
    ("Actor", "key_id", "uuid"),
    ("ReferralCreatedEvent", "id", "uuid"),
    ("ReferralCreatedEvent", "submitted_at", "date-time"),
    ("ReferralWithdrawnEvent", "id", "uuid"),
    ("ReferralNoteAddedEvent", "id", "uuid"),
    ("ReferralNoteAddedEvent", "note_id", "uuid"),
    ("ReferralErasedEvent", "id", "uuid"),
    ("ReferralResource", "erased_at", "date-time"),
    ("OutcomeView", "recorded_at", "date-time"),
    ("WithdrawalView", "withdrawn_at", "date-time"),
    ("NoteView", "id", "uuid"),
    ("NoteView", "at", "date-time"),
    ("FeedEvent", "at", "date-time"),
    ("FeedEvent", "referral_id", "uuid"),
    ("ApiKeyView", "id", "uuid"),
    ("ApiKeyView", "created_at", "date-time"),
    ("ApiKeyView", "last_used_at", "date-time"),
    ("ApiKeyView", "revoked_at", "date-time"),
    ("AuditCheckpoint", "at", "date-time"),
    ("EmailRequest", "email", "email"),
    ("NotifyView", "email", "email"),
    ("OfficerView", "email", "email"),
    ("OfficerView", "id", "uuid"),
    ("AuditCheckpoint", "public_key", "byte"),
    ("AuditCheckpoint", "signature", "byte"),
];

/// A set of values's schema: its name, what it is, its values, and whether it may grow.
struct ClosedSet {
    name: &'static str,
    description: &'static str,
    values: Vec<String>,
    /// A list only answers carry that may gain values (docs/contract.md §9b "Growth"): written as
    /// a string with the known values in `x-extensible-enum`, so a generated client accepts a value
    /// added later instead of failing on it. Sets a client sends stay closed (`enum`).
    open: bool,
}

impl ClosedSet {
    fn of<V: domain::Vocabulary>(description: &'static str) -> Self {
        ClosedSet {
            name: V::NAME,
            description,
            values: V::terms().into_iter().map(str::to_owned).collect(),
            open: false,
        }
    }

    /// This set, open to growth.
    fn growing(mut self) -> Self {
        self.open = true;
        self
    }

    /// Its schema.
    fn schema(&self) -> serde_json::Value {
        if self.open {
            serde_json::json!({
                "type": "string",
                "description": format!("{} This list may grow: accept values it does not name.", self.description),
                "x-extensible-enum": self.values,
            })
        } else {
            serde_json::json!({
                "type": "string",
                "description": self.description,
                "enum": self.values,
            })
        }
    }
}

/// The closed sets, each listed from the one table the service parses or writes it with, and the
/// properties that take them.
fn closed_sets() -> Vec<(ClosedSet, &'static [(&'static str, &'static str)])> {
    use domain::Vocabulary;
    let codes = domain::Code::ALL
        .iter()
        .map(|c| c.as_str().to_owned())
        .chain(std::iter::once(
            openapi::ProblemType::EndpointUrlNotAllowed
                .term()
                .to_owned(),
        ))
        .collect();
    vec![
        (
            ClosedSet::of::<domain::ConcernFor>("Whom a safeguarding concern is for."),
            &[("SafeguardingOverrideDoc", "concern_for")],
        ),
        (
            ClosedSet::of::<domain::HousingReason>(
                "Homeless now (s.175(1)–(3)), or threatened with homelessness within 56 days (s.175(4)–(5)).",
            ),
            &[("HousingSituationDoc", "reason")],
        ),
        (
            ClosedSet::of::<domain::RoughSleeping>(
                "Risk of rough sleeping on the referral date; `imminent` and `sleeping_rough` are flagged to the authority.",
            ),
            &[("HousingSituationDoc", "rough_sleeping")],
        ),
        (
            ClosedSet::of::<domain::NoticeKind>(
                "The Housing Act 1988 notice served: section 8, or section 21 (abolished for private tenancies from 1 May 2026).",
            ),
            &[("PossessionNoticeDoc", "kind")],
        ),
        (
            ClosedSet::of::<domain::AgencyType>(
                "The kind of specified public authority of s.213B (SI 2018/223 Schedule).",
            ),
            &[
                ("ApiKeyRequest", "agency_type"),
                ("ApiKeyCreated", "agency_type"),
                ("ApiKeyView", "agency_type"),
                ("ReferralResource", "agency_type"),
                ("ReferralCreatedEvent", "agency_type"),
            ],
        ),
        (
            ClosedSet::of::<domain::AuthorityKind>("The kind of council, from its GSS code."),
            &[("Authority", "kind")],
        ),
        (
            ClosedSet::of::<openapi::ActorRole>("Who caused an audit event: a key's role, or the service itself.").growing(),
            &[
                ("Actor", "role"),
                ("FeedViewedDetail", "by_role"),
                ("FeedNoteAuthor", "role"),
            ],
        ),
        (
            ClosedSet {
                name: "IssueCode",
                description: "The stable code of an error or warning.",
                values: codes,
                open: true,
            },
            &[("ValidationIssue", "code")],
        ),
        (
            ClosedSet::of::<openapi::AuditAction>("What an audit event records.").growing(),
            &[("AuditEvent", "action")],
        ),
        (
            ClosedSet::of::<domain::Decision>("The authority's decision."),
            &[
                ("OutcomeView", "decision"),
                ("OutcomeRequest", "decision"),
                ("FeedOutcomeDetail", "decision"),
            ],
        ),
        (
            ClosedSet::of::<domain::OutcomeReason>(
                "Why: `prevention_duty`, `relief_duty` and `relief_duty_and_interim_accommodation` belong to `accepted`, the rest to `not_accepted`.",
            ),
            &[
                ("OutcomeView", "reason"),
                ("OutcomeRequest", "reason"),
                ("FeedOutcomeDetail", "reason"),
            ],
        ),
        (
            ClosedSet::of::<domain::WithdrawalReason>("Why a referral was withdrawn."),
            &[
                ("WithdrawalView", "reason"),
                ("WithdrawRequest", "reason"),
                ("ReferralWithdrawnEvent", "reason"),
                ("FeedWithdrawnDetail", "reason"),
            ],
        ),
        (
            ClosedSet::of::<domain::ErasureReason>(
                "Why personal data is erased on request (retention erases by itself).",
            ),
            &[("EraseRequest", "reason")],
        ),
        (
            ClosedSet {
                name: "NoteAuthorRole",
                description: "Who wrote a note.",
                values: vec!["referrer".to_owned(), "authority".to_owned()],
                open: false,
            },
            &[("NoteAuthorView", "role")],
        ),
        (
            ClosedSet {
                name: "ProblemType",
                description: "`about:blank` (the status says it all) or a stable `urn:dtr:problem:*` name.",
                values: openapi::ProblemType::all_uris(),
                open: true,
            },
            &[("Problem", "type")],
        ),
    ]
}

/// The error statuses each operation can answer with; poem-openapi would list every status of
/// [`super::ApiError`] on every operation. Every `/v1` operation can answer 401 (no valid key), 429
/// (rate limits), 500 and 503 (database unavailable, or a request abandoned after 40 s); one that
/// takes a body also 408 (it did not arrive in time) and 413 (too large).
fn error_statuses(operation_id: &str) -> &'static [&'static str] {
    const BODY: &[&str] = &[
        "400", "401", "403", "408", "413", "415", "422", "429", "500", "503",
    ];
    match operation_id {
        "validate_referral" => &[
            "400", "401", "403", "408", "413", "415", "429", "500", "503",
        ],
        "submit_referral" | "create_api_key" => BODY,
        "list_referrals" | "list_authorities" => &["400", "401", "429", "500", "503"],
        "get_referral" | "get_authority" => &["401", "404", "429", "500", "503"],
        "list_referral_audit_events" => &["400", "401", "404", "429", "500", "503"],
        "set_authority_endpoint" => &[
            "400", "401", "403", "404", "408", "413", "415", "422", "429", "500", "503",
        ],
        "acknowledge_referral"
        | "record_referral_outcome"
        | "withdraw_referral"
        | "erase_referral"
        | "add_referral_note" => &[
            "400", "401", "403", "404", "408", "409", "413", "415", "422", "429", "500", "503",
        ],
        "list_referral_notes" => &["400", "401", "404", "409", "429", "500", "503"],
        "list_api_keys" => &["400", "401", "403", "429", "500", "503"],
        "revoke_api_key" => &["401", "403", "404", "409", "429", "500", "503"],
        "list_events" => &["400", "401", "429", "500", "503"],
        "redeliver_referral" => &[
            "401", "403", "404", "408", "409", "413", "429", "500", "503",
        ],
        "delete_authority_endpoint" => &["401", "403", "404", "429", "500", "503"],
        "rotate_authority_secret" => &[
            "401", "403", "404", "408", "409", "413", "429", "500", "503",
        ],
        "set_authority_notify" | "add_officer" => &[
            "400", "401", "403", "404", "408", "409", "413", "415", "422", "429", "500", "503",
        ],
        "delete_authority_notify" | "remove_officer" => &["401", "403", "404", "429", "500", "503"],
        "list_officers" => &["401", "403", "404", "429", "500", "503"],
        "get_audit_checkpoint" => &["401", "429", "500", "503"],
        "verify_audit_chain" => &["401", "403", "429", "500", "503"],
        "add_organisation" => BODY,
        "change_organisation" => &[
            "400", "401", "403", "404", "408", "413", "415", "422", "429", "500", "503",
        ],
        "add_practitioner" => &[
            "400", "401", "403", "404", "408", "409", "413", "415", "422", "429", "500", "503",
        ],
        "list_organisations" => &["401", "403", "429", "500", "503"],
        "get_organisation"
        | "remove_organisation"
        | "list_practitioners"
        | "remove_practitioner" => &["401", "403", "404", "429", "500", "503"],
        "get_readiness" => &["429", "500", "503"],
        _ => &["429", "500"],
    }
}

/// The example referrals shown as request examples of validate and submit.
fn referral_examples() -> serde_json::Value {
    let examples = [
        (
            "homeless",
            "Homeless today, released from prison",
            openapi::examples::VALID_HOMELESS,
        ),
        (
            "threatened",
            "Threatened with homelessness within 56 days",
            openapi::examples::VALID_THREATENED,
        ),
        (
            "safeguarding_override",
            "Without consent, to safeguard children",
            openapi::examples::VALID_SAFEGUARDING_OVERRIDE,
        ),
    ];
    let mut out = serde_json::Map::new();
    for (name, summary, text) in examples {
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
            out.insert(
                name.to_owned(),
                serde_json::json!({ "summary": summary, "value": value }),
            );
        }
    }
    serde_json::Value::Object(out)
}

/// The answer to an invalid referral, as the service gives it for the example with structural
/// errors in several places: a 422 problem for submit, a report for validate. Response examples
/// must match their schema, so the invalid document itself is shown here, not as a request.
fn invalid_examples() -> (serde_json::Value, serde_json::Value) {
    use poem_openapi::types::ToJSON;
    let document: serde_json::Value =
        serde_json::from_str(openapi::examples::INVALID_STRUCTURE).unwrap_or_default();
    let now = jiff::Timestamp::from_second(1_796_385_600).unwrap_or_default();
    let refused = match domain::Referral::parse(&document, &domain::AsOf::at(now)) {
        Err(refused) => refused,
        Ok(_) => return (serde_json::Value::Null, serde_json::Value::Null),
    };
    let issues: Vec<openapi::ValidationIssue> = refused.errors.iter().map(Into::into).collect();
    let warnings: Vec<openapi::ValidationIssue> = refused.warnings.iter().map(Into::into).collect();
    let mut problem = openapi::Problem::typed(
        422,
        openapi::ProblemType::ReferralInvalid,
        format!("The referral has {} error(s); see errors.", issues.len()),
    );
    problem.errors = Some(issues.clone());
    let report = serde_json::json!({
        "valid": false,
        "errors": issues.iter().map(|i| i.to_json()).collect::<Vec<_>>(),
        "warnings": warnings.iter().map(|i| i.to_json()).collect::<Vec<_>>(),
    });
    let summary = "Invalid: structural errors in several places";
    (
        serde_json::json!({ "invalid_structure": { "summary": summary, "value": problem.to_json() } }),
        serde_json::json!({ "invalid_structure": { "summary": summary, "value": report } }),
    )
}

/// The example referral as the service stores and shows it: the threatened example, normalized and
/// judged on a fixed day (the spec must not change with the date), with its warnings.
fn example_referral() -> (serde_json::Value, Vec<openapi::ValidationIssue>) {
    let document: serde_json::Value =
        serde_json::from_str(openapi::examples::VALID_THREATENED).unwrap_or_default();
    let now = jiff::Timestamp::from_second(1_796_385_600).unwrap_or_default();
    match domain::Referral::parse(&document, &domain::AsOf::at(now)) {
        Ok(accepted) => (
            accepted.referral.to_json(),
            accepted.warnings.iter().map(Into::into).collect(),
        ),
        Err(_) => (document, vec![]),
    }
}

const EXAMPLE_ID: &str = "0190f5d6-1234-7abc-8def-0123456789ab";
const EXAMPLE_AT: &str = "2026-12-04T12:00:00.000Z";

/// Examples of the answers integrators handle most (docs/contract.md §6, §9): the 201 of a
/// submission, a page of the event feed, and each pushed event. Each is checked against its
/// schema by Redocly's linter in CI.
fn response_example(operation_id: &str) -> Option<(&'static str, serde_json::Value)> {
    use poem_openapi::types::ToJSON;
    let (document, warnings) = example_referral();
    let warnings: Vec<serde_json::Value> = warnings.iter().filter_map(|w| w.to_json()).collect();
    let gss = document
        .pointer("/housing_authority/gss_code")
        .and_then(|g| g.as_str())
        .unwrap_or("E08000035")
        .to_owned();
    let name = domain::register()
        .get(&gss)
        .map_or_else(String::new, |a| a.name.clone());
    match operation_id {
        "submit_referral" => Some((
            "201",
            serde_json::json!({
                "id": EXAMPLE_ID,
                "status": "queued",
                "submitted_at": EXAMPLE_AT,
                "housing_authority": { "gss_code": gss, "name": name },
                "organisation": "HMPPS Yorkshire and the Humber",
                "agency_type": "probation",
                "warnings": warnings,
                "delivery": {
                    "mode": "push", "attempts": 0, "last_attempt_at": null, "last_error": null,
                    "next_attempt_at": EXAMPLE_AT, "delivered_at": null
                },
                "outcome": null,
                "withdrawal": null,
                "erased_at": null,
                "urgency": { "homeless_now": false, "days_until_homeless": 30, "flags": [] }
            }),
        )),
        "list_events" => Some((
            "200",
            serde_json::json!({
                "items": [
                    {
                        "seq": 41, "at": EXAMPLE_AT, "action": "referral.accepted",
                        "referral_id": EXAMPLE_ID,
                        "detail": { "gss_code": gss, "warning_codes": [], "status": "queued" }
                    },
                    {
                        "seq": 44, "at": "2026-12-04T12:00:01.250Z", "action": "delivery.succeeded",
                        "referral_id": EXAMPLE_ID, "detail": { "mode": "push", "attempts": 1 }
                    },
                    {
                        "seq": 57, "at": "2026-12-04T15:30:00.000Z", "action": "referral.acknowledged",
                        "referral_id": EXAMPLE_ID, "detail": {}
                    }
                ],
                "next_cursor": "57"
            }),
        )),
        _ => None,
    }
}

/// The recorded answer of an operation (`openapi::examples::RECORDED_RESPONSES`), as
/// (status, example).
fn recorded_example(operation_id: &str) -> Option<(String, serde_json::Value)> {
    let recorded: serde_json::Value =
        serde_json::from_str(openapi::examples::RECORDED_RESPONSES).ok()?;
    let entry = recorded.get(operation_id)?;
    Some((
        entry.get("status")?.as_str()?.to_owned(),
        entry.get("example")?.clone(),
    ))
}

/// One example per pushed event (the callback's request body).
fn pushed_event_examples() -> serde_json::Value {
    let (document, warnings) = example_referral();
    let warnings: Vec<serde_json::Value> = warnings
        .iter()
        .filter_map(poem_openapi::types::ToJSON::to_json)
        .collect();
    serde_json::json!({
        "referral_created": { "summary": "A new referral", "value": {
            "type": "referral.created", "id": EXAMPLE_ID, "submitted_at": EXAMPLE_AT,
            "organisation": "HMPPS Yorkshire and the Humber", "agency_type": "probation",
            "warnings": warnings, "referral": document
        }},
        "referral_withdrawn": { "summary": "The referrer withdrew it", "value": {
            "type": "referral.withdrawn", "id": EXAMPLE_ID, "reason": "housing_need_resolved"
        }},
        "referral_note_added": { "summary": "The referrer added a note (fetch it by id)", "value": {
            "type": "referral.note_added", "id": EXAMPLE_ID,
            "note_id": "0190f5d7-0000-7abc-8def-0123456789ab"
        }},
        "referral_erased": { "summary": "Its personal data was erased here", "value": {
            "type": "referral.erased", "id": EXAMPLE_ID, "reason": "consent_withdrawn"
        }}
    })
}

/// What Redocly's recommended rules ask of a spec and poem-openapi does not write: a server, a
/// licence, `security: []` on the operations that need no key (and the webhook callback, which
/// the receiver checks by signature), a `type` beside every nullable reference, and at least one
/// 4xx answer per operation (every path answers 405 for another method).
fn lint_clean(spec: &mut serde_json::Value) {
    // `/docs` lists the tags in this order: what an integrator does first comes first.
    const TAG_ORDER: [&str; 6] = [
        "Referrals",
        "Authorities",
        "Organisations",
        "Keys",
        "Audit",
        "Operations",
    ];
    if let Some(tags) = spec.get_mut("tags").and_then(|t| t.as_array_mut()) {
        tags.sort_by_key(|t| {
            let name = t.get("name").and_then(|n| n.as_str()).unwrap_or_default();
            TAG_ORDER
                .iter()
                .position(|o| *o == name)
                .unwrap_or(TAG_ORDER.len())
        });
    }
    spec["servers"] = serde_json::json!([{
        "url": "/",
        "description": "The service that serves this document (e.g. http://127.0.0.1:8213 for `dtr serve`)"
    }]);
    spec["info"]["license"] =
        serde_json::json!({ "name": "MIT", "url": "https://opensource.org/licenses/MIT" });
    let types: std::collections::HashMap<String, serde_json::Value> = spec
        .pointer("/components/schemas")
        .and_then(|v| v.as_object())
        .map(|m| {
            m.iter()
                .filter(|(_, v)| v.get("type").is_some())
                .map(|(k, v)| (format!("#/components/schemas/{k}"), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    fn typed(
        value: &mut serde_json::Value,
        types: &std::collections::HashMap<String, serde_json::Value>,
    ) {
        match value {
            serde_json::Value::Object(map) => {
                if map.get("nullable") == Some(&serde_json::Value::Bool(true))
                    && !map.contains_key("type")
                {
                    let target = map
                        .get("allOf")
                        .and_then(|a| a.get(0))
                        .and_then(|r| r.get("$ref"))
                        .and_then(|r| r.as_str())
                        .and_then(|r| types.get(r))
                        .cloned();
                    match target {
                        // A nullable closed set is written inline, with `null` among its values
                        // (OpenAPI 3.0.3): generators then accept null, which they do not for a
                        // typed reference to the set.
                        Some(serde_json::Value::Object(set)) if set.contains_key("enum") => {
                            map.remove("allOf");
                            let mut values = set.get("enum").cloned().unwrap_or_default();
                            if let Some(list) = values.as_array_mut() {
                                list.push(serde_json::Value::Null);
                            }
                            map.insert("type".to_owned(), serde_json::json!("string"));
                            map.insert("enum".to_owned(), values);
                            if let Some(d) = set.get("description") {
                                map.entry("description").or_insert_with(|| d.clone());
                            }
                        }
                        // A nullable object: the object or null, each alternative typed (the
                        // null one as OpenAPI 3.0.3 writes a nullable enum of null alone), so
                        // linters and generators alike read it as "the object, or null".
                        Some(_) => {
                            if let Some(serde_json::Value::Array(mut any)) = map.remove("allOf") {
                                map.remove("nullable");
                                any.push(serde_json::json!({
                                    "type": "object", "nullable": true, "enum": [null]
                                }));
                                map.insert("anyOf".to_owned(), serde_json::Value::Array(any));
                            }
                        }
                        None => {}
                    }
                }
                map.values_mut().for_each(|v| typed(v, types));
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| typed(v, types)),
            _ => {}
        }
    }
    typed(spec, &types);
    fn operations(
        value: &mut serde_json::Value,
        f: &mut dyn FnMut(&mut serde_json::Map<String, serde_json::Value>),
    ) {
        let Some(paths) = value.as_object_mut() else {
            return;
        };
        for item in paths.values_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, op) in item.iter_mut() {
                if !["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                    continue;
                }
                if let Some(op) = op.as_object_mut() {
                    if let Some(callbacks) = op.get_mut("callbacks").and_then(|c| c.as_object_mut())
                    {
                        for callback in callbacks.values_mut() {
                            operations(callback, f);
                        }
                    }
                    f(op);
                }
            }
        }
    }
    let problem = serde_json::json!({
        "description": "Not allowed: this path does not take that method (`urn:dtr:problem:method_not_allowed`).",
        "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } }
    });
    if let Some(paths) = spec.get_mut("paths") {
        operations(paths, &mut |op| {
            op.entry("security")
                .or_insert_with(|| serde_json::json!([]));
            if let Some(responses) = op.get_mut("responses").and_then(|r| r.as_object_mut()) {
                if !responses.keys().any(|k| k.starts_with('4')) {
                    responses.insert("405".to_owned(), problem.clone());
                }
            }
        });
    }
}

/// Replaces poem-openapi's `{"description", "allOf": [{"$ref"}, {"description"}]}` (how it writes an
/// object-typed member with a doc comment) with a plain `{"$ref"}`: OpenAPI 3.0 ignores siblings of
/// `$ref` anyway, and generators such as openapi-python-client drop every schema written the other
/// way, and the operations that use them.
fn plain_refs(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            let reference = map
                .get("allOf")
                .and_then(|a| a.as_array())
                .and_then(|a| a.first())
                .and_then(|first| first.get("$ref"))
                .cloned();
            let only_decoration = map
                .keys()
                .all(|k| matches!(k.as_str(), "allOf" | "description" | "nullable"));
            if let (Some(reference), true) = (reference, only_decoration) {
                let nullable = map.get("nullable") == Some(&serde_json::Value::Bool(true));
                map.clear();
                if nullable {
                    // OpenAPI 3.0's nullable reference: a one-element allOf beside `nullable`.
                    map.insert(
                        "allOf".to_owned(),
                        serde_json::json!([{ "$ref": reference }]),
                    );
                    map.insert("nullable".to_owned(), serde_json::Value::Bool(true));
                } else {
                    map.insert("$ref".to_owned(), reference);
                }
                return;
            }
            map.values_mut().for_each(plain_refs);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(plain_refs),
        _ => {}
    }
}

/// Schemas no operation references (the webhook bodies, the feed's details), as poem-openapi
/// registers them, with their integers in standard formats.
fn registered(
    register: impl FnOnce(&mut poem_openapi::registry::Registry),
) -> serde_json::Map<String, serde_json::Value> {
    let mut registry = poem_openapi::registry::Registry::new();
    register(&mut registry);
    let mut schemas = serde_json::to_value(&registry.schemas)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default();
    schemas.values_mut().for_each(standard_integer_formats);
    schemas
}

/// The schemas of the webhook bodies, which no operation references, as poem-openapi registers them.
fn webhook_schemas() -> serde_json::Map<String, serde_json::Value> {
    use poem_openapi::types::Type;
    let mut schemas = registered(|registry| {
        openapi::ReferralCreatedEvent::register(registry);
        openapi::ReferralWithdrawnEvent::register(registry);
        openapi::ReferralNoteAddedEvent::register(registry);
        openapi::ReferralErasedEvent::register(registry);
    });
    // Each event's `type` allows exactly its own value, so that generated clients can tell the
    // events apart (the union below discriminates on it).
    for (event_type, name) in openapi::WEBHOOK_EVENTS {
        if let Some(kind) = property_of(&mut schemas, name, "type") {
            kind.insert("enum".to_owned(), serde_json::json!([event_type]));
        }
    }
    schemas
}

/// The feed event as a union discriminated by `action` (docs/contract.md §9b): one variant per
/// feed action, each the served `FeedEvent` with its `action` fixed and its `detail` typed by the
/// action's schema (`openapi::FEED_DETAILS`), so a generated client narrows an event by its action
/// and reads its detail's members by name.
fn feed_event_union(schemas: &mut serde_json::Map<String, serde_json::Value>) {
    let Some(base) = schemas.get("FeedEvent").cloned() else {
        return;
    };
    let mut variants = Vec::new();
    let mut mapping = serde_json::Map::new();
    for (action, detail) in openapi::FEED_DETAILS {
        let name = detail.replace("Detail", "Event");
        let mut variant = base.clone();
        variant["title"] = serde_json::json!(name);
        variant["description"] = serde_json::json!(format!("A `{action}` event of the feed."));
        variant["properties"]["action"] = serde_json::json!({ "type": "string", "enum": [action] });
        variant["properties"]["detail"] =
            serde_json::json!({ "$ref": format!("#/components/schemas/{detail}") });
        schemas.insert(name.clone(), variant);
        let reference = format!("#/components/schemas/{name}");
        variants.push(serde_json::json!({ "$ref": reference }));
        mapping.insert((*action).to_owned(), serde_json::json!(reference));
    }
    schemas.insert(
        "FeedEvent".to_owned(),
        serde_json::json!({
            "description": "One event of the feed: an audit event of a referral the key may see, without its hashes. Tell the events apart by `action`; each action's `detail` has its own schema. New actions may be added (with their own schema): skip an event whose `action` you do not know.",
            "oneOf": variants,
            "discriminator": { "propertyName": "action", "mapping": mapping },
        }),
    );
}

/// The pushed events as a callback of the operation that sets an endpoint (OpenAPI 3.0 has no
/// top-level webhooks): the body, the three Standard Webhooks headers, and the answers we act on.
fn webhook_callback() -> serde_json::Value {
    let header = |name: &str, description: &str| {
        serde_json::json!({
            "name": name, "in": "header", "required": true, "description": description,
            "schema": { "type": "string" }
        })
    };
    serde_json::json!({
        "referral_events": {
            "{$request.body#/url}": {
                "post": {
                    "operationId": "receive_referral_event",
                    "summary": "A referral event pushed to the authority's endpoint",
                    "description": "Signed per Standard Webhooks: HMAC-SHA256 with the base64 part of the `whsec_` secret over `webhook-id + \".\" + webhook-timestamp + \".\" + body`. De-duplicate on `webhook-id` (the same on every retry of one event). Answer 2xx once stored; 408, 429 (with `Retry-After`), 5xx, redirects, timeouts and connection errors are retried on `DTR_RETRY_SCHEDULE`; 401 and 403 in the first hour after a new secret are retried too (the receiver may still be installing it); any other 4xx fails the delivery. New event types may be added: answer 2xx to a `type` you do not know (and ignore it).",
                    "parameters": [
                        header("webhook-id", "Stable across retries of one event: de-duplicate on it."),
                        header("webhook-timestamp", "Unix seconds of this attempt; reject ones more than five minutes old."),
                        header("webhook-signature", "`v1,<base64 signature>`, space-separated when two secrets are valid."),
                    ],
                    "requestBody": {
                        "required": true,
                        "content": { "application/json": { "examples": pushed_event_examples(), "schema": {
                            "oneOf": openapi::WEBHOOK_EVENTS
                                .iter()
                                .map(|(_, name)| serde_json::json!({ "$ref": format!("#/components/schemas/{name}") }))
                                .collect::<Vec<_>>(),
                            "discriminator": {
                                "propertyName": "type",
                                "mapping": openapi::WEBHOOK_EVENTS
                                    .iter()
                                    .map(|(t, name)| ((*t).to_owned(), serde_json::json!(format!("#/components/schemas/{name}"))))
                                    .collect::<serde_json::Map<_, _>>(),
                            }
                        } } }
                    },
                    "responses": {
                        "200": { "description": "Stored (any 2xx will do)." },
                        "401": { "description": "The signature did not verify; retried during the first hour of a new secret." },
                        "503": { "description": "Try later: retried on the schedule, honouring `Retry-After`." }
                    }
                }
            }
        }
    })
}

/// poem-openapi writes unsigned integers with the formats `uint16`, `uint32` and `uint64`, which are
/// not OpenAPI formats (generators warn and guess); they become `int32`/`int64` with a minimum of 0.
fn standard_integer_formats(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            let format = map
                .get("format")
                .and_then(|f| f.as_str())
                .map(str::to_owned);
            if let Some(standard) = match format.as_deref() {
                Some("uint16") => Some("int32"),
                Some("uint32" | "uint64") => Some("int64"),
                _ => None,
            } {
                map.insert("format".to_owned(), serde_json::Value::from(standard));
                map.entry("minimum")
                    .or_insert_with(|| serde_json::Value::from(0));
            }
            map.values_mut().for_each(standard_integer_formats);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(standard_integer_formats),
        _ => {}
    }
}

/// The spec as a JSON value, completed with what the derive macros cannot say.
pub fn spec_value() -> serde_json::Value {
    let mut spec: serde_json::Value =
        serde_json::from_str(&openapi_service().spec()).unwrap_or_default();
    plain_refs(&mut spec);
    standard_integer_formats(&mut spec);
    if let Some(schemas) = spec
        .pointer_mut("/components/schemas")
        .and_then(|v| v.as_object_mut())
    {
        for (name, schema) in webhook_schemas() {
            schemas.entry(name).or_insert(schema);
        }
        for (name, schema) in registered(openapi::register_feed_details) {
            schemas.entry(name).or_insert(schema);
        }
        plain_refs_in(schemas);
        for name in CLOSED_OBJECTS {
            if let Some(schema) = schemas.get_mut(*name).and_then(|v| v.as_object_mut()) {
                schema.insert(
                    "additionalProperties".to_owned(),
                    serde_json::Value::Bool(false),
                );
            }
        }
        // The normalized referral (present when valid) is a referral: typed as one, so a generated
        // client reads it as the same type it submits.
        if let Some(p) = property_of(schemas, "ValidationReport", "normalized") {
            p.clear();
            p.insert(
                "$ref".to_owned(),
                serde_json::json!("#/components/schemas/Referral"),
            );
        }
        for (name, property, format) in FORMATS {
            if let Some(p) = property_of(schemas, name, property) {
                p.insert("format".to_owned(), serde_json::Value::from(*format));
            }
        }
        feed_event_union(schemas);
        for (set, properties) in closed_sets() {
            let reference = format!("#/components/schemas/{}", set.name);
            for (schema, property) in properties {
                if let Some(p) = property_of(schemas, schema, property) {
                    // A property that may be null refers to the set through a one-element allOf,
                    // the OpenAPI 3.0 way to make a reference nullable.
                    let nullable = p.get("nullable") == Some(&serde_json::Value::Bool(true));
                    p.clear();
                    if nullable {
                        p.insert(
                            "allOf".to_owned(),
                            serde_json::json!([{ "$ref": reference }]),
                        );
                        p.insert("nullable".to_owned(), serde_json::Value::Bool(true));
                    } else {
                        p.insert(
                            "$ref".to_owned(),
                            serde_json::Value::from(reference.clone()),
                        );
                    }
                }
            }
            schemas.insert(set.name.to_owned(), set.schema());
        }
    }
    if let Some(paths) = spec.get_mut("paths").and_then(|p| p.as_object_mut()) {
        for (path, operations) in paths.iter_mut() {
            let Some(operations) = operations.as_object_mut() else {
                continue;
            };
            for operation in operations.values_mut() {
                complete_operation(path, operation);
            }
        }
    }
    lint_clean(&mut spec);
    spec
}

fn plain_refs_in(schemas: &mut serde_json::Map<String, serde_json::Value>) {
    schemas.values_mut().for_each(plain_refs);
}

fn property_of<'a>(
    schemas: &'a mut serde_json::Map<String, serde_json::Value>,
    schema: &str,
    property: &str,
) -> Option<&'a mut serde_json::Map<String, serde_json::Value>> {
    schemas
        .get_mut(schema)
        .and_then(|s| s.pointer_mut(&format!("/properties/{property}")))
        .and_then(|v| v.as_object_mut())
}

/// Per operation: only the error statuses it can answer, the request examples, the
/// `Idempotency-Key` limit, and the webhook callback.
fn complete_operation(path: &str, operation: &mut serde_json::Value) {
    let id = operation
        .get("operationId")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned();
    let allowed = error_statuses(&id);
    if let Some(responses) = operation
        .get_mut("responses")
        .and_then(|r| r.as_object_mut())
    {
        responses.retain(|status, _| status.starts_with('2') || allowed.contains(&status.as_str()));
    }
    if matches!(id.as_str(), "validate_referral" | "submit_referral") {
        if let Some(media) = operation
            .pointer_mut("/requestBody/content/application~1json")
            .and_then(|m| m.as_object_mut())
        {
            media.insert("examples".to_owned(), referral_examples());
        }
        let (problem, report) = invalid_examples();
        let (status, media, example) = if id == "submit_referral" {
            ("422", "application~1problem+json", problem)
        } else {
            ("200", "application~1json; charset=utf-8", report)
        };
        if let Some(m) = operation
            .pointer_mut(&format!("/responses/{status}/content/{media}"))
            .and_then(|m| m.as_object_mut())
        {
            m.insert("examples".to_owned(), example);
        }
    }
    if let Some((status, example)) = response_example(&id)
        .map(|(status, example)| (status.to_owned(), example))
        .or_else(|| recorded_example(&id))
    {
        if let Some(content) = operation
            .pointer_mut(&format!("/responses/{status}/content"))
            .and_then(|c| c.as_object_mut())
        {
            for media in content.values_mut() {
                if let Some(m) = media.as_object_mut() {
                    m.insert("example".to_owned(), example.clone());
                }
            }
        }
    }
    if let Some(parameters) = operation
        .get_mut("parameters")
        .and_then(|p| p.as_array_mut())
    {
        for parameter in parameters {
            if parameter.get("name").and_then(|n| n.as_str()) == Some("Idempotency-Key") {
                if let Some(schema) = parameter.get_mut("schema").and_then(|s| s.as_object_mut()) {
                    schema.insert("maxLength".to_owned(), serde_json::Value::from(255));
                }
            }
        }
    }
    if id == "set_authority_endpoint" && path.ends_with("/endpoint") {
        if let Some(op) = operation.as_object_mut() {
            op.insert("callbacks".to_owned(), webhook_callback());
        }
    }
}

/// The spec as served at `/openapi.json` and printed by `dtr openapi`.
pub fn spec_json() -> String {
    serde_json::to_string_pretty(&spec_value()).unwrap_or_default()
}

/// The spec as served at `/openapi.yaml`: block YAML in which every string is double-quoted, so a
/// YAML 1.1 reader (PyYAML, many Java tools) reads exactly the JSON spec — an unquoted enum value
/// `no` would otherwise become `false`, and a status key `200` a number.
pub fn spec_yaml() -> String {
    let mut out = String::new();
    yaml_value(&spec_value(), 0, &mut out);
    out
}

fn yaml_string(s: &str) -> String {
    // A JSON string literal is a valid YAML double-quoted scalar.
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

fn yaml_scalar(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::Null => Some("null".to_owned()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::String(s) => Some(yaml_string(s)),
        serde_json::Value::Array(a) if a.is_empty() => Some("[]".to_owned()),
        serde_json::Value::Object(o) if o.is_empty() => Some("{}".to_owned()),
        _ => None,
    }
}

/// Writes `value` as the block content at `indent` (the caller has written the key or dash).
fn yaml_value(value: &serde_json::Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match value {
        serde_json::Value::Object(map) => {
            for (key, item) in map {
                out.push_str(&pad);
                out.push_str(&yaml_string(key));
                out.push(':');
                match yaml_scalar(item) {
                    Some(scalar) => {
                        out.push(' ');
                        out.push_str(&scalar);
                        out.push('\n');
                    }
                    None => {
                        out.push('\n');
                        yaml_value(item, indent + 2, out);
                    }
                }
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                out.push_str(&pad);
                out.push('-');
                match yaml_scalar(item) {
                    Some(scalar) => {
                        out.push(' ');
                        out.push_str(&scalar);
                        out.push('\n');
                    }
                    None => {
                        out.push('\n');
                        yaml_value(item, indent + 2, out);
                    }
                }
            }
        }
        scalar => {
            out.push_str(&pad);
            out.push_str(&yaml_scalar(scalar).unwrap_or_default());
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_yaml_spec_reads_back_as_the_json_spec() {
        let from_yaml: serde_json::Value =
            serde_yaml::from_str(&spec_yaml()).expect("the YAML spec parses");
        assert_eq!(from_yaml, spec_value());
    }

    #[test]
    fn no_member_is_written_as_a_described_all_of_wrapper() {
        fn walk(v: &serde_json::Value) {
            if let Some(all_of) = v.get("allOf").and_then(|a| a.as_array()) {
                assert_eq!(all_of.len(), 1, "{v}");
                assert!(all_of[0].get("$ref").is_some(), "{v}");
            }
            match v {
                serde_json::Value::Object(m) => m.values().for_each(walk),
                serde_json::Value::Array(a) => a.iter().for_each(walk),
                _ => {}
            }
        }
        walk(&spec_value());
        assert!(!spec_json().contains("uint64"));
    }

    #[test]
    fn the_docs_list_referrals_first() {
        let spec = spec_value();
        let tags: Vec<&str> = spec["tags"]
            .as_array()
            .expect("tags")
            .iter()
            .filter_map(|t| t["name"].as_str())
            .collect();
        assert_eq!(tags.first(), Some(&"Referrals"), "{tags:?}");
    }

    #[test]
    fn enums_come_from_the_tables_the_service_parses_with() {
        use domain::Vocabulary;
        let spec = spec_value();
        assert_eq!(
            spec.pointer("/components/schemas/PossessionNoticeDoc/properties/kind/$ref"),
            Some(&serde_json::json!("#/components/schemas/NoticeKind"))
        );
        assert_eq!(
            spec.pointer("/components/schemas/NoticeKind/enum"),
            Some(&serde_json::json!(["section_8", "section_21"]))
        );
        // Lists only answers carry may grow: open, with the known values.
        assert_eq!(spec.pointer("/components/schemas/AuditAction/enum"), None);
        assert_eq!(
            spec.pointer("/components/schemas/AuditAction/x-extensible-enum"),
            Some(&serde_json::json!(openapi::AuditAction::terms()))
        );
        for open in ["IssueCode", "ActorRole", "ProblemType"] {
            assert!(
                spec.pointer(&format!("/components/schemas/{open}/x-extensible-enum"))
                    .is_some(),
                "{open}"
            );
        }
        // poem-openapi's own enums (derived) agree with the terms the service reads them with.
        assert_eq!(
            spec.pointer("/components/schemas/Role/enum"),
            Some(&serde_json::json!(openapi::Role::terms()))
        );
    }

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
