//! libpq is the judge: for each case (a connection string, service files, `PG*` variables, a
//! password file, certificates), psql connects and seqsync connects (`seqsync conninfo`), each
//! in the same clean environment, and they must arrive at the same server port, database, user
//! and TLS use, with the operator's `application_name` kept. Where psql refuses, seqsync
//! refuses. The cluster (scripts/lib/conninfo-cluster.sh) has TLS on, a certificate-only role,
//! a peer-only role and a socket in Debian's default directory.

mod common;
use std::path::{Path, PathBuf};
use std::process::Command;

fn var(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run the tests with scripts/test"))
}

/// What both sides report about the session they got.
#[derive(Debug, PartialEq, Eq)]
struct Arrival {
    port: String,
    database: String,
    user: String,
    tls: bool,
    application_name: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Judge {
    /// Debian's psql with Debian's libpq (its socket directory and system service file).
    Debian,
    /// The same psql on PostgreSQL 18's libpq, for keywords Debian's libpq 15 does not know.
    Libpq18,
}

struct Case {
    name: &'static str,
    conninfo: String,
    env: Vec<(String, String)>,
    files: Vec<(String, String, u32)>,
    judge: Judge,
}

struct Fixture {
    port: String,
    password: String,
    certs: PathBuf,
    socket_dir: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            port: var("SEQSYNC_TEST_CONNINFO_PORT"),
            password: var("SEQSYNC_TEST_PASSWORD"),
            certs: PathBuf::from(var("SEQSYNC_TEST_CONNINFO_CERTS")),
            socket_dir: PathBuf::from(var("SEQSYNC_TEST_ROOT")).join("conninfo"),
        }
    }

    fn fill(&self, text: &str) -> String {
        text.replace("{port}", &self.port)
            .replace("{pw}", &self.password)
            .replace("{certs}", &self.certs.display().to_string())
            .replace(
                "{sock_url}",
                &self.socket_dir.display().to_string().replace('/', "%2F"),
            )
            .replace("{sock}", &self.socket_dir.display().to_string())
    }

    fn case(&self, name: &'static str, conninfo: &str) -> Case {
        Case {
            name,
            conninfo: self.fill(conninfo),
            env: vec![],
            files: vec![],
            judge: Judge::Debian,
        }
    }
}

impl Case {
    fn env(mut self, fixture: &Fixture, name: &str, value: &str) -> Case {
        self.env.push((name.to_string(), fixture.fill(value)));
        self
    }

    fn file(mut self, fixture: &Fixture, path: &str, text: &str, mode: u32) -> Case {
        self.files
            .push((path.to_string(), fixture.fill(text), mode));
        self
    }

    fn judged_by(mut self, judge: Judge) -> Case {
        self.judge = judge;
        self
    }

    /// A fresh home with the case's files; the environment and the string both programs get.
    fn prepare(&self, home: &Path) -> (Vec<(String, String)>, String) {
        let _ = std::fs::remove_dir_all(home);
        std::fs::create_dir_all(home).unwrap();
        for (path, text, mode) in &self.files {
            let path = home.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode)).unwrap();
        }
        let mut env = vec![
            ("HOME".to_string(), home.display().to_string()),
            ("PATH".to_string(), var("PATH")),
            ("LANG".to_string(), "C.UTF-8".to_string()),
            // No system service file but the case's own.
            (
                "PGSYSCONFDIR".to_string(),
                home.join("sys").display().to_string(),
            ),
        ];
        for (k, v) in &self.env {
            env.retain(|(key, _)| key != k);
            env.push((k.clone(), v.replace("{home}", &home.display().to_string())));
        }
        (
            env,
            self.conninfo.replace("{home}", &home.display().to_string()),
        )
    }
}

const QUERY: &str = "SELECT current_setting('port'), current_database(), current_user, \
     coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false), \
     current_setting('application_name')";

fn psql(case: &Case, conninfo: &str, env: &[(String, String)]) -> Result<Arrival, String> {
    let mut cmd = Command::new(var("SEQSYNC_TEST_PSQL"));
    cmd.env_clear().envs(env.iter().map(|(k, v)| (k, v)));
    if case.judge == Judge::Libpq18 {
        cmd.env("LD_LIBRARY_PATH", var("SEQSYNC_TEST_LIBPQ18"));
    }
    let out = cmd
        .args(["-X", "-w", "-A", "-t", "-F", "|", "-c", QUERY, conninfo])
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<&str> = text.trim().split('|').collect();
    Ok(Arrival {
        port: fields[0].to_string(),
        database: fields[1].to_string(),
        user: fields[2].to_string(),
        tls: fields[3] == "t",
        application_name: fields[4].to_string(),
    })
}

fn seqsync(
    case: &Case,
    conninfo: &str,
    env: &[(String, String)],
    home: &Path,
) -> Result<Arrival, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_seqsync"))
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("SEQSYNC_JOURNAL", home.join("journal.jsonl"))
        .env("SEQSYNC_LOG", home.join("seqsync.log"))
        .current_dir(home)
        .args(["conninfo", "--destination", conninfo, "--format", "json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{}: not JSON ({e}); stderr: {stderr}", case.name));
    let side = &json[0];
    if !out.status.success() {
        assert!(
            side["error"].as_str().is_some_and(|e| !e.is_empty()) && !stderr.is_empty(),
            "{}: a failure says why: {json} {stderr}",
            case.name
        );
        return Err(format!(
            "exit {}: {stderr}",
            out.status.code().unwrap_or(-1)
        ));
    }
    let text = |key: &str| side[key].as_str().unwrap_or_default().to_string();
    Ok(Arrival {
        port: text("port"),
        database: text("database"),
        user: text("user"),
        tls: side["tls"].is_string(),
        application_name: text("application_name"),
    })
}

fn cases(f: &Fixture) -> Vec<Case> {
    let dba = "host=127.0.0.1 port={port} user=dba password={pw}";
    let service = "[orders]\nhost=127.0.0.1\nport={port}\nuser=dba\npassword={pw}\ndbname=db_a\n";
    let system = "[orders]\nhost=127.0.0.1\nport={port}\nuser=dba\npassword={pw}\ndbname=db_b\n[billing]\nhost=127.0.0.1\nport={port}\nuser=dba\npassword={pw}\ndbname=db_b\nsslmode=disable\n";
    let cert = "host=127.0.0.1 port={port} user=certuser dbname=certdb";
    vec![
        f.case("url", "postgresql://dba:{pw}@127.0.0.1:{port}/db_a"),
        f.case("key=value", &format!("{dba} dbname=db_a")),
        f.case("url, password as a parameter", "postgresql://dba@127.0.0.1:{port}/db_b?password={pw}"),
        f.case("no dbname: the user's", dba),
        f.case("wrong password", "host=127.0.0.1 port={port} user=dba password=nope dbname=db_a"),
        f.case("unknown database", &format!("{dba} dbname=nowhere")),
        f.case("only the environment", "")
            .env(f, "PGHOST", "127.0.0.1").env(f, "PGPORT", "{port}").env(f, "PGUSER", "dba")
            .env(f, "PGPASSWORD", "{pw}").env(f, "PGDATABASE", "db_b"),
        f.case("the string beats the environment", &format!("{dba} dbname=db_a"))
            .env(f, "PGHOST", "no-such-host.invalid").env(f, "PGPORT", "1").env(f, "PGDATABASE", "db_b"),
        f.case("the environment's port is used", "host=127.0.0.1 user=dba password={pw}")
            .env(f, "PGPORT", "{port}"),
        f.case("the user's service file", "service=orders")
            .file(f, ".pg_service.conf", service, 0o600),
        f.case("PGSERVICEFILE", "service=orders")
            .file(f, "elsewhere/services.conf", service, 0o600)
            .env(f, "PGSERVICEFILE", "{home}/elsewhere/services.conf"),
        f.case("the system service file", "service=billing")
            .file(f, "sys/pg_service.conf", system, 0o644),
        f.case("the same name in both files: the user's wins", "service=orders")
            .file(f, ".pg_service.conf", service, 0o600)
            .file(f, "sys/pg_service.conf", system, 0o644),
        f.case("the string beats the service", "service=orders dbname=db_b")
            .file(f, ".pg_service.conf", service, 0o600),
        f.case("the service beats the environment", "service=orders")
            .file(f, ".pg_service.conf", service, 0o600)
            .env(f, "PGDATABASE", "db_b").env(f, "PGPORT", "1"),
        f.case("PGSERVICE names it", "")
            .file(f, "sys/pg_service.conf", system, 0o644)
            .env(f, "PGSERVICE", "billing"),
        f.case("an unknown service", "service=nope")
            .file(f, ".pg_service.conf", service, 0o600),
        f.case(".pgpass", "host=127.0.0.1 port={port} user=dba dbname=db_a")
            .file(f, ".pgpass", "127.0.0.1:{port}:db_a:dba:{pw}\n", 0o600),
        f.case("passfile", "host=127.0.0.1 port={port} user=dba dbname=db_a passfile={home}/pw")
            .file(f, "pw", "*:*:*:dba:{pw}\n", 0o600),
        f.case("PGPASSFILE", "host=127.0.0.1 port={port} user=dba dbname=db_a")
            .file(f, "pw", "*:*:*:dba:{pw}\n", 0o600)
            .env(f, "PGPASSFILE", "{home}/pw"),
        f.case(".pgpass readable by others is ignored", "host=127.0.0.1 port={port} user=dba dbname=db_a")
            .file(f, ".pgpass", "*:*:*:dba:{pw}\n", 0o644),
        f.case("several hosts: the first is down", "host=127.0.0.1,127.0.0.1 port=1,{port} user=dba password={pw} dbname=db_a"),
        f.case("url with several hosts", "postgresql://dba:{pw}@127.0.0.1:1,127.0.0.1:{port}/db_b"),
        f.case("target_session_attrs=read-write", &format!("{dba} dbname=db_a target_session_attrs=read-write")),
        f.case("target_session_attrs=primary", &format!("{dba} dbname=db_a target_session_attrs=primary")),
        f.case("target_session_attrs=standby: there is none", &format!("{dba} dbname=db_a target_session_attrs=standby")),
        f.case("prefer-standby falls back to the primary", &format!("{dba} dbname=db_a target_session_attrs=prefer-standby")),
        f.case("PGTARGETSESSIONATTRS=read-only: refused", &format!("{dba} dbname=db_a"))
            .env(f, "PGTARGETSESSIONATTRS", "read-only"),
        f.case("sslmode=disable", &format!("{dba} dbname=db_a sslmode=disable")),
        f.case("sslmode=allow: plain first", &format!("{dba} dbname=db_a sslmode=allow")),
        f.case("sslmode=prefer", &format!("{dba} dbname=db_a sslmode=prefer")),
        f.case("PGSSLMODE=require", &format!("{dba} dbname=db_a")).env(f, "PGSSLMODE", "require"),
        f.case("verify-full with the CA and the certificate's name", "host=localhost port={port} user=dba password={pw} dbname=db_a sslmode=verify-full sslrootcert={certs}/ca.crt"),
        f.case("verify-full by address: the name does not match", "host=127.0.0.1 port={port} user=dba password={pw} dbname=db_a sslmode=verify-full sslrootcert={certs}/ca.crt"),
        f.case("verify-ca by address", &format!("{dba} dbname=db_a sslmode=verify-ca sslrootcert={{certs}}/ca.crt")),
        f.case("verify-ca with another CA", &format!("{dba} dbname=db_a sslmode=verify-ca sslrootcert={{certs}}/other-ca.crt")),
        f.case("PGSSLROOTCERT", "host=localhost port={port} user=dba password={pw} dbname=db_a sslmode=verify-full")
            .env(f, "PGSSLROOTCERT", "{certs}/ca.crt"),
        f.case("the default ~/.postgresql/root.crt", &format!("{dba} dbname=db_a sslmode=verify-ca"))
            .file(f, ".postgresql/root.crt", &std::fs::read_to_string(f.certs.join("ca.crt")).unwrap(), 0o644),
        f.case("require with the default root.crt verifies it", &format!("{dba} dbname=db_a sslmode=require"))
            .file(f, ".postgresql/root.crt", &std::fs::read_to_string(f.certs.join("other-ca.crt")).unwrap(), 0o644),
        f.case("hostaddr with a host name for TLS", "host=localhost hostaddr=127.0.0.1 port={port} user=dba password={pw} dbname=db_a sslmode=verify-full sslrootcert={certs}/ca.crt"),
        f.case("application_name", &format!("{dba} dbname=db_a application_name=nightly-etl")),
        f.case("PGAPPNAME", &format!("{dba} dbname=db_a")).env(f, "PGAPPNAME", "from-env"),
        f.case("the cluster's socket, named", "host={sock} port={port} user=dba dbname=db_a"),
        f.case("a socket in a url", "postgresql://dba@{sock_url}:{port}/db_b"),
        f.case("no host: Debian's socket directory, peer authentication", "")
            .env(f, "PGPORT", "{port}"),
        f.case("no host, sslmode=require: a socket has no TLS", "sslmode=require")
            .env(f, "PGPORT", "{port}"),
        f.case("client certificate", &format!("{cert} sslcert={{certs}}/client.crt sslkey={{certs}}/client.key")),
        f.case("client certificate, encrypted key", &format!("{cert} sslcert={{certs}}/client.crt sslkey={{certs}}/client-encrypted.key sslpassword=key-pass")),
        f.case("client certificate, wrong passphrase", &format!("{cert} sslcert={{certs}}/client.crt sslkey={{certs}}/client-encrypted.key sslpassword=nope")),
        f.case("client certificate from ~/.postgresql", cert)
            .file(f, ".postgresql/postgresql.crt", &std::fs::read_to_string(f.certs.join("client.crt")).unwrap(), 0o644)
            .file(f, ".postgresql/postgresql.key", &std::fs::read_to_string(f.certs.join("client.key")).unwrap(), 0o600),
        f.case("PGSSLCERT and PGSSLKEY", cert)
            .env(f, "PGSSLCERT", "{certs}/client.crt").env(f, "PGSSLKEY", "{certs}/client.key"),
        f.case("a key readable by others", cert)
            .file(f, "c.crt", &std::fs::read_to_string(f.certs.join("client.crt")).unwrap(), 0o644)
            .file(f, "c.key", &std::fs::read_to_string(f.certs.join("client.key")).unwrap(), 0o644)
            .env(f, "PGSSLCERT", "{home}/c.crt").env(f, "PGSSLKEY", "{home}/c.key"),
        f.case("a certificate from another CA", &format!("{cert} sslcert={{certs}}/wrong.crt sslkey={{certs}}/wrong.key")),
        f.case("a certificate role without a certificate", cert),
        f.case("an option libpq does not know", &format!("{dba} dbname=db_a colour=blue")),
        f.case("load_balance_hosts=random", "host=127.0.0.1,localhost port={port} user=dba password={pw} dbname=db_a load_balance_hosts=random")
            .judged_by(Judge::Libpq18),
        f.case("sslcertmode=disable: no certificate offered", &format!("{cert} sslcert={{certs}}/client.crt sslkey={{certs}}/client.key sslcertmode=disable"))
            .judged_by(Judge::Libpq18),
        f.case("sslcertmode=require: asked for the certificate, and it is sent", &format!("{cert} sslcert={{certs}}/client.crt sslkey={{certs}}/client.key sslcertmode=require"))
            .judged_by(Judge::Libpq18),
        f.case("PGSSLCERTMODE=require: a password role with a certificate to send", &format!("{dba} dbname=db_a sslmode=require sslcert={{certs}}/client.crt sslkey={{certs}}/client.key"))
            .env(f, "PGSSLCERTMODE", "require")
            .judged_by(Judge::Libpq18),
        f.case("sslcertmode=require with no certificate to send: let in anyway, refused", &format!("{dba} dbname=db_a sslmode=require sslcertmode=require"))
            .judged_by(Judge::Libpq18),
        f.case("sslcertmode=require without TLS: never asked, refused", &format!("{dba} dbname=db_a sslmode=disable sslcertmode=require"))
            .judged_by(Judge::Libpq18),
        f.case("sslcertmode=require, sslmode=allow", &format!("{dba} dbname=db_a sslmode=allow sslcertmode=require sslcert={{certs}}/client.crt sslkey={{certs}}/client.key"))
            .judged_by(Judge::Libpq18),
        f.case("sslnegotiation=direct to a server that does not take it", &format!("{dba} dbname=db_a sslmode=require sslnegotiation=direct"))
            .judged_by(Judge::Libpq18),
    ]
}

#[test]
fn seqsync_arrives_where_psql_arrives_and_refuses_where_it_refuses() {
    let fixture = Fixture::new();
    let cases = cases(&fixture);
    assert!(cases.len() >= 30, "the issue asks for at least 30 cases");
    let homes = std::env::temp_dir().join(format!("seqsync-connecting-{}", std::process::id()));
    let mut failures = vec![];
    let (mut connected, mut refused) = (0, 0);
    for (i, case) in cases.iter().enumerate() {
        let home = homes.join(format!("case-{i}"));
        let (env, conninfo) = case.prepare(&home);
        let judged = psql(case, &conninfo, &env);
        let ours = seqsync(case, &conninfo, &env, &home);
        let outcome = |r: &Result<Arrival, String>| match r {
            Ok(a) => format!("{}/{}@{} tls={}", a.user, a.database, a.port, a.tls),
            Err(e) => format!("refused: {}", e.lines().next().unwrap_or_default()),
        };
        eprintln!(
            "{}:\n  psql    {}\n  seqsync {}",
            case.name,
            outcome(&judged),
            outcome(&ours)
        );
        match (&judged, &ours) {
            (Ok(theirs), Ok(ours)) => {
                connected += 1;
                let same_place = (&theirs.port, &theirs.database, &theirs.user, theirs.tls)
                    == (&ours.port, &ours.database, &ours.user, ours.tls);
                let name_kept = match theirs.application_name.as_str() {
                    "psql" => !ours.application_name.contains('('),
                    given => ours.application_name.ends_with(&format!("({given})")),
                };
                if !same_place || !name_kept || !ours.application_name.starts_with("seqsync/") {
                    failures.push(format!("{}: psql {theirs:?}, seqsync {ours:?}", case.name));
                }
            }
            (Err(_), Err(ours)) => {
                refused += 1;
                // What the operator must fix before anything is tried (the string, a service,
                // their own key file) is a usage error; what the server refuses is a failure.
                let usage = [
                    "an unknown service",
                    "an option libpq does not know",
                    "client certificate, wrong passphrase",
                    "a key readable by others",
                ];
                let expected = if usage.contains(&case.name) {
                    "exit 2:"
                } else {
                    "exit 1:"
                };
                if !ours.starts_with(expected) {
                    failures.push(format!("{}: expected {expected} {ours}", case.name));
                }
            }
            _ => failures.push(format!("{}: psql {judged:?}, seqsync {ours:?}", case.name)),
        }
    }
    let _ = std::fs::remove_dir_all(&homes);
    assert!(
        failures.is_empty(),
        "{} case(s) differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Both outcomes are exercised, so neither side passes by always failing.
    assert!(
        connected >= 25 && refused >= 10,
        "connected {connected}, refused {refused}"
    );
}

/// psql as the cluster's superuser on its own socket (trust).
fn admin(database: &str, sql: &str) -> String {
    let fixture = Fixture::new();
    let out = Command::new(var("SEQSYNC_TEST_PSQL"))
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h"])
        .arg(&fixture.socket_dir)
        .args([
            "-p",
            &fixture.port,
            "-U",
            "postgres",
            "-d",
            database,
            "-c",
            sql,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn a_sync_reaches_a_certificate_only_destination_and_a_wrong_certificate_changes_nothing() {
    let f = Fixture::new();
    let name = format!("cert_seq_{}", std::process::id());
    admin("db_a", &format!("CREATE SEQUENCE {name}; ALTER SEQUENCE {name} OWNER TO dba; SELECT setval('{name}', 500)"));
    admin(
        "certdb",
        &format!("CREATE SEQUENCE {name}; ALTER SEQUENCE {name} OWNER TO certuser"),
    );
    let home = std::env::temp_dir().join(format!("seqsync-cert-sync-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let source = f.fill("host=127.0.0.1 port={port} user=dba password={pw} dbname=db_a");
    let destination = |cert: &str, key: &str| {
        f.fill(&format!(
            "host=localhost port={{port}} user=certuser dbname=certdb sslmode=verify-full \
             sslrootcert={{certs}}/ca.crt sslcert={{certs}}/{cert} sslkey={{certs}}/{key} sslpassword=key-pass"
        ))
    };
    let sync = |destination: &str| {
        Command::new(env!("CARGO_BIN_EXE_seqsync"))
            .env_clear()
            .env("HOME", &home)
            .env("PATH", var("PATH"))
            .env("SEQSYNC_JOURNAL", home.join("journal.jsonl"))
            .env("SEQSYNC_LOG", home.join("seqsync.log"))
            .current_dir(&home)
            .args(["sync", "--source", &source, "--destination", destination])
            .args([
                "--offset",
                "100",
                "--include",
                &format!("public.{name}"),
                "--yes",
            ])
            .output()
            .unwrap()
    };
    let last_value = || admin("certdb", &format!("SELECT last_value FROM {name}"));
    let before = last_value();

    let wrong = sync(&destination("wrong.crt", "wrong.key"));
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert_eq!(wrong.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("certificate"),
        "says what to check: {stderr}"
    );
    assert_eq!(last_value(), before, "a refused connection changes nothing");

    let done = sync(&destination("client.crt", "client-encrypted.key"));
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert_eq!(done.status.code(), Some(0), "{stderr}");
    let after: i64 = last_value().parse().unwrap();
    assert!(
        after >= 500 + 100 - 1,
        "set from the source plus the offset: {after}"
    );
    for file in ["journal.jsonl", "seqsync.log"] {
        let text = std::fs::read_to_string(home.join(file)).unwrap_or_default();
        assert!(
            !text.contains("key-pass"),
            "the key's passphrase is never written: {file}"
        );
    }
    let _ = std::fs::remove_dir_all(&home);
}
