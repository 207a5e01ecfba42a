//! `# METADATA` comment blocks: YAML annotations on packages and rules, as
//! `rego.metadata.rule()` and `rego.metadata.chain()` return them.


use crate::value::{Map, Value};

/// One annotation block: where it ends (the next token after it is the
/// annotated package or rule) and its parsed content.
#[derive(Clone, Debug)]
pub struct Block {
    pub start: u32,
    pub end: u32,
    pub yaml: String,
}

/// Finds the `# METADATA` blocks of a source file: the marker line and the
/// comment lines directly below it.
pub fn scan(src: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut offset = 0usize;
    let lines: Vec<&str> = src.split_inclusive('\n').collect();
    let mut i = 0;
    let mut starts = Vec::with_capacity(lines.len());
    for l in &lines {
        starts.push(offset);
        offset += l.len();
    }
    while i < lines.len() {
        let t = lines[i].trim();
        if t.starts_with('#') && t.trim_start_matches('#').trim() == "METADATA" {
            let start = starts[i];
            let mut yaml = String::new();
            let mut j = i + 1;
            while j < lines.len() {
                let lt = lines[j].trim_start();
                if !lt.starts_with('#') {
                    break;
                }
                let body = &lt[1..];
                // Drop the single space after `#`, keep the YAML indentation.
                let body = body.strip_prefix(' ').unwrap_or(body);
                yaml.push_str(body.trim_end_matches(['\n', '\r']));
                yaml.push('\n');
                j += 1;
            }
            let end = if j < lines.len() { starts[j] } else { src.len() };
            out.push(Block { start: start as u32, end: end as u32, yaml });
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// Parses a block into OPA's annotation object, `scope` defaulted.
pub fn parse(block: &Block, default_scope: &str) -> Result<Value, String> {
    let y = if block.yaml.trim().is_empty() {
        Value::empty_object()
    } else {
        crate::yaml::first_document(&block.yaml, crate::yaml::Options::default()).map_err(|e| format!("yaml: {}", e))?
    };
    let Value::Object(m) = y else { return Err("annotation must be a mapping".into()) };
    let mut out = Map::new();
    for (k, v) in m.iter() {
        let Some(key) = k.as_str() else { continue };
        let val = v.clone();
        let val = match key {
            "authors" => list(&val, author),
            "related_resources" => list(&val, |v| match v {
                Value::String(s) => obj(&[("ref", Value::String(s.clone()))]),
                other => other.clone(),
            }),
            // Maps shown only when they have entries (OPA 1.17+ accepts `labels`).
            "custom" | "labels" if matches!(&val, Value::Object(o) if o.is_empty()) || matches!(val, Value::Null) => continue,
            "scope" | "title" | "description" | "organizations" | "schemas" | "entrypoint" | "custom" | "labels" => val,
            // OPA reads `compile` but does not show it, and ignores keys it does not know.
            _ => continue,
        };
        out.insert(Value::from(key), val);
    }
    out.entry(Value::from("scope")).or_insert_with(|| Value::from(default_scope));
    Ok(Value::from_map(out))
}

fn list(v: &Value, f: impl Fn(&Value) -> Value) -> Value {
    match v {
        Value::Array(a) => Value::from_array(a.iter().map(f).collect()),
        other => Value::from_array(vec![f(other)]),
    }
}

/// `Jane Doe <jane@example.com>` → `{"name": ..., "email": ...}`.
fn author(v: &Value) -> Value {
    let Value::String(s) = v else { return v.clone() };
    let s = s.trim();
    if let (Some(lt), true) = (s.rfind('<'), s.ends_with('>')) {
        let email = s[lt + 1..s.len() - 1].trim();
        let name = s[..lt].trim();
        let mut pairs = vec![("email", Value::from(email))];
        if !name.is_empty() {
            pairs.push(("name", Value::from(name)));
        }
        return obj(&pairs);
    }
    obj(&[("name", Value::from(s))])
}

fn obj(pairs: &[(&str, Value)]) -> Value {
    Value::from_map(pairs.iter().map(|(k, v)| (Value::from(*k), v.clone())).collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn finds_blocks() {
        let b = scan("# METADATA\n# title: x\n# authors:\n# - A <a@b>\np := 1\n");
        assert_eq!(b.len(), 1);
        let v = parse(&b[0], "rule").unwrap();
        assert_eq!(v.to_json(), r#"{"authors":[{"email":"a@b","name":"A"}],"scope":"rule","title":"x"}"#);
    }

    #[test]
    fn labels_kept_unknown_keys_ignored() {
        let b = scan("# METADATA\n# labels:\n#   team: core\n# compile: {}\n# other: 1\np := 1\n");
        let v = parse(&b[0], "rule").unwrap();
        assert_eq!(v.to_json(), r#"{"labels":{"team":"core"},"scope":"rule"}"#);
    }
}
