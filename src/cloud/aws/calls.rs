//! Counting the API calls a client (EC2, STS, Organizations) makes: every request sent, retries included, so the summary
//! and the benchmarks show what the account's API quota really saw.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_ec2::Client;
use aws_sdk_ec2::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_ec2::config::{ConfigBag, Intercept, Region, RuntimeComponents};
use aws_sdk_ec2::error::BoxError;

/// A shared count of requests sent by the clients it made.
#[derive(Clone, Debug, Default)]
pub(super) struct CallCounter(Arc<AtomicU64>);

impl CallCounter {
    /// A client for `region` with `base`'s configuration whose requests this counter counts.
    pub(super) fn client(&self, base: &aws_sdk_ec2::Config, region: &str) -> Client {
        let config = base
            .to_builder()
            .region(Region::new(region.to_string()))
            .interceptor(self.clone())
            .build();
        Client::from_conf(config)
    }

    /// An STS client with `config` whose requests this counter counts.
    pub(super) fn sts(&self, config: &aws_sdk_sts::Config) -> aws_sdk_sts::Client {
        aws_sdk_sts::Client::from_conf(config.to_builder().interceptor(self.clone()).build())
    }

    /// An Organizations client with `config` whose requests this counter counts.
    pub(super) fn organizations(
        &self,
        config: &aws_sdk_organizations::Config,
    ) -> aws_sdk_organizations::Client {
        aws_sdk_organizations::Client::from_conf(
            config.to_builder().interceptor(self.clone()).build(),
        )
    }

    pub(super) fn calls(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _config: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}
