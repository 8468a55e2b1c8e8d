//! CWT bearer tokens (seed 003, as the reference checks them): base64url of a COSE_Sign1
//! (optionally CBOR-tagged 18) signed with Ed25519 by one of the configured keys, whose
//! claims give the principal (`sub`), the space (`aud`: a space id or `*`), the expiry
//! (`exp`) and, at claim key 9, the scope (`read`, `write` or `*`). With no keys
//! configured, CWT is off and only the other credentials work.

use base64::Engine as _;
use coset::cwt::{ClaimName, ClaimsSet, Timestamp};
use coset::{iana, CborSerializable, CoseSign1, TaggedCborSerializable};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};

use crate::Scope;

/// The claims of a verified token.
#[derive(Clone, Debug, PartialEq)]
pub struct CwtClaims {
    pub subject: String,
    pub audience: String,
    pub scope: Scope,
}

impl CwtClaims {
    /// Whether the token is for `space_id` (or for every space).
    pub fn is_for(&self, space_id: &str) -> bool {
        self.audience == "*" || self.audience == space_id
    }
}

/// The configured public keys and platform managers.
#[derive(Clone, Default)]
pub struct CwtVerifier {
    keys: Vec<VerifyingKey>,
    managers: Vec<String>,
}

/// Shortest token read as a CWT (shorter ones are space tokens), as in the reference.
pub const MIN_CWT_LEN: usize = 60;

impl CwtVerifier {
    /// `keys`: a comma list of base64 (standard or url-safe) raw 32-byte Ed25519 public
    /// keys; `managers`: a comma list of the principals that are platform admins.
    pub fn new(keys: &str, managers: &str) -> Result<CwtVerifier, String> {
        let keys = keys
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(|k| {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(k)
                    .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(k))
                    .map_err(|e| format!("public key {k}: {e}"))?;
                let raw: [u8; 32] = bytes
                    .try_into()
                    .map_err(|_| format!("public key {k}: not 32 bytes"))?;
                VerifyingKey::from_bytes(&raw).map_err(|e| format!("public key {k}: {e}"))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let managers = managers
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .collect();
        Ok(CwtVerifier { keys, managers })
    }

    pub fn enabled(&self) -> bool {
        !self.keys.is_empty()
    }

    /// Whether `claims` are a platform admin's: audience `*`, scope allowing writes, and a
    /// subject among the managers.
    pub fn is_admin(&self, claims: &CwtClaims) -> bool {
        claims.audience == "*"
            && claims.scope.allows(Scope::Write)
            && self.managers.contains(&claims.subject)
    }

    /// The claims of `token` when a configured key signed it and it has not expired at
    /// `now_ms`; none otherwise (or when CWT is off).
    pub fn verify(&self, token: &str, now_ms: i64) -> Option<CwtClaims> {
        if !self.enabled() || token.len() < MIN_CWT_LEN || token.len() > 8192 {
            return None;
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.trim_end_matches('='))
            .ok()?;
        let sign1 = CoseSign1::from_tagged_slice(&bytes)
            .or_else(|_| CoseSign1::from_slice(&bytes))
            .ok()?;
        let signature = |sig: &[u8], data: &[u8]| -> Result<(), ()> {
            let sig = Signature::from_slice(sig).map_err(|_| ())?;
            self.keys
                .iter()
                .any(|k| k.verify(data, &sig).is_ok())
                .then_some(())
                .ok_or(())
        };
        sign1.verify_signature(b"", signature).ok()?;
        let claims = ClaimsSet::from_slice(sign1.payload.as_deref()?).ok()?;
        let expired = match claims.expiration_time {
            Some(Timestamp::WholeSeconds(s)) => s.saturating_mul(1000) <= now_ms,
            Some(Timestamp::FractionalSeconds(s)) => (s * 1000.0) as i64 <= now_ms,
            None => false,
        };
        if expired {
            return None;
        }
        let scope = claims.rest.iter().find_map(|(name, value)| {
            (*name == ClaimName::Assigned(iana::CwtClaimName::Scope))
                .then(|| match value {
                    coset::cbor::value::Value::Text(t) => Some(t.clone()),
                    coset::cbor::value::Value::Bytes(b) => String::from_utf8(b.clone()).ok(),
                    _ => None,
                })
                .flatten()
        })?;
        Some(CwtClaims {
            subject: claims.subject?,
            audience: claims.audience?,
            scope: Scope::parse(&scope)?,
        })
    }
}
