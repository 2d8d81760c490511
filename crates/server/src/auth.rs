//! Bearer-token authentication and scope checks for `/api/v2`.

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};
use hookhaven_core::Scope;
use hookhaven_crypto::{verify_access_token, JwtError, VerifyOptions};

use crate::app::RateLimitSlot;
use crate::error::ApiError;
use crate::state::AppState;

/// The authenticated caller of a Management API request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub client_id: String,
    pub scopes: Vec<Scope>,
}

impl Caller {
    /// Passes when the token holds any of `any_of`; else 403 with Auth0's exact text.
    pub fn require(&self, any_of: &[Scope]) -> Result<(), ApiError> {
        if any_of.iter().any(|s| self.scopes.contains(s)) {
            Ok(())
        } else {
            Err(ApiError::InsufficientScope(
                any_of.iter().map(|s| s.as_str()).collect(),
            ))
        }
    }
}

/// Auth0's 401 texts, by what was wrong with the token.
fn invalid_token_message(e: &JwtError) -> &'static str {
    match e {
        JwtError::Expired => "Expired token received for JSON Web Token validation",
        JwtError::BadSignature => "Invalid signature received for JSON Web Token validation.",
        _ => "Invalid token",
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or(ApiError::MissingAuthentication)?;
        let header = header.to_str().map_err(|_| ApiError::BadAuthHeader)?;
        let (scheme, token) = header.split_once(' ').ok_or(ApiError::BadAuthHeader)?;
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(ApiError::BadAuthHeader);
        }
        let options = VerifyOptions {
            issuer: state.config.issuer(),
            audiences: state.config.accepted_audiences(),
            now: hookhaven_core::now_ms() / 1000,
            leeway_secs: 30,
            max_token_len: 8192,
        };
        let token = token.trim();
        let signing = state.signing();
        let cached = state
            .verified_tokens
            .get(token, &signing, options.now, options.leeway_secs);
        let verified = match cached {
            Some(claims) => Ok(claims),
            None => match verify_access_token(token, &signing.jwks, &options) {
                Ok(claims) => {
                    state.verified_tokens.insert(token, &signing, &claims);
                    Ok(claims)
                }
                // A kid we do not publish may be a key another instance has just rotated
                // in: re-read the set (rate-limited) and try once more.
                Err(JwtError::UnknownKey) => match state.reload_signing_on_miss().await {
                    Some(fresh) => verify_access_token(token, &fresh.jwks, &options),
                    None => Err(JwtError::UnknownKey),
                },
                Err(e) => Err(e),
            },
        };
        let claims = verified.map_err(|e| {
            tracing::debug!(reason = ?e, "rejected access token");
            ApiError::InvalidToken(invalid_token_message(&e))
        })?;

        // The per-client limit runs after the signature check (cheap with a cached public
        // key) so that nobody can drain another client's bucket with forged tokens, and
        // before any database work.
        let decision = state.client_limiter.check(&claims.azp);
        if let Some(slot) = parts.extensions.get::<RateLimitSlot>() {
            slot.set(decision);
        }
        if !decision.allowed {
            return Err(ApiError::TooManyRequests {
                retry_after: decision.retry_after,
            });
        }

        // Unknown scope names in a token are ignored rather than rejected: the token was
        // signed by us, and a scope this build no longer knows grants nothing.
        let scopes = claims
            .scope
            .split_whitespace()
            .filter_map(Scope::parse)
            .collect();
        Ok(Caller {
            client_id: claims.azp,
            scopes,
        })
    }
}
