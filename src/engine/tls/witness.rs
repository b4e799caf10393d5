//! `sslcertmode=require`: whether the server asked for a client certificate during the
//! handshake, and whether one went back. libpq learns it from OpenSSL's certificate callback
//! and judges it when the server says authentication is done; seqsync learns it from the
//! rustls resolver, which is consulted exactly when a CertificateRequest arrives, and judges it
//! as soon as the session is open, before any statement is sent on it.

use rustls::client::ResolvesClientCert;
use rustls::sign::CertifiedKey;
use rustls::SignatureScheme;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Offers the certificate (if there is one) and remembers what happened, for one connection.
#[derive(Debug, Default)]
pub(super) struct Witness {
    certificate: Option<Arc<CertifiedKey>>,
    requested: AtomicBool,
    sent: AtomicBool,
}

impl Witness {
    pub(super) fn new(certificate: Option<Arc<CertifiedKey>>) -> Witness {
        Witness {
            certificate,
            ..Witness::default()
        }
    }
}

impl ResolvesClientCert for Witness {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        self.requested.store(true, Ordering::SeqCst);
        // rustls sends an empty certificate when the key cannot sign with any scheme the
        // server accepts: that is not a certificate sent.
        let usable = self
            .certificate
            .clone()
            .filter(|c| c.key.choose_scheme(sigschemes).is_some());
        self.sent.store(usable.is_some(), Ordering::SeqCst);
        usable
    }

    fn has_certs(&self) -> bool {
        self.certificate.is_some()
    }
}

/// What one connection's handshake showed about the client certificate, judged once the
/// session is open. Without `sslcertmode=require` there is nothing to judge.
#[derive(Debug, Clone, Default)]
pub struct CertificateExchange(pub(super) Option<Arc<Witness>>);

impl CertificateExchange {
    /// libpq's verdict, in its words, for a session the server has let in.
    pub fn judge(&self) -> Result<(), String> {
        let Some(witness) = &self.0 else {
            return Ok(());
        };
        if !witness.requested.load(Ordering::SeqCst) {
            return Err(
                "server did not request an SSL certificate (sslcertmode=require); the session \
                 was closed before use — connect with TLS to a server that has ssl_ca_file set, \
                 or drop sslcertmode=require"
                    .into(),
            );
        }
        if !witness.sent.load(Ordering::SeqCst) {
            return Err(
                "server accepted connection without a valid SSL certificate \
                 (sslcertmode=require); the session was closed before use — give the \
                 certificate with sslcert and sslkey (or ~/.postgresql/postgresql.crt and .key)"
                    .into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_verdict_follows_what_the_handshake_did() {
        let plain = CertificateExchange(Some(Arc::new(Witness::new(None))));
        let e = plain.judge().unwrap_err();
        assert!(e.starts_with("server did not request"), "{e}");
        // Asked, and nothing to send: rustls sends an empty certificate.
        let witness = Arc::new(Witness::new(None));
        assert!(witness
            .resolve(&[], &[SignatureScheme::ECDSA_NISTP256_SHA256])
            .is_none());
        let e = CertificateExchange(Some(witness)).judge().unwrap_err();
        assert!(e.starts_with("server accepted connection without"), "{e}");
        assert_eq!(CertificateExchange::default().judge(), Ok(()));
    }
}
