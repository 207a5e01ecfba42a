//! Declared builtin types: the `decl` DSL, parsed into `Type`, rendered as
//! OPA's capabilities JSON, and used by the compiler's arity/type checks.
//!
//! Grammar: `any null boolean number string`, `array[T]`, `[T1, T2]`,
//! `set[T]`, `object[K: V]`, `{key: T, "key2": T}`, `{k: T | K: V}`,
//! `any<T1, T2>`, `(T1, T2) => R`, `(T...)` (variadic, no result).

use serde_json::{json, Value as Json};

#[derive(Clone, Debug, PartialEq)]
pub enum Type {
    /// `any` when empty, else the union `any<T1, T2>`.
    Any(Vec<Type>),
    Null,
    Boolean,
    Number,
    String,
    /// `[T1, T2]` (static) or `array[T]` (dynamic).
    Array { fixed: Vec<Type>, dynamic: Option<Box<Type>> },
    Set(Box<Type>),
    /// `{k: T}` (static), `object[K: V]` (dynamic) or both.
    Object { fixed: Vec<(String, Type)>, dynamic: Option<Box<(Type, Type)>> },
    Function(Box<FnType>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct FnType {
    pub args: Vec<Type>,
    pub result: Option<Type>,
    /// The type of the extra arguments of a variadic function (`print`).
    pub variadic: Option<Type>,
}

impl FnType {
    /// Number of declared (non-variadic) arguments.
    pub fn arity(&self) -> usize {
        self.args.len()
    }

    /// OPA's capabilities JSON for this declaration.
    pub fn to_json(&self) -> Json {
        let mut m = serde_json::Map::new();
        if !self.args.is_empty() {
            m.insert("args".into(), Json::Array(self.args.iter().map(Type::to_json).collect()));
        }
        if let Some(r) = &self.result {
            m.insert("result".into(), r.to_json());
        }
        m.insert("type".into(), json!("function"));
        if let Some(v) = &self.variadic {
            m.insert("variadic".into(), v.to_json());
        }
        Json::Object(m)
    }
}

impl Type {
    /// OPA's capabilities JSON for this type.
    pub fn to_json(&self) -> Json {
        match self {
            Type::Any(of) if of.is_empty() => json!({"type": "any"}),
            Type::Any(of) => json!({"of": of.iter().map(Type::to_json).collect::<Vec<_>>(), "type": "any"}),
            Type::Null => json!({"type": "null"}),
            Type::Boolean => json!({"type": "boolean"}),
            Type::Number => json!({"type": "number"}),
            Type::String => json!({"type": "string"}),
            Type::Array { fixed, dynamic } => {
                let mut m = serde_json::Map::new();
                if let Some(d) = dynamic {
                    m.insert("dynamic".into(), d.to_json());
                }
                if !fixed.is_empty() {
                    m.insert("static".into(), Json::Array(fixed.iter().map(Type::to_json).collect()));
                }
                m.insert("type".into(), json!("array"));
                Json::Object(m)
            }
            Type::Set(t) => json!({"of": t.to_json(), "type": "set"}),
            Type::Object { fixed, dynamic } => {
                let mut m = serde_json::Map::new();
                if let Some(d) = dynamic {
                    m.insert("dynamic".into(), json!({"key": d.0.to_json(), "value": d.1.to_json()}));
                }
                if !fixed.is_empty() {
                    let s: Vec<Json> = fixed.iter().map(|(k, v)| json!({"key": k, "value": v.to_json()})).collect();
                    m.insert("static".into(), Json::Array(s));
                }
                m.insert("type".into(), json!("object"));
                Json::Object(m)
            }
            Type::Function(f) => f.to_json(),
        }
    }
}

/// Parse a builtin's `decl` string.
pub fn parse_decl(src: &str) -> Result<FnType, String> {
    let mut p = Parser { s: src.as_bytes(), i: 0 };
    let f = p.function()?;
    p.ws();
    if p.i != p.s.len() {
        return Err(format!("unexpected input at offset {} in {:?}", p.i, src));
    }
    Ok(f)
}

/// Parse a single type.
pub fn parse_type(src: &str) -> Result<Type, String> {
    let mut p = Parser { s: src.as_bytes(), i: 0 };
    let t = p.ty()?;
    p.ws();
    if p.i != p.s.len() {
        return Err(format!("unexpected input at offset {} in {:?}", p.i, src));
    }
    Ok(t)
}

/// A declaration rendered as OPA's capabilities JSON text.
pub fn decl_json(src: &str) -> Result<String, String> {
    Ok(parse_decl(src)?.to_json().to_string())
}

/// Every registered builtin in OPA's capabilities format, sorted by name.
pub fn capabilities_json() -> String {
    // Network builtins are declared only so that tests can mock them.
    let mut all: Vec<_> = super::registry().iter().filter(|b| !crate::compile::NETWORK_BUILTINS.contains(&b.name)).collect();
    all.sort_by_key(|b| b.name);
    let builtins: Vec<Json> = all
        .iter()
        .map(|b| {
            let mut m = serde_json::Map::new();
            m.insert("name".into(), json!(b.name));
            let decl = parse_decl(b.decl).map(|f| f.to_json()).unwrap_or_else(|e| json!({"error": e}));
            m.insert("decl".into(), decl);
            if let Some(op) = b.infix {
                m.insert("infix".into(), json!(op));
            }
            if !b.deterministic {
                m.insert("nondeterministic".into(), json!(true));
            }
            Json::Object(m)
        })
        .collect();
    json!({ "builtins": builtins }).to_string()
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.s.get(self.i).is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, tok: &str) -> bool {
        self.ws();
        if self.s[self.i..].starts_with(tok.as_bytes()) {
            self.i += tok.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, tok: &str) -> Result<(), String> {
        if self.eat(tok) {
            Ok(())
        } else {
            Err(format!("expected {:?} at offset {}", tok, self.i))
        }
    }

    fn ident(&mut self) -> String {
        self.ws();
        let start = self.i;
        while self.s.get(self.i).is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_') {
            self.i += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }

    fn function(&mut self) -> Result<FnType, String> {
        self.expect("(")?;
        let mut args = Vec::new();
        let mut variadic = None;
        if !self.eat(")") {
            loop {
                let t = self.ty()?;
                if self.eat("...") {
                    variadic = Some(t);
                    self.expect(")")?;
                    break;
                }
                args.push(t);
                if self.eat(")") {
                    break;
                }
                self.expect(",")?;
            }
        }
        let result = if self.eat("=>") { Some(self.ty()?) } else { None };
        Ok(FnType { args, result, variadic })
    }

    fn list(&mut self, close: &str) -> Result<Vec<Type>, String> {
        let mut out = Vec::new();
        if self.eat(close) {
            return Ok(out);
        }
        loop {
            out.push(self.ty()?);
            if self.eat(close) {
                return Ok(out);
            }
            self.expect(",")?;
        }
    }

    fn key(&mut self) -> Result<String, String> {
        if self.peek() == Some(b'"') {
            self.i += 1;
            let start = self.i;
            while self.s.get(self.i).is_some_and(|c| *c != b'"') {
                self.i += 1;
            }
            let k = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
            self.expect("\"")?;
            Ok(k)
        } else {
            let k = self.ident();
            if k.is_empty() {
                return Err(format!("expected object key at offset {}", self.i));
            }
            Ok(k)
        }
    }

    fn ty(&mut self) -> Result<Type, String> {
        match self.peek() {
            Some(b'(') => return Ok(Type::Function(Box::new(self.function()?))),
            Some(b'[') => {
                self.i += 1;
                return Ok(Type::Array { fixed: self.list("]")?, dynamic: None });
            }
            Some(b'{') => {
                self.i += 1;
                let mut fixed = Vec::new();
                let mut dynamic = None;
                if self.eat("}") {
                    return Ok(Type::Object { fixed, dynamic });
                }
                loop {
                    if self.eat("|") {
                        let k = self.ty()?;
                        self.expect(":")?;
                        let v = self.ty()?;
                        dynamic = Some(Box::new((k, v)));
                        self.expect("}")?;
                        break;
                    }
                    let k = self.key()?;
                    self.expect(":")?;
                    fixed.push((k, self.ty()?));
                    if self.eat("}") {
                        break;
                    }
                    if self.peek() != Some(b'|') {
                        self.expect(",")?;
                    }
                }
                return Ok(Type::Object { fixed, dynamic });
            }
            _ => {}
        }
        let at = self.i;
        match self.ident().as_str() {
            "any" => {
                if self.eat("<") {
                    Ok(Type::Any(self.list(">")?))
                } else {
                    Ok(Type::Any(Vec::new()))
                }
            }
            "null" => Ok(Type::Null),
            "boolean" => Ok(Type::Boolean),
            "number" => Ok(Type::Number),
            "string" => Ok(Type::String),
            "array" => {
                self.expect("[")?;
                let t = self.ty()?;
                self.expect("]")?;
                Ok(Type::Array { fixed: Vec::new(), dynamic: Some(Box::new(t)) })
            }
            "set" => {
                self.expect("[")?;
                let t = self.ty()?;
                self.expect("]")?;
                Ok(Type::Set(Box::new(t)))
            }
            "object" => {
                self.expect("[")?;
                let k = self.ty()?;
                self.expect(":")?;
                let v = self.ty()?;
                self.expect("]")?;
                Ok(Type::Object { fixed: Vec::new(), dynamic: Some(Box::new((k, v))) })
            }
            other => Err(format!("unknown type {:?} at offset {}", other, at)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(s: &str) -> String {
        decl_json(s).unwrap_or_else(|e| e)
    }

    #[test]
    fn simple() {
        assert_eq!(j("(string) => boolean"), r#"{"args":[{"type":"string"}],"result":{"type":"boolean"},"type":"function"}"#);
    }
    #[test]
    fn union() {
        assert_eq!(j("(any<null, string>) => any"), r#"{"args":[{"of":[{"type":"null"},{"type":"string"}],"type":"any"}],"result":{"type":"any"},"type":"function"}"#);
    }
    #[test]
    fn variadic() {
        assert_eq!(j("(any...)"), r#"{"type":"function","variadic":{"type":"any"}}"#);
    }
    #[test]
    fn static_array() {
        assert_eq!(j("() => [any, string]"), r#"{"result":{"static":[{"type":"any"},{"type":"string"}],"type":"array"},"type":"function"}"#);
    }
    #[test]
    fn mixed_object() {
        let t = parse_type(r#"{op: string, "path": any | any: any}"#).map(|t| t.to_json().to_string());
        assert_eq!(t.as_deref(), Ok(r#"{"dynamic":{"key":{"type":"any"},"value":{"type":"any"}},"static":[{"key":"op","value":{"type":"string"}},{"key":"path","value":{"type":"any"}}],"type":"object"}"#));
    }
    #[test]
    fn arity() {
        assert_eq!(parse_decl("(number, number) => number").map(|f| f.arity()), Ok(2));
    }
    #[test]
    fn bad() {
        assert!(parse_decl("(strin) => any").is_err());
    }
}
