//! TLS with libpq's sslmode values against a test cluster given a certificate signed by a
//! throwaway certificate authority.

mod common;
use common::Pair;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use seqsync::engine::postgres::PgEndpoint;
use seqsync::engine::Timeouts;
use std::path::{Path, PathBuf};

struct Authority {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Authority {
    fn new(name: &str) -> Authority {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        Authority {
            issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap(),
        }
    }

    /// A server certificate for `names`, as (certificate PEM, key PEM).
    fn server(&self, names: &[&str]) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// Writes a file the destination cluster's server can read (owned like its data directory).
fn write_for_server(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let root = PathBuf::from(std::env::var("SEQSYNC_TEST_ROOT").expect("set by scripts/test"));
    let owner = std::fs::metadata(root.join("destination/data")).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    std::os::unix::fs::chown(&path, Some(owner.uid()), Some(owner.gid())).unwrap();
    path
}

async fn serve_tls(dir: &Path, authority: &Authority, names: &[&str], tag: &str) {
    let (cert, key) = authority.server(names);
    let cert = write_for_server(dir, &format!("server-{tag}.crt"), &cert, 0o644);
    let key = write_for_server(dir, &format!("server-{tag}.key"), &key, 0o600);
    let (_, dst) = common::cluster_urls();
    let admin = common::connect(&dst).await;
    // One statement each: ALTER SYSTEM refuses to run inside a (multi-statement) transaction.
    for sql in [
        "ALTER SYSTEM SET ssl = on".to_string(),
        format!("ALTER SYSTEM SET ssl_cert_file = '{}'", cert.display()),
        format!("ALTER SYSTEM SET ssl_key_file = '{}'", key.display()),
        "SELECT pg_reload_conf()".to_string(),
    ] {
        admin.batch_execute(&sql).await.unwrap();
    }
    // The postmaster reloads asynchronously; new sessions see the new certificate once it has.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
}

async fn connect_with(url: &str) -> Result<bool, String> {
    let endpoint = PgEndpoint::new(url, None).map_err(|e| e.message)?;
    let session = endpoint
        .connect(&Timeouts::default())
        .await
        .map_err(|e| e.message)?;
    session.tls_in_use().await.map_err(|e| e.message)
}

fn with_params(url: &str, params: &str) -> String {
    format!("{url}?{params}")
}

#[tokio::test(flavor = "multi_thread")]
async fn sslmodes_verify_as_libpq_does() {
    let pair = Pair::new("tls").await;
    let dir = std::env::var("SEQSYNC_TEST_ROOT")
        .map(PathBuf::from)
        .unwrap()
        .join("tls");
    std::fs::create_dir_all(&dir).unwrap();
    {
        use std::os::unix::fs::MetadataExt;
        let root = std::fs::metadata(dir.parent().unwrap()).unwrap();
        std::os::unix::fs::chown(&dir, Some(root.uid()), Some(root.gid())).unwrap();
    }
    let authority = Authority::new("seqsync test CA");
    let stranger = Authority::new("some other CA");
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, authority.issuer.pem()).unwrap();
    let wrong_ca = dir.join("wrong-ca.pem");
    std::fs::write(&wrong_ca, stranger.issuer.pem()).unwrap();
    serve_tls(&dir, &authority, &["localhost", "127.0.0.1"], "a").await;

    let url = &pair.destination_url;
    let root = format!("sslrootcert={}", ca.display());
    assert_eq!(
        connect_with(&with_params(url, &format!("sslmode=verify-full&{root}"))).await,
        Ok(true)
    );
    assert_eq!(
        connect_with(&with_params(url, "sslmode=require")).await,
        Ok(true)
    );
    assert_eq!(
        connect_with(&with_params(url, "sslmode=prefer")).await,
        Ok(true)
    );
    assert_eq!(
        connect_with(&with_params(url, "sslmode=disable")).await,
        Ok(false)
    );
    let wrong = connect_with(&with_params(
        url,
        &format!("sslmode=verify-full&sslrootcert={}", wrong_ca.display()),
    ))
    .await
    .unwrap_err();
    assert!(
        wrong.contains("certificate") && wrong.contains("UnknownIssuer"),
        "{wrong}"
    );
    assert!(
        wrong.contains("give sslrootcert=FILE with the CA that signed it"),
        "{wrong}"
    );
    assert!(!wrong.contains(&common::test_password()), "{wrong}");
    // require with a root certificate verifies the chain, as libpq does.
    let require_wrong = connect_with(&with_params(
        url,
        &format!("sslmode=require&sslrootcert={}", wrong_ca.display()),
    ))
    .await;
    assert!(require_wrong.is_err(), "{require_wrong:?}");

    // A certificate for another name: verify-ca accepts it, verify-full does not.
    serve_tls(&dir, &authority, &["db.example"], "b").await;
    assert_eq!(
        connect_with(&with_params(url, &format!("sslmode=verify-ca&{root}"))).await,
        Ok(true)
    );
    let mismatch = connect_with(&with_params(url, &format!("sslmode=verify-full&{root}")))
        .await
        .unwrap_err();
    assert!(
        mismatch.contains("not valid for name \"127.0.0.1\""),
        "{mismatch}"
    );

    // The CLI end to end: a plan over verify-full works; a wrong root is a one-line error.
    pair.both("CREATE SEQUENCE s;").await;
    serve_tls(&dir, &authority, &["localhost", "127.0.0.1"], "c").await;
    let verified = with_params(url, &format!("sslmode=verify-full&{root}"));
    let out = pair.run(&[
        "plan",
        "--source",
        &pair.source_url,
        "--destination",
        &verified,
        "--offset",
        "1",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let refused = with_params(
        url,
        &format!("sslmode=verify-full&sslrootcert={}", wrong_ca.display()),
    );
    let out = pair.run(&[
        "plan",
        "--source",
        &pair.source_url,
        "--destination",
        &refused,
        "--offset",
        "1",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    let missing = with_params(url, "sslmode=verify-full&sslrootcert=/nonexistent/ca.pem");
    let out = pair.run(&[
        "plan",
        "--source",
        &pair.source_url,
        "--destination",
        &missing,
        "--offset",
        "1",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("/nonexistent/ca.pem"), "{stderr}");
}
