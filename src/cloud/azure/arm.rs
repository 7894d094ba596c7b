//! Resource Manager over HTTPS: the only code that sends requests to it.
//!
//! Everything above this module sees pages of ARM JSON (`{"value": [...]}`, the bytes exactly as
//! Resource Manager sent them, for the file loader to read) and [`ArmError`]s. Every request is
//! bounded by the [`Limits`]: a connect timeout, a read timeout (no headers, or a body that
//! stalls), a largest body; 429 is retried after its `Retry-After` (capped), 409
//! `AnotherOperationInProgress` after its `Retry-After` or backoff, and 5xx, timeouts and
//! connection errors with exponential backoff. Reads and writes ([`super::write`]) go through the
//! same [`Session::send`]. Lists follow `nextLink` only on the endpoint's own
//! origin (the bearer token goes nowhere else), never to a page already read, and for at most
//! [`MAX_PAGES`] pages. Every HTTP request sent is counted, retries included.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use azure_core::auth::TokenCredential;
use futures::stream::{self, BoxStream, StreamExt};
use reqwest::header::{HeaderMap, HeaderName};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;

use super::credential::Credential;
use crate::limits::Limits;

/// Resource Manager of the public Azure cloud.
pub const PUBLIC_CLOUD: &str = "https://management.azure.com";

const SUBSCRIPTIONS_API_VERSION: &str = "2022-12-01";
const COMPUTE_API_VERSION: &str = "2024-07-01";
pub(super) const NETWORK_API_VERSION: &str = "2024-03-01";
const SECURITY_API_VERSION: &str = "2020-01-01";

/// Retries of one request before its error is the list's.
const MAX_RETRIES: u32 = 6;
/// The first backoff of a retry without `Retry-After`; each next one doubles.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Pages of one list at most: Resource Manager pages hold up to 1,000 resources, so this is
/// far past any real list, and stops a `nextLink` chain that never ends.
pub const MAX_PAGES: usize = 10_000;

/// A subscription-wide list the collector reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listing {
    VirtualMachines,
    NetworkInterfaces,
    PublicIpAddresses,
    VirtualNetworks,
    NetworkSecurityGroups,
    ApplicationSecurityGroups,
    JitPolicies,
}

impl Listing {
    pub const ALL: [Listing; 7] = [
        Listing::VirtualMachines,
        Listing::NetworkInterfaces,
        Listing::PublicIpAddresses,
        Listing::VirtualNetworks,
        Listing::NetworkSecurityGroups,
        Listing::ApplicationSecurityGroups,
        Listing::JitPolicies,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Listing::VirtualMachines => "virtual machines",
            Listing::NetworkInterfaces => "network interfaces",
            Listing::PublicIpAddresses => "public IP addresses",
            Listing::VirtualNetworks => "virtual networks",
            Listing::NetworkSecurityGroups => "network security groups",
            Listing::ApplicationSecurityGroups => "application security groups",
            Listing::JitPolicies => "JIT network access policies",
        }
    }

    /// The provider path under `/subscriptions/{id}/providers/`, its API version, and any other
    /// query parameter.
    fn request(
        self,
    ) -> (
        &'static str,
        &'static str,
        Option<(&'static str, &'static str)>,
    ) {
        match self {
            // Without statusOnly, the list has no power states.
            Listing::VirtualMachines => (
                "Microsoft.Compute/virtualMachines",
                COMPUTE_API_VERSION,
                Some(("statusOnly", "true")),
            ),
            Listing::NetworkInterfaces => (
                "Microsoft.Network/networkInterfaces",
                NETWORK_API_VERSION,
                None,
            ),
            Listing::PublicIpAddresses => (
                "Microsoft.Network/publicIPAddresses",
                NETWORK_API_VERSION,
                None,
            ),
            Listing::VirtualNetworks => (
                "Microsoft.Network/virtualNetworks",
                NETWORK_API_VERSION,
                None,
            ),
            Listing::NetworkSecurityGroups => (
                "Microsoft.Network/networkSecurityGroups",
                NETWORK_API_VERSION,
                None,
            ),
            Listing::ApplicationSecurityGroups => (
                "Microsoft.Network/applicationSecurityGroups",
                NETWORK_API_VERSION,
                None,
            ),
            Listing::JitPolicies => (
                "Microsoft.Security/jitNetworkAccessPolicies",
                SECURITY_API_VERSION,
                None,
            ),
        }
    }
}

/// A call that failed, after retries.
#[derive(Clone, Debug, PartialEq)]
pub struct ArmError {
    /// The HTTP status, when Resource Manager answered.
    pub status: Option<u16>,
    /// Resource Manager's error code (`AuthorizationFailed`).
    pub code: Option<String>,
    pub message: String,
}

impl ArmError {
    /// Whether Resource Manager says the subscription is not registered for the resource
    /// provider: it then holds no resources of that provider.
    pub fn provider_not_registered(&self) -> bool {
        self.code
            .as_deref()
            .is_some_and(|code| code.eq_ignore_ascii_case("MissingSubscriptionRegistration"))
    }

    /// Whether the credential itself was refused: no other scope can fare better.
    pub fn unauthenticated(&self) -> bool {
        self.status == Some(401)
    }

    pub(super) fn other(message: String) -> Self {
        ArmError {
            status: None,
            code: None,
            message,
        }
    }
}

impl std::fmt::Display for ArmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(status) = self.status {
            write!(f, "HTTP {status}")?;
            if let Some(code) = &self.code {
                write!(f, " {code}")?;
            }
            if !self.message.is_empty() {
                f.write_str(": ")?;
            }
        }
        f.write_str(&self.message)
    }
}

/// The error, with the causes the top message alone leaves out ("error sending request").
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

/// Resource Manager at one endpoint, as one identity.
pub struct Arm {
    endpoint: Url,
    /// The OAuth scope of the endpoint's tokens (`https://management.azure.com/.default`).
    scope: String,
    credential: Arc<dyn TokenCredential>,
    http: reqwest::Client,
    limits: Limits,
}

impl Arm {
    /// Checks the endpoint and sets up the credential; makes no call yet.
    pub fn new(endpoint: &str, credential: &Credential, limits: Limits) -> Result<Self, String> {
        let endpoint = Url::parse(endpoint)
            .ok()
            .filter(|url| matches!(url.scheme(), "https" | "http") && url.has_host())
            .ok_or_else(|| {
                format!(
                    "{endpoint:?} is not a Resource Manager endpoint URL; give one such as \
                     {PUBLIC_CLOUD}"
                )
            })?;
        // Bearer tokens go in clear over http: only to this machine (a test endpoint).
        let local = endpoint.host_str().is_some_and(|host| {
            host.eq_ignore_ascii_case("localhost")
                || host
                    .trim_matches(['[', ']'])
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        });
        if endpoint.scheme() == "http" && !local {
            return Err(format!(
                "{endpoint} is plain http, which would send the access token in clear; use https"
            ));
        }
        let scope = endpoint
            .join(azure_core::auth::DEFAULT_SCOPE_SUFFIX)
            .map_err(|e| format!("{endpoint}: {e}"))?
            .to_string();
        // Redirects are not followed: they could lead the token elsewhere.
        let http = reqwest::Client::builder()
            .connect_timeout(limits.connect_timeout)
            .read_timeout(limits.read_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot set up HTTPS: {e}"))?;
        Ok(Arm {
            endpoint,
            scope,
            credential: credential.token_credential()?,
            http,
            limits,
        })
    }

    /// Gets a token once, so that a credential that cannot give one stops the run before any
    /// subscription is tried.
    pub async fn check_credential(&self) -> Result<(), String> {
        self.credential
            .get_token(&[self.scope.as_str()])
            .await
            .map(drop)
            .map_err(|e| {
                format!(
                    "cannot get an Azure access token ({}); run `az login`, set AZURE_TENANT_ID, \
                     AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, or set {}",
                    with_causes(&e),
                    super::ACCESS_TOKEN_VARIABLE
                )
            })
    }

    /// A client whose API calls are counted apart from other sessions'.
    pub fn session(self: &Arc<Self>) -> Session {
        Session {
            arm: self.clone(),
            calls: Arc::new(AtomicU64::new(0)),
            last_problem: Arc::new(Mutex::new(None)),
        }
    }
}

/// Requests to one endpoint, sharing one call counter.
#[derive(Clone)]
pub struct Session {
    arm: Arc<Arm>,
    calls: Arc<AtomicU64>,
    /// The last failed attempt, for the message of a scope that runs out of time.
    last_problem: Arc<Mutex<Option<String>>>,
}

#[derive(Deserialize)]
struct NextLink {
    #[serde(rename = "nextLink")]
    next_link: Option<String>,
}

#[derive(Deserialize)]
struct SubscriptionPage {
    #[serde(default)]
    value: Vec<SubscriptionEntry>,
}

#[derive(Deserialize)]
struct SubscriptionEntry {
    #[serde(rename = "subscriptionId")]
    subscription_id: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: Option<ErrorDetail>,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: Option<String>,
    message: Option<String>,
}

/// One request: a method, a URL on the endpoint, extra headers and a JSON body.
pub(super) struct Call<'a> {
    pub method: Method,
    pub url: &'a Url,
    pub headers: Vec<(HeaderName, String)>,
    pub body: Option<Vec<u8>>,
}

impl<'a> Call<'a> {
    pub fn get(url: &'a Url) -> Self {
        Call {
            method: Method::GET,
            url,
            headers: Vec::new(),
            body: None,
        }
    }
}

/// A successful answer (2xx): its status, headers and body.
pub(super) struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    /// A header's value, when it is present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `Retry-After` Resource Manager asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        retry_after(&self.headers)
    }
}

/// The outcome of a call and how many times it was retried to get it.
pub(super) struct Sent {
    pub result: Result<Reply, ArmError>,
    pub retries: u32,
}

/// One attempt that failed, and whether (and after how long) to try again.
struct Failure {
    error: ArmError,
    retry_after: Option<Duration>,
}

impl Failure {
    fn fatal(error: ArmError) -> Self {
        Failure {
            error,
            retry_after: None,
        }
    }

    /// Worth another try, after the usual backoff.
    fn transient(message: String) -> Self {
        Failure {
            error: ArmError::other(message),
            retry_after: Some(Duration::ZERO),
        }
    }
}

impl Session {
    /// HTTP requests sent so far, retries included.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    pub fn limits(&self) -> Limits {
        self.arm.limits
    }

    /// What the last failed attempt met, if any did.
    pub fn last_problem(&self) -> Option<String> {
        self.last_problem.lock().ok().and_then(|last| last.clone())
    }

    /// The ids of every subscription the identity can read.
    pub async fn subscriptions(&self) -> Result<Vec<String>, ArmError> {
        let mut pages = self.pages_from(self.url("/subscriptions", SUBSCRIPTIONS_API_VERSION));
        let mut ids = Vec::new();
        while let Some(page) = pages.next().await {
            let page: SubscriptionPage = serde_json::from_slice(&page?).map_err(|e| {
                ArmError::other(format!("the subscription list is not what ARM sends: {e}"))
            })?;
            ids.extend(page.value.into_iter().map(|s| s.subscription_id));
        }
        Ok(ids)
    }

    /// Every page of one list in a subscription, following `nextLink` to the end.
    pub fn pages(
        &self,
        subscription: &str,
        listing: Listing,
    ) -> BoxStream<'static, Result<Vec<u8>, ArmError>> {
        let (provider_path, api_version, extra) = listing.request();
        let mut url = self.url(
            &format!("/subscriptions/{subscription}/providers/{provider_path}"),
            api_version,
        );
        if let Some((name, value)) = extra {
            url.query_pairs_mut().append_pair(name, value);
        }
        self.pages_from(url)
    }

    /// `path` on the endpoint, with an API version.
    fn url(&self, path: &str, api_version: &str) -> Url {
        let mut url = self.arm.endpoint.clone();
        url.set_path(path);
        url.query_pairs_mut()
            .append_pair("api-version", api_version);
        url
    }

    /// The pages from `first` on, following `nextLink`.
    fn pages_from(&self, first: Url) -> BoxStream<'static, Result<Vec<u8>, ArmError>> {
        let session = self.clone();
        let seen = HashSet::from([first.to_string()]);
        stream::try_unfold((Some(first), seen), move |(next, mut seen)| {
            let session = session.clone();
            async move {
                let Some(url) = next else {
                    return Ok(None);
                };
                let page = session.get(&url).await?;
                let link: NextLink = serde_json::from_slice(&page).map_err(|e| {
                    ArmError::other(format!("a list page is not JSON as ARM sends it: {e}"))
                })?;
                let next = match link.next_link.filter(|link| !link.is_empty()) {
                    Some(link) => Some(session.follow(&link, &mut seen)?),
                    None => None,
                };
                Ok(Some((page, (next, seen))))
            }
        })
        .boxed()
    }

    /// The URL of a `nextLink`, if it is safe and new to follow.
    fn follow(&self, link: &str, seen: &mut HashSet<String>) -> Result<Url, ArmError> {
        let url = self.resolve(link, "nextLink")?;
        if seen.len() >= MAX_PAGES {
            return Err(ArmError::other(format!(
                "the list goes on past {MAX_PAGES} pages; stopped, as no real list is that long"
            )));
        }
        if !seen.insert(url.to_string()) {
            return Err(ArmError::other(format!(
                "nextLink {url} leads back to a page already read; stopped, as the list would \
                 never end"
            )));
        }
        Ok(url)
    }

    /// Refuses a URL Resource Manager gave (`what`: `nextLink`, `Azure-AsyncOperation`) that
    /// leads off the endpoint's origin, where the bearer token must not go.
    pub(super) fn check_origin(&self, url: &Url, what: &str) -> Result<(), ArmError> {
        if url.origin() == self.arm.endpoint.origin() {
            return Ok(());
        }
        Err(ArmError::other(format!(
            "{what} {url} leads away from {}; not followed, so that the access token goes \
             nowhere else",
            self.arm.endpoint.origin().ascii_serialization()
        )))
    }

    /// A URL Resource Manager gave in a header or body, resolved against the endpoint and on
    /// its origin.
    pub(super) fn resolve(&self, link: &str, what: &str) -> Result<Url, ArmError> {
        let url = self
            .arm
            .endpoint
            .join(link)
            .map_err(|e| ArmError::other(format!("{what} {link:?} is not a URL: {e}")))?;
        self.check_origin(&url, what)?;
        Ok(url)
    }

    /// `path` on the endpoint, with the network API version.
    pub(super) fn network_url(&self, path: &str) -> Url {
        self.url(path, NETWORK_API_VERSION)
    }

    /// One page, retried while the failure is transient.
    async fn get(&self, url: &Url) -> Result<Vec<u8>, ArmError> {
        self.send(&Call::get(url))
            .await
            .result
            .map(|reply| reply.body)
    }

    /// One call, retried while the failure is transient: 429 and 409
    /// `AnotherOperationInProgress` after their `Retry-After` (capped), 408, 5xx, timeouts and
    /// connection errors with backoff. Every call portcullis makes is idempotent (a GET, a PUT of
    /// one whole rule, a DELETE), so each may be sent again.
    pub(super) async fn send(&self, call: &Call<'_>) -> Sent {
        let limits = self.arm.limits;
        let mut backoff = FIRST_BACKOFF;
        let mut retries = 0;
        loop {
            let failure = match self.attempt(call).await {
                Ok(reply) => {
                    return Sent {
                        result: Ok(reply),
                        retries,
                    };
                }
                Err(failure) => failure,
            };
            if let Ok(mut last) = self.last_problem.lock() {
                *last = Some(failure.error.to_string());
            }
            let Some(asked) = failure.retry_after.filter(|_| retries < MAX_RETRIES) else {
                let mut error = failure.error;
                if retries > 0 {
                    error
                        .message
                        .push_str(&format!(" (after {retries} retries)"));
                }
                return Sent {
                    result: Err(error),
                    retries,
                };
            };
            let wait = if asked.is_zero() { backoff } else { asked };
            tokio::time::sleep(wait.min(limits.max_retry_after)).await;
            backoff = backoff.saturating_mul(2);
            retries += 1;
        }
    }

    /// One request: its answer, or why not.
    async fn attempt(&self, call: &Call<'_>) -> Result<Reply, Failure> {
        let limits = self.arm.limits;
        let token = self
            .arm
            .credential
            .get_token(&[self.arm.scope.as_str()])
            .await
            .map_err(|e| Failure::fatal(ArmError::other(with_causes(&e))))?;
        self.calls.fetch_add(1, Ordering::Relaxed);
        let mut request = self
            .arm
            .http
            .request(call.method.clone(), call.url.clone())
            .bearer_auth(token.token.secret());
        for (name, value) in &call.headers {
            request = request.header(name, value);
        }
        if let Some(body) = &call.body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let request = request.send();
        let no_answer = || {
            Failure::transient(format!(
                "timed out: no answer within {} (--read-timeout)",
                show(limits.read_timeout)
            ))
        };
        // The client times out connecting and each read; this bounds the two together.
        let mut response =
            match tokio::time::timeout(limits.connect_timeout + limits.read_timeout, request).await
            {
                Err(_) => return Err(no_answer()),
                Ok(Err(e)) if e.is_connect() && e.is_timeout() => {
                    return Err(Failure::transient(format!(
                        "timed out: no connection within {} (--connect-timeout)",
                        show(limits.connect_timeout)
                    )));
                }
                Ok(Err(e)) if e.is_timeout() => return Err(no_answer()),
                Ok(Err(e)) => return Err(Failure::transient(with_causes(&e))),
                Ok(Ok(response)) => response,
            };
        let status = response.status();
        let headers = response.headers().clone();
        let retry_after = retry_after(&headers);
        let too_large = || {
            Failure::fatal(ArmError::other(format!(
                "HTTP {}: the response is larger than {} (--max-response-size); not read",
                status.as_u16(),
                show_size(limits.max_response_bytes)
            )))
        };
        if response
            .content_length()
            .is_some_and(|length| length > limits.max_response_bytes)
        {
            return Err(too_large());
        }
        let stalled = || {
            Failure::transient(format!(
                "timed out: HTTP {} answered, then its body stalled for {} (--read-timeout)",
                status.as_u16(),
                show(limits.read_timeout)
            ))
        };
        let mut body = Vec::new();
        loop {
            match tokio::time::timeout(limits.read_timeout, response.chunk()).await {
                Err(_) => return Err(stalled()),
                Ok(Err(e)) if e.is_timeout() => return Err(stalled()),
                Ok(Err(e)) => return Err(Failure::transient(with_causes(&e))),
                Ok(Ok(None)) => break,
                Ok(Ok(Some(chunk))) => {
                    if (body.len() + chunk.len()) as u64 > limits.max_response_bytes {
                        return Err(too_large());
                    }
                    body.extend_from_slice(&chunk);
                }
            }
        }
        if status.is_success() {
            return Ok(Reply {
                status: status.as_u16(),
                headers,
                body,
            });
        }
        let detail = serde_json::from_slice::<ErrorBody>(&body)
            .ok()
            .and_then(|b| b.error);
        let error = ArmError {
            status: Some(status.as_u16()),
            code: detail.as_ref().and_then(|d| d.code.clone()),
            message: detail.and_then(|d| d.message).unwrap_or_default(),
        };
        let busy = status == StatusCode::CONFLICT
            && error
                .code
                .as_deref()
                .is_some_and(|code| code.eq_ignore_ascii_case("AnotherOperationInProgress"));
        let transient = status == StatusCode::TOO_MANY_REQUESTS
            || busy
            || matches!(status.as_u16(), 408 | 500 | 502 | 503 | 504);
        Err(Failure {
            error,
            retry_after: transient.then(|| retry_after.unwrap_or(Duration::ZERO)),
        })
    }
}

/// The `Retry-After` of a response, in seconds (the form Resource Manager sends).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds)).filter(|wait| !wait.is_zero())
}

/// A duration as the flags take it: `500ms`, `30s`.
pub fn show(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

/// A size as the flags take it: `256MiB`, `1000B`.
fn show_size(bytes: u64) -> String {
    for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    format!("{bytes}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_shown_as_the_flags_take_them() {
        for (duration, want) in [
            (Duration::from_millis(500), "500ms"),
            (Duration::from_secs(30), "30s"),
            (Duration::from_millis(1500), "1500ms"),
        ] {
            assert_eq!(show(duration), want);
        }
        for (bytes, want) in [(256 << 20, "256MiB"), (64 << 10, "64KiB"), (1000, "1000B")] {
            assert_eq!(show_size(bytes), want);
        }
    }
}
