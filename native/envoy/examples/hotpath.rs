//! Times the stages of one native Check on a CheckRequest file:
//! decode + input document, evaluation, response encoding.
//!
//! cargo run --release --example hotpath -- REQUEST.bin POLICY.rego [N]

use sark_engine::{CompileOptions, EvalLimits, Policy, SourceFile, Value};
use sark_envoy::{check_request_to_input, check_request_to_projected_input, encode_check_response, ApiVersion, InputOptions, Projection, ResponseOptions};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Counts allocations, to see what each stage costs in malloc calls.
struct CountingAlloc;
static ALLOCS: AtomicU64 = AtomicU64::new(0);
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
}
#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn allocs() -> u64 {
    ALLOCS.load(Ordering::Relaxed)
}

#[allow(unused_assignments)] // each timing loop overwrites the input on purpose
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(req), Some(pol)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: hotpath REQUEST.bin POLICY.rego [N]");
        std::process::exit(2);
    };
    let n: u32 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let bytes = std::fs::read(req).expect("request file");
    let text = std::fs::read_to_string(pol).expect("policy file");
    let policy = Policy::compile(&[SourceFile { name: pol.clone(), text }], Value::empty_object(), &CompileOptions::default()).expect("compile");
    let q = policy.prepare("data.envoy.authz.allow").expect("prepare");
    let lim = EvalLimits::default();
    let opts = InputOptions::default();

    // `HOTPATH_ONLY=projected` times only the projected input (for profiling).
    let only_projected = std::env::var("HOTPATH_ONLY").map_or(false, |v| v == "projected");
    let t = Instant::now();
    let mut input = check_request_to_input(&bytes, ApiVersion::V3, &opts).expect("input");
    for _ in 0..if only_projected { 0 } else { n } {
        input = check_request_to_input(&bytes, ApiVersion::V3, &opts).expect("input");
    }
    let input_ns = t.elapsed().as_nanos() as f64 / f64::from(n);

    let projection = Projection::from_input_paths(q.input_paths(), true);
    let a0 = allocs();
    input = check_request_to_projected_input(&bytes, ApiVersion::V3, &opts, &projection).expect("input");
    let input_allocs = allocs() - a0;
    // Counted on the second evaluation: the first one fills the evaluator's pools.
    std::hint::black_box(q.eval(Some(&input), &lim).expect("eval"));
    let a0 = allocs();
    std::hint::black_box(q.eval(Some(&input), &lim).expect("eval"));
    let eval_allocs = allocs() - a0;
    println!("allocations: projected input {}, eval {}", input_allocs, eval_allocs);
    let t = Instant::now();
    for _ in 0..n {
        input = check_request_to_projected_input(&bytes, ApiVersion::V3, &opts, &projection).expect("input");
    }
    let projected_ns = t.elapsed().as_nanos() as f64 / f64::from(n);
    if only_projected {
        println!("projected input {:.0} ns", projected_ns);
        return;
    }

    let t = Instant::now();
    let mut decision = None;
    // `HOTPATH_EVAL_ONLY=N` repeats only the evaluation N× more (for profiling).
    let eval_n = n * std::env::var("HOTPATH_EVAL_ONLY").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    for _ in 0..eval_n {
        decision = q.eval(Some(&input), &lim).expect("eval").value;
    }
    let eval_ns = t.elapsed().as_nanos() as f64 / f64::from(eval_n);

    let value = decision.unwrap_or(Value::Bool(false));
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(encode_check_response(&value, "00000000-0000-4000-8000-000000000000", ResponseOptions::default()).expect("encode"));
    }
    let encode_ns = t.elapsed().as_nanos() as f64 / f64::from(n);
    println!("input {:.0} ns (projected {:.0} ns), eval {:.0} ns, encode {:.0} ns ({} iterations)", input_ns, projected_ns, eval_ns, encode_ns, n);
}
