//! What the sync benchmarks share: a database of `count` plain sequences on each side, the
//! source at `i * 7`, the destination reset to one state, and `seqsync` run as a user runs it.
//! Every statement that touches sequences does so 2,500 at a time: `setval` keeps a lock per
//! sequence until the transaction ends, and 100,000 of them overflow a default lock table.

#![allow(dead_code)] // each benchmark uses a different part

use std::process::Command;
use std::time::{Duration, Instant};
use tokio_postgres::{Client, NoTls};

pub const CHUNK: i64 = 2_500;

pub struct Fixture {
    pub source_url: String,
    pub destination_url: String,
    pub count: i64,
    pub offset: i64,
}

#[derive(Clone, Copy, PartialEq)]
pub enum DestinationState {
    /// Never called, as after a migration filled the tables with explicit ids.
    NeverUsed,
    /// Already called (a rerun, or applications used it).
    Called,
}

/// What one `seqsync` run cost, seen from outside.
pub struct Run {
    pub elapsed: Duration,
    /// Peak resident set size of the seqsync process, in KiB, where it was measured (see
    /// [`measure_if_asked`]).
    pub peak_kib: Option<i64>,
}

/// Names the file a bench binary started again as a measurer writes its command's peak to.
const MEASURE_TO: &str = "SEQSYNC_BENCH_MEASURE_TO";

/// Call first in the main of a bench that measures seqsync's memory. When this process was
/// started as a measurer, it runs the command in its arguments, writes the command's peak
/// resident set size (KiB) to the file named by `SEQSYNC_BENCH_MEASURE_TO`, and exits with the
/// command's code. Why a measurer: Linux charges a vfork'd child, at its exec, with the
/// high-water mark of the process it came from (a `/bin/true` started from a 300 MiB process
/// reports a 321 MB `ru_maxrss`), and the bench holds about 100 MiB of its own at 100,000
/// sequences; this small process is what seqsync is started from instead.
pub fn measure_if_asked() {
    let Some(to) = std::env::var_os(MEASURE_TO) else {
        return;
    };
    let mut args = std::env::args_os().skip(1);
    let program = args.next().expect("a command to measure");
    let child = Command::new(program)
        .args(args)
        .env_remove(MEASURE_TO)
        .spawn()
        .expect("starting the measured command");
    let (status, peak_kib) = wait_with_peak_memory(child);
    std::fs::write(to, peak_kib.to_string()).expect("writing the peak");
    std::process::exit(status);
}

pub async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

fn with_database(url: &str, db: &str) -> String {
    format!(
        "{}/{db}",
        url.rsplit_once('/').expect("URL with a database").0
    )
}

/// `[start, end]` ranges of `CHUNK` sequence numbers covering `1..=count`.
fn chunks(count: i64) -> impl Iterator<Item = (i64, i64)> {
    (1..=count)
        .step_by(CHUNK as usize)
        .map(move |start| (start, (start + CHUNK - 1).min(count)))
}

pub fn env(key: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| panic!("{key} unset: run scripts/bench"))
}

pub fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

impl Fixture {
    pub async fn setup(&self) {
        for url in [&self.source_url, &self.destination_url] {
            let admin = connect(url).await;
            admin
                .batch_execute("DROP DATABASE IF EXISTS seqsync_bench WITH (FORCE)")
                .await
                .unwrap();
            admin
                .batch_execute("CREATE DATABASE seqsync_bench")
                .await
                .unwrap();
            let db = connect(&with_database(url, "seqsync_bench")).await;
            for (start, end) in chunks(self.count) {
                db.batch_execute(&format!(
                    "DO $$ BEGIN FOR i IN {start}..{end} LOOP \
                     EXECUTE format('CREATE SEQUENCE s%s', i); END LOOP; END $$"
                ))
                .await
                .unwrap();
            }
        }
        let src = connect(&self.source()).await;
        for (start, end) in chunks(self.count) {
            src.batch_execute(&format!(
                "SELECT count(setval(format('s%s', i)::regclass, i * 7)) FROM generate_series({start}, {end}) i"
            ))
            .await
            .unwrap();
        }
    }

    pub fn source(&self) -> String {
        with_database(&self.source_url, "seqsync_bench")
    }

    pub fn destination(&self) -> String {
        with_database(&self.destination_url, "seqsync_bench")
    }

    pub async fn server_version(&self) -> i32 {
        connect(&self.destination())
            .await
            .query_one("SELECT current_setting('server_version_num')::int", &[])
            .await
            .unwrap()
            .get(0)
    }

    /// Puts every destination sequence back in `state` at a low value, then checkpoints.
    pub async fn reset(&self, state: DestinationState) {
        let dst = connect(&self.destination()).await;
        let called = state == DestinationState::Called;
        for (start, end) in chunks(self.count) {
            dst.batch_execute(&format!(
                "SELECT count(setval(format('s%s', i)::regclass, 1, {called})) FROM generate_series({start}, {end}) i"
            ))
            .await
            .unwrap();
        }
        dst.batch_execute("CHECKPOINT").await.unwrap();
    }

    /// Targets as seqsync computes them: the source's value plus the offset.
    pub fn targets(&self) -> (Vec<String>, Vec<i64>) {
        (1..=self.count)
            .map(|i| (format!("s{i}"), i * 7 + self.offset))
            .unzip()
    }

    /// The job itself on open connections, nothing else: one query reading the source values,
    /// one reading the destination states, one setval over unnest. On PostgreSQL 18 the reads
    /// are exact (`pg_get_sequence_data`); older servers have no one-query exact read of a
    /// never-called sequence, so there it reads `pg_sequence_last_value` only (NULL for those):
    /// a lower bound for any exact read. Not atomic. `chunked` sets `CHUNK` sequences per
    /// statement: one statement over 50,000 sequences overflows a default lock table.
    pub async fn job_floor(
        &self,
        src: &Client,
        dst: &Client,
        exact: bool,
        chunked: bool,
    ) -> Duration {
        let read = if exact {
            "SELECT c.relname::text, d.last_value, d.is_called FROM pg_class c \
             CROSS JOIN LATERAL pg_get_sequence_data(c.oid::regclass) d WHERE c.relkind = 'S'"
        } else {
            "SELECT c.relname::text, pg_sequence_last_value(c.oid), true FROM pg_class c \
             WHERE c.relkind = 'S'"
        };
        let started = Instant::now();
        let (source, destination) = tokio::join!(src.query(read, &[]), dst.query(read, &[]));
        let (source, destination) = (source.unwrap(), destination.unwrap());
        assert_eq!(destination.len() as i64, self.count);
        let names: Vec<String> = source.iter().map(|r| r.get(0)).collect();
        let values: Vec<i64> = source
            .iter()
            .map(|r| r.get::<_, Option<i64>>(1).unwrap_or(0) + self.offset)
            .collect();
        if chunked {
            for (names, values) in names
                .chunks(CHUNK as usize)
                .zip(values.chunks(CHUNK as usize))
            {
                set_all(dst, names, values).await;
            }
        } else {
            set_all(dst, &names, &values).await;
        }
        started.elapsed()
    }

    /// The job from nothing, as a script that knows the job would do it: two new connections,
    /// one query reading the source, the destination read exactly (on 18 one query; before
    /// 18 the called ones in one query and the never-called ones relation by relation, 1,000
    /// per statement), one `setval` over `unnest`. No journal, no lock, no check, no
    /// read-back: what seqsync is measured against.
    pub async fn cold_job_floor(&self, exact: bool) -> Duration {
        let (source_url, destination_url) = (self.source(), self.destination());
        let started = Instant::now();
        let (src, dst) = tokio::join!(connect(&source_url), connect(&destination_url));
        let source_read = if exact {
            "SELECT c.relname::text, d.last_value FROM pg_class c \
             CROSS JOIN LATERAL pg_get_sequence_data(c.oid::regclass) d WHERE c.relkind = 'S'"
        } else {
            "SELECT c.relname::text, pg_sequence_last_value(c.oid) FROM pg_class c \
             WHERE c.relkind = 'S'"
        };
        let destination_read = async {
            if exact {
                let rows = dst.query(
                    "SELECT c.relname::text, d.last_value, d.is_called FROM pg_class c \
                     CROSS JOIN LATERAL pg_get_sequence_data(c.oid::regclass) d WHERE c.relkind = 'S'",
                    &[],
                )
                .await
                .unwrap();
                return rows.len();
            }
            let rows = dst
                .query(
                    "SELECT c.relname::text, pg_sequence_last_value(c.oid) FROM pg_class c \
                     WHERE c.relkind = 'S'",
                    &[],
                )
                .await
                .unwrap();
            let uncalled: Vec<String> = rows
                .iter()
                .filter(|r| r.get::<_, Option<i64>>(1).is_none())
                .map(|r| r.get(0))
                .collect();
            for chunk in uncalled.chunks(1_000) {
                let sql = chunk
                    .iter()
                    .map(|n| format!("SELECT last_value, is_called FROM \"{n}\""))
                    .collect::<Vec<_>>()
                    .join(" UNION ALL ");
                dst.query(&sql, &[]).await.unwrap();
            }
            rows.len()
        };
        let (source, destination) = tokio::join!(src.query(source_read, &[]), destination_read);
        let source = source.unwrap();
        assert_eq!(destination as i64, self.count);
        let names: Vec<String> = source.iter().map(|r| r.get(0)).collect();
        let values: Vec<i64> = source
            .iter()
            .map(|r| r.get::<_, Option<i64>>(1).unwrap_or(0) + self.offset)
            .collect();
        set_all(&dst, &names, &values).await;
        started.elapsed()
    }

    /// `seqsync sync --yes` or `seqsync plan` with this fixture's offset, as a user runs it.
    pub fn seqsync(&self, verb: &str, journal: &std::path::Path) -> Run {
        self.run_seqsync(verb, journal, false)
    }

    /// [`Fixture::seqsync`], started from a measurer process (the bench's main must call
    /// [`measure_if_asked`] first) so that its peak memory is its own.
    pub fn seqsync_measured(&self, verb: &str, journal: &std::path::Path) -> Run {
        self.run_seqsync(verb, journal, true)
    }

    fn run_seqsync(&self, verb: &str, journal: &std::path::Path, measured: bool) -> Run {
        let offset = self.offset.to_string();
        let mut args = vec![
            verb,
            "--source",
            &self.source(),
            "--destination",
            &self.destination(),
            "--offset",
            &offset,
            "--format",
            "json",
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
        if verb == "sync" {
            args.push("--yes".into());
        }
        let stdout = journal.with_extension("out");
        let peak_file = journal.with_extension("peak");
        let mut command = if measured {
            let mut measurer = Command::new(std::env::current_exe().unwrap());
            measurer
                .env(MEASURE_TO, &peak_file)
                .arg(env!("CARGO_BIN_EXE_seqsync"));
            measurer
        } else {
            Command::new(env!("CARGO_BIN_EXE_seqsync"))
        };
        let started = Instant::now();
        let child = command
            .args(&args)
            .env("SEQSYNC_JOURNAL", journal)
            .env("HOME", journal.parent().unwrap())
            .env_remove("SEQSYNC_CONFIG")
            .stdout(std::fs::File::create(&stdout).unwrap())
            .spawn()
            .unwrap();
        let (status, _) = wait_with_peak_memory(child);
        let elapsed = started.elapsed();
        assert_eq!(status, 0, "seqsync {verb} exited with {status}");
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&stdout).unwrap()).unwrap();
        let expected = if verb == "sync" { "updated" } else { "update" };
        assert_eq!(json["summary"][expected], self.count, "{}", json["summary"]);
        let peak_kib = measured.then(|| {
            std::fs::read_to_string(&peak_file)
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        });
        Run { elapsed, peak_kib }
    }

    /// Fails unless every destination sequence's next value is its target.
    pub async fn verify(&self) {
        let dst = connect(&self.destination()).await;
        for (start, end) in chunks(self.count) {
            // Sequences are stored as "called" one step before the target, so last_value + 1.
            let mismatched: i64 = dst
                .query_one(
                    &format!(
                        "SELECT count(*) FROM generate_series({start}, {end}) i \
                         WHERE pg_sequence_last_value(format('s%s', i)::regclass) IS DISTINCT FROM i * 7 + {} - 1",
                        self.offset
                    ),
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            assert_eq!(mismatched, 0, "every next value is at its target");
        }
    }
}

/// The child's exit code and peak resident memory, from `wait4` (std's wait drops the rusage).
fn wait_with_peak_memory(child: std::process::Child) -> (i32, i64) {
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own unreaped child; status and usage point to live locals.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4: {}", std::io::Error::last_os_error());
    (libc::WEXITSTATUS(status), usage.ru_maxrss)
}

/// Every named sequence's next value, in one `setval` over `unnest` (not atomic).
pub async fn set_all(dst: &Client, names: &[String], values: &[i64]) {
    dst.query_one(
        "SELECT count(setval(n::regclass, v, false)) FROM unnest($1::text[], $2::int8[]) AS u(n, v)",
        &[&names, &values],
    )
    .await
    .unwrap();
}

pub fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

pub fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}
