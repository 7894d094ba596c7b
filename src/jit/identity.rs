//! Who is asking: the cloud identity a request is made as, for the ledger and the rule's stamp.
//! Azure: the token's claims (`upn`, else `unique_name`, `preferred_username`, `appid`, `oid`)
//! when the token is given in `AZURE_ACCESS_TOKEN`; cloud IAM stays the real boundary. AWS: the
//! ARN `GetCallerIdentity` answers for the credentials.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::cloud::aws::Regions;
use crate::cloud::azure::ACCESS_TOKEN_VARIABLE;
use crate::fix::clouds::Connect;
use crate::model::Provider;

/// The claims that name an identity, most readable first.
const CLAIMS: [&str; 5] = ["upn", "unique_name", "preferred_username", "appid", "oid"];

/// Who acts on `clouds`: each cloud's identity, comma-separated.
pub fn requester(clouds: &[Provider], connect: &Connect) -> Result<String, String> {
    let names = clouds
        .iter()
        .map(|cloud| match cloud {
            Provider::Azure => Ok(azure_requester()),
            Provider::Aws => aws_requester(connect),
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(names.join(", "))
}

/// The requester of an Azure request.
pub fn azure_requester() -> String {
    std::env::var(ACCESS_TOKEN_VARIABLE)
        .ok()
        .and_then(|token| token_identity(&token))
        .unwrap_or_else(|| {
            let user = std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned());
            format!("local-user:{user}")
        })
}

/// The requester of an AWS request: the credentials' ARN.
pub fn aws_requester(connect: &Connect) -> Result<String, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime
        .block_on(crate::cloud::aws::write::caller_arn(
            &connect.aws_options(Regions::Configured),
        ))
        .map_err(|e| e.to_string())
}

/// The identity a JWT names; `None` for a token that is not a JWT with such a claim.
fn token_identity(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    CLAIMS
        .iter()
        .find_map(|claim| claims.get(claim)?.as_str().map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jwt_names_its_user_and_anything_else_names_nobody() {
        let claims = URL_SAFE_NO_PAD.encode(r#"{"oid":"0a1b","upn":"alice@contoso.com"}"#);
        assert_eq!(
            token_identity(&format!("eyJhbGciOiJub25lIn0.{claims}.sig")).as_deref(),
            Some("alice@contoso.com")
        );
        let app = URL_SAFE_NO_PAD.encode(r#"{"oid":"0a1b"}"#);
        assert_eq!(
            token_identity(&format!("h.{app}.s")).as_deref(),
            Some("0a1b")
        );
        assert_eq!(token_identity("test-token"), None);
    }
}
