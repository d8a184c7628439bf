//! The filtered stream's HTTP handlers.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::Endpoint;
use super::connection::{self, Slot};
use super::rules::{self, RulesRequest};
use crate::app::{
    AppState, add_rate_headers, bearer, invalid_request, json_response, lock, now_ms, unauthorized,
};
use crate::limits::RateHeaders;
use crate::params::ParamError;

/// The caller's app as (secret, label); `None` (answer 401) for a missing, unknown or revoked
/// token.
fn authenticate(state: &AppState, headers: &HeaderMap) -> Option<(String, String)> {
    let secret = bearer(headers)?;
    let tokens = lock(&state.tokens);
    let token = tokens.get(secret)?;
    let revoked = state
        .faults
        .read()
        .map(|f| f.revoked_tokens.contains(&token.name))
        .unwrap_or(false);
    (!revoked).then(|| (secret.to_string(), token.name.clone()))
}

fn problem(status: StatusCode, body: serde_json::Value, rate: RateHeaders) -> Response {
    json_response(status, &body, Some(rate))
}

/// X's answer to a request past its endpoint's window.
fn too_many_requests(rate: RateHeaders) -> Response {
    json_response(
        StatusCode::TOO_MANY_REQUESTS,
        &json!({"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429}),
        Some(rate),
    )
}

fn with_rate(mut response: Response, rate: RateHeaders) -> Response {
    add_rate_headers(response.headers_mut(), rate);
    response
}

fn one_error(parameter: &str, value: &str, message: String) -> Vec<ParamError> {
    vec![ParamError {
        parameters: vec![(parameter.to_string(), vec![value.to_string()])],
        message,
    }]
}

/// `GET /2/tweets/search/stream/rules[?ids=1,2]`.
pub(crate) async fn get_rules(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let (_, token) = match authenticate(&state, &headers) {
        Some(app) => app,
        None => return unauthorized(),
    };
    let rate = match state.streams.admit(&token, Endpoint::RuleLookups, now_ms()) {
        Ok(rate) => rate,
        Err(rate) => return too_many_requests(rate),
    };
    let mut ids: Option<Vec<u64>> = None;
    for (name, value) in &pairs {
        if name != "ids" {
            return invalid_request(
                &one_error(
                    name,
                    value,
                    format!("The query parameter [{name}] is not one of [ids]"),
                ),
                Some(rate),
            );
        }
        let mut parsed = Vec::new();
        for id in value.split(',') {
            match id.parse::<u64>() {
                Ok(n) if !id.is_empty() && id.len() <= 19 => parsed.push(n),
                _ => {
                    return invalid_request(
                        &one_error(
                            "ids",
                            id,
                            format!(
                                "The `ids` query parameter value [{id}] does not match ^[0-9]{{1,19}}$"
                            ),
                        ),
                        Some(rate),
                    );
                }
            }
        }
        ids.get_or_insert_with(Vec::new).extend(parsed);
    }
    let set = state.streams.rules_of(&token);
    let body = rules::list(&set, ids.as_deref(), now_ms());
    json_response(StatusCode::OK, &body, Some(rate))
}

/// `POST /2/tweets/search/stream/rules[?dry_run=true]` with `{"add":[...]}` or
/// `{"delete":{"ids":[...]}}` / `{"delete":{"values":[...]}}`.
pub(crate) async fn post_rules(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
    body: String,
) -> Response {
    let (_, token) = match authenticate(&state, &headers) {
        Some(app) => app,
        None => return unauthorized(),
    };
    let rate = match state.streams.admit(&token, Endpoint::RuleChanges, now_ms()) {
        Ok(rate) => rate,
        Err(rate) => return too_many_requests(rate),
    };
    let mut dry_run = false;
    for (name, value) in &pairs {
        match (name.as_str(), value.as_str()) {
            ("dry_run", "true") => dry_run = true,
            ("dry_run", "false") => dry_run = false,
            ("dry_run", _) => {
                return invalid_request(
                    &one_error(
                        name,
                        value,
                        format!(
                            "The `dry_run` query parameter value [{value}] is not one of [true,false]"
                        ),
                    ),
                    Some(rate),
                );
            }
            _ => {
                return invalid_request(
                    &one_error(
                        name,
                        value,
                        format!("The query parameter [{name}] is not one of [dry_run]"),
                    ),
                    Some(rate),
                );
            }
        }
    }
    let request: RulesRequest = match serde_json::from_str(&body) {
        Ok(request) => request,
        Err(e) => {
            return invalid_request(
                &[ParamError {
                    parameters: vec![],
                    message: format!("The request body is not a valid rules request: {e}"),
                }],
                Some(rate),
            );
        }
    };
    let now = now_ms();
    let streams = &state.streams;
    let answer = match (request.add, request.delete) {
        (Some(add), None) if !add.is_empty() => streams.change_rules(&token, |current, ids| {
            rules::add(
                current,
                &add,
                streams.limits,
                streams.access_level,
                dry_run,
                now,
                ids,
            )
        }),
        (None, Some(delete)) if !(delete.ids.is_empty() && delete.values.is_empty()) => streams
            .change_rules(&token, |current, _| {
                rules::delete(current, &delete, dry_run, now)
            }),
        _ => {
            return invalid_request(
                &[ParamError {
                    parameters: vec![],
                    message: "The request body must hold either a non-empty `add` list or a `delete` object with `ids` or `values`, not both".into(),
                }],
                Some(rate),
            );
        }
    };
    tracing::info!(token = %token, status = answer.status, dry_run, "stream rules changed");
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    json_response(status, &answer.body, Some(rate))
}

/// `GET /2/tweets/search/stream`: the long-lived connection.
pub(crate) async fn connect(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let (secret, token) = match authenticate(&state, &headers) {
        Some(app) => app,
        None => return unauthorized(),
    };
    let rate = match state.streams.admit(&token, Endpoint::Connect, now_ms()) {
        Ok(rate) => rate,
        Err(rate) => return too_many_requests(rate),
    };
    let attempt = state
        .streams
        .connect_attempts
        .fetch_add(1, Ordering::Relaxed);
    let rejecting = state
        .faults
        .read()
        .map(|f| f.stream.reject_connects.clone())
        .unwrap_or_default();
    if rejecting.is_some_and(|burst| burst.hits(attempt)) {
        state.streams.count(&token, |s| s.refused_injected += 1);
        return too_many_requests(rate);
    }
    let capped = lock(&state.tokens)
        .get_mut(&secret)
        .is_some_and(|t| t.limits.usage_capped(now_ms()));
    if capped {
        return problem(
            StatusCode::TOO_MANY_REQUESTS,
            json!({
                "title": "UsageCapExceeded",
                "detail": "Usage cap exceeded: Monthly product cap",
                "type": "https://api.twitter.com/2/problems/usage-capped",
                "period": "Monthly",
                "scope": "Product"
            }),
            rate,
        );
    }
    let params = match connection::parse_params(&pairs) {
        Ok(params) => params,
        Err(errors) => return invalid_request(&errors, Some(rate)),
    };
    let Some(slot) = Slot::take(&state, &token) else {
        tracing::info!(token = %token, "stream connection refused: the app's connections are in use");
        return problem(
            StatusCode::TOO_MANY_REQUESTS,
            json!({
                "title": "ConnectionException",
                "detail": "This stream is currently at the maximum allowed connection limit.",
                "connection_issue": "TooManyConnections",
                "type": "https://api.twitter.com/2/problems/streaming-connection"
            }),
            rate,
        );
    };
    tracing::info!(token = %token, backfill_minutes = params.backfill_minutes, "stream connection opened");
    let body = connection::open(state.clone(), slot, secret, params);
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    with_rate(response, rate)
}
