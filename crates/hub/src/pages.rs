//! What every server-rendered page of the hub shares: an askama page as the answer, and the
//! short Italian page the visitor's phone gets when there is nothing more to show.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::HubError;

/// A rendered page, or a 500 that says the template broke.
pub fn html(t: impl Template) -> Response {
    match t.render() {
        Ok(s) => Html(s).into_response(),
        Err(e) => HubError::internal("template", e).into_response(),
    }
}

/// The value of the cookie `name` the browser sent, if any.
pub fn cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| web::auth::cookie_value(c, name))
        .map(str::to_owned)
}

/// A page for the phone: a heading and a sentence, in Italian.
pub fn phone_page(status: StatusCode, title: &str, text: &str) -> Response {
    let esc = |s: &str| {
        askama::filters::escape(s, askama::filters::Html)
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    (
        status,
        Html(format!(
            "<!doctype html><html lang=\"it\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{t}</title><style>body{{font-family:system-ui,sans-serif;margin:1.5rem;\
             font-size:1.25rem;color:#17324d}}h1{{font-size:1.5rem}}</style></head>\
             <body><h1>{t}</h1><p>{x}</p></body></html>",
            t = esc(title),
            x = esc(text)
        )),
    )
        .into_response()
}
