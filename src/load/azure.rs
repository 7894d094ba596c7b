//! Azure resources, as the REST API returns them (`{id, name, type, location, properties}`) or
//! as the az CLI prints them (the same with `properties` hoisted to the top level, in nested
//! sub-resources too).
//!
//! Both shapes are read by the same typed structs: a resource's header is parsed first, then its
//! properties from `properties` when present, else from the element itself. Resource ids are kept
//! exactly as written; the engine compares them case-insensitively.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnetwork::IpNetwork;
use serde::Deserialize;
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

/// The fields every Azure resource and sub-resource shares.
#[derive(Deserialize)]
struct Resource<'a> {
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default, rename = "type")]
    resource_type: String,
    location: Option<String>,
    tags: Option<BTreeMap<String, String>>,
    #[serde(borrow)]
    properties: Option<&'a RawValue>,
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
    let resource: Resource = file.parse_raw(element)?;
    let properties = resource.properties.unwrap_or(element);
    let snapshot = &mut loaded.snapshot;
    match resource.resource_type.to_ascii_lowercase().as_str() {
        "" => loaded.skip(WITHOUT_TYPE),
        "microsoft.compute/virtualmachines" => {
            snapshot.vms.push(vm(file, element, properties, resource)?);
        }
        "microsoft.network/networkinterfaces" => {
            snapshot
                .nics
                .push(nic(file, element, properties, resource)?);
        }
        "microsoft.network/networksecuritygroups" => {
            snapshot
                .nsgs
                .push(nsg(file, element, properties, resource)?);
        }
        "microsoft.network/publicipaddresses" => {
            snapshot
                .public_ips
                .push(public_ip(file, properties, resource, &mut loaded.warnings)?);
        }
        "microsoft.network/virtualnetworks" => {
            let network: VirtualNetworkProperties = file.parse_raw(properties)?;
            for subnet_element in network.subnets.unwrap_or_default() {
                let sub: Resource = file.parse_raw(subnet_element)?;
                let sub_properties = sub.properties.unwrap_or(subnet_element);
                let network_id = Some(resource.id.clone());
                snapshot
                    .subnets
                    .push(subnet(file, sub_properties, sub, network_id)?);
            }
        }
        "microsoft.network/virtualnetworks/subnets" => {
            let network_id = parent_network(&resource.id);
            snapshot
                .subnets
                .push(subnet(file, properties, resource, network_id)?);
        }
        "microsoft.network/applicationsecuritygroups" => {
            snapshot.app_security_groups.push(AppSecurityGroup {
                id: resource.id,
                name: resource.name,
            });
        }
        "microsoft.security/locations/jitnetworkaccesspolicies" => {
            snapshot
                .jit_policies
                .push(jit_policy(file, properties, resource)?);
        }
        _ => loaded.skip(&resource.resource_type),
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
    properties: &'a RawValue,
    resource: Resource<'a>,
) -> Result<Vm, LoadError> {
    let props: VmProperties = file.parse_raw(properties)?;
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
    properties: &'a RawValue,
    resource: Resource<'a>,
) -> Result<Nic, LoadError> {
    let props: NicProperties = file.parse_raw(properties)?;
    let owner = format!("network interface {:?}", resource.name);
    let mut ip_configs = Vec::new();
    let mut primary_subnet = None;
    let mut first_subnet = None;
    for config_element in props.ip_configurations.unwrap_or_default() {
        let config: Resource = file.parse_raw(config_element)?;
        let config_props: IpConfigProperties =
            file.parse_raw(config.properties.unwrap_or(config_element))?;
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
            name: Some(config.name).filter(|name| !name.is_empty()),
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
    properties: &'a RawValue,
    resource: Resource<'a>,
) -> Result<Nsg, LoadError> {
    let props: NsgProperties = file.parse_raw(properties)?;
    let rules = |elements: Option<Vec<&'a RawValue>>| -> Result<Vec<NsgRule>, LoadError> {
        elements
            .unwrap_or_default()
            .into_iter()
            .map(|rule_element| nsg_rule(file, rule_element))
            .collect()
    };
    Ok(Nsg {
        rules: rules(props.security_rules)?,
        default_rules: rules(props.default_security_rules)?,
        id: resource.id,
        name: resource.name,
        region: resource.location,
        origin: origin(file, element),
    })
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
    let resource: Resource = file.parse_raw(element)?;
    let props: RuleProperties = file.parse_raw(resource.properties.unwrap_or(element))?;
    let owner = format!("rule {:?}", resource.name);
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
        name: resource.name.clone(),
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
        origin: origin(file, element),
    })
}

/// Parses a singular field and its plural twin together (`sourceAddressPrefix` and
/// `sourceAddressPrefixes`). Azure writes an empty singular when the plural is used, so an empty
/// string counts as absent.
fn singular_and_plural<'a, T>(
    file: &JsonFile<'a>,
    owner: &str,
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
    properties: &'a RawValue,
    resource: Resource<'a>,
    warnings: &mut Vec<String>,
) -> Result<PublicIp, LoadError> {
    let props: PublicIpProperties = file.parse_raw(properties)?;
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
    properties: &'a RawValue,
    resource: Resource<'a>,
    network_id: Option<String>,
) -> Result<Subnet, LoadError> {
    let props: SubnetProperties = file.parse_raw(properties)?;
    let owner = format!("subnet {:?}", resource.name);
    let cidrs: Vec<IpNetwork> = singular_and_plural(
        file,
        &owner,
        (props.address_prefix, "addressPrefix"),
        (props.address_prefixes, "addressPrefixes"),
    )?;
    Ok(Subnet {
        id: resource.id,
        name: resource.name,
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
    properties: &'a RawValue,
    resource: Resource<'a>,
) -> Result<JitPolicy, LoadError> {
    let props: JitProperties = file.parse_raw(properties)?;
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
