//! `portcullis jit`: `request` a grant, `list` grants, `log` the ledger's events, `revoke` one,
//! `sweep` the expired ones (once, or `--watch`). Every command that reads the cloud first
//! finishes the writes an earlier `fix` or `jit` left without an outcome, then closes the expired
//! grants it finds, then does its own work ([`sweep_first`] does the same for `fix`). A request
//! ends by reading the estate again and running the engine, to verify the grant. The ledger is
//! the one in `--store`, the store the audit history uses.
//!
//! The AWS side (grant groups) is in [`aws`].
//!
//! Exit codes: 0 done; 2 refused or bad input (nothing written); 3 part of the estate could not
//! be read (what was read is still swept); [`EXIT_PARTIAL`] when a write failed or a grant did
//! not verify.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand, ValueEnum};
use time::OffsetDateTime;

use crate::audit::schedule::Stopper;
use crate::engine::EngineConfig;
use crate::fix::clouds::{Connect, Wrote};
use crate::jit::clock::{self, format_instant};
use crate::jit::grant::{Access, GrantId, Stamp};
use crate::jit::ledger::{Closing, Event, EventKind, Grant, Ledger, RuleAt, State};
use crate::jit::policy::{Ask, JitPolicy};
use crate::jit::sweep::{self, Due};
use crate::jit::write::{WriteFailed, Writer};
use crate::jit::{identity, request, verify};
use crate::model::{Provider, Snapshot, Vm};
use crate::output::escape::visible;
use crate::verdict::port_list;

use super::PolicyArgs;
use super::fix::{EXIT_PARTIAL, report_recovered};
use super::history::StoreArg;
use super::source::{SourceArgs, incomplete_exit};

mod aws;

#[derive(Debug, Subcommand)]
pub(super) enum JitCommand {
    /// Open ports of one VM to one source, for a limited time.
    Request(Box<RequestArgs>),
    /// List the grants the ledger records: the active ones, or all with --all.
    List(ListArgs),
    /// List the ledger's events: every request (granted or refused), grant and close.
    Log(LogArgs),
    /// Close a grant now.
    Revoke(Box<RevokeArgs>),
    /// Close every grant whose expiry has passed, from cloud state alone.
    Sweep(Box<SweepArgs>),
    /// Check a JIT policy file.
    #[command(subcommand)]
    Policy(PolicyCommand),
}

#[derive(Debug, Subcommand)]
pub(super) enum PolicyCommand {
    /// Check a JIT policy file and say what it allows; errors name the line.
    Validate {
        /// The policy file (YAML; docs/jit.md).
        file: PathBuf,
    },
}

#[derive(Debug, Args)]
pub(super) struct RequestArgs {
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    policy: PolicyArgs,
    #[command(flatten)]
    store: StoreArg,
    /// The VM: its Azure resource id or EC2 instance id, its name, or tag:KEY=VALUE (one VM).
    #[arg(long, value_name = "VM")]
    vm: String,
    /// The ports, comma-separated: 22, 3389 (TCP), or 3389/udp; one protocol a grant.
    #[arg(
        long = "port",
        value_name = "PORT,…",
        value_delimiter = ',',
        required = true
    )]
    ports: Vec<String>,
    /// The source: an IP address, a CIDR, or my-ip (this machine's public address, asked of
    /// --my-ip-url).
    #[arg(long, value_name = "IP|CIDR|my-ip")]
    from: String,
    /// With --from my-ip: the what-is-my-address service (answers with the address as text).
    #[arg(long, value_name = "URL", env = "PORTCULLIS_MY_IP_URL", default_value = crate::jit::my_ip::DEFAULT_URL)]
    my_ip_url: String,
    /// How long: 1m to 24h (e.g. 30m, 2h, 1h30m).
    #[arg(long = "for", value_name = "DURATION", default_value = "3h", value_parser = clock::parse_duration)]
    duration: Duration,
    /// Why access is needed (a ticket, an incident).
    #[arg(long, value_name = "TEXT")]
    justification: Option<String>,
    /// The JIT policy that decides who may open what (YAML; docs/jit.md), instead of the
    /// built-in one.
    #[arg(long, value_name = "FILE")]
    jit_policy: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(super) struct ListArgs {
    /// Also the ended grants (expired, revoked, replaced).
    #[arg(long)]
    all: bool,
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    format: ListFormat,
    #[command(flatten)]
    store: StoreArg,
}

#[derive(Debug, Args)]
pub(super) struct LogArgs {
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    format: ListFormat,
    #[command(flatten)]
    store: StoreArg,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub(super) struct RevokeArgs {
    /// The grant's id (`jit list` shows it), or its rule's name.
    #[arg(value_parser = GrantId::parse)]
    grant: GrantId,
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    store: StoreArg,
}

#[derive(Debug, Args)]
pub(super) struct SweepArgs {
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    store: StoreArg,
    /// Keep running: sleep until the next expiry (or --interval, whichever comes first), sweep,
    /// and again; grants requested meanwhile are found at the next wake. SIGTERM or SIGINT
    /// stops it between sweeps.
    #[arg(long)]
    watch: bool,
    /// With --watch: the longest sleep between two sweeps.
    #[arg(long, value_name = "DURATION", default_value = "5m", requires = "watch", value_parser = crate::limits::parse_duration)]
    interval: Duration,
}

pub(super) fn run(command: JitCommand) -> Result<ExitCode, String> {
    match command {
        JitCommand::Request(args) => run_request(*args),
        JitCommand::List(args) => run_list(&args),
        JitCommand::Log(args) => run_log(&args),
        JitCommand::Revoke(args) => run_revoke(*args),
        JitCommand::Sweep(args) => run_sweep(*args),
        JitCommand::Policy(PolicyCommand::Validate { file }) => {
            let policy = JitPolicy::load(&file).map_err(|e| e.to_string())?;
            println!("{}", visible(&policy.summary()));
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The cloud as read at the start of a command, the writer, the ledger and the time.
struct Live {
    snapshot: Snapshot,
    writer: Writer,
    store: StoreArg,
    /// The ledger once opened, or why the store could not be: closing never waits for it.
    ledger: Option<Result<Box<dyn Ledger>, String>>,
    now: OffsetDateTime,
    who: String,
    /// A write failed.
    failed: bool,
    /// Something was written since the estate was read (recovery comes before the read).
    changed: bool,
}

impl Live {
    /// Recovers what an earlier command left half-done, then reads the estate of the one cloud
    /// `source` reads live.
    fn connect(source: &SourceArgs, store: &StoreArg) -> Result<Live, String> {
        let cloud = live_cloud(source)?;
        let connect = source.connect();
        let who = identity::requester(&[cloud], &connect)?;
        Live::open(connect, who, store, || Ok(source.gather(false)?.0.snapshot))
    }

    /// Recovers what an earlier command left half-done, then reads the estate with `read`; `who`
    /// is who acts, and the ledger is in `store`.
    fn open(
        connect: Connect,
        who: String,
        store: &StoreArg,
        read: impl FnOnce() -> Result<Snapshot, String>,
    ) -> Result<Live, String> {
        let mut writer = Writer::new(connect)?;
        let failed = recover(&mut writer)?;
        Ok(Live {
            snapshot: read()?,
            writer,
            store: store.clone(),
            ledger: None,
            now: clock::now()?,
            who,
            failed,
            changed: false,
        })
    }

    /// The command's exit: partial when a write failed, else incomplete when a scope was not
    /// read, else `code`.
    fn exit(&self, code: ExitCode) -> ExitCode {
        if self.failed {
            return ExitCode::from(EXIT_PARTIAL);
        }
        incomplete_exit(&self.snapshot).unwrap_or(code)
    }

    /// Closes every grant rule whose expiry has passed; returns the next expiry still open.
    fn sweep(&mut self) -> Result<Option<OffsetDateTime>, String> {
        let mut next: Option<OffsetDateTime> = self.sweep_aws()?;
        for held in sweep::held(&self.snapshot) {
            let rule = match self.writer.read(&held.nsg, &held.rule) {
                Ok(Some(rule)) => rule,
                Ok(None) => continue,
                Err(error) => {
                    eprintln!("error: {}", visible(&error.to_string()));
                    self.failed = true;
                    continue;
                }
            };
            match sweep::due(&rule, self.now) {
                Due::Open(at) => next = Some(next.map_or(at, |n| n.min(at))),
                Due::NoExpiry => eprintln!(
                    "warning: rule {:?} of NSG {} carries no expiry in its description; it was \
                     not made by `portcullis jit request` and is left alone",
                    visible(&held.rule),
                    visible(&held.nsg)
                ),
                Due::Expired(at) => {
                    let result = self.writer.delete(&held.grant, &held.nsg, &rule);
                    let expired = format_instant(at);
                    if self.report("close expired", &held.rule, &held.nsg, &result) {
                        self.close(
                            &held.grant,
                            State::Expired,
                            &format!("expired at {expired}"),
                        );
                    }
                }
            }
        }
        Ok(next)
    }

    /// Prints how a write went; true when it is in place.
    fn report(
        &mut self,
        verb: &str,
        rule: &str,
        nsg: &str,
        result: &Result<Wrote, WriteFailed>,
    ) -> bool {
        self.wrote(
            verb,
            &format!("rule {} of NSG {}", visible(rule), visible(nsg)),
            result,
        )
    }

    /// Prints how the write to `target` (as shown) went; true when it is in place.
    fn wrote(&mut self, verb: &str, target: &str, result: &Result<Wrote, WriteFailed>) -> bool {
        match result {
            Ok(wrote) => {
                self.changed |= matches!(wrote, Wrote::Changed);
                println!("{verb}: {target}");
                true
            }
            Err(error) => {
                eprintln!("error: {verb}: {}", visible(&error.to_string()));
                self.failed = true;
                false
            }
        }
    }

    /// Says that `grant` of `access` is open, then verifies it: reads the estate from `source`
    /// again and runs the engine on it ([`verify::unreached`]). The request's exit: partial when
    /// the source does not reach every granted port.
    fn granted(
        &mut self,
        grant: &Grant,
        access: &Access,
        source: &SourceArgs,
        config: &EngineConfig,
    ) -> ExitCode {
        let to = format!(
            "{} from {} to {}",
            access.ports_text(),
            access.source,
            visible(&grant.vm_name)
        );
        println!("granted {}: {to} until {}", grant.id, grant.closes);
        match source.gather(false) {
            Ok((read, _)) => {
                let unreached = verify::unreached(&read.snapshot, &grant.vm_id, access, config);
                if unreached.is_empty() {
                    println!("verified: {to} (the estate read again)");
                } else {
                    eprintln!(
                        "error: grant {} is written, but the estate read again shows {} still \
                         not reached from {}: another layer denies it (a network ACL, an NSG the \
                         request did not write to); `portcullis scan` shows which. The grant \
                         stays until it expires or `portcullis jit revoke {}`",
                        grant.id,
                        port_list(&unreached),
                        access.source,
                        grant.id
                    );
                    self.failed = true;
                }
            }
            Err(why) => {
                eprintln!(
                    "error: grant {} is written, but the estate cannot be read again to verify \
                     it: {}",
                    grant.id,
                    visible(&why)
                );
                self.failed = true;
            }
        }
        self.exit(ExitCode::SUCCESS)
    }

    /// The ledger, opened when first needed (a command with nothing to record opens no store),
    /// or why the store cannot be opened.
    fn ledger(&mut self) -> Result<&mut dyn Ledger, String> {
        let store = &self.store;
        match self.ledger.get_or_insert_with(|| store.ledger()) {
            Ok(ledger) => Ok(ledger.as_mut()),
            Err(why) => Err(why.clone()),
        }
    }

    /// Records that `grant` ended, after its rules were deleted.
    fn close(&mut self, grant: &GrantId, state: State, detail: &str) {
        let closing = Closing {
            grant: grant.clone(),
            state,
            at: format_instant(self.now),
            who: self.who.clone(),
            detail: detail.to_owned(),
        };
        self.note(&format!("the close of grant {grant}"), |ledger| {
            ledger.closed(&closing)
        });
    }

    /// Writes what the cloud already holds (`what`) to the ledger. The cloud is the truth, so a
    /// ledger that cannot be written does not stop the command: it is reported, and the exit is
    /// partial.
    fn note(
        &mut self,
        what: &str,
        write: impl FnOnce(&mut dyn Ledger) -> Result<(), crate::store::StoreError>,
    ) {
        let written = self
            .ledger()
            .and_then(|ledger| write(ledger).map_err(|e| e.to_string()));
        if let Err(why) = written {
            eprintln!(
                "error: {what} is not recorded in the JIT ledger: {}",
                visible(&why)
            );
            self.failed = true;
        }
    }

    /// An event of grant `id` at the command's time, by its requester.
    fn event(&self, id: &GrantId, kind: EventKind, detail: String) -> Event {
        Event {
            at: format_instant(self.now),
            grant: Some(id.clone()),
            kind,
            who: self.who.clone(),
            detail,
        }
    }

    /// Checks the request against the JIT policy, before any write, and records it in the
    /// ledger: refused (the error), or requested (an error, and nothing written, when the
    /// ledger cannot take it).
    fn admit(
        &mut self,
        jit_policy: &JitPolicy,
        args: &RequestArgs,
        vm: &Vm,
        access: &Access,
        id: &GrantId,
    ) -> Result<(), String> {
        let ask = Ask {
            vm,
            requester: &self.who,
            access,
            duration: args.duration,
            justification: args.justification.as_deref(),
        };
        if let Err(refusal) = jit_policy.check(&ask) {
            let refusal = refusal.to_string();
            let event = self.event(id, EventKind::Refused, refusal.clone());
            self.note(&format!("the refusal of grant {id}"), |ledger| {
                ledger.record(&event)
            });
            return Err(refusal);
        }
        let asked = format!(
            "{} from {} to {} for {}: {}",
            access.ports_text(),
            access.source,
            vm.id,
            clock::show_duration(args.duration),
            args.justification.as_deref().unwrap_or_default()
        );
        let event = self.event(id, EventKind::Requested, asked);
        self.ledger()
            .and_then(|ledger| ledger.record(&event).map_err(|e| e.to_string()))
            .map_err(|why| {
                format!("{why}; a request is recorded before it is granted: nothing was written")
            })
    }

    /// Records grant `id`, in place as `rules`, in the ledger.
    fn record(
        &mut self,
        args: &RequestArgs,
        vm: &Vm,
        access: &Access,
        id: &GrantId,
        stamp: &Stamp,
        rules: Vec<RuleAt>,
    ) -> Grant {
        let grant = Grant {
            id: id.clone(),
            provider: vm.provider.to_string(),
            vm_id: vm.id.clone(),
            vm_name: vm.name.clone(),
            ports: access
                .port_specs()
                .iter()
                .map(ToString::to_string)
                .collect(),
            source: access.source.to_string(),
            requester: self.who.clone(),
            justification: args.justification.clone().unwrap_or_default(),
            opened: format_instant(self.now),
            closes: format_instant(stamp.expires),
            state: State::Active,
            closed: None,
            rules,
        };
        self.note(&format!("grant {id}"), |ledger| ledger.opened(&grant));
        grant
    }
}

/// The one cloud `jit` writes to: it works live, on Azure or on AWS.
fn live_cloud(source: &SourceArgs) -> Result<Provider, String> {
    if source.has_inputs() {
        return Err("jit works on the live cloud: give --azure or --aws, not --input".to_owned());
    }
    if source.reads_organization() {
        return Err(
            "jit writes with the credentials given, not through member roles: leave out \
             --accounts and give the VM's account's credentials (--profile)"
                .to_owned(),
        );
    }
    match source.live_clouds().as_slice() {
        [cloud] => Ok(*cloud),
        _ => Err("jit works on one cloud at a time: give --azure or --aws".to_owned()),
    }
}

/// What [`sweep_first`] found and did.
pub(super) struct Swept {
    /// The estate as read before the sweep.
    pub snapshot: Snapshot,
    /// The sweep closed a grant, so `snapshot` is out of date.
    pub changed: bool,
    /// A write failed (each failure is printed).
    pub failed: bool,
}

/// What every live `fix` command does first, as every `jit` command does: finishes the writes
/// an earlier `fix` or `jit` left without an outcome, reads the estate with `read` (on
/// `clouds`), then closes its expired grants.
pub(super) fn sweep_first(
    connect: Connect,
    clouds: &[Provider],
    store: &StoreArg,
    read: impl FnOnce() -> Result<Snapshot, String>,
) -> Result<Swept, String> {
    // Who closes is only recorded: a cloud that cannot say does not hold up the command.
    let who = identity::requester(clouds, &connect).unwrap_or_else(|why| {
        eprintln!(
            "warning: who this is cannot be told ({}); closes are recorded as by \"unknown\"",
            visible(&why)
        );
        "unknown".to_owned()
    });
    let mut live = Live::open(connect, who, store, read)?;
    live.sweep()?;
    Ok(Swept {
        snapshot: live.snapshot,
        changed: live.changed,
        failed: live.failed,
    })
}

/// Runs `fix recover`'s reconciliation; true when an intent could not be reconciled.
fn recover(writer: &mut Writer) -> Result<bool, String> {
    let (recovered, torn) = writer.recover().map_err(|e| e.to_string())?;
    Ok(!report_recovered(&recovered, &torn))
}

fn run_request(args: RequestArgs) -> Result<ExitCode, String> {
    let from = if args.from.trim() == "my-ip" {
        let ip = crate::jit::my_ip::ask(&args.my_ip_url, &args.source.limits())?;
        println!("my-ip: {ip} (from {})", visible(&args.my_ip_url));
        ip.to_string()
    } else {
        args.from.clone()
    };
    let access = Access::parse(&args.ports, &from)?;
    let policy = args.policy.load()?;
    let jit_policy = match &args.jit_policy {
        Some(path) => JitPolicy::load(path).map_err(|e| e.to_string())?,
        None => JitPolicy::builtin(),
    };
    let mut live = Live::connect(&args.source, &args.store)?;
    live.sweep()?;
    let now = live.now;
    let expires = now + args.duration;
    let id = GrantId::new(&args.vm, &access, now);
    let stamp = Stamp {
        expires,
        opened: Some(now),
        requester: Some(live.who.clone()),
    };
    let config = EngineConfig::from_policy(&policy);
    if live_cloud(&args.source)? == Provider::Aws {
        return aws::request(live, &args, &jit_policy, &config, &access, &id, &stamp);
    }
    let planned = request::plan(&live.snapshot, &args.vm, &access, &id, &stamp, &config)
        .map_err(|e| e.to_string())?;
    let vm = request::find_vm(&live.snapshot, &args.vm, Provider::Azure)
        .map_err(|e| e.to_string())?
        .clone();
    live.admit(&jit_policy, &args, &vm, &access, &id)?;
    let mut made: Vec<RuleAt> = Vec::new();
    for create in &planned.creates {
        let result = live
            .writer
            .create(&id, &create.nsg, &create.rule, &create.properties);
        if !live.report(
            &format!("open (priority {})", create.priority),
            &create.rule,
            &create.nsg,
            &result,
        ) {
            take_back(&mut live, &id, &made);
            return Ok(ExitCode::from(EXIT_PARTIAL));
        }
        made.push(RuleAt {
            nsg: create.nsg.clone(),
            rule: create.rule.clone(),
        });
    }
    let grant = live.record(&args, &vm, &access, &id, &stamp, made);
    for (old, nsgs) in &planned.replaces {
        for nsg in nsgs {
            close_rule(&mut live, old, nsg, "close replaced");
        }
        live.close(old, State::Replaced, &format!("replaced by grant {id}"));
    }
    Ok(live.granted(&grant, &access, &args.source, &config))
}

/// Deletes the rules a request made before one of its writes failed, so nothing half-granted
/// stays.
fn take_back(live: &mut Live, id: &GrantId, made: &[RuleAt]) {
    for rule in made {
        close_rule(live, id, &rule.nsg, "take back");
    }
}

/// Reads and deletes grant `id`'s rule in `nsg`; true when it is gone.
fn close_rule(live: &mut Live, id: &GrantId, nsg: &str, verb: &str) -> bool {
    let name = id.rule_name();
    match live.writer.read(nsg, &name) {
        Ok(None) => true,
        Ok(Some(rule)) => {
            let result = live.writer.delete(id, nsg, &rule);
            live.report(verb, &name, nsg, &result)
        }
        Err(error) => {
            eprintln!("error: {verb}: {}", visible(&error.to_string()));
            live.failed = true;
            false
        }
    }
}

fn run_revoke(args: RevokeArgs) -> Result<ExitCode, String> {
    let mut live = Live::connect(&args.source, &args.store)?;
    live.sweep()?;
    let held = sweep::of_grant(&live.snapshot, &args.grant);
    let (in_groups, mut closed) = live.close_grant(&args.grant, "revoke");
    if held.is_empty() && !in_groups {
        // Only the ledger knows a grant whose rules are gone already.
        let recorded = live
            .ledger()
            .and_then(|ledger| ledger.grant(&args.grant).map_err(|e| e.to_string()));
        match recorded {
            Ok(Some(grant)) if grant.state == State::Active => {}
            Ok(_) => {
                return Err(format!(
                    "grant {} has no rule in the NSGs or security groups read and is not active \
                     in the ledger: nothing to revoke (`portcullis jit list --all` shows how it \
                     ended)",
                    args.grant
                ));
            }
            Err(why) => {
                return Err(format!(
                    "grant {} has no rule in the NSGs or security groups read, and the ledger \
                     cannot be read: {why}",
                    args.grant
                ));
            }
        }
    }
    for one in &held {
        closed &= close_rule(&mut live, &args.grant, &one.nsg, "revoke");
    }
    if closed {
        live.close(&args.grant, State::Revoked, "revoked");
        println!("revoked {}", args.grant);
    }
    Ok(live.exit(ExitCode::SUCCESS))
}

/// After a failed sweep, how soon `--watch` tries again (sooner with a shorter --interval).
const RETRY: Duration = Duration::from_secs(60);

fn run_sweep(args: SweepArgs) -> Result<ExitCode, String> {
    if !args.watch {
        let mut live = Live::connect(&args.source, &args.store)?;
        live.sweep()?;
        return Ok(live.exit(ExitCode::SUCCESS));
    }
    live_cloud(&args.source)?;
    // Caught from the start, so a signal during a sweep stops the watcher once it is done.
    let mut stopper = Stopper::new()?;
    loop {
        // A failed sweep is reported, and the next one tried soon: the cause may pass.
        let wake = match sweep_once(&args) {
            Ok((now, next)) => next.map_or(now + args.interval, |at| at.min(now + args.interval)),
            Err(message) => {
                eprintln!("error: {}", visible(&message));
                clock::now()? + args.interval.min(RETRY)
            }
        };
        eprintln!("next sweep at {}", format_instant(wake));
        if let Some(signal) = wait_until(&mut stopper, wake)? {
            eprintln!("{signal}: stopped between sweeps");
            return Ok(ExitCode::SUCCESS);
        }
    }
}

/// One sweep of `--watch`: the time it ran at, and the next expiry still open.
fn sweep_once(args: &SweepArgs) -> Result<(OffsetDateTime, Option<OffsetDateTime>), String> {
    let mut live = Live::connect(&args.source, &args.store)?;
    let next = live.sweep()?;
    Ok((live.now, next))
}

/// Waits until the clock reads `wake`, reading it again at least every [`clock::recheck`];
/// returns the signal that stopped the wait first, if one did.
fn wait_until(stopper: &mut Stopper, wake: OffsetDateTime) -> Result<Option<&'static str>, String> {
    loop {
        let now = clock::now()?;
        if now >= wake {
            return Ok(None);
        }
        let left = Duration::try_from(wake - now).unwrap_or(Duration::ZERO);
        if let Some(signal) = stopper.wait(Instant::now() + left.min(clock::recheck()))? {
            return Ok(Some(signal));
        }
    }
}

fn run_log(args: &LogArgs) -> Result<ExitCode, String> {
    let events = args.store.ledger()?.events().map_err(|e| e.to_string())?;
    print_records(args.format, &events, "no events", |e| {
        let grant = e.grant.as_ref().map_or("-".to_owned(), ToString::to_string);
        format!(
            "{}  {grant}  {}  by {}  {}",
            e.at,
            e.kind,
            visible(&e.who),
            visible(&e.detail)
        )
    });
    Ok(ExitCode::SUCCESS)
}

fn run_list(args: &ListArgs) -> Result<ExitCode, String> {
    let grants = args
        .store
        .ledger()?
        .grants(args.all)
        .map_err(|e| e.to_string())?;
    let empty = format!("no {}grants", if args.all { "" } else { "active " });
    print_records(args.format, &grants, &empty, |g| {
        let end = match &g.closed {
            Some(at) => format!("{} {at}", g.state),
            None => format!("closes {}", g.closes),
        };
        format!(
            "{}  {}  {}  from {}  by {}  opened {}  {}  ({})",
            g.id,
            visible(&g.vm_name),
            g.ports.join(","),
            g.source,
            visible(&g.requester),
            g.opened,
            end,
            visible(&g.justification)
        )
    });
    Ok(ExitCode::SUCCESS)
}

/// Prints the ledger's `records` as a JSON list, or one `line` each (`empty` when there are
/// none).
fn print_records<T: serde::Serialize>(
    format: ListFormat,
    records: &[T],
    empty: &str,
    line: impl Fn(&T) -> String,
) {
    match format {
        ListFormat::Json => {
            let text = serde_json::to_string_pretty(records).expect("ledger records are JSON");
            println!("{text}");
        }
        ListFormat::Table => {
            if records.is_empty() {
                println!("{empty}");
            }
            for record in records {
                println!("{}", line(record));
            }
        }
    }
}
