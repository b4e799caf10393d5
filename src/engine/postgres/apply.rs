//! The batched apply (see the module doc of `engine::postgres` for why) and the read-back that
//! fills the "after" column.

use super::endpoint::{ApplyStatements, PgEndpoint, PgSession};
use super::read::{FAST_VALUES_SQL, LIVE_CATALOGUE_SQL, LOCK_AND_DATA_SQL, READ_CHUNK};
use super::recover::roll_back;
use crate::engine::model::{Locked, PlanRow, RawState, RowStatus, Sequence};
use crate::engine::saga::{
    recheck, state_for_next, ApplyFailure, ApplyOptions, ApplyProgress, Touched,
};
use crate::engine::{Error, Timeouts};
use std::sync::atomic::{AtomicBool, Ordering};

/// Sets every sequence of a batch, in order: the first part of both statements below.
macro_rules! set_batch {
    () => {
        "WITH set AS MATERIALIZED (\
         SELECT u.i, u.o, pg_catalog.setval(u.o::regclass, u.v, u.c) AS value \
         FROM unnest($1::oid[], $2::int8[], $3::bool[]) WITH ORDINALITY AS u(o, v, c, i)) "
    };
}

/// Sets a batch and reads each sequence back in the same statement, once every `setval` of the
/// batch has run (a materialized CTE is evaluated in full before the query that reads it). So
/// the "after" column is read from the destination, under the batch's lock, without a second
/// pass over every sequence once the apply is done. PostgreSQL 18 reads the exact state: a
/// called sequence's `last_value` is that state, and only one set as not yet called (rare: its
/// target is its first value) has its data read as well, as `LOCK_AND_DATA_SQL` does. Reading
/// every one's data doubled the cost of the set (about 13 ms per 2,500 without it, 21 with).
const SET_AND_READ_DATA_SQL: &str = concat!(
    set_batch!(),
    "SELECT l.v, d.last_value, d.is_called FROM set \
     CROSS JOIN LATERAL (SELECT pg_catalog.pg_sequence_last_value(set.o) AS v) l \
     LEFT JOIN LATERAL (SELECT g.last_value, g.is_called \
                        FROM pg_catalog.pg_get_sequence_data(set.o::regclass) g \
                        WHERE l.v IS NULL OFFSET 0) d ON true \
     ORDER BY set.i"
);

/// Older servers read `last_value`: NULL for a sequence set as not yet called (its target is
/// its first value), which is then read from its relation.
const SET_AND_READ_SQL: &str = concat!(
    set_batch!(),
    "SELECT pg_catalog.pg_sequence_last_value(set.o) FROM set ORDER BY set.i"
);

/// What an apply reports to, and listens to, while it runs.
pub struct ApplyHooks<'a> {
    pub progress: &'a (dyn Fn(ApplyProgress) + Sync),
    /// Makes a batch's exact before-states durable (the journal) before the batch is set, so a
    /// killed run can be restored to them; an error stops the apply before the batch changes.
    pub record: &'a (dyn Fn(&[Locked]) -> Result<(), String> + Sync),
    pub cancel: &'a AtomicBool,
}

/// Applies every `update` row of the plan, all or nothing (see the module comment), then reads
/// the destination back: `update` rows become `updated` (`unchanged` where another run had set
/// the same target since the plan) and every row's `destination_after` holds what was read.
/// `session`, the connection the plan was read on, is reused while it is open: its backend has
/// every sequence in its relation cache already.
pub async fn apply(
    endpoint: &PgEndpoint,
    timeouts: &Timeouts,
    session: Option<PgSession>,
    rows: &mut [PlanRow],
    options: &ApplyOptions,
    hooks: &ApplyHooks<'_>,
) -> Result<(), ApplyFailure> {
    let to_apply: Vec<usize> = (0..rows.len())
        .filter(|&i| rows[i].status == RowStatus::Update)
        .collect();
    let session = match session.filter(|s| s.is_open()) {
        Some(s) => s,
        None => endpoint
            .connect(timeouts)
            .await
            .map_err(|e| ApplyFailure::RolledBack { reason: e.message })?,
    };
    let mut touched: Vec<Touched> = Vec::with_capacity(to_apply.len());
    let mut after = Vec::with_capacity(to_apply.len());
    let outcome = apply_batches(
        &session,
        rows,
        &to_apply,
        options,
        hooks,
        &mut touched,
        &mut after,
    )
    .await;
    if let Err(reason) = outcome {
        session.unlock_applier().await;
        drop(session);
        return Err(roll_back(endpoint, timeouts, options, touched, reason.message).await);
    }
    for (i, value, set_here) in after {
        let row = &mut rows[i];
        row.destination_after = value;
        if !set_here {
            row.status = RowStatus::Unchanged;
            row.message = "already at its target under the lock: set since the plan".to_string();
            continue;
        }
        row.status = RowStatus::Updated;
        if value != row.target {
            row.message = "the destination was used while it was being set".to_string();
        }
    }
    read_back_untouched(&session, rows).await;
    session.unlock_applier().await;
    Ok(())
}

/// The state each sequence of a batch holds after the set: as the set read it, and from the
/// relation where an older server could not.
async fn complete_states(
    session: &PgSession,
    set: Vec<Option<RawState>>,
    oids: &[u32],
    names: &[(&str, &str)],
) -> Result<Vec<RawState>, Error> {
    let unread: Vec<usize> = (0..set.len()).filter(|&k| set[k].is_none()).collect();
    if unread.is_empty() {
        return Ok(set.into_iter().flatten().collect());
    }
    let unread_oids: Vec<u32> = unread.iter().map(|&k| oids[k]).collect();
    let names: Vec<(&str, &str)> = unread.iter().map(|&k| names[k]).collect();
    let mut states = set;
    for (&k, state) in unread
        .iter()
        .zip(session.uncalled_states(&unread_oids, &names).await?)
    {
        states[k] = Some(state);
    }
    Ok(states.into_iter().flatten().collect())
}

/// A batch locked as `setval` does, with what was read under the lock.
struct LockedBatch {
    /// `last_value` of each called sequence (None for one not yet called).
    called: Vec<Option<i64>>,
    /// The exact state of a sequence never called, where the server could read it with the lock.
    known: Vec<Option<RawState>>,
    /// Names and bounds as committed once the batch was locked.
    live: Vec<Sequence>,
}

/// Opens a batch's transaction and locks the batch. Sent together, executed in this order (a
/// session runs what it is sent in turn; each statement is sent when its future is first
/// polled): the lock, which makes a conflicting session fire lock_timeout before anything in
/// the batch changes, then the catalogue as committed once the batch is locked.
async fn lock_batch(session: &PgSession, oids: &[u32]) -> Result<LockedBatch, Error> {
    let (begun, locked, live) = tokio::join!(
        biased;
        session.execute(
            "starting a transaction",
            "BEGIN ISOLATION LEVEL READ COMMITTED",
        ),
        session.lock_and_read(oids),
        session.catalogue_by_oid(oids),
    );
    begun?;
    let (called, known) = locked?;
    Ok(LockedBatch {
        called,
        known,
        live: live?,
    })
}

async fn apply_batches(
    session: &PgSession,
    rows: &mut [PlanRow],
    to_apply: &[usize],
    options: &ApplyOptions,
    hooks: &ApplyHooks<'_>,
    touched: &mut Vec<Touched>,
    after: &mut Vec<(usize, Option<i64>, bool)>,
) -> Result<(), Error> {
    let ApplyHooks {
        progress,
        record,
        cancel,
    } = hooks;
    let total = to_apply.len();
    // Prepared before the first batch, so that each statement of a batch is sent when its
    // future is first polled, in the order the batch lists them (see below).
    session.apply_statements().await?;
    progress(ApplyProgress { done: 0, total });
    let batch_size = options.batch_size.max(1);
    let batches: Vec<&[usize]> = to_apply.chunks(batch_size).collect();
    let batch_oids: Vec<Vec<u32>> = batches
        .iter()
        .map(|batch| {
            batch
                .iter()
                .map(|&i| {
                    rows[i]
                        .destination_oid
                        .expect("update rows come from a destination sequence")
                })
                .collect()
        })
        .collect();
    // The next batch's lock, when it was sent with this batch's set.
    let mut locked_ahead: Option<Result<LockedBatch, Error>> = None;
    for (batch_no, batch) in batches.iter().enumerate() {
        if cancel.load(Ordering::SeqCst) {
            return Err(Error::failed("cancelled by the operator"));
        }
        let oids = &batch_oids[batch_no];
        let LockedBatch {
            called,
            known,
            mut live,
        } = match locked_ahead.take() {
            Some(locked) => locked?,
            None => lock_batch(session, oids).await?,
        };
        let renamed: Vec<String> = batch
            .iter()
            .zip(&live)
            .filter(|(&i, l)| {
                (l.schema.as_str(), l.name.as_str())
                    != (rows[i].schema.as_str(), rows[i].name.as_str())
            })
            .map(|(&i, l)| {
                format!(
                    "{}: renamed to {}",
                    rows[i].qualified_name(),
                    l.qualified_name()
                )
            })
            .collect();
        if !renamed.is_empty() {
            let _ = session.execute("rolling back", "ROLLBACK").await;
            return Err(Error::failed(format!(
                "the destination changed since the plan ({}); plan again",
                renamed.join("; ")
            )));
        }
        let first_touched = touched.len();
        let uncalled: Vec<usize> = (0..batch.len()).filter(|&k| called[k].is_none()).collect();
        let mut states = vec![None; batch.len()];
        // PostgreSQL 18 reads a never-called sequence exactly without touching it.
        let read_by_nextval = !uncalled.is_empty() && !session.reads_sequence_data();
        if !uncalled.is_empty() && !read_by_nextval {
            // Read with the lock already where the server could; the rest on their own.
            let unread: Vec<usize> = uncalled
                .iter()
                .copied()
                .filter(|&k| known[k].is_none())
                .collect();
            for &k in &uncalled {
                states[k] = known[k];
            }
            let unread_oids: Vec<u32> = unread.iter().map(|&k| oids[k]).collect();
            let names: Vec<(&str, &str)> = unread
                .iter()
                .map(|&k| (live[k].schema.as_str(), live[k].name.as_str()))
                .collect();
            if !unread.is_empty() {
                let exact = session.uncalled_states(&unread_oids, &names).await?;
                for (&k, state) in unread.iter().zip(exact) {
                    states[k] = Some(state);
                }
            }
        }
        let by_nextval: Vec<bool> = (0..batch.len())
            .map(|k| read_by_nextval && called[k].is_none())
            .collect();
        // What the journal holds for this batch, when it was journaled before nextval().
        let mut journaled: Option<Vec<Locked>> = None;
        if read_by_nextval {
            // PostgreSQL 15 cannot read a sequence that was never called except by querying its
            // relation (about 20-40 µs each, see DIRECT_CHUNK); nextval() returns exactly that
            // last_value in microseconds. It marks the sequence called, which we are about to
            // change anyway: write-ahead, the batch is journaled first (each never-called one at
            // the state the plan read, which a killed run's recovery puts back only where it
            // finds our own nextval() on it), and each is recorded as touched for a rollback.
            let expected: Vec<RawState> = (0..batch.len())
                .map(|k| RawState {
                    last_value: called[k]
                        .or(rows[batch[k]].destination_before)
                        .unwrap_or_default(),
                    is_called: called[k].is_some(),
                })
                .collect();
            let provisional = locked_entries(rows, batch, &expected, &by_nextval);
            if let Err(e) = record(&provisional) {
                let _ = session.execute("rolling back", "ROLLBACK").await;
                return Err(Error::failed(e));
            }
            journaled = Some(provisional);
            for &k in &uncalled {
                let planned = expected[k];
                touched.push(Touched {
                    oid: oids[k],
                    name: rows[batch[k]].qualified_name(),
                    before: planned,
                    set_to: RawState {
                        is_called: true,
                        ..planned
                    },
                });
            }
            let uncalled_oids: Vec<u32> = uncalled.iter().map(|&k| oids[k]).collect();
            let values = session.take_next_values(&uncalled_oids).await?;
            for (t, value) in touched[first_touched..].iter_mut().zip(values) {
                t.before = RawState {
                    last_value: value,
                    is_called: false,
                };
                t.set_to = RawState {
                    last_value: value,
                    is_called: true,
                };
            }
        }
        for (k, value) in called.iter().enumerate() {
            if let Some(v) = value {
                states[k] = Some(RawState {
                    last_value: *v,
                    is_called: true,
                });
            }
        }
        for (t, &k) in touched[first_touched..].iter().zip(&uncalled) {
            states[k] = Some(t.before);
        }
        let mut drifted = vec![];
        let mut targets = Vec::with_capacity(batch.len());
        for (k, &i) in batch.iter().enumerate() {
            let state = states[k].expect("every sequence of the batch was read");
            live[k].last_value = Some(state.last_value);
            live[k].is_called = state.is_called;
            let target = rows[i].target.expect("update rows have a target");
            let unchanged = options
                .require_unchanged
                .then_some(rows[i].destination_before);
            if let Err(why) = recheck(&live[k], target, options.allow_lower, unchanged) {
                drifted.push(format!("{}: {why}", rows[i].qualified_name()));
            }
            targets.push(state_for_next(&live[k], target));
        }
        if !drifted.is_empty() {
            let _ = session.execute("rolling back", "ROLLBACK").await;
            return Err(Error::failed(format!(
                "the destination changed since the plan ({}); plan again",
                drifted.join("; ")
            )));
        }
        for (t, &k) in touched[first_touched..].iter_mut().zip(&uncalled) {
            t.set_to = targets[k];
        }
        // A sequence already in the state this run would give it (another run set it since the
        // plan) is neither set nor touched, so a rollback of this run leaves it as it is. One
        // read by nextval() has been changed by it and is set in any case.
        let set_here: Vec<bool> = (0..batch.len())
            .map(|k| states[k] != Some(targets[k]) || by_nextval[k])
            .collect();
        let to_set: Vec<usize> = (0..batch.len()).filter(|&k| set_here[k]).collect();
        for (k, &i) in batch.iter().enumerate() {
            rows[i].destination_before = live[k].next_display();
            // Those read by nextval() were recorded as touched before it.
            if set_here[k] && !by_nextval[k] {
                touched.push(Touched {
                    oid: oids[k],
                    name: rows[i].qualified_name(),
                    before: states[k].expect("read"),
                    set_to: targets[k],
                });
            }
        }
        let states: Vec<RawState> = states.into_iter().map(|s| s.expect("read")).collect();
        let locked = locked_entries(rows, batch, &states, &by_nextval);
        // Journaled again only where nextval() found a state other than the plan's (the later
        // entry is the one recovery reads).
        if journaled.as_ref() != Some(&locked) {
            if let Err(e) = record(&locked) {
                let _ = session.execute("rolling back", "ROLLBACK").await;
                return Err(Error::failed(e));
            }
        }
        let set_oids: Vec<u32> = to_set.iter().map(|&k| oids[k]).collect();
        let set_targets: Vec<RawState> = to_set.iter().map(|&k| targets[k]).collect();
        let set_names: Vec<(&str, &str)> = to_set
            .iter()
            .map(|&k| (live[k].schema.as_str(), live[k].name.as_str()))
            .collect();
        // The commit travels with the set unless an older server must read a sequence set as
        // not yet called from its relation, under the batch's lock; the next batch's BEGIN and
        // lock follow it, so the session goes from one batch to the next without waiting on us.
        let read_after = if session.reads_sequence_data() || set_targets.iter().all(|t| t.is_called)
        {
            let next = batch_oids
                .get(batch_no + 1)
                .filter(|_| !cancel.load(Ordering::SeqCst));
            let (set, committed, ahead) = tokio::join!(
                biased;
                session.set_states(&set_oids, &set_targets),
                session.execute("committing", "COMMIT"),
                async {
                    match next {
                        Some(next) => Some(lock_batch(session, next).await),
                        None => None,
                    }
                },
            );
            let set = set?;
            committed?;
            locked_ahead = ahead;
            complete_states(session, set, &set_oids, &set_names).await?
        } else {
            let set = session.set_states(&set_oids, &set_targets).await?;
            let read_after = complete_states(session, set, &set_oids, &set_names).await?;
            session.execute("committing", "COMMIT").await?;
            read_after
        };
        for (&k, state) in to_set.iter().zip(read_after) {
            live[k].last_value = Some(state.last_value);
            live[k].is_called = state.is_called;
        }
        for (k, &i) in batch.iter().enumerate() {
            after.push((i, live[k].next_display(), set_here[k]));
        }
        progress(ApplyProgress {
            done: (batch_no * batch_size + batch.len()).min(total),
            total,
        });
    }
    Ok(())
}

/// A batch's journal entries: each sequence with its exact state under the lock.
fn locked_entries(
    rows: &[PlanRow],
    batch: &[usize],
    states: &[RawState],
    by_nextval: &[bool],
) -> Vec<Locked> {
    batch
        .iter()
        .zip(states.iter().zip(by_nextval))
        .map(|(&i, (&state, &by_nextval))| Locked {
            schema: rows[i].schema.to_string(),
            name: rows[i].name.to_string(),
            state,
            by_nextval,
        })
        .collect()
}

/// Fills `destination_after` of the readable rows the run did not set (those it set were read
/// with the set) from what the destination holds now. A failed read leaves the column empty and
/// says so in each row's message; the apply itself has succeeded by then.
async fn read_back_untouched(session: &PgSession, rows: &mut [PlanRow]) {
    let untouched: Vec<usize> = (0..rows.len())
        .filter(|&i| {
            let row = &rows[i];
            row.destination_oid.is_some()
                && row.destination_before.is_some()
                && row.status != RowStatus::Updated
        })
        .collect();
    for chunk in untouched.chunks(READ_CHUNK) {
        let oids: Vec<u32> = chunk
            .iter()
            .filter_map(|&i| rows[i].destination_oid)
            .collect();
        match session.read_by_oid(&oids).await {
            Ok(live) => {
                for (&i, l) in chunk.iter().zip(&live) {
                    rows[i].destination_after = l.sequence.next_display();
                }
            }
            Err(e) => {
                for &i in &untouched {
                    let row = &mut rows[i];
                    let failed = format!("reading it back failed: {e}");
                    row.message = if row.message.is_empty() {
                        failed
                    } else {
                        format!("{}; {failed}", row.message)
                    };
                }
                return;
            }
        }
    }
}

impl PgSession {
    /// The apply's statements on this session, prepared at its first use.
    pub(super) async fn apply_statements(&self) -> Result<&ApplyStatements, Error> {
        self.apply_statements
            .get_or_try_init(|| async {
                let (lock, set) = if self.reads_sequence_data() {
                    (LOCK_AND_DATA_SQL, SET_AND_READ_DATA_SQL)
                } else {
                    (FAST_VALUES_SQL, SET_AND_READ_SQL)
                };
                let (lock, live_catalogue, set) = self
                    .bounded("preparing the apply's statements", async {
                        tokio::try_join!(
                            self.client.prepare(lock),
                            self.client.prepare(LIVE_CATALOGUE_SQL),
                            self.client.prepare(set)
                        )
                    })
                    .await?;
                Ok(ApplyStatements {
                    lock,
                    live_catalogue,
                    set,
                })
            })
            .await
    }

    /// Sets each sequence to its state and reads it back (see `SET_AND_READ_DATA_SQL`). A
    /// `None` is a sequence an older server cannot read without its relation: one set as not yet
    /// called.
    pub(super) async fn set_states(
        &self,
        oids: &[u32],
        states: &[RawState],
    ) -> Result<Vec<Option<RawState>>, Error> {
        let values: Vec<i64> = states.iter().map(|s| s.last_value).collect();
        let called: Vec<bool> = states.iter().map(|s| s.is_called).collect();
        let exact = self.reads_sequence_data();
        let set = &self.apply_statements().await?.set;
        let rows = self
            .bounded(
                "setting destination sequences",
                self.client.query(set, &[&oids, &values, &called]),
            )
            .await?;
        if rows.len() != oids.len() {
            return Err(Error::failed(
                "a sequence was dropped while seqsync was setting it; try again",
            ));
        }
        Ok(rows
            .iter()
            .map(|r| {
                if let Some(last_value) = r.get::<_, Option<i64>>(0) {
                    return Some(RawState {
                        last_value,
                        is_called: true,
                    });
                }
                if !exact {
                    return None;
                }
                Some(RawState {
                    last_value: r.get::<_, Option<i64>>(1)?,
                    is_called: r.get::<_, Option<bool>>(2)?,
                })
            })
            .collect())
    }
}
