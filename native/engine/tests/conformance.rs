//! OPA's conformance cases from OPA's pinned Go module (`testdata/v1`,
//! `testdata/v0`; `scripts/install-go-tools.sh --opa-dir` says where): every
//! folder listed in `passing-v1.txt` / `passing-v0.txt` must keep passing.
//! Our own cases live in `tests/cases/`. Skipped (with a note) when the module
//! is absent (`make test-deps` fetches it); the case-level ratchet is `make test`'s.

use sark_engine::testsuite::{protect_big_ints, run_case, yaml_to_value};
use sark_engine::Value;
use std::path::{Path, PathBuf};

fn cases_in(dir: &Path) -> Vec<(PathBuf, Value)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else { return out };
    let mut paths: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            out.extend(cases_in(&p));
            continue;
        }
        if !p.extension().map_or(false, |e| e == "yaml" || e == "yml") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        let doc = yaml_to_value(&protect_big_ints(&text)).unwrap_or(Value::Null);
        if let Some(Value::Array(cs)) = doc.field("cases") {
            out.extend(cs.iter().map(|c| (p.clone(), c.clone())));
        }
    }
    out
}

/// `folder/file.yaml :: note` of the cases we deliberately answer differently.
fn deviations() -> Vec<String> {
    include_str!("deviations.txt")
        .lines()
        .map(|l| l.split(" # ").next().unwrap_or("").trim().to_string())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

fn case_id(p: &Path, note: &str) -> String {
    let folder = p.parent().and_then(|d| d.file_name()).map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    let file = p.file_name().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    format!("{}/{} :: {}", folder, file, note)
}

fn run_dir(dir: &Path, v0: bool) -> Vec<String> {
    let skip = deviations();
    cases_in(dir)
        .into_iter()
        .filter_map(|(p, c)| {
            let note = c.field("note").and_then(|n| n.as_str()).unwrap_or("").to_string();
            if skip.contains(&case_id(&p, &note)) {
                return None;
            }
            let o = run_case(&c, v0);
            (!o.pass).then(|| format!("{} [{}]: {}", p.display(), note, o.reason))
        })
        .collect()
}

/// `testdata/` of OPA's module, as the install script locates it.
fn opa_testdata() -> Option<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/install-go-tools.sh");
    let out = std::process::Command::new(script).arg("--opa-dir").output().ok()?;
    let dir = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !dir.trim().is_empty()).then(|| Path::new(dir.trim()).join("v1/test/cases/testdata"))
}

fn run_listed(half: &str, list: &str, v0: bool) {
    let Some(root) = opa_testdata().map(|d| d.join(half)) else {
        eprintln!("skipping: OPA's module not found (make test-deps)");
        return;
    };
    if !root.is_dir() {
        eprintln!("skipping: {} not found", root.display());
        return;
    }
    let mut failures = Vec::new();
    for folder in list.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        failures.extend(run_dir(&root.join(folder), v0));
    }
    assert!(failures.is_empty(), "{} failing:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn opa_v1_folders_keep_passing() {
    run_listed("v1", include_str!("passing-v1.txt"), false);
}

#[test]
fn opa_v0_folders_keep_passing() {
    run_listed("v0", include_str!("passing-v0.txt"), true);
}

#[test]
fn own_cases() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let failures = run_dir(&dir.join("v1"), false);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let failures = run_dir(&dir.join("v0"), true);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
