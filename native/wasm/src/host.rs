//! What `wasm32-unknown-unknown` does not have: a clock, an entropy source,
//! a place for panic messages, a decision cache. OPA's imports (`opa_abort`,
//! `opa_println`) serve both faces of the module; the direct engine's host
//! (src/engine/wasm-engine.ts) also supplies the `sark_host` imports — the
//! clock and the decision cache — and announces itself with `sark_init`.
//! OPA's hosts (opa-wasm) never call `sark_init` and get the `sark_host`
//! imports bound to `opa_abort` (src/engine/wasm-module.ts), so nothing here
//! calls them before `sark_init`.

use std::cell::{Cell, RefCell};
use std::time::Duration;

#[cfg(target_arch = "wasm32")]
mod imports {
    #[link(wasm_import_module = "env")]
    extern "C" {
        pub fn opa_abort(addr: *const u8);
        pub fn opa_println(addr: *const u8);
        /// OPA's host builtins: `builtins()` names one, `time.now_ns` (id 0).
        pub fn opa_builtin0(id: u32, ctx: u32) -> u32;
    }
    #[link(wasm_import_module = "sark_host")]
    extern "C" {
        /// Wall-clock nanoseconds since the epoch.
        pub fn now_ns() -> f64;
        /// Looks `key` up in the host's cache: the entry's length (held for
        /// `cache_take`), or -1 on a miss.
        pub fn cache_get(key: *const u8, key_len: usize) -> i32;
        /// Copies the entry `cache_get` found to `dst`.
        pub fn cache_take(dst: *mut u8);
        /// Stores an entry; `ttl_ms` < 0: the cache's default time to live.
        pub fn cache_set(key: *const u8, key_len: usize, entry: *const u8, entry_len: usize, ttl_ms: f64);
    }
}

thread_local! {
    /// Set by `sark_init`: the `sark_host` imports are real.
    static HOSTED: Cell<bool> = const { Cell::new(false) };
    static RNG: RefCell<Option<Xoshiro>> = const { RefCell::new(None) };
}

/// `sark_init(a, b, c, d)`: the direct engine's host is here (its `sark_host`
/// imports may be called); 256 bits from its CSPRNG seed the generator.
#[no_mangle]
pub extern "C" fn sark_init(a: f64, b: f64, c: f64, d: f64) {
    install_panic_hook();
    HOSTED.with(|h| h.set(true));
    let s = [a.to_bits(), b.to_bits(), c.to_bits(), d.to_bits()];
    RNG.with(|r| *r.borrow_mut() = Some(Xoshiro::new(s)));
}

fn hosted() -> bool {
    HOSTED.with(|h| h.get())
}

/// The engine's clock (installed with `sark_engine::builtins::set_clock`):
/// the direct engine's host gives its wall clock; under OPA's hosts the time
/// comes from their `time.now_ns` builtin, as in a policy `opa build -t wasm`
/// compiled (opa-wasm has none built in: it throws "not implemented" unless
/// the caller passes one, so a policy never sees a made-up time).
pub fn now_ns() -> i64 {
    #[cfg(target_arch = "wasm32")]
    {
        if hosted() {
            // SAFETY: an import without arguments.
            return unsafe { imports::now_ns() } as i64;
        }
        // SAFETY: builtin id 0 is `time.now_ns` in `builtins()`; the host
        // answers with the address of a value it parsed into our heap.
        let addr = unsafe { imports::opa_builtin0(TIME_NOW_NS, 0) };
        return clock_value(addr);
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        if hosted() {
            return std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64);
        }
        0
    }
}

/// The id `builtins()` gives `time.now_ns`.
pub const TIME_NOW_NS: u32 = 0;

/// The host builtin's answer as nanoseconds; anything but a number aborts the evaluation.
#[cfg(target_arch = "wasm32")]
fn clock_value(addr: u32) -> i64 {
    match crate::heap::value(addr).as_ref().and_then(|v| v.as_number()).and_then(|n| n.as_i64()) {
        Some(ns) => ns,
        None => {
            abort_with("time.now_ns: the host's builtin did not return an integer number of nanoseconds");
            0
        }
    }
}

/// The Check's host: the clock and the seeded generator above.
pub struct WasmHost;

impl sark_envoy::Host for WasmHost {
    fn now_ns(&self) -> i64 {
        now_ns()
    }
    fn random_bytes(&self) -> [u8; 16] {
        let mut b = [0; 16];
        fill_random(&mut b);
        b
    }
}

/// The host's decision cache (lru-cache): PreparedCheck makes the keys and
/// entries, the host stores them as they are.
pub struct HostCache;

impl sark_envoy::CheckCache for HostCache {
    type Entry = Vec<u8>;

    #[cfg(target_arch = "wasm32")]
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        if !hosted() {
            return None;
        }
        // SAFETY: `key` is readable for the call; `entry` has room for the length the host gave.
        unsafe {
            let len = usize::try_from(imports::cache_get(key.as_ptr(), key.len())).ok()?;
            let mut entry = vec![0u8; len];
            imports::cache_take(entry.as_mut_ptr());
            Some(entry)
        }
    }

    #[cfg(target_arch = "wasm32")]
    fn set(&self, key: &[u8], entry: &[u8], ttl: Option<Duration>) {
        if hosted() {
            let ttl_ms = ttl.map_or(-1.0, |d| d.as_secs_f64() * 1000.0);
            // SAFETY: both slices are readable for the call.
            unsafe { imports::cache_set(key.as_ptr(), key.len(), entry.as_ptr(), entry.len(), ttl_ms) }
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn get(&self, _key: &[u8]) -> Option<Vec<u8>> {
        None
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn set(&self, _key: &[u8], _entry: &[u8], _ttl: Option<Duration>) {}
}

/// xoshiro256**, seeded by the host. Randomness here serves `rand.intn`,
/// `uuid.rfc4122` and decision ids, not keys: signing builtins that need
/// randomness fail on this target (ring has no entropy source on it).
struct Xoshiro([u64; 4]);

impl Xoshiro {
    fn new(mut s: [u64; 4]) -> Xoshiro {
        if s == [0; 4] {
            s = [0x9e37_79b9_7f4a_7c15, 0xbf58_476d_1ce4_e5b9, 0x94d0_49bb_1331_11eb, 1];
        }
        Xoshiro(s)
    }
    fn next(&mut self) -> u64 {
        let s = &mut self.0;
        let out = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        out
    }
}

/// Fills `dest` with random bytes (unseeded: a fixed seed mixed with the clock).
pub fn fill_random(dest: &mut [u8]) {
    RNG.with(|r| {
        let mut r = r.borrow_mut();
        let g = r.get_or_insert_with(|| Xoshiro::new([now_ns() as u64, 0x6a09_e667_f3bc_c908, 0x3c6e_f372_fe94_f82b, 0xa54f_f53a_5f1d_36f1]));
        for chunk in dest.chunks_mut(8) {
            let v = g.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    });
}

#[cfg(target_arch = "wasm32")]
mod entropy {
    /// getrandom 0.3/0.4's custom backend (`--cfg getrandom_backend="custom"`).
    #[no_mangle]
    unsafe extern "Rust" fn __getrandom_v03_custom(dest: *mut u8, len: usize) -> Result<(), getrandom::Error> {
        // SAFETY: getrandom hands a writable buffer of `len` bytes.
        super::fill_random(unsafe { std::slice::from_raw_parts_mut(dest, len) });
        Ok(())
    }
}

/// A NUL-terminated copy of `s`, as OPA's imports take strings.
fn c_string(s: &str) -> Vec<u8> {
    let mut v: Vec<u8> = s.bytes().filter(|b| *b != 0).collect();
    v.push(0);
    v
}

/// Reports a panic to the host through `opa_abort` (opa-wasm throws it as a
/// JavaScript exception); the instance must not be used afterwards.
pub fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let msg = c_string(&format!("sark-wasm: {}", info));
            abort(&msg);
        }));
        sark_engine::builtins::set_clock(now_ns);
    });
}

#[cfg(target_arch = "wasm32")]
fn abort(msg: &[u8]) {
    // SAFETY: `msg` is NUL-terminated and outlives the call.
    unsafe { imports::opa_abort(msg.as_ptr()) }
}
#[cfg(not(target_arch = "wasm32"))]
fn abort(msg: &[u8]) {
    eprintln!("{}", String::from_utf8_lossy(msg));
}

/// Ends the current call with `message` through `opa_abort` (the host throws).
pub fn abort_with(message: &str) {
    abort(&c_string(message));
}

/// Writes a `print` line through `opa_println`.
pub fn println(line: &str) {
    let msg = c_string(line);
    #[cfg(target_arch = "wasm32")]
    // SAFETY: `msg` is NUL-terminated and outlives the call.
    unsafe {
        imports::opa_println(msg.as_ptr())
    }
    #[cfg(not(target_arch = "wasm32"))]
    println!("{}", String::from_utf8_lossy(&msg[..msg.len() - 1]));
}
