//! Who the collector calls Resource Manager as: a bearer token given as is, or azure_identity's
//! credential chain.

use std::sync::Arc;

use azure_core::auth::{AccessToken, TokenCredential};

/// Environment variable holding a ready Resource Manager bearer token (CI pipelines that already
/// hold one).
pub const ACCESS_TOKEN_VARIABLE: &str = "AZURE_ACCESS_TOKEN";

/// How to authenticate to Resource Manager.
#[derive(Clone)]
pub enum Credential {
    /// A bearer token, sent as given.
    Token(String),
    /// azure_identity's chain: `AZURE_CREDENTIAL_KIND` when set, else a service principal or
    /// workload identity from the environment, then managed identity, then the Azure CLI.
    DefaultChain,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credential::Token(_) => "Token(<redacted>)",
            Credential::DefaultChain => "DefaultChain",
        })
    }
}

impl Credential {
    /// The token in [`ACCESS_TOKEN_VARIABLE`] when it is set and not empty, else the chain.
    pub fn from_env() -> Self {
        match std::env::var(ACCESS_TOKEN_VARIABLE) {
            Ok(token) if !token.trim().is_empty() => Credential::Token(token.trim().to_string()),
            _ => Credential::DefaultChain,
        }
    }

    pub(super) fn token_credential(&self) -> Result<Arc<dyn TokenCredential>, String> {
        match self {
            Credential::Token(token) => Ok(Arc::new(FixedToken(token.clone()))),
            Credential::DefaultChain => azure_identity::create_credential().map_err(|e| {
                format!(
                    "no Azure credential found ({e}); run `az login`, set AZURE_TENANT_ID, \
                     AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, or set {ACCESS_TOKEN_VARIABLE}"
                )
            }),
        }
    }
}

/// A token used as given: whoever issued it knows its lifetime, and Resource Manager rejects it
/// (401) once it has expired.
#[derive(Debug)]
struct FixedToken(String);

#[async_trait::async_trait]
impl TokenCredential for FixedToken {
    async fn get_token(&self, _scopes: &[&str]) -> azure_core::Result<AccessToken> {
        // The expiry only steers token caches, which a fixed token has no use for.
        let expires_on = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
        Ok(AccessToken::new(self.0.clone(), expires_on))
    }

    async fn clear_cache(&self) -> azure_core::Result<()> {
        Ok(())
    }
}
