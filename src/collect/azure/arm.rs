//! Resource Manager through the Azure SDK: the only code that touches azure_mgmt_network,
//! azure_mgmt_compute and azure_core, so that replacing those crates touches nothing else.
//!
//! Everything above this module sees pages of ARM JSON (`{"value": [...]}`, resources exactly in
//! the shape the REST API returns them) and [`ArmError`]s. The generated clients make the network
//! and compute calls and follow `nextLink`; the calls they lack (the subscription list, Defender
//! JIT policies) go through an azure_core pipeline built the same way, with the same credential,
//! retry policy and transport. Every pipeline retries 429 after `Retry-After` and 5xx with
//! exponential backoff, and counts every HTTP request it sends, retries included.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use azure_core::auth::TokenCredential;
use azure_core::{
    ClientOptions, Context, ExponentialRetryOptions, HttpClient, Method, Pageable, Pipeline,
    Request, Response, RetryOptions, TransportOptions, Url,
};
use azure_mgmt_compute::package_2024_07_01 as compute;
use azure_mgmt_network::package_2024_03 as network;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use super::credential::Credential;

/// Resource Manager of the public Azure cloud.
pub const PUBLIC_CLOUD: &str = "https://management.azure.com";

const SUBSCRIPTIONS_API_VERSION: &str = "2022-12-01";
const SECURITY_API_VERSION: &str = "2020-01-01";

/// A connection that stalls this long is given up (and retried by the retry policy).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Large list pages take a while to produce; a response slower than this is given up.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(180);

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

    fn other(message: String) -> Self {
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

impl From<azure_core::Error> for ArmError {
    fn from(error: azure_core::Error) -> Self {
        if let Some(http) = error.as_http_error() {
            return ArmError {
                status: Some(http.status() as u16),
                code: http.error_code().map(str::to_string),
                message: http.error_message().unwrap_or_default().to_string(),
            };
        }
        if let azure_core::error::ErrorKind::HttpResponse { status, error_code } = error.kind() {
            return ArmError {
                status: Some(*status as u16),
                code: error_code.clone(),
                message: String::new(),
            };
        }
        // The top message alone is often just "failed to execute `reqwest` request".
        let mut message = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            let text = cause.to_string();
            if !message.contains(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            source = cause.source();
        }
        ArmError::other(message)
    }
}

/// Resource Manager at one endpoint, as one identity.
pub struct Arm {
    endpoint: Url,
    /// The OAuth scope of the endpoint's tokens (`https://management.azure.com/.default`).
    scope: String,
    credential: Arc<dyn TokenCredential>,
    http: Arc<dyn HttpClient>,
}

impl Arm {
    /// Checks the endpoint and sets up the credential; makes no call yet.
    pub fn new(endpoint: &str, credential: &Credential) -> Result<Self, String> {
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
        // azure_core's default client opens a connection per request; a pooled one saves a TLS
        // handshake on every page, and timeouts keep a stalled endpoint from hanging the scan.
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot set up HTTPS: {e}"))?;
        Ok(Arm {
            endpoint,
            scope,
            credential: credential.token_credential()?,
            http: Arc::new(http),
        })
    }

    /// Clients whose API calls are counted apart from other sessions'.
    pub fn session(&self) -> Session {
        let calls = Arc::new(AtomicU64::new(0));
        let transport = TransportOptions::new(Arc::new(CountingTransport {
            http: self.http.clone(),
            calls: calls.clone(),
        }));
        let options = ClientOptions::new(transport).retry(retry_options());
        let scopes = vec![self.scope.clone()];
        Session {
            network: network::Client::new(
                self.endpoint.clone(),
                self.credential.clone(),
                scopes.clone(),
                options.clone(),
            ),
            compute: compute::Client::new(
                self.endpoint.clone(),
                self.credential.clone(),
                scopes,
                options.clone(),
            ),
            pipeline: Pipeline::new(
                Some(env!("CARGO_PKG_NAME")),
                Some(env!("CARGO_PKG_VERSION")),
                options,
                Vec::new(),
                Vec::new(),
            ),
            endpoint: self.endpoint.clone(),
            scope: self.scope.clone(),
            credential: self.credential.clone(),
            calls,
        }
    }
}

fn retry_options() -> RetryOptions {
    // Throttled Resource Manager asks for waits of tens of seconds; give it room.
    RetryOptions::exponential(
        ExponentialRetryOptions::default()
            .max_retries(6u32)
            .max_total_elapsed(Duration::from_secs(300))
            .max_delay(Duration::from_secs(60)),
    )
}

/// The HTTP client, counting every request it sends.
#[derive(Debug)]
struct CountingTransport {
    http: Arc<dyn HttpClient>,
    calls: Arc<AtomicU64>,
}

#[async_trait::async_trait]
impl HttpClient for CountingTransport {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<Response> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.http.execute_request(request).await
    }
}

/// Clients of one endpoint, sharing one call counter.
#[derive(Clone)]
pub struct Session {
    network: network::Client,
    compute: compute::Client,
    /// For the calls the generated clients lack.
    pipeline: Pipeline,
    endpoint: Url,
    scope: String,
    credential: Arc<dyn TokenCredential>,
    calls: Arc<AtomicU64>,
}

/// One page of a list, as the SDK models serialise back to ARM JSON.
#[derive(Serialize)]
struct Page<'a, T> {
    value: &'a [T],
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

impl Session {
    /// HTTP requests sent so far, retries included.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// The ids of every subscription the identity can read.
    pub async fn subscriptions(&self) -> Result<Vec<String>, ArmError> {
        let url = self.url("/subscriptions", SUBSCRIPTIONS_API_VERSION);
        self.rest_pages(url)
            .and_then(|page| async move {
                serde_json::from_str::<SubscriptionPage>(&page)
                    .map(|page| page.value.into_iter().map(|s| s.subscription_id))
                    .map_err(|e| {
                        ArmError::other(format!("the subscription list is not what ARM sends: {e}"))
                    })
            })
            .try_fold(Vec::new(), |mut ids, page| async move {
                ids.extend(page);
                Ok(ids)
            })
            .await
    }

    /// Every page of one list in a subscription, following `nextLink` to the end.
    pub fn pages(
        &self,
        subscription: &str,
        listing: Listing,
    ) -> BoxStream<'static, Result<String, ArmError>> {
        let (network, compute) = (&self.network, &self.compute);
        match listing {
            Listing::VirtualMachines => sdk_pages(
                compute
                    .virtual_machines_client()
                    .list_all(subscription)
                    .status_only("true")
                    .into_stream(),
                |page| &page.value,
            ),
            Listing::NetworkInterfaces => sdk_pages(
                network
                    .network_interfaces_client()
                    .list_all(subscription)
                    .into_stream(),
                |page| &page.value,
            ),
            Listing::PublicIpAddresses => sdk_pages(
                network
                    .public_ip_addresses_client()
                    .list_all(subscription)
                    .into_stream(),
                |page| &page.value,
            ),
            Listing::VirtualNetworks => sdk_pages(
                network
                    .virtual_networks_client()
                    .list_all(subscription)
                    .into_stream(),
                |page| &page.value,
            ),
            Listing::NetworkSecurityGroups => sdk_pages(
                network
                    .network_security_groups_client()
                    .list_all(subscription)
                    .into_stream(),
                |page| &page.value,
            ),
            Listing::ApplicationSecurityGroups => sdk_pages(
                network
                    .application_security_groups_client()
                    .list_all(subscription)
                    .into_stream(),
                |page| &page.value,
            ),
            Listing::JitPolicies => self.rest_pages(self.url(
                &format!(
                    "/subscriptions/{subscription}/providers/Microsoft.Security/\
                     jitNetworkAccessPolicies"
                ),
                SECURITY_API_VERSION,
            )),
        }
    }

    /// `path` on the endpoint, with an API version, as the generated clients build their URLs.
    fn url(&self, path: &str, api_version: &str) -> Url {
        let mut url = self.endpoint.clone();
        url.set_path(path);
        url.query_pairs_mut()
            .append_pair(azure_core::query_param::API_VERSION, api_version);
        url
    }

    /// The pages of a list the SDK has no call for, read as JSON text through the pipeline.
    fn rest_pages(&self, first: Url) -> BoxStream<'static, Result<String, ArmError>> {
        let session = self.clone();
        stream::try_unfold(Some(first), move |next| {
            let session = session.clone();
            async move {
                let Some(url) = next else {
                    return Ok(None);
                };
                let page = session.get(url).await?;
                let link: NextLink = serde_json::from_str(&page).map_err(|e| {
                    ArmError::other(format!("a list page is not JSON as ARM sends it: {e}"))
                })?;
                let next = match link.next_link.filter(|link| !link.is_empty()) {
                    Some(link) => Some(session.endpoint.join(&link).map_err(|e| {
                        ArmError::other(format!("nextLink {link:?} is not a URL: {e}"))
                    })?),
                    None => None,
                };
                Ok(Some((page, next)))
            }
        })
        .boxed()
    }

    async fn get(&self, url: Url) -> Result<String, ArmError> {
        let token = self.credential.get_token(&[self.scope.as_str()]).await?;
        let mut request = Request::new(url, Method::Get);
        request.insert_header(
            azure_core::headers::AUTHORIZATION,
            format!("Bearer {}", token.token.secret()),
        );
        let response = self.pipeline.send(&Context::new(), &mut request).await?;
        Ok(response.into_body().collect_string().await?)
    }
}

/// The pages of a generated client's list, serialised back to the ARM JSON they were read from.
fn sdk_pages<P, T>(
    pages: Pageable<P, azure_core::Error>,
    items: fn(&P) -> &Vec<T>,
) -> BoxStream<'static, Result<String, ArmError>>
where
    P: Send + 'static,
    T: Serialize + 'static,
{
    pages
        .map(move |page| {
            let page = page?;
            serde_json::to_string(&Page {
                value: items(&page),
            })
            .map_err(|e| ArmError::other(format!("cannot re-encode a page: {e}")))
        })
        .boxed()
}
