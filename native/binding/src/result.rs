//! The one result of a native Check, as the addon writes it into the
//! caller's output buffer (decoded by `readCheckResult` in
//! src/engine/native-engine.ts, the only reader). Little-endian:
//!
//! | offset | type     | field                                                        |
//! |--------|----------|--------------------------------------------------------------|
//! | 0      | u32      | kind: 0 allow, 1 deny, 2 bad request, 3 error, 4 offload      |
//! | 4      | u32      | flags: 1 cache hit, 2 cacheable                              |
//! | 8      | u32      | body length: the CheckResponse, or (error) the code's length |
//! | 12     | u32      | (error) the detail's length                                  |
//! | 16     | f64      | nanoseconds spent evaluating and encoding (0: none)          |
//! | 24     | 36 bytes | decision id (ASCII)                                          |
//! | 64     | bytes    | body: the CheckResponse, or (error) code then detail (UTF-8) |
//!
//! "Offload" (only the kind is written) means the inline step budget ran
//! out: the Check is to be run again, whole, by `checkAsync`.

use sark_envoy::check::DECISION_ID_LEN;
use sark_envoy::{CheckOutput, CheckResult, Outcome};

pub const HEADER_LEN: usize = 64;

const KIND_ALLOW: u32 = 0;
const KIND_DENY: u32 = 1;
const KIND_BAD_REQUEST: u32 = 2;
const KIND_ERROR: u32 = 3;
const KIND_OFFLOAD: u32 = 4;
const FLAG_CACHE_HIT: u32 = 1;
const FLAG_CACHEABLE: u32 = 2;

/// Writes `output` into `out`; when it does not fit, returns it in a new
/// buffer (at least twice `out`'s size) that the caller keeps using.
pub fn write(output: &CheckOutput, out: &mut [u8]) -> Option<Vec<u8>> {
    let (kind, cacheable, body, detail): (u32, bool, &[u8], &[u8]) = match &output.result {
        CheckResult::Response { bytes, outcome, cacheable } => (if *outcome == Outcome::Deny { KIND_DENY } else { KIND_ALLOW }, *cacheable, bytes, b""),
        CheckResult::BadRequest { bytes, .. } => (KIND_BAD_REQUEST, false, bytes, b""),
        CheckResult::Error { code, detail } => (KIND_ERROR, false, code.as_bytes(), detail.as_bytes()),
    };
    let need = HEADER_LEN + body.len() + detail.len();
    let mut grown = None;
    let dst = match out.get_mut(..need) {
        Some(dst) => dst,
        None => grown.insert(vec![0; need.max(out.len().saturating_mul(2))]).as_mut_slice(),
    };
    let mut flags = if cacheable { FLAG_CACHEABLE } else { 0 };
    if output.cache_hit {
        flags |= FLAG_CACHE_HIT;
    }
    let (header, rest) = dst.split_at_mut(HEADER_LEN);
    put(header, 0, &kind.to_le_bytes());
    put(header, 4, &flags.to_le_bytes());
    put(header, 8, &(body.len() as u32).to_le_bytes());
    put(header, 12, &(detail.len() as u32).to_le_bytes());
    put(header, 16, &(output.eval_ns as f64).to_le_bytes());
    put(header, 24, output.decision_id.as_bytes());
    put(rest, 0, body);
    put(rest, body.len(), detail);
    grown
}

/// Writes the "offload" result into `out` (at least a header long: `write` keeps it so).
pub fn write_offload(out: &mut [u8]) {
    put(out, 0, &KIND_OFFLOAD.to_le_bytes());
}

fn put(dst: &mut [u8], at: usize, src: &[u8]) {
    if let Some(d) = dst.get_mut(at..at + src.len()) {
        d.copy_from_slice(src);
    }
}

const _: () = assert!(24 + DECISION_ID_LEN <= HEADER_LEN);
