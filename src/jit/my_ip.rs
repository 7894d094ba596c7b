//! `--from my-ip`: the public address this machine's traffic comes from, asked of a
//! what-is-my-address service only when the user says so. The service answers a GET with the
//! address as plain text (`https://api.ipify.org` by default; `PORTCULLIS_MY_IP_URL` or
//! `--my-ip-url` name another). Plain http is accepted only for this machine (tests).

use std::net::IpAddr;

use reqwest::Url;

use crate::limits::Limits;

/// The service asked by default.
pub const DEFAULT_URL: &str = "https://api.ipify.org";
/// The longest answer read: an address is short.
const MAX_ANSWER: usize = 100;

/// Asks `url` for this machine's public address, within `limits`' timeouts.
pub fn ask(url: &str, limits: &Limits) -> Result<IpAddr, String> {
    let fail = |what: String| format!("--from my-ip: {url}: {what}; give --from IP instead");
    let parsed = Url::parse(url).map_err(|e| fail(e.to_string()))?;
    let local = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    if parsed.scheme() != "https" && !(parsed.scheme() == "http" && local) {
        return Err(fail(
            "the service must be https (plain http only on this machine)".to_owned(),
        ));
    }
    let client = reqwest::Client::builder()
        .connect_timeout(limits.connect_timeout)
        .read_timeout(limits.read_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| fail(format!("cannot set up HTTPS: {e}")))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(format!("cannot start the async runtime: {e}")))?;
    let body = runtime.block_on(async {
        let reply = client.get(parsed).send().await.map_err(|e| e.to_string())?;
        if !reply.status().is_success() {
            return Err(format!("answered HTTP {}", reply.status()));
        }
        reply.bytes().await.map_err(|e| e.to_string())
    });
    let body = body.map_err(fail)?;
    let text = std::str::from_utf8(&body[..body.len().min(MAX_ANSWER)]).unwrap_or_default();
    text.trim()
        .parse::<IpAddr>()
        .map_err(|_| fail(format!("the answer {:?} is not an IP address", text.trim())))
}
