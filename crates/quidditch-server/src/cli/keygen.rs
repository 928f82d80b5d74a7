//! `quidditch keygen` and UDF signing: Ed25519 over the SHA-256 of the binary, the scheme the
//! server verifies (`quidditch_udf::signature`).
//!
//! Key files are text: the private key is the 32-byte seed in hex (file mode 0600); the public
//! key (`<file>.pub`) is 32 bytes in hex, the form the server's `udf.trusted_keys` takes.
//! `--sign` also reads base64 seeds and PKCS#8 PEM (`openssl genpkey -algorithm ed25519`).

use std::path::{Path, PathBuf};

use base64::Engine as _;
use clap::Args;
use ed25519_dalek::{Signer, SigningKey};
use sha2::{Digest, Sha256};

use super::{CliResult, EXIT_OK, usage};
#[cfg(test)]
use super::CliError;

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the private key; the public key goes to `<out>.pub`.
    #[arg(long, default_value = "quidditch-signing-key")]
    pub out: PathBuf,
    /// Overwrite existing key files.
    #[arg(long)]
    pub force: bool,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

pub fn run_keygen(args: KeygenArgs) -> anyhow::Result<i32> {
    match keygen(&args) {
        Ok(()) => Ok(EXIT_OK),
        Err(e) => {
            let code = e.exit_code();
            eprintln!("error: {}", e.message());
            Ok(code)
        }
    }
}

fn public_path(private: &Path) -> PathBuf {
    let mut s = private.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

fn keygen(args: &KeygenArgs) -> CliResult<()> {
    let pub_path = public_path(&args.out);
    for p in [&args.out, &pub_path] {
        if p.exists() && !args.force {
            return Err(usage(format!("{} exists; pass --force to overwrite it", p.display())));
        }
    }
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let public_hex = hex::encode(key.verifying_key().as_bytes());
    write_private(&args.out, &format!("{}\n", hex::encode(key.to_bytes())))?;
    std::fs::write(&pub_path, format!("{public_hex}\n"))
        .map_err(|e| usage(format!("cannot write {}: {e}", pub_path.display())))?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "private_key_file": args.out, "public_key_file": pub_path, "public_key": public_hex,
            })
        );
    } else {
        println!("private key: {} (keep it secret)", args.out.display());
        println!("public key:  {} = {public_hex}", pub_path.display());
        println!("trust it in the server config:  \"udf\": {{\"trusted_keys\": [\"{public_hex}\"]}}");
        println!("sign uploads with:  quidditch udf push <udf> --sign {}", args.out.display());
    }
    Ok(())
}

fn write_private(path: &Path, text: &str) -> CliResult<()> {
    crate::tls::write_private(path, text).map_err(|e| usage(format!("cannot write {}: {e}", path.display())))
}

/// Reads a private key file: hex or base64 of the 32-byte seed, or a PKCS#8 PEM.
pub fn load_signing_key(path: &Path) -> CliResult<SigningKey> {
    let text = std::fs::read_to_string(path).map_err(|e| usage(format!("cannot read key {}: {e}", path.display())))?;
    let bad = |why: &str| usage(format!("{} is not an Ed25519 private key: {why}", path.display()));
    if text.contains("BEGIN PRIVATE KEY") {
        use ed25519_dalek::pkcs8::DecodePrivateKey;
        return SigningKey::from_pkcs8_pem(&text).map_err(|e| bad(&e.to_string()));
    }
    let s = text.trim();
    let bytes = hex::decode(s)
        .ok()
        .or_else(|| base64::engine::general_purpose::STANDARD.decode(s).ok())
        .ok_or_else(|| bad("expected 32 bytes in hex or base64, or a PEM"))?;
    let seed: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| bad(&format!("expected 32 bytes, got {}", bytes.len())))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Hex of the Ed25519 signature over SHA-256(binary).
pub fn sign_binary(key: &SigningKey, binary: &[u8]) -> String {
    let digest = Sha256::digest(binary);
    hex::encode(key.sign(&digest).to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::Verifier;

    #[test]
    fn keygen_writes_keys_that_sign_and_verify() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("k");
        keygen(&KeygenArgs { out: out.clone(), force: false, json: true }).unwrap();
        let key = load_signing_key(&out).unwrap();
        let public = hex::decode(std::fs::read_to_string(public_path(&out)).unwrap().trim()).unwrap();
        let vk = ed25519_dalek::VerifyingKey::from_bytes(&public.try_into().unwrap()).unwrap();
        let sig = hex::decode(sign_binary(&key, b"\0asm\x01\0\0\0")).unwrap();
        let sig = ed25519_dalek::Signature::from_bytes(&sig.try_into().unwrap());
        vk.verify(&Sha256::digest(b"\0asm\x01\0\0\0"), &sig).unwrap();
        // Refuses to overwrite without --force.
        let again = keygen(&KeygenArgs { out: out.clone(), force: false, json: false });
        assert!(matches!(again, Err(CliError::Usage(_))));
        keygen(&KeygenArgs { out, force: true, json: false }).unwrap();
    }
}
