//! Delivering a message to every webhook at once: each attempt is bounded by a connect and a
//! total timeout; a network error, a timeout, 429 or a 5xx answer is retried after a growing
//! pause, up to [`ATTEMPTS`] attempts; any other answer but 2xx is final. The outcome of each
//! is returned for the caller to report: nothing here fails the audit.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;

use super::{Message, Target, payload};

/// Attempts per webhook.
pub const ATTEMPTS: u32 = 3;
/// The pause before the second attempt; it doubles before each later one.
pub const FIRST_PAUSE: Duration = Duration::from_secs(1);
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// One attempt, connecting and answering included.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// How sending to one webhook went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The webhook without its secret.
    pub target: String,
    /// The attempts it took, or why it failed after its last attempt.
    pub outcome: Result<u32, String>,
}

/// Sends `message` to each of `targets`, all at once, and says how each went.
pub fn deliver(targets: &[Target], message: &Message) -> Vec<Delivery> {
    let failed_all = |why: String| {
        targets
            .iter()
            .map(|t| Delivery {
                target: t.to_string(),
                outcome: Err(why.clone()),
            })
            .collect()
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return failed_all(format!("cannot start the HTTP client: {e}")),
    };
    let client = match reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(ATTEMPT_TIMEOUT)
        .user_agent(concat!("portcullis/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(client) => client,
        Err(e) => return failed_all(format!("cannot start the HTTP client: {e}")),
    };
    runtime.block_on(futures::future::join_all(targets.iter().map(|target| {
        let client = &client;
        async move {
            Delivery {
                target: target.to_string(),
                outcome: send(client, target, message).await,
            }
        }
    })))
}

async fn send(client: &reqwest::Client, target: &Target, message: &Message) -> Result<u32, String> {
    let body = serde_json::to_vec(&payload::body(target, message))
        .map_err(|e| format!("cannot write the message: {e}"))?;
    let mut pause = FIRST_PAUSE;
    let mut attempt = 1;
    loop {
        let sent = client
            .post(target.url().clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body.clone())
            .send()
            .await;
        let (retry, why) = match sent {
            Ok(answer) if answer.status().is_success() => return Ok(attempt),
            Ok(answer) => {
                let status = answer.status();
                let retry = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
                (retry, format!("answered {status}"))
            }
            // The error's URL would show the webhook's secret.
            Err(e) => (true, describe(&e.without_url())),
        };
        if !retry || attempt == ATTEMPTS {
            let tries = if attempt == 1 { "attempt" } else { "attempts" };
            return Err(format!("{why} ({attempt} {tries})"));
        }
        tokio::time::sleep(pause).await;
        pause *= 2;
        attempt += 1;
    }
}

/// The error and its causes.
fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        format!("no answer within {}s", ATTEMPT_TIMEOUT.as_secs())
    } else {
        error.to_string()
    };
    let mut text = kind;
    let mut cause = std::error::Error::source(error);
    while let Some(e) = cause {
        text.push_str(&format!(": {e}"));
        cause = e.source();
    }
    text
}
