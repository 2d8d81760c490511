//! The error catalogue. Each variant knows its HTTP status, Auth0 `errorCode` and the
//! message a client sees. `Internal` carries a detail for the log only: its message to the
//! client is generic, so no stored value or SQL text can reach a response.

use std::fmt;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// 400 `invalid_body`; the message is the full Auth0-style text.
    #[error("{0}")]
    InvalidBody(String),
    /// 400 `invalid_query_string`.
    #[error("{0}")]
    InvalidQuery(String),
    /// 400 `invalid_uri`.
    #[error("{0}")]
    InvalidUri(String),
    #[error("Error: Hook does not exist")]
    HookNotFound,
    #[error("Hook or secret not found.")]
    SecretNotFound(String),
    #[error("A hook with the same name already exists.")]
    HookNameTaken,
    #[error("Secret with the same name already exists.")]
    SecretExists(String),
    #[error("A hook can have a maximum of 20 secrets.")]
    TooManySecrets,
    #[error("The client does not exist")]
    ClientNotFound,
    #[error("The client grant does not exist")]
    GrantNotFound,
    #[error("A resource server with identifier {0} does not exist")]
    ResourceServerNotFound(String),
    #[error("A client grant for this client and audience already exists.")]
    GrantExists,
    /// A Dashboard administrator with this email already exists.
    #[error("An administrator with this email already exists.")]
    AdminExists,
    #[error("The administrator does not exist")]
    AdminNotFound,
    /// A stored secret could not be decrypted (corrupt bytes or a lost key).
    #[error("Internal error")]
    CorruptSecret { hook_id: String, name: String },
    /// The database is unreachable or busy.
    #[error("Service unavailable")]
    Unavailable(String),
    /// 503: the active master key has sealed as many values as it safely may (security
    /// row 5); nothing can be sealed until an operator rotates it. Carries the key id,
    /// for the log.
    #[error("The master key has reached its encryption limit and must be rotated (hookhaven keys rotate)")]
    MasterKeyExhausted(String),
    /// Anything else that is the server's fault. The string is for the log only.
    #[error("Internal error")]
    Internal(String),
}

impl Error {
    pub fn status(&self) -> u16 {
        match self {
            Error::InvalidBody(_)
            | Error::InvalidQuery(_)
            | Error::InvalidUri(_)
            | Error::TooManySecrets => 400,
            Error::HookNotFound
            | Error::SecretNotFound(_)
            | Error::ClientNotFound
            | Error::GrantNotFound
            | Error::ResourceServerNotFound(_)
            | Error::AdminNotFound => 404,
            Error::HookNameTaken
            | Error::SecretExists(_)
            | Error::GrantExists
            | Error::AdminExists => 409,
            Error::Unavailable(_) | Error::MasterKeyExhausted(_) => 503,
            Error::CorruptSecret { .. } | Error::Internal(_) => 500,
        }
    }

    /// The Auth0 `errorCode`, where Auth0 sends one.
    pub fn error_code(&self) -> Option<&'static str> {
        Some(match self {
            Error::InvalidBody(_) | Error::TooManySecrets => "invalid_body",
            Error::InvalidQuery(_) => "invalid_query_string",
            Error::InvalidUri(_) => "invalid_uri",
            Error::HookNotFound => "HookDoesNotExist",
            Error::SecretNotFound(_) => "HookSecretDoesNotExist",
            Error::HookNameTaken => "HookAlreadyExists",
            Error::SecretExists(_) => "SecretExists",
            Error::ClientNotFound => "inexistent_client",
            Error::GrantNotFound => "inexistent_client_grant",
            Error::ResourceServerNotFound(_) => "inexistent_resource_server",
            Error::GrantExists => "client_grant_conflict",
            Error::AdminExists => "admin_exists",
            Error::AdminNotFound => "inexistent_admin",
            Error::CorruptSecret { .. }
            | Error::Unavailable(_)
            | Error::MasterKeyExhausted(_)
            | Error::Internal(_) => return None,
        })
    }

    /// The text a client sees in `message`.
    pub fn message(&self) -> String {
        self.to_string()
    }

    /// The full story for an operator: the log detail of a server-side failure, or the
    /// client-facing message otherwise. Never put this in a response body.
    pub fn detail(&self) -> String {
        match self {
            Error::Internal(detail) | Error::Unavailable(detail) => detail.clone(),
            Error::CorruptSecret { hook_id, name } => {
                format!("secret {name:?} of hook {hook_id} does not decrypt")
            }
            Error::MasterKeyExhausted(key_id) => {
                format!("master key {key_id:?} has reached its encryption limit; run `hookhaven keys rotate`")
            }
            other => other.message(),
        }
    }

    /// Shorthand for an Auth0-style payload validation error.
    pub fn payload(detail: impl fmt::Display) -> Error {
        Error::InvalidBody(format!("Payload validation error: '{detail}'."))
    }

    /// Shorthand for an Auth0-style query validation error.
    pub fn query(detail: impl fmt::Display) -> Error {
        Error::InvalidQuery(format!("Query validation error: '{detail}'."))
    }

    pub fn internal(detail: impl fmt::Display) -> Error {
        Error::Internal(detail.to_string())
    }
}
