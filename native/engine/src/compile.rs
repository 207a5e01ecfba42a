//! From parsed modules to an evaluable policy: rules placed in the data tree,
//! variables resolved to frame slots or `data` references, calls resolved to
//! builtins or user functions, bodies reordered for safety, and OPA's
//! compile checks (unsafe variables, undefined functions, arity, recursion,
//! redeclaration, conflicting rule kinds).


use crate::ast::*;
use crate::builtins;
use crate::error::Diagnostic;
use crate::value::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// A rule after compilation.
#[derive(Debug)]
pub struct CRule {
    /// Ground path of the node the rule belongs to (under `data`).
    pub path: Arc<[Value]>,
    /// Head reference terms after the ground prefix (partial objects, ref heads).
    pub tail: Vec<Term>,
    pub kind: RuleKind,
    pub default: bool,
    pub args: Vec<Term>,
    pub key: Option<Term>,
    pub value: Term,
    pub body: Body,
    pub else_: Option<Box<CRule>>,
    pub nslots: u32,
    pub span: Span,
    /// The head value when it is a constant (lets evaluation skip rules).
    pub const_value: Option<Value>,
    /// Rule-scoped `# METADATA` annotations.
    pub annotation: Option<Value>,
    /// Length of the package part of `path`.
    pub pkg_len: usize,
}

/// `# METADATA` annotations by scope, keyed by path (under `data`).
#[derive(Debug, Default)]
pub struct Metadata {
    pub package: BTreeMap<Vec<Value>, Value>,
    pub subpackages: BTreeMap<Vec<Value>, Value>,
    pub document: BTreeMap<Vec<Value>, Value>,
}

#[derive(Debug, Default)]
pub struct Node {
    /// Where the node is under `data`.
    pub path: Arc<[Value]>,
    pub children: BTreeMap<Value, usize>,
    /// Non-default rules whose ground path is exactly this node.
    pub rules: Vec<usize>,
    pub default: Option<usize>,
    pub is_func: bool,
    /// Number of arguments of the function defined here.
    pub arity: Option<usize>,
    /// Some rule (or function) lives at or below this node.
    pub has_rules_below: bool,
    /// Below a node with rules (`p.a` of `p[k] := 1` and `p.a.b := 2`): part of that rule
    /// set's document, so it exists only when some rule below it is defined (OPA). Other
    /// nodes without rules (packages, `p.a` of a lone `p.a.b := 1`) are `{}` at least.
    pub in_rule_doc: bool,
    /// Rules selected by the value at one input path (see `RuleIndex`).
    pub index: Option<RuleIndex>,
}

/// A rule index over one input path: most bodies of the node test
/// `input.a.b == "const"`, so only the rules whose constant matches the
/// input (plus those without such a test) need evaluating.
#[derive(Debug, Clone)]
pub struct RuleIndex {
    pub path: Vec<Value>,
    pub by_value: BTreeMap<Value, Vec<usize>>,
    /// Rules without an equality test on `path`, evaluated always.
    pub rest: Vec<usize>,
}

/// Rules with fewer candidates are not worth indexing.
const INDEX_MIN_RULES: usize = 4;

/// `input.a.b == const`, `input.a.b = const` and `input.a.b in {c1, c2}`
/// among the top-level expressions of a body: the input path and the values
/// it must have for the body to succeed.
fn index_keys(body: &Body) -> Vec<(Vec<Value>, Vec<Value>)> {
    let mut out = Vec::new();
    for e in body {
        if !e.with.is_empty() {
            continue;
        }
        let (pair, member) = match &e.kind {
            ExprKind::Unify(a, b, false) => (Some((a, b)), false),
            ExprKind::Term(Term { kind: TermKind::Call(c), .. }) if c.args.len() == 2 => match &c.target {
                CallTarget::Builtin(n) if &**n == "equal" => (Some((&c.args[0], &c.args[1])), false),
                CallTarget::Builtin(n) if &**n == "internal.member_2" => (Some((&c.args[0], &c.args[1])), true),
                _ => (None, false),
            },
            _ => (None, false),
        };
        let Some((a, b)) = pair else { continue };
        if member {
            if let (Some(p), TermKind::Scalar(coll @ (Value::Array(_) | Value::Set(_) | Value::Object(_)))) = (ground_input_path(a), &b.kind) {
                let vals: Vec<Value> = match coll {
                    Value::Array(x) => x.iter().cloned().collect(),
                    Value::Set(x) => x.iter().cloned().collect(),
                    Value::Object(x) => x.values().cloned().collect(),
                    _ => Vec::new(),
                };
                out.push((p, vals));
            }
            continue;
        }
        for (r, v) in [(a, b), (b, a)] {
            if let (Some(p), TermKind::Scalar(val)) = (ground_input_path(r), &v.kind) {
                out.push((p, vec![val.clone()]));
            }
        }
    }
    out
}

fn ground_input_path(t: &Term) -> Option<Vec<Value>> {
    match &t.kind {
        TermKind::Ref(h, p) if matches!(h.kind, TermKind::Input) => p
            .iter()
            .map(|s| match &s.kind {
                TermKind::Scalar(v) => Some(v.clone()),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

#[derive(Debug, Default)]
pub struct Tree {
    pub nodes: Vec<Node>,
}

impl Tree {
    pub fn child(&self, n: usize, key: &Value) -> Option<usize> {
        self.nodes.get(n).and_then(|node| node.children.get(key).copied())
    }

    /// Follows the constant segments of `path` from node `n` through
    /// packages (nodes without rules or functions): the node reached and the
    /// number of segments consumed.
    pub fn through_packages(&self, mut n: usize, path: &[Term]) -> (usize, usize) {
        let mut used = 0;
        for seg in path {
            let nd = &self.nodes[n];
            if nd.is_func || !nd.rules.is_empty() || nd.default.is_some() {
                break;
            }
            let TermKind::Scalar(key) = &seg.kind else { break };
            let Some(c) = self.child(n, key) else { break };
            n = c;
            used += 1;
        }
        (n, used)
    }

    /// The rule node a `data` reference reaches through packages, and the
    /// number of segments that reach it; `None` when it ends elsewhere.
    pub fn rule_node_of(&self, path: &[Term]) -> Option<(u32, u32)> {
        let (n, used) = self.through_packages(0, path);
        let nd = &self.nodes[n];
        let has_rules = !nd.rules.is_empty() || nd.default.is_some();
        (has_rules && !nd.is_func).then(|| (n as u32, used as u32))
    }
    fn ensure(&mut self, path: &[Value]) -> usize {
        let mut n = 0;
        for k in path {
            n = match self.nodes[n].children.get(k) {
                Some(&c) => c,
                None => {
                    let mut child_path = self.nodes[n].path.to_vec();
                    child_path.push(k.clone());
                    self.nodes.push(Node { path: child_path.into(), ..Node::default() });
                    let c = self.nodes.len() - 1;
                    self.nodes[n].children.insert(k.clone(), c);
                    c
                }
            };
            self.nodes[n].has_rules_below = true;
        }
        self.nodes[0].has_rules_below = true;
        n
    }
    /// The node at a ground path.
    pub fn find(&self, path: &[Value]) -> Option<usize> {
        let mut n = 0;
        for k in path {
            n = self.child(n, k)?;
        }
        Some(n)
    }
}

pub struct Compiled {
    pub rules: Vec<CRule>,
    pub metadata: Metadata,
    pub tree: Tree,
    /// Source texts, for turning spans into line/col.
    pub files: Vec<(String, String)>,
}

struct ModInfo {
    package: Vec<Value>,
    /// alias → path (first element "data" or "input").
    imports: HashMap<String, Vec<String>>,
    file: u32,
    /// Rego v1 module: deprecated builtins are not allowed.
    v1: bool,
}

/// Builtins Rego v1 no longer allows (OPA's deprecated list).
const DEPRECATED_BUILTINS: &[&str] =
    &["any", "all", "re_match", "net.cidr_overlap", "set_diff", "cast_array", "cast_set", "cast_string", "cast_boolean", "cast_null", "cast_object"];

pub struct Compiler<'a> {
    pub files: &'a [(String, String)],
    pub diags: Vec<Diagnostic>,
    /// Root names of the rules in each package.
    pkg_rules: HashMap<Vec<Value>, HashSet<String>>,
    tree: Tree,
    rules: Vec<CRule>,
    metadata: Metadata,
    /// The call being resolved is a whole expression (`f(x, out)`): only there may
    /// a builtin take one extra, output argument; nested calls must match the arity.
    call_is_statement: bool,
}

fn sv(s: &str) -> Value {
    Value::from(s)
}

/// Builtins that reach the network. Policies here make no network calls: a
/// call is a compile error naming the builtin, unless the policy set mocks
/// it (`with http.send as f`, as tests do).
pub const NETWORK_BUILTINS: [&str; 2] = ["http.send", "net.lookup_ip_addr"];

/// OPA's own error for a builtin its capabilities leave out (as `opa eval --capabilities` reports it).
fn network_builtin_error(name: &str) -> String {
    format!("undefined function {}", name)
}

/// Number of arguments in a builtin decl `(a, b) => r`.
pub fn decl_arity(decl: &str) -> Option<usize> {
    let d = decl.trim();
    if !d.starts_with('(') {
        return None;
    }
    let mut depth = 0i32;
    let mut count = 0usize;
    let mut any = false;
    for (i, c) in d.char_indices() {
        match c {
            '(' | '[' | '{' | '<' => {
                depth += 1;
                if depth > 1 {
                    any = true;
                }
            }
            ')' | ']' | '}' | '>' => {
                // `=>` is not a closer.
                if c == '>' && d[..i].ends_with('=') {
                    continue;
                }
                depth -= 1;
                if depth == 0 {
                    if d[..i].ends_with("...") {
                        return None;
                    }
                    return Some(if any { count + 1 } else { 0 });
                }
            }
            ',' if depth == 1 => count += 1,
            c if depth >= 1 && !c.is_whitespace() => any = true,
            _ => {}
        }
    }
    None
}

const T_NULL: u8 = 1;
const T_BOOL: u8 = 2;
const T_NUM: u8 = 4;
const T_STR: u8 = 8;
const T_ARR: u8 = 16;
const T_OBJ: u8 = 32;
const T_SET: u8 = 64;
const T_ANY: u8 = 127;

fn type_name_of(t: u8) -> &'static str {
    match t {
        T_NULL => "null",
        T_BOOL => "boolean",
        T_NUM => "number",
        T_STR => "string",
        T_ARR => "array[any]",
        T_OBJ => "object[any: any]",
        T_SET => "set[any]",
        _ => "any",
    }
}

/// The type of a literal term, when it is evident without inference.
fn literal_type(t: &Term) -> Option<u8> {
    match &t.kind {
        TermKind::Scalar(v) => Some(match v {
            Value::Null => T_NULL,
            Value::Bool(_) => T_BOOL,
            Value::Number(_) => T_NUM,
            Value::String(_) => T_STR,
            Value::Array(_) => T_ARR,
            Value::Object(_) => T_OBJ,
            Value::Set(_) => T_SET,
        }),
        TermKind::Array(_) | TermKind::ArrayCompr(..) => Some(T_ARR),
        TermKind::Object(_) | TermKind::ObjectCompr(..) => Some(T_OBJ),
        TermKind::Set(_) | TermKind::SetCompr(..) => Some(T_SET),
        _ => None,
    }
}

/// The base type of a term when evident: a literal, a variable assigned
/// once from one, or a builtin call whose declared result is one base type.
fn term_type(t: &Term, scope: &Scope) -> Option<u8> {
    if let Some(x) = literal_type(t) {
        return Some(x);
    }
    match &t.kind {
        TermKind::Local(s, _) => scope.types.get(s).copied(),
        TermKind::Call(c) => {
            let CallTarget::Builtin(n) = &c.target else { return None };
            let b = builtins::lookup(n)?;
            // The output form `f(x, out)` is a boolean expression, not the result.
            if c.arity != Some(c.args.len()) {
                return None;
            }
            let ret = b.decl.rsplit_once("=>")?.1.trim();
            let bits = coarse_types(ret);
            (bits.count_ones() == 1).then_some(bits)
        }
        _ => None,
    }
}

/// Splits `a, b<c, d>, e` at top-level commas.
fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' | '[' | '{' | '<' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            '>' if !s[..i].ends_with('=') => depth -= 1,
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    let last = s[start..].trim();
    if !last.is_empty() {
        out.push(last);
    }
    out
}

/// The parameter types of a decl `(a, b) => r` (None for variadic or unparsable).
fn decl_params(decl: &str) -> Option<Vec<String>> {
    let d = decl.trim();
    let inner = d.strip_prefix('(')?;
    let mut depth = 1i32;
    let mut end = None;
    for (i, c) in inner.char_indices() {
        match c {
            '(' | '[' | '{' | '<' => depth += 1,
            ')' | ']' | '}' => {
                depth -= 1;
                if depth == 0 {
                    end = Some(i);
                    break;
                }
            }
            '>' if !inner[..i].ends_with('=') => depth -= 1,
            _ => {}
        }
    }
    let params = &inner[..end?];
    if params.contains("...") {
        return None;
    }
    Some(split_top(params).into_iter().map(|p| {
        // Named parameters (`x: string`) are allowed in declarations.
        match p.split_once(':') {
            Some((n, t)) if !n.contains(['[', '{', '<', '(']) && n.trim().chars().all(|c| c.is_alphanumeric() || c == '_') => t.trim().to_string(),
            _ => p.to_string(),
        }
    }).collect())
}

/// The base types a declared type admits, as a bit set.
fn coarse_types(t: &str) -> u8 {
    let t = t.trim();
    if let Some(rest) = t.strip_prefix("any<") {
        let inner = rest.strip_suffix('>').unwrap_or(rest);
        return split_top(inner).iter().fold(0, |acc, x| acc | coarse_types(x));
    }
    if t.starts_with("array") || t.starts_with('[') {
        return T_ARR;
    }
    if t.starts_with("set") {
        return T_SET;
    }
    if t.starts_with("object") || t.starts_with('{') {
        return T_OBJ;
    }
    match t {
        "null" => T_NULL,
        "boolean" => T_BOOL,
        "number" => T_NUM,
        "string" => T_STR,
        _ => T_ANY,
    }
}

/// Evaluator-implemented builtins: name, arity (None = variadic), deterministic.
pub const EVALUATOR_BUILTINS: &[(&str, Option<usize>, bool)] = &[
    ("eq", Some(2), true),
    ("assign", Some(2), true),
    ("internal.member_2", Some(2), true),
    ("internal.member_3", Some(3), true),
    ("walk", Some(1), true),
    ("print", None, true),
    ("internal.print", None, true),
    ("trace", Some(1), true),
    ("opa.runtime", Some(0), false),
];

/// Arity of a builtin by name (None = unknown builtin, Some(None) = variadic).
pub fn builtin_arity(name: &str) -> Option<Option<usize>> {
    if let Some(b) = builtins::lookup(name) {
        return Some(decl_arity(b.decl));
    }
    if let Some((_, a, _)) = EVALUATOR_BUILTINS.iter().find(|(n, _, _)| *n == name) {
        return Some(*a);
    }
    fallback_arity(name).map(Some)
}

/// Operators the evaluator can compute itself while the registry lacks them.
pub fn fallback_arity(name: &str) -> Option<usize> {
    match name {
        "equal" | "neq" | "lt" | "lte" | "gt" | "gte" | "plus" | "minus" | "mul" | "div" | "rem" | "and" | "or" => Some(2),
        "count" => Some(1),
        "startswith" | "endswith" | "contains" => Some(2),
        _ => None,
    }
}

struct Scope {
    frames: Vec<HashMap<Arc<str>, u32>>,
    implicit: HashMap<Arc<str>, u32>,
    /// Implicit vars first seen in the rule body itself (not in a closure).
    implicit_top: HashSet<Arc<str>>,
    nslots: u32,
    /// Base types of variables assigned once (`x := "a"`), for type checks.
    types: HashMap<u32, u8>,
}

impl Scope {
    fn new() -> Scope {
        Scope { frames: vec![HashMap::new()], implicit: HashMap::new(), implicit_top: HashSet::new(), nslots: 0, types: HashMap::new() }
    }
    fn lookup(&self, n: &str) -> Option<u32> {
        for f in self.frames.iter().rev() {
            if let Some(&s) = f.get(n) {
                return Some(s);
            }
        }
        self.implicit.get(n).copied()
    }
    fn declare(&mut self, n: &Arc<str>) -> u32 {
        let s = self.nslots;
        self.nslots += 1;
        if let Some(f) = self.frames.last_mut() {
            f.insert(n.clone(), s);
        }
        s
    }
    fn implicit_slot(&mut self, n: &Arc<str>) -> u32 {
        if let Some(s) = self.lookup(n) {
            return s;
        }
        let s = self.nslots;
        self.nslots += 1;
        self.implicit.insert(n.clone(), s);
        if self.frames.len() == 1 {
            self.implicit_top.insert(n.clone());
        }
        s
    }
}

impl<'a> Compiler<'a> {
    pub fn new(files: &'a [(String, String)]) -> Compiler<'a> {
        let mut tree = Tree::default();
        tree.nodes.push(Node::default());
        Compiler { files, diags: Vec::new(), pkg_rules: HashMap::new(), tree, rules: Vec::new(), metadata: Metadata::default(), call_is_statement: false }
    }

    /// Whether some module replaces builtin `name` with `with name as ...`.
    fn mocked(&self, name: &str) -> bool {
        let needle = format!("with {} as", name);
        self.files.iter().any(|(_, src)| src.split_whitespace().collect::<Vec<_>>().join(" ").contains(&needle))
    }

    pub fn diag(&mut self, code: &'static str, span: Span, msg: impl Into<String>) {
        let (name, src) = self.files.get(span.file as usize).map(|(n, s)| (n.as_str(), s.as_str())).unwrap_or(("", ""));
        let (line, col) = crate::lexer::line_col(src, span.start);
        let d = Diagnostic { code, message: msg.into(), file: name.to_string(), line, col };
        if !self.diags.contains(&d) {
            self.diags.push(d);
        }
    }

    pub fn compile(mut self, modules: Vec<Module>) -> Result<Compiled, Vec<Diagnostic>> {
        // Pass 1: packages, rule names, tree placement.
        let mut infos = Vec::new();
        for (mi, m) in modules.iter().enumerate() {
            let package: Vec<Value> = m.package.iter().map(|s| sv(s)).collect();
            let names = self.pkg_rules.entry(package.clone()).or_default();
            for r in &m.rules {
                if let Some(TermKind::Scalar(Value::String(s))) = r.head.first().map(|t| &t.kind) {
                    names.insert(s.to_string());
                }
            }
            // `input` and `data` are reserved names in Rego v1.
            if m.v1 {
                for r in &m.rules {
                    if let Some(Term { kind: TermKind::Scalar(Value::String(s)), span, .. }) = r.head.first() {
                        if &**s == "input" || &**s == "data" {
                            let span = *span;
                            let s = s.to_string();
                            self.diag("rego_compile_error", span, format!("rules must not shadow {} (use a different rule name)", s));
                        }
                    }
                }
            }
            let mut imports = HashMap::new();
            for imp in &m.imports {
                if imp.path[0] != "data" && imp.path[0] != "input" {
                    continue;
                }
                let alias = imp.alias.clone().unwrap_or_else(|| imp.path.last().cloned().unwrap_or_default());
                if imports.contains_key(&alias) {
                    self.diag("rego_compile_error", imp.span, format!("import must not shadow import {}", alias));
                }
                imports.insert(alias, imp.path.clone());
            }
            if let Some(a) = &m.package_annotation {
                let scope = a.field("scope").and_then(|v| v.as_str()).unwrap_or("package").to_string();
                let target = if scope == "subpackages" { &mut self.metadata.subpackages } else { &mut self.metadata.package };
                target.entry(package.clone()).or_insert_with(|| a.clone());
            }
            infos.push(ModInfo { package, imports, file: m.package_span.file, v1: m.v1 });
            let _ = mi;
        }
        // Place every rule in the tree (ground prefix).
        let mut placed: Vec<(usize, usize, Rule)> = Vec::new(); // (module, node, rule)
        for (mi, m) in modules.into_iter().enumerate() {
            let pkg = infos[mi].package.clone();
            // A package is a document even without rules: `data.a.b` of an empty
            // `package a.b` is `{}` (OPA).
            self.tree.ensure(&pkg);
            for r in m.rules {
                let mut path = pkg.clone();
                let mut i = 0;
                while i < r.head.len() {
                    match &r.head[i].kind {
                        TermKind::Scalar(v) => path.push(v.clone()),
                        _ => break,
                    }
                    i += 1;
                }
                // A ref head with vars: the last ground element is the object holding the keys.
                let node = self.tree.ensure(&path);
                if r.kind == RuleKind::Function {
                    self.tree.nodes[node].is_func = true;
                    self.tree.nodes[node].arity.get_or_insert(r.args.len());
                }
                placed.push((mi, node, r));
            }
        }
        // Pass 2: compile each rule.
        for (mi, node, r) in placed {
            let info = &infos[mi];
            let path: Vec<Value> = {
                let mut p = info.package.clone();
                for t in &r.head {
                    match &t.kind {
                        TermKind::Scalar(v) => p.push(v.clone()),
                        _ => break,
                    }
                }
                p
            };
            let ground = path.len() - info.package.len();
            let is_default = r.default;
            if let Some(a) = &r.annotation {
                if a.field("scope").and_then(|v| v.as_str()) == Some("document") {
                    self.metadata.document.entry(path.clone()).or_insert_with(|| a.clone());
                }
            }
            let cr = self.compile_rule(info, Arc::from(path.as_slice()), ground, r);
            let idx = self.rules.len();
            self.rules.push(cr);
            let n = &mut self.tree.nodes[node];
            if is_default {
                if n.default.is_some() {
                    let span = self.rules[idx].span;
                    self.diag("rego_type_error", span, "multiple default rules named ".to_string() + &path_string(&self.rules[idx].path) + " found");
                } else {
                    n.default = Some(idx);
                }
            } else {
                n.rules.push(idx);
            }
        }
        self.mark_rule_documents();
        self.check_conflicts();
        self.check_recursion();
        self.build_indexes();
        let tree = &self.tree;
        for r in &mut self.rules {
            finish_rule(tree, r);
        }
        // OPA stops at the first failing stage: calls to unknown functions are
        // reported before safety, whose errors they would only cascade into.
        if self.diags.iter().any(|d| d.message.starts_with("undefined function")) {
            self.diags.retain(|d| d.code != "rego_unsafe_var_error");
        }
        if !self.diags.is_empty() {
            // By position, as OPA lists them.
            let order: HashMap<String, usize> = self.files.iter().enumerate().map(|(i, (n, _))| (n.clone(), i)).collect();
            self.diags.sort_by_key(|d| (order.get(&d.file).copied().unwrap_or(usize::MAX), d.line, d.col));
            return Err(self.diags);
        }
        Ok(Compiled { rules: self.rules, metadata: self.metadata, tree: self.tree, files: self.files.to_vec() })
    }

    fn mark_rule_documents(&mut self) {
        let mut stack = vec![(0usize, false)];
        while let Some((n, inside)) = stack.pop() {
            let nd = &mut self.tree.nodes[n];
            nd.in_rule_doc = inside;
            let below = inside || !nd.rules.is_empty() || nd.default.is_some();
            stack.extend(nd.children.values().map(|&c| (c, below)));
        }
    }

    fn build_indexes(&mut self) {
        for ni in 0..self.tree.nodes.len() {
            let rules = &self.tree.nodes[ni].rules;
            if rules.len() < INDEX_MIN_RULES {
                continue;
            }
            // Rules without else chains only: which of them run first does not matter.
            if rules.iter().any(|&r| self.rules[r].else_.is_some()) {
                continue;
            }
            let keys: Vec<(usize, Vec<(Vec<Value>, Vec<Value>)>)> = rules.iter().map(|&r| (r, index_keys(&self.rules[r].body))).collect();
            let mut counts: BTreeMap<Vec<Value>, usize> = BTreeMap::new();
            for (_, ks) in &keys {
                let mut seen = HashSet::new();
                for (p, _) in ks {
                    if seen.insert(p.clone()) {
                        *counts.entry(p.clone()).or_default() += 1;
                    }
                }
            }
            let Some((best, n)) = counts.into_iter().max_by_key(|(_, n)| *n) else { continue };
            if n < INDEX_MIN_RULES / 2 {
                continue;
            }
            let mut by_value: BTreeMap<Value, Vec<usize>> = BTreeMap::new();
            let mut rest = Vec::new();
            for (r, ks) in keys {
                // Any one test on the path is a necessary condition; use the first.
                match ks.iter().find(|(p, _)| *p == best) {
                    Some((_, vals)) => {
                        for v in vals {
                            let e = by_value.entry(v.clone()).or_default();
                            if e.last() != Some(&r) {
                                e.push(r);
                            }
                        }
                    }
                    None => rest.push(r),
                }
            }
            self.tree.nodes[ni].index = Some(RuleIndex { path: best, by_value, rest });
        }
    }

    fn check_conflicts(&mut self) {
        let mut errs = Vec::new();
        for n in &self.tree.nodes {
            let mut kinds = HashSet::new();
            let mut arity = HashSet::new();
            for &ri in n.rules.iter().chain(n.default.iter()) {
                let r = &self.rules[ri];
                let k = match (r.kind, r.tail.is_empty()) {
                    (RuleKind::Function, _) => 0,
                    (RuleKind::Set, _) => 1,
                    (RuleKind::Complete, true) => 2,
                    (RuleKind::Complete, false) => 3,
                };
                kinds.insert(k);
                if r.kind == RuleKind::Function {
                    arity.insert(r.args.len());
                }
            }
            if kinds.len() > 1 && !(kinds.len() == 2 && kinds.contains(&2) && kinds.contains(&3)) {
                if let Some(&ri) = n.rules.first() {
                    errs.push((self.rules[ri].span, format!("conflicting rules {} found", path_string(&self.rules[ri].path))));
                }
            } else if arity.len() > 1 {
                if let Some(&ri) = n.rules.first() {
                    errs.push((self.rules[ri].span, format!("conflicting rules {} found", path_string(&self.rules[ri].path))));
                }
            }
            if n.is_func && !n.children.is_empty() {
                // A function and a document sharing a prefix.
                if let Some(&ri) = n.rules.first() {
                    if self.rules[ri].kind == RuleKind::Function && self.tree_has_value_rules_below(n) {
                        errs.push((self.rules[ri].span, format!("rule {} conflicts with a rule below it", path_string(&self.rules[ri].path))));
                    }
                }
            }
        }
        for (s, m) in errs {
            self.diag("rego_type_error", s, m);
        }
    }

    fn tree_has_value_rules_below(&self, n: &Node) -> bool {
        n.children.values().any(|&c| {
            let cn = &self.tree.nodes[c];
            !cn.rules.is_empty() || self.tree_has_value_rules_below(cn)
        })
    }

    // ---- recursion ----

    fn check_recursion(&mut self) {
        // Edges: rule node → nodes its bodies reference.
        let n = self.tree.nodes.len();
        let mut node_of_rule = vec![0usize; self.rules.len()];
        for (ni, node) in self.tree.nodes.iter().enumerate() {
            for &r in node.rules.iter().chain(node.default.iter()) {
                node_of_rule[r] = ni;
            }
        }
        let mut edges: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (ri, r) in self.rules.iter().enumerate() {
            let mut refs = Vec::new();
            collect_rule_refs(r, &mut refs);
            for path in refs {
                // Every node along the path and, if the path ends at an inner node, everything below.
                let mut cur = 0usize;
                let mut ok = true;
                for (i, seg) in path.iter().enumerate() {
                    match seg {
                        Some(k) => match self.tree.child(cur, k) {
                            Some(c) => cur = c,
                            None => {
                                // Leaves the tree: base data (or inside a rule value).
                                ok = false;
                                break;
                            }
                        },
                        None => {
                            // Dynamic segment: left to the evaluator's check.
                            let _ = i;
                            ok = false;
                            break;
                        }
                    }
                    if !self.tree.nodes[cur].rules.is_empty() {
                        edges[node_of_rule[ri]].push(cur);
                    }
                }
                if ok {
                    let mut stack = vec![cur];
                    while let Some(c) = stack.pop() {
                        edges[node_of_rule[ri]].push(c);
                        stack.extend(self.tree.nodes[c].children.values().copied());
                    }
                }
            }
        }
        // Cycle detection (iterative DFS).
        let mut color = vec![0u8; n];
        let mut reported = HashSet::new();
        for start in 0..n {
            if color[start] != 0 || self.tree.nodes[start].rules.is_empty() {
                continue;
            }
            let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
            color[start] = 1;
            while let Some(&mut (v, ref mut i)) = stack.last_mut() {
                if *i < edges[v].len() {
                    let w = edges[v][*i];
                    *i += 1;
                    if color[w] == 1 && !self.tree.nodes[w].rules.is_empty() {
                        if reported.insert(w) {
                            // The cycle: from w's place on the DFS stack back to w.
                            let name = |n: usize| {
                                self.tree.nodes[n].rules.first().map(|&r| path_string(&self.rules[r].path)).unwrap_or_default()
                            };
                            let mut chain: Vec<String> = Vec::new();
                            if let Some(pos) = stack.iter().position(|&(x, _)| x == w) {
                                chain.extend(stack[pos..].iter().filter(|&&(x, _)| !self.tree.nodes[x].rules.is_empty()).map(|&(x, _)| name(x)));
                            }
                            let p = name(w);
                            chain.push(p.clone());
                            let span = self.tree.nodes[w].rules.first().map(|&r| self.rules[r].span).unwrap_or_default();
                            self.diags.push(self.mk_diag("rego_recursion_error", span, format!("rule {} is recursive: {}", p, chain.join(" -> "))));
                        }
                    } else if color[w] == 0 {
                        color[w] = 1;
                        stack.push((w, 0));
                    }
                } else {
                    color[v] = 2;
                    stack.pop();
                }
            }
        }
    }

    fn mk_diag(&self, code: &'static str, span: Span, msg: String) -> Diagnostic {
        let (name, src) = self.files.get(span.file as usize).map(|(n, s)| (n.as_str(), s.as_str())).unwrap_or(("", ""));
        let (line, col) = crate::lexer::line_col(src, span.start);
        Diagnostic { code, message: msg, file: name.to_string(), line, col }
    }

    // ---- rules ----

    fn compile_rule(&mut self, info: &ModInfo, path: Arc<[Value]>, ground: usize, r: Rule) -> CRule {
        let mut scope = Scope::new();
        let mut args = r.args;
        let mut body = r.body;
        hoist_template_args(&mut args, &mut body);
        for a in args.iter_mut() {
            self.declare_pattern(a, &mut scope, info);
        }
        self.resolve_body(&mut body, &mut scope, info);
        let mut tail: Vec<Term> = r.head.into_iter().skip(ground).collect();
        for t in tail.iter_mut() {
            self.resolve_term(t, &mut scope, info);
        }
        let mut key = r.key;
        if let Some(k) = key.as_mut() {
            self.resolve_term(k, &mut scope, info);
        }
        let mut value = r.value;
        self.resolve_term(&mut value, &mut scope, info);
        // Safety: order the body, then the head must be bound.
        let mut bound: HashSet<u32> = HashSet::new();
        for a in &args {
            pattern_vars(a, &mut bound);
        }
        self.order_body(&mut body, &mut bound);
        let mut head_terms: Vec<&Term> = tail.iter().collect();
        if let Some(k) = &key {
            head_terms.push(k);
        }
        head_terms.push(&value);
        let mut unsafe_vars = Vec::new();
        for t in head_terms {
            let mut need = Vec::new();
            input_vars(t, &mut need, true);
            for (s, n, sp) in need {
                if !bound.contains(&s) {
                    unsafe_vars.push((n, sp));
                }
            }
            self.check_nested(t, &bound);
        }
        for (n, sp) in unsafe_vars {
            if !n.starts_with('$') {
                self.diag("rego_unsafe_var_error", sp, format!("var {} is unsafe", n));
            }
        }
        let else_ = r.else_.map(|e| Box::new(self.compile_rule(info, path.clone(), ground, *e)));
        let const_value = if value.is_ground_literal() { value.literal_value() } else { None };
        let annotation = r.annotation.filter(|a| a.field("scope").and_then(|v| v.as_str()) != Some("document"));
        CRule {
            annotation,
            pkg_len: info.package.len(),
            path,
            tail,
            kind: r.kind,
            default: r.default,
            args,
            key,
            value,
            body,
            else_,
            nslots: scope.nslots,
            span: r.span,
            const_value,
        }
    }

    fn declare_pattern(&mut self, t: &mut Term, scope: &mut Scope, info: &ModInfo) {
        match &mut t.kind {
            TermKind::Var(n) => {
                let n = n.clone();
                if scope.frames.last().is_some_and(|f| f.contains_key(&n)) && !n.starts_with('$') {
                    self.diag("rego_compile_error", t.span, format!("var {} assigned above", n));
                } else if scope.frames.len() == 1 && scope.implicit_top.contains(&n) && !n.starts_with('$') {
                    self.diag("rego_compile_error", t.span, format!("var {} referenced above", n));
                }
                let s = scope.declare(&n);
                t.kind = TermKind::Local(s, n);
            }
            TermKind::Array(items) => {
                for i in items {
                    self.declare_pattern(i, scope, info);
                }
            }
            TermKind::Object(items) => {
                for (k, v) in items {
                    self.resolve_term(k, scope, info);
                    self.declare_pattern(v, scope, info);
                }
            }
            _ => self.resolve_term(t, scope, info),
        }
    }

    fn resolve_body(&mut self, body: &mut Body, scope: &mut Scope, info: &ModInfo) {
        let old = std::mem::take(body);
        for mut e in old {
            if let ExprKind::SomeDecl(vars) = &e.kind {
                for v in vars {
                    if let TermKind::Var(n) = &v.kind {
                        if scope.frames.last().is_some_and(|f| f.contains_key(n)) {
                            self.diag("rego_compile_error", v.span, format!("var {} declared above", n));
                        }
                        scope.declare(n);
                    }
                }
                continue;
            }
            self.resolve_expr(&mut e, scope, info);
            body.push(e);
        }
    }

    fn resolve_expr(&mut self, e: &mut Expr, scope: &mut Scope, info: &ModInfo) {
        for w in e.with.iter_mut() {
            self.resolve_with(w, scope, info);
        }
        match &mut e.kind {
            ExprKind::Term(t) => {
                self.call_is_statement = matches!(t.kind, TermKind::Call(_));
                self.resolve_term(t, scope, info)
            }
            ExprKind::Unify(a, b, assign) => {
                if *assign {
                    self.resolve_term(b, scope, info);
                    if !matches!(a.kind, TermKind::Var(_) | TermKind::Array(_) | TermKind::Object(_)) {
                        self.diag("rego_parse_error", a.span, "cannot assign to ref");
                    }
                    if let TermKind::Var(n) = &a.kind {
                        if n.as_ref() == "input" || n.as_ref() == "data" {
                            self.diag("rego_compile_error", a.span, format!("cannot assign to {}", n));
                        }
                    }
                    self.declare_pattern(a, scope, info);
                    if let TermKind::Local(slot, _) = a.kind {
                        if let Some(t) = term_type(b, scope) {
                            scope.types.insert(slot, t);
                        }
                    }
                } else {
                    self.resolve_term(a, scope, info);
                    self.resolve_term(b, scope, info);
                }
            }
            ExprKind::Not(inner) => self.resolve_expr(inner, scope, info),
            ExprKind::SomeDecl(_) => {}
            ExprKind::SomeIn(k, v, coll) => {
                self.resolve_term(coll, scope, info);
                if let Some(k) = k {
                    self.declare_pattern(k, scope, info);
                }
                self.declare_pattern(v, scope, info);
            }
            ExprKind::Every(k, v, dom, body) => {
                self.resolve_term(dom, scope, info);
                scope.frames.push(HashMap::new());
                if let Some(k) = k {
                    self.declare_pattern(k, scope, info);
                }
                self.declare_pattern(v, scope, info);
                self.resolve_body(body, scope, info);
                scope.frames.pop();
            }
        }
    }

    fn resolve_with(&mut self, w: &mut With, scope: &mut Scope, info: &ModInfo) {
        // A value naming a builtin (`with count as sum`) is a function, not a variable.
        if let Some(vn) = dotted_name_raw(&w.value) {
            let first = vn.split('.').next().unwrap_or("");
            if scope.lookup(first).is_none() && self.global_path(first, info).is_none() && first != "data" && first != "input"
                && builtin_arity(&vn).is_some() {
                    w.value_func = Some(CallTarget::Builtin(Arc::from(vn.as_str())));
                    w.value = Term::scalar(Value::Null, w.value.span);
                }
        }
        self.resolve_term(&mut w.value, scope, info);
        // Target: input/data path or a function.
        let dotted = dotted_name(&w.target);
        let mut t = w.target.clone();
        self.resolve_term(&mut t, &mut Scope::new(), info);
        let (root, path) = match &t.kind {
            TermKind::Input => (Some(false), Some(Vec::new())),
            TermKind::Data => (Some(true), Some(Vec::new())),
            TermKind::Ref(h, p) => {
                let root = match h.kind {
                    TermKind::Input => Some(false),
                    TermKind::Data => Some(true),
                    _ => None,
                };
                (root, p.iter().map(|s| match &s.kind {
                    TermKind::Scalar(v) => Some(v.clone()),
                    _ => None,
                }).collect::<Option<Vec<_>>>())
            }
            _ => (None, None),
        };
        w.kind = match (root, path) {
            (Some(false), Some(p)) => WithTarget::Input(p),
            (Some(true), Some(p)) => match self.tree.find(&p) {
                Some(n) if self.tree.nodes[n].is_func => WithTarget::User(Arc::from(p.as_slice())),
                _ => WithTarget::Data(p),
            },
            _ => match dotted {
                Some(name) if builtin_arity(&name).is_some() => WithTarget::Builtin(Arc::from(name.as_str())),
                _ => {
                    self.diag("rego_compile_error", w.target.span, "with keyword target must reference existing input, data, or a function");
                    WithTarget::Unresolved
                }
            },
        };
        if matches!(w.kind, WithTarget::Builtin(_) | WithTarget::User(_)) && w.value_func.is_none() {
            // The value may itself name a function.
            let vd = dotted_name_raw(&w.value);
            match &w.value.kind {
                TermKind::Ref(h, p) if matches!(h.kind, TermKind::Data) => {
                    let path: Option<Vec<Value>> = p.iter().map(|s| match &s.kind {
                        TermKind::Scalar(v) => Some(v.clone()),
                        _ => None,
                    }).collect();
                    if let Some(path) = path {
                        if let Some(n) = self.tree.find(&path) {
                            if self.tree.nodes[n].is_func {
                                w.value_func = Some(CallTarget::User(Arc::from(path.as_slice())));
                            }
                        }
                    }
                }
                TermKind::Local(..) | TermKind::Ref(..) => {
                    if let Some(name) = vd {
                        if builtin_arity(&name).is_some() && scope.lookup(&name).is_none() {
                            w.value_func = Some(CallTarget::Builtin(Arc::from(name.as_str())));
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn global_path(&self, name: &str, info: &ModInfo) -> Option<(bool, Vec<Value>)> {
        if let Some(p) = info.imports.get(name) {
            let is_data = p[0] == "data";
            return Some((is_data, p[1..].iter().map(|s| sv(s)).collect()));
        }
        if self.pkg_rules.get(&info.package).is_some_and(|s| s.contains(name)) {
            let mut p = info.package.clone();
            p.push(sv(name));
            return Some((true, p));
        }
        None
    }

    fn root_term(is_data: bool, path: Vec<Value>, span: Span) -> Term {
        let root = Term::new(if is_data { TermKind::Data } else { TermKind::Input }, span);
        if path.is_empty() {
            root
        } else {
            Term::new(TermKind::Ref(Box::new(root), path.into_iter().map(|v| Term::scalar(v, span)).collect()), span)
        }
    }

    fn resolve_term(&mut self, t: &mut Term, scope: &mut Scope, info: &ModInfo) {
        let span = t.span;
        match &mut t.kind {
            TermKind::Var(n) => {
                let n = n.clone();
                if let Some(s) = scope.lookup(&n) {
                    t.kind = TermKind::Local(s, n);
                } else if &*n == "data" {
                    t.kind = TermKind::Data;
                } else if &*n == "input" {
                    t.kind = TermKind::Input;
                } else if let Some((d, p)) = self.global_path(&n, info) {
                    *t = Self::root_term(d, p, span);
                } else {
                    let s = scope.implicit_slot(&n);
                    t.kind = TermKind::Local(s, n);
                }
            }
            TermKind::Ref(h, path) => {
                self.resolve_term(h, scope, info);
                for p in path.iter_mut() {
                    self.resolve_term(p, scope, info);
                }
                // Flatten `Ref(Ref(data, a), b)`.
                if let TermKind::Ref(_, _) = h.kind {
                    let inner = std::mem::replace(&mut **h, Term::scalar(Value::Null, span));
                    if let TermKind::Ref(h2, mut p2) = inner.kind {
                        p2.append(path);
                        t.kind = TermKind::Ref(h2, p2);
                    }
                }
            }
            TermKind::Array(items) | TermKind::Set(items) => {
                for i in items.iter_mut() {
                    self.resolve_term(i, scope, info);
                }
                // Constant folding: ground literals become values (no per-element work at run time).
                if items.iter().all(|i| matches!(i.kind, TermKind::Scalar(_))) {
                    if let Some(v) = t.literal_value() {
                        t.kind = TermKind::Scalar(v);
                    }
                }
            }
            TermKind::Object(items) => {
                for (k, v) in items.iter_mut() {
                    self.resolve_term(k, scope, info);
                    self.resolve_term(v, scope, info);
                }
                if items.iter().all(|(k, v)| matches!(k.kind, TermKind::Scalar(_)) && matches!(v.kind, TermKind::Scalar(_))) {
                    if let Some(v) = t.literal_value() {
                        t.kind = TermKind::Scalar(v);
                    }
                }
            }
            TermKind::ArrayCompr(h, b) | TermKind::SetCompr(h, b) => {
                scope.frames.push(HashMap::new());
                self.resolve_body(b, scope, info);
                self.resolve_term(h, scope, info);
                scope.frames.pop();
            }
            TermKind::ObjectCompr(k, v, b) => {
                scope.frames.push(HashMap::new());
                self.resolve_body(b, scope, info);
                self.resolve_term(k, scope, info);
                self.resolve_term(v, scope, info);
                scope.frames.pop();
            }
            TermKind::Call(c) => {
                let statement = std::mem::replace(&mut self.call_is_statement, false);
                for a in c.args.iter_mut() {
                    self.resolve_term(a, scope, info);
                }
                self.call_is_statement = statement;
                self.resolve_call(c, scope, info, span);
                self.call_is_statement = false;
            }
            TermKind::Scalar(_) | TermKind::Local(..) | TermKind::Data | TermKind::Input => {}
        }
    }

    fn resolve_call(&mut self, c: &mut Call, scope: &mut Scope, info: &ModInfo, span: Span) {
        let name = match &c.target {
            CallTarget::Builtin(n) => n.to_string(),
            _ => match dotted_name_raw(&c.func) {
                Some(n) => n,
                None => {
                    self.diag("rego_type_error", span, "invalid function call");
                    return;
                }
            },
        };
        // User function?
        let first = name.split('.').next().unwrap_or("");
        let user_path: Option<Vec<Value>> = if scope.lookup(first).is_some() {
            None
        } else if first == "data" {
            Some(name.split('.').skip(1).map(sv).collect())
        } else if let Some((true, mut p)) = self.global_path(first, info) {
            p.extend(name.split('.').skip(1).map(sv));
            Some(p)
        } else {
            None
        };
        // Ref-style function paths with non-identifier segments (`foo["bar"](x)`).
        let user_path = user_path.or_else(|| {
            let segs = ref_segments(&c.func)?;
            let first = segs.first()?.as_str()?.to_string();
            if first == "data" {
                return Some(segs[1..].to_vec());
            }
            let (d, mut p) = self.global_path(&first, info)?;
            if !d {
                return None;
            }
            p.extend(segs[1..].iter().cloned());
            Some(p)
        });
        if let Some(p) = user_path {
            if let Some(n) = self.tree.find(&p) {
                if self.tree.nodes[n].is_func {
                    let arity = self.tree.nodes[n].arity;
                    self.check_arity(&path_string(&p), arity, c.args.len(), span);
                    c.target = CallTarget::User(Arc::from(p.as_slice()));
                    c.arity = arity;
                    return;
                }
                // Pending rules (compiled later) are recorded by the node's flag.
            }
            if (p.len() > info.package.len() || first == "data")
                && builtin_arity(&name).is_none() {
                    self.diag("rego_type_error", span, format!("undefined function {}", name_with_data(&p)));
                    return;
                }
        }
        if NETWORK_BUILTINS.contains(&name.as_str()) && !self.mocked(&name) {
            self.diag("rego_type_error", span, network_builtin_error(&name));
            return;
        }
        match builtin_arity(&name) {
            Some(a) => {
                if info.v1 && DEPRECATED_BUILTINS.contains(&name.as_str()) {
                    self.diag("rego_type_error", span, format!("deprecated built-in function calls in expression: {}", name));
                }
                self.check_arity(&name, a, c.args.len(), span);
                self.check_literal_types(&name, &c.args, span, scope);
                c.target = CallTarget::Builtin(Arc::from(name.as_str()));
                c.arity = a;
            }
            None => self.diag("rego_type_error", span, format!("undefined function {}", name)),
        }
    }

    /// OPA's type checker, for the part that needs no inference: a literal
    /// argument whose type the builtin's declaration excludes.
    fn check_literal_types(&mut self, name: &str, args: &[Term], span: Span, scope: &Scope) {
        let Some(b) = builtins::lookup(name) else { return };
        let Some(params) = decl_params(b.decl) else { return };
        let mut bad = false;
        let mut have = Vec::new();
        for (i, a) in args.iter().enumerate() {
            let t = term_type(a, scope);
            have.push(t.map(type_name_of).unwrap_or("any"));
            if let (Some(t), Some(p)) = (t, params.get(i)) {
                if coarse_types(p) & t == 0 {
                    bad = true;
                }
            }
        }
        if bad {
            let want = params.join(", ");
            self.diag(
                "rego_type_error",
                span,
                format!("{}: invalid argument(s)\n\thave: ({})\n\twant: ({})", name, have.join(", "), want),
            );
        }
    }

    fn check_arity(&mut self, name: &str, arity: Option<usize>, got: usize, span: Span) {
        if let Some(a) = arity {
            if got != a && (got != a + 1 || !self.call_is_statement) {
                self.diag(
                    "rego_type_error",
                    span,
                    format!("{}: arity mismatch\n\thave: {} args\n\twant: {} args", name, got, a),
                );
            }
        }
    }

    // ---- safety ----

    /// Reorders `body` so every expression's inputs are bound before it runs;
    /// reports the variables that can never be bound.
    fn order_body(&mut self, body: &mut Body, bound: &mut HashSet<u32>) {
        let mut pending: Vec<Expr> = std::mem::take(body);
        // Variables visible outside nested closures: these are the body's own.
        let mut shallow = HashSet::new();
        for e in &pending {
            expr_vars(e, &mut shallow, false);
        }
        let mut out = Vec::new();
        while !pending.is_empty() {
            let pick = pending.iter().position(|e| schedulable(e, bound, &shallow));
            match pick {
                Some(i) => {
                    let mut e = pending.remove(i);
                    if let ExprKind::Unify(a, b, _) = &e.kind {
                        if arrays_of_other_lengths(a, b) {
                            self.diag("rego_type_error", e.span, "match error");
                        }
                    }
                    self.order_nested_expr(&mut e, bound, &shallow);
                    expr_outputs(&e, bound);
                    out.push(e);
                }
                None => {
                    for e in &pending {
                        let mut need = Vec::new();
                        expr_needs(e, &mut need, &shallow);
                        let mut any = false;
                        for (s, n, sp) in need {
                            if !bound.contains(&s) && !n.starts_with('$') {
                                self.diag("rego_unsafe_var_error", sp, format!("var {} is unsafe", n));
                                any = true;
                            }
                        }
                        if !any {
                            // Both sides of a unification unbound.
                            let mut all = HashSet::new();
                            expr_vars(e, &mut all, true);
                            let mut unsafe_found = false;
                            for (s, n, sp) in var_names(e) {
                                if all.contains(&s) && !bound.contains(&s) && !n.starts_with('$') {
                                    self.diag("rego_unsafe_var_error", sp, format!("var {} is unsafe", n));
                                    unsafe_found = true;
                                    break;
                                }
                            }
                            if !unsafe_found {
                                self.diag("rego_unsafe_var_error", e.span, "expression is unsafe");
                            }
                        }
                    }
                    break;
                }
            }
        }
        *body = out;
    }

    fn order_nested_expr(&mut self, e: &mut Expr, bound: &HashSet<u32>, shallow: &HashSet<u32>) {
        let _ = shallow;
        match &mut e.kind {
            ExprKind::Term(t) => self.order_nested_term(t, bound),
            ExprKind::Unify(a, b, _) => {
                self.order_nested_term(a, bound);
                self.order_nested_term(b, bound);
            }
            ExprKind::Not(inner) => {
                let mut b2 = bound.clone();
                self.order_nested_expr(inner, &b2.clone(), shallow);
                expr_outputs(inner, &mut b2);
            }
            ExprKind::SomeDecl(_) => {}
            ExprKind::SomeIn(k, v, c) => {
                self.order_nested_term(c, bound);
                if let Some(k) = k {
                    self.order_nested_term(k, bound);
                }
                self.order_nested_term(v, bound);
            }
            ExprKind::Every(k, v, d, body) => {
                self.order_nested_term(d, bound);
                let mut b2 = bound.clone();
                if let Some(k) = k {
                    pattern_vars(k, &mut b2);
                }
                pattern_vars(v, &mut b2);
                self.order_body(body, &mut b2);
            }
        }
        for w in e.with.iter_mut() {
            self.order_nested_term(&mut w.value, bound);
        }
    }

    fn order_nested_term(&mut self, t: &mut Term, bound: &HashSet<u32>) {
        match &mut t.kind {
            TermKind::ArrayCompr(h, b) | TermKind::SetCompr(h, b) => {
                let mut b2 = bound.clone();
                self.order_body(b, &mut b2);
                self.check_head(h, &b2);
            }
            TermKind::ObjectCompr(k, v, b) => {
                let mut b2 = bound.clone();
                self.order_body(b, &mut b2);
                self.check_head(k, &b2);
                self.check_head(v, &b2);
            }
            TermKind::Ref(h, p) => {
                self.order_nested_term(h, bound);
                for x in p {
                    self.order_nested_term(x, bound);
                }
            }
            TermKind::Array(items) | TermKind::Set(items) => {
                for x in items {
                    self.order_nested_term(x, bound);
                }
            }
            TermKind::Object(items) => {
                for (k, v) in items {
                    self.order_nested_term(k, bound);
                    self.order_nested_term(v, bound);
                }
            }
            TermKind::Call(c) => {
                for a in c.args.iter_mut() {
                    self.order_nested_term(a, bound);
                }
            }
            _ => {}
        }
    }

    fn check_head(&mut self, h: &mut Term, bound: &HashSet<u32>) {
        let mut need = Vec::new();
        input_vars(h, &mut need, true);
        for (s, n, sp) in need {
            if !bound.contains(&s) && !n.starts_with('$') {
                self.diag("rego_unsafe_var_error", sp, format!("var {} is unsafe", n));
            }
        }
        self.order_nested_term(h, bound);
    }

    fn check_nested(&mut self, t: &Term, bound: &HashSet<u32>) {
        let mut t2 = t.clone();
        self.order_nested_term(&mut t2, bound);
    }

    /// Compiles a query against the policy's tree (used by `Policy::query`).
    pub fn compile_query(&mut self, body: &mut Body, package: &[Value]) -> (u32, Vec<(Arc<str>, u32)>) {
        let info = ModInfo { package: package.to_vec(), imports: HashMap::new(), file: 0, v1: true };
        let _ = info.file;
        let mut scope = Scope::new();
        self.resolve_body(body, &mut scope, &info);
        let mut bound = HashSet::new();
        self.order_body(body, &mut bound);
        let mut vars: Vec<(Arc<str>, u32)> = scope.implicit.iter().map(|(k, v)| (k.clone(), *v)).collect();
        for f in &scope.frames {
            vars.extend(f.iter().map(|(k, v)| (k.clone(), *v)));
        }
        vars.sort_by_key(|(_, s)| *s);
        (scope.nslots, vars)
    }

    pub fn set_tree_for_query(&mut self, c: &Compiled) {
        // Rebuild the name tables the resolver needs from an existing policy.
        let mut tree = Tree::default();
        for n in &c.tree.nodes {
            tree.nodes.push(Node {
                path: n.path.clone(),
                children: n.children.clone(),
                rules: n.rules.clone(),
                default: n.default,
                is_func: n.is_func,
                arity: n.arity,
                index: n.index.clone(),
                has_rules_below: n.has_rules_below,
                in_rule_doc: n.in_rule_doc,
            });
        }
        self.tree = tree;
    }
}

pub fn path_string(p: &[Value]) -> String {
    let mut s = String::from("data");
    for v in p {
        match v {
            Value::String(x) if is_ident(x) => {
                s.push('.');
                s.push_str(x);
            }
            other => {
                s.push('[');
                s.push_str(&other.to_string());
                s.push(']');
            }
        }
    }
    s
}

fn name_with_data(p: &[Value]) -> String {
    path_string(p)
}

fn is_ident(s: &str) -> bool {
    !s.is_empty() && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `a.b.c` for a var or a ref of string segments (before resolution).
fn dotted_name_raw(t: &Term) -> Option<String> {
    match &t.kind {
        TermKind::Var(n) => Some(n.to_string()),
        TermKind::Local(_, n) => Some(n.to_string()),
        TermKind::Data => Some("data".into()),
        TermKind::Input => Some("input".into()),
        TermKind::Ref(h, p) => {
            let mut s = dotted_name_raw(h)?;
            for seg in p {
                match &seg.kind {
                    TermKind::Scalar(Value::String(x)) if is_ident(x) => {
                        s.push('.');
                        s.push_str(x);
                    }
                    _ => return None,
                }
            }
            Some(s)
        }
        _ => None,
    }
}

fn dotted_name(t: &Term) -> Option<String> {
    dotted_name_raw(t)
}

/// Ground segments of a ref written as `a.b["c"]` (first is the head name).
fn ref_segments(t: &Term) -> Option<Vec<Value>> {
    match &t.kind {
        TermKind::Var(n) => Some(vec![Value::from(&**n)]),
        TermKind::Ref(h, p) => {
            let mut out = ref_segments(h)?;
            for seg in p {
                match &seg.kind {
                    TermKind::Scalar(v) => out.push(v.clone()),
                    _ => return None,
                }
            }
            Some(out)
        }
        _ => None,
    }
}

// ---- variable analysis (on resolved terms) ----

type VarUse = (u32, Arc<str>, Span);

/// Vars at pattern positions of a unification side.
pub fn pattern_vars(t: &Term, out: &mut HashSet<u32>) {
    match &t.kind {
        TermKind::Local(s, _) => {
            out.insert(*s);
        }
        TermKind::Array(items) => items.iter().for_each(|i| pattern_vars(i, out)),
        TermKind::Object(items) => items.iter().for_each(|(_, v)| pattern_vars(v, out)),
        _ => ref_outputs(t, out),
    }
}

/// Vars bound by enumerating references (`x[i]` binds `i`) anywhere in `t`.
fn ref_outputs(t: &Term, out: &mut HashSet<u32>) {
    match &t.kind {
        TermKind::Ref(h, p) => {
            ref_outputs(h, out);
            for seg in p {
                match &seg.kind {
                    TermKind::Local(..) | TermKind::Array(_) | TermKind::Object(_) => pattern_vars(seg, out),
                    _ => ref_outputs(seg, out),
                }
            }
        }
        TermKind::Array(items) | TermKind::Set(items) => items.iter().for_each(|i| ref_outputs(i, out)),
        TermKind::Object(items) => items.iter().for_each(|(k, v)| {
            ref_outputs(k, out);
            ref_outputs(v, out);
        }),
        TermKind::Call(c) => c.args.iter().for_each(|a| ref_outputs(a, out)),
        _ => {}
    }
}

/// Vars that must be bound before `t` can be evaluated (not counting
/// reference keys, which enumerate). `top` marks a value position.
fn input_vars(t: &Term, out: &mut Vec<VarUse>, top: bool) {
    let _ = top;
    match &t.kind {
        TermKind::Local(s, n) => out.push((*s, n.clone(), t.span)),
        TermKind::Ref(h, p) => {
            input_vars(h, out, true);
            for seg in p {
                match &seg.kind {
                    TermKind::Local(..) => {}
                    TermKind::Array(_) | TermKind::Object(_) => pattern_inputs(seg, out),
                    _ => input_vars(seg, out, false),
                }
            }
        }
        TermKind::Array(items) | TermKind::Set(items) => items.iter().for_each(|i| input_vars(i, out, false)),
        TermKind::Object(items) => items.iter().for_each(|(k, v)| {
            input_vars(k, out, false);
            input_vars(v, out, false);
        }),
        TermKind::Call(c) => {
            let n = call_arity(c);
            for (i, a) in c.args.iter().enumerate() {
                if Some(i) == n {
                    pattern_inputs(a, out);
                } else {
                    input_vars(a, out, false);
                }
            }
        }
        TermKind::ArrayCompr(..) | TermKind::SetCompr(..) | TermKind::ObjectCompr(..) => {
            // Closure variables are handled by `closure_needs`.
        }
        _ => {}
    }
}

/// The index of the output argument of a call, if the call has one.
fn call_arity(c: &Call) -> Option<usize> {
    match c.arity {
        Some(a) if c.args.len() == a + 1 => Some(a),
        _ => None,
    }
}

/// Inputs of a pattern: everything but the vars at pattern positions.
fn pattern_inputs(t: &Term, out: &mut Vec<VarUse>) {
    match &t.kind {
        TermKind::Local(..) => {}
        TermKind::Array(items) => items.iter().for_each(|i| pattern_inputs(i, out)),
        TermKind::Object(items) => items.iter().for_each(|(k, v)| {
            input_vars(k, out, false);
            pattern_inputs(v, out);
        }),
        _ => input_vars(t, out, true),
    }
}

/// All vars of an expression; with `deep`, also those inside closures.
fn expr_vars(e: &Expr, out: &mut HashSet<u32>, deep: bool) {
    match &e.kind {
        ExprKind::Term(t) => term_vars(t, out, deep),
        ExprKind::Unify(a, b, _) => {
            term_vars(a, out, deep);
            term_vars(b, out, deep);
        }
        ExprKind::Not(inner) => expr_vars(inner, out, deep),
        ExprKind::SomeDecl(_) => {}
        ExprKind::SomeIn(k, v, c) => {
            if let Some(k) = k {
                term_vars(k, out, deep);
            }
            term_vars(v, out, deep);
            term_vars(c, out, deep);
        }
        ExprKind::Every(k, v, d, b) => {
            term_vars(d, out, deep);
            if deep {
                if let Some(k) = k {
                    term_vars(k, out, deep);
                }
                term_vars(v, out, deep);
                for x in b {
                    expr_vars(x, out, deep);
                }
            }
        }
    }
    for w in &e.with {
        term_vars(&w.value, out, deep);
    }
}

fn term_vars(t: &Term, out: &mut HashSet<u32>, deep: bool) {
    match &t.kind {
        TermKind::Local(s, _) => {
            out.insert(*s);
        }
        TermKind::Ref(h, p) => {
            term_vars(h, out, deep);
            p.iter().for_each(|x| term_vars(x, out, deep));
        }
        TermKind::Array(items) | TermKind::Set(items) => items.iter().for_each(|x| term_vars(x, out, deep)),
        TermKind::Object(items) => items.iter().for_each(|(k, v)| {
            term_vars(k, out, deep);
            term_vars(v, out, deep);
        }),
        TermKind::Call(c) => c.args.iter().for_each(|x| term_vars(x, out, deep)),
        TermKind::ArrayCompr(h, b) | TermKind::SetCompr(h, b)
            if deep => {
                term_vars(h, out, deep);
                b.iter().for_each(|x| expr_vars(x, out, deep));
            }
        TermKind::ObjectCompr(k, v, b)
            if deep => {
                term_vars(k, out, deep);
                term_vars(v, out, deep);
                b.iter().for_each(|x| expr_vars(x, out, deep));
            }
        _ => {}
    }
}

fn var_names(e: &Expr) -> Vec<VarUse> {
    let mut out = Vec::new();
    fn walk(t: &Term, out: &mut Vec<VarUse>) {
        match &t.kind {
            TermKind::Local(s, n) => out.push((*s, n.clone(), t.span)),
            TermKind::Ref(h, p) => {
                walk(h, out);
                p.iter().for_each(|x| walk(x, out));
            }
            TermKind::Array(i) | TermKind::Set(i) => i.iter().for_each(|x| walk(x, out)),
            TermKind::Object(i) => i.iter().for_each(|(k, v)| {
                walk(k, out);
                walk(v, out);
            }),
            TermKind::Call(c) => c.args.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    match &e.kind {
        ExprKind::Term(t) => walk(t, &mut out),
        ExprKind::Unify(a, b, _) => {
            walk(a, &mut out);
            walk(b, &mut out);
        }
        ExprKind::Not(i) => out.extend(var_names(i)),
        _ => {}
    }
    out
}

/// Closure vars of nested comprehensions/every bodies: vars used inside that
/// the enclosing body also uses.
fn closure_needs(t: &Term, shallow: &HashSet<u32>, out: &mut Vec<VarUse>) {
    match &t.kind {
        TermKind::ArrayCompr(..) | TermKind::SetCompr(..) | TermKind::ObjectCompr(..) => {
            let mut all = HashSet::new();
            term_vars(t, &mut all, true);
            let mut names = Vec::new();
            collect_locals(t, &mut names);
            for (s, n, sp) in names {
                if shallow.contains(&s) && all.contains(&s) {
                    out.push((s, n, sp));
                }
            }
        }
        TermKind::Ref(h, p) => {
            closure_needs(h, shallow, out);
            p.iter().for_each(|x| closure_needs(x, shallow, out));
        }
        TermKind::Array(i) | TermKind::Set(i) => i.iter().for_each(|x| closure_needs(x, shallow, out)),
        TermKind::Object(i) => i.iter().for_each(|(k, v)| {
            closure_needs(k, shallow, out);
            closure_needs(v, shallow, out);
        }),
        TermKind::Call(c) => c.args.iter().for_each(|x| closure_needs(x, shallow, out)),
        _ => {}
    }
}

fn collect_locals(t: &Term, out: &mut Vec<VarUse>) {
    match &t.kind {
        TermKind::Local(s, n) => out.push((*s, n.clone(), t.span)),
        TermKind::Ref(h, p) => {
            collect_locals(h, out);
            p.iter().for_each(|x| collect_locals(x, out));
        }
        TermKind::Array(i) | TermKind::Set(i) => i.iter().for_each(|x| collect_locals(x, out)),
        TermKind::Object(i) => i.iter().for_each(|(k, v)| {
            collect_locals(k, out);
            collect_locals(v, out);
        }),
        TermKind::Call(c) => c.args.iter().for_each(|x| collect_locals(x, out)),
        TermKind::ArrayCompr(h, b) | TermKind::SetCompr(h, b) => {
            collect_locals(h, out);
            b.iter().for_each(|e| collect_expr_locals(e, out));
        }
        TermKind::ObjectCompr(k, v, b) => {
            collect_locals(k, out);
            collect_locals(v, out);
            b.iter().for_each(|e| collect_expr_locals(e, out));
        }
        _ => {}
    }
}

fn collect_expr_locals(e: &Expr, out: &mut Vec<VarUse>) {
    match &e.kind {
        ExprKind::Term(t) => collect_locals(t, out),
        ExprKind::Unify(a, b, _) => {
            collect_locals(a, out);
            collect_locals(b, out);
        }
        ExprKind::Not(i) => collect_expr_locals(i, out),
        ExprKind::SomeDecl(_) => {}
        ExprKind::SomeIn(k, v, c) => {
            if let Some(k) = k {
                collect_locals(k, out);
            }
            collect_locals(v, out);
            collect_locals(c, out);
        }
        ExprKind::Every(k, v, d, b) => {
            if let Some(k) = k {
                collect_locals(k, out);
            }
            collect_locals(v, out);
            collect_locals(d, out);
            b.iter().for_each(|e| collect_expr_locals(e, out));
        }
    }
    for w in &e.with {
        collect_locals(&w.value, out);
    }
}

/// What must be bound before `e` runs.
fn expr_needs(e: &Expr, out: &mut Vec<VarUse>, shallow: &HashSet<u32>) {
    match &e.kind {
        ExprKind::Term(t) => {
            input_vars(t, out, true);
            closure_needs(t, shallow, out);
            // Variables a reference of the same expression binds are not needed.
            let mut own = HashSet::new();
            ref_outputs(t, &mut own);
            out.retain(|(s, _, _)| !own.contains(s));
        }
        ExprKind::Unify(a, b, _) => {
            pattern_inputs(a, out);
            pattern_inputs(b, out);
            closure_needs(a, shallow, out);
            closure_needs(b, shallow, out);
        }
        ExprKind::Not(inner) => {
            let mut all = Vec::new();
            collect_expr_locals(inner, &mut all);
            for (s, n, sp) in all {
                if !n.starts_with('$') {
                    out.push((s, n, sp));
                }
            }
            // Vars only used inside nested closures of the negation are local to them.
            let mut inner_shallow = HashSet::new();
            expr_vars(inner, &mut inner_shallow, false);
            out.retain(|(s, _, _)| inner_shallow.contains(s) || shallow.contains(s));
        }
        ExprKind::SomeDecl(_) => {}
        ExprKind::SomeIn(k, v, c) => {
            input_vars(c, out, true);
            closure_needs(c, shallow, out);
            if let Some(k) = k {
                pattern_inputs(k, out);
            }
            pattern_inputs(v, out);
        }
        ExprKind::Every(k, v, d, b) => {
            input_vars(d, out, true);
            closure_needs(d, shallow, out);
            let mut local = HashSet::new();
            if let Some(k) = k {
                pattern_vars(k, &mut local);
            }
            pattern_vars(v, &mut local);
            let mut names = Vec::new();
            b.iter().for_each(|e| collect_expr_locals(e, &mut names));
            for (s, n, sp) in names {
                if shallow.contains(&s) && !local.contains(&s) {
                    out.push((s, n, sp));
                }
            }
        }
    }
    for w in &e.with {
        input_vars(&w.value, out, true);
    }
}

fn schedulable(e: &Expr, bound: &HashSet<u32>, shallow: &HashSet<u32>) -> bool {
    let mut need = Vec::new();
    expr_needs(e, &mut need, shallow);
    if !need.iter().all(|(s, _, _)| bound.contains(s)) {
        return false;
    }
    if let ExprKind::Unify(a, b, _) = &e.kind {
        return unify_ok(a, b, bound);
    }
    true
}

/// Two array terms (literal or constant) whose lengths differ: they can never unify.
fn arrays_of_other_lengths(a: &Term, b: &Term) -> bool {
    let len = |t: &Term| match &t.kind {
        TermKind::Array(x) => Some(x.len()),
        TermKind::Scalar(v) => v.as_array().map(<[Value]>::len),
        _ => None,
    };
    matches!((len(a), len(b)), (Some(x), Some(y)) if x != y)
}

fn unify_ok(a: &Term, b: &Term, bound: &HashSet<u32>) -> bool {
    let ground = |t: &Term| {
        let mut pv = HashSet::new();
        pattern_only_vars(t, &mut pv);
        pv.iter().all(|s| bound.contains(s))
    };
    // Arrays of different lengths never unify, so they bind nothing (OPA: unsafe vars, then a match error).
    if arrays_of_other_lengths(a, b) {
        return ground(a) && ground(b);
    }
    if ground(a) || ground(b) {
        return true;
    }
    match (&a.kind, &b.kind) {
        (TermKind::Array(x), TermKind::Array(y)) if x.len() == y.len() => x.iter().zip(y.iter()).all(|(p, q)| unify_ok(p, q, bound)),
        (TermKind::Object(x), TermKind::Object(y)) if x.len() == y.len() => x.iter().zip(y.iter()).all(|(p, q)| unify_ok(&p.1, &q.1, bound)),
        _ => false,
    }
}

fn pattern_only_vars(t: &Term, out: &mut HashSet<u32>) {
    match &t.kind {
        TermKind::Local(s, _) => {
            out.insert(*s);
        }
        TermKind::Array(items) => items.iter().for_each(|i| pattern_only_vars(i, out)),
        TermKind::Object(items) => items.iter().for_each(|(_, v)| pattern_only_vars(v, out)),
        _ => {}
    }
}

/// Adds what `e` binds.
fn expr_outputs(e: &Expr, bound: &mut HashSet<u32>) {
    match &e.kind {
        ExprKind::Term(t) => {
            ref_outputs(t, bound);
            call_outputs(t, bound);
        }
        ExprKind::Unify(a, b, _) => {
            pattern_vars(a, bound);
            pattern_vars(b, bound);
            call_outputs(a, bound);
            call_outputs(b, bound);
        }
        ExprKind::SomeIn(k, v, c) => {
            if let Some(k) = k {
                pattern_vars(k, bound);
            }
            pattern_vars(v, bound);
            ref_outputs(c, bound);
        }
        _ => {}
    }
}

fn call_outputs(t: &Term, bound: &mut HashSet<u32>) {
    if let TermKind::Call(c) = &t.kind {
        if let Some(i) = call_arity(c) {
            if let Some(a) = c.args.get(i) {
                pattern_vars(a, bound);
            }
        }
        for a in &c.args {
            call_outputs(a, bound);
        }
    }
}

/// Data paths (ground prefixes; `None` marks a dynamic segment) that a rule reads.
fn collect_rule_refs(r: &CRule, out: &mut Vec<Vec<Option<Value>>>) {
    fn term(t: &Term, out: &mut Vec<Vec<Option<Value>>>) {
        match &t.kind {
            TermKind::Data => out.push(Vec::new()),
            TermKind::Ref(h, p) => {
                if let TermKind::Data = h.kind {
                    let mut path = Vec::new();
                    for seg in p {
                        match &seg.kind {
                            TermKind::Scalar(v) => path.push(Some(v.clone())),
                            _ => {
                                path.push(None);
                                break;
                            }
                        }
                    }
                    out.push(path);
                } else {
                    term(h, out);
                }
                p.iter().for_each(|x| term(x, out));
            }
            TermKind::Array(i) | TermKind::Set(i) => i.iter().for_each(|x| term(x, out)),
            TermKind::Object(i) => i.iter().for_each(|(k, v)| {
                term(k, out);
                term(v, out);
            }),
            TermKind::Call(c) => {
                if let CallTarget::User(p) = &c.target {
                    out.push(p.iter().cloned().map(Some).collect());
                }
                c.args.iter().for_each(|x| term(x, out));
            }
            TermKind::ArrayCompr(h, b) | TermKind::SetCompr(h, b) => {
                term(h, out);
                b.iter().for_each(|e| expr(e, out));
            }
            TermKind::ObjectCompr(k, v, b) => {
                term(k, out);
                term(v, out);
                b.iter().for_each(|e| expr(e, out));
            }
            _ => {}
        }
    }
    fn expr(e: &Expr, out: &mut Vec<Vec<Option<Value>>>) {
        // Expressions under `with` on data may legitimately shadow; still count them.
        match &e.kind {
            ExprKind::Term(t) => term(t, out),
            ExprKind::Unify(a, b, _) => {
                term(a, out);
                term(b, out);
            }
            ExprKind::Not(i) => expr(i, out),
            ExprKind::SomeDecl(_) => {}
            ExprKind::SomeIn(k, v, c) => {
                if let Some(k) = k {
                    term(k, out);
                }
                term(v, out);
                term(c, out);
            }
            ExprKind::Every(k, v, d, b) => {
                if let Some(k) = k {
                    term(k, out);
                }
                term(v, out);
                term(d, out);
                b.iter().for_each(|e| expr(e, out));
            }
        }
        for w in &e.with {
            term(&w.value, out);
        }
    }
    for e in &r.body {
        expr(e, out);
    }
    for t in r.tail.iter().chain(r.key.iter()).chain(std::iter::once(&r.value)) {
        term(t, out);
    }
    if let Some(e) = &r.else_ {
        collect_rule_refs(e, out);
    }
}

#[allow(dead_code)]
/// The last pass over a rule, after every check (so errors still point at
/// what was written), in one walk, innermost terms first:
/// - constant collections (`["GET", "HEAD"]`, `{"a": 1}`) become values built
///   once instead of on every evaluation; nested ones fold outward;
/// - what the rule refers to is linked (`link_term`), so evaluation skips the look-ups.
fn finish_rule(tree: &Tree, r: &mut CRule) {
    visit_terms_mut(&mut r.body, &mut r.value, r.key.as_mut(), &mut |t| {
        fold_constant(t);
        link_term(tree, t);
    });
    if let Some(e) = &mut r.else_ {
        finish_rule(tree, e);
    }
}

fn fold_constant(t: &mut Term) {
    let folded = match &t.kind {
        TermKind::Array(items) => items.iter().map(scalar_of).collect::<Option<Vec<Value>>>().map(Value::from_array),
        TermKind::Set(items) => items.iter().map(scalar_of).collect::<Option<crate::value::Set>>().map(Value::from_set),
        TermKind::Object(items) => items.iter().map(|(k, v)| Some((scalar_of(k)?, scalar_of(v)?))).collect::<Option<crate::value::Map>>().map(Value::from_map),
        _ => None,
    };
    if let Some(v) = folded {
        t.kind = TermKind::Scalar(v);
    }
}

/// Links the references of one query term (a prepared decision path).
pub fn resolve_refs(tree: &Tree, t: &mut Term) {
    walk_term_mut(t, &mut |t| link_term(tree, t));
}

/// Every `data` reference gets the rule node it reaches (`Tree::rule_node_of`,
/// no walk through packages), every builtin call its registry entry (no
/// look-up by name).
fn link_term(tree: &Tree, t: &mut Term) {
    match &mut t.kind {
        TermKind::Ref(head, path) if matches!(head.kind, TermKind::Data) => t.data_node = tree.rule_node_of(path),
        TermKind::Call(c) => {
            if let CallTarget::Builtin(name) = &c.target {
                c.builtin = builtins::lookup(name);
            }
        }
        _ => {}
    }
}

fn visit_terms_mut(body: &mut Body, value: &mut Term, key: Option<&mut Term>, f: &mut dyn FnMut(&mut Term)) {
    walk_body_mut(body, f);
    walk_term_mut(value, f);
    if let Some(k) = key {
        walk_term_mut(k, f);
    }
}

fn walk_body_mut(body: &mut Body, f: &mut dyn FnMut(&mut Term)) {
    for e in body {
        walk_expr_mut(e, f);
    }
}

fn walk_expr_mut(e: &mut Expr, f: &mut dyn FnMut(&mut Term)) {
    match &mut e.kind {
        ExprKind::Term(t) => walk_term_mut(t, f),
        ExprKind::Unify(a, b, _) => {
            walk_term_mut(a, f);
            walk_term_mut(b, f);
        }
        ExprKind::Not(inner) => walk_expr_mut(inner, f),
        ExprKind::SomeDecl(ts) => ts.iter_mut().for_each(|t| walk_term_mut(t, f)),
        ExprKind::SomeIn(k, v, coll) => {
            if let Some(k) = k {
                walk_term_mut(k, f);
            }
            walk_term_mut(v, f);
            walk_term_mut(coll, f);
        }
        ExprKind::Every(k, v, domain, body) => {
            if let Some(k) = k {
                walk_term_mut(k, f);
            }
            walk_term_mut(v, f);
            walk_term_mut(domain, f);
            walk_body_mut(body, f);
        }
    }
    for w in &mut e.with {
        walk_term_mut(&mut w.value, f);
    }
}

/// Visits `t` and every term inside it (bodies of comprehensions included).
/// A template string in a function's argument (`f($"{x} {input.y}") if { x = "foo" }`)
/// may use variables the body binds: as OPA, it is evaluated after the body, and the
/// argument is matched against its value (`f(t) if { x = "foo"; t = $"..." }`).
fn hoist_template_args(args: &mut [Term], body: &mut Body) {
    fn hoist(t: &mut Term, body: &mut Body) {
        let is_template = matches!(&t.kind, TermKind::Call(c) if c.target == CallTarget::Builtin(Arc::from("internal.template_string")));
        if is_template {
            let span = t.span;
            let var = Term::new(TermKind::Var(crate::parser::fresh_wildcard()), span);
            let value = std::mem::replace(t, var.clone());
            body.push(Expr { kind: ExprKind::Unify(var, value, false), with: Vec::new(), span });
            return;
        }
        match &mut t.kind {
            TermKind::Array(items) | TermKind::Set(items) => items.iter_mut().for_each(|x| hoist(x, body)),
            TermKind::Object(items) => items.iter_mut().for_each(|(_, v)| hoist(v, body)),
            _ => {}
        }
    }
    args.iter_mut().for_each(|a| hoist(a, body));
}

fn walk_term_mut(t: &mut Term, f: &mut dyn FnMut(&mut Term)) {
    match &mut t.kind {
        TermKind::Array(items) | TermKind::Set(items) => items.iter_mut().for_each(|x| walk_term_mut(x, f)),
        TermKind::Object(items) => items.iter_mut().for_each(|(k, v)| {
            walk_term_mut(k, f);
            walk_term_mut(v, f);
        }),
        TermKind::Ref(head, path) => {
            walk_term_mut(head, f);
            path.iter_mut().for_each(|x| walk_term_mut(x, f));
        }
        TermKind::Call(c) => c.args.iter_mut().for_each(|x| walk_term_mut(x, f)),
        TermKind::ArrayCompr(h, b) | TermKind::SetCompr(h, b) => {
            walk_term_mut(h, f);
            walk_body_mut(b, f);
        }
        TermKind::ObjectCompr(k, v, b) => {
            walk_term_mut(k, f);
            walk_term_mut(v, f);
            walk_body_mut(b, f);
        }
        TermKind::Scalar(_) | TermKind::Var(_) | TermKind::Local(..) | TermKind::Data | TermKind::Input => {}
    }
    f(t);
}

fn scalar_of(t: &Term) -> Option<Value> {
    match &t.kind {
        TermKind::Scalar(v) => Some(v.clone()),
        _ => None,
    }
}

fn _uses(_: &builtins::Registry) {}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn decl_arities() {
        assert_eq!(decl_arity("(string, string) => boolean"), Some(2));
        assert_eq!(decl_arity("() => number"), Some(0));
        assert_eq!(decl_arity("(any...) => any"), None);
        assert_eq!(decl_arity("(array[any], object[string: any]) => any"), Some(2));
        assert_eq!(decl_arity("(any<string, number>) => any"), Some(1));
    }
    #[test]
    fn coarse_decl_types() {
        assert_eq!(decl_params("(any<array[any], set[any]>, string) => number").unwrap().len(), 2);
        assert_eq!(coarse_types("any<array[any], object[string: any], set[any], string>"), T_ARR | T_OBJ | T_SET | T_STR);
        assert_eq!(coarse_types("{a: string}"), T_OBJ);
        assert_eq!(coarse_types("any"), T_ANY);
    }
}
