//! A parsed module as JSON in the shape of OPA's AST (`rego.parse_module`):
//! terms are `{"type": ..., "value": ...}`, expressions `{"index", "terms"}`,
//! rules `{"head", "body"}`.


use crate::ast::*;
use crate::value::{Map, Value};

fn obj(pairs: Vec<(&str, Value)>) -> Value {
    let m: Map = pairs.into_iter().map(|(k, v)| (Value::from(k), v)).collect();
    Value::from_map(m)
}

fn typed(t: &str, v: Value) -> Value {
    obj(vec![("type", Value::from(t)), ("value", v)])
}

fn var(n: &str) -> Value {
    typed("var", Value::from(n))
}

fn scalar(v: &Value) -> Value {
    match v {
        Value::Null => typed("null", Value::Null),
        Value::Bool(_) => typed("boolean", v.clone()),
        Value::Number(_) => typed("number", v.clone()),
        Value::String(_) => typed("string", v.clone()),
        Value::Array(a) => typed("array", Value::from_array(a.iter().map(scalar).collect())),
        Value::Set(s) => typed("set", Value::from_array(s.iter().map(scalar).collect())),
        Value::Object(o) => typed("object", Value::from_array(o.iter().map(|(k, x)| Value::from_array(vec![scalar(k), scalar(x)])).collect())),
    }
}

fn name_ref(name: &str) -> Value {
    let mut parts = name.split('.');
    let mut out = vec![var(parts.next().unwrap_or(""))];
    out.extend(parts.map(|p| typed("string", Value::from(p))));
    typed("ref", Value::from_array(out))
}

pub fn term(t: &Term) -> Value {
    match &t.kind {
        TermKind::Scalar(v) => scalar(v),
        TermKind::Var(n) | TermKind::Local(_, n) => var(if n.starts_with("$_") { "_" } else { n }),
        TermKind::Data => var("data"),
        TermKind::Input => var("input"),
        TermKind::Ref(h, p) => {
            let mut items = vec![term(h)];
            items.extend(p.iter().map(term));
            typed("ref", Value::from_array(items))
        }
        TermKind::Array(i) => typed("array", Value::from_array(i.iter().map(term).collect())),
        TermKind::Set(i) => typed("set", Value::from_array(i.iter().map(term).collect())),
        TermKind::Object(i) => typed("object", Value::from_array(i.iter().map(|(k, v)| Value::from_array(vec![term(k), term(v)])).collect())),
        TermKind::ArrayCompr(h, b) => typed("arraycomprehension", obj(vec![("term", term(h)), ("body", body(b))])),
        TermKind::SetCompr(h, b) => typed("setcomprehension", obj(vec![("term", term(h)), ("body", body(b))])),
        TermKind::ObjectCompr(k, v, b) => typed("objectcomprehension", obj(vec![("key", term(k)), ("value", term(v)), ("body", body(b))])),
        TermKind::Call(c) => {
            let f = match &c.target {
                CallTarget::Builtin(n) => name_ref(n),
                _ => term(&c.func),
            };
            let mut items = vec![f];
            items.extend(c.args.iter().map(term));
            typed("call", Value::from_array(items))
        }
    }
}

fn call_terms(name: &str, args: &[&Term]) -> Value {
    let mut items = vec![name_ref(name)];
    items.extend(args.iter().map(|t| term(t)));
    Value::from_array(items)
}

fn expr(e: &Expr, index: usize) -> Value {
    let mut pairs = vec![("index", Value::int(index as i64))];
    let terms = match &e.kind {
        ExprKind::Term(Term { kind: TermKind::Call(c), .. }) => {
            let args: Vec<&Term> = c.args.iter().collect();
            let name = match &c.target {
                CallTarget::Builtin(n) => n.to_string(),
                _ => String::new(),
            };
            if name.is_empty() {
                let mut items = vec![term(&c.func)];
                items.extend(args.iter().map(|t| term(t)));
                Value::from_array(items)
            } else {
                call_terms(&name, &args)
            }
        }
        ExprKind::Term(t) => term(t),
        ExprKind::Unify(a, b, assign) => call_terms(if *assign { "assign" } else { "eq" }, &[a, b]),
        ExprKind::Not(inner) => {
            pairs.push(("negated", Value::Bool(true)));
            match expr(inner, index).field("terms") {
                Some(t) => t.clone(),
                None => Value::Null,
            }
        }
        ExprKind::SomeDecl(vars) => typed("somedecl", Value::from_array(vars.iter().map(term).collect())),
        ExprKind::SomeIn(k, v, c) => {
            let mut args: Vec<&Term> = Vec::new();
            if let Some(k) = k {
                args.push(k);
            }
            args.push(v);
            args.push(c);
            let name = if k.is_some() { "internal.member_3" } else { "internal.member_2" };
            typed("somedecl", Value::from_array(vec![typed("call", call_terms(name, &args))]))
        }
        ExprKind::Every(k, v, d, b) => typed(
            "every",
            obj(vec![
                ("key", k.as_ref().map(term).unwrap_or(Value::Null)),
                ("value", term(v)),
                ("domain", term(d)),
                ("body", body(b)),
            ]),
        ),
    };
    pairs.push(("terms", terms));
    if !e.with.is_empty() {
        pairs.push(("with", Value::from_array(e.with.iter().map(|w| obj(vec![("target", term(&w.target)), ("value", term(&w.value))])).collect())));
    }
    obj(pairs)
}

fn body(b: &Body) -> Value {
    Value::from_array(b.iter().enumerate().map(|(i, e)| expr(e, i)).collect())
}

fn rule(r: &Rule) -> Value {
    let name = match r.head.first().map(|t| &t.kind) {
        Some(TermKind::Scalar(Value::String(s))) => s.to_string(),
        _ => String::new(),
    };
    let reference: Vec<Value> = r
        .head
        .iter()
        .enumerate()
        .map(|(i, t)| match (&t.kind, i) {
            (TermKind::Scalar(Value::String(s)), 0) => var(s),
            _ => term(t),
        })
        .collect();
    let mut head = vec![("name", Value::from(name)), ("ref", Value::from_array(reference))];
    if !r.args.is_empty() {
        head.push(("args", Value::from_array(r.args.iter().map(term).collect())));
    }
    if let Some(k) = &r.key {
        head.push(("key", term(k)));
    }
    if r.kind != RuleKind::Set {
        head.push(("value", term(&r.value)));
    }
    if r.assign {
        head.push(("assign", Value::Bool(true)));
    }
    let b = if r.body.is_empty() { Value::from_array(vec![obj(vec![("index", Value::int(0)), ("terms", typed("boolean", Value::Bool(true)))])]) } else { body(&r.body) };
    let mut pairs = vec![("head", obj(head)), ("body", b)];
    if r.default {
        pairs.push(("default", Value::Bool(true)));
    }
    if let Some(e) = &r.else_ {
        pairs.push(("else", rule(e)));
    }
    obj(pairs)
}

pub fn module(m: &Module) -> Value {
    let mut path = vec![var("data")];
    path.extend(m.package.iter().map(|s| typed("string", Value::from(s.as_str()))));
    let mut pairs = vec![("package", obj(vec![("path", Value::from_array(path))]))];
    if !m.imports.is_empty() {
        let imports = m
            .imports
            .iter()
            .map(|i| {
                let mut p = vec![("path", name_ref(&i.path.join(".")))];
                if let Some(a) = &i.alias {
                    p.push(("alias", Value::from(a.as_str())));
                }
                obj(p)
            })
            .collect();
        pairs.push(("imports", Value::from_array(imports)));
    }
    if !m.rules.is_empty() {
        pairs.push(("rules", Value::from_array(m.rules.iter().map(rule).collect())));
    }
    obj(pairs)
}
