//! The Hookhaven HTTP server: Auth0's Management API v2 for hooks, hook secrets, clients
//! and client grants; the token endpoint and JWKS; health. Only this crate knows HTTP and
//! the Auth0 wire format.

pub mod app;
pub mod auth;
pub mod body;
pub mod bootstrap;
pub mod config;
pub mod dashboard;
pub mod error;
pub mod execution;
pub mod group_audit;
pub mod keys;
pub mod openapi;
pub mod ratelimit;
pub mod registry;
pub mod rotation;
pub mod routes;
pub mod seal_limit;
pub mod security_audit;
pub mod serve;
pub mod service;
pub mod state;
pub mod tls;
pub mod verified_tokens;

pub use bootstrap::{open_data_dir, Opened};
pub use config::Config;
pub use serve::run;
