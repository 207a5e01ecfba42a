//! Ad-hoc queries (`opa eval` style): parse, compile against a policy,
//! evaluate, and shape the rows as `opa eval --format json` does.


use crate::ast::{Expr, ExprKind, Span, Term, TermKind};
use crate::compile::Compiler;
use crate::eval::{Evaluator, Frame, Limits};
use crate::value::{Map, Value};
use crate::{EvalLimits, Policy, QueryError};
use crate::error::Diagnostic;
use std::sync::Arc;

/// One expression of a result row.
#[derive(Clone, Debug)]
pub struct ExprValue {
    pub value: Value,
    pub text: String,
    pub row: u32,
    pub col: u32,
}

#[derive(Clone, Debug)]
pub struct Row {
    pub expressions: Vec<ExprValue>,
    /// User variables (not `_` wildcards or generated ones), by name.
    pub bindings: Vec<(String, Value)>,
}

#[derive(Clone, Debug, Default)]
pub struct QueryResult {
    pub rows: Vec<Row>,
    pub prints: Vec<crate::PrintLine>,
    pub cacheable: bool,
}

impl QueryResult {
    /// `{"result":[{"expressions":[...],"bindings":{...}}]}`, `{}` when undefined; the
    /// `print` lines, when there are any, under `prints` (the CLI writes them to stderr).
    pub fn to_value(&self) -> Value {
        let mut top = Map::new();
        if !self.prints.is_empty() {
            top.insert(Value::from("prints"), Value::from_array(self.prints.iter().map(crate::PrintLine::to_value).collect()));
        }
        if self.rows.is_empty() {
            return Value::from_map(top);
        }
        let rows = self
            .rows
            .iter()
            .map(|r| {
                let mut m = Map::new();
                let exprs = r
                    .expressions
                    .iter()
                    .map(|e| {
                        let mut em = Map::new();
                        em.insert(Value::from("value"), e.value.clone());
                        em.insert(Value::from("text"), Value::from(e.text.as_str()));
                        let mut loc = Map::new();
                        loc.insert(Value::from("row"), Value::int(e.row as i64));
                        loc.insert(Value::from("col"), Value::int(e.col as i64));
                        em.insert(Value::from("location"), Value::from_map(loc));
                        Value::from_map(em)
                    })
                    .collect();
                m.insert(Value::from("expressions"), Value::from_array(exprs));
                if !r.bindings.is_empty() {
                    let b: Map = r.bindings.iter().map(|(k, v)| (Value::from(k.as_str()), v.clone())).collect();
                    m.insert(Value::from("bindings"), Value::from_map(b));
                }
                Value::from_map(m)
            })
            .collect();
        top.insert(Value::from("result"), Value::from_array(rows));
        Value::from_map(top)
    }

    pub fn to_json(&self) -> String {
        self.to_value().to_json()
    }
}

pub fn run(policy: &Policy, text: &str, input: Option<&Value>, limits: &EvalLimits) -> Result<QueryResult, QueryError> {
    // The query is file number `n` after the policy's files, so diagnostics point into it.
    let mut files: Vec<(String, String)> = policy.compiled().files.clone();
    let qfile = files.len() as u32;
    files.push(("<query>".to_string(), text.to_string()));
    let mut body: Vec<Expr> = crate::parser::parse_query(text, qfile).map_err(|errs| {
        QueryError::Compile(
            errs.iter()
                .map(|e| {
                    let (line, col) = crate::lexer::line_col(text, e.offset);
                    Diagnostic { code: "rego_parse_error", message: e.message.clone(), file: "<query>".into(), line, col }
                })
                .collect(),
        )
    })?;
    // Remember source order and text before the compiler reorders.
    let mut spans: Vec<Span> = body.iter().map(|e| e.span).collect();
    let reports_false = matches!(body.as_slice(), [e] if !iterates(e));
    let mut c = Compiler::new(&files);
    c.set_tree_for_query(policy.compiled());
    let (nslots, vars) = c.compile_query(&mut body, &[]);
    if !c.diags.is_empty() {
        return Err(QueryError::Compile(c.diags));
    }
    spans.sort_by_key(|s| s.start);
    let order: Vec<usize> = body.iter().map(|e| spans.iter().position(|s| s.start == e.span.start).unwrap_or(0)).collect();
    let lim = Limits { max_steps: limits.max_steps, max_depth: limits.max_depth, deadline_ns: limits.deadline_ns, cancel: limits.cancel.clone() };
    let comp = policy.compiled();
    let mut ev = Evaluator::new(comp, policy.data().clone(), input.cloned(), policy.options().strict_builtin_errors, lim);
    let mut frame = Frame::new(nslots);
    ev.qvals = vec![Value::Null; body.len()];
    ev.query_reports_false = reports_false;
    let mut rows = Vec::new();
    let user_vars: Vec<(Arc<str>, u32)> = vars.into_iter().filter(|(n, _)| !n.starts_with('$')).collect();
    let done = ev.eval_query(&mut frame, &body, 0, &mut |ev, f| {
        let mut exprs: Vec<(usize, ExprValue)> = Vec::new();
        for (i, v) in ev.qvals.iter().enumerate() {
            let sp = spans[order[i]];
            let (row, col) = crate::lexer::line_col(text, sp.start);
            let t = text.get(sp.start as usize..sp.end as usize).unwrap_or("").to_string();
            exprs.push((order[i], ExprValue { value: v.clone(), text: t, row, col }));
        }
        exprs.sort_by_key(|(i, _)| *i);
        let mut bindings: Vec<(String, Value)> = Vec::new();
        for (n, s) in &user_vars {
            if let Some(v) = Evaluator::slot(f, *s) {
                if !bindings.iter().any(|(b, _)| b == &**n) {
                    bindings.push((n.to_string(), v));
                }
            }
        }
        bindings.sort_by(|a, b| a.0.cmp(&b.0));
        rows.push(Row { expressions: exprs.into_iter().map(|(_, e)| e).collect(), bindings });
        Ok(true)
    });
    if let Err(mut e) = done.and_then(|_| crate::check_finished_in_time(limits.deadline_ns)) {
        // What printed before the failure goes with it (`opa eval` writes it to stderr too).
        e.prints = std::mem::take(&mut ev.prints);
        return Err(QueryError::Eval(e));
    }
    Ok(QueryResult { rows, prints: std::mem::take(&mut ev.prints), cacheable: ev.cacheable })
}

/// Whether an expression, as written, enumerates: a variable (`_` included)
/// in a reference's path, or a call of the relation `walk`, outside
/// comprehensions. A one-expression query that does not is OPA's case of a
/// value reported even when `false`.
fn iterates(e: &Expr) -> bool {
    let in_with = e.with.iter().any(|w| term_iterates(&w.value));
    in_with
        || match &e.kind {
            ExprKind::Term(t) => term_iterates(t),
            ExprKind::Unify(a, b, _) => term_iterates(a) || term_iterates(b),
            ExprKind::Not(inner) => iterates(inner),
            ExprKind::SomeDecl(_) => false,
            ExprKind::SomeIn(k, v, c) => k.as_ref().is_some_and(term_iterates) || term_iterates(v) || term_iterates(c),
            ExprKind::Every(k, v, d, _) => k.as_ref().is_some_and(term_iterates) || term_iterates(v) || term_iterates(d),
        }
}

fn term_iterates(t: &Term) -> bool {
    match &t.kind {
        TermKind::Ref(head, path) => path.iter().any(|p| matches!(p.kind, TermKind::Var(_)) || term_iterates(p)) || term_iterates(head),
        TermKind::Call(c) => matches!(&c.func.kind, TermKind::Var(n) if &**n == "walk") || c.args.iter().any(term_iterates),
        TermKind::Array(xs) | TermKind::Set(xs) => xs.iter().any(term_iterates),
        TermKind::Object(kvs) => kvs.iter().any(|(k, v)| term_iterates(k) || term_iterates(v)),
        _ => false,
    }
}
