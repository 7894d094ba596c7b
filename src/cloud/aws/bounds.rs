//! Bounds on every EC2 response body, which the SDK's own timeouts do not cover: the body may
//! stay silent no longer than the read timeout (the SDK's read timeout ends at the headers), and
//! may be no larger than the largest response allowed (its Content-Length, else the bytes that
//! arrive). An interceptor wraps each response body before the SDK reads it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use aws_sdk_ec2::config::interceptors::BeforeDeserializationInterceptorContextMut;
use aws_sdk_ec2::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_ec2::error::BoxError;
use aws_smithy_types::body::SdkBody;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// Why a response body was given up on.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(super) enum BodyError {
    #[error(
        "timed out: the EC2 endpoint sent the headers, then nothing for {0:?} (--read-timeout)"
    )]
    Stalled(Duration),
    #[error(
        "the EC2 endpoint's answer is larger than {0} bytes (--max-response-size); raise the \
         limit if the endpoint is trusted"
    )]
    TooLarge(u64),
}

/// The interceptor that bounds response bodies.
#[derive(Clone, Debug)]
pub(super) struct BodyBounds {
    pub read_timeout: Duration,
    pub max_bytes: u64,
}

impl Intercept for BodyBounds {
    fn name(&self) -> &'static str {
        "BodyBounds"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _config: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response_mut();
        let declared = response
            .headers()
            .get("content-length")
            .and_then(|length| length.trim().parse::<u64>().ok());
        if declared.is_some_and(|length| length > self.max_bytes) {
            return Err(BodyError::TooLarge(self.max_bytes).into());
        }
        let inner = response.take_body();
        *response.body_mut() = SdkBody::from_body_1_x(Bounded {
            inner,
            read_timeout: self.read_timeout,
            silence: Box::pin(tokio::time::sleep(self.read_timeout)),
            max_bytes: self.max_bytes,
            read: 0,
        });
        Ok(())
    }
}

/// A body that fails when silent too long or larger than allowed.
struct Bounded {
    inner: SdkBody,
    read_timeout: Duration,
    /// Ends `read_timeout` after the last bytes arrived.
    silence: Pin<Box<Sleep>>,
    max_bytes: u64,
    read: u64,
}

impl Body for Bounded {
    type Data = <SdkBody as Body>::Data;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, BoxError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.read = this.read.saturating_add(data.len() as u64);
                    if this.read > this.max_bytes {
                        return Poll::Ready(Some(Err(BodyError::TooLarge(this.max_bytes).into())));
                    }
                }
                let next = Instant::now() + this.read_timeout;
                this.silence.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(end) => Poll::Ready(end),
            Poll::Pending => match this.silence.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    Poll::Ready(Some(Err(BodyError::Stalled(this.read_timeout).into())))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        Body::size_hint(&self.inner)
    }
}
