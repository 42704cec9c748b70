//! OpenID Federation 1.0, as far as a relying party of the Italian federation needs it:
//!
//! - the hub's own entity configuration, self-signed, at `/.well-known/openid-federation`,
//!   naming its authorities and carrying its trust marks and relying-party metadata;
//! - the provider's metadata taken only from a trust chain that ends at the configured trust
//!   anchor, whose keys are pinned in the configuration: the provider's entity
//!   configuration, the statement its superior signed about it (whose keys must verify it),
//!   and so on up to the anchor; metadata policies applied from the top; the chain expires
//!   with its first statement to expire.
//!
//! Every fetch is bounded (depth, number of authorities, size, time): the chain is built
//! from answers of entities that are not trusted yet.

use josekit::jwk::JwkSet;
use serde_json::{Map, Value};

use super::answer::{Refusal, SKEW_SECONDS, claim_str, get, now, str_list};
use super::jose;

/// Authorities above the provider the hub will walk through before the anchor.
const MAX_DEPTH: usize = 4;

/// Authority hints followed from one entity.
const MAX_HINTS: usize = 4;

/// How long the hub's entity configuration says it is valid.
pub const ENTITY_SECONDS: i64 = 24 * 3600;

/// What the hub trusts in the federation, and says of itself there.
#[derive(Debug, Clone)]
pub struct Trust {
    pub anchor: String,
    pub anchor_keys: JwkSet,
    pub authority_hints: Vec<String>,
    /// Trust marks issued to the hub (signed JWTs).
    pub trust_marks: Vec<String>,
    /// Trust mark ids a provider must carry, signed by the anchor.
    pub required_marks: Vec<String>,
    pub organization_name: String,
    pub contacts: Vec<String>,
}

/// A resolved chain: the provider's metadata after the policies, and when it expires.
#[derive(Debug, Clone)]
pub struct Chain {
    pub metadata: Map<String, Value>,
    pub expires: i64,
}

fn invalid(why: impl Into<String>) -> Refusal {
    Refusal::Invalid(why.into())
}

fn well_known(entity: &str) -> String {
    format!(
        "{}/.well-known/openid-federation",
        entity.trim_end_matches('/')
    )
}

fn same_entity(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// A statement's claims once its signature is checked with `keys`, its times checked too.
fn checked(token: &str, keys: &JwkSet, what: &str) -> Result<Map<String, Value>, Refusal> {
    let (claims, header) = jose::verify(token, keys, jose::SIGNING_ALGS)
        .map_err(|e| invalid(format!("{what}: {e}")))?;
    if header
        .get("typ")
        .and_then(Value::as_str)
        .is_some_and(|t| t != "entity-statement+jwt")
    {
        return Err(invalid(format!("{what}: not an entity statement")));
    }
    let t = now();
    if claims
        .get("exp")
        .and_then(Value::as_i64)
        .is_none_or(|e| e < t)
    {
        return Err(invalid(format!("{what}: expired")));
    }
    if claims
        .get("iat")
        .and_then(Value::as_i64)
        .is_none_or(|i| i > t + SKEW_SECONDS)
    {
        return Err(invalid(format!("{what}: issued in the future")));
    }
    Ok(claims)
}

fn keys_of(claims: &Map<String, Value>, what: &str) -> Result<JwkSet, Refusal> {
    jose::key_set(
        claims
            .get("jwks")
            .ok_or_else(|| invalid(format!("{what}: no keys")))?,
    )
    .map_err(|e| invalid(format!("{what}: {e}")))
}

/// An entity's configuration, checked with the keys it carries, and the raw token.
async fn entity_configuration(
    http: &reqwest::Client,
    entity: &str,
) -> Result<(Map<String, Value>, String), Refusal> {
    let token = String::from_utf8(get(http, &well_known(entity)).await?)
        .map_err(|_| invalid(format!("{entity}: not text")))?;
    let token = token.trim().to_owned();
    let what = format!("entity configuration of {entity}");
    let unverified =
        jose::unverified_claims(&token).map_err(|e| invalid(format!("{what}: {e}")))?;
    let claims = checked(&token, &keys_of(&unverified, &what)?, &what)?;
    if !(claim_str(&claims, "iss").is_some_and(|i| same_entity(i, entity))
        && claim_str(&claims, "sub").is_some_and(|s| same_entity(s, entity)))
    {
        return Err(invalid(format!("{what}: it names another entity")));
    }
    Ok((claims, token))
}

/// Resolves `entity`'s chain up to the anchor: its metadata after the superiors' policies,
/// and the chain's expiry.
pub async fn resolve(
    http: &reqwest::Client,
    trust: &Trust,
    entity: &str,
) -> Result<Chain, Refusal> {
    let (config, token) = entity_configuration(http, entity).await?;
    let metadata = config
        .get("metadata")
        .and_then(|m| m.get("openid_provider"))
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| invalid(format!("{entity} is not an OpenID provider")))?;
    let expires = config.get("exp").and_then(Value::as_i64).unwrap_or(0);
    let (policies, up_expires) =
        Box::pin(up(http, trust, entity, &config, &token, MAX_DEPTH)).await?;
    // Only once the chain holds: the marks are checked with the anchor's keys.
    for id in &trust.required_marks {
        carries_mark(&config, entity, id, trust)?;
    }
    let mut metadata = metadata;
    // From the anchor down: each superior's policy narrows what the next allowed.
    for policy in policies.iter().rev() {
        metadata = apply_policy(metadata, policy).map_err(invalid)?;
    }
    Ok(Chain {
        metadata,
        expires: expires.min(up_expires),
    })
}

/// Whether `entity`'s configuration carries the trust mark `id`, signed by the anchor's keys,
/// naming the entity and not expired.
fn carries_mark(
    config: &Map<String, Value>,
    entity: &str,
    id: &str,
    trust: &Trust,
) -> Result<(), Refusal> {
    let marks = config
        .get("trust_marks")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for mark in marks {
        let named = [mark.get("trust_mark_id"), mark.get("id")]
            .into_iter()
            .flatten()
            .any(|m| m.as_str() == Some(id));
        let Some(token) = mark
            .get("trust_mark")
            .and_then(Value::as_str)
            .filter(|_| named)
        else {
            continue;
        };
        let Ok((claims, _)) = jose::verify(token, &trust.anchor_keys, jose::SIGNING_ALGS) else {
            continue;
        };
        let claimed = [claims.get("trust_mark_id"), claims.get("id")]
            .into_iter()
            .flatten()
            .any(|m| m.as_str() == Some(id));
        let expired = claims
            .get("exp")
            .and_then(Value::as_i64)
            .is_some_and(|e| e < now());
        if claimed && !expired && claim_str(&claims, "sub").is_some_and(|s| same_entity(s, entity))
        {
            return Ok(());
        }
    }
    Err(invalid(format!(
        "{entity} does not carry the trust mark {id} signed by the anchor"
    )))
}

/// The chain from `entity` (whose configuration is `config`, as `token`) to the anchor:
/// the policies met, nearest first, and the earliest expiry.
async fn up(
    http: &reqwest::Client,
    trust: &Trust,
    entity: &str,
    config: &Map<String, Value>,
    token: &str,
    depth: usize,
) -> Result<(Vec<Map<String, Value>>, i64), Refusal> {
    let hints = str_list(config.get("authority_hints"));
    if hints.is_empty() {
        return Err(invalid(format!("{entity} names no authority")));
    }
    let mut last = invalid(format!("no chain from {entity} to {}", trust.anchor));
    for hint in hints.iter().take(MAX_HINTS) {
        match step(http, trust, entity, token, hint, depth).await {
            Ok(found) => return Ok(found),
            Err(e @ Refusal::Unavailable(_)) | Err(e @ Refusal::Invalid(_)) => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

async fn step(
    http: &reqwest::Client,
    trust: &Trust,
    entity: &str,
    token: &str,
    authority: &str,
    depth: usize,
) -> Result<(Vec<Map<String, Value>>, i64), Refusal> {
    let is_anchor = same_entity(authority, &trust.anchor);
    if !is_anchor && depth == 0 {
        return Err(invalid("the chain is too long"));
    }
    let (auth_config, auth_token) = entity_configuration(http, authority).await?;
    if is_anchor {
        // The anchor's configuration must be signed with the keys the hub was given.
        checked(
            &auth_token,
            &trust.anchor_keys,
            "the trust anchor's configuration",
        )?;
    }
    let fetch = auth_config
        .get("metadata")
        .and_then(|m| m.get("federation_entity"))
        .and_then(|m| m.get("federation_fetch_endpoint"))
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("{authority} has no fetch endpoint")))?;
    let sep = if fetch.contains('?') { '&' } else { '?' };
    let url = format!(
        "{fetch}{sep}{}",
        serde_urlencoded::to_string([("sub", entity)]).map_err(|e| invalid(e.to_string()))?
    );
    let statement = String::from_utf8(get(http, &url).await?)
        .map_err(|_| invalid(format!("{authority}: not text")))?;
    let authority_keys = if is_anchor {
        trust.anchor_keys.clone()
    } else {
        keys_of(&auth_config, authority)?
    };
    let what = format!("{authority}'s statement about {entity}");
    let statement = checked(statement.trim(), &authority_keys, &what)?;
    if !(claim_str(&statement, "iss").is_some_and(|i| same_entity(i, authority))
        && claim_str(&statement, "sub").is_some_and(|s| same_entity(s, entity)))
    {
        return Err(invalid(format!("{what}: it names other entities")));
    }
    // The link: the superior vouches for the keys that signed the entity's configuration.
    checked(
        token,
        &keys_of(&statement, &what)?,
        &format!("{entity} under {what}"),
    )?;
    let mut policies = Vec::new();
    if let Some(Value::Object(p)) = statement
        .get("metadata_policy")
        .and_then(|m| m.get("openid_provider"))
    {
        policies.push(p.clone());
    }
    let mut expires = statement.get("exp").and_then(Value::as_i64).unwrap_or(0);
    if is_anchor {
        let anchor_exp = auth_config.get("exp").and_then(Value::as_i64).unwrap_or(0);
        return Ok((policies, expires.min(anchor_exp)));
    }
    let (above, above_exp) = Box::pin(up(
        http,
        trust,
        authority,
        &auth_config,
        &auth_token,
        depth - 1,
    ))
    .await?;
    policies.extend(above);
    expires = expires.min(above_exp);
    Ok((policies, expires))
}

fn as_set(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    }
}

/// OpenID Federation's metadata policy operators on one entity's metadata: `value`, `add`,
/// `default`, `one_of`, `subset_of`, `superset_of` and `essential`.
pub fn apply_policy(
    mut metadata: Map<String, Value>,
    policy: &Map<String, Value>,
) -> Result<Map<String, Value>, String> {
    for (claim, ops) in policy {
        let Some(ops) = ops.as_object() else {
            return Err(format!("the policy of {claim} is not an object"));
        };
        for op in ops.keys() {
            if !matches!(
                op.as_str(),
                "value" | "add" | "default" | "one_of" | "subset_of" | "superset_of" | "essential"
            ) {
                return Err(format!("unknown policy operator {op} on {claim}"));
            }
        }
        if let Some(v) = ops.get("value") {
            if v.is_null() {
                metadata.remove(claim);
            } else {
                metadata.insert(claim.clone(), v.clone());
            }
        }
        if let Some(add) = ops.get("add") {
            let mut have = metadata.get(claim).map(as_set).unwrap_or_default();
            for a in as_set(add) {
                if !have.contains(&a) {
                    have.push(a);
                }
            }
            metadata.insert(claim.clone(), Value::Array(have));
        }
        if let Some(d) = ops.get("default") {
            metadata.entry(claim.clone()).or_insert_with(|| d.clone());
        }
        if let Some(one_of) = ops.get("one_of")
            && let Some(v) = metadata.get(claim)
            && !as_set(one_of).contains(v)
        {
            return Err(format!("{claim} = {v} is not one of {one_of}"));
        }
        if let Some(subset) = ops.get("subset_of")
            && let Some(v) = metadata.get(claim).cloned()
        {
            let allowed = as_set(subset);
            let kept: Vec<Value> = as_set(&v)
                .into_iter()
                .filter(|x| allowed.contains(x))
                .collect();
            if kept.is_empty() {
                metadata.remove(claim);
            } else {
                metadata.insert(claim.clone(), Value::Array(kept));
            }
        }
        if let Some(superset) = ops.get("superset_of")
            && let Some(v) = metadata.get(claim)
        {
            let have = as_set(v);
            if !as_set(superset).iter().all(|x| have.contains(x)) {
                return Err(format!("{claim} must include {superset}"));
            }
        }
        if ops.get("essential") == Some(&Value::Bool(true)) && !metadata.contains_key(claim) {
            return Err(format!("{claim} is essential and missing"));
        }
    }
    Ok(metadata)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn metadata_policies_narrow_set_and_refuse_as_the_specification_says() {
        let metadata = obj(json!({
            "id_token_signing_alg_values_supported": ["RS256", "ES256", "HS256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic"],
            "userinfo_encryption_enc_values_supported": ["A256CBC-HS512"],
        }));
        let policy = obj(json!({
            "id_token_signing_alg_values_supported": {"subset_of": ["RS256", "ES256", "ES384"]},
            "token_endpoint_auth_methods_supported": {"value": ["private_key_jwt"]},
            "organization_name": {"default": "Ente"},
            "contacts": {"add": ["ops@example.it"]},
            "userinfo_encryption_enc_values_supported": {"superset_of": ["A256CBC-HS512"]},
        }));
        let out = apply_policy(metadata.clone(), &policy).unwrap();
        assert_eq!(
            out["id_token_signing_alg_values_supported"],
            json!(["RS256", "ES256"])
        );
        assert_eq!(
            out["token_endpoint_auth_methods_supported"],
            json!(["private_key_jwt"])
        );
        assert_eq!(out["organization_name"], "Ente");
        assert_eq!(out["contacts"], json!(["ops@example.it"]));

        let e = apply_policy(
            metadata.clone(),
            &obj(json!({"userinfo_encryption_enc_values_supported": {"superset_of": ["A128CBC-HS256"]}})),
        )
        .unwrap_err();
        assert!(e.contains("must include"), "{e}");
        let e = apply_policy(
            metadata.clone(),
            &obj(json!({"jwks_uri": {"essential": true}})),
        )
        .unwrap_err();
        assert!(e.contains("essential"), "{e}");
        let e = apply_policy(metadata, &obj(json!({"x": {"regexp": "."}}))).unwrap_err();
        assert!(e.contains("unknown policy operator"), "{e}");
    }
}
