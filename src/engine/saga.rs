//! The apply saga's decisions, pure: what a batch may still set once it is locked, which state
//! makes the next `nextval()` return the target, what a rollback restores, and how a killed
//! run's sequences are classified when it is settled. The PostgreSQL adapter
//! (`engine::postgres`) reads and writes; these functions decide. See that module's doc for why
//! the apply is a saga at all.

use super::model::{RawState, Sequence};
use std::fmt;
use std::time::Duration;

/// Sequences per apply transaction: far below the ~12,500 locks a default server can hold in
/// total, leaving room for every other session.
pub const DEFAULT_APPLY_BATCH: usize = 2_500;

/// How an apply behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplyOptions {
    pub allow_lower: bool,
    /// Refuse a sequence whose next value is no longer exactly the plan's "before" (an undo must
    /// not lower a sequence that has issued values since).
    pub require_unchanged: bool,
    pub batch_size: usize,
    /// How long to keep trying to restore touched sequences after a failure.
    pub rollback_deadline: Duration,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            allow_lower: false,
            require_unchanged: false,
            batch_size: DEFAULT_APPLY_BATCH,
            rollback_deadline: Duration::from_secs(60),
        }
    }
}

/// How far an apply is, for a progress bar.
pub struct ApplyProgress {
    pub done: usize,
    pub total: usize,
}

/// A sequence this run has (or may have) set, with what to restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touched {
    pub oid: u32,
    pub name: String,
    pub before: RawState,
    pub set_to: RawState,
}

/// How a failed apply ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyFailure {
    /// The apply failed and the destination holds no value of this run.
    RolledBack { reason: String },
    /// The apply failed and some sequences could not be restored: they are listed.
    Incomplete {
        reason: String,
        not_restored: Vec<String>,
    },
}

impl fmt::Display for ApplyFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApplyFailure::RolledBack { reason } => {
                write!(f, "{reason}; nothing was applied")
            }
            ApplyFailure::Incomplete {
                reason,
                not_restored,
            } => write!(
                f,
                "{reason}; the rollback could not restore {} sequence(s), which keep their new values: {}",
                not_restored.len(),
                not_restored.join(", ")
            ),
        }
    }
}

/// What an interrupted run left in the destination, once settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// Every sequence of the run holds its target: it was killed after its last batch.
    AppliedInFull { sequences: usize },
    /// No sequence holds a value of the run; `put_back` never-called sequences that the run's own
    /// `nextval()` had read (servers before 18) were returned to never called.
    NotApplied { put_back: usize },
    /// Some did; they were restored, so nothing of the run remains.
    RolledBack { restored: usize, of: usize },
    /// Some hold the run's values and have issued ids since, so they were not lowered.
    Incomplete {
        reason: String,
        not_restored: Vec<String>,
    },
}

/// Re-checks a planned target against the destination as it is now, under lock. An undo passes
/// `expected_next`: it may lower only a sequence still exactly where the run left it.
pub fn recheck(
    now: &Sequence,
    target: i64,
    allow_lower: bool,
    expected_next: Option<Option<i64>>,
) -> Result<(), String> {
    if let Some(expected) = expected_next {
        if now.next_display() != expected {
            return Err(format!(
                "it has issued values since (next value now {}, expected {})",
                shown(now.next_display()),
                shown(expected)
            ));
        }
    }
    if target < now.min || target > now.max {
        return Err(format!(
            "target {target} is now outside its range {}..{}",
            now.min, now.max
        ));
    }
    let position = now.next_position().expect("read under lock");
    if is_past(now, position, target) && !allow_lower {
        return Err(format!(
            "it has moved past the target {target} (next value now {})",
            shown(now.next_display())
        ));
    }
    Ok(())
}

/// Whether a next position lies beyond the target in the sequence's direction.
fn is_past(seq: &Sequence, position: i128, target: i64) -> bool {
    if seq.ascending() {
        position > target as i128
    } else {
        position < target as i128
    }
}

fn shown(next: Option<i64>) -> String {
    next.map_or("exhausted".to_string(), |v| v.to_string())
}

/// The state whose next `nextval()` returns `target`. Stored as "called" with the value before
/// it where the bounds allow, because PostgreSQL 15 reads a called sequence about ten times
/// faster (`pg_sequence_last_value`) than one not yet called: later plans and the read-back stay
/// fast.
pub fn state_for_next(s: &Sequence, target: i64) -> RawState {
    match target.checked_sub(s.increment) {
        Some(previous) if previous >= s.min && previous <= s.max => RawState {
            last_value: previous,
            is_called: true,
        },
        _ => RawState {
            last_value: target,
            is_called: false,
        },
    }
}

/// What a rollback does with one touched sequence, given its state now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreAction {
    /// It still holds what we set: put the state before back.
    Restore,
    /// It already holds its state before (an earlier attempt restored it).
    AlreadyBack,
    /// It holds neither: someone used it since; lowering it could re-issue ids.
    Conflict,
}

pub fn restore_action(now: RawState, touched: &Touched) -> RestoreAction {
    if now == touched.set_to {
        RestoreAction::Restore
    } else if now == touched.before {
        RestoreAction::AlreadyBack
    } else {
        RestoreAction::Conflict
    }
}

/// One planned sequence of a killed run, as found when the run is settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// It holds exactly the state the run set, and its locked state before is journaled.
    Ours(Touched),
    /// A never-called sequence that the run's under-lock `nextval()` read and nothing used
    /// since (anyone else's nextval would have moved it further): not applied, but put back.
    ReadByUs(Touched),
    /// It is where the plan found it.
    NotApplied,
    /// At or past the target without holding exactly our state: set by us and used since, or
    /// moved there by someone else. Never lowered.
    Kept(String),
}

/// What the run knew of one planned sequence.
pub struct Planned<'a> {
    pub oid: u32,
    pub name: String,
    pub target: i64,
    /// The exact state under the apply's lock, when its batch was journaled as locked.
    pub locked_before: Option<RawState>,
    /// Whether the run read that never-called state with its own `nextval()`.
    pub read_by_nextval: bool,
    /// The plan's "before" next value.
    pub planned_next: Option<i64>,
    pub now: &'a Sequence,
    pub state_now: RawState,
}

pub fn classify(p: Planned<'_>) -> Found {
    let set_to = state_for_next(p.now, p.target);
    let position = p.now.next_position();
    let before = match p.locked_before {
        Some(state) => Some(if state.is_called {
            state.last_value as i128 + p.now.increment as i128
        } else {
            state.last_value as i128
        }),
        None => p.planned_next.map(i128::from),
    };
    // Only our own nextval() can have left it called at the value it was locked at; anyone
    // else's must stand, or its value would be issued again.
    let our_read = p
        .locked_before
        .filter(|b| !b.is_called && p.read_by_nextval)
        .map(|b| RawState {
            is_called: true,
            ..b
        });
    if p.state_now == set_to {
        // Only a batch that was journaled as locked can have been set by this run.
        return match p.locked_before {
            Some(before) => Found::Ours(Touched {
                oid: p.oid,
                name: p.name,
                before,
                set_to,
            }),
            None => Found::Kept(p.name),
        };
    }
    if Some(p.state_now) == our_read {
        return Found::ReadByUs(Touched {
            oid: p.oid,
            name: p.name,
            before: p.locked_before.expect("our_read comes from it"),
            set_to: p.state_now,
        });
    }
    if position == before {
        return Found::NotApplied;
    }
    if position.is_some_and(|pos| is_past(p.now, pos, p.target)) {
        Found::Kept(p.name)
    } else {
        Found::NotApplied
    }
}

/// What was found of a killed run's planned sequences, added up.
#[derive(Debug, Default)]
pub struct Tally {
    pub ours: Vec<Touched>,
    pub read_by_us: Vec<Touched>,
    /// Names of the sequences that must not be lowered.
    pub kept: Vec<String>,
    /// Found where the plan left them, or dropped since.
    pub not_applied: usize,
}

impl Tally {
    pub fn add(&mut self, found: Found) {
        match found {
            Found::Ours(t) => self.ours.push(t),
            Found::ReadByUs(t) => self.read_by_us.push(t),
            Found::Kept(name) => self.kept.push(name),
            Found::NotApplied => self.not_applied += 1,
        }
    }

    fn applied_any(&self) -> bool {
        !self.ours.is_empty() || !self.kept.is_empty()
    }

    /// Settled without writing anything, or the sequences to restore first.
    pub fn settle(&self, planned: usize) -> Result<Recovery, Vec<Touched>> {
        if self.applied_any() && self.not_applied == 0 && self.read_by_us.is_empty() {
            return Ok(Recovery::AppliedInFull { sequences: planned });
        }
        if !self.applied_any() && self.read_by_us.is_empty() {
            return Ok(Recovery::NotApplied { put_back: 0 });
        }
        Err(self.ours.iter().chain(&self.read_by_us).cloned().collect())
    }

    /// How the run ended once the restore of `settle`'s sequences ended as `rollback`.
    pub fn after_rollback(self, planned: usize, rollback: ApplyFailure) -> Recovery {
        match rollback {
            ApplyFailure::RolledBack { .. } if !self.applied_any() => Recovery::NotApplied {
                put_back: self.read_by_us.len(),
            },
            ApplyFailure::RolledBack { .. } if self.kept.is_empty() => Recovery::RolledBack {
                restored: self.ours.len(),
                of: planned,
            },
            ApplyFailure::RolledBack { reason } => Recovery::Incomplete {
                reason: format!(
                    "{reason}; sequences that have issued values since are not lowered"
                ),
                not_restored: self.kept,
            },
            ApplyFailure::Incomplete {
                reason,
                mut not_restored,
            } => {
                not_restored.extend(self.kept);
                Recovery::Incomplete {
                    reason,
                    not_restored,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sequence(last_value: i64, is_called: bool) -> Sequence {
        Sequence::for_test("n", last_value, is_called, 1, 1, 100)
    }

    #[test]
    fn recheck_refuses_drift_past_target_and_new_bounds() {
        let mut s = sequence(10, true);
        assert!(recheck(&s, 50, false, None).is_ok());
        assert!(recheck(&s, 500, false, None)
            .unwrap_err()
            .contains("outside"));
        s.last_value = Some(60);
        assert!(recheck(&s, 50, false, None)
            .unwrap_err()
            .contains("past the target"));
        assert!(recheck(&s, 50, true, None).is_ok());
        // An undo lowers only a sequence still exactly where the run left it.
        assert!(recheck(&s, 5, true, Some(Some(61))).is_ok());
        assert!(recheck(&s, 5, true, Some(Some(60)))
            .unwrap_err()
            .contains("issued values since (next value now 61, expected 60)"));
    }

    fn state(last_value: i64, is_called: bool) -> RawState {
        RawState {
            last_value,
            is_called,
        }
    }

    fn touched(before: RawState, set_to: RawState) -> Touched {
        Touched {
            oid: 1,
            name: "s.n".into(),
            before,
            set_to,
        }
    }

    #[test]
    fn the_target_is_stored_called_with_the_value_before_it_where_the_bounds_allow() {
        let up = sequence(1, false);
        assert_eq!(state_for_next(&up, 50), state(49, true));
        // At MINVALUE there is no value before it: stored as not yet called.
        assert_eq!(state_for_next(&up, 1), state(1, false));
        let mut down = sequence(100, false);
        down.increment = -1;
        assert_eq!(state_for_next(&down, 50), state(51, true));
        assert_eq!(state_for_next(&down, 100), state(100, false));
    }

    #[test]
    fn a_rollback_restores_only_what_still_holds_our_value() {
        let t = touched(state(10, true), state(49, true));
        assert_eq!(restore_action(state(49, true), &t), RestoreAction::Restore);
        assert_eq!(
            restore_action(state(10, true), &t),
            RestoreAction::AlreadyBack
        );
        assert_eq!(restore_action(state(50, true), &t), RestoreAction::Conflict);
        assert_eq!(
            restore_action(state(49, false), &t),
            RestoreAction::Conflict
        );
    }

    fn found(now: RawState, locked_before: Option<RawState>, planned_next: Option<i64>) -> Found {
        found_read(now, locked_before, planned_next, true)
    }

    fn found_read(
        now: RawState,
        locked_before: Option<RawState>,
        planned_next: Option<i64>,
        read_by_nextval: bool,
    ) -> Found {
        let seq = sequence(now.last_value, now.is_called);
        classify(Planned {
            oid: 1,
            name: "s.n".into(),
            target: 50,
            locked_before,
            read_by_nextval,
            planned_next,
            now: &seq,
            state_now: now,
        })
    }

    #[test]
    fn a_killed_runs_sequences_are_classified_by_what_they_hold() {
        let before = state(10, true);
        // Exactly what the run set, and its batch was journaled as locked: ours, restorable.
        assert_eq!(
            found(state(49, true), Some(before), Some(11)),
            Found::Ours(touched(before, state(49, true)))
        );
        // The same value without a locked batch: the run cannot have set it; never lowered.
        assert_eq!(
            found(state(49, true), None, Some(11)),
            Found::Kept("s.n".into())
        );
        // A never-called sequence our under-lock nextval() read, untouched since.
        assert_eq!(
            found(state(5, true), Some(state(5, false)), Some(5)),
            Found::ReadByUs(touched(state(5, false), state(5, true)))
        );
        // The same state where the run read it exactly, without nextval() (PostgreSQL 18): someone
        // else's nextval() issued that value, and putting the sequence back would issue it again.
        assert_eq!(
            found_read(state(5, true), Some(state(5, false)), Some(5), false),
            Found::NotApplied
        );
        // Where the run found it.
        assert_eq!(found(before, Some(before), Some(11)), Found::NotApplied);
        assert_eq!(found(state(10, true), None, Some(11)), Found::NotApplied);
        // Used a little since, but short of the target: not applied.
        assert_eq!(
            found(state(20, true), Some(before), Some(11)),
            Found::NotApplied
        );
        // Past the target without our exact state: set by us and used since, or moved by
        // someone else. Either way it must not be lowered.
        assert_eq!(
            found(state(80, true), Some(before), Some(11)),
            Found::Kept("s.n".into())
        );
    }

    #[test]
    fn a_killed_run_is_settled_in_full_not_at_all_or_by_restoring() {
        let ours = touched(state(10, true), state(49, true));
        let all_set = Tally {
            ours: vec![ours.clone()],
            ..Tally::default()
        };
        assert_eq!(
            all_set.settle(1),
            Ok(Recovery::AppliedInFull { sequences: 1 })
        );
        let untouched = Tally {
            not_applied: 3,
            ..Tally::default()
        };
        assert_eq!(
            untouched.settle(3),
            Ok(Recovery::NotApplied { put_back: 0 })
        );
        let part_way = Tally {
            ours: vec![ours.clone()],
            not_applied: 1,
            ..Tally::default()
        };
        assert_eq!(part_way.settle(2), Err(vec![ours.clone()]));
        let read = touched(state(5, false), state(5, true));
        let only_read = Tally {
            read_by_us: vec![read.clone()],
            not_applied: 1,
            ..Tally::default()
        };
        assert_eq!(only_read.settle(2), Err(vec![read]));
    }

    #[test]
    fn after_the_restore_the_run_says_what_it_left() {
        let ours = touched(state(10, true), state(49, true));
        let rolled = |reason: &str| ApplyFailure::RolledBack {
            reason: reason.into(),
        };
        let part_way = || Tally {
            ours: vec![ours.clone()],
            not_applied: 1,
            ..Tally::default()
        };
        assert_eq!(
            part_way().after_rollback(2, rolled("r")),
            Recovery::RolledBack { restored: 1, of: 2 }
        );
        let read_only = Tally {
            read_by_us: vec![ours.clone()],
            ..Tally::default()
        };
        assert_eq!(
            read_only.after_rollback(1, rolled("r")),
            Recovery::NotApplied { put_back: 1 }
        );
        let mut with_kept = part_way();
        with_kept.kept.push("s.used".into());
        match with_kept.after_rollback(3, rolled("r")) {
            Recovery::Incomplete {
                reason,
                not_restored,
            } => {
                assert!(reason.contains("not lowered"), "{reason}");
                assert_eq!(not_restored, vec!["s.used".to_string()]);
            }
            other => panic!("{other:?}"),
        }
        let mut failed = part_way();
        failed.kept.push("s.used".into());
        let incomplete = ApplyFailure::Incomplete {
            reason: "lost".into(),
            not_restored: vec!["s.n".into()],
        };
        assert_eq!(
            failed.after_rollback(3, incomplete),
            Recovery::Incomplete {
                reason: "lost".into(),
                not_restored: vec!["s.n".into(), "s.used".into()],
            }
        );
    }
}
