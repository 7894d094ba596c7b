//! Reading one subscription: every list at once, within the scope deadline, each page parsed by
//! the file loader's Azure reader resource by resource, so that a live scan and a scan of the
//! same resources exported as files agree exactly.

use futures::StreamExt;
use futures::future::try_join_all;

use super::arm::{self, ArmError, Listing, Session};
use super::progress::SubscriptionProgress;
use crate::cloud::ScopeStatus;
use crate::load;
use crate::model::Snapshot;

/// What reading a subscription gave: its resources, or none when any list failed.
pub struct SubscriptionRead {
    pub snapshot: Option<Snapshot>,
    pub status: ScopeStatus,
    /// The error when Resource Manager refused the credential itself (HTTP 401).
    pub refused: Option<ArmError>,
}

/// Why a list failed.
enum ListError {
    Arm(Listing, ArmError),
    Page(String),
}

/// Reads every list of `id`. A subscription with one failed list is reported failed and yields
/// no resources: a partial subscription would be judged wrongly (a missing NSG list makes every
/// VM look unprotected). Resources that cannot be read are left out and named in the error, and
/// the rest is judged: the subscription then counts as read only in part.
pub async fn read(
    session: Session,
    id: String,
    progress: SubscriptionProgress,
) -> SubscriptionRead {
    let lists = Listing::ALL.map(|listing| read_list(&session, &id, listing, &progress));
    let deadline = session.limits().scope_deadline;
    let (snapshot, error, refused) = match tokio::time::timeout(deadline, try_join_all(lists)).await
    {
        Err(_) => (None, Some(out_of_time(&session)), None),
        Ok(Err(ListError::Arm(listing, error))) => (
            None,
            Some(format!("listing {}: {}", listing.label(), explain(&error))),
            Some(error).filter(ArmError::unauthenticated),
        ),
        Ok(Err(ListError::Page(error))) => (None, Some(error), None),
        Ok(Ok(parts)) => {
            let mut snapshot = Snapshot::new();
            let mut unreadable = Vec::new();
            for (part, skipped) in parts {
                snapshot.merge(part);
                unreadable.extend(skipped);
            }
            (Some(snapshot), unread(&unreadable), None)
        }
    };
    progress.done();
    SubscriptionRead {
        status: ScopeStatus {
            name: id,
            kind: "subscription",
            account: None,
            error,
            api_calls: session.calls(),
            resources: snapshot.as_ref().map_or(0, Snapshot::resource_count),
        },
        snapshot,
        refused,
    }
}

/// The error of a scope not read within the deadline, with the last problem met.
pub fn out_of_time(session: &Session) -> String {
    let mut message = format!(
        "timed out: not read within {} (--scope-deadline)",
        arm::show(session.limits().scope_deadline)
    );
    if let Some(problem) = session.last_problem() {
        message.push_str(&format!("; the last attempt: {problem}"));
    }
    message
}

/// The error naming the resources left out, if any were.
fn unread(unreadable: &[load::Unreadable]) -> Option<String> {
    let first = unreadable.first()?;
    let name = |u: &load::Unreadable| {
        if u.id.is_empty() {
            "a resource without an id".to_string()
        } else {
            u.id.clone()
        }
    };
    let mut message = format!(
        "{} resource(s) could not be read and were left out, the rest was judged: {} ({})",
        unreadable.len(),
        name(first),
        first.error
    );
    for other in &unreadable[1..] {
        message.push_str(&format!("; {} ({})", name(other), other.error));
    }
    Some(message)
}

async fn read_list(
    session: &Session,
    id: &str,
    listing: Listing,
    progress: &SubscriptionProgress,
) -> Result<(Snapshot, Vec<load::Unreadable>), ListError> {
    let mut pages = session.pages(id, listing);
    let mut snapshot = Snapshot::new();
    let mut unreadable = Vec::new();
    let mut number = 0;
    while let Some(page) = pages.next().await {
        number += 1;
        let page = match page {
            Ok(page) => page,
            // Resources of a provider the subscription is not registered for cannot exist.
            Err(error) if number == 1 && error.provider_not_registered() => break,
            Err(error) => return Err(ListError::Arm(listing, error)),
        };
        let label = format!("subscription {id}: {} page {number}", listing.label());
        let (loaded, skipped) =
            load::load_arm_page(&label, &page).map_err(|e| ListError::Page(e.to_string()))?;
        progress.page(loaded.snapshot.resource_count());
        snapshot.merge(loaded.snapshot);
        unreadable.extend(skipped);
    }
    Ok((snapshot, unreadable))
}

/// The error, with what to do about it when that is clear.
pub fn explain(error: &ArmError) -> String {
    let advice = match error.status {
        Some(401) => {
            "The credential was rejected: sign in again (az login) or renew AZURE_ACCESS_TOKEN."
        }
        Some(403) => "Give the identity the Reader role on the subscription.",
        _ => return error.to_string(),
    };
    let text = error.to_string();
    let separator = if text.ends_with('.') { " " } else { ". " };
    format!("{text}{separator}{advice}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_come_with_advice_when_it_is_clear() {
        let error = |status, code: &str, message: &str| ArmError {
            status,
            code: Some(code.to_string()).filter(|c| !c.is_empty()),
            message: message.to_string(),
        };
        for (given, want) in [
            (
                error(Some(403), "AuthorizationFailed", "No access."),
                "HTTP 403 AuthorizationFailed: No access. Give the identity the Reader role on \
                 the subscription.",
            ),
            (
                error(Some(401), "", ""),
                "HTTP 401. The credential was rejected: sign in again (az login) or renew \
                 AZURE_ACCESS_TOKEN.",
            ),
            (
                error(Some(404), "SubscriptionNotFound", "Not found."),
                "HTTP 404 SubscriptionNotFound: Not found.",
            ),
            (error(None, "", "connection refused"), "connection refused"),
        ] {
            assert_eq!(explain(&given), want);
        }
    }
}
