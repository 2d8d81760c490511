//! End-to-end tests: each starts the real `hookhaven` binary on a free port with a
//! temporary data dir and talks to it over HTTP.

#[path = "../support/mod.rs"]
mod support;

mod canary;
mod checklist;
mod cli;
mod clients_api;
mod dashboard;
mod deploy;
mod edge;
mod hooks_runtime;
mod jwt_attacks;
mod multi_instance;
mod rotation;
mod schemathesis;
mod scope_matrix;
mod seal_limit;
mod startup;
mod token;
