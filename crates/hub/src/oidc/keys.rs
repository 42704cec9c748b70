//! The relying party's own keys: read from PEM files named in the configuration, never
//! stored in the database. The first signing key signs; every key is published in the hub's
//! key set, so a rotation is: add the new file first (providers fetch it), then, once their
//! caches have expired, move it to the front, and later drop the old one. Key ids are the
//! RFC 7638 thumbprints, so the same file always has the same id on every instance.

use std::path::{Path, PathBuf};

use josekit::jwe::JweDecrypter;
use josekit::jwk::Jwk;
use josekit::jws::JwsSigner;
use serde_json::{Value, json};
use sha2::Digest as _;

use super::jose::b64;
use crate::HubError;

/// A signing key: its algorithm, id and halves.
pub struct SigningKey {
    /// `RS256` or `ES256`.
    pub alg: &'static str,
    pub kid: String,
    signer: Box<dyn JwsSigner>,
    public: Jwk,
}

impl SigningKey {
    /// The signer, its key id set.
    pub fn signer(&self) -> &dyn JwsSigner {
        &*self.signer
    }
}

/// A key the provider encrypts to.
pub struct EncryptionKey {
    pub kid: String,
    public: Jwk,
    decrypters: Vec<Box<dyn JweDecrypter>>,
}

/// The hub's keys as a relying party.
#[derive(Default)]
pub struct RpKeys {
    signing: Vec<SigningKey>,
    encryption: Vec<EncryptionKey>,
}

impl std::fmt::Debug for RpKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpKeys")
            .field(
                "signing",
                &self.signing.iter().map(|k| &k.kid).collect::<Vec<_>>(),
            )
            .field(
                "encryption",
                &self.encryption.iter().map(|k| &k.kid).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// RFC 7638: the SHA-256 of the key's required members, in order, without spaces.
pub fn thumbprint(jwk: &Jwk) -> String {
    let p = |k: &str| jwk.parameter(k).cloned().unwrap_or(Value::Null);
    let canonical = match jwk.key_type() {
        "RSA" => json!({"e": p("e"), "kty": "RSA", "n": p("n")}),
        "EC" => json!({"crv": p("crv"), "kty": "EC", "x": p("x"), "y": p("y")}),
        "OKP" => json!({"crv": p("crv"), "kty": "OKP", "x": p("x")}),
        other => json!({"kty": other}),
    };
    // serde_json writes an object's members sorted (no preserve_order), as RFC 7638 wants.
    b64(&sha2::Sha256::digest(canonical.to_string().as_bytes()))
}

fn read_private(path: &Path) -> Result<Vec<u8>, HubError> {
    let bad = |why: String| HubError::Config(format!("{}: {why}", path.display()));
    let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)
            .map_err(|e| bad(e.to_string()))?
            .permissions()
            .mode();
        if mode & 0o007 != 0 {
            return Err(bad(format!(
                "a private key readable by everyone (mode {:o}): chmod 600 or 640",
                mode & 0o777
            )));
        }
    }
    Ok(pem)
}

fn rsa_bits(jwk: &Jwk) -> usize {
    jwk.parameter("n")
        .and_then(Value::as_str)
        .and_then(|n| {
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, n).ok()
        })
        .map_or(0, |n| n.iter().skip_while(|b| **b == 0).count() * 8)
}

impl SigningKey {
    /// An RSA (RS256, 2048 bits or more) or EC P-256 (ES256) key from its PEM.
    pub fn from_pem(pem: &[u8]) -> Result<Self, String> {
        use josekit::jws::{ES256, RS256};
        if let Ok(pair) = RS256.key_pair_from_pem(pem) {
            let public = pair.to_jwk_public_key();
            if rsa_bits(&public) < 2048 {
                return Err("an RSA key must have at least 2048 bits".into());
            }
            return Self::new("RS256", public, |kid| {
                let mut s = RS256
                    .signer_from_jwk(&pair.to_jwk_private_key())
                    .map_err(|e| e.to_string())?;
                s.set_key_id(kid);
                Ok(Box::new(s))
            });
        }
        if let Ok(pair) = ES256.key_pair_from_pem(pem) {
            let public = pair.to_jwk_public_key();
            return Self::new("ES256", public, |kid| {
                let mut s = ES256
                    .signer_from_jwk(&pair.to_jwk_private_key())
                    .map_err(|e| e.to_string())?;
                s.set_key_id(kid);
                Ok(Box::new(s))
            });
        }
        Err("not a PEM private key of RSA or of EC P-256".into())
    }

    fn new(
        alg: &'static str,
        mut public: Jwk,
        signer: impl FnOnce(&str) -> Result<Box<dyn JwsSigner>, String>,
    ) -> Result<Self, String> {
        let kid = thumbprint(&public);
        public.set_key_id(&kid);
        public.set_key_use("sig");
        public.set_algorithm(alg);
        Ok(Self {
            alg,
            signer: signer(&kid)?,
            kid,
            public,
        })
    }
}

impl EncryptionKey {
    /// An RSA key (2048 bits or more) from its PEM: the provider may wrap with RSA-OAEP or
    /// RSA-OAEP-256.
    pub fn from_pem(pem: &[u8]) -> Result<Self, String> {
        use josekit::jwe::{RSA_OAEP, RSA_OAEP_256};
        let pair = RSA_OAEP
            .key_pair_from_pem(pem)
            .map_err(|_| "not a PEM RSA private key".to_owned())?;
        let mut public = pair.to_jwk_public_key();
        if rsa_bits(&public) < 2048 {
            return Err("an RSA key must have at least 2048 bits".into());
        }
        let kid = thumbprint(&public);
        public.set_key_id(&kid);
        public.set_key_use("enc");
        public.set_algorithm("RSA-OAEP");
        let mut private = pair.to_jwk_private_key();
        // One key, both OAEP hashes: the pair's own `alg` would tie it to the first.
        private
            .set_parameter("alg", None)
            .map_err(|e| e.to_string())?;
        let decrypters: Vec<Box<dyn JweDecrypter>> = vec![
            Box::new(
                RSA_OAEP
                    .decrypter_from_jwk(&private)
                    .map_err(|e| e.to_string())?,
            ),
            Box::new(
                RSA_OAEP_256
                    .decrypter_from_jwk(&private)
                    .map_err(|e| e.to_string())?,
            ),
        ];
        Ok(Self {
            kid,
            public,
            decrypters,
        })
    }
}

impl RpKeys {
    /// The keys in `signing` and `encryption`, in that order.
    pub fn from_files(signing: &[PathBuf], encryption: &[PathBuf]) -> Result<Self, HubError> {
        let mut keys = Self::default();
        for path in signing {
            let key = SigningKey::from_pem(&read_private(path)?)
                .map_err(|e| HubError::Config(format!("{}: {e}", path.display())))?;
            keys.signing.push(key);
        }
        for path in encryption {
            let key = EncryptionKey::from_pem(&read_private(path)?)
                .map_err(|e| HubError::Config(format!("{}: {e}", path.display())))?;
            keys.encryption.push(key);
        }
        Ok(keys)
    }

    /// Keys made in memory, for the demo and tests: an EC signing key and an RSA encryption
    /// key, gone when the process ends.
    pub fn ephemeral() -> Result<Self, HubError> {
        let ec = josekit::jws::ES256
            .generate_key_pair()
            .map_err(|e| HubError::internal("key generation", e))?;
        let rsa = josekit::jwe::RSA_OAEP
            .generate_key_pair(2048)
            .map_err(|e| HubError::internal("key generation", e))?;
        Ok(Self {
            signing: vec![
                SigningKey::from_pem(&ec.to_pem_private_key()).map_err(HubError::Internal)?,
            ],
            encryption: vec![
                EncryptionKey::from_pem(&rsa.to_pem_private_key()).map_err(HubError::Internal)?,
            ],
        })
    }

    /// The key that signs now.
    pub fn signer(&self) -> Option<&SigningKey> {
        self.signing.first()
    }

    /// Whether the provider can encrypt to the hub.
    pub fn can_decrypt(&self) -> bool {
        !self.encryption.is_empty()
    }

    /// The public key set: every signing and encryption key.
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .signing
            .iter()
            .map(|k| &k.public)
            .chain(self.encryption.iter().map(|k| &k.public))
            .map(|k| Value::Object(k.as_ref().clone()))
            .collect();
        json!({ "keys": keys })
    }

    /// Opens a JWE encrypted to one of the hub's keys.
    pub fn decrypt(&self, token: &str) -> Result<Vec<u8>, String> {
        let decrypters: Vec<(&str, &dyn JweDecrypter)> = self
            .encryption
            .iter()
            .flat_map(|k| k.decrypters.iter().map(|d| (k.kid.as_str(), &**d)))
            .collect();
        super::jose::decrypt(token, &decrypters)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_key(dir: &Path, name: &str, pem: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, pem).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        path
    }

    #[test]
    fn keys_come_from_files_and_every_one_is_published_while_the_first_signs() {
        let dir = tempfile::tempdir().unwrap();
        let new = josekit::jws::ES256.generate_key_pair().unwrap();
        let old = josekit::jws::RS256.generate_key_pair(2048).unwrap();
        let enc = josekit::jwe::RSA_OAEP.generate_key_pair(2048).unwrap();
        let signing = [
            write_key(dir.path(), "new.pem", &new.to_pem_private_key()),
            write_key(dir.path(), "old.pem", &old.to_pem_private_key()),
        ];
        let encryption = [write_key(dir.path(), "enc.pem", &enc.to_pem_private_key())];
        let keys = RpKeys::from_files(&signing, &encryption).unwrap();
        let again = RpKeys::from_files(&signing, &encryption).unwrap();
        let signer = keys.signer().unwrap();
        assert_eq!(signer.alg, "ES256");
        assert_eq!(signer.kid, again.signer().unwrap().kid, "ids are stable");
        let jwks = keys.jwks();
        let published: Vec<(&str, &str)> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| (k["kid"].as_str().unwrap(), k["use"].as_str().unwrap()))
            .collect();
        assert_eq!(published.len(), 3);
        assert_eq!(published[0], (signer.kid.as_str(), "sig"));
        assert_eq!(published[1].1, "sig");
        assert_eq!(published[2].1, "enc");
        assert!(
            !jwks.to_string().contains("\"d\""),
            "no private member is published"
        );

        // What a provider encrypts to the published key opens.
        let set = super::super::jose::key_set(&jwks).unwrap();
        let enc_pub = set.get(published[2].0)[0];
        let encrypter = josekit::jwe::RSA_OAEP.encrypter_from_jwk(enc_pub).unwrap();
        let mut header = josekit::jwe::JweHeader::new();
        header.set_content_encryption("A256CBC-HS512");
        header.set_key_id(published[2].0);
        let jwe = josekit::jwe::serialize_compact(b"segreto", &header, &encrypter).unwrap();
        assert_eq!(keys.decrypt(&jwe).unwrap(), b"segreto");
        // Not with an encryption outside the profile.
        header.set_content_encryption("A128GCM");
        let jwe = josekit::jwe::serialize_compact(b"segreto", &header, &encrypter).unwrap();
        assert!(keys.decrypt(&jwe).unwrap_err().contains("not allowed"));
    }

    #[test]
    fn unreadable_or_exposed_keys_are_refused_with_the_file_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_key(dir.path(), "junk.pem", b"not a key");
        let e = RpKeys::from_files(&[path], &[]).unwrap_err().to_string();
        assert!(e.contains("junk.pem") && e.contains("PEM"), "{e}");
        let e = RpKeys::from_files(&[dir.path().join("missing.pem")], &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.pem"), "{e}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let ec = josekit::jws::ES256.generate_key_pair().unwrap();
            let path = write_key(dir.path(), "open.pem", &ec.to_pem_private_key());
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = RpKeys::from_files(&[path], &[]).unwrap_err().to_string();
            assert!(e.contains("chmod 600"), "{e}");
        }
    }
}
