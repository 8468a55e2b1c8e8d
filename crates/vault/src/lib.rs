//! Secrets the server keeps for users are encrypted at rest with one server key
//! (XChaCha20-Poly1305, a random nonce per value). The key comes from
//! `ANDIBASE_SECRET_KEY` (64 hex characters) or from `<data-dir>/secret.key`, created on
//! first start with mode 0600.

use std::fmt;
use std::path::Path;

use andibase_common::{DomainError, DomainResult};
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

/// What may be shown of a secret once it is stored: its last four characters (`…f00d`)
/// when it is long enough that they give little away (12 or more), else `…`; empty for
/// none.
pub fn hint(secret: &str) -> String {
    let n = secret.chars().count();
    match n {
        0 => String::new(),
        1..12 => "…".to_string(),
        _ => format!("…{}", secret.chars().skip(n - 4).collect::<String>()),
    }
}

#[derive(Clone)]
pub struct Vault {
    cipher: XChaCha20Poly1305,
}

/// Never print the key.
impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Vault(<redacted>)")
    }
}

fn parse_hex(s: &str) -> Option<[u8; 32]> {
    andibase_common::hex::decode(s.trim())?.try_into().ok()
}

impl Vault {
    pub fn from_key(key: [u8; 32]) -> Vault {
        Vault {
            cipher: XChaCha20Poly1305::new(&key.into()),
        }
    }

    /// The key from the environment value if given, else from the data dir's key file
    /// (created when missing).
    pub fn open(data_dir: &Path, env_key: Option<&str>) -> DomainResult<Vault> {
        if let Some(hex) = env_key {
            return parse_hex(hex).map(Vault::from_key).ok_or_else(|| {
                DomainError::Internal("ANDIBASE_SECRET_KEY must be 64 hex characters".into())
            });
        }
        let path = data_dir.join("secret.key");
        if let Ok(text) = std::fs::read_to_string(&path) {
            return parse_hex(&text).map(Vault::from_key).ok_or_else(|| {
                DomainError::Internal(format!("{} is not a 64-hex-character key", path.display()))
            });
        }
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        std::fs::create_dir_all(data_dir).map_err(|e| DomainError::Internal(e.to_string()))?;
        let hex = andibase_common::hex::encode(&key);
        write_private(&path, &hex)
            .map_err(|e| DomainError::Internal(format!("{}: {e}", path.display())))?;
        Ok(Vault::from_key(key))
    }

    /// nonce (24 bytes) ‖ ciphertext.
    pub fn seal(&self, plaintext: &str) -> Vec<u8> {
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut out = nonce.to_vec();
        out.extend(
            self.cipher
                .encrypt(XNonce::from_slice(&nonce), plaintext.as_bytes())
                .expect("encryption cannot fail"),
        );
        out
    }

    pub fn open_sealed(&self, sealed: &[u8]) -> DomainResult<String> {
        if sealed.len() < 24 {
            return Err(DomainError::Internal("sealed value too short".into()));
        }
        let (nonce, body) = sealed.split_at(24);
        let plain = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), body)
            .map_err(|_| {
                DomainError::Internal(
                    "a stored secret could not be decrypted (wrong server key?)".into(),
                )
            })?;
        String::from_utf8(plain).map_err(|e| DomainError::Internal(e.to_string()))
    }
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_and_detects_tampering() {
        let v = Vault::from_key([7; 32]);
        let sealed = v.seal("hunter2");
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(v.open_sealed(&sealed).unwrap(), "hunter2");
        let mut bad = sealed.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(v.open_sealed(&bad).is_err());
        assert!(Vault::from_key([8; 32]).open_sealed(&sealed).is_err());
        assert_eq!(format!("{v:?}"), "Vault(<redacted>)");
    }

    #[test]
    fn key_file_is_created_once_and_reused() {
        let temp = andibase_common::temp::TempDir::new("vault");
        let dir = temp.path();
        let a = Vault::open(dir, None).unwrap();
        let b = Vault::open(dir, None).unwrap();
        assert_eq!(b.open_sealed(&a.seal("x")).unwrap(), "x");
        assert!(Vault::open(dir, Some("nothex")).is_err());
        assert!(
            Vault::open(dir, Some(&"é".repeat(32))).is_err(),
            "64 bytes of non-ASCII is refused, not a panic"
        );
    }
}
