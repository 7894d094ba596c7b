//! Azure resources, as the REST API returns them (`{id, name, type, location, properties}`) or
//! as the az CLI prints them (the same with `properties` hoisted to the top level, in nested
//! sub-resources too).
//!
//! Both shapes are read by the same typed structs: a resource's header is parsed first, then its
//! properties from `properties` when present, else from the element itself. Resource ids are kept
//! exactly as written; the engine compares them case-insensitively.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnetwork::IpNetwork;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use super::json::JsonFile;
use super::{LoadError, Loaded, rejected};
use crate::addrset::Family;
use crate::model::{
    Access, AppSecurityGroup, Direction, IpConfig, JitPolicy, JitPort, JitVm, Nic, Nsg, NsgRule,
    Origin, PortRange, Protocol, Provider, PublicIp, Subnet, Vm,
};

/// Skipped-count key for list elements without a `type`.
const WITHOUT_TYPE: &str = "resource without a type";

/// A top-level Azure resource: the fields every resource shares, and its properties.
///
/// Read in one pass: when `type` comes before `properties`, as Resource Manager writes it, the
/// properties are parsed straight into the struct for that type; otherwise (az CLI output sorts
/// its keys, and hoists properties to the top level) they are parsed once the type is known.
struct Resource<'a> {
    header: Header,
    body: Body<'a>,
}

/// The fields every resource shares.
struct Header {
    id: String,
    name: String,
    location: Option<String>,
    tags: Option<BTreeMap<String, String>>,
}

/// The kinds of resource portcullis reads, by their `type`.
#[derive(Clone, Copy)]
enum Kind {
    VirtualMachine,
    NetworkInterface,
    NetworkSecurityGroup,
    PublicIp,
    VirtualNetwork,
    Subnet,
    AppSecurityGroup,
    JitPolicy,
}

impl Kind {
    const TYPES: [(&'static str, Kind); 8] = [
        ("Microsoft.Compute/virtualMachines", Kind::VirtualMachine),
        (
            "Microsoft.Network/networkInterfaces",
            Kind::NetworkInterface,
        ),
        (
            "Microsoft.Network/networkSecurityGroups",
            Kind::NetworkSecurityGroup,
        ),
        ("Microsoft.Network/publicIPAddresses", Kind::PublicIp),
        ("Microsoft.Network/virtualNetworks", Kind::VirtualNetwork),
        ("Microsoft.Network/virtualNetworks/subnets", Kind::Subnet),
        (
            "Microsoft.Network/applicationSecurityGroups",
            Kind::AppSecurityGroup,
        ),
        (
            "Microsoft.Security/locations/jitNetworkAccessPolicies",
            Kind::JitPolicy,
        ),
    ];

    /// The kind a `type` names (compared case-insensitively, as Resource Manager does).
    fn of(resource_type: &str) -> Option<Kind> {
        Self::TYPES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(resource_type))
            .map(|&(_, kind)| kind)
    }

    /// This kind's properties, read from the `properties` value `map` is at.
    fn read<'de, A: MapAccess<'de>>(self, map: &mut A) -> Result<Body<'de>, A::Error> {
        Ok(match self {
            Kind::VirtualMachine => Body::VirtualMachine(Props::read(map)?),
            Kind::NetworkInterface => Body::NetworkInterface(Props::read(map)?),
            Kind::NetworkSecurityGroup => Body::NetworkSecurityGroup(Props::read(map)?),
            Kind::PublicIp => Body::PublicIp(Props::read(map)?),
            Kind::VirtualNetwork => Body::VirtualNetwork(Props::read(map)?),
            Kind::Subnet => Body::Subnet(Props::read(map)?),
            Kind::AppSecurityGroup => {
                map.next_value::<IgnoredAny>()?;
                Body::AppSecurityGroup
            }
            Kind::JitPolicy => Body::JitPolicy(Props::read(map)?),
        })
    }

    /// This kind's properties, still to be parsed: from `raw`, else from the element itself.
    fn unparsed(self, raw: Option<&RawValue>) -> Body<'_> {
        match self {
            Kind::VirtualMachine => Body::VirtualMachine(Props::Unparsed(raw)),
            Kind::NetworkInterface => Body::NetworkInterface(Props::Unparsed(raw)),
            Kind::NetworkSecurityGroup => Body::NetworkSecurityGroup(Props::Unparsed(raw)),
            Kind::PublicIp => Body::PublicIp(Props::Unparsed(raw)),
            Kind::VirtualNetwork => Body::VirtualNetwork(Props::Unparsed(raw)),
            Kind::Subnet => Body::Subnet(Props::Unparsed(raw)),
            Kind::AppSecurityGroup => Body::AppSecurityGroup,
            Kind::JitPolicy => Body::JitPolicy(Props::Unparsed(raw)),
        }
    }
}

/// What a resource is, with its properties.
enum Body<'a> {
    VirtualMachine(Props<'a, VmProperties>),
    NetworkInterface(Props<'a, NicProperties<'a>>),
    NetworkSecurityGroup(Props<'a, NsgProperties<'a>>),
    PublicIp(Props<'a, PublicIpProperties<'a>>),
    VirtualNetwork(Props<'a, VirtualNetworkProperties<'a>>),
    Subnet(Props<'a, SubnetProperties<'a>>),
    AppSecurityGroup,
    JitPolicy(Props<'a, JitProperties<'a>>),
    /// A type portcullis does not read.
    Other(String),
    /// No `type` at all.
    Untyped,
}

/// A resource's properties, parsed or still to be.
enum Props<'a, P> {
    Parsed(P),
    /// `properties` came before `type` (or, when `None`, is hoisted into the element).
    Unparsed(Option<&'a RawValue>),
}

impl<'a, P: Deserialize<'a>> Props<'a, P> {
    /// Reads the `properties` value `map` is at; `null` counts as absent.
    fn read<A: MapAccess<'a>>(map: &mut A) -> Result<Self, A::Error> {
        Ok(match map.next_value::<Option<P>>()? {
            Some(props) => Props::Parsed(props),
            None => Props::Unparsed(None),
        })
    }

    fn parse(self, file: &JsonFile<'a>, element: &'a RawValue) -> Result<P, LoadError> {
        match self {
            Props::Parsed(props) => Ok(props),
            Props::Unparsed(raw) => file.parse_raw(raw.unwrap_or(element)),
        }
    }
}

impl<'de> Deserialize<'de> for Resource<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ResourceVisitor)
    }
}

struct ResourceVisitor;

impl<'de> Visitor<'de> for ResourceVisitor {
    type Value = Resource<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("struct Resource")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Resource<'de>, A::Error> {
        fn once<T, E: de::Error>(slot: &Option<T>, field: &'static str) -> Result<(), E> {
            match slot {
                Some(_) => Err(E::duplicate_field(field)),
                None => Ok(()),
            }
        }
        let mut id = None;
        let mut name = None;
        let mut resource_type: Option<Cow<'de, str>> = None;
        let mut location = None;
        let mut tags = None;
        let mut body = None;
        let mut raw_properties = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match key.as_ref() {
                "id" => {
                    once(&id, "id")?;
                    id = Some(map.next_value::<Option<String>>()?.unwrap_or_default());
                }
                "name" => {
                    once(&name, "name")?;
                    name = Some(map.next_value::<Option<String>>()?.unwrap_or_default());
                }
                "type" => {
                    once(&resource_type, "type")?;
                    let value: Option<Cow<'de, str>> = map.next_value()?;
                    resource_type = Some(value.unwrap_or_default());
                }
                "location" => {
                    once(&location, "location")?;
                    location = Some(map.next_value::<Option<String>>()?);
                }
                "tags" => {
                    once(&tags, "tags")?;
                    tags = Some(map.next_value::<Option<BTreeMap<String, String>>>()?);
                }
                "properties" => {
                    if body.is_some() || raw_properties.is_some() {
                        return Err(de::Error::duplicate_field("properties"));
                    }
                    match resource_type.as_deref().and_then(Kind::of) {
                        Some(kind) => body = Some(kind.read(&mut map)?),
                        None => raw_properties = Some(map.next_value::<Option<&RawValue>>()?),
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let body = body.unwrap_or_else(|| match resource_type {
            None => Body::Untyped,
            Some(t) if t.is_empty() => Body::Untyped,
            Some(t) => match Kind::of(&t) {
                Some(kind) => kind.unparsed(raw_properties.flatten()),
                None => Body::Other(t.into_owned()),
            },
        });
        let header = Header {
            id: id.unwrap_or_default(),
            name: name.unwrap_or_default(),
            location: location.flatten(),
            tags: tags.flatten(),
        };
        Ok(Resource { header, body })
    }
}

/// A sub-resource of a known kind (an NSG rule, an IP configuration, a subnet of a virtual
/// network): its name and id, and its properties, from `properties` or, as the az CLI hoists
/// them, from the element itself.
#[derive(Deserialize)]
struct Nested<'a, P> {
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default)]
    name: Option<String>,
    properties: Option<P>,
}

impl<'a, P: Deserialize<'a>> Nested<'a, P> {
    /// Parses `element` as a sub-resource: its name, id and properties.
    fn parse(
        file: &JsonFile<'a>,
        element: &'a RawValue,
    ) -> Result<(String, Cow<'a, str>, P), LoadError> {
        let nested: Nested<P> = file.parse_raw(element)?;
        let props = match nested.properties {
            Some(props) => props,
            None => file.parse_raw(element)?,
        };
        Ok((
            nested.name.unwrap_or_default(),
            nested.id.unwrap_or_default(),
            props,
        ))
    }
}

/// What a value belongs to, as errors name it: `rule "allow-ssh"`. Written only when an error
/// is, so that loading a valid file formats nothing.
struct Owner<'n>(&'static str, &'n str);

impl std::fmt::Display for Owner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{} {:?}", self.0, self.1)
    }
}

/// A reference to another resource.
#[derive(Deserialize)]
struct IdRef {
    id: String,
}

/// Whether a top-level `type` value names an Azure resource type (`Provider.Namespace/type`),
/// as opposed to, say, package.json's `"type": "module"`.
pub(super) fn is_resource_type(raw: &RawValue) -> bool {
    serde_json::from_str::<&str>(raw.get()).is_ok_and(|t| t.contains('/'))
}

/// Loads Azure resources, dispatching on their type; unknown types are counted as skipped.
pub(super) fn load_resources<'a>(
    file: &JsonFile<'a>,
    elements: &[&'a RawValue],
    loaded: &mut Loaded,
) -> Result<(), LoadError> {
    for &element in elements {
        load_resource(file, element, loaded)?;
    }
    Ok(())
}

/// A resource of a live page that could not be read.
#[derive(Debug)]
pub struct Unreadable {
    /// Its resource id, or `""` when even that could not be read.
    pub id: String,
    pub error: LoadError,
}

/// Reads one NSG security rule (`{"name": …, "properties": {…}}`), as a rule read live on
/// its own; `label` names it in errors.
pub fn parse_rule(label: &str, bytes: &[u8]) -> Result<NsgRule, LoadError> {
    let file = JsonFile::new(label, bytes)?;
    let element: &RawValue = file.parse(file.text())?;
    nsg_rule(&file, element)
}

/// Loads one page of a Resource Manager list (`{"value": [...]}`) read live, resource by
/// resource: a resource that cannot be read is returned apart, and the others are loaded.
/// A page that is not such a list at all is an error.
pub fn load_arm_page(label: &str, bytes: &[u8]) -> Result<(Loaded, Vec<Unreadable>), LoadError> {
    #[derive(Deserialize)]
    struct Page<'a> {
        #[serde(borrow)]
        value: Vec<&'a RawValue>,
    }
    #[derive(Deserialize)]
    struct Id {
        id: Option<String>,
    }
    let file = JsonFile::new(label, bytes)?;
    let page: Page = file.parse(file.text())?;
    // Resources are loaded one at a time, so that one that fails half-read leaves nothing
    // behind; the page's label is added last, as the one source their origins name.
    let mut loaded = Loaded::default();
    let mut unreadable = Vec::new();
    for element in page.value {
        let mut one = Loaded::default();
        match load_resource(&file, element, &mut one) {
            Ok(()) => loaded.merge(one),
            Err(error) => unreadable.push(Unreadable {
                id: serde_json::from_str::<Id>(element.get())
                    .ok()
                    .and_then(|id| id.id)
                    .unwrap_or_default(),
                error,
            }),
        }
    }
    loaded.snapshot.sources.push(label.to_string());
    loaded.files = 1;
    Ok((loaded, unreadable))
}

/// Loads one Azure resource, dispatching on its type; an unknown type is counted as skipped.
fn load_resource<'a>(
    file: &JsonFile<'a>,
    element: &'a RawValue,
    loaded: &mut Loaded,
) -> Result<(), LoadError> {
    let Resource {
        header: resource,
        body,
    } = file.parse_raw(element)?;
    let snapshot = &mut loaded.snapshot;
    match body {
        Body::Untyped => loaded.skip(WITHOUT_TYPE),
        Body::Other(resource_type) => loaded.skip(&resource_type),
        Body::VirtualMachine(props) => {
            let props = props.parse(file, element)?;
            snapshot.vms.push(vm(file, element, props, resource)?);
        }
        Body::NetworkInterface(props) => {
            let props = props.parse(file, element)?;
            snapshot.nics.push(nic(file, element, props, resource)?);
        }
        Body::NetworkSecurityGroup(props) => {
            let props = props.parse(file, element)?;
            snapshot.nsgs.push(nsg(file, element, props, resource)?);
        }
        Body::PublicIp(props) => {
            let props = props.parse(file, element)?;
            let ip = public_ip(file, props, resource, &mut loaded.warnings)?;
            snapshot.public_ips.push(ip);
        }
        Body::VirtualNetwork(props) => {
            let network: VirtualNetworkProperties = props.parse(file, element)?;
            for subnet_element in network.subnets.unwrap_or_default() {
                let (name, id, props) = Nested::parse(file, subnet_element)?;
                let network_id = Some(resource.id.clone());
                snapshot
                    .subnets
                    .push(subnet(file, props, id.into_owned(), name, network_id)?);
            }
        }
        Body::Subnet(props) => {
            let props = props.parse(file, element)?;
            let network_id = parent_network(&resource.id);
            snapshot
                .subnets
                .push(subnet(file, props, resource.id, resource.name, network_id)?);
        }
        Body::AppSecurityGroup => {
            snapshot.app_security_groups.push(AppSecurityGroup {
                id: resource.id,
                name: resource.name,
            });
        }
        Body::JitPolicy(props) => {
            let props = props.parse(file, element)?;
            snapshot
                .jit_policies
                .push(jit_policy(file, props, resource)?);
        }
    }
    Ok(())
}

fn origin(file: &JsonFile, element: &RawValue) -> Option<Origin> {
    Some(Origin {
        file: 0,
        line: file.line_of(element.get()),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VmProperties {
    network_profile: Option<NetworkProfile>,
    instance_view: Option<InstanceView>,
    /// Added by `az vm list -d`: `VM running`, `VM deallocated`, …
    power_state: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NetworkProfile {
    network_interfaces: Option<Vec<IdRef>>,
}

#[derive(Deserialize)]
struct InstanceView {
    statuses: Option<Vec<InstanceStatus>>,
}

#[derive(Deserialize)]
struct InstanceStatus {
    code: Option<String>,
}

fn vm<'a>(
    file: &JsonFile<'a>,
    element: &'a RawValue,
    props: VmProperties,
    resource: Header,
) -> Result<Vm, LoadError> {
    let Some(scope) = subscription_of(&resource.id) else {
        return Err(file.error_at(
            element.get(),
            format!(
                "virtual machine {:?} has no subscription in its id {:?}; load the export \
                 unmodified",
                resource.name, resource.id
            ),
        ));
    };
    let from_instance_view = props
        .instance_view
        .and_then(|view| view.statuses)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|status| status.code)
        .find_map(|code| strip_prefix_ignore_case(&code, "PowerState/").map(str::to_string));
    let from_az = props.power_state.map(|state| {
        strip_prefix_ignore_case(&state, "VM ")
            .unwrap_or(&state)
            .to_string()
    });
    Ok(Vm {
        id: resource.id.clone(),
        name: resource.name,
        provider: Provider::Azure,
        scope: scope.to_string(),
        region: resource.location,
        power_state: from_instance_view
            .or(from_az)
            .map(|state| state.trim().to_ascii_lowercase()),
        nic_ids: props
            .network_profile
            .and_then(|profile| profile.network_interfaces)
            .unwrap_or_default()
            .into_iter()
            .map(|nic| nic.id)
            .collect(),
        tags: resource.tags.unwrap_or_default(),
        origin: origin(file, element),
    })
}

/// The subscription id in a resource id (`/subscriptions/{id}/…`).
fn subscription_of(id: &str) -> Option<&str> {
    let mut segments = id.split('/');
    segments.find(|s| s.eq_ignore_ascii_case("subscriptions"))?;
    segments.next().filter(|s| !s.is_empty())
}

fn strip_prefix_ignore_case<'s>(text: &'s str, prefix: &str) -> Option<&'s str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| text.get(prefix.len()..))
        .flatten()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NicProperties<'a> {
    virtual_machine: Option<IdRef>,
    network_security_group: Option<IdRef>,
    #[serde(borrow)]
    ip_configurations: Option<Vec<&'a RawValue>>,
}

#[derive(Deserialize)]
struct IpConfigProperties<'a> {
    #[serde(borrow, rename = "privateIPAddress")]
    private_ip_address: Option<&'a RawValue>,
    #[serde(rename = "publicIPAddress")]
    public_ip_address: Option<IdRef>,
    subnet: Option<IdRef>,
    primary: Option<bool>,
    #[serde(rename = "applicationSecurityGroups")]
    application_security_groups: Option<Vec<IdRef>>,
}

fn nic<'a>(
    file: &JsonFile<'a>,
    element: &'a RawValue,
    props: NicProperties<'a>,
    resource: Header,
) -> Result<Nic, LoadError> {
    let owner = Owner("network interface", &resource.name);
    let mut ip_configs = Vec::new();
    let mut primary_subnet = None;
    let mut first_subnet = None;
    for config_element in props.ip_configurations.unwrap_or_default() {
        let (config_name, _, config_props): (_, _, IpConfigProperties) =
            Nested::parse(file, config_element)?;
        if let Some(subnet) = config_props.subnet {
            if config_props.primary == Some(true) {
                primary_subnet = Some(subnet.id);
            } else if first_subnet.is_none() {
                first_subnet = Some(subnet.id);
            }
        }
        let private_ip = match config_props.private_ip_address {
            Some(raw) => {
                file.parse_field(raw, "privateIPAddress", &owner, address_without_length)?
            }
            None => None,
        };
        ip_configs.push(IpConfig {
            name: Some(config_name).filter(|name| !name.is_empty()),
            private_ip,
            public_ip_id: config_props.public_ip_address.map(|ip| ip.id),
            public_ip: None,
            app_security_group_ids: ids(config_props.application_security_groups),
        });
    }
    Ok(Nic {
        id: resource.id,
        name: resource.name,
        provider: Provider::Azure,
        vm_id: props.virtual_machine.map(|vm| vm.id),
        subnet_id: primary_subnet.or(first_subnet),
        nsg_id: props.network_security_group.map(|nsg| nsg.id),
        security_group_ids: Vec::new(),
        ip_configs,
        origin: origin(file, element),
    })
}

/// An address; some exports write it with a prefix length (`172.20.2.16/28`), which is dropped.
fn address_without_length(text: &str) -> Result<Option<IpAddr>, String> {
    let address = text
        .split_once('/')
        .map_or(text, |(address, _)| address)
        .trim();
    if address.is_empty() {
        return Ok(None);
    }
    address
        .parse()
        .map(Some)
        .map_err(|_| format!("{:?} is not an IP address", text.trim()))
}

fn ids(refs: Option<Vec<IdRef>>) -> Vec<String> {
    refs.unwrap_or_default().into_iter().map(|r| r.id).collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NsgProperties<'a> {
    #[serde(borrow)]
    security_rules: Option<Vec<&'a RawValue>>,
    #[serde(borrow)]
    default_security_rules: Option<Vec<&'a RawValue>>,
}

fn nsg<'a>(
    file: &JsonFile<'a>,
    element: &'a RawValue,
    props: NsgProperties<'a>,
    resource: Header,
) -> Result<Nsg, LoadError> {
    let rules = |elements: Option<Vec<&'a RawValue>>| -> Result<Vec<NsgRule>, LoadError> {
        elements
            .unwrap_or_default()
            .into_iter()
            .map(|rule_element| nsg_rule(file, rule_element))
            .collect()
    };
    let grant_expiries = props
        .security_rules
        .iter()
        .flatten()
        .filter_map(|rule_element| grant_expiry(file, rule_element))
        .collect();
    Ok(Nsg {
        rules: rules(props.security_rules)?,
        default_rules: rules(props.default_security_rules)?,
        grant_expiries,
        id: resource.id,
        name: resource.name,
        region: resource.location,
        origin: origin(file, element),
    })
}

/// A rule's description, the only field [`grant_expiry`] reads.
#[derive(Deserialize)]
struct Description {
    description: Option<String>,
}

/// The rule's name and the expiry its description carries, when `jit request` stamped one.
fn grant_expiry<'a>(file: &JsonFile<'a>, element: &'a RawValue) -> Option<(String, String)> {
    let (name, _, props): (_, _, Description) = Nested::parse(file, element).ok()?;
    let stamp = crate::jit::grant::Stamp::parse(props.description.as_deref()?)?;
    Some((name, crate::jit::clock::format_instant(stamp.expires)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RuleProperties<'a> {
    priority: u32,
    #[serde(borrow)]
    direction: &'a RawValue,
    #[serde(borrow)]
    access: &'a RawValue,
    #[serde(borrow)]
    protocol: &'a RawValue,
    #[serde(borrow)]
    source_address_prefix: Option<&'a RawValue>,
    #[serde(borrow)]
    source_address_prefixes: Option<Vec<&'a RawValue>>,
    source_application_security_groups: Option<Vec<IdRef>>,
    #[serde(borrow)]
    source_port_range: Option<&'a RawValue>,
    #[serde(borrow)]
    source_port_ranges: Option<Vec<&'a RawValue>>,
    #[serde(borrow)]
    destination_address_prefix: Option<&'a RawValue>,
    #[serde(borrow)]
    destination_address_prefixes: Option<Vec<&'a RawValue>>,
    destination_application_security_groups: Option<Vec<IdRef>>,
    #[serde(borrow)]
    destination_port_range: Option<&'a RawValue>,
    #[serde(borrow)]
    destination_port_ranges: Option<Vec<&'a RawValue>>,
}

fn nsg_rule<'a>(file: &JsonFile<'a>, element: &'a RawValue) -> Result<NsgRule, LoadError> {
    let (name, _, props): (_, _, RuleProperties) = Nested::parse(file, element)?;
    let owner = Owner("rule", &name);
    let direction = file.parse_field(props.direction, "direction", &owner, |s| {
        match s.trim().to_ascii_lowercase().as_str() {
            "inbound" => Ok(Direction::Inbound),
            "outbound" => Ok(Direction::Outbound),
            _ => Err("must be Inbound or Outbound"),
        }
    })?;
    let access = file.parse_field(props.access, "access", &owner, |s| {
        match s.trim().to_ascii_lowercase().as_str() {
            "allow" => Ok(Access::Allow),
            "deny" => Ok(Access::Deny),
            _ => Err("must be Allow or Deny"),
        }
    })?;
    let protocol: Protocol = file.parse_field(props.protocol, "protocol", &owner, str::parse)?;
    let source_ports: Vec<PortRange> = singular_and_plural(
        file,
        &owner,
        (props.source_port_range, "sourcePortRange"),
        (props.source_port_ranges, "sourcePortRanges"),
    )?;
    Ok(NsgRule {
        priority: props.priority,
        direction,
        access,
        protocol,
        sources: singular_and_plural(
            file,
            &owner,
            (props.source_address_prefix, "sourceAddressPrefix"),
            (props.source_address_prefixes, "sourceAddressPrefixes"),
        )?,
        source_asg_ids: ids(props.source_application_security_groups),
        // Any source port is written `*`; the model says "any" with an empty list.
        source_ports: if source_ports.iter().any(|p| p.is_all()) {
            Vec::new()
        } else {
            source_ports
        },
        destinations: singular_and_plural(
            file,
            &owner,
            (props.destination_address_prefix, "destinationAddressPrefix"),
            (
                props.destination_address_prefixes,
                "destinationAddressPrefixes",
            ),
        )?,
        destination_asg_ids: ids(props.destination_application_security_groups),
        destination_ports: singular_and_plural(
            file,
            &owner,
            (props.destination_port_range, "destinationPortRange"),
            (props.destination_port_ranges, "destinationPortRanges"),
        )?,
        name,
        origin: origin(file, element),
    })
}

/// Parses a singular field and its plural twin together (`sourceAddressPrefix` and
/// `sourceAddressPrefixes`). Azure writes an empty singular when the plural is used, so an empty
/// string counts as absent.
fn singular_and_plural<'a, T>(
    file: &JsonFile<'a>,
    owner: &Owner,
    (one, one_name): (Option<&'a RawValue>, &str),
    (many, many_name): (Option<Vec<&'a RawValue>>, &str),
) -> Result<Vec<T>, LoadError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let fields = one.map(|raw| (raw, one_name)).into_iter().chain(
        many.unwrap_or_default()
            .into_iter()
            .map(|raw| (raw, many_name)),
    );
    let mut values = Vec::new();
    for (raw, field) in fields {
        let parsed = file.parse_field(raw, field, owner, |s: &str| {
            if s.trim().is_empty() {
                Ok(None)
            } else {
                s.parse::<T>().map(Some)
            }
        })?;
        values.extend(parsed);
    }
    Ok(values)
}

#[derive(Deserialize)]
struct PublicIpProperties<'a> {
    #[serde(borrow, rename = "publicIPAddressVersion")]
    version: Option<&'a RawValue>,
    #[serde(borrow, rename = "ipAddress")]
    ip_address: Option<&'a RawValue>,
}

/// A public IP resource, of the family its address actually has: a `publicIPAddressVersion` that
/// disagrees with the address (which Azure would refuse) is overruled, with a warning.
fn public_ip<'a>(
    file: &JsonFile<'a>,
    props: PublicIpProperties<'a>,
    resource: Header,
    warnings: &mut Vec<String>,
) -> Result<PublicIp, LoadError> {
    let owner = format!("public IP address {:?}", resource.name);
    let family = match props.version {
        None => Family::V4,
        Some(raw) => file.parse_field(raw, "publicIPAddressVersion", &owner, |s| {
            match s.trim().to_ascii_lowercase().as_str() {
                "ipv4" => Ok(Family::V4),
                "ipv6" => Ok(Family::V6),
                _ => Err("must be IPv4 or IPv6"),
            }
        })?,
    };
    let mut family = family;
    let mut address = None;
    if let Some(raw) = props.ip_address {
        address = file.parse_field(raw, "ipAddress", &owner, address_without_length)?;
        if let Some(ip) = address {
            let version = format!("publicIPAddressVersion {family}");
            warnings.extend(rejected::misfiled_family(
                file,
                raw,
                "ipAddress",
                &format!("{owner} ({version})"),
                &ip,
                (Family::of(&ip), family),
                "Azure",
            ));
            family = Family::of(&ip);
        }
    }
    Ok(PublicIp {
        id: resource.id,
        name: resource.name,
        family,
        address,
    })
}

#[derive(Deserialize)]
struct VirtualNetworkProperties<'a> {
    #[serde(borrow)]
    subnets: Option<Vec<&'a RawValue>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubnetProperties<'a> {
    #[serde(borrow)]
    address_prefix: Option<&'a RawValue>,
    #[serde(borrow)]
    address_prefixes: Option<Vec<&'a RawValue>>,
    network_security_group: Option<IdRef>,
}

fn subnet<'a>(
    file: &JsonFile<'a>,
    props: SubnetProperties<'a>,
    id: String,
    name: String,
    network_id: Option<String>,
) -> Result<Subnet, LoadError> {
    let owner = Owner("subnet", &name);
    let cidrs: Vec<IpNetwork> = singular_and_plural(
        file,
        &owner,
        (props.address_prefix, "addressPrefix"),
        (props.address_prefixes, "addressPrefixes"),
    )?;
    Ok(Subnet {
        id,
        name,
        provider: Provider::Azure,
        network_id,
        nsg_id: props.network_security_group.map(|nsg| nsg.id),
        cidrs,
    })
}

/// The virtual network id of a subnet id (`…/virtualNetworks/vnet/subnets/default`).
fn parent_network(subnet_id: &str) -> Option<String> {
    let lower = subnet_id.to_ascii_lowercase();
    let at = lower.rfind("/subnets/")?;
    subnet_id.get(..at).map(str::to_string)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JitProperties<'a> {
    #[serde(borrow)]
    virtual_machines: Option<Vec<JitVmProperties<'a>>>,
}

#[derive(Deserialize)]
struct JitVmProperties<'a> {
    id: String,
    #[serde(borrow)]
    ports: Option<Vec<JitPortProperties<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JitPortProperties<'a> {
    number: u16,
    #[serde(borrow)]
    protocol: &'a RawValue,
    allowed_source_address_prefix: Option<String>,
    allowed_source_address_prefixes: Option<Vec<String>>,
    max_request_access_duration: Option<String>,
}

fn jit_policy<'a>(
    file: &JsonFile<'a>,
    props: JitProperties<'a>,
    resource: Header,
) -> Result<JitPolicy, LoadError> {
    let mut vms = Vec::new();
    for vm in props.virtual_machines.unwrap_or_default() {
        let mut ports = Vec::new();
        for port in vm.ports.unwrap_or_default() {
            let owner = format!("port {} of JIT policy {:?}", port.number, resource.name);
            ports.push(JitPort {
                number: port.number,
                protocol: file.parse_field(port.protocol, "protocol", &owner, str::parse)?,
                allowed_sources: port
                    .allowed_source_address_prefix
                    .into_iter()
                    .chain(port.allowed_source_address_prefixes.unwrap_or_default())
                    .filter(|prefix| !prefix.is_empty())
                    .collect(),
                max_request_access_duration: port.max_request_access_duration,
            });
        }
        vms.push(JitVm { id: vm.id, ports });
    }
    Ok(JitPolicy {
        id: resource.id,
        name: resource.name,
        region: resource.location,
        vms,
    })
}

#[cfg(test)]
mod tests;
