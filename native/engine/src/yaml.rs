//! YAML text to `Value`s, over yaml-rust2's event parser.
//!
//! Scalars resolve as before (serde_yaml 0.8's untagged rules: `~`/`null`,
//! `true`/`false`, 0x/0o/0b integers, decimal integers, floats, else strings).
//! Aliases share the anchored value (an `Arc` clone) instead of copying it, and
//! the document is refused as Go's yaml.v2 (OPA's decoder) refuses it when
//! alias expansion makes up too much of it: a "billion laughs" header costs a
//! few microseconds, not gigabytes.

use crate::value::{Map, Value};
use std::collections::HashMap;
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::TScalarStyle;

/// Collections nested deeper than this are refused, as in `crate::json`: values are
/// dropped recursively.
const MAX_DEPTH: usize = 512;

/// How the values read are used.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Strings `"\0bigint:<digits>"` become exact numbers (the conformance
    /// runner's `protect_big_ints` marks integers too large to read that way).
    pub big_int_strings: bool,
}

/// A syntax error as Go's yaml library (OPA's) words it: the problem without the
/// "while parsing ..." context, after `line N: ` — for parser errors the problem's
/// 0-based line, for scanner errors its 1-based line; no line when that would be 0.
fn go_yaml_message(info: &str, line: usize) -> String {
    let parser_error = info.starts_with("while parsing") || info.contains("<document") || info.starts_with("found incompatible");
    let problem = match info.split_once(", ") {
        Some((context, problem)) if context.starts_with("while ") => problem,
        _ => info,
    };
    let problem = if problem.starts_with("expected ") { format!("did not find {}", problem) } else { problem.to_string() };
    let line0 = line.saturating_sub(1);
    match (parser_error, line0) {
        (_, 0) => problem,
        (true, l) => format!("line {}: {}", l, problem),
        (false, l) => format!("line {}: {}", l + 1, problem),
    }
}

/// Every document of a YAML stream (an empty stream is one `null` document).
pub fn documents(text: &str, opts: Options) -> Result<Vec<Value>, String> {
    let mut parser = Parser::new_from_str(text);
    let mut builder = Builder { opts, stack: Vec::new(), anchors: HashMap::new(), aliasing: AliasBudget::default(), docs: Vec::new() };
    loop {
        let (event, _) = parser.next_token().map_err(|e| go_yaml_message(e.info(), e.marker().line()))?;
        match event {
            Event::StreamEnd => break,
            Event::DocumentStart => {
                builder.anchors.clear();
                builder.aliasing = AliasBudget::default();
                builder.aliasing.count_node()?; // the document node
            }
            event => builder.event(event)?,
        }
    }
    if builder.docs.is_empty() {
        builder.docs.push(Value::Null);
    }
    Ok(builder.docs)
}

/// The first document of a YAML stream.
pub fn first_document(text: &str, opts: Options) -> Result<Value, String> {
    Ok(documents(text, opts)?.into_iter().next().unwrap_or(Value::Null))
}

/// A value read so far, with the number of nodes yaml.v2 would decode for it
/// (aliases expanded).
struct Built {
    value: Value,
    nodes: u64,
}

enum Open {
    Seq { anchor: usize, items: Vec<Value>, nodes: u64 },
    Map { anchor: usize, map: Map, key: Option<Value>, nodes: u64 },
}

struct Builder {
    opts: Options,
    stack: Vec<Open>,
    anchors: HashMap<usize, Built>,
    aliasing: AliasBudget,
    docs: Vec<Value>,
}

impl Builder {
    fn event(&mut self, event: Event) -> Result<(), String> {
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                self.aliasing.count_node()?;
                let value = scalar(&text, style, tag.as_ref(), self.opts)?;
                self.complete(anchor, Built { value, nodes: 1 })
            }
            Event::Alias(id) => {
                let Some(target) = self.anchors.get(&id) else {
                    return Err("anchor value contains itself".into());
                };
                let built = Built { value: target.value.clone(), nodes: target.nodes.saturating_add(1) };
                self.aliasing.count_node()?;
                self.aliasing.count_expansion(target.nodes)?;
                self.complete(0, built)
            }
            Event::SequenceStart(anchor, _) => {
                self.open()?;
                self.stack.push(Open::Seq { anchor, items: Vec::new(), nodes: 1 });
                Ok(())
            }
            Event::MappingStart(anchor, _) => {
                self.open()?;
                self.stack.push(Open::Map { anchor, map: Map::new(), key: None, nodes: 1 });
                Ok(())
            }
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Open::Seq { anchor, items, nodes }) => self.complete(anchor, Built { value: Value::from_array(items), nodes }),
                Some(Open::Map { anchor, map, nodes, .. }) => self.complete(anchor, Built { value: Value::from_map(map), nodes }),
                None => Err("unbalanced YAML collection".into()),
            },
            _ => Ok(()),
        }
    }

    fn open(&mut self) -> Result<(), String> {
        if self.stack.len() >= MAX_DEPTH {
            return Err("document nested too deeply".into());
        }
        self.aliasing.count_node()
    }

    /// Places a finished node in its parent (or as the document), remembering it under its anchor.
    fn complete(&mut self, anchor: usize, built: Built) -> Result<(), String> {
        if anchor != 0 {
            self.anchors.insert(anchor, Built { value: built.value.clone(), nodes: built.nodes });
        }
        match self.stack.last_mut() {
            None => self.docs.push(built.value),
            Some(Open::Seq { items, nodes, .. }) => {
                items.push(built.value);
                *nodes = nodes.saturating_add(built.nodes);
            }
            Some(Open::Map { map, key, nodes, .. }) => {
                *nodes = nodes.saturating_add(built.nodes);
                match key.take() {
                    None => *key = Some(map_key(built.value)?),
                    Some(k) => {
                        map.insert(k, built.value);
                    }
                }
            }
        }
        Ok(())
    }
}

/// Scalar keys become their text (`1`, `true`, `null`); a sequence or
/// mapping as a key is refused, as OPA's YAML decoder refuses it ("invalid
/// map key"). (Rendering such keys as JSON text let nested complex keys grow
/// the text exponentially: each level escaped the one inside it.)
fn map_key(v: Value) -> Result<Value, String> {
    match v {
        Value::String(_) => Ok(v),
        Value::Array(_) | Value::Object(_) | Value::Set(_) => Err(format!("invalid map key: {}", v.to_json())),
        other => Ok(Value::from(other.to_json())),
    }
}

/// yaml.v2's guard against alias expansion ("billion laughs"): past 1,000 decoded
/// nodes and 100 alias-expanded ones, the expanded share may be at most 99% up to
/// 400,000 nodes, falling linearly to 10% at 4,000,000.
#[derive(Default)]
struct AliasBudget {
    decoded: u64,
    aliased: u64,
}

impl AliasBudget {
    /// A node outside any alias expansion.
    fn count_node(&mut self) -> Result<(), String> {
        self.decoded = self.decoded.saturating_add(1);
        self.check()
    }

    /// An alias expanding to `nodes` nodes. Within the expansion both counts grow together,
    /// so the share only rises: checking once at its end decides as checking every node would.
    fn count_expansion(&mut self, nodes: u64) -> Result<(), String> {
        self.decoded = self.decoded.saturating_add(nodes);
        self.aliased = self.aliased.saturating_add(nodes);
        self.check()
    }

    fn check(&self) -> Result<(), String> {
        const LOW: f64 = 400_000.0;
        const HIGH: f64 = 4_000_000.0;
        if self.aliased <= 100 || self.decoded <= 1000 {
            return Ok(());
        }
        let decoded = self.decoded as f64;
        let allowed = if decoded <= LOW {
            0.99
        } else if decoded >= HIGH {
            0.10
        } else {
            0.99 - 0.89 * ((decoded - LOW) / (HIGH - LOW))
        };
        if self.aliased as f64 / decoded > allowed {
            return Err("document contains excessive aliasing".into());
        }
        Ok(())
    }
}

fn scalar(text: &str, style: TScalarStyle, tag: Option<&Tag>, opts: Options) -> Result<Value, String> {
    if let Some(tag) = tag {
        let core = tag.handle == "tag:yaml.org,2002:" || tag.handle == "!!";
        return Ok(match (core, tag.suffix.as_str()) {
            (true, "bool") => Value::Bool(text.parse::<bool>().map_err(|_| format!("invalid value: string {:?}, expected a boolean", text))?),
            (true, "int") => Value::int(text.parse::<i64>().map_err(|_| format!("invalid value: string {:?}, expected an integer", text))?),
            (true, "float") => Value::float(text.parse::<f64>().map_err(|_| format!("invalid value: string {:?}, expected a float", text))?),
            (true, "null") => match text {
                "~" | "null" => Value::Null,
                _ => return Err(format!("invalid value: string {:?}, expected null", text)),
            },
            _ => string(text, opts),
        });
    }
    if style != TScalarStyle::Plain {
        return Ok(string(text, opts));
    }
    Ok(untagged(text).unwrap_or_else(|| string(text, opts)))
}

fn string(text: &str, opts: Options) -> Value {
    if opts.big_int_strings {
        if let Some(n) = text.strip_prefix("\u{0}bigint:").and_then(crate::number::Number::parse) {
            return Value::Number(n);
        }
    }
    Value::from(text)
}

/// A plain scalar's non-string reading, if it has one.
fn untagged(v: &str) -> Option<Value> {
    match v {
        // An empty plain scalar (`key:` with nothing after it) is null.
        "" | "~" | "null" => return Some(Value::Null),
        "true" => return Some(Value::Bool(true)),
        "false" => return Some(Value::Bool(false)),
        _ => {}
    }
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(rest) = v.strip_prefix(prefix).or_else(|| v.strip_prefix(&format!("+{prefix}")[..])) {
            if let Ok(n) = u64::from_str_radix(rest, radix) {
                return Some(unsigned(n));
            }
        }
        if let Some(rest) = v.strip_prefix('-').and_then(|r| r.strip_prefix(prefix)) {
            if let Ok(n) = i64::from_str_radix(&format!("-{rest}"), radix) {
                return Some(Value::int(n));
            }
        }
    }
    let digits = v.trim_start_matches(['-', '+']);
    if digits.len() > 1 && digits.starts_with('0') && digits[1..].bytes().all(|b| b.is_ascii_digit()) {
        // Leading zeros make a string in YAML 1.2.
        return None;
    }
    if let Ok(n) = v.parse::<u64>() {
        return Some(unsigned(n));
    }
    if let Ok(n) = v.parse::<i64>() {
        return Some(Value::int(n));
    }
    match v.trim_start_matches('+') {
        ".inf" | ".Inf" | ".INF" => return Some(Value::float(f64::INFINITY)),
        "-.inf" | "-.Inf" | "-.INF" => return Some(Value::float(f64::NEG_INFINITY)),
        ".nan" | ".NaN" | ".NAN" => return Some(Value::float(f64::NAN)),
        _ => {}
    }
    // Integers beyond 64 bits read as floats, as in yaml.v2.
    v.parse::<f64>().ok().filter(|f| f.is_finite()).map(Value::float)
}

fn unsigned(n: u64) -> Value {
    match i64::try_from(n) {
        Ok(i) => Value::int(i),
        Err(_) => crate::number::Number::parse(&n.to_string()).map(Value::Number).unwrap_or(Value::Null),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn one(t: &str) -> String {
        first_document(t, Options::default()).unwrap().to_json()
    }

    #[test]
    fn scalars_resolve_as_before() {
        assert_eq!(one("[~, null, true, false, 0x1F, -0x10, 0o17, 0b101, 10, -3, 1.5, 007, abc, '1', !!str 2, !!int 3]"), r#"[null,null,true,false,31,-16,15,5,10,-3,1.5,"007","abc","1","2",3]"#);
        assert_eq!(first_document(".inf", Options::default()).unwrap(), Value::float(f64::INFINITY));
        assert_eq!(one("{1: a, true: b, null: c}"), r#"{"1":"a","null":"c","true":"b"}"#);
        // A sequence or mapping as a key is refused, as OPA refuses it; nested ones never get to grow.
        assert_eq!(first_document("{[1, 2]: d}", Options::default()).unwrap_err(), "invalid map key: [1,2]");
        assert!(first_document(&format!("{}a", "? ".repeat(40)), Options::default()).is_err());
        assert_eq!(one("18446744073709551615"), "18446744073709551615");
        assert_eq!(one("123456789012345678901234567890"), Value::float(1.2345678901234568e29).to_json());
    }

    #[test]
    fn streams_and_errors() {
        assert_eq!(documents("", Options::default()).unwrap(), vec![Value::Null]);
        assert_eq!(one("{a: , b: ''}"), r#"{"a":null,"b":""}"#);
        assert_eq!(documents("a: 1\n---\nb: 2\n", Options::default()).unwrap().len(), 2);
        let err = |text: &str| documents(text, Options::default()).unwrap_err();
        assert_eq!(err("[1,2,3"), "line 1: did not find expected ',' or ']'");
        assert_eq!(err("a:\n  - 1\n - 2"), "line 2: did not find expected key");
        assert_eq!(err("a: b: c"), "mapping values are not allowed in this context");
        let big = first_document("x: \"\\0bigint:123456789012345678901234567890\"", Options { big_int_strings: true }).unwrap();
        assert_eq!(big.to_json(), r#"{"x":123456789012345678901234567890}"#);
    }

    #[test]
    fn deep_nesting_needs_no_recursion() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        // yaml-rust2 stops flow collections first; block ones reach MAX_DEPTH.
        assert!(documents(&deep, Options::default()).is_err());
        let block: String = (0..MAX_DEPTH + 1).map(|i| format!("{}- \n", "  ".repeat(i))).collect();
        assert!(documents(&block, Options::default()).is_err());
        let ok = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(documents(&ok, Options::default()).is_ok());
    }
}
