//! Who is asking, checked before a handler runs. Each extractor answers the request itself
//! when the check fails, so a handler that takes one only ever sees a caller who passed it:
//!
//! - [`Signed`]: a request an enrolled, unrevoked kiosk signed — method, path, query and body
//!   taken from the request as it arrived, never retyped by a handler;
//! - [`Visitor`]: a signed request about the kiosk's own hand-off `{id}`, whose visitor is
//!   identified and whose binding is live;
//! - [`Delegated`]: a visitor's request about `{matricola}`, a company the visitor may act for;
//! - [`ClientIp`]: the address a request came from, through the trusted load balancers.
//!
//! Whatever is not the caller's is the same bare 404 ([`HubError::NotFound`]), so a kiosk
//! cannot learn which hand-offs, matricole, requests or bookings exist.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use deadpool_postgres::{GenericClient, Object};
use ipnet::IpNet;
use serde::de::DeserializeOwned;

use crate::devices::{self, Device};
use crate::{HubError, HubState};

/// The address a request came from: the TCP peer, or, when the peer is one of the configured
/// load balancers (`hub.trusted_proxies`), the address they name in `X-Forwarded-For`. The
/// header is read from its right end, past every trusted hop, so a client that writes its own
/// header gains nothing: the first address no trusted proxy vouches for is the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<HubState> for ClientIp {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &HubState) -> Result<Self, Response> {
        let ConnectInfo(peer) = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .copied()
            .ok_or_else(|| HubError::internal("client address", "no peer").into_response())?;
        Ok(Self(client_ip(
            peer.ip(),
            &parts.headers,
            &state.trusted_proxies,
        )))
    }
}

/// [`ClientIp`]'s rule, on its own.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(&ip.to_canonical()));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) => {
                client = ip.to_canonical();
                if !is_trusted(&client) {
                    break;
                }
            }
            // Garbage in the chain: nothing left of it can be believed; the last good hop is
            // the nearest one a trusted proxy vouched for.
            Err(_) => break,
        }
    }
    client
}

/// A request an enrolled kiosk signed.
pub struct Signed {
    /// The kiosk.
    pub device: Device,
    /// The body it signed.
    pub body: Bytes,
    /// The database connection the signature was checked with; the handler goes on with it.
    pub db: Object,
}

impl Signed {
    /// The body as JSON of `T`; `what` names it in the 400 when it is not.
    pub fn json<T: DeserializeOwned>(&self, what: &str) -> Result<T, HubError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| HubError::BadRequest(format!("not {what}: {e}")))
    }
}

impl FromRequest<HubState> for Signed {
    type Rejection = Response;

    async fn from_request(req: Request, state: &HubState) -> Result<Self, Response> {
        let method = req.method().clone();
        let uri = req.uri();
        let path = uri
            .path_and_query()
            .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned());
        let headers = req.headers().clone();
        // Through axum's own extractor, so the body limit and its 413 stay axum's.
        let body = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let checked = async {
            let db = state.pool.get().await?;
            let device =
                devices::authenticate(&db, &headers, method.as_str(), &path, &body).await?;
            Ok::<_, HubError>(Self { device, body, db })
        };
        checked.await.map_err(IntoResponse::into_response)
    }
}

/// A signed request about the kiosk's hand-off `{id}`, bound to an identified visitor.
pub struct Visitor {
    /// The kiosk's signed request.
    pub request: Signed,
    /// The hand-off.
    pub handoff: uuid::Uuid,
    /// The visitor's codice fiscale, as the identity provider gave it.
    pub person_cf: domain::PersonalCf,
}

impl FromRequest<HubState> for Visitor {
    type Rejection = Response;

    async fn from_request(req: Request, state: &HubState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let id = path_param(&mut parts, state, "id").await?;
        let request = Signed::from_request(Request::from_parts(parts, body), state).await?;
        let bound = async {
            let handoff = uuid::Uuid::parse_str(&id).map_err(|_| HubError::NotFound)?;
            let person_cf = bound_person(&request.db, &request.device, handoff)
                .await?
                .ok_or(HubError::NotFound)?;
            Ok::<_, HubError>((handoff, person_cf))
        };
        let (handoff, person_cf) = bound.await.map_err(IntoResponse::into_response)?;
        Ok(Self {
            request,
            handoff,
            person_cf,
        })
    }
}

/// A visitor's request about `{matricola}`, a company they are delegated for.
pub struct Delegated {
    /// The visitor.
    pub visitor: Visitor,
    /// The company's matricola.
    pub matricola: domain::Matricola,
}

impl FromRequest<HubState> for Delegated {
    type Rejection = Response;

    async fn from_request(req: Request, state: &HubState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let matricola = path_param(&mut parts, state, "matricola").await?;
        let visitor = Visitor::from_request(Request::from_parts(parts, body), state).await?;
        // A malformed matricola is no more theirs than another company's: the same 404.
        let matricola =
            domain::Matricola::parse(&matricola).map_err(|_| HubError::NotFound.into_response())?;
        let delegated = visitor
            .request
            .db
            .query_opt(
                "SELECT 1 FROM delegation WHERE person_cf = $1 AND matricola = $2",
                &[&visitor.person_cf.as_str(), &matricola.as_str()],
            )
            .await
            .map_err(|e| HubError::from(e).into_response())?;
        if delegated.is_none() {
            return Err(HubError::NotFound.into_response());
        }
        Ok(Self { visitor, matricola })
    }
}

/// The route's parameter `name`; a route without it is the code's mistake, not the caller's.
async fn path_param(
    parts: &mut axum::http::request::Parts,
    state: &HubState,
    name: &str,
) -> Result<String, Response> {
    let params = RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(IntoResponse::into_response)?;
    params
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .ok_or_else(|| {
            HubError::Internal(format!("the route has no {{{name}}} parameter")).into_response()
        })
}

/// The bound visitor of a kiosk's hand-off, if it is live and that kiosk's.
async fn bound_person(
    db: &impl GenericClient,
    device: &Device,
    handoff: uuid::Uuid,
) -> Result<Option<domain::PersonalCf>, HubError> {
    let row = db
        .query_opt(
            "SELECT person_cf FROM handoff
             WHERE branch_id = $1 AND id = $2 AND device_id = $3 AND ended_at IS NULL
               AND session_expires_at > now()",
            &[&device.branch, &handoff, &device.device_id],
        )
        .await?;
    row.and_then(|r| r.get::<_, Option<String>>(0))
        .map(|cf| {
            domain::PersonalCf::parse(&cf).map_err(|e| HubError::internal("stored person_cf", e))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_client_is_the_first_address_no_trusted_proxy_vouches_for() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let balancers: Vec<IpNet> = vec!["10.0.0.0/24".parse().unwrap()];
        // Straight from the internet: the header is the client's own words.
        assert_eq!(
            client_ip(ip("198.51.100.7"), &forwarded(&["203.0.113.1"]), &balancers),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_ip(ip("10.0.0.5"), &forwarded(&["203.0.113.1"]), &balancers),
            ip("203.0.113.1")
        );
        // A client that sends its own header cannot pick its address: the balancer appends.
        assert_eq!(
            client_ip(
                ip("10.0.0.5"),
                &forwarded(&["1.2.3.4, 203.0.113.1", "10.0.0.9"]),
                &balancers
            ),
            ip("203.0.113.1")
        );
        assert_eq!(
            client_ip(
                ip("10.0.0.5"),
                &forwarded(&["203.0.113.1, nonsense"]),
                &balancers
            ),
            ip("10.0.0.5")
        );
        assert_eq!(
            client_ip(ip("10.0.0.5"), &HeaderMap::new(), &balancers),
            ip("10.0.0.5")
        );
        assert_eq!(
            client_ip(
                ip("::ffff:10.0.0.5"),
                &forwarded(&["2001:db8::1"]),
                &balancers
            ),
            ip("2001:db8::1")
        );
        assert_eq!(
            client_ip(ip("10.0.0.5"), &forwarded(&["203.0.113.1"]), &[]),
            ip("10.0.0.5")
        );
    }
}
