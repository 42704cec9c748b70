//! What this hub instance counts as it serves, for `/metrics` ([`crate::metrics`]).

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

/// What this instance counts as it serves.
#[derive(Default)]
pub struct Counts {
    /// Answers by route and status class.
    pub requests: Family<RequestLabels, Counter>,
    /// Identifications by how they ended ([`crate::oidc::Refusal::outcome`], or
    /// `identified`): a provider going wrong shows here before the phones' complaints.
    pub identifications: Family<OutcomeLabels, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

impl Counts {
    /// One identification more that ended as `outcome`.
    pub fn identification(&self, outcome: &str) {
        self.identifications
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_owned(),
            })
            .inc();
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route's template (`/v1/sync/push`), never the path itself: a path carries
    /// identifiers, and one series per path would grow without bound.
    route: String,
    /// `2xx`, `4xx`…
    status: String,
}

/// Counts every answer by route and status class.
pub async fn count(State(counts): State<Arc<Counts>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let response = next.run(request).await;
    let status = format!("{}xx", response.status().as_u16() / 100);
    counts
        .requests
        .get_or_create(&RequestLabels { route, status })
        .inc();
    response
}
