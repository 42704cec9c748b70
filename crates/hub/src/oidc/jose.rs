//! The JOSE the relying party speaks, over `josekit`: compact JWS signed and checked against
//! a key set with an allow-list of algorithms, and compact JWE opened with the hub's keys.
//! Every check that fails says which, in English, for the log; the visitor sees a sentence
//! of [`super::Refusal`] instead.

use base64::Engine as _;
use josekit::jwe::JweDecrypter;
use josekit::jwk::{Jwk, JwkSet};
use josekit::jws::{JwsHeader, JwsSigner, JwsVerifier};
use serde_json::{Map, Value};

/// A JSON object: a token's claims or header.
pub type Claims = Map<String, Value>;

/// Signature algorithms the hub accepts from a provider, strongest first: the RSA and ECDSA
/// families the Italian federation names, and EdDSA for brokers that use it.
pub const SIGNING_ALGS: &[&str] = &[
    "ES512", "ES384", "ES256", "PS512", "PS384", "PS256", "RS512", "RS384", "RS256", "EdDSA",
];

/// Content encryptions accepted in a JWE (the SPID/CIE profile's, and A256GCM).
pub const CONTENT_ENCS: &[&str] = &["A256CBC-HS512", "A128CBC-HS256", "A256GCM"];

/// Key encryptions accepted in a JWE.
pub const KEY_ENCS: &[&str] = &["RSA-OAEP", "RSA-OAEP-256"];

pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(s: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|_| "not base64url".to_owned())
}

/// The protected header of a compact JWS or JWE, read without checking anything.
pub fn header(token: &str) -> Result<Map<String, Value>, String> {
    let first = token.split('.').next().unwrap_or_default();
    match serde_json::from_slice(&unb64(first)?) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err("the token's header is not a JSON object".into()),
    }
}

/// The claims of a compact JWS, read without checking its signature: only to learn who
/// signed an entity configuration, whose keys it carries itself.
pub fn unverified_claims(token: &str) -> Result<Map<String, Value>, String> {
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not a compact JWS".into());
    };
    match serde_json::from_slice(&unb64(payload)?) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err("the token's claims are not a JSON object".into()),
    }
}

fn verifier(alg: &str, jwk: &Jwk) -> Result<Box<dyn JwsVerifier>, String> {
    use josekit::jws::{ES256, ES384, ES512, EdDSA, PS256, PS384, PS512, RS256, RS384, RS512};
    let v: Result<Box<dyn JwsVerifier>, _> = match alg {
        "RS256" => RS256.verifier_from_jwk(jwk).map(|v| Box::new(v) as _),
        "RS384" => RS384.verifier_from_jwk(jwk).map(|v| Box::new(v) as _),
        "RS512" => RS512.verifier_from_jwk(jwk).map(|v| Box::new(v) as _),
        "PS256" => PS256.verifier_from_jwk(jwk).map(|v| Box::new(v) as _),
        "PS384" => PS384.verifier_from_jwk(jwk).map(|v| Box::new(v) as _),
        "PS512" => PS512.verifier_from_jwk(jwk).map(|v| Box::new(v) as _),
        "ES256" => ES256.verifier_from_jwk(jwk).map(|v| Box::new(v) as _),
        "ES384" => ES384.verifier_from_jwk(jwk).map(|v| Box::new(v) as _),
        "ES512" => ES512.verifier_from_jwk(jwk).map(|v| Box::new(v) as _),
        "EdDSA" => EdDSA.verifier_from_jwk(jwk).map(|v| Box::new(v) as _),
        other => return Err(format!("the algorithm {other} is not supported")),
    };
    v.map_err(|e| {
        format!(
            "the key {} does not fit {alg}: {e}",
            jwk.key_id().unwrap_or("?")
        )
    })
}

/// Why a signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureError {
    /// The header names a key the set does not hold (the signer's keys may have rotated).
    UnknownKey(String),
    /// Anything else: algorithm not allowed, malformed, or a signature that does not verify.
    Invalid(String),
}

impl std::fmt::Display for SignatureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnknownKey(kid) => write!(f, "signed with an unknown key id {kid:?}"),
            Self::Invalid(why) => f.write_str(why),
        }
    }
}

/// Checks a compact JWS against `keys` with one of `allowed` algorithms and answers its
/// claims and header. The key is chosen by the header's `kid`; without one, only a set of
/// exactly one key of the right type is used.
pub fn verify(
    token: &str,
    keys: &JwkSet,
    allowed: &[&str],
) -> Result<(Claims, Claims), SignatureError> {
    let header = header(token).map_err(SignatureError::Invalid)?;
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("none");
    if !allowed.contains(&alg) || !SIGNING_ALGS.contains(&alg) {
        return Err(SignatureError::Invalid(format!(
            "the algorithm {alg} is not allowed here"
        )));
    }
    let usable = |k: &&Jwk| k.key_use().is_none_or(|u| u == "sig");
    let jwk = match header.get("kid").and_then(Value::as_str) {
        Some(kid) => keys
            .get(kid)
            .into_iter()
            .find(usable)
            .ok_or_else(|| SignatureError::UnknownKey(kid.to_owned()))?,
        None => {
            let sig: Vec<&Jwk> = keys.keys().into_iter().filter(usable).collect();
            match sig.as_slice() {
                [one] => *one,
                _ => {
                    return Err(SignatureError::Invalid(
                        "the token names no key id and the signer has several keys".into(),
                    ));
                }
            }
        }
    };
    let verifier = verifier(alg, jwk).map_err(SignatureError::Invalid)?;
    let (payload, _) = josekit::jws::deserialize_compact(token, &*verifier)
        .map_err(|_| SignatureError::Invalid("the signature does not verify".into()))?;
    match serde_json::from_slice(&payload) {
        Ok(Value::Object(claims)) => Ok((claims, header)),
        _ => Err(SignatureError::Invalid(
            "the signed content is not a JSON object".into(),
        )),
    }
}

/// A key set from its JSON (`{"keys": [...]}`).
pub fn key_set(json: &Value) -> Result<JwkSet, String> {
    match json {
        Value::Object(m) => JwkSet::from_map(m.clone()).map_err(|e| format!("a key set: {e}")),
        _ => Err("a key set must be a JSON object".into()),
    }
}

/// Signs `claims` as a compact JWS with `signer`, its header naming `typ` and the key id.
pub fn sign(claims: &Value, typ: &str, signer: &dyn JwsSigner) -> Result<String, String> {
    let mut header = JwsHeader::new();
    header.set_token_type(typ);
    if let Some(kid) = signer.key_id() {
        header.set_key_id(kid);
    }
    let payload = serde_json::to_vec(claims).map_err(|e| e.to_string())?;
    josekit::jws::serialize_compact(&payload, &header, signer).map_err(|e| e.to_string())
}

/// Opens a compact JWE with whichever of `keys` its header names, allowing only
/// [`KEY_ENCS`] and [`CONTENT_ENCS`].
pub fn decrypt(token: &str, keys: &[(&str, &dyn JweDecrypter)]) -> Result<Vec<u8>, String> {
    let header = header(token)?;
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    let enc = header.get("enc").and_then(Value::as_str).unwrap_or("");
    if !KEY_ENCS.contains(&alg) || !CONTENT_ENCS.contains(&enc) {
        return Err(format!("the encryption {alg} with {enc} is not allowed"));
    }
    let kid = header.get("kid").and_then(Value::as_str);
    let candidates: Vec<&dyn JweDecrypter> = keys
        .iter()
        .filter(|(k, d)| d.algorithm().name() == alg && kid.is_none_or(|kid| kid == *k))
        .map(|(_, d)| *d)
        .collect();
    if candidates.is_empty() {
        return Err(format!(
            "encrypted to a key the hub does not hold ({})",
            kid.unwrap_or("no key id")
        ));
    }
    for d in candidates {
        if let Ok((plain, _)) = josekit::jwe::deserialize_compact(token, d) {
            return Ok(plain);
        }
    }
    Err("the encrypted answer does not open with the hub's keys".into())
}

/// The left half of the hash of `value` that fits `alg` (`at_hash`, OpenID Connect Core
/// 3.1.3.6).
pub fn half_hash(alg: &str, value: &str) -> Option<String> {
    use sha2::Digest as _;
    let digest: Vec<u8> = match alg.get(2..) {
        Some("256") => sha2::Sha256::digest(value.as_bytes()).to_vec(),
        Some("384") => sha2::Sha384::digest(value.as_bytes()).to_vec(),
        Some("512") => sha2::Sha512::digest(value.as_bytes()).to_vec(),
        // Ed25519 hashes with SHA-512 (the OpenID Foundation's errata for EdDSA).
        Some("DSA") if alg == "EdDSA" => sha2::Sha512::digest(value.as_bytes()).to_vec(),
        _ => return None,
    };
    Some(b64(&digest[..digest.len() / 2]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use josekit::jws::{ES256, RS256};

    #[test]
    fn a_signature_is_checked_against_the_named_key_and_the_allowed_algorithms() {
        let rsa = RS256.generate_key_pair(2048).unwrap();
        let ec = ES256.generate_key_pair().unwrap();
        let mut rsa_pub = rsa.to_jwk_public_key();
        rsa_pub.set_key_id("r1");
        let mut ec_pub = ec.to_jwk_public_key();
        ec_pub.set_key_id("e1");
        let mut set = JwkSet::new();
        set.push_key(rsa_pub);
        set.push_key(ec_pub);
        let mut signer = ES256.signer_from_jwk(&ec.to_jwk_private_key()).unwrap();
        signer.set_key_id("e1");
        let token = sign(&serde_json::json!({"sub": "x"}), "JWT", &signer).unwrap();
        let (claims, header) = verify(&token, &set, &["ES256", "RS256"]).unwrap();
        assert_eq!(claims["sub"], "x");
        assert_eq!(header["kid"], "e1");
        assert!(matches!(
            verify(&token, &set, &["RS256"]),
            Err(SignatureError::Invalid(_))
        ));
        signer.set_key_id("e2");
        let unknown = sign(&serde_json::json!({"sub": "x"}), "JWT", &signer).unwrap();
        assert_eq!(
            verify(&unknown, &set, &["ES256"]),
            Err(SignatureError::UnknownKey("e2".into()))
        );
        // The right key id on another key's signature.
        let mut forged = ES256
            .signer_from_jwk(&ES256.generate_key_pair().unwrap().to_jwk_private_key())
            .unwrap();
        forged.set_key_id("e1");
        let forged = sign(&serde_json::json!({"sub": "x"}), "JWT", &forged).unwrap();
        assert!(matches!(
            verify(&forged, &set, &["ES256"]),
            Err(SignatureError::Invalid(_))
        ));
        let none = format!("{}.{}.", b64(br#"{"alg":"none"}"#), b64(br#"{"sub":"x"}"#));
        assert!(verify(&none, &set, &["ES256", "RS256"]).is_err());
    }

    #[test]
    fn the_access_token_hash_is_the_left_half_of_the_algorithms_hash() {
        // OpenID Connect Core, appendix A.3's example: at_hash of its access token under RS256.
        assert_eq!(
            half_hash("RS256", "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y").as_deref(),
            Some("77QmUPtjPfzWtF2AnpK9RQ")
        );
        assert_eq!(half_hash("ES512", "x").unwrap().len(), 43);
        assert_eq!(half_hash("HS999", "x"), None);
    }
}
