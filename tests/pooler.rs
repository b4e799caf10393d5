//! A destination reached through PgBouncer in transaction mode: each transaction may land on
//! another server session, so the statements a run prepares, its applier lock and its batches
//! would not share one. seqsync must stop with an error that names the pooler and says what to
//! do, having changed nothing. A real PgBouncer (Debian's) pools the test destination; with
//! `server_round_robin` and two warm server sessions, consecutive transactions alternate
//! between them, so the run's first prepared statement is always lost. With a pool of one
//! server session every transaction lands on it, the run goes through, and it must not leave
//! its applier lock on that session, which the pooler keeps and hands to other clients.

mod common;

use common::{lock_holder, test_password, Pair};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A PgBouncer in the foreground, stopped when dropped.
struct Bouncer {
    child: Child,
    port: u16,
    pidfile: std::path::PathBuf,
}

impl Bouncer {
    /// The URL of one of its pools.
    fn url(&self, pool: &str) -> String {
        format!(
            "postgresql://postgres:{}@127.0.0.1:{}/{pool}",
            test_password(),
            self.port
        )
    }
}

impl Drop for Bouncer {
    /// By its pid file: as root the child is `runuser`, which does not pass a kill on.
    fn drop(&mut self) {
        if let Some(pid) = std::fs::read_to_string(&self.pidfile)
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
        {
            // SAFETY: kill has no memory preconditions; the pid is PgBouncer's own.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `seqsync sync --yes` from `pair`'s source to `destination`.
fn sync(pair: &Pair, destination: &str, offset: &str) -> (Option<i32>, String) {
    let out = pair.run(&[
        "sync",
        "--source",
        &pair.source_url,
        "--destination",
        destination,
        "--offset",
        offset,
        "--yes",
    ]);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A PgBouncer in front of `pair`'s destination, with two pools: `pooled` and `single` (one
/// server session).
fn start_bouncer(pair: &Pair) -> Bouncer {
    use std::os::unix::fs::PermissionsExt;
    let (dir, database) = (&pair.dir, &pair.name);
    let (server, _) = pair.destination_url.rsplit_once('/').unwrap();
    let server_port: u16 = server.rsplit_once(':').unwrap().1.parse().unwrap();
    // PgBouncer refuses to run as root: as root it runs as postgres, which must reach its files.
    let root = unsafe { libc::geteuid() } == 0;
    let home = dir.join("pgbouncer");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o777)).unwrap();
    let port = free_port();
    let ini = home.join("pgbouncer.ini");
    std::fs::write(
        &ini,
        format!(
            "[databases]\n\
             pooled = host=127.0.0.1 port={server_port} dbname={database}\n\
             single = host=127.0.0.1 port={server_port} dbname={database} pool_size=1\n\
             [pgbouncer]\n\
             listen_addr = 127.0.0.1\n\
             listen_port = {port}\n\
             unix_socket_dir =\n\
             auth_type = scram-sha-256\n\
             auth_file = {users}\n\
             pool_mode = transaction\n\
             server_round_robin = 1\n\
             default_pool_size = 4\n\
             ignore_startup_parameters = extra_float_digits,options\n\
             logfile = {log}\n\
             pidfile = {pidfile}\n",
            users = home.join("users.txt").display(),
            log = home.join("pgbouncer.log").display(),
            pidfile = home.join("pgbouncer.pid").display(),
        ),
    )
    .unwrap();
    std::fs::write(
        home.join("users.txt"),
        format!("\"postgres\" \"{}\"\n", test_password()),
    )
    .unwrap();
    for file in ["pgbouncer.ini", "users.txt"] {
        std::fs::set_permissions(home.join(file), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let binary = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("pgbouncer is installed by scripts/test");
    let mut command = if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", binary]);
        c
    } else {
        Command::new(binary)
    };
    let child = command
        .arg(&ini)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting pgbouncer");
    let bouncer = Bouncer {
        child,
        port,
        pidfile: home.join("pgbouncer.pid"),
    };
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "pgbouncer did not listen on {port}: {}",
            std::fs::read_to_string(home.join("pgbouncer.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    bouncer
}

async fn backend_pid(client: &tokio_postgres::Client) -> String {
    let messages = client
        .simple_query("SELECT pg_catalog.pg_backend_pid()")
        .await
        .unwrap();
    messages
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
            _ => None,
        })
        .unwrap()
}

#[tokio::test]
async fn a_destination_behind_a_transaction_pooler_is_refused_by_name_and_nothing_changes() {
    let pair = Pair::new("pooler").await;
    pair.both("CREATE SEQUENCE orders_id_seq; CREATE SEQUENCE invoices_id_seq")
        .await;
    pair.source()
        .await
        .batch_execute("SELECT setval('orders_id_seq', 500); SELECT setval('invoices_id_seq', 70)")
        .await
        .unwrap();
    let bouncer = start_bouncer(&pair);
    let pooled = bouncer.url("pooled");

    // Two server sessions, warm: both clients inside a transaction at once.
    let (a, b) = (
        common::connect(&pooled).await,
        common::connect(&pooled).await,
    );
    a.batch_execute("BEGIN").await.unwrap();
    b.batch_execute("BEGIN").await.unwrap();
    assert_ne!(backend_pid(&a).await, backend_pid(&b).await);
    a.batch_execute("COMMIT").await.unwrap();
    b.batch_execute("COMMIT").await.unwrap();
    // What the run will meet: one client's consecutive transactions on different sessions.
    let (first, second) = (backend_pid(&a).await, backend_pid(&a).await);
    assert_ne!(
        first, second,
        "the pooler should alternate server sessions (server_round_robin)"
    );

    let before = pair.destination_states().await;
    let (code, stderr) = sync(&pair, &pooled, "100");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("pool_mode = transaction")
            && stderr.contains("connect to the server directly"),
        "the error names the pooler and what to do: {stderr}"
    );
    assert!(!stderr.contains(&test_password()), "{stderr}");
    assert_eq!(pair.destination_states().await, before, "nothing changed");
}

#[tokio::test]
async fn a_run_through_a_pool_of_one_session_leaves_no_applier_lock_behind() {
    let pair = Pair::new("pooler_alone").await;
    pair.both("CREATE SEQUENCE orders_id_seq").await;
    pair.source()
        .await
        .batch_execute("SELECT setval('orders_id_seq', 500)")
        .await
        .unwrap();
    let bouncer = start_bouncer(&pair);
    let single = bouncer.url("single");
    let (code, stderr) = sync(&pair, &single, "100");
    assert_eq!(code, Some(0), "{stderr}");
    // The source's 500 plus the offset is the next value: 600, so 599 as last value, called.
    let states = pair.destination_states().await;
    assert!(
        states
            .iter()
            .any(|(name, value, called)| name.ends_with("orders_id_seq")
                && *value == 599
                && *called),
        "{states:?}"
    );
    // The pooler's server session lives on; seqsync's lock must not.
    let holder = lock_holder(&pair.destination().await, &pair.name).await;
    assert_eq!(holder, None, "left holding the applier lock");

    // The pooler hands its server session on without a reset, with whatever statements an
    // earlier client prepared still on it (the first run's own may or may not be left: the
    // driver closes them as it drops them). tokio-postgres names its statements s0, s1, … in
    // one count per process, so an earlier client's s0…s99 hold the names the next run takes:
    // that run is refused by name too, and changes nothing.
    let squatter = common::connect(&single).await;
    let names: String = (0..100)
        .map(|i| format!("PREPARE s{i} AS SELECT {i};"))
        .collect();
    squatter
        .batch_execute(&format!("DEALLOCATE ALL; {names}"))
        .await
        .unwrap();
    drop(squatter);
    let (code, stderr) = sync(&pair, &single, "200");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("pool_mode = transaction"), "{stderr}");
    assert_eq!(pair.destination_states().await, states, "nothing changed");
}
