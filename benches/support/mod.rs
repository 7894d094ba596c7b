//! What the benches share: the size of their synthetic estates.

/// The estates' VMs: 100,000 unless `PORTCULLIS_BENCH_VMS` says otherwise.
pub fn vms() -> usize {
    match std::env::var("PORTCULLIS_BENCH_VMS") {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("PORTCULLIS_BENCH_VMS={text:?} is not a number of VMs")),
        Err(_) => 100_000,
    }
}
