//! The last stage of a request: the estate read again after the grant was written, and the
//! engine run on it for the granted ports. A grant is done when its source reaches the VM on
//! each port, not when the cloud answered 200: another layer (an AWS network ACL, a subnet NSG
//! the request could not write to) may still deny it.

use crate::addrset::AddressSet;
use crate::engine::{self, EngineConfig};
use crate::model::{PortSpec, Snapshot};

use super::grant::Access;

/// The granted ports on which the internet addresses of `access`'s source do not all reach VM
/// `vm` in `snapshot` (all of them when the VM is not in it).
pub fn unreached(
    snapshot: &Snapshot,
    vm: &str,
    access: &Access,
    config: &EngineConfig,
) -> Vec<PortSpec> {
    let config = EngineConfig {
        ports: access.port_specs(),
        ..config.clone()
    };
    let wanted = AddressSet::network(&access.source).intersect(&config.internet);
    let Some(index) = snapshot.vms.iter().position(|v| v.id == vm) else {
        return config.ports;
    };
    let exposures = engine::evaluate(snapshot, &config);
    let reach = &exposures.vms[index].reach.ports;
    exposures
        .ports
        .iter()
        .zip(reach)
        .filter(|(_, exposure)| !wanted.difference(&exposure.reachable).is_empty())
        .map(|(port, _)| *port)
        .collect()
}
