//! Writes to Azure network security groups, one security rule at a time: read a rule with its
//! etag, create or replace it (`PUT …/securityRules/{name}`) under an `If-Match` or
//! `If-None-Match` precondition, delete it under `If-Match`. Never a PUT of an existing NSG, which
//! would clobber concurrent changes and Defender's rules. The only whole resources written are
//! the ones `fix --rule internet-facing-vm-nsg` needs: an NSG it creates (`If-None-Match: *`) or
//! deletes again, and a NIC whose NSG reference it sets, written back as read under `If-Match`.
//!
//! Requests go through [`super::arm`]'s session (token, timeouts, body limit, retries of 429,
//! 409 `AnotherOperationInProgress` and 5xx). Here: long-running operations are polled to their
//! end (`Azure-AsyncOperation`, else `Location`), each within the deadline; writes to one NSG
//! wait for each other, since Resource Manager serialises them anyway; governance answers (403,
//! `RequestDisallowedByPolicy`, `ScopeLocked`) are [`ErrorKind::Blocked`], not retried; 412 is
//! [`ErrorKind::Stale`], unless a retry of a write whose answer was lost finds the rule as
//! written; Defender's `SecurityCenter-` rules are refused unless the caller
//! allows them. Every error names the NSG and the rule and says what to do.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{IF_MATCH, IF_NONE_MATCH};
use reqwest::{Method, Url};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::arm::{Arm, ArmError, Call, Reply, Session, show};
use super::credential::Credential;
use crate::limits::Limits;

/// The wait between polls of a long-running operation that gives no `Retry-After`.
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// The longest security rule name Resource Manager accepts.
const MAX_RULE_NAME: usize = 80;
/// The name prefix of the rules Defender for Cloud's JIT writes and manages.
pub const DEFENDER_PREFIX: &str = "SecurityCenter-";

/// A network security group's Resource Manager id,
/// `/subscriptions/{id}/resourceGroups/{group}/providers/Microsoft.Network/networkSecurityGroups/{name}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NsgId(String);

impl NsgId {
    pub fn parse(id: &str) -> Result<Self, WriteError> {
        network_id(id, "networkSecurityGroups", "NSG").map(NsgId)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn rule_path(&self, rule: &str) -> String {
        format!("{}/securityRules/{rule}", self.0)
    }
}

impl fmt::Display for NsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A network interface's Resource Manager id,
/// `/subscriptions/{id}/resourceGroups/{group}/providers/Microsoft.Network/networkInterfaces/{name}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NicId(String);

impl NicId {
    pub fn parse(id: &str) -> Result<Self, WriteError> {
        network_id(id, "networkInterfaces", "NIC").map(NicId)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NicId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks that `id` is a `Microsoft.Network/{kind}` resource id whose segments stay segments;
/// `what` names the kind in the error.
fn network_id(id: &str, kind: &str, what: &str) -> Result<String, WriteError> {
    let invalid = || WriteError {
        target: format!("{what} {id}"),
        kind: ErrorKind::InvalidId,
    };
    let segments: Vec<&str> = id
        .strip_prefix('/')
        .ok_or_else(invalid)?
        .split('/')
        .collect();
    let fixed = [
        (0, "subscriptions"),
        (2, "resourceGroups"),
        (4, "providers"),
        (5, "Microsoft.Network"),
        (6, kind),
    ];
    let well_formed = segments.len() == 8
        && fixed
            .iter()
            .all(|(i, word)| segments[*i].eq_ignore_ascii_case(word))
        && [1, 3, 7].iter().all(|i| plain_segment(segments[*i]));
    if !well_formed {
        return Err(invalid());
    }
    Ok(id.to_string())
}

/// A path segment that stays one segment: not empty, no `.`/`..`, no characters a URL would
/// read as something else.
fn plain_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment != "."
        && segment != ".."
        && !segment
            .chars()
            .any(|c| matches!(c, '?' | '#' | '%' | '\\') || c.is_control())
}

/// A rule's etag as Resource Manager gives it (`W/"…"`), sent back as is in `If-Match`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Etag(pub String);

impl fmt::Display for Etag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the rule (or resource) must be for a PUT to go ahead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Precondition {
    /// Exactly the rule that was read: replace it only if its etag is still this one.
    IfMatch(Etag),
    /// Create only: the rule must not exist.
    IfNoneMatch,
}

impl Precondition {
    fn header(&self) -> (reqwest::header::HeaderName, String) {
        match self {
            Precondition::IfMatch(etag) => (IF_MATCH, etag.0.clone()),
            Precondition::IfNoneMatch => (IF_NONE_MATCH, "*".to_string()),
        }
    }
}

/// Whether Defender for Cloud's `SecurityCenter-` rules may be written or deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefenderRules {
    /// Refused without a request: Defender manages them and renumbers or removes them itself.
    Refuse,
    /// The plan says so explicitly.
    Allow,
}

/// A rule's `provisioningState`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProvisioningState {
    Succeeded,
    Updating,
    Deleting,
    Failed,
    Other(String),
}

impl ProvisioningState {
    fn parse(text: &str) -> Self {
        match text.to_ascii_lowercase().as_str() {
            "succeeded" => ProvisioningState::Succeeded,
            "updating" => ProvisioningState::Updating,
            "deleting" => ProvisioningState::Deleting,
            "failed" => ProvisioningState::Failed,
            _ => ProvisioningState::Other(text.to_string()),
        }
    }
}

/// One security rule as Resource Manager holds it now.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveRule {
    pub id: String,
    pub name: String,
    pub etag: Etag,
    /// The rule's `properties` exactly as read, every field (including those portcullis does not
    /// model) but the read-only `provisioningState`: a PUT of these restores the rule.
    pub properties: Map<String, Value>,
    pub provisioning_state: ProvisioningState,
}

impl LiveRule {
    /// Whether the rule holds exactly `properties` (as a PUT of them leaves it): every field
    /// equal, and any other field one Resource Manager fills in empty (`[]`, `null`, `""`).
    pub fn holds(&self, properties: &Map<String, Value>) -> bool {
        let empty = |value: &Value| match value {
            Value::Null => true,
            Value::Array(items) => items.is_empty(),
            Value::String(text) => text.is_empty(),
            _ => false,
        };
        let written = writable(properties);
        written.iter().all(|(key, value)| {
            self.properties
                .get(key)
                .map_or(empty(value), |v| v == value)
        }) && self
            .properties
            .iter()
            .all(|(key, value)| written.contains_key(key) || empty(value))
    }

    fn from_body(body: &[u8]) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct Body {
            id: String,
            name: String,
            etag: String,
            #[serde(default)]
            properties: Map<String, Value>,
        }
        let mut body: Body = serde_json::from_slice(body)
            .map_err(|e| format!("the rule is not JSON as Resource Manager sends it: {e}"))?;
        let state = body
            .properties
            .remove("provisioningState")
            .and_then(|s| s.as_str().map(ProvisioningState::parse))
            .unwrap_or(ProvisioningState::Succeeded);
        Ok(LiveRule {
            id: body.id,
            name: body.name,
            etag: Etag(body.etag),
            properties: body.properties,
            provisioning_state: state,
        })
    }
}

/// A whole resource (an NSG or a NIC) as Resource Manager holds it now.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveResource {
    pub id: String,
    pub etag: Etag,
    /// The resource exactly as read, every field: a PUT of it (with one reference changed) keeps
    /// everything else as it is.
    pub body: Map<String, Value>,
    pub provisioning_state: ProvisioningState,
}

impl LiveResource {
    fn from_body(body: &[u8]) -> Result<Self, String> {
        let body: Map<String, Value> = serde_json::from_slice(body)
            .map_err(|e| format!("the resource is not JSON as Resource Manager sends it: {e}"))?;
        let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_string);
        let (Some(id), Some(etag)) = (text("id"), text("etag")) else {
            return Err("the resource has no id or etag, as Resource Manager always sends".into());
        };
        let provisioning_state = body
            .get("properties")
            .and_then(|p| p.get("provisioningState"))
            .and_then(Value::as_str)
            .map_or(ProvisioningState::Succeeded, ProvisioningState::parse);
        Ok(LiveResource {
            id,
            etag: Etag(etag),
            body,
            provisioning_state,
        })
    }

    fn properties(&self) -> Option<&Map<String, Value>> {
        self.body.get("properties").and_then(Value::as_object)
    }

    /// A NIC's NSG: the id its `networkSecurityGroup` names.
    pub fn nsg_reference(&self) -> Option<&str> {
        self.properties()?
            .get("networkSecurityGroup")?
            .get("id")?
            .as_str()
    }

    /// An NSG's custom security rules, by name.
    pub fn rule_names(&self) -> Vec<&str> {
        self.ids_in("securityRules", "name")
    }

    /// The NICs and subnets an NSG is attached to, by id.
    pub fn attached_to(&self) -> Vec<&str> {
        let mut ids = self.ids_in("networkInterfaces", "id");
        ids.extend(self.ids_in("subnets", "id"));
        ids
    }

    fn ids_in(&self, list: &str, key: &str) -> Vec<&str> {
        self.properties()
            .and_then(|p| p.get(list))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|item| item.get(key)?.as_str())
            .collect()
    }
}

/// The properties a PUT sends: all but the read-only ones.
fn writable(properties: &Map<String, Value>) -> Map<String, Value> {
    let mut written = properties.clone();
    written.remove("provisioningState");
    written
}

/// How a PUT went.
enum Put {
    /// Made, and its operation ended.
    Made,
    /// Refused by its precondition on a retry: the first try may have made it.
    MaybeMadeBefore,
}

/// How a delete ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deleted {
    Deleted,
    /// The rule was not there (any more): what a delete wants, so a replay converges.
    AlreadyGone,
}

/// Why governance stopped a write; not retried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlockReason {
    /// 403 `AuthorizationFailed` or another 403.
    NotAuthorized(String),
    /// `RequestDisallowedByPolicy`: an Azure Policy assignment denies the change.
    Policy(String),
    /// `ScopeLocked`: a ReadOnly or CanNotDelete lock on the NSG, its group or subscription.
    Locked(String),
}

impl fmt::Display for BlockReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockReason::NotAuthorized(message) => write!(
                f,
                "not authorised ({message}); give the identity a role with \
                 Microsoft.Network/networkSecurityGroups/securityRules/read, write and delete \
                 on the NSG (e.g. Network Contributor)"
            ),
            BlockReason::Policy(message) => write!(
                f,
                "an Azure Policy assignment disallows it ({message}); ask its owner for a policy \
                 exemption for this NSG, or change the rule by the route the policy allows"
            ),
            BlockReason::Locked(message) => write!(
                f,
                "a resource lock forbids it ({message}); remove or lift the lock on the NSG, its \
                 resource group or subscription (`az lock list`), then apply again"
            ),
        }
    }
}

/// What went wrong with one rule.
#[derive(Clone, Debug, PartialEq)]
pub enum ErrorKind {
    /// The NSG id or rule name is not one Resource Manager would accept.
    InvalidId,
    /// A `SecurityCenter-` rule, which the caller did not allow.
    Defender,
    /// 412: the rule is not as the precondition expected.
    Stale(Precondition),
    Blocked(BlockReason),
    /// Resource Manager refused the request (400 `SecurityRuleConflict`, `InvalidParameter`…).
    Rejected(ArmError),
    /// 404 on a write: the NSG or NIC is not there (any more).
    NotFound(ArmError),
    /// The long-running operation ended `Failed` or `Canceled`, or the rule was left `Failed`.
    OperationFailed {
        status: String,
        error: String,
    },
    /// The deadline passed before the write (or its operation) finished.
    OutOfTime {
        deadline: Duration,
        last: String,
    },
    /// Any other failure, after retries.
    Api(ArmError),
}

/// A write or read that failed; names its target (`rule "…" of NSG …`, `NSG …`, `NIC …`).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{target}: {kind}")]
pub struct WriteError {
    pub target: String,
    pub kind: ErrorKind,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::InvalidId => f.write_str(
                "not a security rule Resource Manager knows: give the NSG id as \
                 /subscriptions/{id}/resourceGroups/{group}/providers/Microsoft.Network/\
                 networkSecurityGroups/{name} and a rule name of 1 to 80 letters, digits, '.', \
                 '-' or '_'",
            ),
            ErrorKind::Defender => write!(
                f,
                "a Defender for Cloud rule ({DEFENDER_PREFIX}…), which Defender manages; not \
                 changed: change it through its JIT policy, or plan with Defender's rules \
                 explicitly allowed"
            ),
            ErrorKind::Stale(Precondition::IfMatch(etag)) => write!(
                f,
                "changed since it was read (etag {etag} is no longer current); nothing written: \
                 plan again from the live state"
            ),
            ErrorKind::Stale(Precondition::IfNoneMatch) => f.write_str(
                "exists already, though it was to be created; nothing written: plan again from \
                 the live state",
            ),
            ErrorKind::Blocked(reason) => write!(f, "blocked: {reason}"),
            ErrorKind::Rejected(error) => write!(
                f,
                "Resource Manager refused the rule ({error}); nothing written: correct the rule \
                 (priority 100-4096 and unique per direction in the NSG, valid ports and \
                 prefixes) and plan again"
            ),
            ErrorKind::NotFound(error) => write!(
                f,
                "it does not exist ({error}); nothing written: scan again and plan from the live \
                 state"
            ),
            ErrorKind::OperationFailed { status, error } => write!(
                f,
                "the operation ended {status} ({error}); read it again to see what it holds, \
                 then apply or undo again"
            ),
            ErrorKind::OutOfTime { deadline, last } => write!(
                f,
                "not finished within {} (--scope-deadline){}; it may still complete: read it \
                 again (portcullis fix recover) before writing it again",
                show(*deadline),
                if last.is_empty() {
                    String::new()
                } else {
                    format!(", last: {last}")
                }
            ),
            ErrorKind::Api(error) => write!(
                f,
                "{error}; nothing is known to be written: read it again, then retry later"
            ),
        }
    }
}

/// Reads and writes single security rules, and the few whole resources `fix` creates or
/// re-points, at one Resource Manager endpoint.
pub struct NetworkWriter {
    arm: Arc<Arm>,
    session: Session,
    deadline: Duration,
    /// One lock per NSG or NIC (by lower-case id): writes to one go one at a time.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// What the writer is doing, for the message of a deadline that passes.
#[derive(Default)]
struct Progress(Mutex<String>);

impl Progress {
    fn set(&self, doing: String) {
        if let Ok(mut text) = self.0.lock() {
            *text = doing;
        }
    }

    fn get(&self) -> String {
        self.0.lock().map(|t| t.clone()).unwrap_or_default()
    }
}

/// The target of a call: one security rule, or one whole NSG or NIC.
enum Target<'a> {
    Rule { nsg: &'a NsgId, rule: &'a str },
    Nsg(&'a NsgId),
    Nic(&'a NicId),
}

impl Target<'_> {
    fn error(&self, kind: ErrorKind) -> WriteError {
        WriteError {
            target: match self {
                Target::Rule { nsg, rule } => format!("rule {rule:?} of NSG {nsg}"),
                Target::Nsg(nsg) => format!("NSG {nsg}"),
                Target::Nic(nic) => format!("NIC {nic}"),
            },
            kind,
        }
    }

    fn path(&self) -> String {
        match self {
            Target::Rule { nsg, rule } => nsg.rule_path(rule),
            Target::Nsg(nsg) => nsg.0.clone(),
            Target::Nic(nic) => nic.0.clone(),
        }
    }

    /// The key writes to one NSG (its rules included) or NIC wait on: ids differ in case now
    /// and then.
    fn lock_key(&self) -> String {
        match self {
            Target::Rule { nsg, .. } | Target::Nsg(nsg) => nsg.0.to_ascii_lowercase(),
            Target::Nic(nic) => nic.0.to_ascii_lowercase(),
        }
    }

    /// A failure of a call, with governance answers told apart.
    fn failed(&self, error: ArmError) -> WriteError {
        let code = error.code.clone().unwrap_or_default();
        let kind = if code.eq_ignore_ascii_case("RequestDisallowedByPolicy") {
            ErrorKind::Blocked(BlockReason::Policy(error.to_string()))
        } else if code.eq_ignore_ascii_case("ScopeLocked") {
            ErrorKind::Blocked(BlockReason::Locked(error.to_string()))
        } else if error.status == Some(403) {
            ErrorKind::Blocked(BlockReason::NotAuthorized(error.to_string()))
        } else if error.status == Some(404) {
            ErrorKind::NotFound(error)
        } else if matches!(error.status, Some(400 | 409 | 422)) {
            ErrorKind::Rejected(error)
        } else {
            ErrorKind::Api(error)
        };
        self.error(kind)
    }
}

impl NetworkWriter {
    /// Checks the endpoint and sets up the credential; makes no call yet. Each write, with its
    /// long-running operation, must end within `limits.scope_deadline`.
    pub fn new(endpoint: &str, credential: &Credential, limits: Limits) -> Result<Self, String> {
        let arm = Arc::new(Arm::new(endpoint, credential, limits)?);
        Ok(NetworkWriter {
            session: arm.session(),
            arm,
            deadline: limits.scope_deadline,
            locks: Mutex::new(HashMap::new()),
        })
    }

    /// Gets a token once, so that a credential that cannot give one stops before any write.
    pub async fn check_credential(&self) -> Result<(), String> {
        self.arm.check_credential().await
    }

    /// HTTP requests sent so far, retries and polls included.
    pub fn calls(&self) -> u64 {
        self.session.calls()
    }

    /// The rule as it is now; `None` when the NSG has no such rule.
    pub async fn get_rule(&self, nsg: &NsgId, rule: &str) -> Result<Option<LiveRule>, WriteError> {
        let target = self.target(nsg, rule, DefenderRules::Allow)?;
        let progress = Progress::default();
        self.within_deadline(&target, &progress, self.read(&target, &progress))
            .await
    }

    /// Creates or replaces the rule with `properties` (all of them: there is no PATCH), if the
    /// precondition holds, and waits until it is provisioned. Returns the rule as provisioned.
    pub async fn put_rule(
        &self,
        nsg: &NsgId,
        rule: &str,
        properties: &Map<String, Value>,
        precondition: &Precondition,
        defender: DefenderRules,
    ) -> Result<LiveRule, WriteError> {
        let target = self.target(nsg, rule, defender)?;
        let lock = self.lock(&target);
        let _one_at_a_time = lock.lock().await;
        let progress = Progress::default();
        self.within_deadline(
            &target,
            &progress,
            self.put(&target, properties, precondition, &progress),
        )
        .await
    }

    /// Deletes the rule if its etag is still `if_match`, and waits until it is gone.
    pub async fn delete_rule(
        &self,
        nsg: &NsgId,
        rule: &str,
        if_match: &Etag,
        defender: DefenderRules,
    ) -> Result<Deleted, WriteError> {
        let target = self.target(nsg, rule, defender)?;
        self.delete_target(&target, if_match).await
    }

    /// The NSG as it is now; `None` when there is none.
    pub async fn get_nsg(&self, nsg: &NsgId) -> Result<Option<LiveResource>, WriteError> {
        self.get_resource(&Target::Nsg(nsg)).await
    }

    /// The NIC as it is now; `None` when there is none.
    pub async fn get_nic(&self, nic: &NicId) -> Result<Option<LiveResource>, WriteError> {
        self.get_resource(&Target::Nic(nic)).await
    }

    /// Creates an NSG with no custom rules (its default rules deny all inbound internet traffic)
    /// in `location`, only if there is none of that name, and waits until it is provisioned.
    pub async fn create_nsg(
        &self,
        nsg: &NsgId,
        location: &str,
        tags: &Map<String, Value>,
    ) -> Result<LiveResource, WriteError> {
        let body = serde_json::json!({
            "location": location,
            "tags": tags,
            "properties": {"securityRules": []},
        });
        self.put_resource(
            &Target::Nsg(nsg),
            &body,
            &Precondition::IfNoneMatch,
            |live| live.rule_names().is_empty(),
        )
        .await
    }

    /// Points the NIC at `nsg`, or at none: the NIC as `read`, written back with only its
    /// `networkSecurityGroup` changed, if its etag is still the one read.
    pub async fn set_nic_nsg(
        &self,
        nic: &NicId,
        read: &LiveResource,
        nsg: Option<&NsgId>,
    ) -> Result<LiveResource, WriteError> {
        let mut body = read.body.clone();
        body.remove("etag");
        if let Some(properties) = body
            .entry("properties")
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
        {
            properties.remove("provisioningState");
            match nsg {
                Some(nsg) => properties.insert(
                    "networkSecurityGroup".to_string(),
                    serde_json::json!({ "id": nsg.as_str() }),
                ),
                None => properties.remove("networkSecurityGroup"),
            };
        }
        let wanted = nsg.map(|n| n.as_str().to_ascii_lowercase());
        self.put_resource(
            &Target::Nic(nic),
            &Value::Object(body),
            &Precondition::IfMatch(read.etag.clone()),
            |live| live.nsg_reference().map(str::to_ascii_lowercase) == wanted,
        )
        .await
    }

    /// Deletes the NSG if its etag is still `if_match`, and waits until it is gone. Resource
    /// Manager refuses while a NIC or subnet still names it.
    pub async fn delete_nsg(&self, nsg: &NsgId, if_match: &Etag) -> Result<Deleted, WriteError> {
        self.delete_target(&Target::Nsg(nsg), if_match).await
    }

    async fn delete_target(
        &self,
        target: &Target<'_>,
        if_match: &Etag,
    ) -> Result<Deleted, WriteError> {
        let lock = self.lock(target);
        let _one_at_a_time = lock.lock().await;
        let progress = Progress::default();
        self.within_deadline(target, &progress, self.delete(target, if_match, &progress))
            .await
    }

    async fn get_resource(&self, target: &Target<'_>) -> Result<Option<LiveResource>, WriteError> {
        let progress = Progress::default();
        self.within_deadline(target, &progress, self.read_resource(target, &progress))
            .await
    }

    /// A PUT of a whole resource under `precondition`, waited for until it is provisioned;
    /// `holds` tells whether a resource read after a retried PUT is what was sent.
    async fn put_resource(
        &self,
        target: &Target<'_>,
        body: &Value,
        precondition: &Precondition,
        holds: impl Fn(&LiveResource) -> bool,
    ) -> Result<LiveResource, WriteError> {
        let lock = self.lock(target);
        let _one_at_a_time = lock.lock().await;
        let progress = Progress::default();
        let work = async {
            progress.set("writing it".to_string());
            match self.send_put(target, body, precondition, &progress).await? {
                Put::Made => self.resource_provisioned(target, &progress).await,
                Put::MaybeMadeBefore => {
                    let live = self.resource_provisioned(target, &progress).await?;
                    if holds(&live) {
                        Ok(live)
                    } else {
                        Err(target.error(ErrorKind::Stale(precondition.clone())))
                    }
                }
            }
        };
        self.within_deadline(target, &progress, work).await
    }

    /// The resource once its provisioning has ended: polled while it is `Updating`.
    async fn resource_provisioned(
        &self,
        target: &Target<'_>,
        progress: &Progress,
    ) -> Result<LiveResource, WriteError> {
        self.until_provisioned(
            target,
            async || self.read_resource(target, progress).await,
            |live| &live.provisioning_state,
        )
        .await
    }

    /// What `read` gives once the provisioning it shows has ended, polled while it goes on.
    async fn until_provisioned<T>(
        &self,
        target: &Target<'_>,
        read: impl AsyncFn() -> Result<Option<T>, WriteError>,
        state: impl Fn(&T) -> &ProvisioningState,
    ) -> Result<T, WriteError> {
        loop {
            if let Some(live) = ended(target, read().await?, &state)? {
                return Ok(live);
            }
            self.pause(None).await;
        }
    }

    async fn read_resource(
        &self,
        target: &Target<'_>,
        progress: &Progress,
    ) -> Result<Option<LiveResource>, WriteError> {
        progress.set("reading it".to_string());
        self.get(target)
            .await?
            .map(|body| LiveResource::from_body(&body))
            .transpose()
            .map_err(|e| target.error(ErrorKind::Api(ArmError::other(e))))
    }

    /// The body of the target; `None` on 404.
    async fn get(&self, target: &Target<'_>) -> Result<Option<Vec<u8>>, WriteError> {
        let url = self.url(target);
        match self.session.send(&Call::get(&url)).await.result {
            Ok(reply) => Ok(Some(reply.body)),
            Err(error) if error.status == Some(404) => Ok(None),
            Err(error) => Err(target.failed(error)),
        }
    }

    /// The rule, if its name is one Resource Manager accepts and, unless `defender` allows it,
    /// not one of Defender's.
    fn target<'a>(
        &self,
        nsg: &'a NsgId,
        rule: &'a str,
        defender: DefenderRules,
    ) -> Result<Target<'a>, WriteError> {
        let target = Target::Rule { nsg, rule };
        let valid = !rule.is_empty()
            && rule.chars().count() <= MAX_RULE_NAME
            && rule
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if !valid {
            return Err(target.error(ErrorKind::InvalidId));
        }
        let is_defender = rule
            .get(..DEFENDER_PREFIX.len())
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case(DEFENDER_PREFIX));
        if is_defender && defender == DefenderRules::Refuse {
            return Err(target.error(ErrorKind::Defender));
        }
        Ok(target)
    }

    fn lock(&self, target: &Target<'_>) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(target.lock_key()).or_default().clone()
    }

    async fn within_deadline<T>(
        &self,
        target: &Target<'_>,
        progress: &Progress,
        work: impl Future<Output = Result<T, WriteError>>,
    ) -> Result<T, WriteError> {
        tokio::time::timeout(self.deadline, work)
            .await
            .unwrap_or_else(|_| {
                let last = self
                    .session
                    .last_problem()
                    .map(|problem| format!("{}; {problem}", progress.get()))
                    .unwrap_or_else(|| progress.get());
                Err(target.error(ErrorKind::OutOfTime {
                    deadline: self.deadline,
                    last,
                }))
            })
    }

    fn url(&self, target: &Target<'_>) -> Url {
        self.session.network_url(&target.path())
    }

    async fn read(
        &self,
        target: &Target<'_>,
        progress: &Progress,
    ) -> Result<Option<LiveRule>, WriteError> {
        progress.set("reading the rule".to_string());
        self.get(target)
            .await?
            .map(|body| LiveRule::from_body(&body))
            .transpose()
            .map_err(|e| target.error(ErrorKind::Api(ArmError::other(e))))
    }

    async fn put(
        &self,
        target: &Target<'_>,
        properties: &Map<String, Value>,
        precondition: &Precondition,
        progress: &Progress,
    ) -> Result<LiveRule, WriteError> {
        let body = serde_json::json!({ "properties": writable(properties) });
        progress.set("writing the rule".to_string());
        match self.send_put(target, &body, precondition, progress).await? {
            Put::Made => self.provisioned(target, progress).await,
            Put::MaybeMadeBefore => match self.read(target, progress).await? {
                Some(live) if live.holds(properties) => self.provisioned(target, progress).await,
                _ => Err(target.error(ErrorKind::Stale(precondition.clone()))),
            },
        }
    }

    /// Sends a PUT under `precondition` and waits for the operation it starts.
    async fn send_put(
        &self,
        target: &Target<'_>,
        body: &Value,
        precondition: &Precondition,
        progress: &Progress,
    ) -> Result<Put, WriteError> {
        let url = self.url(target);
        let sent = self
            .session
            .send(&Call {
                method: Method::PUT,
                url: &url,
                headers: vec![precondition.header()],
                body: Some(body.to_string().into_bytes()),
            })
            .await;
        match sent.result {
            Ok(reply) => {
                self.finish(target, &reply, progress).await?;
                Ok(Put::Made)
            }
            // A retry of a PUT whose answer was lost finds the precondition broken by that
            // very PUT: the caller checks that the target holds what was sent.
            Err(error) if error.status == Some(412) && sent.retries > 0 => Ok(Put::MaybeMadeBefore),
            Err(error) if error.status == Some(412) => {
                Err(target.error(ErrorKind::Stale(precondition.clone())))
            }
            Err(error) => Err(target.failed(error)),
        }
    }

    /// The rule once its provisioning has ended: polled while it is `Updating`.
    async fn provisioned(
        &self,
        target: &Target<'_>,
        progress: &Progress,
    ) -> Result<LiveRule, WriteError> {
        self.until_provisioned(
            target,
            async || self.read(target, progress).await,
            |live| &live.provisioning_state,
        )
        .await
    }

    async fn delete(
        &self,
        target: &Target<'_>,
        if_match: &Etag,
        progress: &Progress,
    ) -> Result<Deleted, WriteError> {
        let url = self.url(target);
        progress.set("deleting it".to_string());
        let sent = self
            .session
            .send(&Call {
                method: Method::DELETE,
                url: &url,
                headers: vec![(IF_MATCH, if_match.0.clone())],
                body: None,
            })
            .await;
        match sent.result {
            Ok(reply) if reply.status == 204 => Ok(Deleted::AlreadyGone),
            Ok(reply) => {
                self.finish(target, &reply, progress).await?;
                Ok(Deleted::Deleted)
            }
            Err(error) if error.status == Some(404) => Ok(Deleted::AlreadyGone),
            // A retried delete whose first answer was lost finds the rule gone.
            Err(error) if error.status == Some(412) && sent.retries > 0 => {
                match self.get(target).await? {
                    None => Ok(Deleted::Deleted),
                    Some(_) => {
                        Err(target.error(ErrorKind::Stale(Precondition::IfMatch(if_match.clone()))))
                    }
                }
            }
            Err(error) if error.status == Some(412) => {
                Err(target.error(ErrorKind::Stale(Precondition::IfMatch(if_match.clone()))))
            }
            Err(error) => Err(target.failed(error)),
        }
    }

    /// Waits for the long-running operation an answer started: polls `Azure-AsyncOperation`
    /// until its status is final, else `Location` until it answers other than 202.
    async fn finish(
        &self,
        target: &Target<'_>,
        reply: &Reply,
        progress: &Progress,
    ) -> Result<(), WriteError> {
        let link = |name: &str| {
            reply
                .header(name)
                .map(|link| {
                    self.session
                        .resolve(link, name)
                        .map_err(|e| target.error(ErrorKind::Api(e)))
                })
                .transpose()
        };
        let mut wait = reply.retry_after();
        if let Some(url) = link("azure-asyncoperation")? {
            let mut polls = 0u64;
            loop {
                self.pause(wait).await;
                polls += 1;
                progress.set(format!("waiting for the operation ({polls} polls)"));
                let poll = self
                    .session
                    .send(&Call::get(&url))
                    .await
                    .result
                    .map_err(|e| target.failed(e))?;
                let operation: Operation = serde_json::from_slice(&poll.body).map_err(|e| {
                    target.error(ErrorKind::Api(ArmError::other(format!(
                        "the operation status at {url} is not JSON as Resource Manager sends \
                         it: {e}"
                    ))))
                })?;
                match operation.status.to_ascii_lowercase().as_str() {
                    "succeeded" => return Ok(()),
                    "failed" | "canceled" => {
                        let error = operation
                            .error
                            .map(|e| {
                                format!(
                                    "{}: {}",
                                    e.code.unwrap_or_default(),
                                    e.message.unwrap_or_default()
                                )
                            })
                            .unwrap_or_else(|| "no error given".to_string());
                        return Err(target.error(ErrorKind::OperationFailed {
                            status: operation.status,
                            error,
                        }));
                    }
                    _ => wait = poll.retry_after(),
                }
            }
        }
        if reply.status != 202 {
            return Ok(());
        }
        let Some(url) = link("location")? else {
            return Ok(());
        };
        let mut polls = 0u64;
        loop {
            self.pause(wait).await;
            polls += 1;
            progress.set(format!("waiting for the operation ({polls} polls)"));
            let poll = self
                .session
                .send(&Call::get(&url))
                .await
                .result
                .map_err(|e| target.failed(e))?;
            if poll.status != 202 {
                return Ok(());
            }
            wait = poll.retry_after();
        }
    }

    /// The wait before the next poll: what Resource Manager asked for, capped.
    async fn pause(&self, asked: Option<Duration>) {
        let cap = self.session.limits().max_retry_after;
        tokio::time::sleep(asked.unwrap_or(POLL_INTERVAL).min(cap)).await;
    }
}

/// What a read after a write says of its provisioning: `Some` once it has succeeded, `None`
/// while it goes on; an error when it failed or the target is gone.
fn ended<T>(
    target: &Target<'_>,
    read: Option<T>,
    state: impl Fn(&T) -> &ProvisioningState,
) -> Result<Option<T>, WriteError> {
    let live = read.ok_or_else(|| {
        target.error(ErrorKind::OperationFailed {
            status: "Succeeded".to_string(),
            error: "it is not there after the write; someone deleted it".to_string(),
        })
    })?;
    match state(&live) {
        ProvisioningState::Succeeded => Ok(Some(live)),
        ProvisioningState::Failed => Err(target.error(ErrorKind::OperationFailed {
            status: "Failed".to_string(),
            error: "its provisioningState is Failed".to_string(),
        })),
        _ => Ok(None),
    }
}

/// The status of a long-running operation (`Azure-AsyncOperation`).
#[derive(Deserialize)]
struct Operation {
    status: String,
    error: Option<OperationError>,
}

#[derive(Deserialize)]
struct OperationError {
    code: Option<String>,
    message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nsg_ids_are_checked() {
        let good = "/subscriptions/5a1e/resourceGroups/rg-0/providers/Microsoft.Network/\
                    networkSecurityGroups/vm-0-nsg";
        assert_eq!(NsgId::parse(good).unwrap().as_str(), good);
        for bad in [
            "subscriptions/5a1e/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/n",
            "/subscriptions/5a1e/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/n",
            "/subscriptions/5a1e/resourceGroups/../providers/Microsoft.Network/networkSecurityGroups/n",
            "/subscriptions/5a1e/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/n/x",
            "/subscriptions/5a1e/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/n?x",
        ] {
            let error = NsgId::parse(bad).unwrap_err();
            assert_eq!(error.kind, ErrorKind::InvalidId, "{bad}");
            assert!(error.to_string().contains(bad), "{error}");
        }
    }

    #[test]
    fn a_rule_holds_what_was_put_with_the_empty_fields_the_server_fills() {
        let properties = |value: Value| value.as_object().unwrap().clone();
        let live = LiveRule {
            id: "x".to_string(),
            name: "r".to_string(),
            etag: Etag("W/\"1\"".to_string()),
            properties: properties(json!({
                "priority": 100, "access": "Deny", "sourcePortRanges": [], "description": "",
            })),
            provisioning_state: ProvisioningState::Succeeded,
        };
        assert!(live.holds(&properties(json!({"priority": 100, "access": "Deny"}))));
        assert!(live.holds(&properties(
            json!({"priority": 100, "access": "Deny", "provisioningState": "Updating"})
        )));
        assert!(!live.holds(&properties(json!({"priority": 101, "access": "Deny"}))));
        assert!(!live.holds(&properties(json!({"priority": 100}))));
        assert!(!live.holds(&properties(
            json!({"priority": 100, "access": "Deny", "direction": "Inbound"})
        )));
    }
}
