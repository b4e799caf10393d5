//! PostgreSQL protocol adapter (PostgreSQL, PolarDB for PostgreSQL, PolarDB compatible with
//! Oracle): read every sequence, apply a plan all-or-nothing, read back.
//!
//! # Why the apply is a compensated series of `setval` batches
//!
//! Measured on PostgreSQL 15 (see DESIGN.md and `benches/sync_10k.rs`):
//! * `setval` is not transactional: ROLLBACK does not undo it, and it is visible to other
//!   sessions at once.
//! * `ALTER SEQUENCE … RESTART` is transactional, but writes a catalogue row and a new relation
//!   file per sequence: about 5× slower than `setval` over `unnest`.
//! * Both hold a lock per sequence until the end of the transaction, and the whole server's lock
//!   table holds only about 12,500 locks at default settings. 50,000 sequences therefore cannot be
//!   changed in one transaction *by any means* — RESTART included — without raising
//!   `max_locks_per_transaction`, which needs a restart we may not ask for mid-incident.
//!
//! So no single transaction can make a 50,000-sequence change atomic, and atomicity has to come
//! from the protocol instead. We use a write-ahead, compensated apply (a saga):
//! 1. The plan (every before and target) is journaled and fsynced before anything changes.
//! 2. Sequences are applied in batches, one transaction each, well inside the lock budget.
//!    Each batch first takes the same lock `setval` would (`pg_sequence_last_value`), so a
//!    conflicting session makes `lock_timeout` fire *before* anything in the batch changes; then
//!    it re-reads the exact state and bounds under that lock and re-checks every row against
//!    the plan; only then does one `setval` over `unnest` set the whole batch.
//! 3. If anything fails — a lock timeout, a bound changed under us, a terminated backend, a lost
//!    connection, a cancel — every sequence this run touched is restored to the exact state read
//!    under lock (`setval(seq, last_value, is_called)`), from a fresh connection, retried until a
//!    deadline. A sequence is restored only if it still holds exactly what we set; one that has
//!    handed out values since is left alone and reported (lowering it could re-issue ids).
//! 4. After success, the destination is read back and the "after" column shows what was read.
//!
//! The cost over the non-atomic floor is two cheap reads per batch and a commit per batch.
//!
//! # Where things live
//! * `endpoint.rs`: a connection string and its password become a [`PgEndpoint`]; connecting
//!   sets the session's limits; every call on a [`PgSession`] is bounded.
//! * `read.rs`: the catalogue and the sequences' values, the owning columns' data.
//! * `status.rs`: what the server is (standby, read-only), its processes, replication state.
//! * `apply.rs`: the batched apply and the read-back.
//! * `recover.rs`: the rollback of a failed apply and the settling of a killed one.
//! * `lock.rs`: one applier per destination database (an advisory lock), and the sessions'
//!   `application_name`.
//! * `errors.rs`: server errors in an operator's words.
//!
//! The saga's decisions (re-check under lock, the state to set, what to restore, how a killed
//! run's sequences are classified) are pure functions in `engine::saga`; this adapter only
//! runs SQL.

mod apply;
mod catalogue;
mod connect;
mod edges;
mod endpoint;
mod errors;
mod idle;
mod lock;
mod read;
mod recover;
mod status;

pub use apply::{apply, ApplyHooks};
pub use connect::Arrival;
pub use endpoint::{application_name, run_of, PgEndpoint, PgSession};
pub use errors::describe;
pub use idle::{quick_oids, quick_state, Fingerprint};
pub use lock::{GuardLease, Holder, Role};
pub use recover::recover;
pub use status::{SlotState, SubscriptionState};
