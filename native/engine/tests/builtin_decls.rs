//! Our builtin declarations against the capabilities of the pinned `opa`
//! (v1.22.4, `opa capabilities --current`; `make test-deps` installs it).
//!
//! For every builtin in the registry that OPA also has, the declared type
//! (rendered as capabilities JSON by `builtins::types`) must equal OPA's:
//! arguments, result and variadic type, plus the infix operator and the
//! nondeterministic flag. Builtins OPA has that we lack are listed (run
//! with `--nocapture` to see them) but do not fail the test.

use sark_engine::builtins::{registry, types::parse_decl};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn opa_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.build/go/bin/opa")
}

/// OPA's builtins by name, or `None` when the pinned `opa` is not installed.
fn opa_builtins() -> Option<BTreeMap<String, Json>> {
    let opa = opa_binary();
    let text = match std::process::Command::new(&opa).args(["capabilities", "--current"]).output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        _ => {
            eprintln!("skipping: {} not runnable (make test-deps)", opa.display());
            return None;
        }
    };
    let caps: Json = serde_json::from_str(&text).expect("capabilities file is not valid JSON");
    let list = caps.get("builtins").and_then(Json::as_array).expect("capabilities file has no builtins array");
    Some(
        list.iter()
            .filter_map(|b| {
                let mut b = b.clone();
                if let Some(d) = b.get_mut("decl") {
                    strip_docs(d);
                }
                Some((b.get("name")?.as_str()?.to_string(), b))
            })
            .collect(),
    )
}

/// Drops the documentation fields (`name`, `description`) of a declaration's types.
fn strip_docs(v: &mut Json) {
    match v {
        Json::Object(m) => {
            m.remove("description");
            m.remove("name");
            m.values_mut().for_each(strip_docs);
        }
        Json::Array(a) => a.iter_mut().for_each(strip_docs),
        _ => {}
    }
}

/// `decl.<field>`, with absent fields as `null` (OPA omits empty `args`).
fn field<'a>(decl: &'a Json, name: &str) -> &'a Json {
    decl.get(name).unwrap_or(&Json::Null)
}

fn args_of(decl: &Json) -> Json {
    match decl.get("args") {
        Some(a) => a.clone(),
        None => Json::Array(Vec::new()),
    }
}

#[test]
fn every_decl_parses() {
    let bad: Vec<String> = registry()
        .iter()
        .filter_map(|b| parse_decl(b.decl).err().map(|e| format!("{}: {:?}: {}", b.name, b.decl, e)))
        .collect();
    assert!(bad.is_empty(), "unparseable declarations:\n{}", bad.join("\n"));
}

#[test]
fn declared_types_match_opa_capabilities() {
    let Some(opa) = opa_builtins() else { return };
    let mut ours: Vec<_> = registry().iter().collect();
    ours.sort_by_key(|b| b.name);

    let mut mismatches = Vec::new();
    let mut extra = Vec::new();
    let mut checked = 0;
    for b in ours {
        let Some(theirs) = opa.get(b.name) else {
            extra.push(b.name);
            continue;
        };
        let Ok(decl) = parse_decl(b.decl) else { continue }; // reported by every_decl_parses
        let mine = decl.to_json();
        let want = theirs.get("decl").cloned().unwrap_or(Json::Null);
        checked += 1;

        if args_of(&mine) != args_of(&want) {
            mismatches.push(format!("{}: args\n    ours: {}\n    opa:  {}", b.name, args_of(&mine), args_of(&want)));
        }
        for f in ["result", "variadic"] {
            if field(&mine, f) != field(&want, f) {
                mismatches.push(format!("{}: {}\n    ours: {}\n    opa:  {}", b.name, f, field(&mine, f), field(&want, f)));
            }
        }
        let want_infix = theirs.get("infix").and_then(Json::as_str);
        if b.infix != want_infix {
            mismatches.push(format!("{}: infix ours {:?}, opa {:?}", b.name, b.infix, want_infix));
        }
        let want_nondet = theirs.get("nondeterministic").and_then(Json::as_bool).unwrap_or(false);
        if b.deterministic == want_nondet {
            mismatches.push(format!("{}: nondeterministic ours {}, opa {}", b.name, !b.deterministic, want_nondet));
        }
    }

    if !extra.is_empty() {
        println!("{} builtins of ours are not in OPA's capabilities: {}", extra.len(), extra.join(", "));
    }
    println!("{} declarations compared with OPA's", checked);
    assert!(mismatches.is_empty(), "{} declaration mismatches with OPA v1.22.4:\n{}", mismatches.len(), mismatches.join("\n"));
}

#[test]
fn lists_missing_builtins() {
    let Some(opa) = opa_builtins() else { return };
    let reg = registry();
    let missing: Vec<String> = opa
        .iter()
        .filter(|(name, _)| reg.get(name).is_none())
        .map(|(name, b)| {
            if b.get("deprecated").and_then(Json::as_bool).unwrap_or(false) {
                format!("{} (deprecated)", name)
            } else {
                name.clone()
            }
        })
        .collect();
    println!("{} of {} OPA builtins are missing from the registry:", missing.len(), opa.len());
    for m in &missing {
        println!("  {}", m);
    }
}
