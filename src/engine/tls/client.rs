//! The client's side of TLS as libpq finds it: a certificate and key (given, or
//! `~/.postgresql/postgresql.crt` and `.key` when present), and certificate revocation lists.

use super::settings::{CertMode, TlsSettings};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, PrivatePkcs8KeyDer,
};
use std::path::{Path, PathBuf};

type Chain = Vec<CertificateDer<'static>>;

/// The certificate chain and key to offer, or None when there is no certificate file (libpq
/// then goes on without one, and the server decides).
pub(super) fn certificate(
    settings: &TlsSettings,
) -> Result<Option<(Chain, PrivateKeyDer<'static>)>, String> {
    if settings.cert_mode == CertMode::Disable {
        return Ok(None);
    }
    let Some(cert_file) = settings
        .client_cert
        .clone()
        .or_else(|| settings.default_file("postgresql.crt"))
    else {
        return Ok(None);
    };
    if !cert_file.exists() {
        return Ok(None);
    }
    let chain = CertificateDer::pem_file_iter(&cert_file)
        .and_then(|certs| certs.collect::<Result<Chain, _>>())
        .map_err(|e| {
            format!(
                "could not read certificate file \"{}\": {e}",
                cert_file.display()
            )
        })?;
    if chain.is_empty() {
        return Err(format!(
            "could not read certificate file \"{}\": no certificate in it",
            cert_file.display()
        ));
    }
    let key_file = settings
        .client_key
        .clone()
        .or_else(|| settings.default_file("postgresql.key"))
        .unwrap_or_else(|| PathBuf::from(".postgresql/postgresql.key"));
    let key = private_key(&key_file, settings.key_password.as_deref())?;
    Ok(Some((chain, key)))
}

/// libpq's rule for key files, in its words: a key readable by anyone but its owner is refused.
fn check_key_file(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let metadata = std::fs::metadata(path).map_err(|_| {
        format!(
            "certificate present, but not private key file \"{}\"",
            path.display()
        )
    })?;
    if !metadata.is_file() {
        return Err(format!(
            "private key file \"{}\" is not a regular file",
            path.display()
        ));
    }
    let mode = metadata.permissions().mode();
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let too_open =
        (metadata.uid() == me && mode & 0o077 != 0) || (metadata.uid() == 0 && mode & 0o037 != 0);
    if too_open {
        return Err(format!(
            "private key file \"{}\" has group or world access; file must have permissions u=rw (0600) or less if owned by the current user, or permissions u=rw,g=r (0640) or less if owned by root",
            path.display()
        ));
    }
    Ok(())
}

fn private_key(path: &Path, password: Option<&str>) -> Result<PrivateKeyDer<'static>, String> {
    check_key_file(path)?;
    let could_not = |why: &str| {
        format!(
            "could not load private key file \"{}\": {why}",
            path.display()
        )
    };
    let text = std::fs::read(path).map_err(|e| could_not(&e.to_string()))?;
    let text = String::from_utf8_lossy(&text);
    if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        let password = password
            .ok_or_else(|| could_not("the key is encrypted; give its passphrase as sslpassword"))?;
        let (_, der) = pkcs8::der::pem::decode_vec(text.trim().as_bytes())
            .map_err(|e| could_not(&e.to_string()))?;
        let encrypted = pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_slice())
            .map_err(|e| could_not(&e.to_string()))?;
        let plain = encrypted
            .decrypt(password)
            .map_err(|_| could_not("bad decrypt (is sslpassword right?)"))?;
        return Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            plain.as_bytes().to_vec(),
        )));
    }
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(could_not(
            "its encryption is OpenSSL's legacy PEM format, which seqsync cannot read; convert it with: openssl pkcs8 -topk8 -v2 aes-256-cbc -in old.key -out new.key",
        ));
    }
    PrivateKeyDer::from_pem_slice(text.as_bytes()).map_err(|e| could_not(&e.to_string()))
}

/// `sslcrl` (else `~/.postgresql/root.crl` when present) and every file in `sslcrldir`.
pub(super) fn revocation_lists(
    settings: &TlsSettings,
) -> Result<Vec<CertificateRevocationListDer<'static>>, String> {
    let mut files = vec![];
    match &settings.crl {
        Some(file) => files.push(file.clone()),
        None => files.extend(
            settings
                .default_file("root.crl")
                .filter(|file| file.exists()),
        ),
    }
    if let Some(dir) = &settings.crl_dir {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| format!("cannot read sslcrldir \"{}\": {e}", dir.display()))?;
        let mut in_dir: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        in_dir.sort();
        files.extend(in_dir);
    }
    let mut lists = vec![];
    for file in files {
        let found = CertificateRevocationListDer::pem_file_iter(&file)
            .and_then(|crls| crls.collect::<Result<Vec<_>, _>>())
            .map_err(|e| {
                format!(
                    "could not load SSL certificate revocation list \"{}\": {e}",
                    file.display()
                )
            })?;
        lists.extend(found);
    }
    Ok(lists)
}
