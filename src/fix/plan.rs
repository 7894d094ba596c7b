//! The remediation plan: what `fix plan` writes and the only input of `fix apply`.
//!
//! A plan is versioned JSON (`"portcullis_plan": 1`). Its `changes` each name one rule by typed
//! target (an NSG rule by NSG id and name; a security group rule by group and `sgr-…` id, or a
//! new rule in a group), with the rule as read (`before`, `None` when creating) and as it will be
//! (`after`, `None` when deleting), and every VM the change affects. Its `skipped` entries say,
//! per VM and recommendation, why nothing (or not enough) is planned. The before-images are what
//! apply compares the live rules with before writing, so a plan that the estate has moved past
//! is refused.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::{NsgRule, PortRange, PortSpec, Protocol, Provider, ReadScope, SgSourceKind};

/// Version written to and required of plan files.
pub const PLAN_VERSION: u32 = 1;

/// A remediation plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Always [`PLAN_VERSION`]; first key, so files are recognisable from their opening bytes.
    pub portcullis_plan: u32,
    /// A digest of the plan's content (everything below but `created`).
    pub id: String,
    /// RFC 3339 UTC time of planning.
    pub created: String,
    pub source: PlanSource,
    pub strategy: Strategy,
    /// The recommendations whose unhealthy findings the plan fixes.
    pub recommendations: Vec<String>,
    /// [`crate::policy::Policy::digest`] of the policy that judged the estate.
    pub policy_digest: String,
    /// Whether all-protocol rules may be narrowed to TCP, UDP and ICMP.
    pub allow_protocol_narrowing: bool,
    pub changes: Vec<Change>,
    pub skipped: Vec<Skipped>,
    /// JIT policies to hold for the later access-request commands (strategy `jit` only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jit_policies: Vec<JitPolicyPlan>,
}

/// Where the estate the plan was made from came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanSource {
    /// Read from the clouds' APIs: these regions and subscriptions.
    Live { scopes: Vec<ReadScope> },
    /// Read from files (with or without live scopes): not the live state, so apply refuses it.
    Offline { files: Vec<String> },
}

impl Plan {
    /// The ids of every VM a change affects (the plan's blast radius).
    pub fn affected_vms(&self) -> BTreeSet<&str> {
        self.changes
            .iter()
            .flat_map(Change::affects)
            .map(|vm| vm.id.as_str())
            .collect()
    }

    /// The clouds the changes write to, Azure first.
    pub fn clouds(&self) -> Vec<Provider> {
        let azure = self.changes.iter().any(|c| c.cloud() == Provider::Azure);
        let aws = self.changes.iter().any(|c| c.cloud() == Provider::Aws);
        let azure = azure.then_some(Provider::Azure);
        azure
            .into_iter()
            .chain(aws.then_some(Provider::Aws))
            .collect()
    }
}

impl PlanSource {
    pub fn is_offline(&self) -> bool {
        matches!(self, PlanSource::Offline { .. })
    }
}

/// How a plan fixes what it fixes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Remove the internet's broad access to management ports, nothing else.
    QuickFix,
    /// Lock the management ports down with deny rules (Azure) or revokes (AWS), and record a JIT
    /// policy for time-boxed access.
    Jit,
}

impl Strategy {
    /// The recommendation a plan fixes when `--rule` is not given.
    pub fn default_recommendation(self) -> &'static str {
        match self {
            Strategy::QuickFix => "management-ports-closed",
            Strategy::Jit => "management-ports-jit",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Strategy::QuickFix => "quick-fix",
            Strategy::Jit => "jit",
        })
    }
}

/// One write: one rule created, replaced or deleted; or, for `internet-facing-vm-nsg`, one NSG
/// created and one NIC pointed at it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Azure(NsgRuleChange),
    Aws(SgRuleChange),
    AzureNewNsg(NewNsgChange),
    AzureNic(NicNsgChange),
}

impl Change {
    /// The cloud the change writes to.
    pub fn cloud(&self) -> Provider {
        match self {
            Change::Aws(_) => Provider::Aws,
            Change::Azure(_) | Change::AzureNewNsg(_) | Change::AzureNic(_) => Provider::Azure,
        }
    }

    pub fn affects(&self) -> &[AffectedVm] {
        match self {
            Change::Azure(c) => &c.affects,
            Change::Aws(c) => &c.affects,
            Change::AzureNewNsg(c) => &c.affects,
            Change::AzureNic(c) => &c.affects,
        }
    }

    pub fn notes(&self) -> &[ChangeNote] {
        match self {
            Change::Azure(c) => &c.notes,
            Change::Aws(c) => &c.notes,
            Change::AzureNewNsg(c) => &c.notes,
            Change::AzureNic(c) => &c.notes,
        }
    }
}

/// A PUT of a new NSG with no custom rules (`If-None-Match: *`), for the NIC that a
/// [`NicNsgChange`] then points at it. Its default rules deny all inbound internet traffic.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewNsgChange {
    /// The new NSG's resource id, in the NIC's resource group.
    pub nsg: String,
    /// The Azure region, the NIC's (an NSG can only filter NICs of its own region).
    pub location: String,
    /// The NIC it is created for.
    pub nic: String,
    pub affects: Vec<AffectedVm>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<ChangeNote>,
}

/// A PUT of a NIC as read with only its `networkSecurityGroup` changed (`If-Match` its etag).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NicNsgChange {
    /// The NIC's resource id.
    pub nic: String,
    /// The NSG the NIC names as read; `None`: none.
    pub before: Option<String>,
    /// The NSG it names after the change; `None`: none.
    pub after: Option<String>,
    pub affects: Vec<AffectedVm>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<ChangeNote>,
}

/// A PUT or DELETE of one NSG rule (`{nsg}/securityRules/{rule}`), never of a whole NSG.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NsgRuleChange {
    /// The NSG's resource id.
    pub nsg: String,
    /// The rule's name (the last segment of its id).
    pub rule: String,
    /// The rule as read; `None` when the change creates it.
    pub before: Option<NsgRule>,
    /// The rule as the change leaves it; `None` when the change deletes it.
    pub after: Option<NsgRule>,
    pub affects: Vec<AffectedVm>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<ChangeNote>,
}

/// A revoke of one security group rule, or an authorize of a new one in the same group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SgRuleChange {
    /// The security group id.
    pub group: String,
    /// The account (from the VMs that use the group).
    pub account: String,
    /// The region (from the VMs that use the group), for the API calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The rule as read, revoked by the change; `None` when the change authorizes a new rule.
    pub before: Option<SgRule>,
    /// The new rule; `None` when the change revokes.
    pub after: Option<SgRule>,
    pub affects: Vec<AffectedVm>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<ChangeNote>,
}

/// One inbound security group rule: one source of a permission, as EC2 names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SgRule {
    /// `sgr-…`, when the data named it (live reads do; `describe-security-groups` files do
    /// not, and then protocol, ports and source identify the rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<String>,
    pub protocol: Protocol,
    /// `None` for all ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<PortRange>,
    pub source: SgSourceKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl SgRule {
    /// Whether two rules are the same EC2 rule: protocol, ports and source (EC2 ignores the
    /// description and assigns the id).
    pub fn same_rule(&self, other: &SgRule) -> bool {
        self.protocol == other.protocol && self.ports == other.ports && self.source == other.source
    }
}

/// A VM whose traffic a change affects: every VM using the NSG or security group.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AffectedVm {
    pub id: String,
    pub name: String,
}

/// What a reader must know about one change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ChangeNote {
    /// An all-protocol rule narrowed (`--allow-protocol-narrowing`): only TCP and UDP on the
    /// other ports, and ICMP, remain; other protocols lose access from this source.
    OtherProtocolsLoseAccess,
    /// Narrow or private sources of a narrowed rule keep their access to the management ports
    /// through this companion rule, next to the original in priority.
    KeepsNarrowSources { of_rule: String },
    /// The quick fix, because no free priority beats every offending allow of the NSG.
    QuickFixInsteadOfLockdown,
    /// A deny rule of the JIT lock-down for one VM's private addresses.
    Lockdown { vm: String },
    /// A new NSG on a NIC that had none: its default rules deny all inbound internet traffic.
    InboundInternetEnds,
}

impl fmt::Display for ChangeNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChangeNote::OtherProtocolsLoseAccess => f.write_str(
                "the rule allowed every protocol: TCP and UDP on the other ports and ICMP remain; \
                 other protocols (ESP, GRE, …) lose access from these sources",
            ),
            ChangeNote::KeepsNarrowSources { of_rule } => write!(
                f,
                "keeps the narrow and private sources of {of_rule} on the management ports"
            ),
            ChangeNote::QuickFixInsteadOfLockdown => f.write_str(
                "quick fix instead of a deny rule: no free priority beats every offending allow",
            ),
            ChangeNote::Lockdown { vm } => write!(f, "JIT lock-down of {vm}"),
            ChangeNote::InboundInternetEnds => f.write_str(
                "ALL inbound internet access to this NIC ends (the new NSG's default rules deny \
                 it; VNet and load balancer traffic stay allowed): add allow rules for what the \
                 VM serves to the internet",
            ),
        }
    }
}

/// A VM and recommendation the plan does not fix, or not entirely, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Skipped {
    pub resource: String,
    pub resource_name: String,
    /// The recommendation id.
    pub rule: String,
    pub reason: SkipReason,
}

/// Why a finding is not fixed by the plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum SkipReason {
    /// A rule allows every protocol; narrowing it needs `--allow-protocol-narrowing`.
    AllProtocols { container: String, rule: String },
    /// A rule portcullis never touches: Defender's `SecurityCenter-JITRule…`, a JIT grant, or
    /// one of an NSG's default rules.
    NotOurs { container: String, rule: String },
    /// Narrowing the rule needs a companion rule at a priority next to it, and none is free.
    NoFreePriority { container: String, rule: String },
    /// An interface names a security group that is not in the input.
    MissingSecurityGroup { group: String },
    /// No rule to change: the evidence names none (a VM read from a report, or a NIC with no
    /// NSG for JIT rules to live in).
    NothingToChange,
    /// The remaining access comes from narrow or private sources, which quick-fix keeps.
    NarrowSourcesKept { ports: Vec<PortSpec> },
    /// An AWS VM whose security groups allow every port from the internet: only someone who
    /// knows what it serves can say which ports to keep.
    AllTrafficAllowed,
    /// An Azure NIC whose region is not in the data, so no NSG can be made for it.
    NoLocation { nic: String },
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::AllProtocols { container, rule } => write!(
                f,
                "{container} / {rule} allows every protocol: keeping everything but the \
                 management ports means listing protocols; plan again with \
                 --allow-protocol-narrowing to keep only TCP, UDP and ICMP, or narrow it by hand"
            ),
            SkipReason::NotOurs { container, rule } => write!(
                f,
                "{container} / {rule} is a JIT grant, Defender's or a default rule, which \
                 portcullis never changes"
            ),
            SkipReason::NoFreePriority { container, rule } => write!(
                f,
                "{container} / {rule} also lets narrow sources in, and no priority next to it is \
                 free for the rule that keeps them; free a neighbouring priority or narrow it by \
                 hand"
            ),
            SkipReason::MissingSecurityGroup { group } => write!(
                f,
                "security group {group} is not in the input; read it (describe-security-groups) \
                 and plan again"
            ),
            SkipReason::NothingToChange => f.write_str(
                "no rule to change: the evidence names none; give the NIC a network security \
                 group first (plan with --rule internet-facing-vm-nsg)",
            ),
            SkipReason::AllTrafficAllowed => f.write_str(
                "a security group allows all traffic from the internet; portcullis cannot tell \
                 which ports the VM serves: replace that rule by hand with the ports it serves \
                 (the quick fix of management-ports-closed closes the management ports)",
            ),
            SkipReason::NoLocation { nic } => write!(
                f,
                "the region of NIC {nic} is not in the data, and an NSG must be made in it: scan \
                 live (--azure) and plan again"
            ),
            SkipReason::NarrowSourcesKept { ports } => write!(
                f,
                "{} still reached from narrow sources, which this strategy keeps",
                crate::verdict::port_list(ports)
            ),
        }
    }
}

/// A JIT policy the lock-down leaves room for: who may ask for access, for how long.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JitPolicyPlan {
    pub vm: String,
    pub vm_name: String,
    pub ports: Vec<PortSpec>,
    /// Source ranges a request may open (the narrow sources that had standing access, else
    /// `*`: any requester's address).
    pub allowed_sources: Vec<String>,
    /// ISO 8601 duration.
    pub max_duration: String,
}

/// Why a plan file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    #[error("cannot read the plan {path}: {source}")]
    Read {
        path: String,
        source: crate::input_file::InputFileError,
    },
    #[error(
        "{path} is not a portcullis plan (line {line}, column {column}: {message}); write one \
         with `portcullis fix plan … -o {path}`"
    )]
    Parse {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "{path} is a version {found} plan; this portcullis reads version {PLAN_VERSION}: plan \
         again with this version"
    )]
    Version { path: String, found: u32 },
}

impl Plan {
    /// Reads a plan file, refusing another version.
    pub fn load(path: &std::path::Path, max_bytes: u64) -> Result<Plan, PlanFileError> {
        let name = path.display().to_string();
        let text = crate::input_file::read_text(path, max_bytes).map_err(|source| {
            PlanFileError::Read {
                path: name.clone(),
                source,
            }
        })?;
        Plan::parse(&name, &text)
    }

    /// Parses a plan's text; `name` is for messages.
    pub fn parse(name: &str, text: &str) -> Result<Plan, PlanFileError> {
        #[derive(Deserialize)]
        struct Version {
            portcullis_plan: u32,
        }
        let parse_error = |e: serde_json::Error| PlanFileError::Parse {
            path: name.to_owned(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        };
        let version: Version = serde_json::from_str(text).map_err(parse_error)?;
        if version.portcullis_plan != PLAN_VERSION {
            return Err(PlanFileError::Version {
                path: name.to_owned(),
                found: version.portcullis_plan,
            });
        }
        serde_json::from_str(text).map_err(parse_error)
    }

    /// The plan's id: a digest of everything but its id and creation time.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut content = self.clone();
        content.id = String::new();
        content.created = String::new();
        let text = serde_json::to_string(&content).unwrap_or_default();
        let digest = Sha256::digest(text.as_bytes());
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    }
}
