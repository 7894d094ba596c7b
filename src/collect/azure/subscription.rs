//! Reading one subscription: every list at once, each page parsed by the file loader's Azure
//! reader, so that a live scan and a scan of the same resources exported as files agree exactly.

use futures::StreamExt;
use futures::future::try_join_all;

use super::arm::{ArmError, Listing, Session};
use super::progress::SubscriptionProgress;
use crate::collect::ScopeStatus;
use crate::load;
use crate::model::Snapshot;

/// What reading a subscription gave: its resources, or none when any list failed.
pub struct SubscriptionRead {
    pub snapshot: Option<Snapshot>,
    pub status: ScopeStatus,
}

/// Reads every list of `id`. A subscription with one failed list is reported failed and yields
/// no resources: a partial subscription would be judged wrongly (a missing NSG list makes every
/// VM look unprotected).
pub async fn read(
    session: Session,
    id: String,
    progress: SubscriptionProgress,
) -> SubscriptionRead {
    let lists = Listing::ALL.map(|listing| read_list(&session, &id, listing, &progress));
    let (snapshot, error) = match try_join_all(lists).await {
        Ok(parts) => {
            let mut snapshot = Snapshot::new();
            parts.into_iter().for_each(|part| snapshot.merge(part));
            (Some(snapshot), None)
        }
        Err(error) => (None, Some(error)),
    };
    progress.done();
    SubscriptionRead {
        status: ScopeStatus {
            name: id,
            kind: "subscription",
            error,
            api_calls: session.calls(),
            resources: snapshot.as_ref().map_or(0, Snapshot::resource_count),
        },
        snapshot,
    }
}

async fn read_list(
    session: &Session,
    id: &str,
    listing: Listing,
    progress: &SubscriptionProgress,
) -> Result<Snapshot, String> {
    let mut pages = session.pages(id, listing);
    let mut snapshot = Snapshot::new();
    let mut number = 0;
    while let Some(page) = pages.next().await {
        number += 1;
        let page = match page {
            Ok(page) => page,
            // Resources of a provider the subscription is not registered for cannot exist.
            Err(error) if number == 1 && error.provider_not_registered() => break,
            Err(error) => return Err(format!("listing {}: {}", listing.label(), explain(&error))),
        };
        let label = format!("subscription {id}: {} page {number}", listing.label());
        let loaded = load::load_file_bytes(&label, page.as_bytes()).map_err(|e| e.to_string())?;
        progress.page(loaded.snapshot.resource_count());
        snapshot.merge(loaded.snapshot);
    }
    Ok(snapshot)
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
