//! A live cutover under load (see tests/common/cutover.rs): with an offset larger than the writes
//! between the sync and the switch there is not one duplicate key; with a too-small offset the
//! harness does count them (and `seqsync check` warns before the switch), so the zero means
//! something.

mod common;
use common::cutover::{CutoverReport, Guard, OffsetChoice};
use std::time::Duration;

async fn cutover(name: &str, offset: i64) -> CutoverReport {
    let report = common::cutover_on_test_clusters(
        name,
        OffsetChoice::Fixed(offset),
        Guard::Sync,
        Duration::from_millis(600),
        Duration::from_millis(400),
    )
    .run()
    .await;
    eprintln!("{report:#?}");
    report
}

#[tokio::test(flavor = "multi_thread")]
async fn a_live_cutover_with_a_sufficient_offset_has_no_duplicate_keys() {
    let report = cutover("cutover", 1_000_000).await;
    assert_eq!(report.sync_exit, 0, "{}", report.sync_stderr);
    assert!(
        report.inserts_during_sync > 0,
        "writers kept writing while seqsync ran"
    );
    assert!(
        report.writes_after_sync > 0,
        "and after it, before the switch"
    );
    assert!((report.inserts_during_sync + report.writes_after_sync) < report.offset as u64);
    assert_eq!(
        report.check_exit, 0,
        "nothing behind its data at the switch"
    );
    assert_eq!(report.duplicate_keys, 0);
    assert!(report.other_errors.is_empty(), "{:?}", report.other_errors);
    assert_eq!(report.inserts_after_switch, 400);
    let written = (report.inserts_during_sync + report.writes_after_sync) as i64;
    for (table, wasted) in &report.wasted_ids {
        assert!(
            *wasted <= report.offset && *wasted >= report.offset - written,
            "{table}: the offset skips at most itself, less the writes it absorbed: {wasted}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_too_small_offset_is_caught_by_check_and_by_the_duplicate_count() {
    let report = cutover("cutover_small", 1).await;
    assert_eq!(report.sync_exit, 0, "{}", report.sync_stderr);
    assert!(report.writes_after_sync > 0);
    assert_eq!(
        report.check_exit, 3,
        "check sees sequences behind their data"
    );
    assert!(
        report.duplicate_keys > 0,
        "the harness counts duplicate keys when there are some"
    );
}
