//! The Management API scopes this server knows. The admin client made on first start
//! holds all of them.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Scope {
    #[serde(rename = "read:hooks")]
    ReadHooks,
    #[serde(rename = "create:hooks")]
    CreateHooks,
    #[serde(rename = "update:hooks")]
    UpdateHooks,
    #[serde(rename = "delete:hooks")]
    DeleteHooks,
    #[serde(rename = "read:clients")]
    ReadClients,
    #[serde(rename = "create:clients")]
    CreateClients,
    #[serde(rename = "delete:clients")]
    DeleteClients,
    #[serde(rename = "read:client_grants")]
    ReadClientGrants,
    #[serde(rename = "create:client_grants")]
    CreateClientGrants,
    #[serde(rename = "delete:client_grants")]
    DeleteClientGrants,
    /// Hookhaven extension: run the enabled hook of a trigger through
    /// `POST /api/v2/triggers/{triggerId}/invoke`.
    #[serde(rename = "execute:hooks")]
    ExecuteHooks,
    /// Rotate a client's secret (`POST /api/v2/clients/{id}/rotate-secret`), as on Auth0.
    #[serde(rename = "update:client_keys")]
    UpdateClientKeys,
    /// Hookhaven extension: master-key status and re-sealing (`/api/v2/keys/…`).
    #[serde(rename = "update:keys")]
    UpdateKeys,
}

pub const ALL_SCOPES: [Scope; 13] = [
    Scope::ReadHooks,
    Scope::CreateHooks,
    Scope::UpdateHooks,
    Scope::DeleteHooks,
    Scope::ReadClients,
    Scope::CreateClients,
    Scope::DeleteClients,
    Scope::ReadClientGrants,
    Scope::CreateClientGrants,
    Scope::DeleteClientGrants,
    Scope::ExecuteHooks,
    Scope::UpdateClientKeys,
    Scope::UpdateKeys,
];

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ReadHooks => "read:hooks",
            Scope::CreateHooks => "create:hooks",
            Scope::UpdateHooks => "update:hooks",
            Scope::DeleteHooks => "delete:hooks",
            Scope::ReadClients => "read:clients",
            Scope::CreateClients => "create:clients",
            Scope::DeleteClients => "delete:clients",
            Scope::ReadClientGrants => "read:client_grants",
            Scope::CreateClientGrants => "create:client_grants",
            Scope::DeleteClientGrants => "delete:client_grants",
            Scope::ExecuteHooks => "execute:hooks",
            Scope::UpdateClientKeys => "update:client_keys",
            Scope::UpdateKeys => "update:keys",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        ALL_SCOPES.into_iter().find(|scope| scope.as_str() == s)
    }

    /// Parses a space-separated list, as in a token request or a JWT `scope` claim.
    /// Unknown names are returned in the error so that the caller can report them.
    pub fn parse_list(s: &str) -> Result<Vec<Scope>, String> {
        let mut out = Vec::new();
        for word in s.split_whitespace() {
            let scope = Scope::parse(word).ok_or_else(|| word.to_string())?;
            if !out.contains(&scope) {
                out.push(scope);
            }
        }
        Ok(out)
    }

    pub fn join(scopes: &[Scope]) -> String {
        scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
