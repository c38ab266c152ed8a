//! The process's DTLS identity: one certificate shared by every peer, server and client alike,
//! because generating one per call costs more than the rest of call setup together.

use std::sync::Once;
use str0m::config::DtlsCert;

/// No DTLS certificate could be generated (the crypto provider failed).
#[derive(Debug, thiserror::Error)]
#[error("no DTLS certificate could be generated")]
pub struct CertificateError;

/// The DTLS certificate every peer of this process presents.
#[derive(Clone)]
pub struct MediaIdentity {
    cert: DtlsCert,
}

static CRYPTO: Once = Once::new();

impl MediaIdentity {
    pub fn generate() -> Result<MediaIdentity, CertificateError> {
        CRYPTO.call_once(|| str0m::crypto::from_feature_flags().install_process_default());
        let provider = str0m::crypto::from_feature_flags();
        let cert = provider.dtls_provider.generate_certificate().ok_or(CertificateError)?;
        Ok(MediaIdentity { cert })
    }

    pub(crate) fn cert(&self) -> &DtlsCert {
        &self.cert
    }
}
