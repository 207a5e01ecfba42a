//! `test.sleep(duration)`: a builtin OPA's own test harness registers (its
//! topdown tests declare it; `opa capabilities` does not list it) for cases
//! such as `time/time caching`, which sleeps between two `time.now_ns` calls.
//! Only the conformance runner offers it, and only on its thread while it runs
//! a case (`with_test_builtins`): a policy served or evaluated never sees it.

use super::{arg_str, BuiltinResult, Ctx, Registry};
use crate::value::Value;
use std::cell::Cell;
use std::sync::OnceLock;

thread_local! {
    static ENABLED: Cell<bool> = const { Cell::new(false) };
}

/// The longest sleep: the harness's cases sleep milliseconds.
const MAX_SLEEP_NS: i64 = 1_000_000_000;

/// Runs `f` (compile and evaluate a case) with the test harness's builtins visible.
pub fn with_test_builtins<R>(f: impl FnOnce() -> R) -> R {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            ENABLED.with(|e| e.set(self.0));
        }
    }
    let _reset = Reset(ENABLED.with(|e| e.replace(true)));
    f()
}

/// A test harness builtin, while `with_test_builtins` runs on this thread.
pub(super) fn lookup(name: &str) -> Option<&'static super::Builtin> {
    if !ENABLED.with(Cell::get) {
        return None;
    }
    static REG: OnceLock<Registry> = OnceLock::new();
    REG.get_or_init(|| {
        let mut r = Registry::default();
        r.nondeterministic("testing", "test.sleep", "(string) => null", sleep);
        r
    })
    .get(name)
}

/// Sleeps for a Go duration (`"10ms"`), as OPA's harness does: a duration it
/// cannot parse is no sleep. Returns null.
fn sleep(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let ns = super::time::parse_duration(arg_str(a, 0)?).unwrap_or(0).clamp(0, MAX_SLEEP_NS);
    wait(ns);
    Ok(Value::Null)
}

#[cfg(not(target_arch = "wasm32"))]
fn wait(ns: i64) {
    std::thread::sleep(std::time::Duration::from_nanos(ns as u64));
}

/// wasm32-unknown-unknown cannot sleep a thread: wait on the host's clock.
#[cfg(target_arch = "wasm32")]
fn wait(ns: i64) {
    let until = Ctx::now().saturating_add(ns);
    while Ctx::now() < until {}
}
