//! A fake Azure Resource Manager: an HTTP server on 127.0.0.1 that serves an [`Estate`] the way
//! Resource Manager lists resources, for the live collector's tests and benchmark.
//!
//! It checks the bearer token and the API version, pages every list with `nextLink`, answers the
//! planned [`Fault`]s once each (429 with `Retry-After`, 5xx), 403 for forbidden subscriptions and
//! 409 `MissingSubscriptionRegistration` for subscriptions without the Security provider, and
//! counts every request. A retry that comes before the `Retry-After` it was given is throttled
//! again and counted as premature. A [`Hostile`] page misbehaves on every request, as a broken or
//! malicious endpoint would: silent, trickling, endless, or with a `nextLink` that loops or leads
//! elsewhere. [`rules`] answers writes of single security rules, on NSGs that the NSG list then
//! shows as written; `resources` the creation and deletion of NSGs and the writes of NICs.

#![allow(dead_code)] // The tests and the benchmark example each use their own part.

pub mod estate;
mod resources;
pub mod rules;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::response::Response;
use serde_json::{Value, json};

pub use estate::{Access, Estate, LISTS};
pub use rules::Writes;

/// What a fault applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    SubscriptionList,
    /// A list of [`LISTS`] (by index) in a subscription (by index).
    List {
        subscription: usize,
        list: usize,
    },
}

/// An error answered once, on the first request for one page (1-based) of a target.
#[derive(Clone, Debug)]
pub struct Fault {
    pub target: Target,
    pub page: usize,
    pub status: u16,
    /// Seconds, sent as `Retry-After`.
    pub retry_after: Option<u64>,
}

/// How a hostile page answers.
#[derive(Clone, Debug)]
pub enum Misbehaviour {
    /// Accepts the request and never answers.
    Silent,
    /// Sends HTTP 200 headers, then one byte every 2 seconds.
    Trickle,
    /// Sends a body that never ends.
    Endless,
    /// An empty page whose `nextLink` is the page itself.
    SelfLoop,
    /// An empty page whose `nextLink` is this URL prefix, with the page's path and query.
    NextLinkTo(String),
}

/// A page (1-based) of a target that misbehaves on every request.
#[derive(Clone, Debug)]
pub struct Hostile {
    pub target: Target,
    pub page: usize,
    pub misbehaviour: Misbehaviour,
}

pub struct Config {
    /// The bearer token every request must carry.
    pub token: String,
    pub page_size: usize,
    pub faults: Vec<Fault>,
    pub hostile: Vec<Hostile>,
    pub writes: Writes,
}

impl Config {
    /// A Resource Manager that behaves: `token` only, pages of 100, no faults, plain writes.
    pub fn plain(token: &str) -> Self {
        Config {
            token: token.to_string(),
            page_size: 100,
            faults: Vec::new(),
            hostile: Vec::new(),
            writes: Writes::default(),
        }
    }
}

/// What the fake saw.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub requests: u64,
    /// Requests for the subscription list.
    pub subscription_list: u64,
    /// Requests under each subscription id.
    pub by_subscription: BTreeMap<String, u64>,
    pub faults_served: usize,
    pub premature_retries: u64,
    pub unauthorized: u64,
    /// Virtual machine pages asked for without `statusOnly=true` (so without power states).
    pub without_status_only: u64,
    /// Writes accepted (PUT or DELETE of a rule that started an operation), by NSG id.
    pub writes_by_nsg: BTreeMap<String, u64>,
    /// Writes that came while an earlier operation on the same NSG had not finished.
    pub overlapping_writes: u64,
    /// Polls of long-running operations.
    pub polls: u64,
}

struct Shared {
    url: String,
    /// Set when the fake stops, to end the answers that would otherwise never end.
    stop: tokio::sync::watch::Sender<bool>,
    estate: Estate,
    /// The subscription list, as Resource Manager lists subscriptions.
    subscription_list: Vec<Value>,
    config: Config,
    state: Mutex<MutableState>,
}

#[derive(Default)]
struct MutableState {
    stats: Stats,
    served: Vec<bool>,
    /// Pages throttled, until when.
    throttled: HashMap<(Target, usize), Instant>,
    /// The NSGs of each subscription as they are now, writes included.
    nsgs: Vec<Vec<Value>>,
    /// The NICs of each subscription as they are now, writes included.
    nics: Vec<Vec<Value>>,
    /// Etags issued so far.
    etags: u64,
    operations: rules::Operations,
    /// The last operation started on each NSG (by lower-case id).
    busy: HashMap<String, u64>,
    write_faults_served: Vec<bool>,
    /// Rules throttled (by lower-case NSG id and rule name), until when.
    write_throttled: HashMap<(String, String), Instant>,
}

pub struct FakeArm {
    pub url: String,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeArm {
    /// Serves `estate` on a free port of 127.0.0.1 until dropped.
    pub fn start(estate: Estate, config: Config) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let shared = Arc::new(Shared {
            url: url.clone(),
            stop: tokio::sync::watch::Sender::new(false),
            subscription_list: subscription_list(&estate),
            state: Mutex::new(MutableState {
                served: vec![false; config.faults.len()],
                nsgs: estate
                    .subscriptions
                    .iter()
                    .map(|sub| sub.lists[rules::NSG_LIST].clone())
                    .collect(),
                nics: estate
                    .subscriptions
                    .iter()
                    .map(|sub| sub.lists[resources::NIC_LIST].clone())
                    .collect(),
                write_faults_served: vec![false; config.writes.faults.len()],
                ..MutableState::default()
            }),
            estate,
            config,
        });
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("fake ARM runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await
                    .expect("fake ARM server");
            });
        });
        FakeArm {
            url,
            shared,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    pub fn estate(&self) -> &Estate {
        &self.shared.estate
    }

    /// The NIC with this id as it is now, writes included.
    pub fn nic(&self, id: &str) -> Option<Value> {
        let state = self.shared.state.lock().unwrap();
        state
            .nics
            .iter()
            .flatten()
            .find(|nic| {
                nic["id"]
                    .as_str()
                    .is_some_and(|i| i.eq_ignore_ascii_case(id))
            })
            .cloned()
    }

    /// The NSG with this id as it is now, writes included.
    pub fn nsg(&self, id: &str) -> Option<Value> {
        let state = self.shared.state.lock().unwrap();
        state
            .nsgs
            .iter()
            .flatten()
            .find(|nsg| {
                nsg["id"]
                    .as_str()
                    .is_some_and(|i| i.eq_ignore_ascii_case(id))
            })
            .cloned()
    }

    pub fn stats(&self) -> Stats {
        self.shared.state.lock().unwrap().stats.clone()
    }

    /// The fewest requests that read the subscription list.
    pub fn minimum_subscription_list_calls(&self) -> u64 {
        pages(
            self.shared.estate.subscriptions.len(),
            self.shared.config.page_size,
        )
    }

    /// The fewest requests that read a subscription that can be read: one per page of each
    /// list, one for a list the subscription is not registered for.
    pub fn minimum_calls(&self, subscription: usize) -> u64 {
        let sub = &self.shared.estate.subscriptions[subscription];
        sub.lists
            .iter()
            .enumerate()
            .map(|(list, items)| {
                if sub.access == Access::WithoutSecurityProvider && is_security(list) {
                    1
                } else {
                    pages(items.len(), self.shared.config.page_size)
                }
            })
            .sum()
    }
}

impl Drop for FakeArm {
    fn drop(&mut self) {
        self.shared.stop.send_replace(true);
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn subscription_list(estate: &Estate) -> Vec<Value> {
    estate
        .subscriptions
        .iter()
        .enumerate()
        .map(|(i, s)| {
            json!({
                "id": format!("/subscriptions/{}", s.id),
                "authorizationSource": "RoleBased",
                "subscriptionId": s.id,
                "tenantId": "7e4a0000-0000-4000-8000-000000000001",
                "displayName": format!("Test subscription {}", i + 1),
                "state": "Enabled",
                "subscriptionPolicies": {
                    "locationPlacementId": "Public_2014-09-01",
                    "quotaId": "PayAsYouGo_2014-09-01",
                    "spendingLimit": "Off",
                },
            })
        })
        .collect()
}

fn pages(items: usize, page_size: usize) -> u64 {
    items.div_ceil(page_size).max(1) as u64
}

fn is_security(list: usize) -> bool {
    LISTS[list].starts_with("Microsoft.Security/")
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let Ok(body) = axum::body::to_bytes(body, 1 << 20).await else {
        return Response::builder()
            .status(413)
            .body(Body::empty())
            .expect("response");
    };
    let call = rules::Request {
        method: &parts.method,
        if_match: header("if-match"),
        if_none_match: header("if-none-match"),
        body: &body,
    };
    let answer = shared.answer(parts.uri.path(), &query, header("authorization"), &call);
    let (status, headers, body) = match answer {
        Ok(answer) => answer,
        Err(misbehaviour) => return shared.misbehave(misbehaviour, &parts.uri).await,
    };
    let mut response = Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=utf-8");
    for (name, value) in headers {
        response = response.header(name, value);
    }
    let body = if body.is_null() {
        Body::empty()
    } else {
        Body::from(serde_json::to_vec(&body).expect("JSON"))
    };
    response.body(body).expect("response")
}

type Answer = (u16, Vec<(&'static str, String)>, Value);

impl Shared {
    async fn misbehave(&self, misbehaviour: Misbehaviour, uri: &axum::http::Uri) -> Response {
        let mut stop = self.stop.subscribe();
        let ok = Response::builder()
            .status(200)
            .header("content-type", "application/json; charset=utf-8");
        let page = |next: String| Body::from(json!({"value": [], "nextLink": next}).to_string());
        let body = match misbehaviour {
            Misbehaviour::Silent => {
                let _ = stop.wait_for(|stopped| *stopped).await;
                Body::empty()
            }
            Misbehaviour::Trickle => {
                Body::from_stream(futures::stream::unfold(stop, |mut stop| async move {
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                        _ = stop.wait_for(|stopped| *stopped) => return None,
                    }
                    Some((Ok::<_, std::io::Error>(b" ".to_vec()), stop))
                }))
            }
            Misbehaviour::Endless => Body::from_stream(futures::stream::repeat_with(|| {
                Ok::<_, std::io::Error>(vec![b' '; 64 << 10])
            })),
            Misbehaviour::SelfLoop => page(format!("{}{uri}", self.url)),
            Misbehaviour::NextLinkTo(prefix) => page(format!("{prefix}{uri}")),
        };
        ok.body(body).expect("response")
    }
}

fn error(status: u16, code: &str, message: &str) -> Answer {
    (
        status,
        Vec::new(),
        json!({"error": {"code": code, "message": message}}),
    )
}

impl Shared {
    fn answer(
        &self,
        path: &str,
        query: &HashMap<String, String>,
        authorization: Option<&str>,
        call: &rules::Request<'_>,
    ) -> Result<Answer, Misbehaviour> {
        let target = self.target_of(path);
        let page = self.page_of(query);
        let hostile = self
            .config
            .hostile
            .iter()
            .find(|h| Some(h.target) == target && h.page == page);
        match hostile {
            Some(hostile) => {
                self.state.lock().unwrap().stats.requests += 1;
                Err(hostile.misbehaviour.clone())
            }
            None => Ok(self.answer_page(path, query, authorization, call)),
        }
    }

    /// The list a path names.
    fn target_of(&self, path: &str) -> Option<Target> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        match segments.as_slice() {
            ["subscriptions"] => Some(Target::SubscriptionList),
            ["subscriptions", id, "providers", namespace, kind] => {
                let wanted = format!("{namespace}/{kind}");
                Some(Target::List {
                    subscription: self
                        .estate
                        .subscriptions
                        .iter()
                        .position(|s| s.id.eq_ignore_ascii_case(id))?,
                    list: LISTS.iter().position(|l| l.eq_ignore_ascii_case(&wanted))?,
                })
            }
            _ => None,
        }
    }

    /// The page (1-based) a query asks for, and the index of its first item.
    fn page_of(&self, query: &HashMap<String, String>) -> usize {
        self.skip_of(query) / self.config.page_size + 1
    }

    fn skip_of(&self, query: &HashMap<String, String>) -> usize {
        query
            .get("$skiptoken")
            .and_then(|t| t.parse().ok())
            .unwrap_or(0)
    }

    fn answer_page(
        &self,
        path: &str,
        query: &HashMap<String, String>,
        authorization: Option<&str>,
        call: &rules::Request<'_>,
    ) -> Answer {
        let mut guard = self.state.lock().unwrap();
        let state = &mut *guard;
        state.stats.requests += 1;
        if authorization != Some(format!("Bearer {}", self.config.token).as_str()) {
            state.stats.unauthorized += 1;
            return error(
                401,
                "InvalidAuthenticationToken",
                "The access token is invalid.",
            );
        }
        if !query.contains_key("api-version") {
            return error(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            );
        }
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        if let Some(route) = rules::route(&segments) {
            return self.answer_route(state, route, call);
        }
        let (target, items, strip_power): (Target, &[Value], bool) = match segments.as_slice() {
            ["subscriptions"] => {
                state.stats.subscription_list += 1;
                (Target::SubscriptionList, &self.subscription_list[..], false)
            }
            ["subscriptions", id, "providers", namespace, kind] => {
                *state
                    .stats
                    .by_subscription
                    .entry(id.to_ascii_lowercase())
                    .or_default() += 1;
                let Some(subscription) = self
                    .estate
                    .subscriptions
                    .iter()
                    .position(|s| s.id.eq_ignore_ascii_case(id))
                else {
                    return error(
                        404,
                        "SubscriptionNotFound",
                        &format!("The subscription '{id}' could not be found."),
                    );
                };
                let wanted = format!("{namespace}/{kind}");
                let Some(list) = LISTS.iter().position(|l| l.eq_ignore_ascii_case(&wanted)) else {
                    return error(
                        404,
                        "InvalidResourceType",
                        &format!("The resource type '{wanted}' could not be found."),
                    );
                };
                let sub = &self.estate.subscriptions[subscription];
                match sub.access {
                    Access::Forbidden => {
                        return error(
                            403,
                            "AuthorizationFailed",
                            &format!(
                                "The client does not have authorization to perform action \
                                 '{wanted}/read' over scope '/subscriptions/{id}'."
                            ),
                        );
                    }
                    Access::WithoutSecurityProvider if is_security(list) => {
                        return error(
                            409,
                            "MissingSubscriptionRegistration",
                            "The subscription is not registered to use namespace \
                             'Microsoft.Security'.",
                        );
                    }
                    _ => {}
                }
                let strip_power =
                    list == 0 && query.get("statusOnly").map(String::as_str) != Some("true");
                if strip_power {
                    state.stats.without_status_only += 1;
                }
                let items = match list {
                    rules::NSG_LIST => &state.nsgs[subscription][..],
                    resources::NIC_LIST => &state.nics[subscription][..],
                    _ => &sub.lists[list][..],
                };
                (Target::List { subscription, list }, items, strip_power)
            }
            _ => return error(404, "NotFound", &format!("No route for {path}.")),
        };

        let page_size = self.config.page_size;
        let skip = self.skip_of(query);
        let page = self.page_of(query);
        let now = Instant::now();
        if let Some(&until) = state.throttled.get(&(target, page)) {
            if now < until {
                state.stats.premature_retries += 1;
                let wait = (until - now).as_secs_f64().ceil() as u64;
                return too_many_requests(wait);
            }
            state.throttled.remove(&(target, page));
        }
        let planned = self
            .config
            .faults
            .iter()
            .enumerate()
            .find(|(i, f)| f.target == target && f.page == page && !state.served[*i]);
        if let Some((i, fault)) = planned {
            state.served[i] = true;
            state.stats.faults_served += 1;
            if let Some(seconds) = fault.retry_after {
                state
                    .throttled
                    .insert((target, page), now + Duration::from_secs(seconds));
            }
            return match (fault.status, fault.retry_after) {
                (429, Some(seconds)) => too_many_requests(seconds),
                (status, retry_after) => {
                    let (status, headers, body) = error(
                        status,
                        "InternalServerError",
                        "Encountered an internal server error.",
                    );
                    let headers = retry_after
                        .map(|s| vec![("retry-after", s.to_string())])
                        .unwrap_or(headers);
                    (status, headers, body)
                }
            };
        }

        let end = (skip + page_size).min(items.len());
        let mut value: Vec<Value> = items.get(skip..end).unwrap_or_default().to_vec();
        if strip_power {
            for vm in &mut value {
                if let Some(properties) = vm["properties"].as_object_mut() {
                    properties.remove("instanceView");
                }
            }
        }
        let mut body = json!({ "value": value });
        if end < items.len() {
            let mut next = format!(
                "{}{path}?api-version={}",
                self.url,
                query
                    .get("api-version")
                    .map(String::as_str)
                    .unwrap_or_default()
            );
            if let Some(status_only) = query.get("statusOnly") {
                next.push_str(&format!("&statusOnly={status_only}"));
            }
            next.push_str(&format!("&$skiptoken={end}"));
            body["nextLink"] = json!(next);
        }
        (200, Vec::new(), body)
    }
}

fn too_many_requests(seconds: u64) -> Answer {
    let (status, _, body) = error(
        429,
        "TooManyRequests",
        "The request is being throttled as the limit has been reached for operation type - Read.",
    );
    (status, vec![("retry-after", seconds.to_string())], body)
}
