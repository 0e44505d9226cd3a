//! Summary lines of a test run: printed, and appended to the file `CPUFLEET_SUMMARY_FILE` names
//! when it is set, so that `cargo xtask test` shows them once after the whole run (the test
//! harness hides the output of passing tests). Shared by the engine's and the CLI's tests.

use std::io::Write;

/// Prints `block` (whole lines) and appends it to `$CPUFLEET_SUMMARY_FILE`, in one write.
pub fn summary(block: &str) {
    print!("{block}");
    if let Some(path) = std::env::var_os("CPUFLEET_SUMMARY_FILE") {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&path);
        if let Err(e) = file.and_then(|mut f| f.write_all(block.as_bytes())) {
            panic!("CPUFLEET_SUMMARY_FILE={}: {e}", path.to_string_lossy());
        }
    }
}
