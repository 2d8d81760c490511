//! The Auth0 error envelope, `{"statusCode","error","message","errorCode"?}`, for every
//! failure of the Management API, and the OAuth `{"error","error_description"}` shape for
//! the token endpoint. Internal details go to the log, never into a body.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hookhaven_core::Error;
use serde_json::json;

/// A Management API failure.
#[derive(Debug)]
pub enum ApiError {
    Domain(Error),
    /// 401 with no `Authorization` header.
    MissingAuthentication,
    /// 401 for a token that does not verify; the message is Auth0's text for the case.
    InvalidToken(&'static str),
    /// 400 for an `Authorization` header that is not `Bearer <token>`.
    BadAuthHeader,
    /// 403 `insufficient_scope`; lists the scopes that would do.
    InsufficientScope(Vec<&'static str>),
    /// 429; seconds until a request would be let through.
    TooManyRequests {
        retry_after: u64,
    },
    /// A path this server does not serve.
    RouteNotFound,
    MethodNotAllowed,
    PayloadTooLarge,
    /// 431: the request head is larger than the configured limit.
    HeadersTooLarge {
        limit: usize,
    },
    /// 503: the request did not finish within the configured request timeout.
    RequestTimeout {
        seconds: u64,
    },
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError::Domain(e)
    }
}

/// Builds the envelope. `errorCode` is left out when Auth0 leaves it out.
pub fn envelope(status: StatusCode, message: &str, error_code: Option<&str>) -> serde_json::Value {
    let mut body = json!({
        "statusCode": status.as_u16(),
        "error": status.canonical_reason().unwrap_or("Error"),
        "message": message,
    });
    if let Some(code) = error_code {
        body["errorCode"] = json!(code);
    }
    body
}

pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Domain(e) => {
                let status =
                    StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                match &e {
                    Error::Internal(detail) | Error::Unavailable(detail) => {
                        tracing::error!(error = %detail, status = status.as_u16(), "request failed");
                    }
                    Error::CorruptSecret { hook_id, name } => {
                        tracing::error!(hook_id = %hook_id, secret = %name, "stored secret does not decrypt");
                    }
                    _ => {}
                }
                json_response(status, &envelope(status, &e.message(), e.error_code()))
            }
            ApiError::MissingAuthentication => unauthorized("Missing authentication", false),
            ApiError::InvalidToken(message) => unauthorized(message, true),
            ApiError::BadAuthHeader => json_response(
                StatusCode::BAD_REQUEST,
                &envelope(
                    StatusCode::BAD_REQUEST,
                    "Bad HTTP authentication header format",
                    None,
                ),
            ),
            ApiError::InsufficientScope(scopes) => json_response(
                StatusCode::FORBIDDEN,
                &envelope(
                    StatusCode::FORBIDDEN,
                    &format!("Insufficient scope, expected any of: {}", scopes.join(", ")),
                    Some("insufficient_scope"),
                ),
            ),
            ApiError::TooManyRequests { retry_after } => {
                let mut response = json_response(
                    StatusCode::TOO_MANY_REQUESTS,
                    &envelope(
                        StatusCode::TOO_MANY_REQUESTS,
                        "Global limit has been reached",
                        Some("too_many_requests"),
                    ),
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after.max(1)));
                response
            }
            ApiError::RouteNotFound => json_response(
                StatusCode::NOT_FOUND,
                &envelope(StatusCode::NOT_FOUND, "Not Found", None),
            ),
            ApiError::MethodNotAllowed => json_response(
                StatusCode::METHOD_NOT_ALLOWED,
                &envelope(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed", None),
            ),
            ApiError::PayloadTooLarge => json_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                &envelope(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "Payload content length greater than maximum allowed",
                    None,
                ),
            ),
            ApiError::HeadersTooLarge { limit } => json_response(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                &envelope(
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    &format!("Request headers are larger than the maximum allowed ({limit} bytes)"),
                    Some("headers_too_large"),
                ),
            ),
            ApiError::RequestTimeout { seconds } => {
                let mut response = json_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &envelope(
                        StatusCode::SERVICE_UNAVAILABLE,
                        &format!("The request did not complete within {seconds} seconds"),
                        Some("request_timeout"),
                    ),
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(1));
                response
            }
        }
    }
}

fn unauthorized(message: &str, with_attributes: bool) -> Response {
    let status = StatusCode::UNAUTHORIZED;
    let mut body = envelope(status, message, None);
    if with_attributes {
        body["attributes"] = json!({ "error": message });
    }
    let mut response = json_response(status, &body);
    let challenge = if with_attributes {
        format!("Bearer error=\"invalid_token\", error_description=\"{message}\"")
    } else {
        "Bearer".to_string()
    };
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// A token endpoint failure: `{"error","error_description"}`.
#[derive(Debug)]
pub struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    pub fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            status,
            error,
            description: description.into(),
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    pub fn access_denied(status: StatusCode, description: impl Into<String>) -> Self {
        Self::new(status, "access_denied", description)
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut response = json_response(
            self.status,
            &json!({ "error": self.error, "error_description": self.description }),
        );
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

impl From<Error> for OAuthError {
    fn from(e: Error) -> Self {
        if let Error::Internal(detail) | Error::Unavailable(detail) = &e {
            tracing::error!(error = %detail, "token request failed");
        }
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        OAuthError::new(status, "server_error", e.message())
    }
}
