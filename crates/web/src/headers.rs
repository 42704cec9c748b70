//! The headers both servers put on every answer, whatever their pages' own policy.

use http::{HeaderMap, HeaderValue, StatusCode, header};

/// What every answer of either server carries: no content sniffing, no referrer outside the
/// server, and nothing kept by a cache unless the handler said otherwise (a temporary password,
/// a visitor's Cassetto must not outlive the page). `csp` is the server's content policy.
///
/// A request refused for its size (413) leaves its body unread on the connection, so the server
/// closes it; saying so in `Connection: close` keeps the client from sending its next request
/// down a connection that is about to go, which it would see as a broken message.
pub fn apply(status: StatusCode, h: &mut HeaderMap, csp: &'static str) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
}

/// The content type of a Prometheus scrape's answer (OpenMetrics text).
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Whether the request carries `Authorization: Bearer <token>` with this token (compared as
/// [`crate::auth::same_secret`] does: the time says nothing of the token).
pub fn bearer_is(h: &HeaderMap, token: &str) -> bool {
    let given = h
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    crate::auth::same_secret(given, token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handler_s_cache_policy_is_kept_and_a_refused_body_closes() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("max-age=60"),
        );
        apply(StatusCode::OK, &mut h, "default-src 'none'");
        assert_eq!(h[header::CACHE_CONTROL], "max-age=60");
        assert!(!h.contains_key(header::CONNECTION));

        let mut h = HeaderMap::new();
        apply(StatusCode::PAYLOAD_TOO_LARGE, &mut h, "default-src 'none'");
        assert_eq!(h[header::CACHE_CONTROL], "no-store");
        assert_eq!(h[header::CONNECTION], "close");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    }
}
