//! Why a TLS connection to MySQL failed, told apart for conditions and logs: the server's
//! certificate is not signed by the configured CA, it does not name the host connected to, or
//! the handshake failed otherwise (e.g. the server offers no TLS). sqlx hands rustls' verdict
//! over as an I/O or TLS error; the rustls error inside says which.

use std::error::Error as StdError;

use rustls::CertificateError;

/// A TLS failure of a MySQL connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsFailure {
    /// The server's certificate does not chain to the CA (wrong CA, or a self-signed server).
    UntrustedCertificate { detail: String },
    /// The certificate is trusted but does not name the host connected to.
    HostNotOnCertificate { detail: String },
    /// Anything else during the handshake (no TLS on the server, expired certificate, ...).
    Handshake { detail: String },
}

impl TlsFailure {
    /// A condition reason.
    pub fn reason(&self) -> &'static str {
        match self {
            TlsFailure::UntrustedCertificate { .. } => "MySQLCertificateUntrusted",
            TlsFailure::HostNotOnCertificate { .. } => "MySQLHostNotOnCertificate",
            TlsFailure::Handshake { .. } => "MySQLTLSFailed",
        }
    }
}

impl std::fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlsFailure::UntrustedCertificate { detail } => write!(
                f,
                "the MySQL server's certificate is not signed by the configured CA ({detail}); check the CA Secret (mysql.tls.caSecret) or ssl-ca"
            ),
            TlsFailure::HostNotOnCertificate { detail } => write!(
                f,
                "the MySQL server's certificate does not name the host connected to ({detail}); connect by a name on the certificate, or use mode verify-ca"
            ),
            TlsFailure::Handshake { detail } => {
                write!(f, "the TLS handshake with MySQL failed: {detail}")
            }
        }
    }
}

/// The TLS failure behind `error`, if it is one.
pub fn tls_failure(error: &sqlx::Error) -> Option<TlsFailure> {
    let inner: &(dyn StdError + 'static) = match error {
        sqlx::Error::Tls(inner) => inner.as_ref(),
        sqlx::Error::Io(io) => io.get_ref()?,
        _ => return None,
    };
    let Some(rustls_error) = find_rustls_error(inner) else {
        return match error {
            sqlx::Error::Tls(_) => Some(TlsFailure::Handshake {
                detail: inner.to_string(),
            }),
            _ => None,
        };
    };
    let detail = rustls_error.to_string();
    Some(match rustls_error {
        rustls::Error::InvalidCertificate(certificate) => match certificate {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                TlsFailure::UntrustedCertificate { detail }
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                TlsFailure::HostNotOnCertificate { detail }
            }
            _ => TlsFailure::Handshake { detail },
        },
        _ => TlsFailure::Handshake { detail },
    })
}

/// The rustls error in `error` or its sources.
fn find_rustls_error<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<rustls::Error>() {
            return Some(found);
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(error: rustls::Error) -> sqlx::Error {
        sqlx::Error::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, error))
    }

    #[test]
    fn certificate_verdicts_are_told_apart() {
        let untrusted = tls_failure(&io(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        )));
        assert!(matches!(
            untrusted,
            Some(TlsFailure::UntrustedCertificate { .. })
        ));
        let forged = tls_failure(&io(rustls::Error::InvalidCertificate(
            CertificateError::BadSignature,
        )));
        assert!(matches!(
            forged,
            Some(TlsFailure::UntrustedCertificate { .. })
        ));
        let host = tls_failure(&io(rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName,
        )));
        assert_eq!(
            host.as_ref().map(TlsFailure::reason),
            Some("MySQLHostNotOnCertificate")
        );
        let no_tls = tls_failure(&sqlx::Error::Tls("server does not support TLS".into()));
        assert!(matches!(no_tls, Some(TlsFailure::Handshake { .. })));
    }

    #[test]
    fn other_errors_are_not_tls_failures() {
        let refused = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(tls_failure(&refused), None);
        assert_eq!(tls_failure(&sqlx::Error::PoolTimedOut), None);
    }
}
