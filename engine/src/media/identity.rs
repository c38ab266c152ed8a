//! The process's DTLS identity and crypto: one certificate shared by every peer, server and
//! client alike, because generating one per call costs more than the rest of call setup
//! together, and one crypto provider whose DTLS configuration is prepared once (see `dtls`).

use crate::media::dtls;
use std::sync::Arc;
use str0m::config::{CryptoProvider, DtlsCert};

/// No DTLS certificate could be generated (the crypto provider failed).
#[derive(Debug, thiserror::Error)]
#[error("no DTLS certificate could be generated")]
pub struct CertificateError;

/// The DTLS certificate every peer of this process presents, and the crypto they use.
#[derive(Clone)]
pub struct MediaIdentity {
    cert: DtlsCert,
    crypto: Arc<CryptoProvider>,
}

impl MediaIdentity {
    pub fn generate() -> Result<MediaIdentity, CertificateError> {
        let crypto = Arc::new(dtls::crypto_provider());
        let cert = crypto.dtls_provider.generate_certificate().ok_or(CertificateError)?;
        Ok(MediaIdentity { cert, crypto })
    }

    pub(crate) fn cert(&self) -> &DtlsCert {
        &self.cert
    }

    pub(crate) fn crypto(&self) -> Arc<CryptoProvider> {
        self.crypto.clone()
    }
}
