//! What changed between two recorded runs: new, fixed, reopened, still open, exempt and not
//! assessed findings.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::record::{Observation, Observed};

/// A finding in a diff.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Changed {
    pub rule: String,
    pub resource: String,
    pub scope: String,
    pub fingerprint: String,
    /// Its status in FROM, if FROM observed it.
    #[serde(skip)]
    pub before: Option<Observed>,
}

/// The findings of run TO, sorted into what happened since run FROM.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Diff {
    /// Unhealthy in TO and never unhealthy up to FROM.
    pub new: Vec<Changed>,
    /// Unhealthy in FROM, and healthy, not applicable or gone (from a scope TO read) in TO.
    pub fixed: Vec<Changed>,
    /// Unhealthy in TO, not in FROM, and unhealthy in some run before.
    pub reopened: Vec<Changed>,
    /// Unhealthy (not exempt) in both.
    pub open: Vec<Changed>,
    /// Unhealthy and exempt in TO.
    pub exempt: Vec<Changed>,
    /// In a scope TO could not read.
    pub not_assessed: Vec<Changed>,
}

/// A finding of `management-ports-closed` on `resource`, for tests.
#[cfg(test)]
pub(crate) fn changed(resource: &str) -> Changed {
    Changed {
        rule: "management-ports-closed".to_owned(),
        resource: resource.to_owned(),
        scope: "s1".to_owned(),
        fingerprint: format!("management-ports-closed|{resource}"),
        before: None,
    }
}

fn unhealthy(status: Observed) -> bool {
    matches!(status, Observed::Unhealthy | Observed::Exempt)
}

/// Compares `to` with `from`; `ever_unhealthy` holds the fingerprints unhealthy in any run up
/// to FROM.
pub fn diff(from: &[Observation], to: &[Observation], ever_unhealthy: &BTreeSet<String>) -> Diff {
    let before: BTreeMap<&str, Observed> = from
        .iter()
        .map(|o| (o.subject.fingerprint.as_str(), o.status))
        .collect();
    let after: BTreeMap<&str, Observed> = to
        .iter()
        .map(|o| (o.subject.fingerprint.as_str(), o.status))
        .collect();
    let changed = |o: &Observation| Changed {
        rule: o.subject.rule.clone(),
        resource: o.subject.resource.clone(),
        scope: o.subject.scope.clone(),
        fingerprint: o.subject.fingerprint.clone(),
        before: before.get(o.subject.fingerprint.as_str()).copied(),
    };
    let mut diff = Diff::default();
    for o in to {
        let key = o.subject.fingerprint.as_str();
        let was_open = match before.get(key) {
            Some(&status) if unhealthy(status) => true,
            Some(Observed::NotAssessed) => ever_unhealthy.contains(key),
            _ => false,
        };
        let list = match o.status {
            Observed::NotAssessed => &mut diff.not_assessed,
            Observed::Exempt => &mut diff.exempt,
            Observed::Unhealthy if was_open => &mut diff.open,
            Observed::Unhealthy if ever_unhealthy.contains(key) => &mut diff.reopened,
            Observed::Unhealthy => &mut diff.new,
            Observed::Healthy | Observed::NotApplicable if was_open => &mut diff.fixed,
            Observed::Healthy | Observed::NotApplicable => continue,
        };
        list.push(changed(o));
    }
    diff.fixed.extend(
        from.iter()
            .filter(|o| unhealthy(o.status) && !after.contains_key(o.subject.fingerprint.as_str()))
            .map(changed),
    );
    diff.fixed.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
    diff
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::record::Subject;

    fn obs(resource: &str, status: Observed) -> Observation {
        Observation {
            subject: Subject {
                fingerprint: format!("r|{resource}"),
                rule: "r".to_owned(),
                resource: resource.to_owned(),
                scope: "s1".to_owned(),
                region: None,
            },
            status,
        }
    }

    #[test]
    fn sorted_into_what_happened() {
        use Observed::*;
        let from = [
            obs("open", Unhealthy),
            obs("fixed", Unhealthy),
            obs("gone", Exempt),
            obs("back", Healthy),
            obs("unread", Unhealthy),
            obs("still-healthy", Healthy),
        ];
        let to = [
            obs("open", Unhealthy),
            obs("fixed", NotApplicable),
            obs("back", Unhealthy),
            obs("unread", NotAssessed),
            obs("still-healthy", Healthy),
            obs("brand-new", Unhealthy),
            obs("accepted", Exempt),
        ];
        let ever: BTreeSet<String> = ["open", "fixed", "gone", "back", "unread"]
            .iter()
            .map(|r| format!("r|{r}"))
            .collect();
        let d = diff(&from, &to, &ever);
        let names =
            |list: &[Changed]| -> Vec<String> { list.iter().map(|c| c.resource.clone()).collect() };
        assert_eq!(names(&d.new), ["brand-new"]);
        assert_eq!(names(&d.fixed), ["fixed", "gone"]);
        assert_eq!(names(&d.reopened), ["back"]);
        assert_eq!(names(&d.open), ["open"]);
        assert_eq!(names(&d.exempt), ["accepted"]);
        assert_eq!(names(&d.not_assessed), ["unread"]);
        assert_eq!(d.fixed[1].before, Some(Exempt));
        assert_eq!(d.reopened[0].before, Some(Healthy));
        assert_eq!(d.exempt[0].before, None);
    }
}
