use super::*;

#[test]
fn names_fold_like_unquoted_identifiers_unless_they_were_quoted() {
    assert_eq!(NameCase::Fold.apply("ORDERS_SEQ"), "orders_seq");
    assert_eq!(NameCase::Fold.apply("Orders_Seq"), "Orders_Seq");
    assert_eq!(NameCase::Fold.apply("SEQ$1"), "seq$1");
    assert_eq!(NameCase::Exact.apply("ORDERS_SEQ"), "ORDERS_SEQ");
    assert!(NameCase::parse("upper").is_err());
}

#[test]
fn every_unsupported_pair_is_refused_with_the_list() {
    let all = [
        Engine::Postgresql,
        Engine::PolardbPg,
        Engine::PolardbOracle,
        Engine::Oracle,
    ];
    let mut accepted = vec![];
    for s in all {
        for d in all {
            match check_pair(s, d) {
                Ok(()) => accepted.push((s.name(), d.name())),
                Err(e) => assert!(e.contains("supported pairs: postgresql →"), "{e}"),
            }
        }
    }
    assert_eq!(
        accepted,
        vec![
            ("postgresql", "postgresql"),
            ("postgresql", "polardb-pg"),
            ("postgresql", "polardb-oracle"),
            ("polardb-pg", "postgresql"),
            ("polardb-pg", "polardb-pg"),
            ("polardb-oracle", "polardb-oracle"),
            ("oracle", "polardb-oracle"),
        ]
    );
}

#[test]
fn display_names_quote_only_when_needed() {
    assert_eq!(
        display_name("public", "orders_id_seq"),
        "public.orders_id_seq"
    );
    assert_eq!(display_name("Sales", "a\"b"), "\"Sales\".\"a\"\"b\"");
    assert_eq!(
        quote_ident("a\"; DROP TABLE t; --"),
        "\"a\"\"; DROP TABLE t; --\""
    );
}

fn seq(last: i64, called: bool, inc: i64, min: i64, max: i64, cycle: bool) -> Sequence {
    Sequence {
        cycle,
        ..Sequence::for_test("n", last, called, inc, min, max)
    }
}

#[test]
fn next_value_follows_is_called_bounds_and_cycle() {
    assert_eq!(
        seq(5, false, 1, 1, 10, false).next_value(),
        Some(NextValue::Value(5))
    );
    assert_eq!(
        seq(5, true, 1, 1, 10, false).next_value(),
        Some(NextValue::Value(6))
    );
    assert_eq!(
        seq(10, true, 1, 1, 10, false).next_value(),
        Some(NextValue::Exhausted)
    );
    assert_eq!(
        seq(10, true, 1, 1, 10, true).next_value(),
        Some(NextValue::Value(1))
    );
    assert_eq!(
        seq(-5, true, -3, -10, -1, false).next_value(),
        Some(NextValue::Value(-8))
    );
    assert_eq!(
        seq(-9, true, -3, -10, -1, true).next_value(),
        Some(NextValue::Value(-1))
    );
    assert_eq!(
        seq(i64::MAX, true, 1, 1, i64::MAX, false).next_value(),
        Some(NextValue::Exhausted)
    );
}

#[test]
fn a_sequence_with_nothing_rare_about_it_allocates_no_extras() {
    assert_eq!(Extras::default().boxed(), None);
    let noted = Extras {
        note: Some("wrapped".into()),
        ..Extras::default()
    };
    let mut s = Sequence::for_test("plain", 1, true, 1, 1, 10);
    assert_eq!(s.extras, None);
    assert_eq!(
        (
            s.owned_by(),
            s.default_for(),
            s.origin(),
            s.unavailable(),
            s.note()
        ),
        (None, &[][..], None, None, None)
    );
    s.extras = noted.boxed();
    assert_eq!(s.note(), Some("wrapped"));
    s.extras_mut().unavailable = Some("on a standby".into());
    assert_eq!(
        (s.note(), s.unavailable()),
        (Some("wrapped"), Some("on a standby"))
    );
}

/// At 100,000 sequences a plan holds 200,000 of them: each byte here is 200 KB of the peak.
#[test]
#[cfg(target_pointer_width = "64")]
fn a_sequence_and_its_names_stay_small() {
    assert!(std::mem::size_of::<Sequence>() <= 152);
    let name = Name::from("orders_line_items_id_seq");
    assert!(!name.is_heap_allocated(), "24 bytes are held inline");
}
