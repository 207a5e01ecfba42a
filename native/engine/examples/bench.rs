//! Times the prepared-query hot path on the Envoy example policy.
//!
//! cargo run --release --example bench

use sark_engine::{CompileOptions, EvalLimits, Policy, SourceFile, Value};
use std::time::Instant;

const POLICY: &str = r#"
package envoy.authz
import rego.v1
default allow := false
allow if { input.attributes.request.http.method == "GET"; startswith(input.parsed_path[0], "public") }
allow if { some r in data.roles[input.user]; r == "admin"; count(input.parsed_path) > 0 }
allow if input.attributes.request.http.headers["x-role"] in {"admin", "ops"}
"#;

fn main() {
    let files = [SourceFile { name: "authz.rego".into(), text: POLICY.into() }];
    let data = Value::from_json_str(r#"{"roles":{"bob":["dev","admin"]}}"#).unwrap_or(Value::Null);
    let policy = match Policy::compile(&files, data, &CompileOptions::default()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{:?}", e);
            return;
        }
    };
    let Ok(q) = policy.prepare("envoy/authz/allow") else { return };
    let inputs = [
        r#"{"attributes":{"request":{"http":{"method":"POST","headers":{"x-role":"dev"}}}},"user":"eve","parsed_path":["private"]}"#,
        r#"{"attributes":{"request":{"http":{"method":"GET","headers":{}}}},"user":"eve","parsed_path":["public","a"]}"#,
        r#"{"attributes":{"request":{"http":{"method":"POST","headers":{}}}},"user":"bob","parsed_path":["x"]}"#,
    ];
    let inputs: Vec<Value> = inputs.iter().filter_map(|s| Value::from_json_str(s).ok()).collect();
    let limits = EvalLimits::default();
    let n = 200_000;
    let start = Instant::now();
    let mut allowed = 0;
    for i in 0..n {
        if let Ok(d) = q.eval(Some(&inputs[i % inputs.len()]), &limits) {
            if d.value == Some(Value::Bool(true)) {
                allowed += 1;
            }
        }
    }
    let el = start.elapsed();
    println!("{} evals in {:?} ({:.2} us/eval), {} allowed", n, el, el.as_secs_f64() * 1e6 / n as f64, allowed);
}
