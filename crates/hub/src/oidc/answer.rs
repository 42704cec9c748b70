//! What comes back from a provider or a federation entity: read within bounds, and why it
//! is refused, in the terms the visitor is told.

use serde_json::{Map, Value};

/// SPID's authentication levels, from the lowest; CIE id uses the same.
pub const SPID_LEVELS: [&str; 3] = [
    "https://www.spid.gov.it/SpidL1",
    "https://www.spid.gov.it/SpidL2",
    "https://www.spid.gov.it/SpidL3",
];

/// Clock difference tolerated with the provider.
pub(crate) const SKEW_SECONDS: i64 = 60;

/// The largest answer read from a provider or a federation entity.
pub(crate) const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// Why an identification did not complete, in the terms the visitor is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The provider (or the federation) did not answer, or answered with a server error.
    Unavailable(String),
    /// The visitor stopped at the provider.
    Cancelled,
    /// The provider refused the request (its error code).
    Provider(String),
    /// The authentication level is below the one asked for.
    Level(Option<String>),
    /// An answer failed a check (signature, audience, nonce, replay...).
    Invalid(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unavailable(why) => write!(f, "provider unavailable: {why}"),
            Self::Cancelled => f.write_str("cancelled at the provider"),
            Self::Provider(code) => write!(f, "the provider refused: {code}"),
            Self::Level(got) => write!(f, "authentication level too low: {got:?}"),
            Self::Invalid(why) => write!(f, "{why}"),
        }
    }
}

fn level_name(acr: &str) -> String {
    SPID_LEVELS
        .iter()
        .position(|l| *l == acr)
        .map_or_else(|| acr.to_owned(), |i| format!("livello {}", i + 1))
}

impl Refusal {
    /// Its name in the hub's figures (`/metrics`).
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Unavailable(_) => "unavailable",
            Self::Cancelled => "cancelled",
            Self::Provider(_) => "provider_refused",
            Self::Level(_) => "level_too_low",
            Self::Invalid(_) => "not_confirmed",
        }
    }

    /// The page's title and sentence for the visitor's phone.
    pub fn for_visitor(&self, asked: &str) -> (&'static str, String) {
        match self {
            Self::Unavailable(_) => (
                "Identificazione non disponibile",
                "Il servizio di identificazione non risponde. Riprovi tra poco dal chiosco.".into(),
            ),
            Self::Cancelled => (
                "Identificazione non riuscita",
                "L'accesso è stato annullato.".into(),
            ),
            Self::Provider(_) => (
                "Identificazione non riuscita",
                "Il servizio di identificazione ha rifiutato la richiesta.".into(),
            ),
            Self::Level(got) => (
                "Livello di sicurezza insufficiente",
                format!(
                    "L'accesso è avvenuto con {}, ma per il Cassetto serve almeno il {}: \
                     scelga SPID di {} o superiore, oppure la CIE.",
                    got.as_deref()
                        .map_or("un livello non indicato".into(), |g| format!(
                            "il {}",
                            level_name(g)
                        )),
                    level_name(asked),
                    level_name(asked),
                ),
            ),
            Self::Invalid(_) => (
                "Identificazione non riuscita",
                "L'identità non è stata confermata.".into(),
            ),
        }
    }
}

pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Reads at most [`MAX_ANSWER_BYTES`] of an answer.
pub(crate) async fn body(mut r: reqwest::Response) -> Result<Vec<u8>, Refusal> {
    let mut out = Vec::new();
    while let Some(chunk) = r
        .chunk()
        .await
        .map_err(|e| Refusal::Unavailable(e.to_string()))?
    {
        if out.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(Refusal::Invalid(
                "the provider's answer is too large".into(),
            ));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Sends `request` (to `what`, for the messages) and answers the response when its status
/// is a success: a server error or no answer is [`Refusal::Unavailable`], another status
/// [`Refusal::Invalid`].
pub(crate) async fn send(
    request: reqwest::RequestBuilder,
    what: &str,
) -> Result<reqwest::Response, Refusal> {
    let r = request
        .send()
        .await
        .map_err(|e| Refusal::Unavailable(format!("{what}: {e}")))?;
    let status = r.status();
    if status.is_server_error() {
        return Err(Refusal::Unavailable(format!("{what}: {status}")));
    }
    if !status.is_success() {
        return Err(Refusal::Invalid(format!("{what}: {status}")));
    }
    Ok(r)
}

/// GETs `url` and answers its body when the status is a success.
pub(crate) async fn get(http: &reqwest::Client, url: &str) -> Result<Vec<u8>, Refusal> {
    body(send(http.get(url), url).await?).await
}

pub(crate) fn str_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn claim_str<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}
