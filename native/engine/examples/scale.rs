//! Compile and evaluation time for a policy with many rules.
//!
//! cargo run --release --example scale -- 5000

use sark_engine::{CompileOptions, EvalLimits, Policy, SourceFile, Value};
use std::time::Instant;

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(5000);
    let mut src = String::from("package big\nimport rego.v1\ndefault allow := false\n");
    for i in 0..n {
        src.push_str(&format!(
            "allow if {{ input.path == \"/api/v1/r{}\"; input.method in {{\"GET\", \"HEAD\"}}; startswith(input.user, \"u\") }}\n",
            i
        ));
        src.push_str(&format!("reasons contains \"r{}\" if {{ input.tags[_] == \"t{}\" }}\n", i, i));
    }
    let files = [SourceFile { name: "big.rego".into(), text: src }];
    let t = Instant::now();
    let policy = match Policy::compile(&files, Value::empty_object(), &CompileOptions::default()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{:?}", e.first());
            return;
        }
    };
    println!("compile {} rules: {:?}", 2 * n, t.elapsed());
    let Ok(q) = policy.prepare("data.big.allow") else { return };
    let input = Value::from_json_str(&format!(r#"{{"path":"/api/v1/r{}","method":"GET","user":"u1","tags":["t1"]}}"#, n / 2)).unwrap_or(Value::Null);
    let lim = EvalLimits::default();
    let t = Instant::now();
    let k = 10_000;
    let mut ok = 0;
    for _ in 0..k {
        if let Ok(d) = q.eval(Some(&input), &lim) {
            ok += (d.value == Some(Value::Bool(true))) as usize;
        }
    }
    println!("allow: {:.2} us/eval ({} true)", t.elapsed().as_secs_f64() * 1e6 / k as f64, ok);
    let Ok(q2) = policy.prepare("data.big.reasons") else { return };
    let t = Instant::now();
    for _ in 0..100 {
        let _ = q2.eval(Some(&input), &lim);
    }
    println!("reasons (unindexed, {} rules): {:.2} us/eval", n, t.elapsed().as_secs_f64() * 1e6 / 100.0);
}
