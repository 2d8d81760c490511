//! Hookhaven's cryptography: the master keyring, sealing stored secrets, client-secret
//! hashing and RS256 access tokens. No IO: callers read key files and pass their text in.

pub mod client_secret;
pub mod jwt;
pub mod keyring;
pub mod seal;
pub mod usage;

pub use client_secret::{generate_client_id, generate_client_secret, ClientSecretHasher};
pub use jwt::{
    sign_access_token, sign_access_token_with, verify_access_token, AccessClaims, Jwks, JwtError,
    SigningKey, VerifyOptions,
};
pub use keyring::{KeyringError, MasterKeyring};
pub use seal::{open_secret, open_server_key, seal_secret, seal_server_key, OpenError, SealError};
pub use usage::SealUsage;
