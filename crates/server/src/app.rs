//! The router and the edge middleware: request ids, per-IP limiting, `x-ratelimit-*`
//! headers on every response, one log line per request, and the Auth0 content type.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::Router;
use hookhaven_core::Scope;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::ratelimit::Decision;
use crate::routes;
use crate::state::AppState;

/// The id of the request, also sent back as `x-request-id` and written to the audit log.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The address the request came from, as the edge saw it.
#[derive(Debug, Clone)]
pub struct ClientIp(pub String);

/// Where the auth layer leaves the per-client limiter's decision, so that the edge can
/// report that bucket in the response headers.
#[derive(Debug, Clone, Default)]
pub struct RateLimitSlot(Arc<Mutex<Option<Decision>>>);

impl RateLimitSlot {
    pub fn set(&self, d: Decision) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(d);
    }
    fn get(&self) -> Option<Decision> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One Management API route: the single source of truth for its path, method and the
/// scopes that open it. The router is built from this table, and the scope-matrix test
/// reads it, so a new route cannot go untested.
pub struct ApiRoute {
    pub method: Method,
    pub path: &'static str,
    /// Any one of these scopes opens the route.
    pub scopes: &'static [Scope],
    pub handler: MethodRouter<AppState>,
}

/// The `(method, path, scopes)` of every Management API route.
pub fn api_route_table() -> Vec<(Method, &'static str, &'static [Scope])> {
    routes::api_routes()
        .into_iter()
        .map(|r| (r.method, r.path, r.scopes))
        .collect()
}

pub fn build_router(state: AppState) -> Router {
    let mut api = Router::new();
    for route in routes::api_routes() {
        let guarded = route.handler.route_layer(middleware::from_fn_with_state(
            (state.clone(), route.scopes),
            authorize,
        ));
        api = api.route(route.path, guarded);
    }
    Router::new()
        .merge(api)
        .merge(routes::public_routes())
        .merge(crate::dashboard::routes(&state))
        .fallback(|| async { ApiError::RouteNotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(state.config.edge.max_body_bytes))
        .layer(middleware::from_fn_with_state(state.clone(), edge))
        .with_state(state)
}

/// Authenticates the bearer token and checks the route's scopes; hands the `Caller` to
/// the handler through the request extensions.
async fn authorize(
    State((state, scopes)): State<(AppState, &'static [Scope])>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let refused = |parts: &axum::http::request::Parts,
                   action: &'static str,
                   actor: Option<&str>,
                   error: &ApiError| {
        let reason = match error {
            ApiError::MissingAuthentication => "Missing authentication".to_string(),
            ApiError::InvalidToken(message) => (*message).to_string(),
            ApiError::BadAuthHeader => "Bad HTTP authentication header format".to_string(),
            ApiError::InsufficientScope(scopes) => {
                format!("insufficient_scope: expected any of {}", scopes.join(", "))
            }
            // Rate limiting is reported by its own headers, not audited.
            _ => return,
        };
        let ip = parts.extensions.get::<ClientIp>().map(|c| c.0.as_str());
        let request_id = parts.extensions.get::<RequestId>().map(|r| r.0.as_str());
        crate::security_audit::record(
            &state,
            crate::security_audit::Refusal {
                action,
                actor,
                ip: ip.unwrap_or(""),
                target: format!("{} {}", parts.method, parts.uri.path()),
                reason,
                request_id,
            },
        );
    };
    let caller = match Caller::from_request_parts(&mut parts, &state).await {
        Ok(caller) => caller,
        Err(e) => {
            refused(&parts, "api.unauthorized", None, &e);
            return e.into_response();
        }
    };
    if let Err(e) = caller.require(scopes) {
        refused(&parts, "api.forbidden", Some(&caller.client_id), &e);
        return e.into_response();
    }
    parts.extensions.insert(caller);
    next.run(Request::from_parts(parts, body)).await
}

static X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
static X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
static X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");
static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

async fn edge(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = hookhaven_core::new_ulid();
    let method = request.method().clone();
    // The path only: query strings are not logged.
    let path = request.uri().path().to_string();
    let ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default();

    // The per-IP bucket is checked before any other work, including token verification.
    let ip_decision = state.ip_limiter.check(&ip);
    let slot = RateLimitSlot::default();
    request
        .extensions_mut()
        .insert(RequestId(request_id.clone()));
    request.extensions_mut().insert(slot.clone());
    request.extensions_mut().insert(ClientIp(ip.clone()));

    // PostgreSQL text cannot hold NUL, and no id or filter needs one: refuse it in the
    // URL before it reaches a query, the same way on every backend.
    let nul_in_url = request
        .uri()
        .path_and_query()
        .is_some_and(|pq| pq.as_str().to_ascii_lowercase().contains("%00"));
    let limits = state.config.edge;
    let head_bytes = head_size(&request);
    let declared_body = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut response = if !ip_decision.allowed {
        ApiError::TooManyRequests {
            retry_after: ip_decision.retry_after,
        }
        .into_response()
    } else if head_bytes > limits.max_header_bytes {
        ApiError::HeadersTooLarge {
            limit: limits.max_header_bytes,
        }
        .into_response()
    } else if declared_body.is_some_and(|n| n > limits.max_body_bytes as u64) {
        // Refused on the declared length before a byte of the body is read; a body that
        // lies about its length is cut off by the body limit layer instead.
        ApiError::PayloadTooLarge.into_response()
    } else if nul_in_url {
        ApiError::Domain(hookhaven_core::Error::InvalidUri(
            "Path validation error: NUL characters are not allowed".into(),
        ))
        .into_response()
    } else {
        match tokio::time::timeout(limits.request_timeout, next.run(request)).await {
            Ok(response) => response,
            Err(_) => {
                tracing::warn!(request_id = %request_id, %method, %path, "request timed out");
                ApiError::RequestTimeout {
                    seconds: limits.request_timeout.as_secs(),
                }
                .into_response()
            }
        }
    };

    let decision = slot.get().unwrap_or(ip_decision);
    let headers = response.headers_mut();
    headers.insert(X_RATELIMIT_LIMIT.clone(), HeaderValue::from(decision.limit));
    headers.insert(
        X_RATELIMIT_REMAINING.clone(),
        HeaderValue::from(decision.remaining),
    );
    headers.insert(X_RATELIMIT_RESET.clone(), HeaderValue::from(decision.reset));
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert(X_REQUEST_ID.clone(), v);
    }
    // Auth0 labels every Management API response JSON, even an empty 204.
    if path.starts_with("/api/v2/") {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Responses carry secrets and tokens: never cached, never framed, no referrer. A
    // route that chose its own caching (the JWKS, Dashboard assets) keeps it.
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if state.config.tls != crate::config::TlsMode::Off {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }

    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    if status >= 500 {
        tracing::warn!(request_id = %request_id, %method, %path, status, latency_ms, "request");
    } else {
        tracing::info!(request_id = %request_id, %method, %path, status, latency_ms, "request");
    }
    response
}

/// The size of the request head as it came over the wire, near enough: the request line
/// and every header line.
fn head_size(request: &Request) -> usize {
    let line = request.method().as_str().len()
        + request
            .uri()
            .path_and_query()
            .map_or(1, |pq| pq.as_str().len())
        + 12;
    request.headers().iter().fold(line, |n, (name, value)| {
        n + name.as_str().len() + value.len() + 4
    })
}
