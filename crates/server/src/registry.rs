//! Creating machine-to-machine clients: one path for the bootstrap admin client, the
//! `clients create` command and `POST /api/v2/clients`, so that secrets are always
//! generated and stored the same way (D5).

use hookhaven_core::{AuditEvent, Client, ClientGrant, Error, Scope};
use hookhaven_crypto::{generate_client_id, generate_client_secret, ClientSecretHasher};
use hookhaven_store::Store;
use zeroize::Zeroizing;

/// A client just created, with the only copy of its plaintext secret.
pub struct NewClient {
    pub client: Client,
    pub secret: Zeroizing<String>,
    pub grants: Vec<ClientGrant>,
}

impl std::fmt::Debug for NewClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewClient")
            .field("client", &self.client)
            .field("secret", &"<redacted>")
            .field("grants", &self.grants)
            .finish()
    }
}

/// Checks a client name: non-empty, at most 255 characters, no control characters.
pub fn validate_client_name(name: &str) -> Result<(), Error> {
    if name.trim().is_empty() {
        return Err(Error::payload("Client name must not be empty"));
    }
    if name.chars().count() > 255 || name.chars().any(char::is_control) {
        return Err(Error::payload(
            "Client name must be at most 255 characters, without control characters",
        ));
    }
    Ok(())
}

/// Creates a client with a fresh secret and, when `scopes` is given, a grant of those
/// scopes on `audience`, in one transaction.
pub async fn create_client(
    store: &dyn Store,
    hasher: &ClientSecretHasher,
    name: &str,
    description: &str,
    grant: Option<(&str, Vec<Scope>)>,
    audit: AuditEvent,
) -> Result<NewClient, Error> {
    validate_client_name(name)?;
    let client = Client {
        client_id: generate_client_id(),
        name: name.to_string(),
        description: description.to_string(),
        created_at: hookhaven_core::now_ms(),
    };
    let secret = generate_client_secret();
    let grants: Vec<ClientGrant> = grant
        .into_iter()
        .map(|(audience, scope)| ClientGrant {
            id: format!("cgr_{}", hookhaven_core::new_ulid().to_lowercase()),
            client_id: client.client_id.clone(),
            audience: audience.to_string(),
            scope,
        })
        .collect();
    let audit = audit.target(&client.client_id);
    store
        .create_client(&client, &hasher.hmac(&secret), &grants, &audit)
        .await?;
    Ok(NewClient {
        client,
        secret,
        grants,
    })
}
