//! Static questions about a compiled policy: which parts of `input` a
//! decision can read (for decision cache keys).


use crate::ast::*;
use crate::compile::{CRule, Compiled};
use crate::value::Value;
use std::collections::BTreeSet;

/// The input paths (steps after `input`) that evaluating `term` can read,
/// following rules and functions transitively. A reference with a dynamic
/// step keeps its constant prefix; a use of the whole `input` gives `[]`.
/// The result is minimal: no path is a prefix of another.
pub fn input_paths(pol: &Compiled, term: &Term) -> Vec<Vec<Value>> {
    let mut a = Analysis { pol, paths: BTreeSet::new(), seen_nodes: vec![false; pol.tree.nodes.len()], work: Vec::new() };
    a.term(term);
    // A worklist rather than recursion: rule chains may be arbitrarily long.
    while let Some(r) = a.work.pop() {
        a.rule(&pol.rules[r]);
    }
    minimize(a.paths)
}

struct Analysis<'a> {
    pol: &'a Compiled,
    paths: BTreeSet<Vec<Value>>,
    seen_nodes: Vec<bool>,
    /// Rules reached but not yet scanned.
    work: Vec<usize>,
}

fn minimize(paths: BTreeSet<Vec<Value>>) -> Vec<Vec<Value>> {
    let mut out: Vec<Vec<Value>> = Vec::new();
    // Sorted order puts a prefix before its extensions.
    for p in paths {
        if !out.iter().any(|q| p.starts_with(q)) {
            out.push(p);
        }
    }
    out
}

impl<'a> Analysis<'a> {
    /// Every rule at or below the node for a data path prefix.
    fn data_path(&mut self, path: &[Option<Value>]) {
        let t = &self.pol.tree;
        let mut n = 0usize;
        self.node_rules(0, false);
        for seg in path {
            match seg {
                Some(k) => match t.child(n, k) {
                    Some(c) => {
                        n = c;
                        self.node_rules(n, false);
                    }
                    None => return,
                },
                None => break,
            }
        }
        self.node_rules(n, true);
    }

    fn node_rules(&mut self, n: usize, below: bool) {
        let pol = self.pol;
        let mut stack = vec![n];
        while let Some(x) = stack.pop() {
            let Some(node) = pol.tree.nodes.get(x) else { continue };
            if !self.seen_nodes[x] {
                self.seen_nodes[x] = true;
                self.work.extend(node.rules.iter().chain(node.default.iter()).copied());
            }
            if below {
                stack.extend(node.children.values().copied());
            }
        }
    }

    fn rule(&mut self, r: &'a CRule) {
        for a in &r.args {
            self.term(a);
        }
        self.body(&r.body);
        for t in r.tail.iter().chain(r.key.iter()).chain(std::iter::once(&r.value)) {
            self.term(t);
        }
        if let Some(e) = &r.else_ {
            self.rule(e);
        }
    }

    fn body(&mut self, b: &'a [Expr]) {
        for e in b {
            self.expr(e);
        }
    }

    fn expr(&mut self, e: &'a Expr) {
        match &e.kind {
            ExprKind::Term(t) => self.term(t),
            ExprKind::Unify(a, b, _) => {
                self.term(a);
                self.term(b);
            }
            ExprKind::Not(i) => self.expr(i),
            ExprKind::SomeDecl(_) => {}
            ExprKind::SomeIn(k, v, c) => {
                if let Some(k) = k {
                    self.term(k);
                }
                self.term(v);
                self.term(c);
            }
            ExprKind::Every(k, v, d, b) => {
                if let Some(k) = k {
                    self.term(k);
                }
                self.term(v);
                self.term(d);
                self.body(b);
            }
        }
        for w in &e.with {
            self.term(&w.value);
            if let Some(CallTarget::User(p)) = &w.value_func {
                let path: Vec<Option<Value>> = p.iter().cloned().map(Some).collect();
                self.data_path(&path);
            }
        }
    }

    fn term(&mut self, t: &'a Term) {
        match &t.kind {
            TermKind::Input => {
                self.paths.insert(Vec::new());
            }
            TermKind::Data => self.data_path(&[]),
            TermKind::Ref(h, p) => {
                match h.kind {
                    TermKind::Input => {
                        let mut path = Vec::new();
                        for s in p {
                            match &s.kind {
                                TermKind::Scalar(v) => path.push(v.clone()),
                                _ => break,
                            }
                        }
                        self.paths.insert(path);
                    }
                    TermKind::Data => {
                        let mut path = Vec::new();
                        for s in p {
                            match &s.kind {
                                TermKind::Scalar(v) => path.push(Some(v.clone())),
                                _ => {
                                    path.push(None);
                                    break;
                                }
                            }
                        }
                        self.data_path(&path);
                    }
                    _ => self.term(h),
                }
                for s in p {
                    self.term(s);
                }
            }
            TermKind::Array(i) | TermKind::Set(i) => i.iter().for_each(|x| self.term(x)),
            TermKind::Object(i) => i.iter().for_each(|(k, v)| {
                self.term(k);
                self.term(v);
            }),
            TermKind::ArrayCompr(h, b) | TermKind::SetCompr(h, b) => {
                self.term(h);
                self.body(b);
            }
            TermKind::ObjectCompr(k, v, b) => {
                self.term(k);
                self.term(v);
                self.body(b);
            }
            TermKind::Call(c) => {
                if let CallTarget::User(p) = &c.target {
                    let path: Vec<Option<Value>> = p.iter().cloned().map(Some).collect();
                    self.data_path(&path);
                }
                c.args.iter().for_each(|x| self.term(x));
            }
            TermKind::Scalar(_) | TermKind::Var(_) | TermKind::Local(..) => {}
        }
    }
}
