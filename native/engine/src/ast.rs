//! The Rego syntax tree. Spans are byte offsets into the module text.
//! The compiler rewrites terms in place (variables to slots, references to
//! `data`/`input`, calls to their targets) before evaluation.


use crate::value::Value;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    /// Index of the file in the policy's file list.
    pub file: u32,
    pub start: u32,
    pub end: u32,
}

#[derive(Clone, Debug)]
pub struct Term {
    pub kind: TermKind,
    pub span: Span,
    /// For a reference into `data` whose leading constant segments lead
    /// through packages to a rule: that rule's tree node and how many path
    /// segments reach it, found once by the compiler (see `compile::resolve_refs`).
    pub data_node: Option<(u32, u32)>,
}

#[derive(Clone, Debug)]
pub enum TermKind {
    Scalar(Value),
    /// A variable as written (before compilation).
    Var(Arc<str>),
    /// A local variable after compilation: its slot in the frame.
    Local(u32, Arc<str>),
    /// The roots after compilation.
    Data,
    Input,
    /// `head[path...]` / `head.path`.
    Ref(Box<Term>, Vec<Term>),
    Array(Vec<Term>),
    Object(Vec<(Term, Term)>),
    Set(Vec<Term>),
    ArrayCompr(Box<Term>, Body),
    SetCompr(Box<Term>, Body),
    ObjectCompr(Box<Term>, Box<Term>, Body),
    /// A call; `target` is resolved by the compiler.
    Call(Box<Call>),
}

#[derive(Clone, Debug)]
pub struct Call {
    /// The function reference as written: `count`, `data.x.f`, `f`.
    pub func: Term,
    pub args: Vec<Term>,
    pub target: CallTarget,
    /// The registry entry of a builtin target, linked by the compiler after its checks.
    pub builtin: Option<&'static crate::builtins::Builtin>,
    /// Declared number of inputs (an extra argument is the output), when known.
    pub arity: Option<usize>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum CallTarget {
    Unresolved,
    /// A registry builtin (or one implemented by the evaluator).
    Builtin(Arc<str>),
    /// A user function at this data path.
    User(Arc<[Value]>),
}

pub type Body = Vec<Expr>;

#[derive(Clone, Debug)]
pub struct Expr {
    pub kind: ExprKind,
    pub with: Vec<With>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum ExprKind {
    /// A term: true unless undefined or `false`.
    Term(Term),
    /// `a = b` (unify) or `a := b` (assign).
    Unify(Term, Term, bool),
    Not(Box<Expr>),
    /// `some x, y` (declarations only; removed by the compiler).
    SomeDecl(Vec<Term>),
    /// `some k, v in coll` / `some v in coll`.
    SomeIn(Option<Term>, Term, Term),
    /// `every k, v in domain { body }`.
    Every(Option<Term>, Term, Term, Body),
}

#[derive(Clone, Debug)]
pub struct With {
    pub target: Term,
    pub value: Term,
    pub span: Span,
    /// What the compiler resolved the target to.
    pub kind: WithTarget,
    /// When the value names a function (a mock), its target.
    pub value_func: Option<CallTarget>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum WithTarget {
    Unresolved,
    Input(Vec<Value>),
    Data(Vec<Value>),
    Builtin(Arc<str>),
    User(Arc<[Value]>),
}

#[derive(Clone, Debug)]
pub struct Import {
    /// `data.foo.bar` / `input.x` / `future.keywords.in` / `rego.v1`.
    pub path: Vec<String>,
    pub alias: Option<String>,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleKind {
    /// `p := v`, `p if ...`, `a.b.c := v`, `p[x] := v` (ref heads are complete
    /// at their full path; vars in the path make them partial objects).
    Complete,
    /// `p contains x`.
    Set,
    /// `f(x) := v`.
    Function,
}

#[derive(Clone, Debug)]
pub struct Rule {
    /// Head reference: first element is the rule name (string), then path.
    pub head: Vec<Term>,
    pub args: Vec<Term>,
    /// `contains` key.
    pub key: Option<Term>,
    /// Value (`true` when omitted).
    pub value: Term,
    pub assign: bool,
    pub kind: RuleKind,
    pub default: bool,
    pub body: Body,
    pub else_: Option<Box<Rule>>,
    pub span: Span,
    /// The value term was written explicitly (not implied `true`).
    pub explicit_value: bool,
    /// `# METADATA` annotations written above the rule.
    pub annotation: Option<Value>,
}

#[derive(Clone, Debug)]
pub struct Module {
    pub package: Vec<String>,
    pub package_span: Span,
    pub imports: Vec<Import>,
    pub rules: Vec<Rule>,
    /// Parsed with v1 rules (`if`/`contains` required).
    pub v1: bool,
    /// `# METADATA` annotations written above the package.
    pub package_annotation: Option<Value>,
}

impl Term {
    pub fn new(kind: TermKind, span: Span) -> Term {
        Term { kind, span, data_node: None }
    }
    pub fn scalar(v: Value, span: Span) -> Term {
        Term { kind: TermKind::Scalar(v), span, data_node: None }
    }
    pub fn var_name(&self) -> Option<&str> {
        match &self.kind {
            TermKind::Var(n) => Some(n),
            _ => None,
        }
    }
    /// Is the term (recursively) a constant?
    pub fn is_ground_literal(&self) -> bool {
        match &self.kind {
            TermKind::Scalar(_) => true,
            TermKind::Array(a) | TermKind::Set(a) => a.iter().all(|t| t.is_ground_literal()),
            TermKind::Object(o) => o.iter().all(|(k, v)| k.is_ground_literal() && v.is_ground_literal()),
            _ => false,
        }
    }
    /// The value of a constant term.
    pub fn literal_value(&self) -> Option<Value> {
        match &self.kind {
            TermKind::Scalar(v) => Some(v.clone()),
            TermKind::Array(a) => a.iter().map(|t| t.literal_value()).collect::<Option<Vec<_>>>().map(Value::from_array),
            TermKind::Set(a) => a.iter().map(|t| t.literal_value()).collect::<Option<std::collections::BTreeSet<_>>>().map(Value::from_set),
            TermKind::Object(o) => o
                .iter()
                .map(|(k, v)| Some((k.literal_value()?, v.literal_value()?)))
                .collect::<Option<crate::value::Map>>()
                .map(Value::from_map),
            _ => None,
        }
    }
}
