//! The SDK configuration every region's client is made from, and the STS and Organizations
//! clients of an organisation scan: the default credential chain (optionally a named profile),
//! the endpoint, retries, timeouts, response bounds and the HTTP client.

use aws_config::BehaviorVersion;
use aws_sdk_ec2::config::retry::RetryConfig;
use aws_sdk_ec2::config::timeout::TimeoutConfig;
use aws_sdk_ec2::config::{ProvideCredentials, Region};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

use super::bounds::BodyBounds;
use super::{AwsError, AwsOptions, errors};

/// What the regions' clients share.
pub(super) struct Setup {
    /// EC2 client configuration without a region.
    pub base: aws_sdk_ec2::Config,
    /// STS client configuration, in the configured region (else us-east-1).
    pub sts: aws_sdk_sts::Config,
    /// Organizations client configuration, in the configured region (else us-east-1).
    pub organizations: aws_sdk_organizations::Config,
    /// The region the chain configures (profile, `AWS_REGION`), if any.
    pub default_region: Option<String>,
}

/// Loads the configuration and checks that credentials resolve, once, before any region is
/// read: a missing or expired sign-in is one clear error rather than one per region.
pub(super) async fn load(options: &AwsOptions) -> Result<Setup, AwsError> {
    // rustls with ring: no C toolchain beyond what ring needs, unlike the default aws-lc.
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let limits = &options.limits;
    // The connect timeout bounds the TCP and TLS handshake; the read timeout the wait for the
    // headers (the body's silences are bounded by `BodyBounds`). The same bounds apply to the
    // credential chain's own calls (SSO, STS, IMDS).
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(limits.connect_timeout)
        .read_timeout(limits.read_timeout)
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client)
        .timeout_config(timeouts.clone());
    if let Some(profile) = &options.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = &options.endpoint_url {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(AwsError(format!(
                "--endpoint-url {url:?} is not a URL; give it as https://host[:port]"
            )));
        }
        loader = loader.endpoint_url(url);
    }
    let sdk = loader.load().await;
    let profile = options
        .profile
        .as_deref()
        .map(|p| format!(" for profile {p:?}"))
        .unwrap_or_default();
    let no_credentials = |why: String| {
        AwsError(format!(
            "no usable AWS credentials{profile}: {why}; sign in (aws sso login), pass --profile \
             NAME, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        ))
    };
    let provider = sdk
        .credentials_provider()
        .ok_or_else(|| no_credentials("no credential provider is configured".into()))?;
    provider
        .provide_credentials()
        .await
        .map_err(|e| no_credentials(errors::chain(&e)))?;
    // Adaptive retries add client-side rate limiting when EC2 throttles; the number of attempts
    // stays what the user's configuration says (AWS_MAX_ATTEMPTS, max_attempts; default 3).
    let attempts = sdk.retry_config().map_or(3, |r| r.max_attempts());
    // The backoff between attempts, and a throttling answer's retry-after, are cut to
    // --max-retry-after.
    let retries = RetryConfig::adaptive()
        .with_max_attempts(attempts)
        .with_max_backoff(limits.max_retry_after);
    let bounds = BodyBounds {
        read_timeout: limits.read_timeout,
        max_bytes: limits.max_response_bytes,
    };
    let base = aws_sdk_ec2::config::Builder::from(&sdk)
        .retry_config(retries.clone())
        .timeout_config(timeouts.clone())
        .interceptor(bounds.clone())
        .build();
    let default_region = sdk.region().map(ToString::to_string);
    let region = Region::new(default_region.clone().unwrap_or_else(|| "us-east-1".into()));
    let sts = aws_sdk_sts::config::Builder::from(&sdk)
        .region(region.clone())
        .retry_config(retries.clone())
        .timeout_config(timeouts.clone())
        .interceptor(bounds.clone())
        .build();
    let organizations = aws_sdk_organizations::config::Builder::from(&sdk)
        .region(region)
        .retry_config(retries)
        .timeout_config(timeouts)
        .interceptor(bounds)
        .build();
    Ok(Setup {
        base,
        sts,
        organizations,
        default_region,
    })
}
