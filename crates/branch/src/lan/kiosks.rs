//! The node's side of its kiosks (`/node/v1/…`, [`protocol::lan`]): tickets, check-ins and
//! calls for staff from the branch's other kiosks, the leases they number from while the node
//! cannot be reached, and the tickets they printed then.
//!
//! Only the branch's kiosks, as the hub's feed lists them, are served: every request is
//! signed with the kiosk's enrolment key over its method, path and body. A device of another
//! sede, a revoked one or a forged signature gets the same `401`.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use ed25519_dalek::{Signature, VerifyingKey};

use super::state::{AppState, KioskReport, RECENT_REQUESTS};
use crate::node::{Adopted, Branch, NodeError};
use domain::{PersonKey, UserMessage};
use i18n::Localized;
use protocol::lan::{
    Block, CheckInRequest, Handed, IssueRequest, Issued, MAX_ABANDONED, MAX_HANDED, MAX_REQUEST_ID,
    Refusal, SyncRequest, SyncResponse, Taken,
};
use protocol::wire::{self, DEVICE_HEADER, DeviceRole, SIGNATURE_HEADER, TIME_HEADER};

fn unauthorized() -> Response {
    (StatusCode::UNAUTHORIZED, "unknown device or bad signature").into_response()
}

/// The kiosk that signed this request, if it is one of the branch's.
fn signer(branch: &Branch, headers: &HeaderMap, path: &str, body: &[u8]) -> Option<String> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let device = header(DEVICE_HEADER)?;
    let time: i64 = header(TIME_HEADER)?.parse().ok()?;
    let signature = wire::unhex(header(SIGNATURE_HEADER)?)
        .and_then(|s| <[u8; 64]>::try_from(s).ok())
        .map(|s| Signature::from_bytes(&s))?;
    let devices = branch
        .read(|_, s| s.branch_devices())
        .map_err(|e| tracing::error!(error = %e, "the branch's devices are unreadable"))
        .ok()?;
    let known = devices
        .into_iter()
        .find(|d| d.device_id == device && d.role == DeviceRole::Kiosk)?;
    let key = VerifyingKey::from_bytes(&known.public_key).ok()?;
    key.verify_strict(
        &wire::signing_message("POST", path, device, time, body),
        &signature,
    )
    .ok()?;
    Some(known.device_id)
}

fn refusal<E: UserMessage + Localized>(e: &E) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        axum::Json(Refusal::of(e.message_key(), &e.localized())),
    )
        .into_response()
}

fn failed(e: NodeError) -> Response {
    match e {
        NodeError::Store(_) => {
            tracing::error!(error = %e, "a kiosk's request failed");
            refusal(&e)
        }
        e => refusal(&e),
    }
}

fn person(hex: Option<&str>) -> Option<PersonKey> {
    let bytes = wire::unhex(hex?)?;
    Some(PersonKey(bytes.try_into().ok()?))
}

/// Runs `f` for the signing kiosk off the async workers (the node's lock and SQLite's fsync).
async fn as_kiosk<T: serde::de::DeserializeOwned + Send + 'static>(
    state: AppState,
    headers: HeaderMap,
    path: &'static str,
    body: Bytes,
    f: impl FnOnce(&Branch, String, T) -> Response + Send + 'static,
) -> Response {
    let branch = state.branch.clone();
    let run = move || {
        let Some(kiosk) = signer(&branch, &headers, path, &body) else {
            tracing::warn!(
                path,
                "a request not signed by a kiosk of this branch refused"
            );
            return unauthorized();
        };
        match serde_json::from_slice::<T>(&body) {
            Ok(request) => f(&branch, kiosk, request),
            Err(e) => (StatusCode::BAD_REQUEST, format!("not a request: {e}")).into_response(),
        }
    };
    tokio::task::spawn_blocking(run)
        .await
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn issued(branch: &Branch, ticket: domain::Ticket, reprint: bool) -> Response {
    let (ahead, wait) = branch.estimate(&ticket);
    axum::Json(Issued {
        ticket,
        reprint,
        ahead,
        wait,
    })
    .into_response()
}

/// `POST /node/v1/issue`.
pub(super) async fn issue(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let requests = state.requests.clone();
    as_kiosk(
        state,
        headers,
        protocol::lan::ISSUE,
        body,
        move |branch, kiosk, r: IssueRequest| match branch.issue_for(&kiosk, r.service, r.priority)
        {
            Ok(ticket) => {
                if let Some(id) = r.request.filter(|id| id.len() <= MAX_REQUEST_ID) {
                    let mut recent = requests.lock().unwrap_or_else(|p| p.into_inner());
                    if recent.len() >= RECENT_REQUESTS {
                        recent.pop_front();
                    }
                    recent.push_back((kiosk, id, ticket.number));
                }
                issued(branch, ticket, false)
            }
            Err(e) => failed(e),
        },
    )
    .await
}

/// `POST /node/v1/check-in`.
pub(super) async fn check_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    as_kiosk(
        state,
        headers,
        protocol::lan::CHECK_IN,
        body,
        |branch, kiosk, r: CheckInRequest| match branch.check_in_for(
            &kiosk,
            r.booking,
            person(r.person.as_deref()),
        ) {
            Ok(c) => issued(branch, c.ticket, c.already),
            Err(e) => failed(e),
        },
    )
    .await
}

/// `POST /node/v1/assist`.
pub(super) async fn assist(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    as_kiosk(
        state,
        headers,
        protocol::lan::ASSIST,
        body,
        |branch, kiosk, _: serde::de::IgnoredAny| match branch
            .execute(queue::Command::RequestAssistance { kiosk })
        {
            Ok(_) => StatusCode::NO_CONTENT.into_response(),
            Err(e) => failed(e),
        },
    )
    .await
}

/// `POST /node/v1/sync`.
pub(super) async fn sync(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let reports = state.kiosks.clone();
    let requests = state.requests.clone();
    as_kiosk(
        state,
        headers,
        protocol::lan::SYNC,
        body,
        move |branch, kiosk, r: SyncRequest| {
            if r.handed.len() > MAX_HANDED {
                return (
                    StatusCode::BAD_REQUEST,
                    format!("at most {MAX_HANDED} tickets a sync"),
                )
                    .into_response();
            }
            let taken: Vec<Taken> = r.handed.iter().map(|h| take(branch, &kiosk, h)).collect();
            for id in r.abandoned.iter().take(MAX_ABANDONED) {
                let ticket = requests
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .iter()
                    .find(|(k, r, _)| *k == kiosk && r == id)
                    .map(|(_, _, t)| *t);
                if let Some(ticket) = ticket {
                    match branch.unanswered(&kiosk, ticket) {
                        Ok(true) => tracing::info!(%kiosk, %ticket, "a walk-in whose answer never reached its kiosk withdrawn"),
                        Ok(false) => {}
                        Err(e) => tracing::warn!(error = %e, %ticket, "an unanswered walk-in not withdrawn"),
                    }
                }
            }
            let day = branch.read(|q, _| q.day());
            // Leases are for the node's day: what the kiosk has left of another day is nothing.
            let left = if r.day.is_some() && r.day == day {
                r.left.clone()
            } else {
                BTreeMap::new()
            };
            let leases = match branch.top_up_leases(&kiosk, &left) {
                Ok(l) => l,
                Err(e) => return failed(e),
            };
            let day = branch.read(|q, _| q.day());
            let refused = taken
                .iter()
                .filter(|t| matches!(t, Taken::Refused { .. }))
                .count() as u32;
            // What the kiosk holds once it has this answer's blocks.
            let mut holds = r.left;
            for l in &leases {
                *holds.entry(l.service).or_default() += l.last + 1 - l.first;
            }
            let report = KioskReport {
                at: branch.clock().now(),
                health: r.health,
                left: holds,
                refused,
            };
            reports
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(kiosk, report);
            axum::Json(SyncResponse {
                day,
                leases: leases
                    .into_iter()
                    .map(|l| Block {
                        service: l.service,
                        first: l.first,
                        last: l.last,
                    })
                    .collect(),
                taken,
                waiting: branch.read(|q, _| q.waiting_counts()),
            })
            .into_response()
        },
    )
    .await
}

/// Takes in one ticket a kiosk printed while cut off.
fn take(branch: &Branch, kiosk: &str, handed: &Handed) -> Taken {
    let ticket = handed.ticket.ticket;
    if handed.ticket.kiosk != kiosk {
        return Taken::Refused {
            ticket,
            reason: "handed over by another kiosk".into(),
        };
    }
    if branch.read(|q, _| q.day()) != Some(handed.business_day) {
        // A past day's ticket: its lease went with its day. The node keeps it in that day's
        // log (and so at the hub) as printed and closed, so no printed ticket goes missing.
        return match branch.record_past_offline(handed.business_day, &handed.ticket) {
            Ok(()) => Taken::Taken { ticket },
            Err(e) => Taken::Refused {
                ticket,
                reason: e.to_string(),
            },
        };
    }
    match branch.adopt(handed.ticket.clone(), person(handed.person.as_deref())) {
        Ok(Adopted::Taken | Adopted::Already) => Taken::Taken { ticket },
        Ok(Adopted::Duplicate { first }) => Taken::Duplicate { ticket, first },
        Err(e) => {
            tracing::error!(%kiosk, %ticket, error = %e, "a ticket printed offline was not taken");
            Taken::Refused {
                ticket,
                reason: e.to_string(),
            }
        }
    }
}
