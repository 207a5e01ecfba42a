//! The one result layout of a Check, as both hosts hand it to JavaScript:
//! the addon writes it into the caller's output buffer, the wasm module into
//! its result buffer; `CheckResult.read` in src/engine/check-result.ts is the
//! only reader. Little-endian:
//!
//! | offset | type     | field                                                        |
//! |--------|----------|--------------------------------------------------------------|
//! | 0      | u32      | kind: 0 allow, 1 deny, 2 bad request, 3 error, 4 offload      |
//! | 4      | u32      | flags: 1 cache hit, 2 cacheable                              |
//! | 8      | u32      | body length: the CheckResponse, or (error) the code's length |
//! | 12     | u32      | (error) the detail's length                                  |
//! | 16     | f64      | nanoseconds spent evaluating and encoding (0: none)          |
//! | 24     | 36 bytes | decision id (ASCII)                                          |
//! | 60     | u32      | notes length: 0, or the JSON after the body (below)          |
//! | 64     | bytes    | body: the CheckResponse, or (error) code then detail (UTF-8) |
//!
//! Notes, only when the Check printed or records its decision:
//! `{"prints"?: [{"line", "msg"}], "input"?: ..., "result"?: ...}`.
//!
//! "Offload" (only the kind and a zero notes length are written) means the
//! inline step budget ran out: the Check is to be run again, whole, off the
//! event loop (the addon's `checkAsync`).

use crate::check::{CheckOutput, CheckResult, DECISION_ID_LEN};
use crate::response::Outcome;
use sark_engine::{PrintLine, Value};

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
    let notes = notes(output);
    let need = HEADER_LEN + body.len() + detail.len() + notes.len();
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
    put(header, 60, &(notes.len() as u32).to_le_bytes());
    put(rest, 0, body);
    put(rest, body.len(), detail);
    put(rest, body.len() + detail.len(), notes.as_bytes());
    grown
}

/// `output` in a buffer of its own, exactly as long as it needs.
pub fn to_vec(output: &CheckOutput) -> Vec<u8> {
    write(output, &mut []).unwrap_or_default()
}

/// The notes JSON (see above); empty, costing nothing, when there are none.
fn notes(output: &CheckOutput) -> String {
    if output.prints.is_empty() && output.decided.is_none() {
        return String::new();
    }
    let mut m = sark_engine::value::Map::new();
    if !output.prints.is_empty() {
        m.insert(Value::from("prints"), Value::from_array(output.prints.iter().map(PrintLine::to_value).collect()));
    }
    if let Some(d) = &output.decided {
        m.insert(Value::from("input"), d.input.clone());
        if let Some(r) = &d.result {
            m.insert(Value::from("result"), r.clone());
        }
    }
    Value::from_map(m).to_json()
}

/// Writes the "offload" result into `out` (at least a header long: `write` keeps it so).
pub fn write_offload(out: &mut [u8]) {
    put(out, 0, &KIND_OFFLOAD.to_le_bytes());
    put(out, 60, &0u32.to_le_bytes());
}

fn put(dst: &mut [u8], at: usize, src: &[u8]) {
    if let Some(d) = dst.get_mut(at..at + src.len()) {
        d.copy_from_slice(src);
    }
}

const _: () = assert!(24 + DECISION_ID_LEN <= 60);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::DecisionId;

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn a_response_and_an_error_as_the_decoder_reads_them() {
        let id = DecisionId::from_random([3; 16]);
        let ok = CheckOutput { result: CheckResult::Response { bytes: b"resp".to_vec(), outcome: Outcome::Deny, cacheable: true }, decision_id: id, cache_hit: true, eval_ns: 1500, prints: Vec::new(), decided: None };
        let b = to_vec(&ok);
        assert_eq!(b.len(), HEADER_LEN + 4);
        assert_eq!((u32_at(&b, 0), u32_at(&b, 4), u32_at(&b, 8)), (KIND_DENY, FLAG_CACHE_HIT | FLAG_CACHEABLE, 4));
        assert_eq!(f64::from_le_bytes(b[16..24].try_into().unwrap()), 1500.0);
        assert_eq!(&b[24..60], id.as_bytes());
        assert_eq!(&b[HEADER_LEN..], b"resp");

        let err = CheckOutput { result: CheckResult::Error { code: "eval_timeout", detail: "late".into() }, decision_id: id, cache_hit: false, eval_ns: 0, prints: Vec::new(), decided: None };
        let b = to_vec(&err);
        assert_eq!((u32_at(&b, 0), u32_at(&b, 8), u32_at(&b, 12)), (KIND_ERROR, 12, 4));
        assert_eq!(&b[HEADER_LEN..], b"eval_timeoutlate");
        // A buffer large enough is written in place.
        let mut out = vec![0; 256];
        assert!(write(&err, &mut out).is_none());
        assert_eq!(&out[..b.len()], &b[..]);
    }
}
