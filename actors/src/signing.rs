//! The session-token signing secret: from `VOXGATE_SESSION_SECRET` (hex, shared by several
//! nodes) or else a file in the data dir created on first start with owner-only permissions.

use sha2::{Digest, Sha256};
use std::path::Path;
use voxgate_engine::token::TokenSigner;

/// The secret's file in the data dir.
pub const FILE: &str = "session-signing.key";

/// Loads or creates the signer.
pub fn load_signer(data_dir: &Path, from_env: Option<&str>) -> Result<TokenSigner, String> {
    let secret = match from_env {
        Some(hex) => decode_hex(hex.trim()).filter(|b| b.len() >= 32).ok_or_else(|| {
            "VOXGATE_SESSION_SECRET must be at least 64 hex characters (32 bytes)".to_string()
        })?,
        None => load_or_create_file(&data_dir.join(FILE))?,
    };
    let key_id = Sha256::digest(&secret).iter().take(4).map(|b| format!("{b:02x}")).collect::<String>();
    Ok(TokenSigner::new(key_id, secret))
}

fn load_or_create_file(path: &Path) -> Result<Vec<u8>, String> {
    if let Ok(text) = std::fs::read_to_string(path) {
        return decode_hex(text.trim()).ok_or_else(|| format!("{} is not a hex secret", path.display()));
    }
    let mut secret = vec![0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut secret);
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    match opts.open(path) {
        Ok(mut f) => {
            std::io::Write::write_all(&mut f, hex.as_bytes())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            f.sync_all().map_err(|e| format!("cannot sync {}: {e}", path.display()))?;
            Ok(secret)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create_file(path),
        Err(e) => Err(format!("cannot create {}: {e}", path.display())),
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_secret_is_stable_and_env_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_signer(dir.path(), None).unwrap();
        let b = load_signer(dir.path(), None).unwrap();
        assert_eq!(a.key_id(), b.key_id());
        let hex = "ab".repeat(32);
        let c = load_signer(dir.path(), Some(&hex)).unwrap();
        assert_ne!(a.key_id(), c.key_id());
        assert!(load_signer(dir.path(), Some("abcd")).is_err());
    }
}
