//! Every transition from every state: allowed → what it changes and records; refused → which error.

use super::*;
use sea_orm::ActiveValue;
use std::time::Duration;

const NOW: i64 = 1_795_435_200_000;

const ALL: [Status; 6] = [
    Status::Queued,
    Status::AwaitingCollection,
    Status::Delivered,
    Status::Acknowledged,
    Status::Failed,
    Status::Withdrawn,
];

pub(crate) fn row(status: Status) -> referral::Model {
    referral::Model {
        seq: 1,
        id: "0190a0b0-0000-7000-8000-000000000001".to_owned(),
        organisation: "HMPPS Yorkshire".to_owned(),
        agency_type: "probation".to_owned(),
        submitted_by: "key".to_owned(),
        gss_code: "E08000039".to_owned(),
        status,
        delivery_mode: if status == Status::AwaitingCollection {
            Mode::Pull
        } else {
            Mode::Push
        },
        submitted_at_ms: NOW - 60_000,
        document: "{}".to_owned(),
        warnings: "[]".to_owned(),
        idempotency_key: None,
        request_hash: None,
        webhook_id: "msg_1".to_owned(),
        attempts: 1,
        next_attempt_at_ms: (status == Status::Queued).then_some(NOW),
        lease_until_ms: None,
        lease_owner: None,
        last_attempt_at_ms: None,
        last_error: None,
        delivered_at_ms: matches!(status, Status::Delivered | Status::Acknowledged)
            .then_some(NOW - 1000),
        acknowledged_at_ms: (status == Status::Acknowledged).then_some(NOW - 500),
        received_by: (status == Status::Acknowledged).then(|| "Housing Options".to_owned()),
        local_reference: None,
        outcome_decision: None,
        outcome_reason: None,
        outcome_other_gss_code: None,
        outcome_recorded_at_ms: None,
        withdrawal_reason: (status == Status::Withdrawn).then(|| "other".to_owned()),
        withdrawn_at_ms: (status == Status::Withdrawn).then_some(NOW - 100),
        status_changed_at_ms: Some(NOW - 100),
        erased_at_ms: None,
    }
}

fn actor() -> Actor {
    Actor {
        key_id: Some("k".to_owned()),
        officer_id: None,
        role: openapi::ActorRole::Authority,
    }
}

fn new_status(t: &Transition) -> Option<Status> {
    match &t.changes.status {
        ActiveValue::Set(s) => Some(*s),
        _ => None,
    }
}

fn actions(t: &Transition) -> Vec<&'static str> {
    t.events.iter().map(|e| e.action.term()).collect()
}

fn outcome(body: serde_json::Value) -> Outcome {
    Outcome::parse(&body, "E08000039").expect("a valid outcome")
}

#[test]
fn acknowledge_from_every_state() {
    for status in ALL {
        let result = acknowledge(&row(status), "HO".to_owned(), None, &actor(), NOW);
        match status {
            Status::Queued | Status::Delivered | Status::Failed => {
                let t = result.expect("allowed").expect("a change");
                assert_eq!(new_status(&t), Some(Status::Acknowledged), "{status:?}");
                assert_eq!(t.changes.next_attempt_at_ms, ActiveValue::Set(None));
                assert_eq!(actions(&t), ["referral.acknowledged"]);
            }
            Status::Acknowledged => assert!(result.expect("allowed").is_none(), "unchanged"),
            Status::AwaitingCollection | Status::Withdrawn => {
                assert_eq!(
                    result.err(),
                    Some(Refusal::WrongState(status)),
                    "{status:?}"
                )
            }
        }
    }
}

#[test]
fn record_outcome_from_every_state() {
    let decision = outcome(serde_json::json!({"decision": "accepted", "reason": "relief_duty"}));
    for status in ALL {
        let result = record_outcome(&row(status), &decision, &actor(), NOW);
        match status {
            Status::Delivered => {
                let t = result.expect("allowed");
                assert_eq!(new_status(&t), Some(Status::Acknowledged));
                assert_eq!(
                    t.changes.received_by,
                    ActiveValue::Set(Some("outcome".to_owned()))
                );
                assert_eq!(
                    actions(&t),
                    ["referral.acknowledged", "referral.outcome_recorded"]
                );
            }
            Status::Acknowledged => {
                let t = result.expect("allowed");
                assert_eq!(new_status(&t), None, "stays acknowledged");
                assert_eq!(
                    t.changes.outcome_reason,
                    ActiveValue::Set(Some("relief_duty".to_owned()))
                );
                assert_eq!(actions(&t), ["referral.outcome_recorded"]);
            }
            _ => assert_eq!(
                result.err(),
                Some(Refusal::WrongState(status)),
                "{status:?}"
            ),
        }
    }
}

#[test]
fn recording_again_replaces_the_outcome_with_one_more_event() {
    let mut acknowledged = row(Status::Acknowledged);
    acknowledged.outcome_decision = Some("accepted".to_owned());
    acknowledged.outcome_reason = Some("prevention_duty".to_owned());
    let referred = outcome(serde_json::json!({
        "decision": "not_accepted", "reason": "referred_to_another_authority",
        "other_authority": {"gss_code": "E08000038"}
    }));
    let t = record_outcome(&acknowledged, &referred, &actor(), NOW).expect("allowed");
    assert_eq!(
        t.changes.outcome_other_gss_code,
        ActiveValue::Set(Some("E08000038".to_owned()))
    );
    assert_eq!(t.events[0].detail["other_gss_code"], "E08000038");
}

#[test]
fn withdraw_from_every_state() {
    for status in ALL {
        for (has_endpoint, emailed) in [(false, false), (true, false), (false, true), (true, true)]
        {
            let r = row(status);
            let result = withdraw(
                &r,
                WithdrawalReason::NewReferral,
                has_endpoint,
                emailed,
                &actor(),
                NOW,
            );
            if status == Status::Withdrawn {
                assert!(
                    result.expect("allowed").is_none(),
                    "withdrawing again changes nothing"
                );
                continue;
            }
            let t = result.expect("allowed").expect("a change");
            assert_eq!(new_status(&t), Some(Status::Withdrawn));
            assert_eq!(
                t.changes.next_attempt_at_ms,
                ActiveValue::Set(None),
                "no push after"
            );
            assert_eq!(t.changes.lease_owner, ActiveValue::Set(None));
            assert_eq!(actions(&t), ["referral.withdrawn"]);
            let received = r.delivered_at_ms.is_some();
            let pushed: Vec<&str> = t
                .follow_ups
                .iter()
                .filter(|f| f.channel == Channel::Webhook)
                .map(|f| f.event_type)
                .collect();
            if received && has_endpoint {
                assert_eq!(pushed, ["referral.withdrawn"], "{status:?}");
                assert_eq!(t.follow_ups[0].payload["reason"], "new_referral");
            } else {
                assert!(pushed.is_empty(), "{status:?} endpoint={has_endpoint}");
            }
            // A mailbox that was told of the referral is told of its withdrawal, whatever else.
            let mailed: Vec<&str> = t
                .follow_ups
                .iter()
                .filter(|f| f.channel == Channel::Email)
                .map(|f| f.event_type)
                .collect();
            assert_eq!(
                mailed,
                if emailed {
                    vec![EMAIL_WITHDRAWN]
                } else {
                    vec![]
                },
                "{status:?}"
            );
        }
    }
}

#[test]
fn an_attempt_that_lands_after_withdrawal_tells_the_authority() {
    let mut withdrawn = row(Status::Withdrawn);
    withdrawn.delivered_at_ms = None;
    let told = delivered_after_withdrawal(&withdrawn, true).expect("a follow-up");
    assert_eq!(told.event_type, "referral.withdrawn");
    assert_eq!(told.payload["reason"], "other");
    assert!(delivered_after_withdrawal(&withdrawn, false).is_none());
    assert!(delivered_after_withdrawal(&row(Status::Delivered), true).is_none());
    withdrawn.delivered_at_ms = Some(NOW);
    assert!(
        delivered_after_withdrawal(&withdrawn, true).is_none(),
        "it was told already"
    );
}

#[test]
fn notes_from_every_state_for_each_author() {
    for status in ALL {
        for author in [NoteAuthor::Referrer, NoteAuthor::Authority] {
            let result = add_note(&row(status), author, "n1", true, false, &[], &actor());
            let allowed = match (author, status) {
                (_, Status::Withdrawn) => false,
                (NoteAuthor::Authority, Status::Delivered | Status::Acknowledged) => true,
                (NoteAuthor::Authority, _) => false,
                (NoteAuthor::Referrer, _) => true,
            };
            match result {
                Ok(t) => {
                    assert!(allowed, "{author:?} {status:?}");
                    assert_eq!(new_status(&t), None, "a note changes no status");
                    assert_eq!(actions(&t), ["note.added"]);
                    let pushes = t.follow_ups.len();
                    let expected = usize::from(
                        author == NoteAuthor::Referrer && row(status).delivered_at_ms.is_some(),
                    );
                    assert_eq!(pushes, expected, "{author:?} {status:?}");
                }
                Err(e) => {
                    assert!(!allowed, "{author:?} {status:?}");
                    assert_eq!(e, Refusal::WrongState(status));
                }
            }
        }
    }
    let mut erased = row(Status::Acknowledged);
    erased.erased_at_ms = Some(NOW);
    assert_eq!(
        add_note(
            &erased,
            NoteAuthor::Referrer,
            "n",
            true,
            false,
            &[],
            &actor()
        )
        .err(),
        Some(Refusal::Erased)
    );
}

#[test]
fn redeliver_from_every_state() {
    for status in ALL {
        for has_endpoint in [false, true] {
            let result = redeliver(&row(status), has_endpoint, &actor(), NOW);
            match (status, has_endpoint) {
                (Status::Failed, true) => {
                    let t = result.expect("allowed");
                    assert_eq!(new_status(&t), Some(Status::Queued));
                    assert_eq!(t.changes.attempts, ActiveValue::Set(0));
                    assert_eq!(t.changes.next_attempt_at_ms, ActiveValue::Set(Some(NOW)));
                    assert_eq!(actions(&t), ["referral.redelivery_requested"]);
                }
                (Status::Failed, false) => assert_eq!(result.err(), Some(Refusal::NoEndpoint)),
                _ => assert_eq!(result.err(), Some(Refusal::WrongState(status))),
            }
        }
    }
}

#[test]
fn collect_from_every_state() {
    for status in ALL {
        match collect(&row(status), &actor(), NOW) {
            Some(t) => {
                assert_eq!(status, Status::AwaitingCollection);
                assert_eq!(new_status(&t), Some(Status::Delivered));
                assert_eq!(t.changes.delivered_at_ms, ActiveValue::Set(Some(NOW)));
                assert_eq!(actions(&t), ["delivery.succeeded"]);
            }
            None => assert_ne!(status, Status::AwaitingCollection),
        }
    }
}

#[test]
fn a_withdrawn_referral_the_authority_never_received_is_not_disclosed_to_it() {
    let mut withdrawn = row(Status::Withdrawn);
    withdrawn.delivered_at_ms = None;
    assert!(!discloses_document(&withdrawn, true));
    assert!(
        discloses_document(&withdrawn, false),
        "the referrer still may"
    );
    withdrawn.delivered_at_ms = Some(NOW);
    assert!(discloses_document(&withdrawn, true), "it had received it");
    let mut erased = row(Status::Acknowledged);
    erased.erased_at_ms = Some(NOW);
    assert!(!discloses_document(&erased, false));
}

#[test]
fn accept_decides_push_or_pull_and_whether_the_mailbox_is_told() {
    let submission = Submission {
        row: row(Status::AwaitingCollection),
        actor: actor(),
        warning_codes: vec!["rough_sleeping.now"],
    };
    let (pushed, events, told) = accept(submission.clone(), true, true, NOW);
    assert_eq!(
        (pushed.status, pushed.delivery_mode),
        (Status::Queued, Mode::Push)
    );
    assert_eq!(pushed.next_attempt_at_ms, Some(pushed.submitted_at_ms));
    assert_eq!(events[1].detail["status"], "queued");
    assert_eq!(events[1].detail["warning_codes"][0], "rough_sleeping.now");
    assert!(told.is_empty(), "a pushed referral is not e-mailed");
    let (pulled, events, told) = accept(submission.clone(), false, false, NOW);
    assert_eq!(
        (pulled.status, pulled.delivery_mode),
        (Status::AwaitingCollection, Mode::Pull)
    );
    assert_eq!(pulled.next_attempt_at_ms, None);
    assert_eq!(
        events.iter().map(|e| e.action.term()).collect::<Vec<_>>(),
        ["referral.received", "referral.accepted"]
    );
    assert!(told.is_empty(), "no mailbox, no e-mail");
    let (_, _, told) = accept(submission, false, true, NOW);
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].channel, Channel::Email);
    assert_eq!(told[0].event_type, EMAIL_WAITING);
    // Ids only: the payload never carries the referral's content.
    assert_eq!(
        told[0].payload,
        serde_json::json!({"type": EMAIL_WAITING, "id": pulled.id})
    );
}

#[test]
fn mode_switches_move_the_right_statuses() {
    let to_push = mode_switch(true);
    assert_eq!(to_push.from, [Status::AwaitingCollection]);
    assert_eq!((to_push.to, to_push.mode), (Status::Queued, Mode::Push));
    let to_pull = mode_switch(false);
    assert_eq!(to_pull.from, [Status::Queued, Status::Failed]);
    assert_eq!(
        (to_pull.to, to_pull.mode),
        (Status::AwaitingCollection, Mode::Pull)
    );
}

const SCHEDULE: [Duration; 2] = [Duration::from_secs(60), Duration::from_secs(300)];

#[test]
fn retries_follow_the_schedule_then_stop() {
    assert_eq!(
        plan_retry(1, &SCHEDULE, None),
        Some(Duration::from_secs(60))
    );
    assert_eq!(
        plan_retry(2, &SCHEDULE, None),
        Some(Duration::from_secs(300))
    );
    assert_eq!(
        plan_retry(3, &SCHEDULE, None),
        None,
        "two delays, three attempts"
    );
    assert_eq!(plan_retry(0, &SCHEDULE, None), None);
    assert_eq!(
        plan_retry(1, &[], None),
        None,
        "an empty schedule: one attempt"
    );
}

#[test]
fn retry_after_lengthens_a_wait_but_never_shortens_it() {
    assert_eq!(
        plan_retry(1, &SCHEDULE, Some(Duration::from_secs(120))),
        Some(Duration::from_secs(120))
    );
    assert_eq!(
        plan_retry(1, &SCHEDULE, Some(Duration::from_secs(1))),
        Some(Duration::from_secs(60))
    );
}

#[test]
fn an_attempts_outcome_sets_the_status_and_its_events() {
    let queued = row(Status::Queued); // one attempt made already
    let took = Duration::from_millis(12);
    let delivered = attempted(
        &queued,
        &AttemptOutcome::Delivered(204),
        &SCHEDULE,
        NOW,
        took,
    );
    assert_eq!(delivered.status, Status::Delivered);
    assert_eq!(delivered.delivered_at_ms, Some(NOW));
    assert_eq!(
        delivered
            .events
            .iter()
            .map(|e| e.action.term())
            .collect::<Vec<_>>(),
        ["delivery.attempted", "delivery.succeeded"]
    );
    let retry = AttemptOutcome::Retry {
        error: "http_503".to_owned(),
        status: Some(503),
        retry_after: None,
    };
    let again = attempted(&queued, &retry, &SCHEDULE, NOW, took);
    assert_eq!(again.status, Status::Queued);
    assert_eq!(again.attempts, 2);
    assert_eq!(again.next_attempt_at_ms, Some(NOW + 300_000));
    assert_eq!(again.status_changed_at_ms, queued.status_changed_at_ms);
    let mut last = row(Status::Queued);
    last.attempts = 2;
    let exhausted = attempted(&last, &retry, &SCHEDULE, NOW, took);
    assert_eq!(exhausted.status, Status::Failed);
    assert_eq!(exhausted.events[1].action.term(), "delivery.failed");
    let refused = attempted(&queued, &AttemptOutcome::Refused(410), &SCHEDULE, NOW, took);
    assert_eq!(refused.status, Status::Failed);
    assert_eq!(refused.last_error.as_deref(), Some("http_410"));
    assert_eq!(refused.superseded.detail["superseded"], true);
}

#[test]
fn erase_from_every_state_clears_the_personal_data_keeps_the_status_and_stops_pushing() {
    for status in ALL {
        let mut r = row(status);
        r.idempotency_key = Some("a".repeat(64));
        r.request_hash = Some("b".repeat(64));
        r.local_reference = Some("HOU-1".to_owned());
        let erasure = Erasure::Requested(domain::ErasureReason::SubjectRequest);
        let t = erase(&r, erasure, Recipients::default(), &actor(), NOW).expect("erasable");
        assert_eq!(new_status(&t), None, "{status:?}: the status stays");
        assert_eq!(actions(&t), ["referral.erased"], "{status:?}");
        let c = &t.changes;
        assert_eq!(c.document, ActiveValue::Set(String::new()));
        assert_eq!(c.received_by, ActiveValue::Set(None));
        assert_eq!(c.local_reference, ActiveValue::Set(None));
        assert_eq!(c.idempotency_key, ActiveValue::Set(None));
        assert_eq!(c.request_hash, ActiveValue::Set(None));
        assert_eq!(c.erased_at_ms, ActiveValue::Set(Some(NOW)));
        assert_eq!(c.next_attempt_at_ms, ActiveValue::Set(None), "never pushed");
        assert_eq!(t.events[0].detail["reason"], "subject_request");
        // Erased once: again is nothing.
        r.erased_at_ms = Some(NOW);
        assert!(erase(
            &r,
            Erasure::Retention,
            Recipients::default(),
            &actor(),
            NOW + 1
        )
        .is_none());
    }
    assert_eq!(Erasure::Retention.term(), "retention");
}

#[test]
fn an_erased_referral_is_neither_acknowledged_nor_redelivered() {
    for status in [Status::Queued, Status::Delivered, Status::Failed] {
        let mut r = row(status);
        r.erased_at_ms = Some(NOW - 1);
        assert!(matches!(
            acknowledge(&r, "Jo".to_owned(), None, &actor(), NOW),
            Err(Refusal::Erased)
        ));
    }
    let mut failed = row(Status::Failed);
    failed.erased_at_ms = Some(NOW - 1);
    assert!(matches!(
        redeliver(&failed, true, &actor(), NOW),
        Err(Refusal::Erased)
    ));
    // An acknowledged one stays acknowledged: acknowledging again changes nothing.
    let mut done = row(Status::Acknowledged);
    done.erased_at_ms = Some(NOW - 1);
    assert!(matches!(
        acknowledge(&done, "Jo".to_owned(), None, &actor(), NOW),
        Ok(None)
    ));
}

#[test]
fn after_an_accepted_duty_only_consent_withdrawn_may_still_withdraw() {
    let accepted_duty = || {
        let mut r = row(Status::Acknowledged);
        r.outcome_decision = Some("accepted".to_owned());
        r.outcome_reason = Some("relief_duty_and_interim_accommodation".to_owned());
        r
    };
    for reason in [
        WithdrawalReason::NewReferral,
        WithdrawalReason::IncorrectAuthority,
        WithdrawalReason::Disengaged,
        WithdrawalReason::HousingNeedResolved,
        WithdrawalReason::NotEligible,
        WithdrawalReason::Other,
    ] {
        assert_eq!(
            withdraw(&accepted_duty(), reason, true, true, &actor(), NOW).err(),
            Some(Refusal::DutyAccepted),
            "{reason:?}"
        );
    }
    let t = withdraw(
        &accepted_duty(),
        WithdrawalReason::ConsentWithdrawn,
        true,
        false,
        &actor(),
        NOW,
    )
    .expect("allowed")
    .expect("a change");
    assert_eq!(new_status(&t), Some(Status::Withdrawn));
    // The opposite: a not-accepted decision does not hold a withdrawal back.
    let mut declined = row(Status::Acknowledged);
    declined.outcome_decision = Some("not_accepted".to_owned());
    declined.outcome_reason = Some("no_contact".to_owned());
    assert!(withdraw(
        &declined,
        WithdrawalReason::Disengaged,
        true,
        false,
        &actor(),
        NOW
    )
    .is_ok());
}

#[test]
fn the_authority_may_record_or_correct_its_outcome_after_a_withdrawal_of_what_it_received() {
    let decision = outcome(json!({ "decision": "accepted", "reason": "prevention_duty" }));
    let mut received = row(Status::Withdrawn);
    received.delivered_at_ms = Some(NOW - 1000);
    let t = record_outcome(&received, &decision, &actor(), NOW).expect("allowed");
    assert_eq!(new_status(&t), None, "it stays withdrawn");
    assert_eq!(actions(&t), ["referral.outcome_recorded"]);
    // The opposite: one it never received is not its to decide.
    let mut never = row(Status::Withdrawn);
    never.delivered_at_ms = None;
    assert_eq!(
        record_outcome(&never, &decision, &actor(), NOW).err(),
        Some(Refusal::WrongState(Status::Withdrawn))
    );
}

#[test]
fn an_erasure_is_told_to_an_authority_that_received_the_referral() {
    let reason = Erasure::Requested(domain::ErasureReason::SubjectRequest);
    let mut received = row(Status::Acknowledged);
    received.delivered_at_ms = Some(NOW - 1000);
    let both = Recipients {
        endpoint: true,
        mailbox: true,
    };
    let t = erase(&received, reason, both, &actor(), NOW).expect("erasable");
    let told: Vec<(Channel, &str)> = t
        .follow_ups
        .iter()
        .map(|f| (f.channel, f.event_type))
        .collect();
    assert_eq!(
        told,
        [
            (Channel::Webhook, "referral.erased"),
            (Channel::Email, EMAIL_ERASED)
        ]
    );
    assert_eq!(t.follow_ups[0].payload["reason"], "subject_request");
    // The opposite: an authority that never received it is not told through its endpoint, and a
    // mailbox that was never told is not told now.
    let mut queued = row(Status::Queued);
    queued.delivered_at_ms = None;
    let t = erase(
        &queued,
        reason,
        Recipients {
            endpoint: true,
            mailbox: false,
        },
        &actor(),
        NOW,
    )
    .expect("erasable");
    assert!(t.follow_ups.is_empty());
}

#[test]
fn a_referrers_note_is_emailed_to_the_mailbox_and_each_watching_officer_once_the_authority_has_it()
{
    for status in ALL {
        let r = row(status);
        for (author, mailbox) in [
            (NoteAuthor::Referrer, true),
            (NoteAuthor::Referrer, false),
            (NoteAuthor::Authority, true),
        ] {
            let watchers = ["officer-1".to_owned(), "officer-2".to_owned()];
            let Ok(t) = add_note(&r, author, "n", false, mailbox, &watchers, &actor()) else {
                continue;
            };
            let emails: Vec<&str> = t
                .follow_ups
                .iter()
                .filter(|f| f.channel == crate::entities::outbox::Channel::Email)
                .map(|f| f.event_type)
                .collect();
            let told = author == NoteAuthor::Referrer && r.delivered_at_ms.is_some();
            let expected = if told { usize::from(mailbox) + 2 } else { 0 };
            assert_eq!(
                emails.len(),
                expected,
                "{author:?} {status:?} mailbox {mailbox}"
            );
            assert!(emails.iter().all(|e| *e == EMAIL_NOTE_ADDED));
            let to_officers: Vec<&serde_json::Value> = t
                .follow_ups
                .iter()
                .filter_map(|f| f.payload.get("officer_id"))
                .collect();
            assert_eq!(to_officers.len(), if told { 2 } else { 0 });
        }
    }
}
