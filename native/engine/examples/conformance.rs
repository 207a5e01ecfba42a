//! Runs OPA conformance YAML cases from one or more directories.
//!
//! cargo run --release --example conformance -- [--v0-compatible] [--report FILE] [--verbose] DIR...
//!
//! Prints pass counts per folder and a final `N passed, N failed` line.

use sark_engine::testsuite::{protect_big_ints, run_case, yaml_to_value, CaseOutcome};
use sark_engine::value::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        if dir.is_file() {
            out.push(dir.to_path_buf());
        }
        return;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().map_or(false, |e| e == "yaml" || e == "yml") {
            out.push(p);
        }
    }
}

fn run_isolated(case: Value, v0: bool) -> CaseOutcome {
    let h = std::thread::Builder::new().stack_size(64 << 20).spawn(move || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_case(&case, v0)))
    });
    match h.map(|h| h.join()) {
        Ok(Ok(Ok(o))) => o,
        Ok(Ok(Err(p))) | Ok(Err(p)) => {
            let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
            CaseOutcome { pass: false, reason: format!("panic: {}", msg), skipped: false }
        }
        Err(e) => CaseOutcome { pass: false, reason: format!("thread: {}", e), skipped: false },
    }
}

fn main() {
    let mut v0 = false;
    let mut report = None;
    let mut verbose = false;
    let mut dirs = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--v0-compatible" => v0 = true,
            "--report" => report = args.next(),
            "--verbose" | "-v" => verbose = true,
            _ => dirs.push(PathBuf::from(a)),
        }
    }
    let mut files = Vec::new();
    for d in &dirs {
        collect(d, &mut files);
    }
    let mut per_folder: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut entries = Vec::new();
    let (mut passed, mut failed) = (0usize, 0usize);
    for f in &files {
        let folder = f.parent().and_then(|p| p.file_name()).map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
        let text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{}: {}", f.display(), e);
                continue;
            }
        };
        let doc = match yaml_to_value(&protect_big_ints(&text)) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("{}: yaml: {}", f.display(), e);
                failed += 1;
                per_folder.entry(folder).or_default().1 += 1;
                continue;
            }
        };
        let cases = doc.field("cases").and_then(|c| c.as_array()).map(<[Value]>::to_vec).unwrap_or_default();
        for c in cases {
            let note = c.field("note").and_then(|n| n.as_str()).unwrap_or("").to_string();
            let o = run_isolated(c, v0);
            let e = per_folder.entry(folder.clone()).or_default();
            e.1 += 1;
            if o.pass {
                e.0 += 1;
                passed += 1;
            } else {
                failed += 1;
                if verbose {
                    println!("FAIL {} [{}]: {}", f.display(), note, o.reason);
                }
            }
            let mut m = Map::new();
            m.insert(Value::from("file"), Value::from(f.display().to_string()));
            m.insert(Value::from("note"), Value::from(note));
            m.insert(Value::from("pass"), Value::Bool(o.pass));
            m.insert(Value::from("reason"), Value::from(o.reason));
            entries.push(Value::from_map(m));
        }
    }
    for (folder, (p, t)) in &per_folder {
        println!("{:<40} {:>4}/{:<4}{}", folder, p, t, if p == t { "" } else { "  *" });
    }
    if let Some(r) = report {
        if let Err(e) = std::fs::write(&r, Value::from_array(entries).to_json()) {
            eprintln!("report {}: {}", r, e);
        }
    }
    println!("{} passed, {} failed", passed, failed);
}
