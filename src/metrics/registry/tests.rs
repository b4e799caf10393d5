use super::*;
use crate::engine::model::PlanRow;
use crate::engine::run::{Round, Watched};
use crate::engine::watch::Headroom;

fn watched(name: &str, status: RowStatus, before: i64, after: Option<i64>, ids: i64) -> Watched {
    Watched {
        row: PlanRow {
            schema: "public".into(),
            name: name.into(),
            source_value: Some(1),
            destination_before: Some(before),
            target: after,
            destination_after: after,
            status,
            message: String::new(),
            destination_oid: None,
            source_name: None,
            matched: Default::default(),
            source_key: None,
        },
        offset: 100,
        rate: Some(2.0),
        headroom: Some(Headroom {
            schema: "public".into(),
            name: name.into(),
            ids,
            minutes: Some(ids as f64 / 120.0),
        }),
        changed_in: Some(1),
    }
}

fn round(sequences: Vec<Watched>) -> Box<Round> {
    Box::new(Round {
        number: 1,
        at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        took: Duration::from_millis(250),
        read: sequences.len(),
        full: true,
        changed: 1,
        applied: 1,
        run_id: None,
        sequences,
        refusals: vec![],
        observed: None,
    })
}

fn event_round(instance: &str, sequences: Vec<Watched>) -> GuardEvent {
    GuardEvent::Round {
        instance: instance.into(),
        round: round(sequences),
    }
}

#[test]
fn hostile_names_are_escaped_and_cut_in_label_values() {
    let mut registry = Registry::default();
    let hostile = "a\"b\\c\nd\re\u{1b}[31m";
    registry.record(&GuardEvent::Guarding {
        instance: hostile.into(),
    });
    let long = "x".repeat(5_000);
    registry.record(&event_round(
        hostile,
        vec![watched(&long, RowStatus::Updated, 1, Some(101), 7)],
    ));
    let text = registry.render();
    assert!(
        text.contains("instance_id=\"a\\\"b\\\\c\\nd\u{FFFD}e\u{FFFD}[31m\""),
        "{text}"
    );
    // Every sample is one line: nothing a name holds breaks the format.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        assert!(line.starts_with("seqsync_"), "{line}");
        assert!(
            line.len() < 1_000,
            "a label was not cut: {} bytes",
            line.len()
        );
    }
}

#[test]
fn only_the_least_headroom_sequences_get_their_own_series() {
    let mut registry = Registry::default();
    let sequences = (0..1_000)
        .map(|i| watched(&format!("s{i}"), RowStatus::Unchanged, 5, None, 10_000 - i))
        .collect();
    registry.record(&event_round("big", sequences));
    let text = registry.render();
    let per_sequence: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("seqsync_sequence_headroom_ids{"))
        .collect();
    assert_eq!(per_sequence.len(), LEAST_HEADROOM, "{per_sequence:?}");
    assert!(per_sequence[0].contains("public.s999") && per_sequence[0].ends_with(" 9001"));
    assert!(text.contains("seqsync_headroom_ids{instance_id=\"big\"} 9001"));
}

#[test]
fn counters_add_up_over_rounds_and_refusals_are_counted_by_status() {
    let mut registry = Registry::default();
    for _ in 0..3 {
        registry.record(&event_round(
            "i",
            vec![
                watched("a", RowStatus::Updated, 100, Some(150), 50),
                watched("b", RowStatus::BehindData, 10, None, 5),
                watched("c", RowStatus::NoPrivilege, 10, None, 5),
            ],
        ));
    }
    registry.record(&GuardEvent::Trouble {
        instance: "i".into(),
        error: "lost".into(),
        retry_in: Duration::from_secs(1),
        failing_for: Duration::ZERO,
    });
    let text = registry.render();
    for expected in [
        "seqsync_rounds_total{instance_id=\"i\"} 3",
        "seqsync_round_failures_total{instance_id=\"i\"} 1",
        "seqsync_sequences_set_total{instance_id=\"i\"} 3",
        "seqsync_ids_applied_total{instance_id=\"i\"} 150",
        "seqsync_sequences_behind_data{instance_id=\"i\"} 1",
        "seqsync_sequences_refused{instance_id=\"i\",status=\"behind-data\"} 1",
        "seqsync_sequences_refused{instance_id=\"i\",status=\"no-privilege\"} 1",
        "seqsync_last_success_timestamp_seconds{instance_id=\"i\"} 1800000000",
        "# TYPE seqsync_rounds_total counter",
    ] {
        assert!(text.contains(expected), "{expected} missing:\n{text}");
    }
}

#[test]
fn readiness_waits_for_a_listing_and_fails_when_a_guarded_instance_is_late() {
    let mut registry = Registry::default();
    assert!(registry.readiness(Duration::from_secs(60)).is_err());
    registry.record(&GuardEvent::Listed {
        instances: 2,
        unanswered: vec![],
    });
    registry.record(&GuardEvent::Idle {
        instance: "finished".into(),
        reason: "the task is finished".into(),
    });
    assert_eq!(
        registry.readiness(Duration::ZERO),
        Ok(()),
        "idle is not late"
    );
    registry.record(&GuardEvent::Guarding {
        instance: "g".into(),
    });
    assert_eq!(registry.readiness(Duration::from_secs(60)), Ok(()));
    let late = registry.readiness(Duration::ZERO).unwrap_err();
    assert!(late.contains('g') && !late.contains("finished"), "{late}");
    // A task that stops qualifying while guarded is said so.
    registry.record(&GuardEvent::Idle {
        instance: "g".into(),
        reason: "the task is finished".into(),
    });
    assert!(registry
        .render()
        .contains("seqsync_instance_stopped_qualifying{instance_id=\"g\"} 1"));
}
