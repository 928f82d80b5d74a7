//! Ed25519 signatures over the SHA-256 of a UDF binary. The signature travels with the upload
//! (hex or base64 of the 64 signature bytes); trusted public keys come from the config.

use base64::Engine as _;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

/// SHA-256 of a binary, lowercase hex.
pub fn sha256_hex(binary: &[u8]) -> String {
    hex::encode(Sha256::digest(binary))
}

/// Decodes hex (any case) or standard/URL-safe base64.
pub fn decode_bytes(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if s.len() % 2 == 0
        && s.bytes().all(|b| b.is_ascii_hexdigit())
        && let Ok(b) = hex::decode(s)
    {
        return Some(b);
    }
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(s))
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(s))
        .ok()
}

/// Parses a public key: 32 bytes as hex/base64, or an SPKI PEM (`-----BEGIN PUBLIC KEY-----`).
pub fn parse_public_key(s: &str) -> Result<VerifyingKey, String> {
    if s.contains("BEGIN PUBLIC KEY") {
        use ed25519_dalek::pkcs8::DecodePublicKey;
        return VerifyingKey::from_public_key_pem(s).map_err(|e| format!("invalid PEM public key: {e}"));
    }
    let bytes = decode_bytes(s).ok_or("public key is neither hex nor base64")?;
    let arr: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| format!("an Ed25519 public key is 32 bytes, got {}", bytes.len()))?;
    VerifyingKey::from_bytes(&arr).map_err(|e| format!("invalid Ed25519 public key: {e}"))
}

/// The trusted keys of the config.
pub struct TrustedKeys {
    keys: Vec<VerifyingKey>,
}

/// Why a signature was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub enum SignatureProblem {
    Malformed(String),
    /// Valid encoding, but no trusted key verifies it.
    Untrusted,
}

impl TrustedKeys {
    pub fn parse(keys: &[String]) -> anyhow::Result<TrustedKeys> {
        let keys = keys
            .iter()
            .enumerate()
            .map(|(i, k)| parse_public_key(k).map_err(|e| anyhow::anyhow!("udf.trusted_keys[{i}]: {e}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(TrustedKeys { keys })
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Verifies `signature` over `sha256(binary)`; returns the hex of the key that verified it.
    pub fn verify(&self, sha256: &[u8; 32], signature: &str) -> Result<String, SignatureProblem> {
        let bytes = decode_bytes(signature)
            .ok_or_else(|| SignatureProblem::Malformed("signature is neither hex nor base64".into()))?;
        let arr: [u8; 64] = bytes.as_slice().try_into().map_err(|_| {
            SignatureProblem::Malformed(format!("an Ed25519 signature is 64 bytes, got {}", bytes.len()))
        })?;
        let sig = Signature::from_bytes(&arr);
        self.keys
            .iter()
            .find(|k| k.verify(sha256, &sig).is_ok())
            .map(|k| hex::encode(k.as_bytes()))
            .ok_or(SignatureProblem::Untrusted)
    }
}

pub fn sha256_bytes(binary: &[u8]) -> [u8; 32] {
    Sha256::digest(binary).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    #[test]
    fn verifies_trusted_and_rejects_untrusted() {
        let trusted = SigningKey::from_bytes(&[7u8; 32]);
        let other = SigningKey::from_bytes(&[9u8; 32]);
        let keys = TrustedKeys::parse(&[hex::encode(trusted.verifying_key().as_bytes())]).unwrap();
        let digest = sha256_bytes(b"\0asm\x01\0\0\0");
        let good = hex::encode(trusted.sign(&digest).to_bytes());
        assert_eq!(keys.verify(&digest, &good), Ok(hex::encode(trusted.verifying_key().as_bytes())));
        let bad = base64::engine::general_purpose::STANDARD.encode(other.sign(&digest).to_bytes());
        assert_eq!(keys.verify(&digest, &bad), Err(SignatureProblem::Untrusted));
        assert!(matches!(keys.verify(&digest, "abcd"), Err(SignatureProblem::Malformed(_))));
    }
}
