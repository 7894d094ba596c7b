//! Failed calls described for the user: the call, AWS's error code and message, and what to do
//! about the usual causes (missing permission, a region not enabled, throttling, expired
//! credentials).

use std::error::Error;

use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};

use super::bounds::BodyError;

/// `DescribeInstances: UnauthorizedOperation: You are not authorized… (grant ec2:DescribeInstances…)`
pub(super) fn describe<E>(operation: &str, error: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + Error + 'static,
{
    let Some(code) = error.code() else {
        return format!("{operation}: {}", without_code(error));
    };
    let message = error.message().unwrap_or("no message");
    let mut text = format!("{operation}: {code}: {message}");
    if let Some(hint) = hint(operation, code) {
        text.push_str(" (");
        text.push_str(&hint);
        text.push(')');
    }
    text
}

/// An error without an EC2 error code: the endpoint could not be reached, did not answer in
/// time, or answered with something other than EC2's XML (a proxy's or emulator's error page).
fn without_code<E: Error + 'static>(error: &SdkError<E, HttpResponse>) -> String {
    if let Some(bound) = body_error(error) {
        return bound.to_string();
    }
    match error {
        SdkError::DispatchFailure(failure) if failure.is_timeout() => format!(
            "timed out: the EC2 endpoint did not connect within --connect-timeout or sent no \
             answer within --read-timeout: {}",
            chain(
                failure
                    .as_connector_error()
                    .map_or(error as &(dyn Error + 'static), |e| e as _)
            )
        ),
        SdkError::DispatchFailure(failure) => format!(
            "could not reach the EC2 endpoint: {}",
            failure
                .as_connector_error()
                .map_or_else(|| "unknown cause".to_string(), |e| chain(e))
        ),
        SdkError::TimeoutError(_) => {
            "timed out: the EC2 endpoint did not answer in time".to_string()
        }
        SdkError::ServiceError(failure) => not_ec2(failure.raw()),
        SdkError::ResponseError(failure) => not_ec2(failure.raw()),
        other => chain(other),
    }
}

/// The body bound a response broke, if that is why the call failed.
fn body_error<'a>(error: &'a (dyn Error + 'static)) -> Option<&'a BodyError> {
    let mut next = Some(error);
    while let Some(cause) = next {
        if let Some(bound) = cause.downcast_ref::<BodyError>() {
            return Some(bound);
        }
        next = cause.source();
    }
    None
}

/// An error and its sources, each once: `io error: connection refused`.
pub(super) fn chain(error: &(dyn Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn not_ec2(response: &HttpResponse) -> String {
    format!(
        "the endpoint answered HTTP {} with no EC2 error in the body",
        response.status().as_u16()
    )
}

fn hint(operation: &str, code: &str) -> Option<String> {
    Some(match code {
        "AccessDenied" if operation == "AssumeRole" => {
            "the role may not exist in that account, may not trust this account, or may want \
             another --external-id, or these credentials may not call sts:AssumeRole; deploy the \
             member role of docs/aws.md (organisation scans) to the account"
                .to_string()
        }
        "AccessDeniedException" | "AWSOrganizationsNotInUseException"
            if operation == "ListAccounts" =>
        {
            "only the management account or a delegated administrator may call \
             organizations:ListAccounts"
                .to_string()
        }
        "UnauthorizedOperation" | "AccessDenied" | "AccessDeniedException" => format!(
            "the credentials may not call ec2:{operation}; grant the read-only policy in \
             docs/aws.md"
        ),
        "AuthFailure" => "the region may be an opt-in region not enabled for this account; \
                          enable it, or leave it out of --regions"
            .to_string(),
        "OptInRequired" => "the account has not opted in to this region".to_string(),
        "RequestLimitExceeded" | "Throttling" | "ThrottlingException" => {
            "still throttled after retries; lower --concurrency or retry later".to_string()
        }
        "ExpiredToken" | "RequestExpired" | "InvalidClientTokenId" => {
            "the credentials are invalid or expired; sign in again (aws sso login)".to_string()
        }
        _ => return None,
    })
}
