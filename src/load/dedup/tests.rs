use std::fs;
use std::path::{Path, PathBuf};

use super::super::{LoadError, Loaded, load_inputs};

const AZURE: &str = "fixtures/azure-demo";
const AWS: &str = "fixtures/aws-demo";
const DEV_NSGS: &str = "fixtures/azure-demo/subscription-dev/networkSecurityGroups.json";
const DEV_NSG_ID: &str = "/subscriptions/22222222-2222-4222-8222-222222222222/resourceGroups/\
                          rg-dev/providers/Microsoft.Network/networkSecurityGroups/build-01-nsg";
const SGS: &str = "fixtures/aws-demo/describe-security-groups.json";

fn load(paths: &[&Path]) -> Result<Loaded, LoadError> {
    let paths: Vec<PathBuf> = paths.iter().map(|p| p.to_path_buf()).collect();
    load_inputs(&paths)
}

/// A copy of `fixture` in `dir`, with `edit` applied to its text.
fn edited_copy(dir: &Path, fixture: &str, edit: impl Fn(&str) -> String) -> PathBuf {
    let text = fs::read_to_string(fixture).unwrap();
    let edited = edit(&text);
    let path = dir.join(Path::new(fixture).file_name().unwrap());
    fs::write(&path, edited).unwrap();
    path
}

fn counts(loaded: &Loaded) -> [usize; 4] {
    let s = &loaded.snapshot;
    [
        s.vms.len(),
        s.nics.len(),
        s.nsgs.len(),
        s.security_groups.len(),
    ]
}

fn twice_warnings(loaded: &Loaded) -> Vec<&String> {
    loaded
        .warnings
        .iter()
        .filter(|w| w.contains("read twice"))
        .collect()
}

#[test]
fn an_input_given_twice_is_judged_once() {
    for estate in [AZURE, AWS] {
        let once = load(&[Path::new(estate)]).unwrap();
        let twice = load(&[Path::new(estate), Path::new(estate)]).unwrap();
        assert_eq!(counts(&twice), counts(&once), "{estate}");
        assert!(!twice.snapshot.vms.is_empty(), "{estate}");
        let first_vm = format!("(first: VM {})", once.snapshot.vms[0].id);
        assert!(
            twice_warnings(&twice)
                .iter()
                .any(|w| w.contains(&first_vm) && w.matches(estate).count() == 2),
            "{estate}: {:?}",
            twice.warnings
        );
        assert!(twice_warnings(&once).is_empty(), "{estate}");
    }
}

/// What loading a fixture plus an edited copy of one of its files gives.
enum Expect {
    /// The copy is the same resource, judged once, with a warning.
    Merged,
    /// The copy is a different resource (AWS ids are case-sensitive): both are judged.
    Distinct,
    /// The copies differ: an error naming the resource and both files.
    Conflict(&'static str),
}

#[test]
fn edited_copies_are_merged_kept_apart_or_refused() {
    type Edit = fn(&str) -> String;
    let cases: [(&str, &str, &str, Edit, Expect); 5] = [
        (
            "unchanged copy",
            AZURE,
            DEV_NSGS,
            |t| t.to_string(),
            Expect::Merged,
        ),
        (
            "Azure id in upper case",
            AZURE,
            DEV_NSGS,
            |t| t.replace(DEV_NSG_ID, &DEV_NSG_ID.to_uppercase()),
            Expect::Merged,
        ),
        (
            "AWS id in upper case",
            AWS,
            SGS,
            |t| t.replace("sg-00000000000000001", "SG-00000000000000001"),
            Expect::Distinct,
        ),
        (
            "NSG rule priority changed",
            AZURE,
            DEV_NSGS,
            |t| t.replacen("\"priority\": 100,", "\"priority\": 110,", 1),
            Expect::Conflict(DEV_NSG_ID),
        ),
        (
            "security group rule port changed",
            AWS,
            SGS,
            |t| t.replacen("\"FromPort\": 22", "\"FromPort\": 21", 1),
            Expect::Conflict("sg-"),
        ),
    ];
    for (name, estate, fixture, edit, expect) in cases {
        let dir = tempfile::tempdir().unwrap();
        let copy = edited_copy(dir.path(), fixture, edit);
        let once = load(&[Path::new(estate)]).unwrap();
        let result = load(&[Path::new(estate), &copy]);
        match expect {
            Expect::Merged => {
                let loaded = result.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(counts(&loaded), counts(&once), "{name}");
                assert!(!twice_warnings(&loaded).is_empty(), "{name}");
            }
            Expect::Distinct => {
                let loaded = result.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert!(
                    loaded.snapshot.security_groups.len() > once.snapshot.security_groups.len(),
                    "{name}"
                );
            }
            Expect::Conflict(id) => {
                let message = match result {
                    Ok(_) => panic!("{name}: loaded without error"),
                    Err(e) => e.to_string(),
                };
                assert!(message.contains(id), "{name}: {message}");
                assert!(message.contains(fixture), "{name}: {message}");
                assert!(
                    message.contains(&copy.display().to_string()),
                    "{name}: {message}"
                );
            }
        }
    }
}
