//! What a watch remembers between rounds, pure: each sequence's source values over time, the
//! write rate they show, the offset that rate asks for, the headroom a round left, and which
//! refused rows the operator has already been told about. `run::watch` reads and applies; these
//! functions decide. `seqsync rates` is the same tracker fed with two samples.

use super::model::{Name, PlanRow, RowStatus, Sequence};
use super::offset::Offset;
use std::collections::HashMap;
use std::time::Duration;

/// The key rows are tracked by: the destination's schema and name (the plan's).
type Key = (Name, Name);

/// One sequence as the watch has seen it so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tracked {
    /// The last source value and when (seconds since the watch began) it was read.
    last: Option<(f64, i64)>,
    /// The fastest it has been seen to move, in ids per second (always positive: descending
    /// sequences move down at a positive rate).
    pub peak_rate: Option<f64>,
    /// The round in which its source value last moved.
    pub changed_in: Option<u64>,
    /// The refusal last reported, so it is reported again only when it changes.
    reported: Option<RowStatus>,
    descending: bool,
}

/// Every sequence's history, for one watch (or one `rates` sample).
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    sequences: HashMap<Key, Tracked>,
}

/// A sequence's rate, the offset that covers the horizon at that rate, and the value it was
/// measured at: what `seqsync rates` prints.
#[derive(Debug, Clone, PartialEq)]
pub struct Advice {
    pub schema: Name,
    pub name: Name,
    pub source_value: i64,
    /// Ids per second over the sample; None when it was seen once only.
    pub rate: Option<f64>,
    /// Ids it would hand out over the horizon at that rate, rounded up.
    pub offset: i64,
}

/// How far ahead of its source a destination sequence is after a round.
#[derive(Debug, Clone, PartialEq)]
pub struct Headroom {
    pub schema: Name,
    pub name: Name,
    /// Ids between the source's value and the destination's next value.
    pub ids: i64,
    /// How long the source takes to write that many at its peak rate; None when it has not
    /// been seen moving.
    pub minutes: Option<f64>,
}

impl Tracker {
    /// Records one reading of the source at `at` (since the watch began) in round `round`.
    /// Returns how many sequences moved since the previous reading.
    pub fn observe(&mut self, round: u64, at: Duration, source: &[Sequence]) -> usize {
        let values: Vec<(Key, i64, bool)> = source
            .iter()
            .filter_map(|s| {
                Some((
                    (s.schema.clone(), s.name.clone()),
                    s.last_value?,
                    s.ascending(),
                ))
            })
            .collect();
        self.observe_values(round, at, &values)
    }

    /// Records a reading at `at` in which no sequence moved, as `observe` would with the same
    /// values, without building a key per sequence (an idle round at 10,000 sequences).
    pub fn observe_unchanged(&mut self, at: Duration) {
        let now = at.as_secs_f64();
        for tracked in self.sequences.values_mut() {
            if let Some((then, value)) = tracked.last {
                if tracked.peak_rate.is_none() && now > then {
                    tracked.peak_rate = Some(0.0);
                }
                tracked.last = Some((now, value));
            }
        }
    }

    fn observe_values(&mut self, round: u64, at: Duration, values: &[(Key, i64, bool)]) -> usize {
        let now = at.as_secs_f64();
        let mut moved = 0;
        for (key, value, ascending) in values {
            let tracked = self.sequences.entry(key.clone()).or_default();
            if let Some((then, previous)) = tracked.last {
                let forward = if *ascending {
                    *value as i128 - previous as i128
                } else {
                    previous as i128 - *value as i128
                };
                if forward != 0 {
                    moved += 1;
                    tracked.changed_in = Some(round);
                }
                // A sequence set back (a reset, a restored backup) says nothing about its rate.
                if forward > 0 && now > then {
                    let rate = forward as f64 / (now - then);
                    tracked.peak_rate = Some(tracked.peak_rate.map_or(rate, |p| p.max(rate)));
                } else if tracked.peak_rate.is_none() && now > then {
                    tracked.peak_rate = Some(0.0);
                }
            }
            tracked.last = Some((now, *value));
            tracked.descending = !ascending;
        }
        moved
    }

    pub fn get(&self, schema: &str, name: &str) -> Option<&Tracked> {
        self.sequences.get(&(Name::from(schema), Name::from(name)))
    }

    /// What was observed of the source sequence a row was planned from.
    pub fn source_of(&self, row: &PlanRow) -> Option<&Tracked> {
        let (schema, name) = row.source_names()?;
        self.get(schema, name)
    }

    /// The offset a sequence gets: the floor, or what its peak rate writes over the horizon
    /// when that is larger.
    pub fn offset_for(
        &self,
        schema: &str,
        name: &str,
        floor: Offset,
        horizon: Option<Duration>,
    ) -> Offset {
        let rated = horizon.and_then(|h| {
            let rate = self.get(schema, name)?.peak_rate?;
            Some(covering(rate, h))
        });
        match rated {
            Some(ids) if ids > floor.get() => Offset::new(ids).unwrap_or(floor),
            _ => floor,
        }
    }

    /// The rows whose refusal is new or different since the last time it was reported, in the
    /// rows' order; rows no longer refused are forgotten, so a refusal that comes back is told
    /// again.
    pub fn refusals_to_report<'a>(&mut self, rows: &'a [PlanRow]) -> Vec<&'a PlanRow> {
        let mut out = vec![];
        for row in rows {
            let key = (row.schema.clone(), row.name.clone());
            let refused = row.status.is_problem().then_some(row.status);
            let tracked = self.sequences.entry(key).or_default();
            if refused.is_some() && refused != tracked.reported {
                out.push(row);
            }
            tracked.reported = refused;
        }
        out
    }

    /// Each source sequence's rate and the offset covering `horizon`, from what was observed.
    pub fn advice(&self, source: &[Sequence], horizon: Duration) -> Vec<Advice> {
        source
            .iter()
            .filter_map(|seq| {
                let source_value = seq.last_value?;
                let rate = self.get(&seq.schema, &seq.name).and_then(|t| t.peak_rate);
                Some(Advice {
                    schema: seq.schema.clone(),
                    name: seq.name.clone(),
                    source_value,
                    rate,
                    offset: rate.map_or(0, |r| covering(r, horizon)),
                })
            })
            .collect()
    }

    /// The headroom each row has after a round: between the source's value and the
    /// destination's next value (after the apply where there was one). Refused rows have none.
    pub fn headroom(&self, rows: &[PlanRow]) -> Vec<Headroom> {
        rows.iter()
            .filter_map(|row| {
                let next = match row.status {
                    RowStatus::Updated => row.destination_after,
                    RowStatus::Unchanged | RowStatus::Ahead => row.destination_before,
                    _ => None,
                }?;
                let source = row.source_value?;
                let tracked = self.source_of(row);
                let ids = if !tracked.is_some_and(|t| t.descending) {
                    next as i128 - source as i128
                } else {
                    source as i128 - next as i128
                };
                let ids = i64::try_from(ids).unwrap_or(if ids > 0 { i64::MAX } else { i64::MIN });
                let rate = tracked.and_then(|t| t.peak_rate);
                Some(Headroom {
                    schema: row.schema.clone(),
                    name: row.name.clone(),
                    ids,
                    minutes: rate
                        .filter(|r| *r > 0.0)
                        .map(|r| ids.max(0) as f64 / r / 60.0),
                })
            })
            .collect()
    }
}

/// The ids a rate hands out over a horizon, rounded up, saturating at i64::MAX.
pub fn covering(rate: f64, horizon: Duration) -> i64 {
    let ids = (rate * horizon.as_secs_f64()).ceil();
    if ids >= i64::MAX as f64 {
        i64::MAX
    } else if ids > 0.0 {
        ids as i64
    } else {
        0
    }
}

/// The one offset that covers every sequence's advice (the largest), for the offset dialog.
pub fn suggested_offset(advice: &[Advice]) -> Option<i64> {
    advice
        .iter()
        .filter(|a| a.rate.is_some())
        .map(|a| a.offset)
        .max()
}

/// The tightest headroom: the fewest minutes where a rate is known, else the fewest ids.
pub fn smallest<'a>(headroom: impl IntoIterator<Item = &'a Headroom>) -> Option<&'a Headroom> {
    let all: Vec<&Headroom> = headroom.into_iter().collect();
    let timed = all
        .iter()
        .filter(|h| h.minutes.is_some())
        .min_by(|a, b| a.minutes.partial_cmp(&b.minutes).expect("finite"));
    timed.or_else(|| all.iter().min_by_key(|h| h.ids)).copied()
}

/// How long to wait before retrying after `failures` failed rounds in a row: 1 s, doubling,
/// never longer than the interval.
pub fn backoff(failures: u32, interval: Duration) -> Duration {
    let doubled = Duration::from_secs(1u64 << failures.saturating_sub(1).min(16));
    doubled.min(interval)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::model::SourceKey;

    fn key(name: &str) -> Key {
        ("public".into(), name.into())
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn row(name: &str, status: RowStatus, source: i64, before: i64, after: Option<i64>) -> PlanRow {
        PlanRow {
            schema: "public".into(),
            name: name.into(),
            source_value: Some(source),
            destination_before: Some(before),
            target: None,
            destination_after: after,
            status,
            message: String::new(),
            destination_oid: None,
            source_name: None,
            matched: Default::default(),
            source_key: Some(SourceKey::SameName),
        }
    }

    #[test]
    fn the_peak_rate_is_kept_and_descending_sequences_move_at_a_positive_rate() {
        let mut t = Tracker::default();
        assert_eq!(
            t.observe_values(
                1,
                secs(0),
                &[(key("up"), 100, true), (key("down"), -100, false)]
            ),
            0
        );
        assert_eq!(
            t.observe_values(
                2,
                secs(10),
                &[(key("up"), 600, true), (key("down"), -300, false)]
            ),
            2
        );
        assert_eq!(
            t.observe_values(
                3,
                secs(20),
                &[(key("up"), 700, true), (key("down"), -300, false)]
            ),
            1
        );
        assert_eq!(t.get("public", "up").unwrap().peak_rate, Some(50.0));
        assert_eq!(t.get("public", "up").unwrap().changed_in, Some(3));
        assert_eq!(t.get("public", "down").unwrap().peak_rate, Some(20.0));
        assert_eq!(t.get("public", "down").unwrap().changed_in, Some(2));
    }

    #[test]
    fn an_unchanged_reading_is_recorded_as_observing_the_same_values_would_be() {
        let first = [(key("a"), 100, true), (key("b"), -5, false)];
        let burst = [(key("a"), 400, true), (key("b"), -5, false)];
        let (mut by_values, mut unchanged) = (Tracker::default(), Tracker::default());
        for t in [&mut by_values, &mut unchanged] {
            t.observe_values(1, secs(0), &first);
        }
        by_values.observe_values(2, secs(10), &first);
        unchanged.observe_unchanged(secs(10));
        for t in [&mut by_values, &mut unchanged] {
            // 300 ids in the 2 s since the idle reading: a burst of 150/s, not 300/12 s.
            t.observe_values(3, secs(12), &burst);
        }
        for name in ["a", "b"] {
            let (x, y) = (by_values.get("public", name), unchanged.get("public", name));
            assert_eq!(x.map(|t| t.peak_rate), y.map(|t| t.peak_rate), "{name}");
            assert_eq!(x.map(|t| t.last), y.map(|t| t.last), "{name}");
        }
        assert_eq!(by_values.get("public", "a").unwrap().peak_rate, Some(150.0));
    }

    #[test]
    fn a_sequence_set_back_does_not_count_as_writes() {
        let mut t = Tracker::default();
        t.observe_values(1, secs(0), &[(key("a"), 1_000, true)]);
        t.observe_values(2, secs(1), &[(key("a"), 10, true)]);
        assert_eq!(t.get("public", "a").unwrap().peak_rate, Some(0.0));
    }

    #[test]
    fn the_offset_is_the_floor_or_the_horizon_at_the_peak_rate_whichever_is_larger() {
        let mut t = Tracker::default();
        t.observe_values(
            1,
            secs(0),
            &[(key("busy"), 0, true), (key("idle"), 5, true)],
        );
        t.observe_values(
            2,
            secs(30),
            &[(key("busy"), 3_000, true), (key("idle"), 5, true)],
        );
        let floor = Offset::new(1_000).unwrap();
        let h = Some(Duration::from_secs(15 * 60));
        assert_eq!(t.offset_for("public", "busy", floor, h).get(), 90_000);
        assert_eq!(t.offset_for("public", "idle", floor, h).get(), 1_000);
        assert_eq!(t.offset_for("public", "busy", floor, None).get(), 1_000);
        assert_eq!(t.offset_for("public", "never-seen", floor, h).get(), 1_000);
    }

    #[test]
    fn covering_rounds_up_and_saturates() {
        assert_eq!(covering(0.1, secs(15)), 2);
        assert_eq!(covering(0.0, secs(15)), 0);
        assert_eq!(covering(1e30, secs(15)), i64::MAX);
    }

    #[test]
    fn a_refusal_is_reported_when_it_starts_when_it_changes_and_when_it_comes_back() {
        let mut t = Tracker::default();
        let behind = [row("a", RowStatus::BehindData, 1, 1, None)];
        let out_of_range = [row("a", RowStatus::OutOfRange, 1, 1, None)];
        let fine = [row("a", RowStatus::Unchanged, 1, 1, None)];
        assert_eq!(t.refusals_to_report(&behind).len(), 1);
        assert_eq!(t.refusals_to_report(&behind).len(), 0);
        assert_eq!(t.refusals_to_report(&out_of_range).len(), 1);
        assert_eq!(t.refusals_to_report(&fine).len(), 0);
        assert_eq!(t.refusals_to_report(&out_of_range).len(), 1);
    }

    #[test]
    fn headroom_is_measured_from_the_next_value_read_back_in_the_sequence_direction() {
        let mut t = Tracker::default();
        t.observe_values(
            1,
            secs(0),
            &[(key("a"), 100, true), (key("d"), -100, false)],
        );
        t.observe_values(
            2,
            secs(60),
            &[(key("a"), 700, true), (key("d"), -100, false)],
        );
        let rows = [
            row("a", RowStatus::Updated, 700, 200, Some(1_700)),
            row("d", RowStatus::Unchanged, -100, -1_100, None),
            row("x", RowStatus::MissingInDestination, 5, 0, None),
        ];
        let h = t.headroom(&rows);
        assert_eq!(h.len(), 2, "refused rows have no headroom");
        assert_eq!(
            (h[0].ids, h[0].minutes),
            (1_000, Some(1_000.0 / 10.0 / 60.0))
        );
        assert_eq!((h[1].ids, h[1].minutes), (1_000, None), "never seen moving");
        assert_eq!(
            smallest(&h).unwrap().name,
            "a",
            "minutes decide where known"
        );
    }

    #[test]
    fn the_suggestion_covers_the_busiest_sequence() {
        let mut t = Tracker::default();
        t.observe_values(1, secs(0), &[(key("a"), 0, true), (key("b"), 0, true)]);
        t.observe_values(
            2,
            secs(10),
            &[(key("a"), 10, true), (key("b"), 1_000, true)],
        );
        let source = [
            Sequence::for_test("a", 10, true, 1, 1, i64::MAX),
            Sequence::for_test("b", 1_000, true, 1, 1, i64::MAX),
        ];
        let advice = t.advice(&source, secs(60));
        assert_eq!(advice[0].offset, 60);
        assert_eq!(advice[1].offset, 6_000);
        assert_eq!(suggested_offset(&advice), Some(6_000));
    }

    #[test]
    fn backoff_doubles_from_a_second_up_to_the_interval() {
        let interval = secs(30);
        let waits: Vec<u64> = (1..=7).map(|f| backoff(f, interval).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(
            backoff(1, Duration::from_millis(200)),
            Duration::from_millis(200)
        );
    }
}
