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
