//! One applier per destination database: a session-level advisory lock that a run takes before
//! its intent is journaled and holds until it has ended or rolled back (recovery and rollbacks
//! take it too). A second run waits at most `lock_timeout`, then is refused, naming the holder.
//! Only seqsync takes this key, so no application is ever blocked by it; `plan` and `check` never
//! take it. Every seqsync session names itself in `application_name`, so a DBA sees it in
//! `pg_stat_activity` and a refused run can say which run holds the lock.

use super::endpoint::{application_name, run_of, PgSession};
use crate::engine::Error;

/// The advisory lock's two keys: "SEQS" and "YNC1" in ASCII, so that only seqsync runs
/// collide. Advisory locks are per database, which is the unit one run applies to.
const LOCK_KEYS: (i32, i32) = (0x5345_5153, 0x594e_4331);

/// How long letting the lock go may take: one statement on a session that has just answered.
const UNLOCK_WITHIN: std::time::Duration = std::time::Duration::from_secs(1);

/// Who holds the applier lock, as `pg_stat_activity` shows any role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: i32,
    pub application_name: String,
    pub user: String,
}

impl Holder {
    /// The holder in a sentence: its run id when it is a seqsync run.
    pub fn describe(&self) -> String {
        match run_of(&self.application_name) {
            Some(run) => format!(
                "run {run} (role {}, server process {})",
                self.user, self.pid
            ),
            None => format!(
                "server process {} ({}, role {})",
                self.pid, self.application_name, self.user
            ),
        }
    }
}

const HOLDER_SQL: &str = "SELECT a.pid, a.application_name, a.usename::text \
     FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid \
     WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 \
       AND l.classid = $1::int4::oid AND l.objid = $2::int4::oid \
       AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())";

impl PgSession {
    /// Names this session after `run` and takes the applier lock for as long as the session
    /// lives, waiting at most `lock_timeout`. Refused with the holder named in `who_holds`'s
    /// words when another run has it.
    pub async fn lock_applier(
        &self,
        run: &str,
        who_holds: impl Fn(&Holder) -> String,
    ) -> Result<(), Error> {
        let name = application_name(Some(run), self.operator_application_name());
        let named_as: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&name];
        let keys: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&LOCK_KEYS.0, &LOCK_KEYS.1];
        // Sent together, the name first: a run refused while we wait sees which run we are.
        let (named, taken) = tokio::join!(
            biased;
            self.bounded(
                "naming the session",
                self.client.execute(
                    "SELECT pg_catalog.set_config('application_name', $1, false)",
                    &named_as,
                ),
            ),
            self.client
                .execute("SELECT pg_catalog.pg_advisory_lock($1, $2)", &keys),
        );
        named?;
        match taken {
            Ok(_) => Ok(()),
            Err(e) if e.code().is_some_and(|c| c.code() == "55P03") => {
                let holder = self.applier().await.ok().flatten();
                Err(Error::failed(format!(
                    "another seqsync run is applying to {}: {}; it holds the destination's applier lock \
                     (waited lock_timeout, {}); try again when it has finished",
                    self.endpoint.display,
                    holder.as_ref().map_or("its session has just ended".to_string(), who_holds),
                    humantime::format_duration(self.timeouts.lock)
                )))
            }
            Err(e) => {
                // Any other error, with the session's usual wording and bounds.
                self.bounded("taking the applier lock", async { Err(e) })
                    .await
            }
        }
    }

    /// Lets the applier lock go now rather than when the session closes. Through a pooler in
    /// transaction mode the server session outlives ours, is handed to other clients, and would
    /// keep the lock until the pooler closes it, refusing the next run. Best effort, and brief:
    /// it runs before a rollback too, which must not wait a statement timeout on a connection
    /// that has died; a session that is gone has taken its lock with it.
    pub async fn unlock_applier(&self) {
        if !self.is_open() {
            return;
        }
        let keys: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&LOCK_KEYS.0, &LOCK_KEYS.1];
        let unlock = self
            .client
            .execute("SELECT pg_catalog.pg_advisory_unlock($1, $2)", &keys);
        let _ = tokio::time::timeout(UNLOCK_WITHIN, unlock).await;
    }

    /// The session holding the applier lock of this database, if any.
    pub async fn applier(&self) -> Result<Option<Holder>, Error> {
        self.holder_of(LOCK_KEYS.0, LOCK_KEYS.1).await
    }

    async fn holder_of(&self, key1: i32, key2: i32) -> Result<Option<Holder>, Error> {
        let row = self
            .bounded(
                "looking for the session that holds a seqsync lock",
                self.client.query_opt(HOLDER_SQL, &[&key1, &key2]),
            )
            .await?;
        Ok(row.map(|r| Holder {
            pid: r.get(0),
            application_name: r.get(1),
            user: r.get(2),
        }))
    }
}

/// The guard lock's first key, "SEQG"; the second is a hash of the instance id, so replicas
/// guarding the same instance contend and different instances on one database do not.
const GUARD_KEY: i32 = 0x5345_5147;

/// The guard lock's second key: FNV-1a of the instance id, stable across builds and hosts.
fn guard_key(instance: &str) -> i32 {
    let hash = instance.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    hash as i32
}

/// What a guard replica is for an instance this round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// It holds the instance's guard lock: it runs the rounds.
    Active,
    /// Another session holds it (named when it can be seen): this replica waits.
    Standby(Option<Holder>),
}

/// A guard replica's claim on one instance: a session on the destination that holds the
/// instance's guard lock for as long as it lives. When the active replica dies its session
/// ends, the server releases the lock, and a standby's next try takes it.
pub struct GuardLease {
    instance: String,
    session: Option<PgSession>,
    held: bool,
}

impl GuardLease {
    pub fn new(instance: &str) -> GuardLease {
        GuardLease {
            instance: instance.to_string(),
            session: None,
            held: false,
        }
    }

    /// Holds the lock if it can, or says who does. An error (the destination cannot be
    /// reached) leaves this replica holding nothing.
    pub async fn claim(
        &mut self,
        endpoint: &super::endpoint::PgEndpoint,
        timeouts: &crate::engine::Timeouts,
    ) -> Result<Role, Error> {
        if let Some(session) = self.session.as_ref().filter(|s| s.is_open()) {
            if self.held {
                // Still ours while the session answers: the lock lives as long as the session.
                if session
                    .execute("checking the guard session", "SELECT 1")
                    .await
                    .is_ok()
                {
                    return Ok(Role::Active);
                }
                self.release();
            }
        } else {
            self.release();
        }
        let session = match self.session.take() {
            Some(s) => s,
            None => {
                let s = endpoint.connect(timeouts).await?;
                // "(guard on HOST)" carries no run id, so a refused run names it as a guard.
                let on = format!("guard on {}", crate::engine::journal::hostname());
                let name: String = application_name(None, Some(&on)).chars().take(63).collect();
                s.bounded(
                    "naming the guard session",
                    s.client.execute(
                        "SELECT pg_catalog.set_config('application_name', $1, false)",
                        &[&name],
                    ),
                )
                .await?;
                s
            }
        };
        let key = guard_key(&self.instance);
        let row = session
            .bounded(
                "taking the guard lock",
                session.client.query_one(
                    "SELECT pg_catalog.pg_try_advisory_lock($1, $2)",
                    &[&GUARD_KEY, &key],
                ),
            )
            .await?;
        let taken: bool = row.get(0);
        let role = if taken {
            Role::Active
        } else {
            Role::Standby(session.holder_of(GUARD_KEY, key).await.ok().flatten())
        };
        self.held = taken;
        self.session = Some(session);
        Ok(role)
    }

    /// Whether the last claim took the lock.
    pub fn is_held(&self) -> bool {
        self.held
    }

    /// Lets the lock go (the instance stopped qualifying, or the guard stops).
    pub fn release(&mut self) {
        self.session = None;
        self.held = false;
    }
}

impl PgSession {
    /// The session holding the guard lock of `instance` on this database, if any.
    pub async fn guard_holder(&self, instance: &str) -> Result<Option<Holder>, Error> {
        self.holder_of(GUARD_KEY, guard_key(instance)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_id_travels_in_the_application_name() {
        let name = application_name(Some("20261126T114407123Z-4242"), None);
        assert!(name.starts_with("seqsync/"), "{name}");
        assert!(name.len() <= 63, "PostgreSQL keeps 63 bytes: {name}");
        assert_eq!(run_of(&name), Some("20261126T114407123Z-4242"));
        assert_eq!(run_of(&application_name(None, None)), None);
        assert_eq!(run_of(&application_name(None, Some("etl job"))), None);
        let theirs = application_name(Some("20261126T114407123Z-4242"), Some("etl job"));
        assert_eq!(theirs, "seqsync/0.1.0 20261126T114407123Z-4242 (etl job)");
        assert_eq!(run_of(&theirs), Some("20261126T114407123Z-4242"));
        assert_eq!(run_of("psql"), None);
    }
}
