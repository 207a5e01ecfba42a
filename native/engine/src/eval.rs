//! Top-down evaluation with backtracking, in continuation-passing style.
//!
//! A body is evaluated expression by expression; each expression calls the
//! continuation once per solution. Variables live in per-rule frames of
//! slots with an undo trail. Rule values are computed whole and memoized per
//! query (and per `with` context).


use crate::ast::*;
use crate::builtins::{self, BuiltinError, Ctx};
use crate::compile::{path_string, Compiled, CRule};
use crate::error::EvalError;
use crate::number::Number;
use crate::value::{Map, Set, Value};
use smallvec::SmallVec;
use std::collections::HashMap;
use std::sync::Arc;

/// `Ok(true)`: keep enumerating; `Ok(false)`: stop (a solution was enough).
pub type R = Result<bool, EvalError>;

/// When less native stack than this remains, evaluation continues on a
/// fresh heap-allocated stack segment (deep rule chains, long bodies), so a
/// policy can never overflow the caller's thread stack; depth and step
/// limits bound the total.
const RED_ZONE: usize = 256 * 1024;
const STACK_SEGMENT: usize = 4 * 1024 * 1024;

pub struct Frame {
    pub slots: Vec<Option<Value>>,
    trail: Vec<u32>,
}

/// Spare containers, per thread: evaluation needs many short-lived ones
/// (frames, argument lists, the rule-value table), and reusing them saves
/// an allocation apiece. Each pool holds at most a few dozen, emptied.
type Pool<T> = std::thread::LocalKey<std::cell::RefCell<Vec<T>>>;

/// Follows the leading constant steps of `path` from `v`: the value they
/// reach and the steps left; `None` when a constant key is absent (undefined).
fn follow_constants<'v, 't>(v: &'v Value, path: &'t [Term]) -> Option<(&'v Value, &'t [Term])> {
    let mut cur = v;
    let mut i = 0;
    while let Some(Term { kind: TermKind::Scalar(key), .. }) = path.get(i) {
        cur = cur.get(key)?;
        i += 1;
    }
    Some((cur, &path[i..]))
}

/// A node holding rules (not a function) and nothing below: its document is its rules' value.
fn is_rule_leaf(nd: &crate::compile::Node) -> bool {
    nd.children.is_empty() && !nd.is_func && (!nd.rules.is_empty() || nd.default.is_some())
}

/// What `Evaluator::single` found.
enum Single {
    Value(Value),
    Undefined,
    /// The term may have several values (or bind variables): evaluate it with a continuation.
    Many,
}

/// About where the stack is now (the address of a local).
#[inline(always)]
fn stack_pointer() -> usize {
    let probe = 0u8;
    std::hint::black_box(&probe) as *const u8 as usize
}

/// The lowest usable address of the current stack segment, as `stacker` knows it.
fn stack_floor_here() -> usize {
    stacker::remaining_stack().and_then(|room| stack_pointer().checked_sub(room)).unwrap_or(usize::MAX)
}

thread_local! {
    static FRAME_POOL: std::cell::RefCell<Vec<(Vec<Option<Value>>, Vec<u32>)>> = const { std::cell::RefCell::new(Vec::new()) };
    static VEC_POOL: std::cell::RefCell<Vec<Vec<Value>>> = const { std::cell::RefCell::new(Vec::new()) };
    static CACHE_POOL: std::cell::RefCell<Vec<RuleCache>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A spare from `pool`, if there is one.
fn take_spare<T>(pool: &'static Pool<T>) -> Option<T> {
    pool.try_with(|p| p.borrow_mut().pop()).ok().flatten()
}

/// Keeps `spare` (already emptied by the caller) unless the pool holds `max`.
fn give_spare<T>(pool: &'static Pool<T>, spare: T, max: usize) {
    let _ = pool.try_with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < max {
            p.push(spare);
        }
    });
}

/// Rule values by tree node, per context (`with` starts a new one): a
/// table indexed by node (a look-up is an index, not a hash), emptied
/// through the list of the slots filled, so reuse costs what was used.
#[derive(Default)]
struct RuleCache {
    slots: Vec<Option<Option<Value>>>,
    filled: Vec<usize>,
}

impl RuleCache {
    #[inline]
    fn get(&self, n: usize) -> Option<&Option<Value>> {
        self.slots.get(n)?.as_ref()
    }

    fn insert(&mut self, n: usize, v: Option<Value>) {
        if n >= self.slots.len() {
            self.slots.resize(n + 1, None);
        }
        if self.slots[n].is_none() {
            self.filled.push(n);
        }
        self.slots[n] = Some(v);
    }

    fn clear(&mut self) {
        for n in self.filled.drain(..) {
            self.slots[n] = None;
        }
    }
}

impl Frame {
    pub fn new(n: u32) -> Frame {
        if n == 0 {
            // Nothing to bind: no vectors to take (most rule bodies).
            return Frame { slots: Vec::new(), trail: Vec::new() };
        }
        let (mut slots, trail) = take_spare(&FRAME_POOL).unwrap_or_default();
        slots.resize(n as usize, None);
        Frame { slots, trail }
    }
    fn get(&self, s: u32) -> Option<&Value> {
        self.slots.get(s as usize).and_then(|v| v.as_ref())
    }
    fn bind(&mut self, s: u32, v: Value) {
        if let Some(slot) = self.slots.get_mut(s as usize) {
            *slot = Some(v);
            self.trail.push(s);
        }
    }
    fn mark(&self) -> usize {
        self.trail.len()
    }
    fn undo(&mut self, mark: usize) {
        while self.trail.len() > mark {
            if let Some(s) = self.trail.pop() {
                if let Some(slot) = self.slots.get_mut(s as usize) {
                    *slot = None;
                }
            }
        }
    }
}

#[derive(Clone)]
enum Mock {
    Value(Value),
    Func(CallTarget),
}

impl Drop for Frame {
    /// Returns the vectors to the pool, emptied (they keep no values alive).
    fn drop(&mut self) {
        if self.slots.capacity() == 0 || self.slots.capacity() > 256 || self.trail.capacity() > 1024 {
            return;
        }
        let (mut slots, mut trail) = (std::mem::take(&mut self.slots), std::mem::take(&mut self.trail));
        slots.clear();
        trail.clear();
        give_spare(&FRAME_POOL, (slots, trail), 64);
    }
}

fn take_cache() -> RuleCache {
    take_spare(&CACHE_POOL).unwrap_or_default()
}

fn give_cache(mut cache: RuleCache) {
    cache.clear();
    // One per evaluation, one more per level of nested `with`.
    give_spare(&CACHE_POOL, cache, 4);
}

#[derive(Default)]
struct State {
    input: Option<Value>,
    data: Value,
    overrides: Vec<(Vec<Value>, Value)>,
    mocks: HashMap<String, Mock>,
    cache: RuleCache,
    /// Whole documents of tree nodes with children (packages), per context.
    dcache: HashMap<usize, Option<Value>, crate::fasthash::FastHash>,
    /// Function results by (node, arguments), per context like `cache`.
    fcache: HashMap<(usize, Vec<Value>), Option<Value>>,
}


pub struct Limits {
    pub max_steps: u64,
    pub max_depth: u32,
    pub deadline_ns: i64,
    pub cancel: Option<crate::Cancel>,
}

pub struct Evaluator<'a> {
    pol: &'a Compiled,
    st: State,
    saved: Vec<State>,
    pub ctx: Ctx,
    pub strict: bool,
    pub cacheable: bool,
    pub prints: Vec<crate::PrintLine>,
    /// Bytes of `prints` (with a newline each), bounded by `MAX_PRINT_BYTES`.
    print_bytes: usize,
    steps: u64,
    depth: u32,
    limits: Limits,
    /// Rules being computed (a recursion check); a few deep, so kept inline.
    in_progress: SmallVec<[usize; 16]>,
    /// Expression values of the current query row.
    pub qvals: Vec<Value>,
    /// A query of one expression that does not iterate: a `false` value is
    /// its result rather than a failure (OPA captures such a value).
    pub query_reports_false: bool,
    /// The rule whose body is being evaluated (for `rego.metadata.*`).
    cur_rule: Option<&'a CRule>,
    /// The lowest usable stack address of the segment evaluation runs on
    /// (`usize::MAX` when unknown: every check then asks `stacker`).
    stack_floor: usize,
}

/// Where a query's term expression records its value (`eval_query`).
#[derive(Clone, Copy)]
struct Capture {
    index: usize,
    /// `false` is the value rather than a failure (`query_reports_false`).
    keep_false: bool,
}

type TermK<'k, 'a> = &'k mut dyn FnMut(&mut Evaluator<'a>, &mut Frame, Value) -> R;
type BodyK<'k, 'a> = &'k mut dyn FnMut(&mut Evaluator<'a>, &mut Frame) -> R;

/// A short vector for call arguments or a data path.
fn take_vec() -> Vec<Value> {
    take_spare(&VEC_POOL).unwrap_or_else(|| Vec::with_capacity(4))
}

/// Returns a vector to the pool, emptied (it keeps no values alive).
fn give_vec(mut v: Vec<Value>) {
    if v.capacity() > 64 {
        return;
    }
    v.clear();
    give_spare(&VEC_POOL, v, 64);
}

pub fn conflict(msg: String) -> EvalError {
    EvalError::new("eval_conflict_error", msg)
}

impl Drop for Evaluator<'_> {
    fn drop(&mut self) {
        give_cache(std::mem::take(&mut self.st.cache));
    }
}

impl<'a> Evaluator<'a> {
    pub fn new(pol: &'a Compiled, data: Value, input: Option<Value>, strict: bool, limits: Limits) -> Evaluator<'a> {
        Evaluator {
            pol,
            st: State { input, data, cache: take_cache(), ..Default::default() },
            saved: Vec::new(),
            ctx: Ctx::with_clock(strict).with_budget(builtins::Budget::new(limits.max_steps, crate::max_eval_memory(), limits.deadline_ns).with_cancel(limits.cancel.clone())),
            strict,
            cacheable: true,
            prints: Vec::new(),
            print_bytes: 0,
            steps: 0,
            depth: 0,
            // No budget (0) as one too large to reach: `step` then tests one bound.
            limits: Limits { max_steps: if limits.max_steps == 0 { u64::MAX } else { limits.max_steps }, ..limits },
            in_progress: SmallVec::new(),
            qvals: Vec::new(),
            query_reports_false: false,
            cur_rule: None,
            stack_floor: stack_floor_here(),
        }
    }

    fn err_at(&self, code: &'static str, msg: impl Into<String>, span: Span) -> EvalError {
        let mut e = EvalError::new(code, msg);
        if let Some((name, src)) = self.pol.files.get(span.file as usize) {
            let (l, c) = crate::lexer::line_col(src, span.start);
            e.location = Some((name.clone(), l, c));
        }
        e
    }

    #[inline]
    fn step(&mut self) -> Result<(), EvalError> {
        self.steps += 1;
        // One test on the usual path: the budget is checked with the deadline.
        if self.steps & 1023 != 0 && self.steps < self.limits.max_steps {
            return Ok(());
        }
        self.step_checks()
    }

    #[inline(never)]
    fn step_checks(&mut self) -> Result<(), EvalError> {
        if self.limits.max_steps > 0 && self.steps > self.limits.max_steps {
            return Err(EvalError::new("eval_limit_error", format!("evaluation exceeded {} steps", self.limits.max_steps)));
        }
        if self.steps & 1023 == 0 {
            if self.limits.deadline_ns > 0 && Ctx::now() > self.limits.deadline_ns {
                return Err(EvalError::new("eval_timeout", "evaluation deadline exceeded"));
            }
            if self.limits.cancel.as_ref().is_some_and(crate::Cancel::is_cancelled) {
                return Err(EvalError::new(crate::CANCELLED, "evaluation cancelled: the caller has gone away"));
            }
        }
        Ok(())
    }

    fn enter(&mut self) -> Result<(), EvalError> {
        self.depth += 1;
        if self.limits.max_depth > 0 && self.depth > self.limits.max_depth {
            return Err(EvalError::new("eval_limit_error", format!("evaluation exceeded call depth {}", self.limits.max_depth)));
        }
        Ok(())
    }

    // ---- bodies and expressions ----

    pub fn eval_body(&mut self, f: &mut Frame, body: &'a [Expr], k: BodyK<'_, 'a>) -> R {
        match body.split_first() {
            None => k(self, f),
            Some((e, rest)) => self.eval_expr(f, e, &mut |ev, f| ev.eval_body(f, rest, k)),
        }
    }

    /// Like `eval_body`, recording each expression's value (for query output).
    /// A term's value is its own; any other expression's is `true`. A `false`
    /// term fails the row, except in a one-expression query, whose value is
    /// reported as it is when `query_reports_false` (`opa eval '1 == 2'` answers `false`).
    pub fn eval_query(&mut self, f: &mut Frame, body: &'a [Expr], i: usize, k: BodyK<'_, 'a>) -> R {
        let Some(e) = body.get(i) else { return k(self, f) };
        let capture = Capture { index: i, keep_false: self.query_reports_false };
        match &e.kind {
            ExprKind::Term(_) if !e.with.is_empty() => self.with_stack(|ev| ev.eval_with(f, e, Some(capture), &mut |ev, f| ev.eval_query(f, body, i + 1, k))),
            ExprKind::Term(t) => {
                self.step()?;
                self.eval_captured(f, t, capture, &mut |ev, f| ev.eval_query(f, body, i + 1, k))
            }
            _ => self.eval_expr(f, e, &mut |ev, f| {
                if let Some(slot) = ev.qvals.get_mut(i) {
                    *slot = Value::Bool(true);
                }
                ev.eval_query(f, body, i + 1, k)
            }),
        }
    }

    /// A query's term expression: each value recorded as the expression's.
    fn eval_captured(&mut self, f: &mut Frame, t: &'a Term, capture: Capture, k: BodyK<'_, 'a>) -> R {
        self.eval_term(f, t, &mut |ev, f, v| {
            if matches!(v, Value::Bool(false)) && !capture.keep_false {
                return Ok(true);
            }
            if let Some(slot) = ev.qvals.get_mut(capture.index) {
                *slot = v;
            }
            k(ev, f)
        })
    }

    /// OPA's compiler moves parts of a negated expression in front of the negation
    /// (`rewriteExprTerms`: nested calls; `rewriteDynamics`: a call's ref, comprehension
    /// and composite operands, a reference's index terms): when one of them is undefined,
    /// `not` fails rather than succeeds (`not startswith(input.missing, "a")` is undefined).
    fn negation_operands_defined(&mut self, f: &mut Frame, e: &'a Expr) -> Result<bool, EvalError> {
        match &e.kind {
            ExprKind::Term(t) => match &t.kind {
                TermKind::Call(c) => {
                    // `a == b` is unification to OPA (`rewriteEquals`): its sides are not moved whole.
                    let unify = c.args.len() == 2 && matches!(&c.target, CallTarget::Builtin(n) if &**n == "equal");
                    for a in &c.args {
                        let ok = if unify { self.unify_side_defined(f, a)? } else { self.moved_operand_defined(f, a)? };
                        if !ok {
                            return Ok(false);
                        }
                    }
                    Ok(true)
                }
                _ => self.unify_side_defined(f, t),
            },
            ExprKind::Unify(a, b, _) => Ok(self.unify_side_defined(f, a)? && self.unify_side_defined(f, b)?),
            _ => Ok(true),
        }
    }

    /// A side of `=`/`==` or a bare term: nested calls and a reference's index terms are moved.
    fn unify_side_defined(&mut self, f: &mut Frame, t: &'a Term) -> Result<bool, EvalError> {
        match &t.kind {
            TermKind::Ref(_, path) => {
                for p in path {
                    if !self.moved_operand_defined(f, p)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            TermKind::Call(_) => self.term_defined(f, t),
            TermKind::ArrayCompr(..) | TermKind::SetCompr(..) | TermKind::ObjectCompr(..) => Ok(true),
            _ => self.moved_operand_defined(f, t),
        }
    }

    /// An operand OPA binds to a variable first: references and calls whole, composites by parts.
    fn moved_operand_defined(&mut self, f: &mut Frame, t: &'a Term) -> Result<bool, EvalError> {
        match &t.kind {
            TermKind::Ref(..) | TermKind::Call(_) | TermKind::Input | TermKind::Data => self.term_defined(f, t),
            TermKind::Array(items) | TermKind::Set(items) => {
                for x in items {
                    if !self.moved_operand_defined(f, x)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            TermKind::Object(kvs) => {
                for (k, v) in kvs {
                    if !self.moved_operand_defined(f, k)? || !self.moved_operand_defined(f, v)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            _ => Ok(true),
        }
    }

    fn term_defined(&mut self, f: &mut Frame, t: &'a Term) -> Result<bool, EvalError> {
        match self.single(f, t)? {
            Single::Value(_) => Ok(true),
            Single::Undefined => Ok(false),
            Single::Many => {
                let mark = f.mark();
                let mut found = false;
                let r = self.eval_term(f, t, &mut |_, _, _| {
                    found = true;
                    Ok(false)
                });
                f.undo(mark);
                r?;
                Ok(found)
            }
        }
    }

    /// The value bound to a slot.
    pub fn slot(f: &Frame, s: u32) -> Option<Value> {
        f.get(s).cloned()
    }

    /// Runs `g` with at least `RED_ZONE` of stack, on a new segment if need
    /// be. The usual case is one compare against the known floor: asking
    /// `stacker` costs a call and a thread-local look-up at every step.
    #[inline]
    fn with_stack<T>(&mut self, g: impl FnOnce(&mut Self) -> T) -> T {
        if stack_pointer().checked_sub(self.stack_floor).is_some_and(|room| room >= RED_ZONE) {
            return g(self);
        }
        let floor = self.stack_floor;
        let r = stacker::maybe_grow(RED_ZONE, STACK_SEGMENT, || {
            // Possibly on a new segment now: its own floor.
            self.stack_floor = stack_floor_here();
            g(self)
        });
        self.stack_floor = floor;
        r
    }

    fn eval_expr(&mut self, f: &mut Frame, e: &'a Expr, k: BodyK<'_, 'a>) -> R {
        self.step()?;
        self.with_stack(|ev| {
            if !e.with.is_empty() {
                return ev.eval_with(f, e, None, k);
            }
            ev.eval_expr_plain(f, e, k)
        })
    }

    fn eval_expr_plain(&mut self, f: &mut Frame, e: &'a Expr, k: BodyK<'_, 'a>) -> R {
        match &e.kind {
            ExprKind::Term(t) => match self.single(f, t)? {
                Single::Value(v) => {
                    if matches!(v, Value::Bool(false)) {
                        Ok(true)
                    } else {
                        k(self, f)
                    }
                }
                Single::Undefined => Ok(true),
                Single::Many => self.eval_term(f, t, &mut |ev, f, v| if matches!(v, Value::Bool(false)) { Ok(true) } else { k(ev, f) }),
            },
            ExprKind::Unify(a, b, _) => self.unify(f, a, b, k),
            ExprKind::Not(inner) => {
                if !self.negation_operands_defined(f, inner)? {
                    return Ok(true);
                }
                let mark = f.mark();
                let mut found = false;
                let r = self.eval_expr(f, inner, &mut |_, _| {
                    found = true;
                    Ok(false)
                });
                f.undo(mark);
                r?;
                if found {
                    Ok(true)
                } else {
                    k(self, f)
                }
            }
            ExprKind::SomeDecl(_) => k(self, f),
            ExprKind::SomeIn(key, val, coll) => self.eval_term(f, coll, &mut |ev, f, c| {
                for (ck, cv) in children(&c) {
                    ev.step()?;
                    let mark = f.mark();
                    let r = match key {
                        Some(kt) => ev.unify_value(f, kt, ck, &mut |ev, f| ev.unify_value(f, val, cv.clone(), k)),
                        None => ev.unify_value(f, val, cv, k),
                    };
                    f.undo(mark);
                    if !r? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }),
            ExprKind::Every(key, val, dom, body) => {
                let mut holds = true;
                let mut defined = false;
                let mark = f.mark();
                let r = self.eval_term(f, dom, &mut |ev, f, d| {
                    defined = true;
                    if !matches!(d, Value::Array(_) | Value::Object(_) | Value::Set(_)) {
                        holds = false;
                        return Ok(false);
                    }
                    for (ck, cv) in children(&d) {
                        ev.step()?;
                        let mark = f.mark();
                        let mut ok = false;
                        let r = match key {
                            Some(kt) => ev.unify_value(f, kt, ck, &mut |ev, f| {
                                ev.unify_value(f, val, cv.clone(), &mut |ev, f| {
                                    ev.eval_body(f, body, &mut |_, _| {
                                        ok = true;
                                        Ok(false)
                                    })
                                })
                            }),
                            None => ev.unify_value(f, val, cv, &mut |ev, f| {
                                ev.eval_body(f, body, &mut |_, _| {
                                    ok = true;
                                    Ok(false)
                                })
                            }),
                        };
                        f.undo(mark);
                        r?;
                        if !ok {
                            holds = false;
                            return Ok(false);
                        }
                    }
                    Ok(false)
                });
                f.undo(mark);
                r?;
                if holds && defined {
                    k(self, f)
                } else {
                    Ok(true)
                }
            }
        }
    }

    // ---- with ----

    /// `e` with its `with` modifiers applied; `capture`: `e` is a query's term expression (`eval_query`).
    fn eval_with(&mut self, f: &mut Frame, e: &'a Expr, capture: Option<Capture>, k: BodyK<'_, 'a>) -> R {
        // Evaluate the replacement values first (in the current context).
        let mut vals: Vec<Option<Value>> = Vec::new();
        for w in &e.with {
            if w.value_func.is_some() {
                vals.push(None);
                continue;
            }
            let mut got = None;
            self.eval_term(f, &w.value, &mut |_, _, v| {
                got = Some(v);
                Ok(false)
            })?;
            match got {
                Some(v) => vals.push(Some(v)),
                None => return Ok(true),
            }
        }
        // OPA merges `with` values only along string path segments (`input.a[0]` is not one).
        let bad_path = |p: &[Value]| p.iter().any(|s| !matches!(s, Value::String(_)));
        if e.with.iter().any(|w| matches!(&w.kind, WithTarget::Input(p) | WithTarget::Data(p) if bad_path(p))) {
            return Err(self.err_at("eval_conflict_error", "bad document path".to_string(), e.span));
        }
        let mut ns = State {
            input: self.st.input.clone(),
            data: self.st.data.clone(),
            overrides: self.st.overrides.clone(),
            mocks: self.st.mocks.clone(),
            // From the pool: a fresh table would be sized to the highest rule node it meets.
            cache: take_cache(),
            dcache: HashMap::default(),
            fcache: HashMap::new(),
        };
        for (w, v) in e.with.iter().zip(vals) {
            match (&w.kind, v) {
                (WithTarget::Input(p), Some(v)) => {
                    ns.input = Some(set_path(ns.input.take(), p, v));
                }
                (WithTarget::Data(p), Some(v)) => {
                    if self.touches_rules(p) {
                        ns.overrides.retain(|(q, _)| !q.starts_with(p));
                        ns.overrides.push((p.clone(), v));
                    } else {
                        ns.data = set_path(Some(ns.data), p, v);
                    }
                }
                (WithTarget::Builtin(n), v) => {
                    let m = match (v, &w.value_func) {
                        (_, Some(t)) => Mock::Func(t.clone()),
                        (Some(v), None) => Mock::Value(v),
                        (None, None) => continue,
                    };
                    ns.mocks.insert(n.to_string(), m);
                }
                (WithTarget::User(p), v) => {
                    let m = match (v, &w.value_func) {
                        (_, Some(t)) => Mock::Func(t.clone()),
                        (Some(v), None) => Mock::Value(v),
                        (None, None) => continue,
                    };
                    ns.mocks.insert(path_string(p), m);
                }
                _ => {}
            }
        }
        let old = std::mem::replace(&mut self.st, ns);
        self.saved.push(old);
        let mut rest = |ev: &mut Evaluator<'a>, f: &mut Frame| {
            // Continue the rest of the body in the outer context.
            let Some(outer) = ev.saved.pop() else { return k(ev, f) };
            let inner = std::mem::replace(&mut ev.st, outer);
            let r = k(ev, f);
            let outer = std::mem::replace(&mut ev.st, inner);
            ev.saved.push(outer);
            r
        };
        let r = match (capture, &e.kind) {
            (Some(capture), ExprKind::Term(t)) => self.eval_captured(f, t, capture, &mut rest),
            _ => self.eval_expr_plain(f, e, &mut rest),
        };
        if let Some(old) = self.saved.pop() {
            give_cache(std::mem::replace(&mut self.st, old).cache);
        }
        r
    }

    fn touches_rules(&self, p: &[Value]) -> bool {
        let t = &self.pol.tree;
        let mut n = 0usize;
        for k in p {
            match t.child(n, k) {
                Some(c) => n = c,
                None => return false,
            }
            let node = &t.nodes[n];
            if !node.rules.is_empty() || node.default.is_some() {
                return true;
            }
        }
        t.nodes[n].has_rules_below || !t.nodes[n].rules.is_empty()
    }

    // ---- unification ----

    fn is_pattern(&self, f: &Frame, t: &Term) -> bool {
        match &t.kind {
            TermKind::Local(s, _) => f.get(*s).is_none(),
            TermKind::Array(items) => items.iter().any(|i| self.is_pattern(f, i)),
            TermKind::Object(items) => items.iter().any(|(_, v)| self.is_pattern(f, v)),
            _ => false,
        }
    }

    fn unify(&mut self, f: &mut Frame, a: &'a Term, b: &'a Term, k: BodyK<'_, 'a>) -> R {
        match (&a.kind, &b.kind) {
            (TermKind::Array(x), TermKind::Array(y)) if self.is_pattern(f, a) && self.is_pattern(f, b) => {
                if x.len() != y.len() {
                    return Ok(true);
                }
                self.unify_pairs(f, x, y, 0, k)
            }
            (TermKind::Object(x), TermKind::Object(y)) if self.is_pattern(f, a) && self.is_pattern(f, b) => {
                if x.len() != y.len() {
                    return Ok(true);
                }
                let mut ys: Vec<&'a Term> = Vec::new();
                let mut xs: Vec<&'a Term> = Vec::new();
                for (kx, vx) in x {
                    let Some(lk) = kx.literal_value() else { return Err(self.err_at("rego_unsafe_var_error", "object keys must be ground", a.span)) };
                    match y.iter().find(|(ky, _)| ky.literal_value().as_ref() == Some(&lk)) {
                        Some((_, vy)) => {
                            xs.push(vx);
                            ys.push(vy);
                        }
                        None => return Ok(true),
                    }
                }
                self.unify_ref_pairs(f, &xs, &ys, 0, k)
            }
            _ => {
                if self.is_pattern(f, a) {
                    self.eval_term(f, b, &mut |ev, f, v| ev.unify_value(f, a, v, k))
                } else {
                    self.eval_term(f, a, &mut |ev, f, v| ev.unify_value(f, b, v, k))
                }
            }
        }
    }

    fn unify_ref_pairs(&mut self, f: &mut Frame, x: &[&'a Term], y: &[&'a Term], i: usize, k: BodyK<'_, 'a>) -> R {
        if i == x.len() {
            return k(self, f);
        }
        self.unify(f, x[i], y[i], &mut |ev, f| ev.unify_ref_pairs(f, x, y, i + 1, k))
    }

    fn unify_pairs(&mut self, f: &mut Frame, x: &'a [Term], y: &'a [Term], i: usize, k: BodyK<'_, 'a>) -> R {
        if i == x.len() {
            return k(self, f);
        }
        self.unify(f, &x[i], &y[i], &mut |ev, f| ev.unify_pairs(f, x, y, i + 1, k))
    }

    /// Unifies a term (possibly a pattern) with a value.
    pub fn unify_value(&mut self, f: &mut Frame, t: &'a Term, v: Value, k: BodyK<'_, 'a>) -> R {
        match &t.kind {
            TermKind::Local(s, _) => match f.get(*s) {
                Some(cur) => {
                    if *cur == v {
                        k(self, f)
                    } else {
                        Ok(true)
                    }
                }
                None => {
                    let mark = f.mark();
                    f.bind(*s, v);
                    let r = k(self, f);
                    f.undo(mark);
                    r
                }
            },
            TermKind::Scalar(x) => {
                if *x == v {
                    k(self, f)
                } else {
                    Ok(true)
                }
            }
            TermKind::Array(items) if self.is_pattern(f, t) => match &v {
                Value::Array(arr) if arr.len() == items.len() => {
                    let arr = arr.clone();
                    self.unify_items(f, items, &arr, 0, k)
                }
                _ => Ok(true),
            },
            TermKind::Object(items) if self.is_pattern(f, t) => match &v {
                Value::Object(obj) if obj.len() == items.len() => {
                    let obj = obj.clone();
                    self.unify_fields(f, items, &obj, 0, k)
                }
                _ => Ok(true),
            },
            _ => self.eval_term(f, t, &mut |ev, f, tv| if tv == v { k(ev, f) } else { Ok(true) }),
        }
    }

    fn unify_items(&mut self, f: &mut Frame, items: &'a [Term], arr: &Arc<[Value]>, i: usize, k: BodyK<'_, 'a>) -> R {
        if i == items.len() {
            return k(self, f);
        }
        let v = arr[i].clone();
        let arr2 = arr.clone();
        self.unify_value(f, &items[i], v, &mut |ev, f| ev.unify_items(f, items, &arr2, i + 1, k))
    }

    fn unify_fields(&mut self, f: &mut Frame, items: &'a [(Term, Term)], obj: &Arc<Map>, i: usize, k: BodyK<'_, 'a>) -> R {
        if i == items.len() {
            return k(self, f);
        }
        let obj2 = obj.clone();
        self.eval_term(f, &items[i].0, &mut |ev, f, key| match obj2.get(&key) {
            Some(v) => {
                let v = v.clone();
                let obj3 = obj2.clone();
                ev.unify_value(f, &items[i].1, v, &mut |ev, f| ev.unify_fields(f, items, &obj3, i + 1, k))
            }
            None => Ok(true),
        })
    }

    // ---- terms ----

    pub fn eval_term(&mut self, f: &mut Frame, t: &'a Term, k: TermK<'_, 'a>) -> R {
        match &t.kind {
            TermKind::Scalar(v) => k(self, f, v.clone()),
            _ => self.with_stack(|ev| ev.eval_term_inner(f, t, k)),
        }
    }

    fn eval_term_inner(&mut self, f: &mut Frame, t: &'a Term, k: TermK<'_, 'a>) -> R {
        match &t.kind {
            TermKind::Scalar(v) => k(self, f, v.clone()),
            TermKind::Local(s, n) => match f.get(*s) {
                Some(v) => {
                    let v = v.clone();
                    k(self, f, v)
                }
                None => Err(self.err_at("rego_unsafe_var_error", format!("var {} is unsafe", n), t.span)),
            },
            TermKind::Input => match self.st.input.clone() {
                Some(v) => k(self, f, v),
                None => Ok(true),
            },
            TermKind::Data => self.eval_data_root(f, None, &[], k),
            TermKind::Var(n) => Err(self.err_at("rego_unsafe_var_error", format!("var {} is unsafe", n), t.span)),
            TermKind::Ref(h, path) => match h.kind {
                TermKind::Data => self.eval_data_root(f, t.data_node, path, k),
                TermKind::Input => {
                    // `input.a.b`: walked in place, without a copy of the whole input first.
                    let Some(input) = &self.st.input else { return Ok(true) };
                    let Some((reached, rest)) = follow_constants(input, path) else { return Ok(true) };
                    let reached = reached.clone();
                    self.index_value_at(f, reached, rest, k)
                }
                _ => self.eval_term(f, h, &mut |ev, f, v| ev.index_value(f, v, path, k)),
            },
            TermKind::Array(items) => {
                let mut acc = Vec::with_capacity(items.len());
                self.eval_list(f, items, &mut acc, &mut |ev, f, vals| k(ev, f, Value::from_array(vals.to_vec())))
            }
            TermKind::Set(items) => {
                let mut acc = Vec::with_capacity(items.len());
                self.eval_list(f, items, &mut acc, &mut |ev, f, vals| k(ev, f, Value::from_set(vals.iter().cloned().collect())))
            }
            TermKind::Object(items) => {
                let mut acc = Vec::with_capacity(items.len() * 2);
                let flat: Vec<&'a Term> = items.iter().flat_map(|(a, b)| [a, b]).collect();
                self.eval_list_refs(f, &flat, &mut acc, &mut |ev, f, vals| {
                    let mut m = Map::new();
                    for pair in vals.chunks(2) {
                        if let [a, b] = pair {
                            m.insert(a.clone(), b.clone());
                        }
                    }
                    k(ev, f, Value::from_map(m))
                })
            }
            TermKind::ArrayCompr(h, body) => {
                let mut out = Vec::new();
                let mark = f.mark();
                let r = self.eval_body(f, body, &mut |ev, f| {
                    ev.eval_term(f, h, &mut |_, _, v| {
                        out.push(v);
                        Ok(true)
                    })
                });
                f.undo(mark);
                r?;
                k(self, f, Value::from_array(out))
            }
            TermKind::SetCompr(h, body) => {
                let mut out = Set::new();
                let mark = f.mark();
                let r = self.eval_body(f, body, &mut |ev, f| {
                    ev.eval_term(f, h, &mut |_, _, v| {
                        out.insert(v);
                        Ok(true)
                    })
                });
                f.undo(mark);
                r?;
                k(self, f, Value::from_set(out))
            }
            TermKind::ObjectCompr(kt, vt, body) => {
                let mut out = Map::new();
                let mark = f.mark();
                let span = t.span;
                let r = self.eval_body(f, body, &mut |ev, f| {
                    ev.eval_term(f, kt, &mut |ev, f, key| {
                        let out = &mut out;
                        ev.eval_term(f, vt, &mut |ev, _, val| {
                            if let Some(old) = out.get(&key) {
                                if *old != val {
                                    return Err(ev.err_at("eval_conflict_error", "object keys must be unique", span));
                                }
                            }
                            out.insert(key.clone(), val);
                            Ok(true)
                        })
                    })
                });
                f.undo(mark);
                r?;
                k(self, f, Value::from_map(out))
            }
            TermKind::Call(c) => self.eval_call(f, c, t.span, k),
        }
    }

    fn eval_list(&mut self, f: &mut Frame, items: &'a [Term], acc: &mut Vec<Value>, k: &mut dyn FnMut(&mut Evaluator<'a>, &mut Frame, &[Value]) -> R) -> R {
        let start = acc.len();
        // Items with one value at most are taken in a loop; a continuation
        // is only needed from the first item that may enumerate.
        let r = loop {
            let i = acc.len();
            if i == items.len() {
                break k(self, f, acc);
            }
            match self.single(f, &items[i]) {
                Ok(Single::Value(v)) => acc.push(v),
                Ok(Single::Undefined) => break Ok(true),
                Ok(Single::Many) => {
                    break self.eval_term(f, &items[i], &mut |ev, f, v| {
                        acc.push(v);
                        let r = ev.eval_list(f, items, acc, k);
                        acc.pop();
                        r
                    })
                }
                Err(e) => break Err(e),
            }
        };
        acc.truncate(start);
        r
    }

    /// The value of `t` without a continuation, when `t` cannot enumerate:
    /// a constant, a bound variable, or a reference along constant steps
    /// from the input, a bound variable or a rule. `Many` otherwise.
    fn single(&mut self, f: &Frame, t: &'a Term) -> Result<Single, EvalError> {
        let along = |v: Option<&Value>, path: &[Term]| match v.and_then(|v| follow_constants(v, path)) {
            Some((reached, [])) => Single::Value(reached.clone()),
            Some(_) => Single::Many,
            None => Single::Undefined,
        };
        Ok(match &t.kind {
            TermKind::Scalar(v) => Single::Value(v.clone()),
            TermKind::Local(s, _) => match f.get(*s) {
                Some(v) => Single::Value(v.clone()),
                None => Single::Many,
            },
            TermKind::Ref(h, path) => match &h.kind {
                TermKind::Input => along(self.st.input.as_ref(), path),
                TermKind::Local(s, _) => match f.get(*s) {
                    Some(v) => along(Some(v), path),
                    None => Single::Many,
                },
                // As `eval_data_root` takes a reference the compiler resolved to a rule;
                // every step constant, so every step is followed.
                TermKind::Data => match self.resolved_steps(t.data_node, path) {
                    Some((n, rest)) if rest.iter().all(|s| matches!(s.kind, TermKind::Scalar(_))) => match self.resolved_doc(n, rest)? {
                        Some((v, _)) => Single::Value(v),
                        None => Single::Undefined,
                    },
                    _ => Single::Many,
                },
                _ => Single::Many,
            },
            // A builtin call on such terms (`count(path) > 1`, `startswith(p, "/x")`);
            // mocked builtins, relations and special forms take the long way.
            TermKind::Call(c) if self.st.mocks.is_empty() && c.arity == Some(c.args.len()) => match c.builtin {
                Some(b) if b.func.is_some() || matches!(b.name, "internal.member_2" | "internal.member_3") => self.with_stack(|ev| ev.single_call(f, b, &c.args, t.span))?,
                _ => Single::Many,
            },
            _ => Single::Many,
        })
    }

    fn single_call(&mut self, f: &Frame, b: &crate::builtins::Builtin, args: &'a [Term], span: Span) -> Result<Single, EvalError> {
        self.step()?;
        let mut vals: SmallVec<[Value; 3]> = SmallVec::new();
        for a in args {
            match self.single(f, a)? {
                Single::Value(v) => vals.push(v),
                other => return Ok(other),
            }
        }
        // Membership (`x in xs`) is the evaluator's own; every other builtin here is registered.
        let r = if b.func.is_some() { self.call_registered(b, &vals, span) } else { self.call_builtin(b.name, &vals, span) };
        Ok(match r? {
            Some(v) => Single::Value(v),
            None => Single::Undefined,
        })
    }

    fn eval_list_refs(&mut self, f: &mut Frame, items: &[&'a Term], acc: &mut Vec<Value>, k: &mut dyn FnMut(&mut Evaluator<'a>, &mut Frame, &[Value]) -> R) -> R {
        let i = acc.len();
        if i == items.len() {
            return k(self, f, acc);
        }
        let t = items[i];
        self.eval_term(f, t, &mut |ev, f, v| {
            acc.push(v);
            let r = ev.eval_list_refs(f, items, acc, k);
            acc.pop();
            r
        })
    }

    /// Follows `path[i..]` into `v`, enumerating unbound keys.
    fn index_value(&mut self, f: &mut Frame, v: Value, path: &'a [Term], k: TermK<'_, 'a>) -> R {
        // Constant steps (`.request.http`, `[0]`) are followed by reference:
        // no continuation and no clone per step, one clone where they end.
        let Some((reached, rest)) = follow_constants(&v, path) else { return Ok(true) };
        if rest.len() < path.len() {
            let reached = reached.clone();
            drop(v);
            return self.index_value_at(f, reached, rest, k);
        }
        self.index_value_at(f, v, path, k)
    }

    /// `index_value` from a step that may not be constant.
    fn index_value_at(&mut self, f: &mut Frame, v: Value, path: &'a [Term], k: TermK<'_, 'a>) -> R {
        let Some((seg, rest)) = path.split_first() else { return k(self, f, v) };
        if self.is_pattern(f, seg) {
            for (ck, cv) in children(&v) {
                self.step()?;
                let mark = f.mark();
                let r = self.unify_value(f, seg, ck, &mut |ev, f| ev.index_value(f, cv.clone(), rest, k));
                f.undo(mark);
                if !r? {
                    return Ok(false);
                }
            }
            return Ok(true);
        }
        self.eval_term(f, seg, &mut |ev, f, key| match v.get(&key) {
            Some(c) => ev.index_value(f, c.clone(), rest, k),
            None => Ok(true),
        })
    }

    // ---- data ----

    fn base_at(&self, prefix: &[Value]) -> Option<Value> {
        let mut cur = &self.st.data;
        for k in prefix {
            cur = match (cur.get(k), k) {
                (Some(c), _) => c,
                // Stored documents have string keys: `data[2]` reads key "2".
                (None, Value::Number(n)) if matches!(cur, Value::Object(_)) => cur.get(&Value::from(n.to_string()))?,
                _ => return None,
            };
        }
        Some(cur.clone())
    }

    fn override_for(&self, prefix: &[Value]) -> Option<Option<Value>> {
        for (p, v) in self.st.overrides.iter().rev() {
            if prefix.starts_with(p) {
                let mut cur = v;
                for k in &prefix[p.len()..] {
                    match cur.get(k) {
                        Some(c) => cur = c,
                        None => return Some(None),
                    }
                }
                return Some(Some(cur.clone()));
            }
        }
        None
    }

    /// `data` followed by `path`, with a spare vector for the path walked so far.
    /// `resolved`: the rule node the compiler found the path to reach (`Term::data_node`).
    fn eval_data_root(&mut self, f: &mut Frame, resolved: Option<(u32, u32)>, path: &'a [Term], k: TermK<'_, 'a>) -> R {
        if let Some((n, rest)) = self.resolved_steps(resolved, path) {
            return match self.resolved_doc(n, rest)? {
                Some((v, rest)) => self.index_value_at(f, v, rest, k),
                None => Ok(true),
            };
        }
        let mut prefix = take_vec();
        let r = self.eval_data_ref(f, Some(0), &mut prefix, path, k);
        give_vec(prefix);
        r
    }

    /// The rule node a `data` reference was resolved to by the compiler and
    /// the steps after it, when that still holds: `with` overrides are the only
    /// thing that can change the way, and there are none.
    fn resolved_steps(&self, resolved: Option<(u32, u32)>, path: &'a [Term]) -> Option<(usize, &'a [Term])> {
        let (n, used) = resolved?;
        if !self.st.overrides.is_empty() || n as usize >= self.pol.tree.nodes.len() {
            return None;
        }
        Some((n as usize, path.get(used as usize..)?))
    }

    /// The document of node `n` followed along the leading constant steps of
    /// `rest` (`path[0]`), and the steps left; `None` when undefined. A rule
    /// leaf is read in place in the rule-value table, so only what is
    /// reached is copied (a string, not a reference to the whole array).
    /// Without `with` overrides only (`resolved_steps`).
    fn resolved_doc(&mut self, n: usize, rest: &'a [Term]) -> Result<Option<(Value, &'a [Term])>, EvalError> {
        let pol = self.pol;
        let node = &pol.tree.nodes[n];
        if is_rule_leaf(node) {
            if self.st.cache.get(n).is_none() {
                self.rule_value_first(n)?;
            }
            let doc = self.st.cache.get(n).and_then(|d| d.as_ref());
            return Ok(doc.and_then(|d| follow_constants(d, rest)).map(|(v, r)| (v.clone(), r)));
        }
        let doc = self.node_doc(n, &node.path)?;
        Ok(doc.as_ref().and_then(|d| follow_constants(d, rest)).map(|(v, r)| (v.clone(), r)))
    }

    /// Follows `path` from tree node `node` (`None`: below the rules, in base
    /// data), `prefix` being the path so far; leaves `prefix` as it found it.
    fn eval_data_ref(&mut self, f: &mut Frame, node: Option<usize>, prefix: &mut Vec<Value>, path: &'a [Term], k: TermK<'_, 'a>) -> R {
        let len = prefix.len();
        let r = self.eval_data_ref_at(f, node, prefix, path, k);
        prefix.truncate(len);
        r
    }

    fn eval_data_ref_at(&mut self, f: &mut Frame, node: Option<usize>, prefix: &mut Vec<Value>, path: &'a [Term], k: TermK<'_, 'a>) -> R {
        // Fast path: constant segments through package nodes (no rules, no
        // `with` overrides) walk the tree directly, without a closure per step.
        let (mut node, mut path) = (node, path);
        if let (Some(n), true) = (node, self.st.overrides.is_empty()) {
            let (reached, used) = self.pol.tree.through_packages(n, path);
            prefix.extend(path[..used].iter().filter_map(|seg| match &seg.kind {
                TermKind::Scalar(key) => Some(key.clone()),
                _ => None,
            }));
            node = Some(reached);
            path = &path[used..];
        }
        if !self.st.overrides.is_empty() {
            if let Some(ov) = self.override_for(prefix) {
                return match ov {
                    Some(v) => self.index_value(f, v, path, k),
                    None => Ok(true),
                };
            }
        }
        let tree = &self.pol.tree;
        let Some(n) = node else {
            if let Some((seg, rest)) = path.split_first() {
                if !self.is_pattern(f, seg) {
                    return self.eval_term(f, seg, &mut |ev, f, key| {
                        prefix.push(key);
                        let r = ev.eval_data_ref(f, None, prefix, rest, k);
                        prefix.pop();
                        r
                    });
                }
            }
            return match self.base_at(prefix) {
                Some(v) => self.index_value(f, v, path, k),
                None => Ok(true),
            };
        };
        let nd = &tree.nodes[n];
        if nd.is_func {
            return Ok(true);
        }
        if !nd.rules.is_empty() || nd.default.is_some() || path.is_empty() {
            return match self.node_doc(n, prefix)? {
                Some(v) => self.index_value(f, v, path, k),
                None => Ok(true),
            };
        }
        let (seg, rest) = match path.split_first() {
            Some(x) => x,
            None => return Ok(true),
        };
        if self.is_pattern(f, seg) {
            let mut keys: Vec<Value> = nd.children.keys().cloned().collect();
            if let Some(Value::Object(o)) = self.base_at(prefix) {
                keys.extend(o.keys().cloned());
            }
            keys.sort();
            keys.dedup();
            for key in keys {
                let mark = f.mark();
                let child = tree.child(n, &key);
                prefix.push(key.clone());
                let r = self.unify_value(f, seg, key, &mut |ev, f| ev.eval_data_ref(f, child, prefix, rest, k));
                prefix.pop();
                f.undo(mark);
                if !r? {
                    return Ok(false);
                }
            }
            return Ok(true);
        }
        self.eval_term(f, seg, &mut |ev, f, key| {
            let child = ev.pol.tree.child(n, &key);
            prefix.push(key);
            let r = ev.eval_data_ref(f, child, prefix, rest, k);
            prefix.pop();
            r
        })
    }

    /// The whole document at a tree node: rule values merged with base data and children.
    fn node_doc(&mut self, n: usize, prefix: &[Value]) -> Result<Option<Value>, EvalError> {
        let nd = &self.pol.tree.nodes[n];
        if is_rule_leaf(nd) && self.st.overrides.is_empty() {
            // A rule leaf (the common case): its value, without the document
            // cache (leaves are not kept there) or the base document below it.
            return self.rule_value(n);
        }
        if let Some(v) = self.st.dcache.get(&n) {
            return Ok(v.clone());
        }
        let v = self.with_stack(|ev| ev.node_doc_inner(n, prefix))?;
        if !self.pol.tree.nodes[n].children.is_empty() {
            self.st.dcache.insert(n, v.clone());
        }
        Ok(v)
    }

    fn node_doc_inner(&mut self, n: usize, prefix: &[Value]) -> Result<Option<Value>, EvalError> {
        if !self.st.overrides.is_empty() {
            if let Some(ov) = self.override_for(prefix) {
                return Ok(ov);
            }
        }
        let tree = &self.pol.tree;
        let nd = &tree.nodes[n];
        if nd.is_func {
            return Ok(None);
        }
        let rv = if !nd.rules.is_empty() || nd.default.is_some() { self.rule_value(n)? } else { None };
        let has_rules = !nd.rules.is_empty() || nd.default.is_some();
        let in_rule_doc = nd.in_rule_doc;
        let base = self.base_at(prefix);
        if nd.children.is_empty() {
            // A leaf without rules is a package without rules: `{}` at least (OPA).
            let v = if has_rules { rv } else { base.or_else(|| (!in_rule_doc).then(Value::empty_object)) };
            return Ok(self.apply_overrides_below(prefix, v));
        }
        let mut obj: Map = match (&rv, &base) {
            (Some(Value::Object(o)), _) => (**o).clone(),
            (Some(other), _) => return Ok(Some(other.clone())),
            (None, Some(Value::Object(o))) => (**o).clone(),
            (None, Some(other)) if !nd.has_rules_below => return Ok(Some(other.clone())),
            _ => Map::new(),
        };
        if has_rules {
            if let Some(Value::Object(b)) = &base {
                for (k, v) in b.iter() {
                    obj.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        }
        let kids: Vec<(Value, usize)> = nd.children.iter().map(|(k, &c)| (k.clone(), c)).collect();
        for (key, c) in kids {
            if self.pol.tree.nodes[c].is_func {
                continue;
            }
            let mut p2 = prefix.to_vec();
            p2.push(key.clone());
            if let Some(v) = self.node_doc(c, &p2)? {
                let from_rules = matches!(&rv, Some(Value::Object(o)) if o.contains_key(&key));
                let merged = match obj.get(&key) {
                    // Two rules defining the same key differently (`p[x] := 1` and `p.a := 2`).
                    Some(old) if from_rules => {
                        // Levels of this node's rule values that are still path (`p[q].r.s`: `r`, `s`).
                        let nd = &self.pol.tree.nodes[n];
                        let path_levels = nd.rules.iter().map(|&r| self.pol.rules[r].tail.len().saturating_sub(1)).min().unwrap_or(0);
                        match merge_rule_values(old, &v, path_levels) {
                            Some(m) => m,
                            None => {
                                let span = nd.rules.first().map(|&r| self.pol.rules[r].span).unwrap_or_default();
                                return Err(self.err_at("eval_conflict_error", format!("object keys must be unique: {} produced conflicting values", path_string(&p2)), span));
                            }
                        }
                    }
                    // Base documents take precedence over virtual ones on conflict.
                    Some(b) => merge_base_wins(b, &v),
                    None => v,
                };
                obj.insert(key, merged);
            }
        }
        // Inside a rule set's document, a node with nothing defined below is undefined.
        if obj.is_empty() && !has_rules && base.is_none() && in_rule_doc {
            return Ok(self.apply_overrides_below(prefix, None));
        }
        Ok(self.apply_overrides_below(prefix, Some(Value::from_map(obj))))
    }

    fn apply_overrides_below(&self, prefix: &[Value], v: Option<Value>) -> Option<Value> {
        if self.st.overrides.is_empty() {
            return v;
        }
        let mut out = v;
        for (p, ov) in &self.st.overrides {
            if p.len() > prefix.len() && p.starts_with(prefix) {
                out = Some(set_path(out, &p[prefix.len()..], ov.clone()));
            }
        }
        out
    }

    /// The value the rules at node `n` define (memoized per context).
    #[inline]
    fn rule_value(&mut self, n: usize) -> Result<Option<Value>, EvalError> {
        if let Some(v) = self.st.cache.get(n) {
            return Ok(v.clone());
        }
        self.rule_value_first(n)
    }

    /// A rule's value the first time it is asked for in this context.
    #[inline(never)]
    fn rule_value_first(&mut self, n: usize) -> Result<Option<Value>, EvalError> {
        if self.in_progress.contains(&n) {
            let p = self.pol.tree.nodes[n].rules.first().map(|&r| path_string(&self.pol.rules[r].path)).unwrap_or_default();
            return Err(EvalError::new("rego_recursion_error", format!("rule {} is recursive", p)));
        }
        self.enter()?;
        self.in_progress.push(n);
        let r = self.compute_rule_value(n);
        self.in_progress.pop();
        self.depth -= 1;
        let v = r?;
        self.st.cache.insert(n, v.clone());
        Ok(v)
    }

    fn compute_rule_value(&mut self, n: usize) -> Result<Option<Value>, EvalError> {
        let pol = self.pol;
        let nd = &pol.tree.nodes[n];
        let mut result: Option<Value> = None;
        let mut set: Option<Set> = None;
        let mut obj: Option<Map> = None;
        let selected: Vec<usize>;
        let rules: &[usize] = match &nd.index {
            Some(ix) => {
                let key = self.st.input.as_ref().and_then(|i| {
                    let mut cur = i;
                    for k in &ix.path {
                        cur = cur.get(k)?;
                    }
                    Some(cur)
                });
                let mut v: Vec<usize> = ix.rest.clone();
                if let Some(hit) = key.and_then(|k| ix.by_value.get(k)) {
                    v.extend(hit.iter().copied());
                    v.sort_unstable();
                }
                selected = v;
                &selected
            }
            None => &nd.rules,
        };
        let saved_rule = self.cur_rule;
        for &ri in rules {
            let rule = &pol.rules[ri];
            self.cur_rule = Some(rule);
            match rule.kind {
                RuleKind::Set if !rule.tail.is_empty() => {
                    let o = obj.get_or_insert_with(Map::new);
                    self.eval_multi_value_ref(rule, o)?;
                }
                RuleKind::Set => {
                    let s = set.get_or_insert_with(Set::new);
                    let mut fr = Frame::new(rule.nslots);
                    let key = rule.key.as_ref();
                    self.eval_body(&mut fr, &rule.body, &mut |ev, f| match key {
                        Some(kt) => ev.eval_term(f, kt, &mut |_, _, v| {
                            s.insert(v);
                            Ok(true)
                        }),
                        None => Ok(true),
                    })?;
                }
                RuleKind::Complete if !rule.tail.is_empty() => {
                    let o = obj.get_or_insert_with(Map::new);
                    self.eval_partial_object(rule, o)?;
                }
                _ => {
                    if let (Some(cv), Some(res), None) = (&rule.const_value, &result, &rule.else_) {
                        if cv == res {
                            continue;
                        }
                    }
                    if let Some(v) = self.eval_complete(rule)? {
                        match &result {
                            Some(old) if *old != v => {
                                return Err(self.rule_conflict(rule));
                            }
                            _ => result = Some(v),
                        }
                    }
                }
            }
        }
        self.cur_rule = saved_rule;
        if let Some(s) = set {
            return Ok(Some(Value::from_set(s)));
        }
        if let Some(o) = obj {
            if let Some(Value::Object(r)) = &result {
                let mut m = (**r).clone();
                m.extend(o);
                return Ok(Some(Value::from_map(m)));
            }
            return Ok(Some(Value::from_map(o)));
        }
        if result.is_none() {
            if let Some(d) = nd.default {
                let rule = &pol.rules[d];
                let mut fr = Frame::new(rule.nslots);
                let mut out = None;
                self.eval_term(&mut fr, &rule.value, &mut |_, _, v| {
                    out = Some(v);
                    Ok(false)
                })?;
                return Ok(out);
            }
        }
        Ok(result)
    }

    fn rule_conflict(&self, rule: &CRule) -> EvalError {
        self.err_at(
            "eval_conflict_error",
            format!("complete rules must not produce multiple outputs: rule {} produced conflicting values", path_string(&rule.path)),
            rule.span,
        )
    }

    /// A complete rule (with its else chain): its single value, if any.
    fn eval_complete(&mut self, rule: &'a CRule) -> Result<Option<Value>, EvalError> {
        let mut fr = Frame::new(rule.nslots);
        let mut out: Option<Value> = None;
        let mut conflict_err = false;
        let single = rule.const_value.is_some();
        self.eval_body(&mut fr, &rule.body, &mut |ev, f| {
            ev.eval_term(f, &rule.value, &mut |_, _, v| {
                match &out {
                    Some(o) if *o != v => {
                        conflict_err = true;
                        return Ok(false);
                    }
                    _ => out = Some(v),
                }
                Ok(!single)
            })
        })?;
        if conflict_err {
            return Err(self.rule_conflict(rule));
        }
        if out.is_none() {
            if let Some(e) = &rule.else_ {
                return self.eval_complete(e);
            }
        }
        Ok(out)
    }

    fn eval_partial_object(&mut self, rule: &'a CRule, o: &mut Map) -> Result<(), EvalError> {
        let mut fr = Frame::new(rule.nslots);
        let tail = &rule.tail;
        let mut err = None;
        self.eval_body(&mut fr, &rule.body, &mut |ev, f| {
            let mut acc = Vec::new();
            let o = &mut *o;
            let err = &mut err;
            ev.eval_list(f, tail, &mut acc, &mut |ev, f, keys| {
                let keys = keys.to_vec();
                ev.eval_term(f, &rule.value, &mut |ev, _, v| {
                    if let Err(e) = insert_path(o, &keys, v) {
                        *err = Some(ev.err_at(
                            "eval_conflict_error",
                            format!("object keys must be unique: rule {} produced conflicting values{}", path_string(&rule.path), e),
                            rule.span,
                        ));
                        return Ok(false);
                    }
                    Ok(true)
                })
            })
        })?;
        match err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// `a.b[x] contains y`: sets at the leaves of nested objects.
    fn eval_multi_value_ref(&mut self, rule: &'a CRule, o: &mut Map) -> Result<(), EvalError> {
        let mut fr = Frame::new(rule.nslots);
        let tail = &rule.tail;
        let Some(kt) = rule.key.as_ref() else { return Ok(()) };
        let mut err = None;
        self.eval_body(&mut fr, &rule.body, &mut |ev, f| {
            let mut acc = Vec::new();
            let o = &mut *o;
            let err = &mut err;
            ev.eval_list(f, tail, &mut acc, &mut |ev, f, keys| {
                let keys = keys.to_vec();
                ev.eval_term(f, kt, &mut |ev, _, v| {
                    if insert_set_path(o, &keys, v).is_err() {
                        *err = Some(ev.err_at("eval_conflict_error", format!("rule {} produced conflicting values", path_string(&rule.path)), rule.span));
                        return Ok(false);
                    }
                    Ok(true)
                })
            })
        })?;
        match err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    // ---- calls ----

    fn eval_call(&mut self, f: &mut Frame, c: &'a Call, span: Span, k: TermK<'_, 'a>) -> R {
        self.step()?;
        let (builtin, user): (Option<&'a Arc<str>>, Option<Arc<[Value]>>) = match &c.target {
            CallTarget::Builtin(n) => (Some(n), None),
            CallTarget::User(p) => (None, Some(p.clone())),
            CallTarget::Unresolved => return Err(self.err_at("rego_type_error", "unresolved call", span)),
        };
        // Relations and special forms.
        if let Some(name) = builtin {
            match &**name {
                "walk" => return self.eval_walk(f, c, k),
                "print" | "internal.print" => return self.eval_print(f, c, span, k),
                "eq" | "assign" if c.args.len() == 2 => {
                    return self.unify(f, &c.args[0], &c.args[1], &mut |ev, f| k(ev, f, Value::Bool(true)));
                }
                _ => {}
            }
        }
        // The mock table is keyed by the dotted name; only built when mocks exist.
        let mock = if self.st.mocks.is_empty() {
            None
        } else {
            let name = match (&builtin, &user) {
                (Some(n), _) => n.to_string(),
                (_, Some(p)) => path_string(p),
                _ => String::new(),
            };
            self.st.mocks.get(&name).cloned()
        };
        let arity = c.arity;
        let nargs = match arity {
            Some(a) if c.args.len() == a + 1 => a,
            _ => c.args.len(),
        };
        let (inputs, output) = c.args.split_at(nargs);
        let mut acc = take_vec();
        let mut finish = |ev: &mut Evaluator<'a>, f: &mut Frame, vals: &[Value]| -> R {
            let result = match &mock {
                Some(Mock::Value(v)) => Some(v.clone()),
                Some(Mock::Func(t)) => {
                    // A replacement runs without the mocks around it (it sees the
                    // originals, and never another mock), in its own cache context.
                    let inner = State {
                        input: ev.st.input.clone(),
                        data: ev.st.data.clone(),
                        overrides: ev.st.overrides.clone(),
                        ..Default::default()
                    };
                    let outer = std::mem::replace(&mut ev.st, inner);
                    let r = ev.call_target(t, vals, span);
                    ev.st = outer;
                    r?
                }
                None => match (&user, builtin) {
                    (Some(p), _) => ev.call_user(p, vals, span)?,
                    (None, Some(name)) => match c.builtin {
                        // Linked at compile time: no look-up by name.
                        Some(b @ crate::builtins::Builtin { func: Some(_), .. }) => ev.call_registered(b, vals, span)?,
                        _ => ev.call_builtin(name, vals, span)?,
                    },
                    (None, None) => None,
                },
            };
            match result {
                None => Ok(true),
                Some(v) => match output.first() {
                    Some(out) => ev.unify_value(f, out, v, &mut |ev, f| k(ev, f, Value::Bool(true))),
                    None => k(ev, f, v),
                },
            }
        };
        // Plain variables go last: a reference among the arguments may bind them (`x == a[x]`).
        let late = inputs.iter().any(|t| matches!(t.kind, TermKind::Local(s, _) if f.get(s).is_none()));
        if !late {
            let r = self.eval_list(f, inputs, &mut acc, &mut finish);
            give_vec(acc);
            return r;
        }
        let mut order: Vec<&'a Term> = inputs.iter().filter(|t| !matches!(t.kind, TermKind::Local(..))).collect();
        order.extend(inputs.iter().filter(|t| matches!(t.kind, TermKind::Local(..))));
        let order_ref = &order;
        let r = self.eval_list_refs(f, order_ref, &mut acc, &mut |ev, f, vals| {
            let mut by_pos: Vec<Value> = vec![Value::Null; vals.len()];
            for (t, v) in order_ref.iter().zip(vals.iter()) {
                if let Some(i) = inputs.iter().position(|x| std::ptr::eq(x, *t)) {
                    by_pos[i] = v.clone();
                }
            }
            finish(ev, f, &by_pos)
        });
        give_vec(acc);
        r
    }

    fn call_target(&mut self, t: &CallTarget, args: &[Value], span: Span) -> Result<Option<Value>, EvalError> {
        match t {
            CallTarget::User(p) => self.call_user(p, args, span),
            CallTarget::Builtin(n) => self.call_builtin(n, args, span),
            CallTarget::Unresolved => Ok(None),
        }
    }

    fn call_user(&mut self, p: &[Value], args: &[Value], span: Span) -> Result<Option<Value>, EvalError> {
        let pol = self.pol;
        let Some(n) = pol.tree.find(p) else { return Ok(None) };
        let key = (n, args.to_vec());
        if let Some(v) = self.st.fcache.get(&key) {
            return Ok(v.clone());
        }
        let r = self.call_user_uncached(n, p, args, span)?;
        self.st.fcache.insert(key, r.clone());
        Ok(r)
    }

    fn call_user_uncached(&mut self, n: usize, p: &[Value], args: &[Value], span: Span) -> Result<Option<Value>, EvalError> {
        let pol = self.pol;
        let nd = &pol.tree.nodes[n];
        self.enter()?;
        let mut result: Option<Value> = None;
        let mut failed = None;
        let saved_rule = self.cur_rule;
        for &ri in &nd.rules {
            let rule = &pol.rules[ri];
            self.cur_rule = Some(rule);
            let r = self.eval_function(rule, args);
            self.cur_rule = saved_rule;
            match r {
                Ok(Some(v)) => match &result {
                    Some(old) if *old != v => {
                        failed = Some(self.func_conflict(p, span));
                        break;
                    }
                    _ => result = Some(v),
                },
                Ok(None) => {}
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if failed.is_none() && result.is_none() {
            if let Some(d) = nd.default {
                let rule = &pol.rules[d];
                let mut fr = Frame::new(rule.nslots);
                let mut out = None;
                match self.eval_term(&mut fr, &rule.value, &mut |_, _, v| {
                    out = Some(v);
                    Ok(false)
                }) {
                    Ok(_) => result = out,
                    Err(e) => failed = Some(e),
                }
            }
        }
        self.depth -= 1;
        match failed {
            Some(e) => Err(e),
            None => Ok(result),
        }
    }

    fn func_conflict(&self, p: &[Value], span: Span) -> EvalError {
        self.err_at(
            "eval_conflict_error",
            format!("functions must not produce multiple outputs for same inputs: function {} produced conflicting values for the same inputs", path_string(p)),
            span,
        )
    }

    fn eval_function(&mut self, rule: &'a CRule, args: &[Value]) -> Result<Option<Value>, EvalError> {
        if rule.args.len() != args.len() {
            return Ok(None);
        }
        let mut fr = Frame::new(rule.nslots);
        let mut out: Option<Value> = None;
        let mut conflict_err = false;
        self.bind_args(&mut fr, &rule.args, args, 0, &mut |ev, f| {
            ev.eval_body(f, &rule.body, &mut |ev, f| {
                ev.eval_term(f, &rule.value, &mut |_, _, v| {
                    match &out {
                        Some(o) if *o != v => {
                            conflict_err = true;
                            return Ok(false);
                        }
                        _ => out = Some(v),
                    }
                    Ok(true)
                })
            })
        })?;
        if conflict_err {
            return Err(self.func_conflict(&rule.path, rule.span));
        }
        if out.is_none() {
            if let Some(e) = &rule.else_ {
                return self.eval_function(e, args);
            }
        }
        Ok(out)
    }

    fn bind_args(&mut self, f: &mut Frame, pats: &'a [Term], args: &[Value], i: usize, k: BodyK<'_, 'a>) -> R {
        if i == pats.len() {
            return k(self, f);
        }
        let v = args[i].clone();
        self.unify_value(f, &pats[i], v, &mut |ev, f| ev.bind_args(f, pats, args, i + 1, k))
    }

    pub fn call_builtin(&mut self, name: &str, args: &[Value], span: Span) -> Result<Option<Value>, EvalError> {
        match name {
            "internal.member_2" => return Ok(Some(Value::Bool(args.len() == 2 && member(&args[1], &args[0])))),
            "internal.member_3" => {
                let ok = args.len() == 3
                    && match &args[2] {
                        Value::Array(_) | Value::Object(_) => args[2].get(&args[0]) == Some(&args[1]),
                        // A set element is its own key.
                        Value::Set(s) => args[0] == args[1] && s.contains(&args[0]),
                        _ => false,
                    };
                return Ok(Some(Value::Bool(ok)));
            }
            "internal.template_string" => {
                let mut out = String::new();
                if let Some(Value::Array(parts)) = args.first() {
                    for p in parts.iter() {
                        match p {
                            Value::String(s) => out.push_str(s),
                            Value::Set(vals) => match vals.len() {
                                0 => out.push_str("<undefined>"),
                                1 => {
                                    if let Some(v) = vals.iter().next() {
                                        match v {
                                            Value::String(s) => out.push_str(s),
                                            other => out.push_str(&other.to_string()),
                                        }
                                    }
                                }
                                _ => {
                                    return Err(self.err_at("eval_conflict_error", "template-strings must not produce multiple outputs", span));
                                }
                            },
                            other => out.push_str(&other.to_string()),
                        }
                    }
                }
                return Ok(Some(Value::from(out)));
            }
            "rego.parse_module" => {
                let res = match (args.first(), args.get(1)) {
                    (Some(Value::String(file)), Some(Value::String(src))) => match crate::parser::parse_module(src, 0, false) {
                        Ok(m) => Ok(crate::ast_json::module(&m)),
                        Err(errs) => {
                            let msg = errs
                                .iter()
                                .map(|e| {
                                    let (l, c) = crate::lexer::line_col(src, e.offset);
                                    format!("{}:{}:{}: rego_parse_error: {}", file, l, c, e.message)
                                })
                                .collect::<Vec<_>>()
                                .join("\n");
                            Err(BuiltinError::Eval(msg))
                        }
                    },
                    (Some(Value::String(_)), Some(v)) => Err(builtins::type_err(1, "string", v)),
                    (Some(v), _) => Err(builtins::type_err(0, "string", v)),
                    _ => Err(BuiltinError::Eval("missing operands".into())),
                };
                return self.builtin_result(name, res, span);
            }
            "rego.metadata.rule" => {
                return Ok(Some(self.cur_rule.and_then(|r| r.annotation.clone()).unwrap_or_else(Value::empty_object)));
            }
            "rego.metadata.chain" => return Ok(Some(self.metadata_chain())),
            // Notes go to explanations, which this engine does not produce.
            "trace" => return Ok(Some(Value::Bool(true))),
            // No runtime information is configured: OPA then returns an empty object.
            "opa.runtime" => {
                self.cacheable = false;
                return Ok(Some(Value::empty_object()));
            }
            _ => {}
        }
        let builtin = builtins::lookup(name);
        if name == "http.send" && builtin.is_none_or(|b| b.func.is_none()) {
            self.cacheable = false;
            let res = http_send_unavailable(args);
            return self.builtin_result(name, res, span);
        }
        match builtin {
            Some(b) => self.call_registered(b, args, span),
            None => {
                let res = fallback(name, args);
                self.builtin_result(name, res, span)
            }
        }
    }

    /// A registry builtin (one the evaluator does not implement itself).
    fn call_registered(&mut self, b: &builtins::Builtin, args: &[Value], span: Span) -> Result<Option<Value>, EvalError> {
        if !b.deterministic {
            self.cacheable = false;
        }
        let res = match b.func {
            Some(func) => builtins::charge_call(&mut self.ctx, b.name, args).and_then(|()| func(&mut self.ctx, args)),
            None => fallback(b.name, args),
        };
        let res = res.and_then(|v| builtins::charge_result(&mut self.ctx, b.name, v));
        self.builtin_result(b.name, res, span)
    }

    /// A builtin's outcome under OPA's error rules: undefined, or an error
    /// when strict (Halt errors always).
    #[inline]
    fn builtin_result(&mut self, name: &str, res: Result<Value, BuiltinError>, span: Span) -> Result<Option<Value>, EvalError> {
        match res {
            Ok(v) => Ok(Some(v)),
            Err(e) => self.builtin_error(name, e, span),
        }
    }

    /// `builtin_result` of a failed call, apart: the usual call succeeds.
    #[cold]
    fn builtin_error(&mut self, name: &str, e: BuiltinError, span: Span) -> Result<Option<Value>, EvalError> {
        match e {
            BuiltinError::Undefined => Ok(None),
            BuiltinError::Halt { code, message } => Err(self.err_at(code, message, span)),
            e => {
                if self.strict {
                    let msg = match &e {
                        BuiltinError::Type(m) | BuiltinError::Eval(m) => m.clone(),
                        _ => String::new(),
                    };
                    let msg = if msg.starts_with(&format!("{}:", name)) { msg } else { format!("{}: {}", name, msg) };
                    Err(self.err_at(e.code(), msg, span))
                } else {
                    Ok(None)
                }
            }
        }
    }

    /// The annotations that apply to the current rule, innermost first.
    fn metadata_chain(&self) -> Value {
        let Some(rule) = self.cur_rule else { return Value::empty_array() };
        let md = &self.pol.metadata;
        let entry = |path: &[Value], ann: Option<&Value>| {
            let mut m = Map::new();
            m.insert(Value::from("path"), Value::from_array(path.to_vec()));
            if let Some(a) = ann {
                m.insert(Value::from("annotations"), a.clone());
            }
            Value::from_map(m)
        };
        let path: &[Value] = &rule.path;
        let mut out = vec![entry(path, rule.annotation.as_ref())];
        if let Some(d) = md.document.get(path) {
            out.push(entry(path, Some(d)));
        }
        let pkg = &path[..rule.pkg_len.min(path.len())];
        for n in (1..=pkg.len()).rev() {
            let p = &pkg[..n];
            if n == pkg.len() {
                if let Some(a) = md.package.get(p) {
                    out.push(entry(p, Some(a)));
                }
            }
            if let Some(a) = md.subpackages.get(p) {
                out.push(entry(p, Some(a)));
            }
        }
        Value::from_array(out)
    }

    fn eval_walk(&mut self, f: &mut Frame, c: &'a Call, k: TermK<'_, 'a>) -> R {
        let Some(arg) = c.args.first() else { return Ok(true) };
        let out = c.args.get(1);
        self.eval_term(f, arg, &mut |ev, f, v| {
            let mut pairs = Vec::new();
            walk_value(&v, &mut Vec::new(), &mut pairs, 0);
            match out {
                None => {
                    for (p, x) in pairs {
                        ev.step()?;
                        if !k(ev, f, Value::from_array(vec![Value::from_array(p), x]))? {
                            return Ok(false);
                        }
                    }
                    Ok(true)
                }
                Some(o) => {
                    for (p, x) in pairs {
                        ev.step()?;
                        let pair = Value::from_array(vec![Value::from_array(p), x]);
                        let r = ev.unify_value(f, o, pair, &mut |ev, f| k(ev, f, Value::Bool(true)))?;
                        if !r {
                            return Ok(false);
                        }
                    }
                    Ok(true)
                }
            }
        })
    }

    /// `print(a, b)`: one line per combination of the arguments' values
    /// (each argument's values as a set), `<undefined>` for an undefined one.
    /// An evaluation prints at most `MAX_PRINT_BYTES`: the line that crosses
    /// the bound is cut and marked, later ones are dropped.
    fn eval_print(&mut self, f: &mut Frame, c: &'a Call, span: Span, k: TermK<'_, 'a>) -> R {
        let mut cols: Vec<Vec<String>> = Vec::new();
        for a in &c.args {
            let mut vals = Set::new();
            let mark = f.mark();
            let r = self.eval_term(f, a, &mut |_, _, v| {
                vals.insert(v);
                Ok(true)
            });
            f.undo(mark);
            r?;
            if vals.is_empty() {
                cols.push(vec!["<undefined>".to_string()]);
            } else {
                cols.push(
                    vals.iter()
                        .map(|v| match v {
                            Value::String(s) => s.to_string(),
                            other => other.to_string(),
                        })
                        .collect(),
                );
            }
        }
        let location = match self.pol.files.get(span.file as usize) {
            Some((name, src)) => format!("{}:{}", name, crate::lexer::line_col(src, span.start).0),
            None => String::new(),
        };
        // Every combination, in order, one index per argument (an odometer).
        let mut at = vec![0usize; cols.len()];
        while self.print_bytes < MAX_PRINT_BYTES {
            let mut message = String::new();
            for (i, col) in cols.iter().enumerate() {
                if i > 0 {
                    message.push(' ');
                }
                message.push_str(&col[at[i]]);
            }
            self.print_bytes += message.len() + 1;
            if self.print_bytes > MAX_PRINT_BYTES {
                let mut cut = message.len().saturating_sub(self.print_bytes - MAX_PRINT_BYTES);
                while !message.is_char_boundary(cut) {
                    cut -= 1;
                }
                message.truncate(cut);
                message.push_str(PRINT_TRUNCATED);
            }
            self.prints.push(crate::PrintLine { location: location.clone(), message });
            let Some(i) = (0..cols.len()).rev().find(|&i| at[i] + 1 < cols[i].len()) else { break };
            at[i] += 1;
            at[i + 1..].iter_mut().for_each(|x| *x = 0);
        }
        k(self, f, Value::Bool(true))
    }
}

/// Bytes of `print` output one evaluation keeps: print cannot grow memory
/// (or a server's log) without bound.
pub const MAX_PRINT_BYTES: usize = 64 * 1024;

/// Ends the line cut at `MAX_PRINT_BYTES`.
pub const PRINT_TRUNCATED: &str = " <print output truncated>";

/// Merges the values two rule sets give one key (`p[q].r := ...` and `p.a.r.s := ...`):
/// objects merge through the `path_levels` levels that are still rule path; below,
/// at the rule's value, only equal values or two sets (multi-value rules) agree. `None`
/// is a conflict: OPA's, for one rule's value overridden or extended by another rule.
fn merge_rule_values(a: &Value, b: &Value, path_levels: usize) -> Option<Value> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) if path_levels > 0 => {
            let mut m = (**x).clone();
            for (k, yv) in y.iter() {
                let merged = match x.get(k) {
                    Some(xv) => merge_rule_values(xv, yv, path_levels - 1)?,
                    None => yv.clone(),
                };
                m.insert(k.clone(), merged);
            }
            Some(Value::from_map(m))
        }
        (Value::Set(x), Value::Set(y)) => Some(Value::from_set(x.union(y).cloned().collect())),
        _ if a == b => Some(a.clone()),
        _ => None,
    }
}

fn merge_base_wins(base: &Value, virt: &Value) -> Value {
    match (base, virt) {
        (Value::Object(b), Value::Object(v)) => {
            let mut m = (**v).clone();
            for (k, bv) in b.iter() {
                let nv = match m.get(k) {
                    Some(vv) => merge_base_wins(bv, vv),
                    None => bv.clone(),
                };
                m.insert(k.clone(), nv);
            }
            Value::from_map(m)
        }
        _ => base.clone(),
    }
}

fn walk_value(v: &Value, path: &mut Vec<Value>, out: &mut Vec<(Vec<Value>, Value)>, depth: usize) {
    out.push((path.clone(), v.clone()));
    if depth > 512 {
        return;
    }
    for (k, c) in children(v) {
        path.push(k);
        walk_value(&c, path, out, depth + 1);
        path.pop();
    }
}

fn member(coll: &Value, x: &Value) -> bool {
    match coll {
        Value::Array(a) => a.contains(x),
        Value::Set(s) => s.contains(x),
        Value::Object(o) => o.values().any(|v| v == x),
        _ => false,
    }
}

/// The (key, value) pairs of a collection: index and element for arrays,
/// key and value for objects, element twice for sets; none for scalars.
/// Read lazily from `v` (nothing is gathered up front).
pub fn children(v: &Value) -> Children<'_> {
    match v {
        Value::Array(a) => Children::Array(a.iter().enumerate()),
        Value::Object(o) => Children::Object(o.iter()),
        Value::Set(s) => Children::Set(s.iter()),
        _ => Children::None,
    }
}

pub enum Children<'v> {
    Array(std::iter::Enumerate<std::slice::Iter<'v, Value>>),
    Object(crate::map::Iter<'v>),
    Set(std::collections::btree_set::Iter<'v, Value>),
    None,
}

impl Iterator for Children<'_> {
    type Item = (Value, Value);
    fn next(&mut self) -> Option<(Value, Value)> {
        match self {
            Children::Array(it) => it.next().map(|(i, x)| (Value::int(i as i64), x.clone())),
            Children::Object(it) => it.next().map(|(k, x)| (k.clone(), x.clone())),
            Children::Set(it) => it.next().map(|x| (x.clone(), x.clone())),
            Children::None => None,
        }
    }
}

/// Sets `path` in `root` (creating objects), returning the new root.
pub fn set_path(root: Option<Value>, path: &[Value], v: Value) -> Value {
    let Some((k, rest)) = path.split_first() else { return v };
    let mut m = match root {
        Some(Value::Object(o)) => (*o).clone(),
        _ => Map::new(),
    };
    let child = m.remove(k);
    m.insert(k.clone(), set_path(child, rest, v));
    Value::from_map(m)
}

/// Inserts `v` at `keys` in nested objects; `Err` on a conflicting leaf.
fn insert_path(o: &mut Map, keys: &[Value], v: Value) -> Result<(), String> {
    let Some((k, rest)) = keys.split_first() else { return Ok(()) };
    if rest.is_empty() {
        if let Some(old) = o.get(k) {
            if *old != v {
                return Err(String::new());
            }
        }
        o.insert(k.clone(), v);
        return Ok(());
    }
    let mut child = match o.remove(k) {
        Some(Value::Object(c)) => (*c).clone(),
        Some(other) => {
            o.insert(k.clone(), other);
            return Err(String::new());
        }
        None => Map::new(),
    };
    let r = insert_path(&mut child, rest, v);
    o.insert(k.clone(), Value::from_map(child));
    r
}

fn insert_set_path(o: &mut Map, keys: &[Value], v: Value) -> Result<(), ()> {
    let Some((k, rest)) = keys.split_first() else { return Err(()) };
    if rest.is_empty() {
        let mut s = match o.remove(k) {
            Some(Value::Set(s)) => (*s).clone(),
            Some(other) => {
                o.insert(k.clone(), other);
                return Err(());
            }
            None => Set::new(),
        };
        s.insert(v);
        o.insert(k.clone(), Value::from_set(s));
        return Ok(());
    }
    let mut child = match o.remove(k) {
        Some(Value::Object(c)) => (*c).clone(),
        Some(other) => {
            o.insert(k.clone(), other);
            return Err(());
        }
        None => Map::new(),
    };
    let r = insert_set_path(&mut child, rest, v);
    o.insert(k.clone(), Value::from_map(child));
    r
}

/// `http.send` without network access: the request is validated as OPA
/// does (so policies get OPA's errors for bad requests), then refused.
fn http_send_unavailable(args: &[Value]) -> Result<Value, BuiltinError> {
    const ALLOWED: &[&str] = &[
        "method", "url", "body", "enable_redirect", "force_json_decode", "force_yaml_decode", "headers", "raw_body",
        "tls_use_system_certs", "tls_ca_cert", "tls_ca_cert_file", "tls_ca_cert_env_variable", "tls_client_cert",
        "tls_client_cert_file", "tls_client_cert_env_variable", "tls_client_key", "tls_client_key_file",
        "tls_client_key_env_variable", "tls_insecure_skip_verify", "tls_server_name", "timeout", "cache", "force_cache",
        "force_cache_duration_seconds", "raise_error", "caching_mode", "max_retry_attempts", "cache_ignored_headers",
    ];
    let req = builtins::arg_object(args, 0)?;
    let keys: Vec<&str> = req.keys().filter_map(|k| k.as_str()).collect();
    let invalid: Set = keys.iter().filter(|k| !ALLOWED.contains(k)).map(|k| Value::from(*k)).collect();
    if !invalid.is_empty() {
        return Err(BuiltinError::Type(format!("invalid request parameters(s): {}", Value::from_set(invalid))));
    }
    let missing: Set = ["method", "url"].iter().filter(|k| !keys.contains(k)).map(|k| Value::from(*k)).collect();
    if !missing.is_empty() {
        return Err(BuiltinError::Type(format!("missing required request parameters(s): {}", Value::from_set(missing))));
    }
    Err(BuiltinError::Eval("network access is not available to policies in this engine".into()))
}

/// Operators computed here while (or if) the registry lacks them.
fn fallback(name: &str, args: &[Value]) -> Result<Value, BuiltinError> {
    use BuiltinError::*;
    let a = args.first();
    let b = args.get(1);
    let num = |i: usize| -> Result<&Number, BuiltinError> { builtins::arg_num(args, i) };
    match name {
        "equal" => Ok(Value::Bool(a == b)),
        "neq" => Ok(Value::Bool(a != b)),
        "lt" => Ok(Value::Bool(a < b)),
        "lte" => Ok(Value::Bool(a <= b)),
        "gt" => Ok(Value::Bool(a > b)),
        "gte" => Ok(Value::Bool(a >= b)),
        "plus" => Ok(Value::Number(num(0)?.add(num(1)?))),
        "mul" => Ok(Value::Number(num(0)?.mul(num(1)?))),
        "minus" => match (a, b) {
            (Some(Value::Set(x)), Some(Value::Set(y))) => Ok(Value::from_set(x.difference(y).cloned().collect())),
            _ => Ok(Value::Number(num(0)?.sub(num(1)?))),
        },
        "div" => num(0)?.div(num(1)?).map(Value::Number).map_err(|e| Eval(e.into())),
        "rem" => num(0)?.rem(num(1)?).map(Value::Number).map_err(|e| Eval(e.into())),
        "and" => {
            let x = builtins::arg_set(args, 0)?;
            let y = builtins::arg_set(args, 1)?;
            Ok(Value::from_set(x.intersection(y).cloned().collect()))
        }
        "or" => {
            let x = builtins::arg_set(args, 0)?;
            let y = builtins::arg_set(args, 1)?;
            Ok(Value::from_set(x.union(y).cloned().collect()))
        }
        "count" => match a {
            Some(Value::Array(x)) => Ok(Value::int(x.len() as i64)),
            Some(Value::Object(x)) => Ok(Value::int(x.len() as i64)),
            Some(Value::Set(x)) => Ok(Value::int(x.len() as i64)),
            Some(Value::String(s)) => Ok(Value::int(s.chars().count() as i64)),
            Some(v) => Err(builtins::type_err(0, "one of {array, object, set, string}", v)),
            None => Err(Eval("missing operand".into())),
        },
        "startswith" => Ok(Value::Bool(builtins::arg_str(args, 0)?.starts_with(builtins::arg_str(args, 1)?))),
        "endswith" => Ok(Value::Bool(builtins::arg_str(args, 0)?.ends_with(builtins::arg_str(args, 1)?))),
        "contains" => Ok(Value::Bool(builtins::arg_str(args, 0)?.contains(builtins::arg_str(args, 1)?))),
        _ => Err(Eval(format!("builtin {} is not implemented", name))),
    }
}
