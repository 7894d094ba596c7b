//! The fake's writes of whole resources, as Resource Manager answers them: GET of an NSG (with
//! the NICs that name it as `networkInterfaces`), PUT of a new NSG under `If-None-Match: *` and
//! DELETE of one (400 `InUseNetworkSecurityGroupCannotBeDeleted` while a NIC names it); GET and
//! PUT of a NIC under `If-Match` (400 `InvalidResourceReference` when it names an NSG that does
//! not exist). A PUT of an existing NSG would replace all its rules, which portcullis must never
//! send: the fake refuses it. Writes start long-running operations as rule writes do, wait on
//! each other per NSG or NIC, and answer the planned faults by resource name.

use axum::http::Method as Http;
use serde_json::{Map, Value, json};

use super::rules::{
    Method, Operated, lose_if, method_not_allowed, next_etag, nsg_not_found, overlapping, same_id,
};
use super::{Answer, MutableState, Shared, error};

/// The position of the NIC list in [`super::LISTS`].
pub const NIC_LIST: usize = 1;

impl Shared {
    pub(super) fn answer_nsg(
        &self,
        state: &mut MutableState,
        subscription: &str,
        id: &str,
        request: &super::rules::Request<'_>,
    ) -> Answer {
        let Some(s) = self.subscription_index(subscription) else {
            return nsg_not_found(id);
        };
        let found = state.nsgs[s].iter().position(|n| same_id(n, id));
        match (request.method, found) {
            (&Http::GET, Some(n)) => {
                let mut nsg = state.nsgs[s][n].clone();
                let users: Vec<Value> = state.nics[s]
                    .iter()
                    .filter(|nic| names_nsg(nic, id))
                    .map(|nic| json!({"id": nic["id"]}))
                    .collect();
                if !users.is_empty() {
                    nsg["properties"]["networkInterfaces"] = json!(users);
                }
                (200, Vec::new(), nsg)
            }
            (&Http::GET, None) => nsg_not_found(id),
            (&Http::PUT, _) => self.create_nsg(state, s, id, found.is_some(), request),
            (&Http::DELETE, Some(n)) => self.delete_nsg(state, s, n, request),
            (&Http::DELETE, None) => (204, Vec::new(), Value::Null),
            _ => method_not_allowed(request.method),
        }
    }

    pub(super) fn answer_nic(
        &self,
        state: &mut MutableState,
        subscription: &str,
        id: &str,
        request: &super::rules::Request<'_>,
    ) -> Answer {
        let found = self
            .subscription_index(subscription)
            .and_then(|s| Some((s, state.nics[s].iter().position(|n| same_id(n, id))?)));
        let Some((s, i)) = found else {
            return error(
                404,
                "ResourceNotFound",
                &format!("The Resource '{id}' was not found."),
            );
        };
        match *request.method {
            Http::GET => (200, Vec::new(), state.nics[s][i].clone()),
            Http::PUT => self.put_nic(state, s, i, request),
            _ => method_not_allowed(request.method),
        }
    }

    fn subscription_index(&self, subscription: &str) -> Option<usize> {
        self.estate
            .subscriptions
            .iter()
            .position(|sub| sub.id.eq_ignore_ascii_case(subscription))
    }

    fn create_nsg(
        &self,
        state: &mut MutableState,
        s: usize,
        id: &str,
        exists: bool,
        request: &super::rules::Request<'_>,
    ) -> Answer {
        let lost = match self.planned_fault(state, id, last(id), Method::Put, id) {
            Ok(lost) => lost,
            Err(answer) => return answer,
        };
        if let Some(answer) = overlapping(state, id) {
            return answer;
        }
        match (exists, request.if_none_match) {
            (true, Some("*")) => return precondition_failed(id),
            (true, _) => {
                return error(
                    400,
                    "FakeRefusesNsgReplace",
                    &format!(
                        "A PUT of the existing NSG '{id}' would replace all its rules; \
                         portcullis must write single rules instead."
                    ),
                );
            }
            (false, _) => {}
        }
        let Some(body) = object(request.body) else {
            return invalid_body();
        };
        let Some(location) = body.get("location").and_then(Value::as_str) else {
            return error(
                400,
                "LocationRequired",
                "The location property is required for this definition.",
            );
        };
        let mut nsg = super::estate::nsg(id, Vec::new());
        nsg["location"] = json!(location);
        nsg["tags"] = body.get("tags").cloned().unwrap_or_else(|| json!({}));
        nsg["etag"] = json!(next_etag(state));
        nsg["properties"]["provisioningState"] = json!("Updating");
        state.nsgs[s].push(nsg.clone());
        let (_, headers, _) =
            self.start_operation(state, s, Operated::Nsg(id.to_string()), Method::Put);
        lose_if(state, lost, (201, headers, nsg))
    }

    /// The checks a write of an existing resource passes first: its planned fault, an operation
    /// on it not ended, `If-Match`. Gives its id and whether the answer is to be lost.
    fn admit(
        &self,
        state: &mut MutableState,
        resource: &Value,
        method: Method,
        if_match: Option<&str>,
    ) -> Result<(String, bool), Answer> {
        let id = resource["id"].as_str().unwrap_or_default().to_string();
        let lost = self.planned_fault(state, &id, last(&id), method, &id)?;
        if let Some(answer) = overlapping(state, &id) {
            return Err(answer);
        }
        if !etag_matches(resource, if_match) {
            return Err(precondition_failed(&id));
        }
        Ok((id, lost))
    }

    fn delete_nsg(
        &self,
        state: &mut MutableState,
        s: usize,
        n: usize,
        request: &super::rules::Request<'_>,
    ) -> Answer {
        let current = state.nsgs[s][n].clone();
        let (id, lost) = match self.admit(state, &current, Method::Delete, request.if_match) {
            Ok(admitted) => admitted,
            Err(answer) => return answer,
        };
        if state.nics[s].iter().any(|nic| names_nsg(nic, &id)) {
            return error(
                400,
                "InUseNetworkSecurityGroupCannotBeDeleted",
                &format!(
                    "Network security group {id} cannot be deleted because it is in use by a \
                     network interface."
                ),
            );
        }
        let etag = next_etag(state);
        let nsg = &mut state.nsgs[s][n];
        nsg["etag"] = json!(etag);
        nsg["properties"]["provisioningState"] = json!("Deleting");
        let answer = self.start_operation(state, s, Operated::Nsg(id), Method::Delete);
        lose_if(state, lost, answer)
    }

    fn put_nic(
        &self,
        state: &mut MutableState,
        s: usize,
        i: usize,
        request: &super::rules::Request<'_>,
    ) -> Answer {
        let current = state.nics[s][i].clone();
        let (id, lost) = match self.admit(state, &current, Method::Put, request.if_match) {
            Ok(admitted) => admitted,
            Err(answer) => return answer,
        };
        let Some(mut body) = object(request.body) else {
            return invalid_body();
        };
        let has_ip_configs = body
            .get("properties")
            .and_then(|p| p.get("ipConfigurations"))
            .and_then(Value::as_array)
            .is_some_and(|list| !list.is_empty());
        if !has_ip_configs {
            return error(
                400,
                "NetworkInterfaceMustHaveAtLeastOneIpConfiguration",
                &format!("Network interface {id} must have one or more IP configurations."),
            );
        }
        if let Some(nsg) = body
            .get("properties")
            .and_then(|p| p.get("networkSecurityGroup"))
            .and_then(|n| n.get("id"))
            .and_then(Value::as_str)
            && !state.nsgs.iter().flatten().any(|n| same_id(n, nsg))
        {
            return error(
                400,
                "InvalidResourceReference",
                &format!(
                    "Resource {nsg} referenced by resource {id} was not found. Please make sure \
                     that the referenced resource exists, and that both resources are in the \
                     same region."
                ),
            );
        }
        let current = &state.nics[s][i];
        for key in ["id", "name", "type", "location"] {
            body.insert(key.to_string(), current[key].clone());
        }
        body.insert("etag".to_string(), json!(next_etag(state)));
        let mut nic = Value::Object(body);
        nic["properties"]["provisioningState"] = json!("Updating");
        state.nics[s][i] = nic.clone();
        let (_, headers, _) = self.start_operation(state, s, Operated::Nic(id), Method::Put);
        lose_if(state, lost, (200, headers, nic))
    }
}

fn names_nsg(nic: &Value, nsg: &str) -> bool {
    nic["properties"]["networkSecurityGroup"]["id"]
        .as_str()
        .is_some_and(|i| i.eq_ignore_ascii_case(nsg))
}

fn last(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

/// Whether `If-Match` (if sent) holds for `resource`.
fn etag_matches(resource: &Value, if_match: Option<&str>) -> bool {
    match if_match {
        None | Some("*") => true,
        Some(wanted) => resource["etag"].as_str() == Some(wanted),
    }
}

fn object(body: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice(body).ok()? {
        Value::Object(body) => Some(body),
        _ => None,
    }
}

fn invalid_body() -> Answer {
    error(
        400,
        "InvalidRequestFormat",
        "Cannot parse the request: the body must be a JSON object.",
    )
}

fn precondition_failed(id: &str) -> Answer {
    error(
        412,
        "PreconditionFailed",
        &format!("The condition specified using HTTP conditional header(s) is not met for '{id}'."),
    )
}
