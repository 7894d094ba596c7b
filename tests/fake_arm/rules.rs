//! The fake's security rule writes, as Resource Manager answers them: GET, PUT and DELETE of
//! one rule of an NSG, and GET of the NSG itself, over the NSGs the fake serves (so a re-scan
//! lists what was written).
//!
//! Etags (`W/"…"`) change on every write; `If-Match` and `If-None-Match` answer 412 when they do
//! not hold. PUT validates like the real one (priority 100–4096 and unique per direction, one
//! source, destination and port form each) and answers 200/201 with `Azure-AsyncOperation`; DELETE
//! answers 202 with `Location`. Each operation reports `InProgress` for [`Writes::polls`] polls,
//! then `Succeeded` (or `Failed`, for [`Writes::failing`] rules). A write to an NSG whose previous
//! operation has not finished is an overlap: counted, and answered 409
//! `AnotherOperationInProgress` as Resource Manager does. Planned [`WriteFault`]s are answered
//! once each.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::{Answer, MutableState, Shared, error};

/// The position of the NSG list in [`super::LISTS`].
pub const NSG_LIST: usize = 4;

/// How writes behave.
#[derive(Clone, Debug, Default)]
pub struct Writes {
    /// Polls of each operation that answer `InProgress` before it ends; `usize::MAX` never ends.
    pub polls: usize,
    /// Rules (by name) whose PUT operations end `Failed`.
    pub failing: Vec<String>,
    /// Seconds of `Retry-After` sent with operations and their polls.
    pub retry_after: Option<u64>,
    pub faults: Vec<WriteFault>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Put,
    Delete,
}

/// What a planned fault answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteAnswer {
    /// 429 with `Retry-After` (seconds).
    Throttled(u64),
    /// 409 `AnotherOperationInProgress`.
    Busy,
    /// 403 `RequestDisallowedByPolicy`.
    Disallowed,
    /// 409 `ScopeLocked`.
    Locked,
    /// 403 `AuthorizationFailed`.
    Forbidden,
    /// 500.
    ServerError,
    /// The write is made and its operation ends at once, but the answer is a 500, as when a
    /// gateway loses Resource Manager's answer.
    LostAnswer,
}

/// An answer to the first write of `method` to the rule named `rule`.
#[derive(Clone, Debug)]
pub struct WriteFault {
    pub rule: String,
    pub method: Method,
    pub answer: WriteAnswer,
}

/// A long-running operation.
pub(super) struct Operation {
    subscription: usize,
    target: Operated,
    method: Method,
    polls_left: usize,
    fails: bool,
    done: bool,
}

/// What an operation writes: a rule of an NSG, or a whole NSG or NIC (by id).
pub(super) enum Operated {
    Rule { nsg: String, rule: String },
    Nsg(String),
    Nic(String),
}

impl Operated {
    /// The key writes wait on: the NSG (a rule's included) or the NIC, lower-cased.
    pub(super) fn key(&self) -> String {
        match self {
            Operated::Rule { nsg: id, .. } | Operated::Nsg(id) | Operated::Nic(id) => {
                id.to_ascii_lowercase()
            }
        }
    }

    fn name(&self) -> &str {
        match self {
            Operated::Rule { rule, .. } => rule,
            Operated::Nsg(id) | Operated::Nic(id) => id.rsplit('/').next().unwrap_or(id),
        }
    }
}

/// Where a request is in the fake's NSGs.
pub(super) enum Route<'a> {
    Nsg {
        subscription: &'a str,
        nsg_id: String,
    },
    Rule {
        subscription: &'a str,
        nsg_id: String,
        rule: &'a str,
    },
    Nic {
        subscription: &'a str,
        nic_id: String,
    },
    Operation {
        id: &'a str,
        location: bool,
    },
}

/// The route of a path, if it is one of these.
pub(super) fn route<'a>(segments: &[&'a str]) -> Option<Route<'a>> {
    let nsg_id = |s: &[&str]| format!("/{}", s[..8].join("/"));
    let is_network = |s: &[&str], kind: &str| {
        s[0].eq_ignore_ascii_case("subscriptions")
            && s[2].eq_ignore_ascii_case("resourceGroups")
            && s[4].eq_ignore_ascii_case("providers")
            && s[5].eq_ignore_ascii_case("Microsoft.Network")
            && s[6].eq_ignore_ascii_case(kind)
    };
    let is_nsg = |s: &[&str]| is_network(s, "networkSecurityGroups");
    match segments.len() {
        8 if is_nsg(segments) => Some(Route::Nsg {
            subscription: segments[1],
            nsg_id: nsg_id(segments),
        }),
        8 if is_network(segments, "networkInterfaces") => Some(Route::Nic {
            subscription: segments[1],
            nic_id: nsg_id(segments),
        }),
        10 if is_nsg(segments) && segments[8].eq_ignore_ascii_case("securityRules") => {
            Some(Route::Rule {
                subscription: segments[1],
                nsg_id: nsg_id(segments),
                rule: segments[9],
            })
        }
        8 if segments[0] == "subscriptions"
            && segments[4] == "locations"
            && matches!(segments[6], "operations" | "operationResults") =>
        {
            Some(Route::Operation {
                id: segments[7],
                location: segments[6] == "operationResults",
            })
        }
        _ => None,
    }
}

/// What a request to a route carries.
pub(super) struct Request<'a> {
    pub method: &'a axum::http::Method,
    pub if_match: Option<&'a str>,
    pub if_none_match: Option<&'a str>,
    pub body: &'a [u8],
}

impl Shared {
    pub(super) fn answer_route(
        &self,
        state: &mut MutableState,
        route: Route<'_>,
        request: &Request<'_>,
    ) -> Answer {
        match route {
            Route::Operation { id, location } => self.poll(state, id, location),
            Route::Nsg {
                subscription,
                nsg_id,
            } => self.answer_nsg(state, subscription, &nsg_id, request),
            Route::Nic {
                subscription,
                nic_id,
            } => self.answer_nic(state, subscription, &nic_id, request),
            Route::Rule {
                subscription,
                nsg_id,
                rule,
            } => {
                let Some((s, n)) = self.find_nsg(state, subscription, &nsg_id) else {
                    return nsg_not_found(&nsg_id);
                };
                match *request.method {
                    axum::http::Method::GET => match rule_index(&state.nsgs[s][n], rule) {
                        Some(i) => (200, Vec::new(), rules(&state.nsgs[s][n])[i].clone()),
                        None => rule_not_found(&nsg_id, rule),
                    },
                    axum::http::Method::PUT => {
                        self.write(state, (s, n), rule, Method::Put, request)
                    }
                    axum::http::Method::DELETE => {
                        self.write(state, (s, n), rule, Method::Delete, request)
                    }
                    _ => method_not_allowed(request.method),
                }
            }
        }
    }

    pub(super) fn find_nsg(
        &self,
        state: &MutableState,
        subscription: &str,
        nsg_id: &str,
    ) -> Option<(usize, usize)> {
        let s = self
            .estate
            .subscriptions
            .iter()
            .position(|sub| sub.id.eq_ignore_ascii_case(subscription))?;
        let n = state.nsgs[s].iter().position(|nsg| {
            nsg["id"]
                .as_str()
                .is_some_and(|id| id.eq_ignore_ascii_case(nsg_id))
        })?;
        Some((s, n))
    }

    fn write(
        &self,
        state: &mut MutableState,
        (s, n): (usize, usize),
        rule: &str,
        method: Method,
        request: &Request<'_>,
    ) -> Answer {
        let nsg_id = state.nsgs[s][n]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let scope = format!("{nsg_id}/securityRules/{rule}");
        match self.planned_fault(state, &nsg_id, rule, method, &scope) {
            Err(answer) => answer,
            Ok(lost) => self.answer_write(state, (s, n), rule, method, request, lost),
        }
    }

    /// Throttling and the planned fault of the first write of `method` to `name` (in
    /// `container`, whose id `scope` is for messages): `Err` answers now; `Ok(lost)` goes on,
    /// and with `lost` the write is made but its answer lost.
    pub(super) fn planned_fault(
        &self,
        state: &mut MutableState,
        container: &str,
        name: &str,
        method: Method,
        scope: &str,
    ) -> Result<bool, Answer> {
        let throttle_key = (container.to_ascii_lowercase(), name.to_ascii_lowercase());
        let now = Instant::now();
        if let Some(&until) = state.write_throttled.get(&throttle_key) {
            if now < until {
                state.stats.premature_retries += 1;
                return Err(throttled((until - now).as_secs_f64().ceil() as u64));
            }
            state.write_throttled.remove(&throttle_key);
        }
        let planned = self.config.writes.faults.iter().enumerate().find(|(i, f)| {
            f.method == method
                && f.rule.eq_ignore_ascii_case(name)
                && !state.write_faults_served[*i]
        });
        let Some((i, fault)) = planned else {
            return Ok(false);
        };
        state.write_faults_served[i] = true;
        state.stats.faults_served += 1;
        Err(match fault.answer {
            WriteAnswer::LostAnswer => return Ok(true),
            WriteAnswer::Throttled(seconds) => {
                state
                    .write_throttled
                    .insert(throttle_key, now + Duration::from_secs(seconds));
                throttled(seconds)
            }
            WriteAnswer::Busy => busy(container),
            WriteAnswer::Disallowed => error(
                403,
                "RequestDisallowedByPolicy",
                &format!(
                    "Resource '{name}' was disallowed by policy. Policy identifiers: \
                     '[{{\"policyAssignment\":{{\"name\":\"Deny NSG changes\"}}}}]'."
                ),
            ),
            WriteAnswer::Locked => error(
                409,
                "ScopeLocked",
                &format!(
                    "The scope '{scope}' cannot perform write operation because following \
                     scope(s) are locked: '{container}'. Please remove the lock and try again."
                ),
            ),
            WriteAnswer::Forbidden => error(
                403,
                "AuthorizationFailed",
                &format!(
                    "The client does not have authorization to perform this write over scope \
                     '{scope}'."
                ),
            ),
            WriteAnswer::ServerError => server_error(),
        })
    }

    /// A write past the planned faults: refused while the NSG is busy or the precondition fails,
    /// else made; with `lost`, its operation ends at once and the answer is a 500.
    fn answer_write(
        &self,
        state: &mut MutableState,
        (s, n): (usize, usize),
        rule: &str,
        method: Method,
        request: &Request<'_>,
        lost: bool,
    ) -> Answer {
        let nsg_id = state.nsgs[s][n]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if let Some(answer) = overlapping(state, &nsg_id) {
            return answer;
        }
        let existing = rule_index(&state.nsgs[s][n], rule);
        if method == Method::Delete && existing.is_none() {
            return (204, Vec::new(), Value::Null);
        }
        let current_etag = existing.map(|i| {
            rules(&state.nsgs[s][n])[i]["etag"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        });
        let precondition_holds = match (request.if_match, request.if_none_match) {
            (Some(wanted), _) => {
                current_etag.as_deref() == Some(wanted) || wanted == "*" && existing.is_some()
            }
            (None, Some("*")) => existing.is_none(),
            _ => true,
        };
        if !precondition_holds {
            return error(
                412,
                "PreconditionFailed",
                &format!(
                    "The condition specified using HTTP conditional header(s) is not met for \
                     '{nsg_id}/securityRules/{rule}'."
                ),
            );
        }
        let answer = match method {
            Method::Put => self.put(state, (s, n), rule, existing, request.body),
            Method::Delete => {
                let etag = next_etag(state);
                let i = existing.expect("an absent rule was answered 204 above");
                let entry = &mut rules_mut(&mut state.nsgs[s][n])[i];
                entry["properties"]["provisioningState"] = json!("Deleting");
                entry["etag"] = json!(etag);
                let target = Operated::Rule {
                    nsg: nsg_id,
                    rule: rule.to_string(),
                };
                self.start_operation(state, s, target, Method::Delete)
            }
        };
        lose_if(state, lost, answer)
    }

    fn put(
        &self,
        state: &mut MutableState,
        (s, n): (usize, usize),
        rule: &str,
        existing: Option<usize>,
        body: &[u8],
    ) -> Answer {
        let properties = match serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|mut body| body.get_mut("properties").map(Value::take))
        {
            Some(Value::Object(properties)) => properties,
            _ => {
                return error(
                    400,
                    "InvalidRequestFormat",
                    "Cannot parse the request: the body must be a JSON object with properties.",
                );
            }
        };
        if let Err(answer) = validate(&state.nsgs[s][n], rule, &properties) {
            return answer;
        }
        let mut properties = properties;
        properties.remove("provisioningState");
        for plural in [
            "sourcePortRanges",
            "destinationPortRanges",
            "sourceAddressPrefixes",
            "destinationAddressPrefixes",
        ] {
            properties.entry(plural).or_insert_with(|| json!([]));
        }
        properties.insert("provisioningState".to_string(), json!("Updating"));
        let nsg_id = state.nsgs[s][n]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let etag = next_etag(state);
        let entry = json!({
            "name": rule,
            "id": format!("{nsg_id}/securityRules/{rule}"),
            "etag": etag,
            "type": "Microsoft.Network/networkSecurityGroups/securityRules",
            "properties": properties,
        });
        let nsg = &mut state.nsgs[s][n];
        nsg["etag"] = json!(etag);
        let list = rules_mut(nsg);
        let status = match existing {
            Some(i) => {
                list[i] = entry.clone();
                200
            }
            None => {
                list.push(entry.clone());
                201
            }
        };
        let target = Operated::Rule {
            nsg: nsg_id,
            rule: rule.to_string(),
        };
        let (_, headers, _) = self.start_operation(state, s, target, Method::Put);
        (status, headers, entry)
    }

    /// Starts an operation on a rule, NSG or NIC of subscription `s` and answers 202 with where
    /// to poll it.
    pub(super) fn start_operation(
        &self,
        state: &mut MutableState,
        s: usize,
        target: Operated,
        method: Method,
    ) -> Answer {
        let container = match &target {
            Operated::Rule { nsg: id, .. } | Operated::Nsg(id) | Operated::Nic(id) => id.clone(),
        };
        *state.stats.writes_by_nsg.entry(container).or_default() += 1;
        let id = state.operations.len() as u64 + 1;
        let fails = method == Method::Put
            && self
                .config
                .writes
                .failing
                .iter()
                .any(|r| r.eq_ignore_ascii_case(target.name()));
        state.busy.insert(target.key(), id);
        state.operations.insert(
            id,
            Operation {
                subscription: s,
                target,
                method,
                polls_left: self.config.writes.polls,
                fails,
                done: false,
            },
        );
        let base = format!(
            "{}/subscriptions/{}/providers/Microsoft.Network/locations/westeurope",
            self.url, self.estate.subscriptions[s].id
        );
        let mut headers = vec![(
            "azure-asyncoperation",
            format!("{base}/operations/{id}?api-version=2024-03-01"),
        )];
        if method == Method::Delete {
            headers = vec![(
                "location",
                format!("{base}/operationResults/{id}?api-version=2024-03-01"),
            )];
        }
        if let Some(seconds) = self.config.writes.retry_after {
            headers.push(("retry-after", seconds.to_string()));
        }
        (202, headers, Value::Null)
    }

    /// One poll of an operation: its status (`Azure-AsyncOperation`) or, for `Location`, 202
    /// until it ends.
    fn poll(&self, state: &mut MutableState, id: &str, location: bool) -> Answer {
        state.stats.polls += 1;
        let Some((id, operation)) = id
            .parse()
            .ok()
            .and_then(|id: u64| Some(id).zip(state.operations.get_mut(&id)))
        else {
            return error(404, "OperationNotFound", &format!("No operation {id}."));
        };
        let mut headers = Vec::new();
        if let Some(seconds) = self.config.writes.retry_after {
            headers.push(("retry-after", seconds.to_string()));
        }
        if !operation.done && operation.polls_left > 0 {
            operation.polls_left -= 1;
            return if location {
                (202, headers, Value::Null)
            } else {
                (200, headers, json!({"status": "InProgress"}))
            };
        }
        let (fails, rule) = (operation.fails, operation.target.name().to_string());
        end(state, id);
        match (location, fails) {
            (true, _) => (204, Vec::new(), Value::Null),
            (false, false) => (200, Vec::new(), json!({"status": "Succeeded"})),
            (false, true) => (
                200,
                Vec::new(),
                json!({"status": "Failed", "error": {
                    "code": "InternalServerError",
                    "message": format!("Provisioning of security rule '{rule}' failed."),
                }}),
            ),
        }
    }
}

/// Ends an operation (once): the rule or NSG deleted, or the rule, NSG or NIC provisioned (or
/// failed).
fn end(state: &mut MutableState, id: u64) {
    let Some(operation) = state.operations.get_mut(&id).filter(|op| !op.done) else {
        return;
    };
    operation.done = true;
    let s = operation.subscription;
    let state_after = if operation.fails {
        "Failed"
    } else {
        "Succeeded"
    };
    match (&operation.target, operation.method) {
        (Operated::Rule { nsg, rule }, method) => {
            let Some(nsg) = state.nsgs[s].iter_mut().find(|n| same_id(n, nsg)) else {
                return;
            };
            if let Some(i) = rule_index(nsg, rule) {
                match method {
                    Method::Delete => {
                        rules_mut(nsg).remove(i);
                    }
                    Method::Put => {
                        rules_mut(nsg)[i]["properties"]["provisioningState"] = json!(state_after);
                    }
                }
            }
        }
        (Operated::Nsg(id), Method::Delete) => state.nsgs[s].retain(|n| !same_id(n, id)),
        (Operated::Nsg(id), Method::Put) => {
            if let Some(nsg) = state.nsgs[s].iter_mut().find(|n| same_id(n, id)) {
                nsg["properties"]["provisioningState"] = json!(state_after);
            }
        }
        (Operated::Nic(id), _) => {
            if let Some(nic) = state.nics[s].iter_mut().find(|n| same_id(n, id)) {
                nic["properties"]["provisioningState"] = json!(state_after);
            }
        }
    }
}

/// A 409 `AnotherOperationInProgress` when an operation on `container` has not ended.
pub(super) fn overlapping(state: &mut MutableState, container: &str) -> Option<Answer> {
    let op = *state.busy.get(&container.to_ascii_lowercase())?;
    if state.operations[&op].done {
        return None;
    }
    state.stats.overlapping_writes += 1;
    Some(busy(container))
}

/// `answer`, unless `lost`: then the operation it started ends at once and the answer is a 500,
/// as when a gateway loses Resource Manager's answer.
pub(super) fn lose_if(state: &mut MutableState, lost: bool, answer: Answer) -> Answer {
    if !lost || !(200..300).contains(&answer.0) {
        return answer;
    }
    // The operation just started has the highest id.
    end(state, state.operations.len() as u64);
    server_error()
}

pub(super) fn server_error() -> Answer {
    error(
        500,
        "InternalServerError",
        "Encountered an internal server error.",
    )
}

/// The rule checks of Resource Manager that a plan can break.
fn validate(nsg: &Value, rule: &str, properties: &Map<String, Value>) -> Result<(), Answer> {
    let invalid = |message: String| Err(error(400, "InvalidParameter", &message));
    if rule.chars().count() > 80 {
        return invalid(format!(
            "Security rule name '{rule}' is longer than 80 characters."
        ));
    }
    let text = |key: &str| properties.get(key).and_then(Value::as_str);
    let one_of = |key: &str, allowed: &[&str]| {
        text(key).is_some_and(|v| allowed.iter().any(|a| a.eq_ignore_ascii_case(v)))
    };
    for (key, allowed) in [
        ("protocol", &["Tcp", "Udp", "Icmp", "Esp", "Ah", "*"][..]),
        ("access", &["Allow", "Deny"][..]),
        ("direction", &["Inbound", "Outbound"][..]),
    ] {
        if !one_of(key, allowed) {
            return invalid(format!(
                "Security rule {rule} has invalid value for property '{key}': {:?}; allowed \
                 values: {}.",
                properties.get(key),
                allowed.join(", ")
            ));
        }
    }
    let Some(priority) = properties.get("priority").and_then(Value::as_u64) else {
        return invalid(format!("Security rule {rule} has no priority."));
    };
    if !(100..=4096).contains(&priority) {
        return Err(error(
            400,
            "SecurityRuleInvalidPriority",
            &format!(
                "Security rule {rule} has invalid Priority. Value provided: {priority} Allowed \
                 range 100-4096."
            ),
        ));
    }
    let present = |key: &str| match properties.get(key) {
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(items)) => !items.is_empty(),
        _ => false,
    };
    for (what, forms) in [
        (
            "source",
            &[
                "sourceAddressPrefix",
                "sourceAddressPrefixes",
                "sourceApplicationSecurityGroups",
            ][..],
        ),
        (
            "destination",
            &[
                "destinationAddressPrefix",
                "destinationAddressPrefixes",
                "destinationApplicationSecurityGroups",
            ][..],
        ),
        ("source port", &["sourcePortRange", "sourcePortRanges"][..]),
        (
            "destination port",
            &["destinationPortRange", "destinationPortRanges"][..],
        ),
    ] {
        if forms.iter().filter(|form| present(form)).count() != 1 {
            return invalid(format!(
                "Security rule {rule} must give its {what} in exactly one of {}.",
                forms.join(", ")
            ));
        }
    }
    if text("description").is_some_and(|d| d.chars().count() > 140) {
        return invalid(format!(
            "Security rule {rule} has a description longer than 140 characters."
        ));
    }
    let direction = text("direction").unwrap_or_default();
    let conflict = rules(nsg).iter().find(|other| {
        !other["name"]
            .as_str()
            .unwrap_or_default()
            .eq_ignore_ascii_case(rule)
            && other["properties"]["priority"].as_u64() == Some(priority)
            && other["properties"]["direction"]
                .as_str()
                .is_some_and(|d| d.eq_ignore_ascii_case(direction))
    });
    if let Some(other) = conflict {
        return Err(error(
            400,
            "SecurityRuleConflict",
            &format!(
                "Security rule {rule} conflicts with rule {}. Rules cannot have the same \
                 Priority and Direction. To learn more, see aka.ms/nsgrules.",
                other["name"].as_str().unwrap_or_default()
            ),
        ));
    }
    Ok(())
}

pub(super) fn rules(nsg: &Value) -> &[Value] {
    nsg["properties"]["securityRules"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn rules_mut(nsg: &mut Value) -> &mut Vec<Value> {
    let properties = &mut nsg["properties"];
    if !properties["securityRules"].is_array() {
        properties["securityRules"] = json!([]);
    }
    properties["securityRules"]
        .as_array_mut()
        .expect("an array was just put there")
}

fn rule_index(nsg: &Value, rule: &str) -> Option<usize> {
    rules(nsg).iter().position(|r| {
        r["name"]
            .as_str()
            .is_some_and(|n| n.eq_ignore_ascii_case(rule))
    })
}

/// Whether a resource's (or rule's) id is `id`; ids differ in case now and then.
pub(super) fn same_id(item: &Value, id: &str) -> bool {
    item["id"]
        .as_str()
        .is_some_and(|i| i.eq_ignore_ascii_case(id))
}

pub(super) fn next_etag(state: &mut MutableState) -> String {
    state.etags += 1;
    format!("W/\"7e7a0000-0000-4000-8000-{:012x}\"", state.etags)
}

fn throttled(seconds: u64) -> Answer {
    let (status, _, body) = error(
        429,
        "RetryableErrorDueToAnotherOperation",
        "Operation PutSecurityRuleOperation is being throttled; retry after the time given.",
    );
    (status, vec![("retry-after", seconds.to_string())], body)
}

fn busy(nsg_id: &str) -> Answer {
    error(
        409,
        "AnotherOperationInProgress",
        &format!("Another operation on this or dependent resource is in progress: {nsg_id}."),
    )
}

pub(super) fn nsg_not_found(nsg_id: &str) -> Answer {
    error(
        404,
        "ResourceNotFound",
        &format!("The Resource '{nsg_id}' was not found."),
    )
}

fn rule_not_found(nsg_id: &str, rule: &str) -> Answer {
    error(
        404,
        "NotFound",
        &format!("Resource {nsg_id}/securityRules/{rule} not found."),
    )
}

pub(super) fn method_not_allowed(method: &axum::http::Method) -> Answer {
    error(
        405,
        "MethodNotAllowed",
        &format!("The method {method} is not allowed here."),
    )
}

/// The operations of the fake, by id.
pub(super) type Operations = HashMap<u64, Operation>;
