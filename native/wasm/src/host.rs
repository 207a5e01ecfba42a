//! What `wasm32-unknown-unknown` does not have: a clock, an entropy source,
//! a place for panic messages. The host supplies them through exports
//! (`sark_set_now`, `sark_seed`) and OPA's imports (`opa_abort`, `opa_println`).

use std::cell::{Cell, RefCell};

#[cfg(target_arch = "wasm32")]
mod imports {
    #[link(wasm_import_module = "env")]
    extern "C" {
        pub fn opa_abort(addr: *const u8);
        pub fn opa_println(addr: *const u8);
    }
}

thread_local! {
    /// Milliseconds since the epoch, as the host last set them; 0 = unknown.
    static NOW_MS: Cell<f64> = const { Cell::new(0.0) };
    static RNG: RefCell<Option<Xoshiro>> = const { RefCell::new(None) };
}

/// `sark_set_now(ms)`: the wall clock, set by the host before each call.
#[no_mangle]
pub extern "C" fn sark_set_now(ms: f64) {
    NOW_MS.with(|n| n.set(ms));
}

/// The engine's clock (installed with `sark_engine::builtins::set_clock`).
pub fn now_ns() -> i64 {
    NOW_MS.with(|n| (n.get() * 1e6) as i64)
}

/// `sark_seed(a, b, c, d)`: 256 bits from the host's CSPRNG seed the generator.
#[no_mangle]
pub extern "C" fn sark_seed(a: f64, b: f64, c: f64, d: f64) {
    let s = [a.to_bits(), b.to_bits(), c.to_bits(), d.to_bits()];
    RNG.with(|r| *r.borrow_mut() = Some(Xoshiro::new(s)));
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
    fn fill02(dest: &mut [u8]) -> Result<(), getrandom02::Error> {
        super::fill_random(dest);
        Ok(())
    }
    getrandom02::register_custom_getrandom!(fill02);

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
