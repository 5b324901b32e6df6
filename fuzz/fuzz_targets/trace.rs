//! The simulator's readers on arbitrary text: trace v1 JSONL (`trace::read_str`) and HAR
//! (`har::parse`, then `import_har::convert`). An error or a value, never a panic.
//!
//! Also asserts the documented round trips: a trace that was read is written (`to_jsonl`) and
//! read back unchanged, and a HAR import gives a trace that is valid, i.e. reads back unchanged
//! from its own JSONL.
#![no_main]

use headroom_sim::{har, import_har, trace};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The reader takes bytes line by line (invalid UTF-8 is an error it reports); `read_str`
    // needs text, so take the lossy form for it and the raw bytes for `read`.
    let _ = trace::read(data, "fuzz.jsonl");
    let text = String::from_utf8_lossy(data);
    if let Ok(parsed) = trace::read_str(&text, "fuzz.jsonl") {
        let written = trace::to_jsonl(&parsed);
        match trace::read_str(&written, "again.jsonl") {
            Ok(again) => assert_eq!(
                again, parsed,
                "read → write → read changed the trace:\n{written}"
            ),
            Err(error) => panic!("the writer wrote an unreadable trace: {error}\n{written}"),
        }
    }
    if let Ok(log) = har::parse(&text) {
        if let Ok(import) = import_har::convert(&log, "fuzz.har") {
            let written = trace::to_jsonl(&import.trace);
            match trace::read_str(&written, "imported.jsonl") {
                Ok(again) => assert_eq!(
                    again, import.trace,
                    "import → write → read changed the trace:\n{written}"
                ),
                Err(error) => panic!("the importer made an invalid trace: {error}\n{written}"),
            }
        }
    }
});
