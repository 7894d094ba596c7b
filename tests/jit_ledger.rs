//! The JIT ledger (`portcullis::jit::ledger::Ledger`) on both store backends: SQLite, and
//! PostgreSQL when the test server is up (scripts/lib/postgres.sh; required with
//! PORTCULLIS_REQUIRE_POSTGRES=1). Grants are recorded, listed and closed once; the ledger
//! shares its store with the audit history; and a sweeper and a requester writing one store at
//! once lose no events.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Barrier};

use portcullis::audit::record::NewRun;
use portcullis::jit::grant::GrantId;
use portcullis::jit::ledger::{Closing, Event, EventKind, Grant, Ledger, RuleAt, State};
use portcullis::store::{self, StoreUrl};
use support::postgres::stores;

fn open(url: &str) -> Box<dyn Ledger> {
    store::open_ledger(&StoreUrl::parse(url).unwrap()).unwrap()
}

/// Runs `case` on a fresh store of each backend (`name` must be an SQL identifier).
fn for_each_store(name: &str, case: impl Fn(&str)) {
    let dir = tempfile::tempdir().unwrap();
    for url in stores(dir.path(), name) {
        case(&url);
    }
}

/// A grant id of twelve hex digits made of `n`.
fn id(n: usize) -> GrantId {
    GrantId::parse(&format!("{n:012x}")).unwrap()
}

fn grant(id: &GrantId, opened: &str) -> Grant {
    Grant {
        id: id.clone(),
        provider: "azure".into(),
        vm_id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/web"
            .into(),
        vm_name: "web".into(),
        ports: vec!["22/tcp".into(), "3389/tcp".into()],
        source: "203.0.113.9/32".into(),
        requester: "alice@contoso.com".into(),
        justification: "INC-42".into(),
        opened: opened.into(),
        closes: "2026-12-03T09:00:00Z".into(),
        state: State::Active,
        closed: None,
        rules: vec![RuleAt {
            nsg: "/subscriptions/s/…/web-nsg".into(),
            rule: format!("portcullis-jit-{id}"),
        }],
    }
}

fn closing(id: &GrantId, state: State, at: &str, who: &str) -> Closing {
    Closing {
        grant: id.clone(),
        state,
        at: at.into(),
        who: who.into(),
        detail: format!("{state} by {who}"),
    }
}

#[test]
fn grants_are_recorded_listed_and_closed_once() {
    for_each_store("jit_ledger_grants", |url| {
        let mut ledger = open(url);
        let (a, b) = (
            grant(&id(0xa), "2026-12-03T06:00:00Z"),
            grant(&id(0xb), "2026-12-03T07:00:00Z"),
        );
        let asked = Event {
            at: a.opened.clone(),
            grant: Some(a.id.clone()),
            kind: EventKind::Requested,
            who: a.requester.clone(),
            detail: "22/tcp".into(),
        };
        ledger.record(&asked).unwrap();
        ledger.opened(&a).unwrap();
        ledger.opened(&b).unwrap();
        assert_eq!(ledger.grants(false).unwrap(), [a.clone(), b.clone()]);
        let revoke = closing(&a.id, State::Revoked, "2026-12-03T07:30:00Z", "bob");
        ledger.closed(&revoke).unwrap();
        // A second close (a sweep after the revoke) does not rewrite how it ended.
        let sweep = closing(&a.id, State::Expired, "2026-12-03T09:00:00Z", "sweep");
        ledger.closed(&sweep).unwrap();
        // A grant the ledger never saw opened gets the event only.
        let stranger = closing(&id(0xc), State::Expired, "2026-12-03T09:00:00Z", "sweep");
        ledger.closed(&stranger).unwrap();
        drop(ledger);

        let mut ledger = open(url);
        assert_eq!(ledger.grants(false).unwrap(), std::slice::from_ref(&b));
        let ended = ledger.grant(&a.id).unwrap().unwrap();
        assert_eq!(
            (ended.state, ended.closed.as_deref()),
            (State::Revoked, Some("2026-12-03T07:30:00Z"))
        );
        assert_eq!(ledger.grant(&id(0xc)).unwrap(), None);
        assert_eq!(ledger.grants(true).unwrap().len(), 2);
        assert_eq!(
            ledger.events().unwrap(),
            [
                asked,
                Event::opened(&a),
                Event::opened(&b),
                revoke.event(),
                sweep.event(),
                stranger.event()
            ]
        );
    });
}

#[test]
fn the_ledger_shares_its_store_with_the_audit_history() {
    for_each_store("jit_ledger_shared", |url| {
        let url = StoreUrl::parse(url).unwrap();
        let mut history = store::open(&url).unwrap();
        let run = NewRun {
            time: "2026-12-03T06:00:00Z".into(),
            sources: vec!["azure".into()],
            scopes_read: vec!["azure s1".into()],
            scopes_missing: Vec::new(),
            policy_digest: "d".into(),
            score: 50.0,
            score_detail: "{}".into(),
            observations: Vec::new(),
        };
        history.record(&run).unwrap();
        let mut ledger = store::open_ledger(&url).unwrap();
        let a = grant(&id(1), "2026-12-03T06:00:00Z");
        ledger.opened(&a).unwrap();
        drop((history, ledger));
        assert_eq!(store::open(&url).unwrap().runs().unwrap().len(), 1);
        assert_eq!(
            store::open_ledger(&url).unwrap().grants(false).unwrap(),
            [a]
        );
    });
}

/// How many grants each side of the race writes.
const RACE: usize = 40;

#[test]
fn a_sweeper_and_a_requester_sharing_the_store_lose_no_events() {
    for_each_store("jit_ledger_race", |url| {
        // Migrated before the race, as by the first command that ever opened it.
        drop(open(url));
        let start = Arc::new(Barrier::new(2));
        let requester = {
            let (url, start) = (url.to_owned(), start.clone());
            std::thread::spawn(move || {
                let mut ledger = open(&url);
                start.wait();
                for n in 0..RACE {
                    let g = grant(&id(n), &format!("2026-12-03T06:{:02}:00Z", n % 60));
                    ledger
                        .record(&Event {
                            at: g.opened.clone(),
                            grant: Some(g.id.clone()),
                            kind: EventKind::Requested,
                            who: "requester".into(),
                            detail: String::new(),
                        })
                        .unwrap();
                    ledger.opened(&g).unwrap();
                }
            })
        };
        let sweeper = {
            let (url, start) = (url.to_owned(), start.clone());
            std::thread::spawn(move || {
                let mut ledger = open(&url);
                start.wait();
                // Closes the grants the requester opens, in the other order.
                for n in (0..RACE).rev() {
                    let close = closing(&id(n), State::Expired, "2026-12-03T09:00:00Z", "sweep");
                    ledger.closed(&close).unwrap();
                }
            })
        };
        requester.join().unwrap();
        sweeper.join().unwrap();

        let mut ledger = open(url);
        let mut counts: BTreeMap<(GrantId, String), usize> = BTreeMap::new();
        for event in ledger.events().unwrap() {
            *counts
                .entry((event.grant.unwrap(), event.kind.to_string()))
                .or_default() += 1;
        }
        for n in 0..RACE {
            for kind in ["requested", "opened", "closed: expired"] {
                assert_eq!(counts.get(&(id(n), kind.into())), Some(&1), "{n} {kind}");
            }
        }
        assert_eq!(counts.len(), 3 * RACE);
        // Every grant is recorded; each one the sweeper closed after it opened is expired.
        assert_eq!(ledger.grants(true).unwrap().len(), RACE);
    });
}
