//! Machine-to-machine clients and their grants on the Management API.

pub type ClientId = String;

/// A machine-to-machine application. Its secret is never held here: only its HMAC is
/// stored (D5), and the plaintext is shown once, at creation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub client_id: ClientId,
    pub name: String,
    pub description: String,
    pub created_at: i64,
}

/// A grant of scopes on an API audience to a client (Auth0's `client-grant`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientGrant {
    pub id: String,
    pub client_id: ClientId,
    pub audience: String,
    pub scope: Vec<crate::Scope>,
}
