//! Fuzz the config file parser and the typed options built from it: any input gives
//! a value tree or a positioned error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Includes resolve relative to this (nonexistent) directory: they fail cleanly.
    let file = Path::new("/nonexistent-natrix-fuzz/fuzz.conf");
    if let Err(e) = natrix::config::parse_str(text, file) {
        let _ = e.to_string();
    }
    if let Ok((opts, warnings)) = natrix::config::Options::from_str(text, file) {
        let _ = opts.validate();
        for w in warnings {
            let _ = w.to_string();
        }
    }
});
