"""Seeds a moto EC2 server with estates for portcullis's live AWS tests and benchmark.

Every estate goes into its own AWS account (moto keeps accounts apart), reached through
credentials of an assumed role in that account, so tests running at the same time never see
each other's resources. Prints those credentials as JSON on standard output.

    seed.py ENDPOINT ACCOUNT verdicts
    seed.py ENDPOINT ACCOUNT commands
    seed.py ENDPOINT ACCOUNT one-instance REGION
    seed.py ENDPOINT ACCOUNT bench
    seed.py ENDPOINT ACCOUNT minimum-calls REGION,REGION,…
    seed.py ENDPOINT ACCOUNT organization REGION
    seed.py ENDPOINT ACCOUNT writes
    seed.py ENDPOINT ACCOUNT jit

`organization` makes ACCOUNT an organisation's management account with three member accounts,
and prints their ids with the management account's credentials: `Members` (two, each with an
instance of its own) and `Closed` (closed, so not ACTIVE, with an instance that must not be read).
`writes` makes one security group in eu-west-1 and prints its id as `group`.
`jit` makes the instances of the `jit` tests in eu-west-1 and prints their instance and interface
ids (`web`, `web_eni`, `db`, `db_eni`, `full`, `full_eni`).
"""

import json
import math
import sys

import boto3

AMI = "ami-12c6146b"  # An image moto knows in every region.


def credentials(endpoint, account):
    sts = boto3.client(
        "sts",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="seed",
        aws_secret_access_key="seed",
    )
    role = f"arn:aws:iam::{account}:role/portcullis-test"
    return sts.assume_role(RoleArn=role, RoleSessionName="seed")["Credentials"]


def ec2_client(endpoint, creds, region):
    return boto3.client(
        "ec2",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


class Vpc:
    """A VPC with an internet gateway, and helpers to add what the estates need."""

    def __init__(self, ec2, region, cidr="10.0.0.0/16", ipv6=False):
        self.ec2 = ec2
        self.region = region
        vpc = ec2.create_vpc(CidrBlock=cidr, AmazonProvidedIpv6CidrBlock=ipv6)["Vpc"]
        self.id = vpc["VpcId"]
        self.ipv6_block = None
        if ipv6:
            described = ec2.describe_vpcs(VpcIds=[self.id])["Vpcs"][0]
            self.ipv6_block = described["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"]
        self.igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=self.igw, VpcId=self.id)
        self.main_table = ec2.describe_route_tables(
            Filters=[
                {"Name": "vpc-id", "Values": [self.id]},
                {"Name": "association.main", "Values": ["true"]},
            ]
        )["RouteTables"][0]["RouteTableId"]

    def subnet(self, cidr, ipv6_index=None):
        args = {"VpcId": self.id, "CidrBlock": cidr, "AvailabilityZone": self.region + "a"}
        if ipv6_index is not None:
            prefix = self.ipv6_block.split("::/")[0]
            args["Ipv6CidrBlock"] = f"{prefix[:-1]}{ipv6_index}::/64"
        return self.ec2.create_subnet(**args)["Subnet"]["SubnetId"]

    def internet_routes(self, table, ipv6=False):
        self.ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=self.igw)
        if ipv6:
            self.ec2.create_route(
                RouteTableId=table, DestinationIpv6CidrBlock="::/0", GatewayId=self.igw
            )

    def routed_table(self, subnets, ipv6=False):
        """A route table to the internet gateway, explicitly associated with `subnets`."""
        table = self.ec2.create_route_table(VpcId=self.id)["RouteTable"]["RouteTableId"]
        self.internet_routes(table, ipv6)
        for subnet in subnets:
            self.ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
        return table

    def group(self, name, permissions):
        group = self.ec2.create_security_group(GroupName=name, Description=name, VpcId=self.id)
        group_id = group["GroupId"]
        if permissions:
            self.ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=permissions)
        return group_id


def tcp(port, cidrs=(), ipv6=(), prefix_lists=()):
    return {
        "IpProtocol": "tcp",
        "FromPort": port,
        "ToPort": port,
        "IpRanges": [{"CidrIp": c} for c in cidrs],
        "Ipv6Ranges": [{"CidrIpv6": c} for c in ipv6],
        "PrefixListIds": [{"PrefixListId": p} for p in prefix_lists],
    }


def instance(ec2, name, subnet, groups, public_ip, count=1):
    interface = {
        "DeviceIndex": 0,
        "SubnetId": subnet,
        "Groups": groups,
        "AssociatePublicIpAddress": public_ip,
    }
    reply = ec2.run_instances(
        ImageId=AMI,
        MinCount=count,
        MaxCount=count,
        InstanceType="t3.micro",
        NetworkInterfaces=[interface],
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": name}]}
        ],
    )
    return reply["Instances"]


def seed_verdicts(endpoint, creds):
    """The end-to-end estate: one instance per case, in two regions."""
    ec2 = ec2_client(endpoint, creds, "eu-west-1")
    vpc = Vpc(ec2, "eu-west-1", ipv6=True)
    routed = vpc.subnet("10.0.1.0/24", ipv6_index=1)
    main_routed = vpc.subnet("10.0.2.0/24")
    denied = vpc.subnet("10.0.3.0/24")
    vpc.routed_table([routed, denied], ipv6=True)
    # AWS gives a VPC with IPv6 a default ACL that allows ::/0 too; moto leaves that entry out.
    default_acl = ec2.describe_network_acls(
        Filters=[{"Name": "vpc-id", "Values": [vpc.id]}, {"Name": "default", "Values": ["true"]}]
    )["NetworkAcls"][0]["NetworkAclId"]
    ec2.create_network_acl_entry(
        NetworkAclId=default_acl, RuleNumber=101, Protocol="-1", RuleAction="allow",
        Egress=False, Ipv6CidrBlock="::/0",
    )
    # main_routed has no association of its own, so the VPC's main table routes it.
    vpc.internet_routes(vpc.main_table)
    acl = ec2.create_network_acl(VpcId=vpc.id)["NetworkAcl"]["NetworkAclId"]
    ec2.create_network_acl_entry(
        NetworkAclId=acl, RuleNumber=100, Protocol="6", RuleAction="deny", Egress=False,
        CidrBlock="0.0.0.0/0", PortRange={"From": 22, "To": 22},
    )
    ec2.create_network_acl_entry(
        NetworkAclId=acl, RuleNumber=200, Protocol="-1", RuleAction="allow", Egress=False,
        CidrBlock="0.0.0.0/0",
    )
    default_association = ec2.describe_network_acls(
        Filters=[{"Name": "association.subnet-id", "Values": [denied]}]
    )["NetworkAcls"][0]["Associations"]
    association = next(a for a in default_association if a["SubnetId"] == denied)
    ec2.replace_network_acl_association(
        AssociationId=association["NetworkAclAssociationId"], NetworkAclId=acl
    )
    office = ec2.create_managed_prefix_list(
        PrefixListName="office", AddressFamily="IPv4", MaxEntries=5,
        Entries=[{"Cidr": "34.0.0.0/8"}, {"Cidr": "10.0.0.0/8"}],
    )["PrefixList"]["PrefixListId"]
    ssh_world = vpc.group("ssh-world", [tcp(22, cidrs=["0.0.0.0/0"])])
    rdp_office = vpc.group("rdp-office", [tcp(3389, prefix_lists=[office])])
    ssh_v6 = vpc.group("ssh-v6", [tcp(22, ipv6=["::/0"])])
    instance(ec2, "ssh-world", routed, [ssh_world], True)
    instance(ec2, "nacl-deny", denied, [ssh_world], True)
    instance(ec2, "private", routed, [ssh_world], False)
    instance(ec2, "main-route", main_routed, [ssh_world], True)
    instance(ec2, "prefix-list", routed, [rdp_office], True)
    [ipv6_only] = instance(ec2, "ipv6-only", routed, [ssh_v6], False)
    interface = ipv6_only["NetworkInterfaces"][0]["NetworkInterfaceId"]
    ec2.assign_ipv6_addresses(NetworkInterfaceId=interface, Ipv6AddressCount=1)

    ec2 = ec2_client(endpoint, creds, "us-east-1")
    vpc = Vpc(ec2, "us-east-1", cidr="10.1.0.0/16")
    subnet = vpc.subnet("10.1.1.0/24")
    vpc.routed_table([subnet])
    rdp = vpc.group("rdp-world", [tcp(3389, cidrs=["0.0.0.0/0"]), tcp(22, cidrs=["10.0.0.0/8"])])
    web = vpc.group("web", [tcp(443, cidrs=["0.0.0.0/0"])])
    instance(ec2, "east-rdp", subnet, [rdp], True)
    instance(ec2, "east-web", subnet, [web], True)


def seed_commands(endpoint, creds):
    """Rules whose fix commands take each form: a port range that gives back the ports around
    SSH, IPv4 and IPv6 sources of one permission, a prefix list, and all traffic."""
    ec2 = ec2_client(endpoint, creds, "eu-west-1")
    vpc = Vpc(ec2, "eu-west-1")
    subnet = vpc.subnet("10.0.1.0/24")
    vpc.routed_table([subnet])
    office = ec2.create_managed_prefix_list(
        PrefixListName="office", AddressFamily="IPv4", MaxEntries=5,
        Entries=[{"Cidr": "34.0.0.0/8"}],
    )["PrefixList"]["PrefixListId"]
    ranged = vpc.group(
        "ranged",
        [
            tcp(22, cidrs=["10.0.0.0/8"]),
            {
                "IpProtocol": "tcp",
                "FromPort": 20,
                "ToPort": 25,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}, {"CidrIp": "10.0.0.0/8"}],
                "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
            },
            tcp(3389, prefix_lists=[office]),
        ],
    )
    everything = vpc.group(
        "everything", [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )
    instance(ec2, "ranged", subnet, [ranged], True)
    instance(ec2, "everything", subnet, [everything], True)


def seed_one_instance(endpoint, creds, region):
    """One internet-facing instance with SSH open to the world."""
    ec2 = ec2_client(endpoint, creds, region)
    vpc = Vpc(ec2, region)
    subnet = vpc.subnet("10.0.1.0/24")
    vpc.routed_table([subnet])
    group = vpc.group("ssh-world", [tcp(22, cidrs=["0.0.0.0/0"])])
    instance(ec2, f"ssh-{region}", subnet, [group], True)


def seed_writes(endpoint, creds):
    """One security group for the rule writes: SSH and ports 20-25 open to the world, and
    SSH from IPv6 anywhere, each with a description."""
    ec2 = ec2_client(endpoint, creds, "eu-west-1")
    vpc = Vpc(ec2, "eu-west-1")
    group = vpc.group(
        "writes",
        [
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "ssh from anywhere"}],
                "Ipv6Ranges": [{"CidrIpv6": "::/0", "Description": "ssh from ipv6"}],
            },
            {
                "IpProtocol": "tcp",
                "FromPort": 20,
                "ToPort": 25,
                "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "ftp to smtp"}],
            },
        ],
    )
    return {"group": group}


def seed_jit(endpoint, creds):
    """Instances for `jit` on AWS, in eu-west-1: jit-web and jit-db share a group that opens SSH
    and RDP to the world (a grant in it would open both); jit-web has a group of its own too, and
    jit-full's interface holds five groups, the most an interface may."""
    ec2 = ec2_client(endpoint, creds, "eu-west-1")
    vpc = Vpc(ec2, "eu-west-1")
    subnet = vpc.subnet("10.0.1.0/24")
    vpc.routed_table([subnet])
    shared = vpc.group("admin-world", [tcp(22, cidrs=["0.0.0.0/0"]), tcp(3389, cidrs=["0.0.0.0/0"])])
    web_only = vpc.group("web", [tcp(443, cidrs=["0.0.0.0/0"])])
    fillers = [vpc.group(f"filler-{n}", []) for n in range(4)]
    made = {
        "web": instance(ec2, "jit-web", subnet, [shared, web_only], True)[0],
        "db": instance(ec2, "jit-db", subnet, [shared], True)[0],
        "full": instance(ec2, "jit-full", subnet, [shared] + fillers, True)[0],
    }
    extra = {"vpc": vpc.id}
    for key, made_instance in made.items():
        extra[key] = made_instance["InstanceId"]
        extra[key + "_eni"] = made_instance["NetworkInterfaces"][0]["NetworkInterfaceId"]
    return extra


def seed_organization(endpoint, creds, region):
    """An organisation: an instance in the management account and in each member account.

    moto keeps the member accounts apart like any other: what is created with credentials of a
    role assumed in a member account is in that account.
    """
    organizations = boto3.client(
        "organizations",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    organizations.create_organization(FeatureSet="ALL")
    members = []
    for name in ("member-a", "member-b", "member-closed"):
        status = organizations.create_account(Email=f"{name}@example.com", AccountName=name)
        members.append(status["CreateAccountStatus"]["AccountId"])
    closed = members.pop()
    sts = boto3.client(
        "sts",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="seed",
        aws_secret_access_key="seed",
    )
    estates = [(creds, "manager-ssh", 22)]
    for name, account, port in (("a-ssh", members[0], 22), ("b-rdp", members[1], 3389)):
        role = f"arn:aws:iam::{account}:role/portcullis-read"
        member = sts.assume_role(RoleArn=role, RoleSessionName="seed")["Credentials"]
        estates.append((member, name, port))
    closed_role = f"arn:aws:iam::{closed}:role/portcullis-read"
    closed_creds = sts.assume_role(RoleArn=closed_role, RoleSessionName="seed")["Credentials"]
    estates.append((closed_creds, "closed-ssh", 22))
    for account_creds, name, port in estates:
        ec2 = ec2_client(endpoint, account_creds, region)
        vpc = Vpc(ec2, region)
        subnet = vpc.subnet("10.0.1.0/24")
        vpc.routed_table([subnet])
        group = vpc.group(f"{name}-world", [tcp(port, cidrs=["0.0.0.0/0"])])
        instance(ec2, name, subnet, [group], True)
    organizations.close_account(AccountId=closed)
    return {"Members": ",".join(members), "Closed": closed}


def seed_bench(endpoint, creds):
    """2,000 instances across three regions and 500 security groups.

    us-east-1 gets 1,200 instances in 1,200 reservations, so that DescribeInstances needs two
    pages there (moto pages by reservation); the other regions get 400 each, launched together.
    Every tenth group admits RDP from a prefix list of the region.
    """
    plan = [("us-east-1", 1200, 200, True), ("eu-west-1", 400, 150, False), ("ap-southeast-2", 400, 150, False)]
    for region, instances, groups, one_per_reservation in plan:
        ec2 = ec2_client(endpoint, creds, region)
        vpc = Vpc(ec2, region)
        subnets = [vpc.subnet(f"10.0.{16 * i}.0/20") for i in range(4)]
        vpc.routed_table(subnets[:3])
        office = ec2.create_managed_prefix_list(
            PrefixListName="office", AddressFamily="IPv4", MaxEntries=5,
            Entries=[{"Cidr": "34.0.0.0/8"}],
        )["PrefixList"]["PrefixListId"]
        group_ids = []
        for i in range(groups):
            if i % 10 == 0:
                permission = tcp(3389, prefix_lists=[office])
            else:
                permission = tcp(22 if i % 3 == 0 else 443, cidrs=["0.0.0.0/0"])
            group_ids.append(vpc.group(f"group-{i}", [permission]))
        if one_per_reservation:
            for i in range(instances):
                instance(ec2, f"{region}-{i}", subnets[i % 4], [group_ids[i % groups]], True)
        else:
            for i in range(0, instances, 100):
                instance(ec2, f"{region}-{i}", subnets[i % 4], [group_ids[i % groups]], True, count=100)


# Largest MaxResults of each call portcullis makes (src/cloud/aws/fetch.rs).
PAGES = {
    "DescribeInstances": 1000,
    "DescribeSecurityGroups": 1000,
    "DescribeSecurityGroupRules": 1000,
    "DescribeNetworkAcls": 1000,
    "DescribeRouteTables": 100,
    "DescribeSubnets": 1000,
    "DescribeManagedPrefixLists": 100,
    "GetManagedPrefixListEntries": 100,
}


def minimum_calls(endpoint, creds, regions):
    """The fewest calls that read `regions`: per list, its items over the largest page (at least
    one call), and the same for the entries of each prefix list a security group names.

    moto pages DescribeInstances by reservation, so reservations are what it counts there.
    """
    total = 0
    for region in regions:
        ec2 = ec2_client(endpoint, creds, region)

        def every(operation, key):
            pages = ec2.get_paginator(operation).paginate()
            return [item for page in pages for item in page[key]]

        groups = every("describe_security_groups", "SecurityGroups")
        counts = {
            "DescribeInstances": len(every("describe_instances", "Reservations")),
            "DescribeSecurityGroups": len(groups),
            "DescribeSecurityGroupRules": len(
                every("describe_security_group_rules", "SecurityGroupRules")
            ),
            "DescribeNetworkAcls": len(every("describe_network_acls", "NetworkAcls")),
            "DescribeRouteTables": len(every("describe_route_tables", "RouteTables")),
            "DescribeSubnets": len(every("describe_subnets", "Subnets")),
            "DescribeManagedPrefixLists": len(
                every("describe_managed_prefix_lists", "PrefixLists")
            ),
        }
        calls = {name: max(1, math.ceil(n / PAGES[name])) for name, n in counts.items()}
        referenced = {
            ref["PrefixListId"]
            for group in groups
            for permission in group["IpPermissions"]
            for ref in permission.get("PrefixListIds", [])
        }
        entries = 0
        for pl in referenced:
            pages = ec2.get_paginator("get_managed_prefix_list_entries").paginate(PrefixListId=pl)
            n = sum(len(page["Entries"]) for page in pages)
            entries += max(1, math.ceil(n / PAGES["GetManagedPrefixListEntries"]))
        calls["GetManagedPrefixListEntries"] = entries
        counts["GetManagedPrefixListEntries"] = len(referenced)
        region_total = sum(calls.values())
        total += region_total
        detail = ", ".join(f"{name} {counts[name]} → {calls[name]}" for name in calls)
        print(f"{region}: {region_total} calls at least ({detail})")
    print(f"minimum: {total} calls")


def main():
    endpoint, account, estate = sys.argv[1], sys.argv[2], sys.argv[3]
    creds = credentials(endpoint, account)
    extra = {}
    if estate == "verdicts":
        seed_verdicts(endpoint, creds)
    elif estate == "commands":
        seed_commands(endpoint, creds)
    elif estate == "writes":
        extra = seed_writes(endpoint, creds)
    elif estate == "jit":
        extra = seed_jit(endpoint, creds)
    elif estate == "one-instance":
        seed_one_instance(endpoint, creds, sys.argv[4])
    elif estate == "organization":
        extra = seed_organization(endpoint, creds, sys.argv[4])
    elif estate == "bench":
        seed_bench(endpoint, creds)
    elif estate == "minimum-calls":
        minimum_calls(endpoint, creds, sys.argv[4].split(","))
        return
    else:
        sys.exit(f"unknown estate {estate!r}")
    keys = {k: creds[k] for k in ("AccessKeyId", "SecretAccessKey", "SessionToken")}
    json.dump({**keys, **extra}, sys.stdout)


if __name__ == "__main__":
    main()
