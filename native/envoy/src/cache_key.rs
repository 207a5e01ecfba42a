//! Decision cache keys: the values at the input paths a policy can read,
//! encoded canonically. Two inputs with the same key give the same decision
//! under the same policy revision, so the key is correct by construction.

use sark_engine::Value;

/// One input path, as the engine reports it: the steps after `input`
/// (`["attributes", "request", "http", "method"]`); empty = the whole input.
pub type InputPath = Vec<Value>;

/// Appends the canonical key for `input` under `paths` to `out`. Absent and
/// null encode differently; the revision separates policy generations.
pub fn write_key(out: &mut Vec<u8>, revision: u64, paths: &[InputPath], input: &Value) {
    out.extend_from_slice(&revision.to_le_bytes());
    for path in paths {
        match lookup(input, path) {
            // 0x00 never appears in JSON text, so it cannot be confused with a value.
            None => out.push(0x00),
            Some(v) => {
                out.push(0x01);
                let mut s = String::new();
                v.write_json(&mut s);
                // Sets and arrays render alike in JSON; keep the type apart.
                if matches!(v, Value::Set(_)) {
                    out.push(b's');
                }
                out.extend_from_slice(s.as_bytes());
            }
        }
        out.push(0x00);
    }
}

fn lookup<'a>(root: &'a Value, path: &[Value]) -> Option<&'a Value> {
    let mut cur = root;
    for step in path {
        cur = cur.get(step)?;
    }
    Some(cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(input: &str, paths: &[&[&str]]) -> Vec<u8> {
        let paths: Vec<InputPath> = paths.iter().map(|p| p.iter().map(|s| Value::from(*s)).collect()).collect();
        let mut out = Vec::new();
        write_key(&mut out, 7, &paths, &Value::from_json_str(input).unwrap());
        out
    }

    #[test]
    fn ignores_what_the_policy_does_not_read() {
        let p: &[&[&str]] = &[&["m"], &["h", "role"]];
        assert_eq!(key(r#"{"m":"GET","h":{"role":"a","x-request-id":"1"}}"#, p), key(r#"{"m":"GET","h":{"role":"a","x-request-id":"2"}}"#, p));
        assert_ne!(key(r#"{"m":"GET","h":{"role":"a"}}"#, p), key(r#"{"m":"GET","h":{"role":"b"}}"#, p));
    }

    #[test]
    fn tells_absent_from_null() {
        let p: &[&[&str]] = &[&["a"]];
        assert_ne!(key(r#"{}"#, p), key(r#"{"a":null}"#, p));
    }
}
