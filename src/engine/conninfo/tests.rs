use super::*;
use crate::engine::tls::{RootCert, SslMode};
use settings::SOCKET_DIRS;
use std::path::Path;
use std::path::PathBuf;
use std::time::Duration;

fn env(vars: &[(&str, &str)]) -> Environment {
    Environment {
        vars: vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        home: Some(PathBuf::from("/nonexistent-home")),
        os_user: Some("osuser".into()),
    }
}

fn resolved(conninfo: &str, vars: &[(&str, &str)]) -> Settings {
    resolve(conninfo, &env(vars)).unwrap()
}

fn servers(settings: &Settings) -> Vec<String> {
    settings.hosts.iter().map(|h| h.describe()).collect()
}

#[test]
fn urls_read_as_libpq_reads_them() {
    let s = resolved(
        "postgresql://dba:p%40ss@db1:5433,[::1]:6000,db3/orders%2Fx?application_name=etl&sslmode=require",
        &[],
    );
    assert_eq!(servers(&s), ["db1:5433", "[::1]:6000", "db3:5432"]);
    assert_eq!((s.user.as_str(), s.dbname.as_str()), ("dba", "orders/x"));
    assert_eq!(s.password.unwrap().0, "p@ss");
    assert_eq!(s.application_name.as_deref(), Some("etl"));
    assert_eq!(s.tls.mode, SslMode::Require);
    // JDBC's alias, and a socket directory written percent-encoded.
    let s = resolved("postgres://%2Fvar%2Frun%2Fpg:5439/x?ssl=true", &[]);
    assert_eq!(servers(&s), ["/var/run/pg/.s.PGSQL.5439"]);
    assert_eq!(s.tls.mode, SslMode::Require);
    // A query parameter overrides the host written before it, as in libpq.
    let s = resolved("postgresql://h1/db?host=h2&port=7", &[]);
    assert_eq!(servers(&s), ["h2:7"]);
}

#[test]
fn key_values_read_as_libpq_reads_them() {
    let s = resolved(
        r"host = h  port=5 dbname='my db' user=a\ b password='it\'s' options='-c search_path=x'",
        &[],
    );
    assert_eq!(servers(&s), ["h:5"]);
    assert_eq!(s.dbname, "my db");
    assert_eq!(s.user, "a b");
    assert_eq!(s.options.as_deref(), Some("-c search_path=x"));
    for (bad, says) in [
        ("host=h dbnam=x", "invalid connection option \"dbnam\""),
        ("host=h dbname", "missing \"=\" after \"dbname\""),
        ("host='h", "unterminated quoted string"),
        (
            "postgresql://h/db?sslmod=require",
            "invalid URI query parameter: \"sslmod\"",
        ),
        ("postgresql://h/db?sslmode", "missing key/value separator"),
        ("postgresql://[::1/db", "matching \"]\""),
        (
            "host=h port=x",
            "invalid integer value \"x\" for connection option \"port\"",
        ),
        ("host=h port=70000", "invalid port number"),
        (
            "host=a,b port=1,2,3",
            "could not match 3 port numbers to 2 hosts",
        ),
        (
            "host=a,b hostaddr=127.0.0.1",
            "could not match 2 host names to 1 hostaddr values",
        ),
        (
            "hostaddr=localhost",
            "could not parse network address \"localhost\"",
        ),
        ("host=h sslmode=always", "invalid sslmode value: \"always\""),
        (
            "host=h target_session_attrs=master",
            "invalid target_session_attrs value",
        ),
    ] {
        let e = resolve(bad, &env(&[])).unwrap_err();
        assert!(e.contains(says), "{bad}: {e}");
    }
}

#[test]
fn keywords_seqsync_cannot_honour_are_refused_by_name() {
    for (conninfo, name) in [
        ("host=h require_auth=scram-sha-256", "require_auth"),
        ("host=h krbsrvname=postgres", "krbsrvname"),
        ("host=h requirepeer=postgres", "requirepeer"),
        ("postgresql://h/db?replication=database", "replication"),
        ("host=h gssencmode=require", "gssencmode=require"),
        ("host=h client_encoding=LATIN1", "client_encoding=LATIN1"),
        ("host=h sslcompression=1", "sslcompression=1"),
    ] {
        let e = resolve(conninfo, &env(&[])).unwrap_err();
        assert!(e.contains(name) && e.contains("not supported"), "{e}");
    }
    // From the environment only a warning: it is set for the DBA's other tools too.
    let s = resolved("host=h", &[("PGKRBSRVNAME", "postgres")]);
    assert!(
        s.warnings.iter().any(|w| w.contains("PGKRBSRVNAME")),
        "{:?}",
        s.warnings
    );
}

#[test]
fn the_environment_fills_what_the_string_leaves_out() {
    let vars = [
        ("PGHOST", "envhost"),
        ("PGPORT", "6543"),
        ("PGDATABASE", "envdb"),
        ("PGUSER", "envuser"),
        ("PGSSLMODE", "verify-ca"),
        ("PGAPPNAME", "envapp"),
        ("PGTARGETSESSIONATTRS", "primary"),
        ("PGCONNECT_TIMEOUT", "1"),
    ];
    let s = resolved("", &vars);
    assert_eq!(servers(&s), ["envhost:6543"]);
    assert_eq!((s.dbname.as_str(), s.user.as_str()), ("envdb", "envuser"));
    assert_eq!(s.tls.mode, SslMode::VerifyCa);
    assert_eq!(s.application_name.as_deref(), Some("envapp"));
    assert_eq!(s.target, TargetSession::Primary);
    // libpq's floor: a connect_timeout under 2 seconds is 2.
    assert_eq!(s.connect_timeout, Some(Duration::from_secs(2)));
    let s = resolved("host=h port=1 dbname=d sslmode=disable", &vars);
    assert_eq!(servers(&s), ["h:1"]);
    assert_eq!(s.dbname, "d");
    assert_eq!(s.tls.mode, SslMode::Disable);
    // A port list in the string leaves PGPORT out, even for a host without a port.
    let s = resolved("postgresql://a,b:5433/x", &vars);
    assert_eq!(servers(&s), ["a:5432", "b:5433"]);
}

#[test]
fn with_nothing_given_it_is_the_socket_the_os_user_and_their_database() {
    let s = resolved("", &[]);
    assert_eq!(s.user, "osuser");
    assert_eq!(s.dbname, "osuser");
    let socket = &s.hosts[0];
    assert!(
        matches!(&socket.route, Route::Socket(dir) if SOCKET_DIRS.iter().any(|d| dir == Path::new(d)))
    );
    assert_eq!(socket.port, 5432);
    // .pgpass knows the default socket as localhost, another directory by its path.
    assert_eq!(socket.pgpass_host(), "localhost");
    let s = resolved("host=/srv/pg port=7", &[]);
    assert_eq!(s.hosts[0].pgpass_host(), "/srv/pg");
    assert_eq!(servers(&s), ["/srv/pg/.s.PGSQL.7"]);
}

#[test]
fn sslrootcert_system_means_verify_full_and_refuses_weaker() {
    let s = resolved("host=h sslrootcert=system", &[]);
    assert_eq!(s.tls.mode, SslMode::VerifyFull);
    assert_eq!(s.tls.root_cert, Some(RootCert::System));
    let e = resolve("host=h sslrootcert=system sslmode=require", &env(&[])).unwrap_err();
    assert!(e.contains("weak sslmode \"require\""), "{e}");
    let e = resolve("host=h sslnegotiation=direct", &env(&[])).unwrap_err();
    assert!(e.contains("sslnegotiation=direct"), "{e}");
}

struct Files(PathBuf);

impl Files {
    fn new(tag: &str) -> Files {
        let dir =
            std::env::temp_dir().join(format!("seqsync-conninfo-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Files(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_service_sits_between_the_string_and_the_environment() {
    let files = Files::new("service");
    let user_file = files.write(
        "user.conf",
        "# mine\n[orders]\nhost=userhost\nport=6001\ndbname=orders\n\n[other]\nhost=nope\n",
    );
    files.write(
        "sys/pg_service.conf",
        "[orders]\nhost=systemhost\nuser=sysuser\n[billing]\nhost=billinghost\nsslmode=require\n",
    );
    let sysdir = files.0.join("sys").display().to_string();
    let user_file = user_file.display().to_string();
    let vars = [
        ("PGSERVICEFILE", user_file.as_str()),
        ("PGSYSCONFDIR", sysdir.as_str()),
        ("PGPORT", "7777"),
        ("PGUSER", "envuser"),
    ];
    // The user's file defines it: the system file's entry is not read at all.
    let s = resolved("service=orders dbname=override", &vars);
    assert_eq!(servers(&s), ["userhost:6001"]);
    assert_eq!(s.dbname, "override");
    assert_eq!(s.user, "envuser");
    // Only the system file defines billing; PGSERVICE names it when the string does not.
    let mut with_service = vars.to_vec();
    with_service.push(("PGSERVICE", "billing"));
    let s = resolved("", &with_service);
    assert_eq!(servers(&s), ["billinghost:7777"]);
    assert_eq!(s.tls.mode, SslMode::Require);
    let merged = merge("", &env(&with_service)).unwrap();
    assert!(
        matches!(merged.origin("host"), Some(Origin::Service(f)) if f.ends_with("sys/pg_service.conf"))
    );
    // Unknown: the error names every file searched.
    let e = resolve("service=nope", &env(&vars)).unwrap_err();
    assert!(
        e.contains("definition of service \"nope\" not found")
            && e.contains(&user_file)
            && e.contains(&sysdir),
        "{e}"
    );
    // A refused keyword inside a service entry names the file.
    files.write("bad.conf", "[gss]\nkrbsrvname=postgres\n[typo]\nhots=x\n");
    let bad = files.0.join("bad.conf").display().to_string();
    let e = resolve("service=gss", &env(&[("PGSERVICEFILE", &bad)])).unwrap_err();
    assert!(e.contains("krbsrvname") && e.contains(&bad), "{e}");
    let e = resolve("service=typo", &env(&[("PGSERVICEFILE", &bad)])).unwrap_err();
    assert!(
        e.contains("syntax error in service file") && e.contains("line 4"),
        "{e}"
    );
}
