//! The rules of docs/contract.md §4–§5 at their boundaries, through the one public parser.

use super::*;
use serde_json::{json, Value};

/// 12:00 UTC on Monday 23 November 2026: the UK date is 2026-11-23 and today + 56 is 2027-01-18.
fn as_of() -> AsOf {
    AsOf::at("2026-11-23T12:00:00Z".parse().expect("instant"))
}

fn valid() -> Value {
    json!({
        "person": {
            "given_name": " Zoë ",
            "family_name": "李",
            "date_of_birth": "1990-05-01",
            "contact": { "phone": "07911 123456" }
        },
        "consent": { "referral": true, "share_contact_details": true, "recorded_at": "2026-11-23T11:00:00Z" },
        "housing_authority": { "gss_code": "E09000033", "chosen_by_person": true },
        "housing_situation": {
            "reason": "threatened_with_homelessness",
            "likely_homeless_on": "2026-12-20",
            "rough_sleeping": "no",
            "summary": "Private tenancy ending; landlord selling the property."
        },
        "referrer": { "name": "Sam Worker", "email": "sam.worker@probation.example.gov.uk" }
    })
}

/// Sets the member at `pointer` (creating objects on the way); `Value::Null` as value removes it.
fn with(mut doc: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer");
    let mut target = &mut doc;
    for token in parent.split('/').skip(1) {
        target = target
            .as_object_mut()
            .expect("object")
            .entry(token.to_owned())
            .or_insert_with(|| json!({}));
    }
    let object = target.as_object_mut().expect("object");
    if value.is_null() {
        object.remove(key);
    } else {
        object.insert(key.to_owned(), value);
    }
    doc
}

fn errors(doc: &Value) -> Vec<(String, &'static str)> {
    match Referral::parse(doc, &as_of()) {
        Ok(_) => vec![],
        Err(r) => r
            .errors
            .into_iter()
            .map(|i| (i.pointer, i.code.as_str()))
            .collect(),
    }
}

fn warnings(doc: &Value) -> Vec<&'static str> {
    match Referral::parse(doc, &as_of()) {
        Ok(a) => a.warnings.into_iter().map(|i| i.code.as_str()).collect(),
        Err(r) => panic!("expected valid, got {:?}", r.errors),
    }
}

fn error_codes(doc: &Value) -> Vec<&'static str> {
    errors(doc).into_iter().map(|(_, c)| c).collect()
}

#[test]
fn a_complete_referral_is_valid_without_warnings() {
    assert_eq!(warnings(&valid()), Vec::<&str>::new());
}

#[test]
fn the_normalized_referral_is_trimmed_e164_and_validates_unchanged() {
    let doc = with(
        valid(),
        "/person/contact/address",
        json!({"line1": "1 High St", "postcode": "sw1a1aa"}),
    );
    let accepted = Referral::parse(&doc, &as_of()).expect("valid");
    let n = accepted.referral.to_json();
    assert_eq!(n["person"]["given_name"], "Zoë");
    assert_eq!(n["person"]["contact"]["phone"], "+447911123456");
    assert_eq!(n["person"]["contact"]["address"]["postcode"], "SW1A 1AA");
    assert_eq!(n["consent"]["recorded_at"], "2026-11-23T11:00:00Z");
    let again = Referral::parse(&n, &as_of()).expect("normalized is valid");
    assert_eq!(again.referral.to_json(), n);
}

#[test]
fn every_error_is_reported_at_once() {
    let doc = json!({
        "person": { "given_name": "", "family_name": 7, "contact": {} , "nickname": "x"},
        "consent": { "referral": false, "share_contact_details": true, "recorded_at": "yesterday" },
        "housing_authority": { "gss_code": "E10000016", "chosen_by_person": true },
        "housing_situation": { "reason": "homeless", "likely_homeless_on": "2026-12-01", "rough_sleeping": "maybe", "summary": "short" },
        "referrer": { "name": "Sam", "email": "not-an-email" },
        "extra": true
    });
    let found = errors(&doc);
    let expect = [
        ("/person/nickname", "field.unknown"),
        ("/person/given_name", "field.too_short"),
        ("/person/family_name", "field.type"),
        ("/person/contact", "contact.none"),
        ("/consent/recorded_at", "date.invalid"),
        (
            "/consent/safeguarding_override",
            "consent.override_required",
        ),
        (
            "/housing_authority/gss_code",
            "housing_authority.not_housing_authority",
        ),
        (
            "/housing_situation/likely_homeless_on",
            "threat.date_not_allowed",
        ),
        ("/housing_situation/rough_sleeping", "field.invalid_value"),
        ("/housing_situation/summary", "field.too_short"),
        ("/referrer/email", "email.invalid"),
        ("/extra", "field.unknown"),
    ];
    for (pointer, code) in expect {
        assert!(
            found.contains(&(pointer.to_owned(), code)),
            "missing {pointer} {code} in {found:?}"
        );
    }
    assert_eq!(found.len(), expect.len(), "{found:?}");
}

#[test]
fn a_bad_reason_or_a_missing_date_does_not_hide_the_rest_of_the_situation() {
    let doc = with(valid(), "/housing_situation/reason", json!("evicted"));
    let doc = with(
        doc,
        "/housing_situation/summary",
        json!("bell\u{7}ringing here"),
    );
    assert_eq!(
        error_codes(&doc),
        vec!["field.invalid_value", "field.control_chars"]
    );
    let doc = with(
        valid(),
        "/housing_situation/likely_homeless_on",
        json!("soon"),
    );
    let doc = with(doc, "/housing_situation/rough_sleeping", json!("perhaps"));
    assert_eq!(
        error_codes(&doc),
        vec!["date.invalid", "field.invalid_value"]
    );
}

#[test]
fn a_document_that_is_not_an_object_is_a_type_error() {
    for doc in [json!([]), json!("x"), json!(1), json!(null)] {
        let e = errors(&doc);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].0, "");
    }
}

#[test]
fn required_members_are_reported_missing() {
    let e = errors(&json!({}));
    for p in [
        "/person",
        "/consent",
        "/housing_authority",
        "/housing_situation",
        "/referrer",
    ] {
        assert!(e.contains(&(p.to_owned(), "field.required")), "{p}");
    }
}

// --- s.175(4): the 56-day window -------------------------------------------------------------

#[test]
fn a_threat_date_today_is_accepted() {
    assert!(errors(&with(
        valid(),
        "/housing_situation/likely_homeless_on",
        json!("2026-11-23")
    ))
    .is_empty());
}

#[test]
fn a_threat_date_on_day_56_is_accepted() {
    assert!(errors(&with(
        valid(),
        "/housing_situation/likely_homeless_on",
        json!("2027-01-18")
    ))
    .is_empty());
}

#[test]
fn a_threat_date_on_day_57_is_outside_the_window() {
    let doc = with(
        valid(),
        "/housing_situation/likely_homeless_on",
        json!("2027-01-19"),
    );
    assert_eq!(
        errors(&doc),
        vec![(
            "/housing_situation/likely_homeless_on".to_owned(),
            "threat.outside_56_days"
        )]
    );
}

#[test]
fn a_threat_date_yesterday_is_in_the_past() {
    let doc = with(
        valid(),
        "/housing_situation/likely_homeless_on",
        json!("2026-11-22"),
    );
    assert_eq!(error_codes(&doc), vec!["threat.date_in_past"]);
}

#[test]
fn the_window_follows_the_uk_date_not_utc() {
    // 23:30 UTC on 30 June is 00:30 BST on 1 July: "today" is 1 July, so 30 June is in the past and
    // 26 August (1 July + 56) is the last day inside.
    let summer = AsOf::at("2026-06-30T23:30:00Z".parse().expect("instant"));
    let doc = |d: &str| {
        let v = with(valid(), "/housing_situation/likely_homeless_on", json!(d));
        with(v, "/consent/recorded_at", json!("2026-06-30T23:00:00Z"))
    };
    let codes = |d: &str| match Referral::parse(&doc(d), &summer) {
        Ok(_) => vec![],
        Err(r) => r
            .errors
            .into_iter()
            .map(|i| i.code.as_str())
            .collect::<Vec<_>>(),
    };
    assert_eq!(codes("2026-06-30"), vec!["threat.date_in_past"]);
    assert_eq!(codes("2026-07-01"), Vec::<&str>::new());
    assert_eq!(codes("2026-08-26"), Vec::<&str>::new());
    assert_eq!(codes("2026-08-27"), vec!["threat.outside_56_days"]);
}

#[test]
fn threatened_without_a_date_needs_one() {
    let doc = with(
        valid(),
        "/housing_situation/likely_homeless_on",
        Value::Null,
    );
    assert_eq!(error_codes(&doc), vec!["threat.date_required"]);
}

#[test]
fn homeless_with_a_date_is_refused() {
    let doc = with(valid(), "/housing_situation/reason", json!("homeless"));
    assert_eq!(error_codes(&doc), vec!["threat.date_not_allowed"]);
    let doc = with(doc, "/housing_situation/likely_homeless_on", Value::Null);
    assert!(errors(&doc).is_empty());
}

#[test]
fn a_possession_notice_inside_the_window_makes_a_later_date_valid_with_a_warning() {
    let doc = with(
        valid(),
        "/housing_situation/likely_homeless_on",
        json!("2027-03-01"),
    );
    // On 2027-01-18 (after 1 May 2026) a section 8 notice brings the person within s.175(5).
    let section_8 = with(
        doc.clone(),
        "/housing_situation/possession_notice",
        json!({"kind": "section_8", "expires_on": "2027-01-18"}),
    );
    assert_eq!(warnings(&section_8), vec!["threat.possession_notice"]);
    // (2026-12-04) A section 21 notice dated after 31 July 2026 cannot (outside a housing
    // association's transition): warned, and the 56 days look at the likely date alone.
    let section_21 = with(
        doc,
        "/housing_situation/possession_notice",
        json!({"kind": "section_21", "expires_on": "2027-01-18"}),
    );
    assert_eq!(
        errors(&section_21),
        vec![(
            "/housing_situation/likely_homeless_on".to_owned(),
            "threat.outside_56_days"
        )]
    );
}

#[test]
fn a_notice_the_law_on_its_date_does_not_count_is_warned_and_the_likely_date_decides() {
    // as_of() is 2026-11-23. A section 21 notice dated 31 July 2026 is the last that counts; with
    // a likely date inside the window the referral is valid either way.
    let inside = with(
        valid(),
        "/housing_situation/likely_homeless_on",
        json!("2026-12-20"),
    );
    let late_21 = with(
        inside.clone(),
        "/housing_situation/possession_notice",
        json!({"kind": "section_21", "expires_on": "2026-12-01"}),
    );
    assert_eq!(warnings(&late_21), vec!["threat.notice_not_in_force"]);
    // A section 8 notice dated before 1 May 2026 did not count then (section 21 did): it is in the
    // past here, so outside the window anyway; it is warned about all the same.
    let early_8 = with(
        inside,
        "/housing_situation/possession_notice",
        json!({"kind": "section_8", "expires_on": "2026-04-30"}),
    );
    assert_eq!(warnings(&early_8), vec!["threat.notice_not_in_force"]);
}

#[test]
fn a_possession_notice_expiring_on_day_57_does_not_help() {
    let doc = with(
        valid(),
        "/housing_situation/likely_homeless_on",
        json!("2027-03-01"),
    );
    let doc = with(
        doc,
        "/housing_situation/possession_notice",
        json!({"kind": "section_8", "expires_on": "2027-01-19"}),
    );
    assert_eq!(error_codes(&doc), vec!["threat.outside_56_days"]);
}

#[test]
fn a_possession_notice_inside_the_window_is_always_flagged() {
    let doc = with(
        valid(),
        "/housing_situation/possession_notice",
        json!({"kind": "section_8", "expires_on": "2026-12-01"}),
    );
    assert_eq!(warnings(&doc), vec!["threat.possession_notice"]);
}

#[test]
fn a_possession_notice_needs_a_known_kind_and_a_date() {
    let doc = with(
        valid(),
        "/housing_situation/possession_notice",
        json!({"kind": "section_99"}),
    );
    assert_eq!(
        errors(&doc),
        vec![
            (
                "/housing_situation/possession_notice/kind".to_owned(),
                "field.invalid_value"
            ),
            (
                "/housing_situation/possession_notice/expires_on".to_owned(),
                "field.required"
            )
        ]
    );
}

#[test]
fn imminent_rough_sleeping_is_flagged() {
    let doc = with(
        valid(),
        "/housing_situation/rough_sleeping",
        json!("imminent"),
    );
    let doc = with(
        doc,
        "/housing_situation/likely_homeless_on",
        json!("2026-11-30"),
    );
    assert_eq!(warnings(&doc), vec!["rough_sleeping.imminent"]);
}

/// Imminent rough sleeping with the likely date `on`, as of 2026-11-23.
fn imminent_on(on: &str) -> Value {
    let doc = with(
        valid(),
        "/housing_situation/rough_sleeping",
        json!("imminent"),
    );
    with(doc, "/housing_situation/likely_homeless_on", json!(on))
}

#[test]
fn imminent_rough_sleeping_is_doubted_from_the_fifteenth_day_not_the_fourteenth() {
    // docs/rules.md §4: more than 14 days away is not "imminent" without a second look.
    assert_eq!(
        warnings(&imminent_on("2026-12-07")),
        vec!["rough_sleeping.imminent"]
    );
    assert_eq!(
        warnings_at(&imminent_on("2026-12-08")),
        vec![
            (
                "/housing_situation/rough_sleeping".to_owned(),
                "rough_sleeping.imminent"
            ),
            (
                "/housing_situation/rough_sleeping".to_owned(),
                "rough_sleeping.imminent_date_distant"
            ),
        ]
    );
}

#[test]
fn imminent_rough_sleeping_of_a_person_homeless_now_is_not_doubted() {
    let doc = with(
        homeless(),
        "/housing_situation/rough_sleeping",
        json!("imminent"),
    );
    assert_eq!(warnings(&doc), vec!["rough_sleeping.imminent"]);
}

#[test]
fn a_distant_date_without_imminent_rough_sleeping_is_not_doubted() {
    let doc = with(
        valid(),
        "/housing_situation/rough_sleeping",
        json!("at_risk"),
    );
    let doc = with(
        doc,
        "/housing_situation/likely_homeless_on",
        json!("2027-01-18"),
    );
    assert_eq!(warnings(&doc), Vec::<&str>::new());
}

fn with_postcode(postcode: &str) -> Value {
    with(
        valid(),
        "/person/contact/address",
        json!({ "line1": "Unit 1", "postcode": postcode }),
    )
}

#[test]
fn a_forces_postcode_is_explained_and_an_ordinary_bf_like_one_is_not() {
    assert_eq!(
        warnings_at(&with_postcode("bf1 4fb")),
        vec![(
            "/person/contact/address/postcode".to_owned(),
            "postcode.bfpo"
        )]
    );
    let accepted = Referral::parse(&with_postcode("BF1 4FB"), &as_of()).expect("valid");
    assert!(accepted.warnings[0]
        .message
        .contains("British Forces Post Office"));
    // Bradford's BD1 and a B1 Birmingham code are places, not forces mail.
    assert_eq!(warnings(&with_postcode("BD1 1AA")), Vec::<&str>::new());
    assert_eq!(warnings(&with_postcode("B1 1AA")), Vec::<&str>::new());
}

// --- ages (docs/rules.md §5) --------------------------------------------------------------------

fn born(d: &str) -> Value {
    with(valid(), "/person/date_of_birth", json!(d))
}

#[test]
fn a_person_aged_15_is_refused() {
    assert_eq!(error_codes(&born("2010-11-24")), vec!["person.under_16"]);
}

#[test]
fn a_person_turning_16_today_is_accepted_with_a_warning() {
    assert_eq!(warnings(&born("2010-11-23")), vec!["person.aged_16_or_17"]);
}

#[test]
fn a_person_aged_17_is_accepted_with_a_warning() {
    assert_eq!(warnings(&born("2008-11-24")), vec!["person.aged_16_or_17"]);
}

#[test]
fn a_person_turning_18_today_is_an_adult() {
    assert_eq!(warnings(&born("2008-11-23")), Vec::<&str>::new());
}

#[test]
fn a_leap_day_birthday_turns_16_on_1_march() {
    let doc = born("2012-02-29");
    let on = |d: &str| {
        let a = AsOf::at(format!("{d}T12:00:00Z").parse().expect("instant"));
        let doc = with(
            doc.clone(),
            "/consent/recorded_at",
            json!(format!("{d}T11:00:00Z")),
        );
        let doc = with(doc, "/housing_situation/likely_homeless_on", json!(d));
        match Referral::parse(&doc, &a) {
            Ok(acc) => acc
                .warnings
                .into_iter()
                .map(|i| i.code.as_str())
                .collect::<Vec<_>>(),
            Err(r) => r.errors.into_iter().map(|i| i.code.as_str()).collect(),
        }
    };
    assert_eq!(on("2028-02-28"), vec!["person.under_16"]);
    assert_eq!(on("2028-02-29"), vec!["person.aged_16_or_17"]);
    let doc = born("2008-02-29");
    let _ = doc;
    let on18 = |d: &str| {
        let a = AsOf::at(format!("{d}T12:00:00Z").parse().expect("instant"));
        let doc = with(
            born("2008-02-29"),
            "/consent/recorded_at",
            json!(format!("{d}T11:00:00Z")),
        );
        let doc = with(doc, "/housing_situation/likely_homeless_on", json!(d));
        Referral::parse(&doc, &a)
            .map(|acc| acc.warnings.len())
            .map_err(|r| r.errors)
    };
    assert_eq!(on18("2026-02-28"), Ok(1), "still 17 on 28 February");
    assert_eq!(on18("2026-03-01"), Ok(0), "18 on 1 March");
}

#[test]
fn a_date_of_birth_tomorrow_is_in_the_future() {
    assert_eq!(
        error_codes(&born("2026-11-24")),
        vec!["person.date_of_birth_in_future"]
    );
}

#[test]
fn a_malformed_date_of_birth_is_date_invalid() {
    assert_eq!(error_codes(&born("01/05/1990")), vec!["date.invalid"]);
    assert_eq!(error_codes(&born("1990-02-30")), vec!["date.invalid"]);
}

// --- consent and the safeguarding override (s.213B(2); Working Together 2023) -----------------

fn override_for(concern: &str) -> Value {
    json!({
        "concern_for": concern,
        "reason": "Child at risk of significant harm; parent refuses.",
        "authorised_by": "Team Manager A. Khan"
    })
}

#[test]
fn refused_consent_without_an_override_is_refused() {
    let doc = with(valid(), "/consent/referral", json!(false));
    assert_eq!(
        errors(&doc),
        vec![(
            "/consent/safeguarding_override".to_owned(),
            "consent.override_required"
        )]
    );
}

// (2026-12-04) Consent to sharing contact details is separate from consent to the referral.
#[test]
fn own_details_without_consent_to_share_them_are_refused_at_each_detail() {
    let doc = with(valid(), "/consent/share_contact_details", json!(false));
    let doc = with(doc, "/person/contact/email", json!("zoe@example.org"));
    assert_eq!(
        errors(&doc),
        vec![
            (
                "/person/contact/email".to_owned(),
                "consent.contact_not_shared"
            ),
            (
                "/person/contact/phone".to_owned(),
                "consent.contact_not_shared"
            ),
        ]
    );
}

#[test]
fn reached_only_through_the_referrer_without_sharing_details_is_valid_without_an_override() {
    let doc = with(valid(), "/consent/share_contact_details", json!(false));
    let doc = with(
        doc,
        "/person/contact",
        json!({ "via_referrer": true, "phone": "" }),
    );
    assert_eq!(warnings(&doc), Vec::<&str>::new());
}

#[test]
fn own_details_not_shared_are_covered_by_an_override() {
    let doc = with(valid(), "/consent/share_contact_details", json!(false));
    let doc = with(
        doc,
        "/consent/safeguarding_override",
        override_for("adult_at_risk"),
    );
    assert_eq!(errors(&doc), vec![]);
}

#[test]
fn a_blank_override_form_on_a_consented_referral_is_no_override() {
    let blank =
        json!({ "concern_for": "", "reason": " ", "authorised_by": "", "local_procedure": "" });
    let doc = with(valid(), "/consent/safeguarding_override", blank.clone());
    assert_eq!(
        warnings(&doc),
        Vec::<&str>::new(),
        "not even override_unnecessary"
    );
    // When an override was needed, the error is the one for its absence.
    let refused = with(doc, "/consent/referral", json!(false));
    assert_eq!(
        errors(&refused),
        vec![(
            "/consent/safeguarding_override".to_owned(),
            "consent.override_required"
        )]
    );
    // A half-filled one is still incomplete.
    let half = with(
        valid(),
        "/consent/safeguarding_override",
        json!({ "concern_for": "child", "reason": "", "authorised_by": "" }),
    );
    let half = with(half, "/consent/referral", json!(false));
    assert!(error_codes(&half).contains(&"consent.override_incomplete"));
}

#[test]
fn an_adult_at_risk_override_for_a_17_year_old_is_warned_and_for_an_18_year_old_not() {
    // as_of() is 2026-11-23: born 2008-11-24 is 17, born 2008-11-23 is 18 today.
    let base = with(valid(), "/consent/referral", json!(false));
    let base = with(
        base,
        "/consent/safeguarding_override",
        override_for("adult_at_risk"),
    );
    let seventeen = with(base.clone(), "/person/date_of_birth", json!("2008-11-24"));
    assert_eq!(
        warnings_at(&seventeen)
            .into_iter()
            .filter(|(_, c)| *c == "consent.override_concern_mismatch")
            .collect::<Vec<_>>(),
        vec![(
            "/consent/safeguarding_override/concern_for".to_owned(),
            "consent.override_concern_mismatch"
        )]
    );
    let eighteen = with(base.clone(), "/person/date_of_birth", json!("2008-11-23"));
    assert!(!warnings(&eighteen).contains(&"consent.override_concern_mismatch"));
    let child = with(
        seventeen,
        "/consent/safeguarding_override/concern_for",
        json!("child"),
    );
    assert!(!warnings(&child).contains(&"consent.override_concern_mismatch"));
}

// (2026-12-04) A sub-form whose members are all blank or absent is not given.
#[test]
fn blank_sub_forms_are_not_given() {
    let doc = with(
        valid(),
        "/person/contact/address",
        json!({ "line1": "", "line2": " ", "town": "", "postcode": "" }),
    );
    assert_eq!(warnings(&doc), Vec::<&str>::new());
    let doc = with(valid(), "/person/contact/address", json!({}));
    assert_eq!(warnings(&doc), Vec::<&str>::new());
    let doc = with(
        valid(),
        "/housing_situation/possession_notice",
        json!({ "kind": "", "expires_on": "" }),
    );
    assert_eq!(warnings(&doc), Vec::<&str>::new());
    let doc = with(
        valid(),
        "/household",
        json!({ "adults": "", "children": "" }),
    );
    assert_eq!(warnings(&doc), Vec::<&str>::new());
    let doc = with(
        valid(),
        "/household",
        json!({ "adults": 1, "children": "" }),
    );
    assert_eq!(warnings(&doc), Vec::<&str>::new(), "one blank count");
    let doc = with(
        valid(),
        "/risk",
        json!({ "to_self": "", "to_others": "\u{200B}" }),
    );
    assert_eq!(warnings(&doc), Vec::<&str>::new());
    let doc = with(valid(), "/medical", json!({ "key_information": "  " }));
    assert_eq!(warnings(&doc), Vec::<&str>::new());
    // The opposite: a half-filled address is still judged.
    let half = with(
        valid(),
        "/person/contact/address",
        json!({ "line1": "1 High Street", "postcode": "" }),
    );
    assert_eq!(
        errors(&half),
        vec![(
            "/person/contact/address/postcode".to_owned(),
            "postcode.invalid"
        )]
    );
    // A blank address is no way to contact anyone.
    let only = with(
        valid(),
        "/person/contact",
        json!({ "address": { "line1": "", "postcode": "" } }),
    );
    assert_eq!(error_codes(&only), vec!["contact.none"]);
    // A blank form with a member it does not have is read, so the member is reported.
    let odd = with(valid(), "/household", json!({ "adults": "", "pets": "" }));
    assert_eq!(
        errors(&odd),
        vec![("/household/pets".to_owned(), "field.unknown")]
    );
}

#[test]
fn no_fixed_abode_is_no_address() {
    for address in [
        json!({ "line1": "No fixed abode", "postcode": "NFA" }),
        json!({ "line1": "NFA", "postcode": "" }),
        json!({ "line1": "", "postcode": "nfa" }),
        json!({ "line1": "No Fixed Abode.", "town": "" }),
    ] {
        let doc = with(valid(), "/person/contact/address", address.clone());
        assert_eq!(warnings(&doc), Vec::<&str>::new(), "{address}");
        let only = with(valid(), "/person/contact", json!({ "address": address }));
        assert_eq!(error_codes(&only), vec!["contact.none"]);
    }
    // The opposite: a real address that mentions no fixed abode elsewhere is an address.
    let doc = with(
        valid(),
        "/person/contact/address",
        json!({ "line1": "No fixed abode", "town": "Leeds", "postcode": "LS1 4AP" }),
    );
    assert_eq!(
        errors(&doc),
        vec![],
        "line1 says NFA but a town and postcode are given: judged as an address"
    );
}

#[test]
fn refused_consent_with_a_complete_override_is_accepted() {
    let doc = with(valid(), "/consent/referral", json!(false));
    for concern in ["child", "adult_at_risk"] {
        let doc = with(
            doc.clone(),
            "/consent/safeguarding_override",
            override_for(concern),
        );
        assert_eq!(warnings(&doc), Vec::<&str>::new());
    }
}

#[test]
fn an_incomplete_override_names_each_missing_part() {
    let doc = with(valid(), "/consent/referral", json!(false));
    let doc = with(
        doc,
        "/consent/safeguarding_override",
        json!({"reason": "nineteen characters"}),
    );
    assert_eq!(
        errors(&doc),
        vec![
            (
                "/consent/safeguarding_override/concern_for".to_owned(),
                "consent.override_incomplete"
            ),
            (
                "/consent/safeguarding_override/reason".to_owned(),
                "consent.override_incomplete"
            ),
            (
                "/consent/safeguarding_override/authorised_by".to_owned(),
                "consent.override_incomplete"
            ),
        ]
    );
}

#[test]
fn an_override_reason_of_20_characters_is_enough() {
    let doc = with(valid(), "/consent/referral", json!(false));
    let mut o = override_for("child");
    o["reason"] = json!("twenty characters!!!");
    assert_eq!(o["reason"].as_str().map(|s| s.chars().count()), Some(20));
    assert!(errors(&with(doc, "/consent/safeguarding_override", o)).is_empty());
}

#[test]
fn an_override_with_an_unknown_concern_is_invalid_value() {
    let doc = with(valid(), "/consent/referral", json!(false));
    let doc = with(doc, "/consent/safeguarding_override", override_for("pet"));
    assert_eq!(error_codes(&doc), vec!["field.invalid_value"]);
}

#[test]
fn an_override_with_full_consent_is_unnecessary() {
    let doc = with(
        valid(),
        "/consent/safeguarding_override",
        override_for("adult_at_risk"),
    );
    assert_eq!(warnings(&doc), vec!["consent.override_unnecessary"]);
}

#[test]
fn consent_five_minutes_ahead_is_clock_skew_and_a_second_more_is_the_future() {
    let doc = with(
        valid(),
        "/consent/recorded_at",
        json!("2026-11-23T12:05:00Z"),
    );
    assert!(errors(&doc).is_empty());
    let doc = with(
        valid(),
        "/consent/recorded_at",
        json!("2026-11-23T12:05:01Z"),
    );
    assert_eq!(error_codes(&doc), vec!["consent.recorded_in_future"]);
}

#[test]
fn consent_exactly_30_days_old_is_fresh_and_older_is_stale() {
    let doc = with(
        valid(),
        "/consent/recorded_at",
        json!("2026-10-24T12:00:00Z"),
    );
    assert_eq!(warnings(&doc), Vec::<&str>::new());
    let doc = with(
        valid(),
        "/consent/recorded_at",
        json!("2026-10-24T11:59:59Z"),
    );
    assert_eq!(warnings(&doc), vec!["consent.stale"]);
}

// --- the housing authority (s.213B(2); docs/rules.md §6) ------------------------------------------

fn authority(code: &str) -> Value {
    with(valid(), "/housing_authority/gss_code", json!(code))
}

#[test]
fn a_county_council_is_not_a_housing_authority() {
    assert_eq!(
        error_codes(&authority("E10000016")),
        vec!["housing_authority.not_housing_authority"]
    );
}

#[test]
fn a_welsh_authority_is_not_in_england() {
    assert_eq!(
        error_codes(&authority("W06000015")),
        vec!["housing_authority.not_in_england"]
    );
}

#[test]
fn an_abolished_authority_is_unknown() {
    assert_eq!(
        error_codes(&authority("E07000026")),
        vec!["housing_authority.unknown"]
    );
}

#[test]
fn sheffields_old_code_is_accepted_with_a_warning_and_normalized() {
    let doc = authority("E08000019");
    let accepted = Referral::parse(&doc, &as_of()).expect("valid");
    assert_eq!(
        accepted.referral.to_json()["housing_authority"]["gss_code"],
        "E08000039"
    );
    assert_eq!(accepted.warnings[0].code, Code::HousingAuthorityCodeChanged);
    assert_eq!(accepted.warnings[0].pointer, "/housing_authority/gss_code");
}

#[test]
fn an_authority_the_person_did_not_choose_needs_an_override() {
    let doc = with(valid(), "/housing_authority/chosen_by_person", json!(false));
    assert_eq!(error_codes(&doc), vec!["housing_authority.not_chosen"]);
    let doc = with(doc, "/consent/referral", json!(false));
    let doc = with(doc, "/consent/safeguarding_override", override_for("child"));
    assert!(errors(&doc).is_empty());
}

// --- contact and text -------------------------------------------------------------------------

#[test]
fn no_way_to_contact_the_person_is_contact_none() {
    let doc = with(valid(), "/person/contact", json!({}));
    assert_eq!(
        errors(&doc),
        vec![("/person/contact".to_owned(), "contact.none")]
    );
    let doc = with(valid(), "/person/contact", json!({"via_referrer": false}));
    assert_eq!(error_codes(&doc), vec!["contact.none"]);
}

#[test]
fn contact_via_the_referrer_is_enough() {
    let doc = with(valid(), "/person/contact", json!({"via_referrer": true}));
    assert!(errors(&doc).is_empty());
}

#[test]
fn a_malformed_contact_is_reported_as_such_not_as_none() {
    let doc = with(
        valid(),
        "/person/contact",
        json!({"email": "nope", "phone": "12", "address": {"line1": "1 High St", "postcode": "XYZ"}}),
    );
    assert_eq!(
        errors(&doc),
        vec![
            ("/person/contact/email".to_owned(), "email.invalid"),
            ("/person/contact/phone".to_owned(), "phone.invalid"),
            (
                "/person/contact/address/postcode".to_owned(),
                "postcode.invalid"
            ),
        ]
    );
}

#[test]
fn an_address_needs_line1_and_postcode() {
    let doc = with(valid(), "/person/contact/address", json!({"town": "Leeds"}));
    assert_eq!(
        errors(&doc),
        vec![
            ("/person/contact/address/line1".to_owned(), "field.required"),
            (
                "/person/contact/address/postcode".to_owned(),
                "field.required"
            ),
        ]
    );
}

#[test]
fn a_100_character_name_is_accepted_and_101_is_too_long() {
    assert!(errors(&with(valid(), "/person/given_name", json!("é".repeat(100)))).is_empty());
    assert_eq!(
        error_codes(&with(valid(), "/person/given_name", json!("é".repeat(101)))),
        vec!["field.too_long"]
    );
}

#[test]
fn a_name_with_a_newline_has_control_characters() {
    assert_eq!(
        error_codes(&with(valid(), "/person/family_name", json!("Smith\nJones"))),
        vec!["field.control_chars"]
    );
}

#[test]
fn medical_and_risk_text_of_4000_characters_is_accepted_and_4001_is_too_long() {
    let doc = with(
        valid(),
        "/medical/key_information",
        json!("x\n".repeat(2000)),
    );
    assert!(errors(&doc).is_empty());
    let doc = with(valid(), "/risk/to_staff", json!("x".repeat(4001)));
    assert_eq!(
        errors(&doc),
        vec![("/risk/to_staff".to_owned(), "field.too_long")]
    );
}

#[test]
fn household_counts_run_from_0_to_50() {
    assert!(errors(&with(
        valid(),
        "/household",
        json!({"adults": 0, "children": 50, "pregnant": true})
    ))
    .is_empty());
    assert_eq!(
        error_codes(&with(valid(), "/household", json!({"children": 51}))),
        vec!["field.invalid_value"]
    );
    assert_eq!(
        error_codes(&with(valid(), "/household", json!({"adults": -1}))),
        vec!["field.invalid_value"]
    );
    assert_eq!(
        error_codes(&with(valid(), "/household", json!({"adults": "2"}))),
        vec!["field.type"]
    );
}

#[test]
fn a_case_reference_over_100_characters_is_too_long() {
    assert!(errors(&with(valid(), "/case_reference", json!("R".repeat(100)))).is_empty());
    assert_eq!(
        error_codes(&with(valid(), "/case_reference", json!("R".repeat(101)))),
        vec!["field.too_long"]
    );
}

// --- corrections of 2026-11-29 (issue 12) ------------------------------------------------------

fn warnings_at(doc: &Value) -> Vec<(String, &'static str)> {
    match Referral::parse(doc, &as_of()) {
        Ok(a) => a
            .warnings
            .into_iter()
            .map(|i| (i.pointer, i.code.as_str()))
            .collect(),
        Err(r) => panic!("expected valid, got {:?}", r.errors),
    }
}

#[test]
fn a_drama_range_mobile_is_accepted_normalized_and_warned_about() {
    let doc = with(valid(), "/person/contact/phone", json!("07700 900123"));
    assert_eq!(
        warnings_at(&doc),
        vec![(
            "/person/contact/phone".to_owned(),
            "phone.unrecognised_range"
        )]
    );
    let accepted = Referral::parse(&doc, &as_of()).expect("valid");
    assert_eq!(
        accepted.referral.to_json()["person"]["contact"]["phone"],
        "+447700900123"
    );
}

#[test]
fn an_allocated_number_beside_it_draws_no_warning() {
    // 020 7946 0xxx is London's drama range; 020 7946 1xxx beside it is an ordinary range.
    let doc = with(valid(), "/person/contact/phone", json!("020 7946 1018"));
    assert_eq!(warnings(&doc), Vec::<&str>::new());
}

#[test]
fn a_drama_range_number_one_digit_short_is_still_invalid() {
    let doc = with(valid(), "/person/contact/phone", json!("07700 90012"));
    assert_eq!(
        errors(&doc),
        vec![("/person/contact/phone".to_owned(), "phone.invalid")]
    );
}

#[test]
fn the_referrers_phone_follows_the_same_rule() {
    let doc = with(valid(), "/referrer/phone", json!("01632 960123"));
    assert_eq!(
        warnings_at(&doc),
        vec![("/referrer/phone".to_owned(), "phone.unrecognised_range")]
    );
    let doc = with(valid(), "/referrer/phone", json!("01632 9601234"));
    assert_eq!(
        errors(&doc),
        vec![("/referrer/phone".to_owned(), "phone.invalid")]
    );
}

#[test]
fn threatened_while_sleeping_rough_is_already_homeless() {
    let doc = with(
        valid(),
        "/housing_situation/rough_sleeping",
        json!("sleeping_rough"),
    );
    assert_eq!(
        errors(&doc),
        vec![(
            "/housing_situation/reason".to_owned(),
            "threat.already_homeless"
        )]
    );
}

#[test]
fn threatened_with_imminent_rough_sleeping_is_still_threatened() {
    assert_eq!(
        warnings(&imminent_on("2026-11-30")),
        vec!["rough_sleeping.imminent"]
    );
}

fn homeless() -> Value {
    let doc = with(valid(), "/housing_situation/reason", json!("homeless"));
    with(doc, "/housing_situation/likely_homeless_on", Value::Null)
}

#[test]
fn a_person_sleeping_rough_now_is_flagged_as_the_most_urgent_case() {
    let doc = with(
        homeless(),
        "/housing_situation/rough_sleeping",
        json!("sleeping_rough"),
    );
    assert_eq!(
        warnings_at(&doc),
        vec![(
            "/housing_situation/rough_sleeping".to_owned(),
            "rough_sleeping.now"
        )]
    );
    let at_risk = with(
        homeless(),
        "/housing_situation/rough_sleeping",
        json!("at_risk"),
    );
    assert_eq!(warnings(&at_risk), Vec::<&str>::new());
}

fn judged_text(text: &str) -> Result<Accepted, Refused> {
    let document = JsonDocument::parse(text.as_bytes()).expect("JSON");
    Referral::parse_document(&document, &as_of())
}

#[test]
fn a_member_given_twice_is_a_duplicate_reported_with_every_other_error() {
    let text = valid().to_string().replacen(
        r#""referral":true"#,
        r#""referral":false,"referral":true"#,
        1,
    );
    assert!(text.contains(r#""referral":false,"referral":true"#));
    let refused = judged_text(&text.replacen("Sam Worker", "", 1)).expect_err("refused");
    let found: Vec<(String, &str)> = refused
        .errors
        .into_iter()
        .map(|i| (i.pointer, i.code.as_str()))
        .collect();
    assert_eq!(
        found,
        vec![
            ("/consent/referral".to_owned(), "field.duplicate"),
            ("/referrer/name".to_owned(), "field.too_short"),
        ]
    );
}

#[test]
fn the_same_text_without_the_repeat_is_valid() {
    assert!(judged_text(&valid().to_string()).is_ok());
}

#[test]
fn a_repeated_member_with_the_same_value_is_still_a_duplicate() {
    let text = valid().to_string().replacen(
        r#""rough_sleeping":"no""#,
        r#""rough_sleeping":"no","rough_sleeping":"no""#,
        1,
    );
    let refused = judged_text(&text).expect_err("refused");
    assert_eq!(
        refused.errors[0].pointer,
        "/housing_situation/rough_sleeping"
    );
    assert_eq!(refused.errors[0].code, Code::FieldDuplicate);
}

#[test]
fn an_abolished_county_council_is_unknown_not_a_county_to_look_under() {
    for code in [
        "E10000006",
        "E10000023",
        "E10000027",
        "E10000002",
        "E10000009",
        "E10000021",
    ] {
        assert_eq!(
            error_codes(&authority(code)),
            vec!["housing_authority.unknown"],
            "{code}"
        );
    }
    assert_eq!(
        error_codes(&authority("E10000099")),
        vec!["housing_authority.unknown"],
        "an E10 code that never existed"
    );
    assert_eq!(
        error_codes(&authority("E10000016")),
        vec!["housing_authority.not_housing_authority"],
        "Kent County Council still exists"
    );
}

#[test]
fn empty_optional_fields_are_not_given() {
    let mut doc = with(valid(), "/person/contact/phone", json!(""));
    doc = with(doc, "/person/contact/email", json!(""));
    doc = with(doc, "/person/contact/via_referrer", json!(true));
    doc = with(doc, "/person/date_of_birth", json!(""));
    doc = with(doc, "/referrer/phone", json!(""));
    let accepted = Referral::parse(&doc, &as_of()).expect("valid");
    let n = accepted.referral.to_json();
    assert_eq!(n["person"]["contact"], json!({"via_referrer": true}));
    assert!(n["person"].get("date_of_birth").is_none());
    assert!(n["referrer"].get("phone").is_none());
}

#[test]
fn empty_contact_fields_alone_are_no_contact() {
    let doc = with(
        valid(),
        "/person/contact",
        json!({"phone": "", "email": " "}),
    );
    assert_eq!(
        errors(&doc),
        vec![("/person/contact".to_owned(), "contact.none")]
    );
}

#[test]
fn an_empty_threat_date_on_a_homeless_referral_is_not_given() {
    let doc = with(
        homeless(),
        "/housing_situation/likely_homeless_on",
        json!(""),
    );
    assert!(errors(&doc).is_empty());
    let doc = with(
        homeless(),
        "/housing_situation/likely_homeless_on",
        json!("2026-12-01"),
    );
    assert_eq!(error_codes(&doc), vec!["threat.date_not_allowed"]);
}

#[test]
fn an_empty_required_field_is_still_an_error() {
    let doc = with(valid(), "/housing_situation/likely_homeless_on", json!(""));
    assert_eq!(error_codes(&doc), vec!["threat.date_required"]);
    let doc = with(valid(), "/referrer/email", json!(""));
    assert_eq!(error_codes(&doc), vec!["email.invalid"]);
    let doc = with(valid(), "/person/given_name", json!(""));
    assert_eq!(error_codes(&doc), vec!["field.too_short"]);
}

fn self_authorised(authoriser: &str) -> Value {
    let doc = with(valid(), "/consent/referral", json!(false));
    let mut o = override_for("adult_at_risk");
    o["authorised_by"] = json!(authoriser);
    with(doc, "/consent/safeguarding_override", o)
}

#[test]
fn an_override_authorised_by_the_referrer_themself_is_flagged() {
    for same in [
        "Sam Worker",
        "sam worker",
        "  SAM   WORKER ",
        "SamWorker",
        "Sam Worker (Team Manager)",
        "sam worker(senior practitioner) ",
    ] {
        assert_eq!(
            warnings_at(&self_authorised(same)),
            vec![(
                "/consent/safeguarding_override/authorised_by".to_owned(),
                "consent.override_self_authorised"
            )],
            "{same}"
        );
    }
}

#[test]
fn an_override_authorised_by_someone_else_is_not() {
    for other in ["Sam Workman", "Jo Manager (for Sam Worker)", "(Sam Worker)"] {
        assert_eq!(
            warnings(&self_authorised(other)),
            Vec::<&str>::new(),
            "{other}"
        );
    }
}

#[test]
fn another_kind_of_notice_is_refused_saying_only_housing_act_notices_count() {
    let doc = with(
        valid(),
        "/housing_situation/possession_notice",
        json!({"kind": "section_13", "expires_on": "2027-01-01"}),
    );
    let refused = Referral::parse(&doc, &as_of()).expect_err("refused");
    assert_eq!(refused.errors[0].code, Code::FieldInvalidValue);
    assert_eq!(
        refused.errors[0].pointer,
        "/housing_situation/possession_notice/kind"
    );
    assert!(refused.errors[0].message.contains("Housing Act 1988"));
}

#[test]
fn a_child_under_16_is_sent_to_childrens_services_naming_their_duty() {
    let refused = Referral::parse(
        &with(valid(), "/person/date_of_birth", json!("2015-01-01")),
        &as_of(),
    )
    .expect_err("refused");
    assert!(refused.errors.iter().any(|e| e.code == Code::PersonUnder16
        && e.message.contains("section 20 of the Children Act 1989")));
}

#[test]
fn a_child_under_16_referred_by_childrens_services_is_theirs_to_assess() {
    let doc = with(valid(), "/person/date_of_birth", json!("2015-01-01"));
    let message = |agency| {
        let refused = Referral::parse(&doc, &as_of().referred_by(agency)).expect_err("refused");
        assert_eq!(refused.errors[0].code, Code::PersonUnder16);
        refused.errors[0].message.clone()
    };
    let own = message(Some(AgencyType::ChildrensSocialCare));
    assert!(own.contains("As children's services, assess them as a child in need"));
    let other = message(Some(AgencyType::Probation));
    assert!(other.contains("Refer them to children's services"));
    assert_eq!(other, message(None));
}

#[test]
fn an_override_that_waives_the_persons_choice_is_not_unnecessary() {
    let doc = with(valid(), "/housing_authority/chosen_by_person", json!(false));
    let doc = with(doc, "/consent/safeguarding_override", override_for("child"));
    assert_eq!(warnings(&doc), Vec::<&str>::new());
}

#[test]
fn an_unnecessary_override_is_not_mentioned_beside_errors() {
    let doc = with(
        valid(),
        "/consent/safeguarding_override",
        override_for("child"),
    );
    let doc = with(doc, "/housing_situation/summary", json!("short"));
    let refused = Referral::parse(&doc, &as_of()).expect_err("refused");
    assert!(refused
        .warnings
        .iter()
        .all(|w| w.code != Code::ConsentOverrideUnnecessary));
}

#[test]
fn an_override_that_changes_nothing_is_unnecessary() {
    let doc = with(
        valid(),
        "/consent/safeguarding_override",
        override_for("child"),
    );
    assert_eq!(
        warnings_at(&doc),
        vec![(
            "/consent/safeguarding_override".to_owned(),
            "consent.override_unnecessary"
        )]
    );
}

#[test]
fn consent_on_the_day_the_duty_began_is_accepted_and_the_day_before_is_not() {
    let as_of_then = AsOf::at("2018-10-02T12:00:00Z".parse().expect("instant"));
    let threat = |doc: Value| {
        with(
            doc,
            "/housing_situation/likely_homeless_on",
            json!("2018-10-20"),
        )
    };
    // 1 October 2018 00:00 in England is 30 September 23:00 UTC (BST).
    let doc = threat(with(
        valid(),
        "/consent/recorded_at",
        json!("2018-09-30T23:00:00Z"),
    ));
    assert!(Referral::parse(&doc, &as_of_then).is_ok());
    let doc = threat(with(
        valid(),
        "/consent/recorded_at",
        json!("2018-09-30T22:59:59Z"),
    ));
    let refused = Referral::parse(&doc, &as_of_then).expect_err("before the duty");
    assert_eq!(
        refused
            .errors
            .iter()
            .map(|i| (i.pointer.as_str(), i.code.as_str()))
            .collect::<Vec<_>>(),
        vec![("/consent/recorded_at", "field.invalid_value")]
    );
}

#[test]
fn consent_on_the_date_of_birth_is_not_before_it_and_the_day_before_is() {
    // (The person would be seven, which has its own error at /person/date_of_birth.)
    let doc = with(valid(), "/person/date_of_birth", json!("2019-03-10"));
    let on_birthday = with(
        doc.clone(),
        "/consent/recorded_at",
        json!("2019-03-10T09:00:00Z"),
    );
    assert!(!errors(&on_birthday)
        .iter()
        .any(|(p, _)| p == "/consent/recorded_at"));
    let day_before = with(doc, "/consent/recorded_at", json!("2019-03-09T09:00:00Z"));
    assert_eq!(
        errors(&day_before)
            .into_iter()
            .filter(|(p, _)| p == "/consent/recorded_at")
            .collect::<Vec<_>>(),
        vec![("/consent/recorded_at".to_owned(), "field.invalid_value")]
    );
}

#[test]
fn a_possession_notice_on_a_homeless_referral_is_worded_for_a_homeless_person_too() {
    let doc = with(
        homeless(),
        "/housing_situation/possession_notice",
        json!({"kind": "section_8", "expires_on": "2026-12-10"}),
    );
    let accepted = Referral::parse(&doc, &as_of()).expect("valid");
    let message = &accepted.warnings[0].message;
    assert_eq!(accepted.warnings[0].code, Code::ThreatPossessionNotice);
    assert!(
        message.contains("not already homeless") && !message.contains("the person is threatened"),
        "{message}"
    );
}

#[test]
fn a_name_of_only_invisible_characters_is_blank() {
    let doc = with(valid(), "/person/given_name", json!("\u{200B}\u{FEFF}"));
    assert_eq!(
        errors(&doc),
        vec![("/person/given_name".to_owned(), "field.too_short")]
    );
    let optional = with(valid(), "/referrer/team", json!("\u{200B}"));
    assert!(errors(&optional).is_empty(), "an invisible team is no team");
}

#[test]
fn a_name_with_a_bidirectional_override_has_control_characters() {
    let doc = with(valid(), "/person/family_name", json!("\u{202E}htimS"));
    assert_eq!(
        errors(&doc),
        vec![("/person/family_name".to_owned(), "field.control_chars")]
    );
    let doc = with(valid(), "/person/family_name", json!("Smith\u{2028}Jones"));
    assert_eq!(error_codes(&doc), vec!["field.control_chars"]);
    let plain = with(valid(), "/person/family_name", json!("Smith-Jones"));
    assert!(errors(&plain).is_empty());
}

#[test]
fn a_postcode_with_a_non_breaking_space_is_normalized() {
    let doc = with(
        valid(),
        "/person/contact/address",
        json!({"line1": "1 High St", "postcode": "SW1A\u{00A0}1AA"}),
    );
    let accepted = Referral::parse(&doc, &as_of()).expect("valid");
    assert_eq!(
        accepted.referral.to_json()["person"]["contact"]["address"]["postcode"],
        "SW1A 1AA"
    );
}

#[test]
fn an_email_domain_without_a_dot_is_invalid() {
    let doc = with(valid(), "/referrer/email", json!("alex@justice"));
    assert_eq!(
        errors(&doc),
        vec![("/referrer/email".to_owned(), "email.invalid")]
    );
    let doc = with(valid(), "/referrer/email", json!("alex@justice.gov.uk"));
    assert!(errors(&doc).is_empty());
    let doc = with(valid(), "/person/contact/email", json!("alex@justice."));
    assert_eq!(error_codes(&doc), vec!["email.invalid"]);
}

#[test]
fn messages_never_echo_the_submitted_value() {
    let secret = "Secret-Name-\u{7}-xyz";
    let doc = with(valid(), "/person/given_name", json!(secret));
    let doc = with(doc, "/person/contact/email", json!("secret-address"));
    let doc = with(doc, "/unknown_member", json!(secret));
    let refused = Referral::parse(&doc, &as_of()).expect_err("invalid");
    for issue in refused.errors {
        assert!(
            !issue.message.contains("Secret") && !issue.message.contains("secret-address"),
            "{issue:?}"
        );
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn arbitrary_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|n| json!(n)),
            ".{0,30}".prop_map(Value::String),
            prop::sample::select(vec![
                "2026-12-01",
                "E09000033",
                "homeless",
                "child",
                "07911 123456",
                "a@b.org"
            ])
            .prop_map(|s| json!(s)),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            let keys = prop::sample::select(vec![
                "person",
                "consent",
                "housing_authority",
                "housing_situation",
                "referrer",
                "contact",
                "given_name",
                "reason",
                "gss_code",
                "recorded_at",
                "email",
                "x",
            ]);
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(keys, inner, 0..6).prop_map(|m| Value::Object(
                    m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
                )),
            ]
        })
    }

    proptest! {
        #[test]
        fn parsing_arbitrary_json_never_panics_and_always_decides(doc in arbitrary_json()) {
            match Referral::parse(&doc, &as_of()) {
                Ok(a) => prop_assert!(Referral::parse(&a.referral.to_json(), &as_of()).is_ok()),
                Err(r) => prop_assert!(!r.errors.is_empty()),
            }
        }

        #[test]
        fn mutating_one_member_of_a_valid_referral_never_panics(
            pointer in prop::sample::select(vec![
                "/person/given_name", "/person/date_of_birth", "/person/contact/phone", "/consent/recorded_at",
                "/housing_authority/gss_code", "/housing_situation/likely_homeless_on", "/household/adults",
                "/referrer/email", "/case_reference",
            ]),
            value in arbitrary_json(),
        ) {
            let doc = with(valid(), pointer, value);
            match Referral::parse(&doc, &as_of()) {
                Ok(a) => prop_assert!(Referral::parse(&a.referral.to_json(), &as_of()).is_ok()),
                Err(r) => prop_assert!(!r.errors.is_empty()),
            }
        }
    }
}

#[test]
fn a_normalized_possession_notice_keeps_its_wire_kind_and_validates_again() {
    for kind in ["section_8", "section_21"] {
        let doc = with(
            valid(),
            "/housing_situation/possession_notice",
            json!({"kind": kind, "expires_on": "2026-12-10"}),
        );
        let n = Referral::parse(&doc, &as_of())
            .expect("valid")
            .referral
            .to_json();
        assert_eq!(n["housing_situation"]["possession_notice"]["kind"], kind);
        assert!(Referral::parse(&n, &as_of()).is_ok(), "{kind}");
    }
}
