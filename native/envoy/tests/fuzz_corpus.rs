//! Replays the committed fuzz corpora (`native/fuzz/corpus/<target>/`)
//! through the fuzz targets' own code: every input found interesting, and
//! every crash turned regression case, runs on each `cargo test` — stable,
//! no libFuzzer build. `make fuzz` explores further.

#[path = "../../fuzz/src/lib.rs"]
mod targets;

use std::path::PathBuf;

fn replay(target: &'static str, run: fn(&[u8])) {
    // The parsers' depth limits are sized for release code on a main thread's
    // 8 MiB stack (as libFuzzer ran these inputs); unoptimised test builds
    // use several times the stack per level, more than a test thread's 2 MiB.
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || replay_here(target, run))
        .unwrap()
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e));
}

fn replay_here(target: &str, run: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {}", dir.display(), e)) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let r = std::panic::catch_unwind(|| run(&data));
        assert!(r.is_ok(), "{} panics on {}", target, path.display());
        n += 1;
    }
    assert!(n > 0, "empty corpus {}", dir.display());
}

#[test]
fn rego_parse() {
    replay("rego_parse", targets::rego_parse);
}
#[test]
fn rego_eval() {
    replay("rego_eval", targets::rego_eval);
}
#[test]
fn json() {
    replay("json", targets::json);
}
#[test]
fn check_request() {
    replay("check_request", targets::check_request);
}
#[test]
fn request_body() {
    replay("request_body", targets::request_body);
}
#[test]
fn protojson() {
    replay("protojson", targets::protojson);
}
#[test]
fn jwt() {
    replay("jwt", targets::jwt);
}
#[test]
fn yaml() {
    replay("yaml", targets::yaml);
}
