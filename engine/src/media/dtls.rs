//! DTLS for every peer of the process, with its settings prepared once.
//!
//! str0m's aws-lc-rs backend builds a new dimpl `Config` for every `Rtc`, and building one
//! validates the crypto provider by running a test key exchange in each group it supports
//! (X25519, P-256 and P-384): in a connect storm that was about a fifth of each side's CPU, more
//! than the key exchange and signatures of the handshake itself. This provider builds the config
//! once per MTU and shares it; each call still gets its own DTLS state, and everything else
//! (SRTP, hashes, certificates) is str0m's aws-lc-rs backend unchanged.

use std::sync::{Arc, Mutex};
use std::time::Instant;
use str0m::config::{CryptoProvider, DtlsCert, DtlsVersion};
use str0m::crypto::dtls::{DtlsImplError, DtlsInstance, DtlsOutput, DtlsProvider, ProtocolVersion};
use str0m::crypto::CryptoError;

/// dimpl configs by MTU (str0m asks with the one `RtcConfig` names; in practice one).
#[derive(Debug)]
struct SharedDtlsConfig {
    configs: Mutex<Vec<(Option<usize>, Arc<dimpl::Config>)>>,
}

static SHARED: SharedDtlsConfig = SharedDtlsConfig { configs: Mutex::new(Vec::new()) };

impl SharedDtlsConfig {
    fn config(&self, mtu: Option<usize>) -> Result<Arc<dimpl::Config>, CryptoError> {
        let mut configs = self.configs.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, c)) = configs.iter().find(|(m, _)| *m == mtu) {
            return Ok(c.clone());
        }
        // As str0m's backend does: ICE has checked return routability before DTLS starts, so
        // server cookies would only add a round trip.
        let mut builder = dimpl::Config::builder().use_server_cookie(false);
        if let Some(mtu) = mtu {
            builder = builder.mtu(mtu);
        }
        let config =
            Arc::new(builder.build().map_err(|e| CryptoError::Other(format!("DTLS configuration: {e}")))?);
        configs.push((mtu, config.clone()));
        Ok(config)
    }
}

impl DtlsProvider for SharedDtlsConfig {
    fn generate_certificate(&self) -> Option<DtlsCert> {
        str0m::crypto::from_feature_flags().dtls_provider.generate_certificate()
    }

    fn new_dtls(
        &self,
        cert: &DtlsCert,
        now: Instant,
        version: DtlsVersion,
        mtu: Option<usize>,
    ) -> Result<Box<dyn DtlsInstance>, CryptoError> {
        let config = self.config(mtu)?;
        let dtls = match version {
            DtlsVersion::Dtls12 => dimpl::Dtls::new_12(config, cert.clone(), now),
            DtlsVersion::Dtls13 => dimpl::Dtls::new_13(config, cert.clone(), now),
            DtlsVersion::Auto => dimpl::Dtls::new_auto(config, cert.clone(), now),
            other => return Err(CryptoError::Other(format!("unsupported DTLS version {other}"))),
        };
        Ok(Box::new(PeerDtls(dtls)))
    }
}

/// One peer's DTLS state.
struct PeerDtls(dimpl::Dtls);

impl std::fmt::Debug for PeerDtls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PeerDtls")
    }
}

impl DtlsInstance for PeerDtls {
    fn set_active(&mut self, active: bool) {
        self.0.set_active(active);
    }

    fn handle_packet(&mut self, packet: &[u8]) -> Result<(), DtlsImplError> {
        self.0.handle_packet(packet)
    }

    fn poll_output<'a>(&mut self, buf: &'a mut [u8]) -> DtlsOutput<'a> {
        self.0.poll_output(buf)
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), DtlsImplError> {
        self.0.handle_timeout(now)
    }

    fn send_application_data(&mut self, data: &[u8]) -> Result<usize, DtlsImplError> {
        self.0.send_application_data(data)
    }

    fn is_active(&self) -> bool {
        self.0.is_active()
    }

    fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.0.protocol_version()
    }

    fn is_closing(&self) -> bool {
        self.0.is_closing()
    }

    fn is_closed(&self) -> bool {
        self.0.is_closed()
    }

    fn close(&mut self) -> Result<(), DtlsImplError> {
        self.0.close()
    }
}

/// str0m's aws-lc-rs crypto with the shared DTLS configuration.
pub(crate) fn crypto_provider() -> CryptoProvider {
    CryptoProvider { dtls_provider: &SHARED, ..str0m::crypto::from_feature_flags() }
}
