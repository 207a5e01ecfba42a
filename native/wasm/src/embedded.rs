//! The policy `sark-authz build -t wasm` embeds: JSON
//! `{"modules": [{name, source}], "entrypoints": ["envoy/authz/allow", …], "options": {…}}`
//! in a data segment of its own. The builder finds this slot by its magic
//! words and writes the segment's address and length into it.

/// `[magic, magic, address, length]`; read volatile: the builder changes it after linking.
#[no_mangle]
#[used]
pub static SARK_POLICY_SLOT: [u32; 4] = [0x4b52_4153, 0x314c_4f50, 0, 0]; // "SARKPOL1"

/// The embedded policy's JSON text; `None` in a module nothing was embedded in.
pub fn policy_json() -> Option<&'static [u8]> {
    // SAFETY: a plain read of a static; volatile so the linked-in zeros are not assumed.
    let slot = unsafe { std::ptr::read_volatile(&SARK_POLICY_SLOT) };
    let (addr, len) = (slot[2] as usize, slot[3] as usize);
    if addr == 0 || len == 0 {
        return None;
    }
    // SAFETY: the builder placed `len` bytes at `addr`, in a data segment of their own.
    Some(unsafe { std::slice::from_raw_parts(addr as *const u8, len) })
}
