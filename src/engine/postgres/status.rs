//! What a server is and what runs on it: a standby or read-only session, this connection's
//! server process (and waiting for a killed run's to end), TLS, and logical replication as the
//! catalogue shows it.

use super::endpoint::PgSession;
use crate::engine::model::Backend;
use crate::engine::Error;
use std::time::{Duration, Instant};

/// What the destination's catalogue says of a logical replication subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriptionState {
    pub enabled: bool,
    pub apply_worker_running: bool,
    pub tables: i64,
    pub tables_not_ready: i64,
    /// Apply and table-sync errors counted since the statistics were last reset.
    pub errors: i64,
}

/// What the source's catalogue says of a replication slot a CDC tool reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotState {
    pub active: bool,
    /// The consumer's server process (its walsender), while one reads the slot.
    pub active_pid: Option<i32>,
    /// `reserved`, `extended`, `unreserved` or `lost` (PostgreSQL 13+; None before).
    pub wal_status: Option<String>,
    /// Why the server invalidated the slot (PostgreSQL 17+), or `conflicting` on a standby (16).
    pub invalidated: Option<String>,
    /// WAL the consumer has not yet confirmed, in bytes.
    pub lag_bytes: Option<i64>,
    /// The consumer's `application_name`, where `pg_stat_replication` shows it to this role.
    pub consumer: Option<String>,
}

// to_jsonb keeps one query for every version: columns that a server does not have are absent.
const SLOT_SQL: &str = r#"
SELECT pg_catalog.to_jsonb(s)::text,
       pg_catalog.pg_wal_lsn_diff(
         CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_replay_lsn()
              ELSE pg_catalog.pg_current_wal_lsn() END,
         COALESCE(s.confirmed_flush_lsn, s.restart_lsn))::int8,
       (SELECT r.application_name::text FROM pg_catalog.pg_stat_replication r
        WHERE r.pid = s.active_pid)
FROM pg_catalog.pg_replication_slots s
WHERE s.slot_name = $1
"#;

const SUBSCRIPTION_SQL: &str = r#"
SELECT s.oid, s.subenabled,
       EXISTS (SELECT 1 FROM pg_catalog.pg_stat_subscription w
               WHERE w.subid = s.oid AND w.relid IS NULL AND w.pid IS NOT NULL) AS apply_running,
       (SELECT count(*) FROM pg_catalog.pg_subscription_rel r WHERE r.srsubid = s.oid) AS tables,
       (SELECT count(*) FROM pg_catalog.pg_subscription_rel r
        WHERE r.srsubid = s.oid AND r.srsubstate NOT IN ('r', 's')) AS tables_not_ready
FROM pg_catalog.pg_subscription s
WHERE s.subname = $1
  AND s.subdbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
"#;

const SUBSCRIPTION_ERRORS_SQL: &str = "SELECT (apply_error_count + sync_error_count)::int8 \
     FROM pg_catalog.pg_stat_subscription_stats WHERE subid = $1";

const SUBSCRIPTION_SLOTS_SQL: &str = "SELECT subslotname::text FROM pg_catalog.pg_subscription \
     WHERE subslotname IS NOT NULL \
       AND subdbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())";

const LOGICAL_SLOTS_SQL: &str = "SELECT slot_name::text FROM pg_catalog.pg_replication_slots \
     WHERE slot_type = 'logical' AND database = current_database()";

impl PgSession {
    /// Why this server cannot take changes, if it cannot: a hot standby, or a session that is
    /// read-only by default.
    pub async fn read_only(&self) -> Result<Option<String>, Error> {
        let row = self
            .bounded(
                "checking whether the server takes changes",
                self.client.query_one(
                    "SELECT pg_catalog.pg_is_in_recovery(), \
                            pg_catalog.current_setting('transaction_read_only') = 'on'",
                    &[],
                ),
            )
            .await?;
        Ok(match (row.get::<_, bool>(0), row.get::<_, bool>(1)) {
            (true, _) => Some(format!(
                "{} is a hot standby (in recovery) and cannot take changes: connect to the primary",
                self.endpoint.display
            )),
            (false, true) => Some(format!(
                "{} is read-only for this session (default_transaction_read_only is on): \
                 turn it off for this role or database, or connect where changes are allowed",
                self.endpoint.display
            )),
            (false, false) => None,
        })
    }

    /// This connection's server process, as `pg_stat_activity` names it.
    pub async fn backend(&self) -> Result<Backend, Error> {
        let row = self
            .bounded(
                "reading the server process id",
                self.client.query_one(
                    "SELECT pg_backend_pid(), backend_start::text FROM pg_catalog.pg_stat_activity \
                     WHERE pid = pg_backend_pid()",
                    &[],
                ),
            )
            .await?;
        Ok(Backend {
            pid: row.get(0),
            started: row.get(1),
        })
    }

    /// Waits until `backend` (an interrupted run's) has ended: its client is gone, but it may
    /// still be running a statement whose changes would land after we looked. Asks it to end
    /// after a moment; gives up at the deadline.
    pub(super) async fn wait_until_gone(
        &self,
        backend: &Backend,
        patience: Duration,
    ) -> Result<(), Error> {
        let started = Instant::now();
        let mut asked = false;
        loop {
            let alive = self
                .bounded(
                    "looking for the interrupted run's server process",
                    self.client.query_opt(
                        "SELECT 1 FROM pg_catalog.pg_stat_activity WHERE pid = $1 AND backend_start::text = $2",
                        &[&backend.pid, &backend.started],
                    ),
                )
                .await?
                .is_some();
            if !alive {
                return Ok(());
            }
            if started.elapsed() >= patience {
                return Err(Error::failed(format!(
                    "the interrupted run's server process {} on {} is still active; \
                     wait for it to end, or end it with SELECT pg_terminate_backend({}), then start again",
                    backend.pid, self.endpoint.display, backend.pid
                )));
            }
            if !asked && started.elapsed() >= Duration::from_secs(1) {
                // Its client was killed, so nothing will read its answer; refused if this role
                // may not signal it, and then we keep waiting.
                let _ = self
                    .client
                    .query_opt(
                        "SELECT pg_catalog.pg_terminate_backend($1)",
                        &[&backend.pid],
                    )
                    .await;
                asked = true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A subscription of the current database, read from the catalogue columns that a
    /// non-superuser may read (never `subconninfo`).
    pub async fn subscription(&self, name: &str) -> Result<Option<SubscriptionState>, Error> {
        let row = self
            .bounded(
                "reading the subscription",
                self.client.query_opt(SUBSCRIPTION_SQL, &[&name]),
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let subid: u32 = row.get("oid");
        // pg_stat_subscription_stats appeared in PostgreSQL 15; older servers simply have no count.
        let errors = self
            .client
            .query_opt(SUBSCRIPTION_ERRORS_SQL, &[&subid])
            .await
            .ok()
            .flatten()
            .map(|r| r.get::<_, i64>(0))
            .unwrap_or(0);
        Ok(Some(SubscriptionState {
            enabled: row.get("subenabled"),
            apply_worker_running: row.get("apply_running"),
            tables: row.get("tables"),
            tables_not_ready: row.get("tables_not_ready"),
            errors,
        }))
    }

    /// A replication slot on this server, by name; None when there is none.
    pub async fn slot(&self, name: &str) -> Result<Option<SlotState>, Error> {
        let row = self
            .bounded(
                "reading the replication slot",
                self.client.query_opt(SLOT_SQL, &[&name]),
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let columns: serde_json::Value =
            serde_json::from_str(row.get::<_, &str>(0)).unwrap_or_default();
        let text = |key: &str| columns.get(key).and_then(|v| v.as_str()).map(String::from);
        let invalidated = text("invalidation_reason").or_else(|| {
            (columns.get("conflicting").and_then(|v| v.as_bool()) == Some(true))
                .then(|| "conflicting with recovery".to_string())
        });
        Ok(Some(SlotState {
            active: columns.get("active").and_then(|v| v.as_bool()) == Some(true),
            active_pid: columns
                .get("active_pid")
                .and_then(|v| v.as_i64())
                .and_then(|p| i32::try_from(p).ok()),
            wal_status: text("wal_status"),
            invalidated,
            lag_bytes: row.get(1),
            consumer: row.get::<_, Option<String>>(2).filter(|a| !a.is_empty()),
        }))
    }

    /// Whether this connection is encrypted, as the server sees it.
    pub async fn tls_in_use(&self) -> Result<bool, Error> {
        let row = self
            .bounded(
                "reading the connection's TLS state",
                self.client.query_opt(
                    "SELECT ssl FROM pg_catalog.pg_stat_ssl WHERE pid = pg_backend_pid()",
                    &[],
                ),
            )
            .await?;
        Ok(row.is_some_and(|r| r.get(0)))
    }

    /// Slot names of this database's own subscriptions (they live on their publishers).
    pub async fn subscription_slots(&self) -> Result<Vec<String>, Error> {
        let rows = self
            .bounded(
                "reading subscriptions",
                self.client.query(SUBSCRIPTION_SLOTS_SQL, &[]),
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Logical replication slots of this database: where its subscribers read from.
    pub async fn logical_slots(&self) -> Result<Vec<String>, Error> {
        let rows = self
            .bounded(
                "reading replication slots",
                self.client.query(LOGICAL_SLOTS_SQL, &[]),
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
}
