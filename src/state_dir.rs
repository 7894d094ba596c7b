//! Where portcullis keeps its state (the audit store, the fix journal): `$PORTCULLIS_STATE_DIR`,
//! else `$XDG_STATE_HOME/portcullis`, else `~/.local/state/portcullis`.

use std::path::{Path, PathBuf};

/// The state directory, or `None` when none of the variables that name it is set.
pub fn locate() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    var("PORTCULLIS_STATE_DIR")
        .map(PathBuf::from)
        .or_else(|| var("XDG_STATE_HOME").map(|d| Path::new(&d).join("portcullis")))
        .or_else(|| var("HOME").map(|h| Path::new(&h).join(".local/state/portcullis")))
}
