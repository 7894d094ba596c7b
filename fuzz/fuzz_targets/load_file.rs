//! Fuzzes loading one file: any bytes must load or fail with an error, never panic, and whatever
//! loads must survive a round trip through a snapshot file unchanged.

#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::load::{load_file_bytes, write_snapshot};

fuzz_target!(|data: &[u8]| {
    let Ok(loaded) = load_file_bytes("fuzz.json", data) else {
        return;
    };
    let mut written = Vec::new();
    write_snapshot(&loaded.snapshot, &mut written).expect("a loaded snapshot serialises");
    let reloaded = load_file_bytes("snapshot.json", &written).expect("a written snapshot loads");
    assert_eq!(reloaded.snapshot, loaded.snapshot);
});
