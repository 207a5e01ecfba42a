//! Rego parser (v1 by default, v0 on request). Reports every error of a
//! file: after an error it skips to the next line that starts at column 1.


use crate::ast::*;
use crate::lexer::{lex, Tok, Token, TplPart};
use crate::number::Number;
use crate::value::Value;
use std::sync::Arc;

/// Deeper nesting is refused rather than risking the stack.
const MAX_NESTING: u32 = 200;

/// A parse problem at a byte offset of the file.
#[derive(Clone, Debug)]
pub struct ParseError {
    pub offset: u32,
    pub message: String,
}

type PResult<T> = Result<T, ParseError>;

#[derive(Clone, Copy, Debug)]
struct Keywords {
    if_: bool,
    contains: bool,
    in_: bool,
    every: bool,
    /// `a and b`, `a or b` (`import future.keywords.and` / `.or` / `rego.v2`).
    and: bool,
    or: bool,
}

pub struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    pos: usize,
    file: u32,
    depth: u32,
    /// Inside parentheses/brackets newlines do not end an expression.
    nest: u32,
    kw: Keywords,
    v1: bool,
    /// The first element of a collection: `|` starts a comprehension there.
    no_pipe: bool,
    /// `not { ... }` bodies (`import future.keywords.not` / `rego.v2`).
    not_block: bool,
    errors: Vec<ParseError>,
}

static WILDCARD: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A fresh name for `_`; `$` cannot appear in user variables.
pub fn fresh_wildcard() -> Arc<str> {
    let n = WILDCARD.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Arc::from(format!("$_{}", n).as_str())
}

/// Parses a module. `v0` selects Rego v0 syntax.
pub fn parse_module(src: &str, file: u32, v0: bool) -> Result<Module, Vec<ParseError>> {
    let mut p = Parser::new(src, file, v0);
    let m = p.module();
    if p.errors.is_empty() {
        if let Some(m) = m {
            return Ok(m);
        }
    }
    Err(p.errors)
}

/// Parses a query (`x := 1; y := x + 1`) with all v1 keywords on.
pub fn parse_query(src: &str, file: u32) -> Result<Body, Vec<ParseError>> {
    let mut p = Parser::new(src, file, false);
    let body = p.query(&Tok::Eof);
    if p.errors.is_empty() {
        match body {
            Ok(b) if !b.is_empty() => return Ok(b),
            Ok(_) => p.errors.push(ParseError { offset: 0, message: "empty query".into() }),
            Err(e) => p.errors.push(e),
        }
    } else if let Err(e) = body {
        p.errors.push(e);
    }
    Err(p.errors)
}

/// Parses a single term (used for `input_term` and data literals).
pub fn parse_term(src: &str, file: u32) -> Result<Term, Vec<ParseError>> {
    let mut p = Parser::new(src, file, false);
    match p.term_in() {
        Ok(t) if p.peek() == &Tok::Eof => Ok(t),
        Ok(_) => Err(vec![p.err_here("unexpected token after term")]),
        Err(e) => Err(vec![e]),
    }
}

impl<'a> Parser<'a> {
    fn new(src: &'a str, file: u32, v0: bool) -> Parser<'a> {
        let (toks, lex_errs) = lex(src);
        let on = !v0;
        Parser {
            src,
            toks,
            pos: 0,
            file,
            depth: 0,
            nest: 0,
            kw: Keywords { if_: on, contains: on, in_: on, every: on, and: false, or: false },
            v1: on,
            no_pipe: false,
            not_block: false,
            errors: lex_errs.into_iter().map(|e| ParseError { offset: e.offset, message: e.message }).collect(),
        }
    }

    // ---- token helpers ----

    fn tok(&self) -> &Token {
        let i = self.pos.min(self.toks.len().saturating_sub(1));
        &self.toks[i]
    }
    fn peek(&self) -> &Tok {
        &self.tok().tok
    }
    fn peek_at(&self, n: usize) -> &Tok {
        let i = (self.pos + n).min(self.toks.len().saturating_sub(1));
        &self.toks[i].tok
    }
    fn advance(&mut self) -> Token {
        let t = self.tok().clone();
        // May step one past the end (Eof): `tok()` clamps, and stepping back stays exact.
        self.pos = (self.pos + 1).min(self.toks.len());
        t
    }
    fn prev_end(&self) -> u32 {
        match self.pos.checked_sub(1).and_then(|i| self.toks.get(i)) {
            Some(t) => t.end,
            None => 0,
        }
    }
    fn span_from(&self, start: u32) -> Span {
        Span { file: self.file, start, end: self.prev_end().max(start) }
    }
    /// OPA's wording: `unexpected <token> token[: expected <what>]`; other
    /// messages get the token appended.
    fn err_here(&self, msg: &str) -> ParseError {
        let t = self.tok();
        let kind = match &t.tok {
            Tok::Eof => "eof".to_string(),
            Tok::Ident(s) if self.is_keyword(s) => s.clone(),
            Tok::Ident(_) => "ident".to_string(),
            Tok::Str(_) | Tok::Template(_) => "string".to_string(),
            Tok::Num(_) => "number".to_string(),
            _ => self.src.get(t.start as usize..t.end as usize).unwrap_or("?").to_string(),
        };
        let message = if let Some(what) = msg.strip_prefix("expected ") {
            format!("unexpected {} token: expected {}", kind, what)
        } else if msg == "unexpected token" || msg == "unexpected keyword" {
            format!("unexpected {} {}", kind, if matches!(t.tok, Tok::Ident(_)) && kind != "ident" { "keyword" } else { "token" })
        } else {
            format!("{} (unexpected {} token)", msg, kind)
        };
        ParseError { offset: t.start, message }
    }
    /// The current token is the word `s` (a keyword directly followed by `.` or `[`
    /// starts a ref, as in `as.foo := 1`, and is not the keyword: OPA 1.x's keywords in refs).
    fn is_ident(&self, s: &str) -> bool {
        matches!(self.peek(), Tok::Ident(x) if x == s) && !self.starts_ref_at(self.pos)
    }
    /// The token at `i` is followed, without whitespace, by `.` or `[`.
    fn starts_ref_at(&self, i: usize) -> bool {
        match (self.toks.get(i), self.toks.get(i + 1)) {
            (Some(a), Some(b)) => matches!(b.tok, Tok::Dot | Tok::LBrack) && a.end == b.start,
            _ => false,
        }
    }
    fn expect(&mut self, t: Tok, what: &str) -> PResult<Token> {
        if self.peek() == &t {
            Ok(self.advance())
        } else {
            Err(self.err_here(&format!("expected {}", what)))
        }
    }
    /// The current token follows the previous one without whitespace.
    fn adjacent(&self) -> bool {
        self.pos < self.toks.len() && self.pos.checked_sub(1).and_then(|i| self.toks.get(i)).is_some_and(|p| p.end == self.tok().start)
    }
    /// The current token can continue an expression (not on a new line, unless nested).
    fn same_line(&self) -> bool {
        self.nest > 0 || !self.tok().nl_before
    }
    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.err_here("nesting too deep"));
        }
        Ok(())
    }

    /// Skips to the next token that starts a line at column 1.
    fn recover(&mut self) {
        self.advance();
        while self.peek() != &Tok::Eof {
            let t = self.tok();
            let s = t.start as usize;
            if t.nl_before && (s == 0 || self.src.as_bytes().get(s - 1) == Some(&b'\n')) {
                break;
            }
            self.advance();
        }
        self.depth = 0;
        self.nest = 0;
    }

    fn is_keyword(&self, s: &str) -> bool {
        match s {
            "package" | "import" | "not" | "with" | "as" | "default" | "else" | "some" | "true" | "false" | "null" => true,
            "if" => self.kw.if_,
            "contains" => self.kw.contains,
            "in" => self.kw.in_,
            "every" => self.kw.every,
            _ => false,
        }
    }

    // ---- module ----

    fn module(&mut self) -> Option<Module> {
        let start = self.tok().start;
        if !self.is_ident("package") {
            self.errors.push(self.err_here("expected package"));
            return None;
        }
        self.advance();
        let package = match self.dotted_path() {
            Ok(p) => p,
            Err(e) => {
                self.errors.push(e);
                return None;
            }
        };
        let package_span = self.span_from(start);
        let mut imports = Vec::new();
        while self.is_ident("import") {
            let s = self.tok().start;
            self.advance();
            match self.import(s) {
                Ok(i) => imports.push(i),
                Err(e) => {
                    self.errors.push(e);
                    self.recover();
                }
            }
        }
        let mut rules = Vec::new();
        while self.peek() != &Tok::Eof {
            if self.is_ident("import") {
                self.errors.push(self.err_here("import must come before rules"));
                self.recover();
                continue;
            }
            match self.rule() {
                Ok(mut rs) => rules.append(&mut rs),
                Err(e) => {
                    self.errors.push(e);
                    self.recover();
                }
            }
        }
        let mut m = Module { package, package_span, imports, rules, v1: self.v1, package_annotation: None };
        self.attach_annotations(&mut m);
        Some(m)
    }

    /// Attaches each `# METADATA` block to the package or rule that follows it.
    fn attach_annotations(&mut self, m: &mut Module) {
        for b in crate::annotations::scan(self.src) {
            let Some(next) = self.toks.iter().find(|t| t.start >= b.end) else { continue };
            let at = next.start;
            if at == m.package_span.start {
                match crate::annotations::parse(&b, "package") {
                    Ok(v) => m.package_annotation = Some(v),
                    Err(e) => self.errors.push(ParseError { offset: b.start, message: e }),
                }
            } else if let Some(r) = m.rules.iter_mut().find(|r| r.span.start == at) {
                match crate::annotations::parse(&b, "rule") {
                    Ok(v) => r.annotation = Some(v),
                    Err(e) => self.errors.push(ParseError { offset: b.start, message: e }),
                }
            }
        }
    }

    /// `a.b["c"]` as strings.
    fn dotted_path(&mut self) -> PResult<Vec<String>> {
        let mut out = Vec::new();
        match self.advance().tok {
            Tok::Ident(s) => out.push(s),
            _ => {
                self.pos = self.pos.saturating_sub(1);
                return Err(self.err_here("expected ident"));
            }
        }
        loop {
            match self.peek() {
                Tok::Dot if self.adjacent() || !self.tok().nl_before => {
                    self.advance();
                    match self.advance().tok {
                        Tok::Ident(s) => out.push(s),
                        _ => {
                            self.pos = self.pos.saturating_sub(1);
                            return Err(self.err_here("expected ident"));
                        }
                    }
                }
                Tok::LBrack if self.adjacent() => {
                    self.advance();
                    match self.advance().tok {
                        Tok::Str(s) => out.push(s),
                        _ => {
                            self.pos = self.pos.saturating_sub(1);
                            return Err(self.err_here("expected string"));
                        }
                    }
                    self.expect(Tok::RBrack, "]")?;
                }
                _ => break,
            }
        }
        Ok(out)
    }

    fn import(&mut self, start: u32) -> PResult<Import> {
        let path = self.dotted_path()?;
        let mut alias = None;
        if self.is_ident("as") {
            self.advance();
            match self.advance().tok {
                Tok::Ident(s) => alias = Some(s),
                _ => {
                    self.pos = self.pos.saturating_sub(1);
                    return Err(self.err_here("expected alias"));
                }
            }
        }
        let span = self.span_from(start);
        match path.first().map(|s| s.as_str()) {
            Some("future") => {
                if path.get(1).map(|s| s.as_str()) != Some("keywords") || path.len() > 3 {
                    return Err(ParseError { offset: start, message: "invalid import, must be `future.keywords`".into() });
                }
                match path.get(2).map(|s| s.as_str()) {
                    None => {
                        self.kw = Keywords { if_: true, contains: true, in_: true, every: true, and: true, or: true };
                        self.not_block = true;
                    }
                    Some("and") => self.kw.and = true,
                    Some("or") => self.kw.or = true,
                    Some("if") => self.kw.if_ = true,
                    Some("contains") => self.kw.contains = true,
                    Some("in") => self.kw.in_ = true,
                    Some("not") => self.not_block = true,
                    Some("every") => {
                        self.kw.every = true;
                        self.kw.in_ = true
                    }
                    Some(other) => return Err(ParseError { offset: start, message: format!("unexpected keyword {}", other) }),
                }
            }
            Some("rego") => {
                let v2 = path.len() == 2 && path[1] == "v2";
                if v2 {
                    self.not_block = true;
                } else if path.len() != 2 || path[1] != "v1" {
                    return Err(ParseError { offset: start, message: format!("invalid import `{}`, must be `rego.v1`", path.join(".")) });
                }
                let (and, or) = (self.kw.and || v2, self.kw.or || v2);
                self.kw = Keywords { if_: true, contains: true, in_: true, every: true, and, or };
                self.v1 = true;
            }
            Some("data") | Some("input") => {}
            _ => {
                return Err(ParseError {
                    offset: start,
                    message: format!("unexpected import path, must begin with one of: {{data, future, input, rego}}, got: {}", path.join(".")),
                })
            }
        }
        Ok(Import { path, alias, span })
    }

    // ---- rules ----

    fn rule(&mut self) -> PResult<Vec<Rule>> {
        let start = self.tok().start;
        let default = self.is_ident("default");
        if default {
            self.advance();
        }
        let head_term = self.term_primary()?;
        let (name_path, args, is_func) = match head_term.kind {
            // `f() = 1` has no arguments: OPA makes it an ordinary rule.
            TermKind::Call(c) => {
                let is_func = !c.args.is_empty();
                (head_path(&c.func)?, c.args, is_func)
            }
            _ => (head_path(&head_term)?, Vec::new(), false),
        };
        if name_path.is_empty() {
            return Err(ParseError { offset: start, message: "invalid rule head".into() });
        }
        let mut key = None;
        let mut value = None;
        let mut assign = false;
        let mut kind = if is_func { RuleKind::Function } else { RuleKind::Complete };
        if self.kw.contains && self.is_ident("contains") {
            self.advance();
            key = Some(self.term_in_kv()?);
            kind = RuleKind::Set;
        } else if matches!(self.peek(), Tok::Assign | Tok::Unify) {
            assign = self.peek() == &Tok::Assign;
            self.advance();
            value = Some(self.term_in_kv()?);
        }
        if default {
            let Some(v) = value else {
                return Err(ParseError { offset: start, message: "default rule must have a value".into() });
            };
            if let Some(what) = non_constant(&v) {
                return Err(ParseError { offset: v.span.start, message: format!("default rule value cannot contain {}", what) });
            }
            return Ok(vec![Rule {
                head: name_path,
                args,
                key: None,
                explicit_value: true,
                annotation: None,
                value: v,
                assign,
                kind,
                default: true,
                body: Vec::new(),
                else_: None,
                span: self.span_from(start),
            }]);
        }
        // v0 `p[x] { ... }` is a partial set; `p[x] if ...` is `p[x] = true` (OPA).
        let mut head = name_path;
        let uses_if = self.kw.if_ && self.is_ident("if");
        if !self.v1 && kind == RuleKind::Complete && value.is_none() && head.len() == 2 && !uses_if {
            key = head.pop();
            kind = RuleKind::Set;
        }
        let explicit_value = value.is_some();
        let value = value.unwrap_or_else(|| Term::scalar(Value::Bool(true), Span { file: self.file, start, end: start }));
        let body = self.rule_body(start)?;
        let mut rule = Rule {
            head,
            args,
            key,
            value,
            assign,
            kind,
            default: false,
            body: body.unwrap_or_default(),
            else_: None,
            span: self.span_from(start),
            explicit_value,
            annotation: None,
        };
        // Else chain.
        let mut elses = Vec::new();
        while self.is_ident("else") {
            let es = self.tok().start;
            if kind != RuleKind::Complete && kind != RuleKind::Function {
                return Err(self.err_here("else keyword cannot be used on multi-value rules"));
            }
            self.advance();
            let mut ev = None;
            let mut eassign = false;
            if matches!(self.peek(), Tok::Assign | Tok::Unify) {
                eassign = self.peek() == &Tok::Assign;
                self.advance();
                ev = Some(self.term_in_kv()?);
            }
            let eb = self.rule_body(es)?;
            elses.push(Rule {
                head: rule.head.clone(),
                args: rule.args.clone(),
                key: None,
                explicit_value: ev.is_some(),
                value: ev.unwrap_or_else(|| Term::scalar(Value::Bool(true), Span { file: self.file, start: es, end: es })),
                assign: eassign,
                kind,
                default: false,
                body: eb.unwrap_or_default(),
                else_: None,
                span: self.span_from(es),
                annotation: None,
            });
        }
        let mut chain: Option<Box<Rule>> = None;
        while let Some(mut e) = elses.pop() {
            e.else_ = chain;
            chain = Some(Box::new(e));
        }
        rule.else_ = chain;
        let mut out = vec![rule];
        // v0: `p { a } { b }` defines p twice.
        while !self.v1 && self.peek() == &Tok::LBrace && !self.tok().nl_before {
            let s = self.tok().start;
            let b = self.block()?;
            let mut r2 = out[0].clone();
            r2.body = b;
            r2.else_ = None;
            r2.span = self.span_from(s);
            out.push(r2);
        }
        Ok(out)
    }

    /// `if { ... }`, `if lit`, `{ ... }` (v0), or nothing.
    fn rule_body(&mut self, start: u32) -> PResult<Option<Body>> {
        if self.kw.if_ && self.is_ident("if") {
            self.advance();
            if self.peek() == &Tok::LBrace {
                // `if {` is a body unless it is an object/set literal expression: try the block.
                let save = self.pos;
                match self.block() {
                    Ok(b) if self.rule_boundary() => return Ok(Some(b)),
                    _ => self.pos = save,
                }
            }
            let lit = self.literal()?;
            return Ok(Some(vec![lit]));
        }
        if self.peek() == &Tok::LBrace && !self.tok().nl_before {
            if self.v1 {
                return Err(ParseError { offset: self.tok().start, message: "`if` keyword is required before rule body".into() });
            }
            return Ok(Some(self.block()?));
        }
        if self.peek() == &Tok::LBrace && self.tok().nl_before && !self.v1 {
            // v0 allows the body on the next line.
            return Ok(Some(self.block()?));
        }
        let _ = start;
        if !self.rule_boundary() {
            return Err(self.err_here("unexpected token"));
        }
        Ok(None)
    }

    /// The current token can end a rule.
    fn rule_boundary(&self) -> bool {
        self.peek() == &Tok::Eof || self.tok().nl_before || self.is_ident("else") || self.peek() == &Tok::Semi
    }

    fn block(&mut self) -> PResult<Body> {
        self.expect(Tok::LBrace, "{")?;
        let saved = self.nest;
        self.nest = 0;
        let b = self.query(&Tok::RBrace);
        self.nest = saved;
        let b = b?;
        self.expect(Tok::RBrace, "}")?;
        if b.is_empty() {
            return Err(ParseError { offset: self.prev_end().saturating_sub(1), message: "found empty body".into() });
        }
        Ok(b)
    }

    /// Literals separated by `;` or newlines, up to `end` (not consumed).
    fn query(&mut self, end: &Tok) -> PResult<Body> {
        let mut out = Vec::new();
        loop {
            while self.peek() == &Tok::Semi {
                self.advance();
            }
            if self.peek() == end || self.peek() == &Tok::Eof {
                break;
            }
            let lit = self.literal()?;
            out.push(lit);
            if self.peek() == end || self.peek() == &Tok::Semi || self.tok().nl_before {
                continue;
            }
            return Err(self.err_here("unexpected token"));
        }
        Ok(out)
    }

    fn literal(&mut self) -> PResult<Expr> {
        self.enter()?;
        let r = self.literal_inner();
        self.depth -= 1;
        r
    }

    fn literal_inner(&mut self) -> PResult<Expr> {
        let start = self.tok().start;
        let kind = if self.kw.and || self.kw.or {
            let (mut body, compound) = self.logic_or()?;
            if compound {
                ExprKind::Term(exists(body, self.span_from(start)))
            } else {
                body.pop().map(|e| e.kind).ok_or_else(|| self.err_here("unexpected token"))?
            }
        } else {
            self.literal_kind()?
        };
        let with = self.with_modifiers()?;
        Ok(Expr { kind, with, span: self.span_from(start) })
    }

    fn with_modifiers(&mut self) -> PResult<Vec<With>> {
        let mut with = Vec::new();
        while self.is_ident("with") && self.same_line_or_with() {
            let ws = self.tok().start;
            self.advance();
            let target = self.term_primary()?;
            if !self.is_ident("as") {
                return Err(self.err_here("expected as"));
            }
            self.advance();
            let value = self.term_in_kv()?;
            with.push(With { target, value, span: self.span_from(ws), kind: WithTarget::Unresolved, value_func: None });
        }
        Ok(with)
    }

    // ---- `and` / `or` (OPA 1.22's logic operators) ----
    // Precedence: `not` binds tighter than `and`, `and` tighter than `or`. Each operand is a
    // body of its own scope that contributes at most one success, and `b` is evaluated only
    // when `a` does not decide the result. Desugared into comprehensions the evaluator has:
    //   exists(B)  = [true | B][0]
    //   a and b    = exists(a); exists(b)
    //   a or b     = not exists(not exists(a); not exists(b))
    // The bool says whether an operator or an explicit `{ body }` operand was seen.

    fn logic_or(&mut self) -> PResult<(Body, bool)> {
        let (mut lhs, mut compound) = self.logic_and()?;
        while self.kw.or && self.is_ident("or") && self.same_line() && !self.starts_ref_at(self.pos) {
            self.advance();
            let start = lhs.first().map_or(self.tok().start, |e| e.span.start);
            let (rhs, _) = self.logic_and()?;
            let span = self.span_from(start);
            let not_exists = |b: Body| Expr { kind: ExprKind::Not(Box::new(term_expr(exists(b, span)))), with: Vec::new(), span };
            let neither = vec![not_exists(lhs), not_exists(rhs)];
            lhs = vec![not_exists(neither)];
            compound = true;
        }
        Ok((lhs, compound))
    }

    fn logic_and(&mut self) -> PResult<(Body, bool)> {
        let (mut lhs, mut compound) = self.logic_unary()?;
        while self.kw.and && self.is_ident("and") && self.same_line() && !self.starts_ref_at(self.pos) {
            self.advance();
            let start = lhs.first().map_or(self.tok().start, |e| e.span.start);
            let (rhs, _) = self.logic_unary()?;
            let span = self.span_from(start);
            lhs = vec![term_expr(exists(lhs, span)), term_expr(exists(rhs, span))];
            compound = true;
        }
        Ok((lhs, compound))
    }

    /// The next token is an active `and`/`or` operator on this line.
    fn at_logic_op(&self) -> bool {
        ((self.kw.and && self.is_ident("and")) || (self.kw.or && self.is_ident("or"))) && self.same_line()
    }

    fn logic_unary(&mut self) -> PResult<(Body, bool)> {
        let start = self.tok().start;
        if self.is_ident("not") {
            self.advance();
            if self.not_block && self.peek() == &Tok::LBrace {
                // `not { a; b }`
                let body = self.block()?;
                let span = self.span_from(start);
                let inner = term_expr(exists(body, span));
                return Ok((vec![Expr { kind: ExprKind::Not(Box::new(inner)), with: Vec::new(), span }], false));
            }
            let (mut body, compound) = self.logic_unary()?;
            let span = self.span_from(start);
            let inner = match body.pop() {
                Some(e) if body.is_empty() && !compound => e,
                Some(e) => {
                    body.push(e);
                    term_expr(exists(body, span))
                }
                None => return Err(self.err_here("unexpected token")),
            };
            return Ok((vec![Expr { kind: ExprKind::Not(Box::new(inner)), with: Vec::new(), span }], false));
        }
        let save = self.pos;
        match self.peek() {
            // `{ body }` is an operand body when an operator joins it; otherwise a set/object.
            Tok::LBrace => {
                if let Ok(body) = self.block() {
                    if self.at_logic_op() || self.after_logic_op(save) {
                        return Ok((body, true));
                    }
                }
                self.pos = save;
            }
            // `(a or b)` groups; `(x + 1) > 2` stays a term.
            Tok::LParen => {
                self.advance();
                self.nest += 1;
                let r = self.logic_or();
                // `(a or b with input as x)`: the modifiers apply to the whole group.
                let r = match r {
                    Ok((body, compound)) if self.is_ident("with") => match self.with_modifiers() {
                        Ok(with) => {
                            let span = self.span_from(start);
                            let kind = match body.len() {
                                1 if !compound => body.into_iter().next().map_or(ExprKind::Term(Term::scalar(Value::Bool(true), span)), |e| e.kind),
                                _ => ExprKind::Term(exists(body, span)),
                            };
                            Ok((vec![Expr { kind, with, span }], true))
                        }
                        Err(e) => Err(e),
                    },
                    other => other,
                };
                self.nest -= 1;
                if let Ok((body, true)) = r {
                    if self.peek() == &Tok::RParen {
                        self.advance();
                        return Ok((body, true));
                    }
                }
                self.pos = save;
            }
            _ => {}
        }
        let kind = self.literal_kind()?;
        Ok((vec![Expr { kind, with: Vec::new(), span: self.span_from(start) }], false))
    }

    /// The token before `at` is an `and`/`or` operator.
    fn after_logic_op(&self, at: usize) -> bool {
        match at.checked_sub(1).and_then(|i| self.toks.get(i)) {
            Some(Token { tok: Tok::Ident(s), .. }) => (self.kw.and && s == "and") || (self.kw.or && s == "or"),
            _ => false,
        }
    }

    /// One literal's expression without `and`/`or`: `some`, `every`, `not`, or an expression.
    fn literal_kind(&mut self) -> PResult<ExprKind> {
        let start = self.tok().start;
        let kind = if self.is_ident("some") {
            self.advance();
            self.some_decl()?
        } else if self.kw.every && self.is_ident("every") {
            self.advance();
            self.every()?
        } else if self.is_ident("not") {
            self.advance();
            let inner = if self.not_block && self.peek() == &Tok::LBrace {
                // `not { a; b }` is `not [true | a; b][0]`.
                let bs = self.tok().start;
                let body = self.block()?;
                let span = self.span_from(bs);
                let compr = Term::new(TermKind::ArrayCompr(Box::new(Term::scalar(Value::Bool(true), span)), body), span);
                ExprKind::Term(Term::new(TermKind::Ref(Box::new(compr), vec![Term::scalar(Value::int(0), span)]), span))
            } else if self.not_block {
                // With `not { ... }` bodies on, `not e` is `not { e }`: OPA then evaluates the
                // whole expression under the negation (no operand is moved in front of it).
                let bs = self.tok().start;
                let e = self.expr()?;
                let span = self.span_from(bs);
                ExprKind::Term(exists(vec![Expr { kind: e, with: Vec::new(), span }], span))
            } else {
                self.expr()?
            };
            ExprKind::Not(Box::new(Expr { kind: inner, with: Vec::new(), span: self.span_from(start) }))
        } else {
            self.expr()?
        };
        let _ = start;
        Ok(kind)
    }

    fn same_line_or_with(&self) -> bool {
        true
    }

    fn some_decl(&mut self) -> PResult<ExprKind> {
        let mut terms = vec![self.term_rel()?];
        while self.peek() == &Tok::Comma {
            self.advance();
            terms.push(self.term_rel()?);
        }
        if self.kw.in_ && self.is_ident("in") {
            self.advance();
            let coll = self.term_rel()?;
            return match terms.len() {
                1 => Ok(ExprKind::SomeIn(None, terms.pop().unwrap_or_else(|| coll.clone()), coll)),
                2 => {
                    let v = terms.pop();
                    let k = terms.pop();
                    match (k, v) {
                        (Some(k), Some(v)) => Ok(ExprKind::SomeIn(Some(k), v, coll)),
                        _ => Err(self.err_here("bad some")),
                    }
                }
                _ => Err(self.err_here("unexpected , in some")),
            };
        }
        for t in &terms {
            if !matches!(t.kind, TermKind::Var(_)) {
                return Err(ParseError { offset: t.span.start, message: "expected var in some declaration".into() });
            }
        }
        Ok(ExprKind::SomeDecl(terms))
    }

    fn every(&mut self) -> PResult<ExprKind> {
        let first = self.term_rel()?;
        let (k, v) = if self.peek() == &Tok::Comma {
            self.advance();
            (Some(first), self.term_rel()?)
        } else {
            (None, first)
        };
        if !self.is_ident("in") {
            return Err(self.err_here("expected in"));
        }
        self.advance();
        let domain = self.term_rel()?;
        let body = self.block()?;
        Ok(ExprKind::Every(k, v, domain, body))
    }

    /// `a = b`, `a := b`, `k, v in xs`, or a term.
    fn expr(&mut self) -> PResult<ExprKind> {
        let lhs = self.term_in_kv()?;
        match self.peek() {
            Tok::Assign | Tok::Unify => {
                let assign = self.peek() == &Tok::Assign;
                self.advance();
                let rhs = self.term_in_kv()?;
                Ok(ExprKind::Unify(lhs, rhs, assign))
            }
            _ => Ok(ExprKind::Term(lhs)),
        }
    }

    // ---- terms, by precedence ----

    /// A term with `in` operators, as an element of a list (`[1, 2 in x]` is two elements).
    pub fn term_in(&mut self) -> PResult<Term> {
        self.enter()?;
        let r = self.term_in_inner(false);
        self.depth -= 1;
        r
    }

    /// A term where `k, v in coll` is one operand (an expression's sides, a rule's
    /// value, a `with` value), left-associative as OPA's: `0, 2 in [2] in [true]` is
    /// `(0, 2 in [2]) in [true]`.
    fn term_in_kv(&mut self) -> PResult<Term> {
        self.enter()?;
        let r = self.term_in_inner(true);
        self.depth -= 1;
        r
    }

    fn term_in_inner(&mut self, key_val: bool) -> PResult<Term> {
        let mut lhs = self.term_rel()?;
        let mut chain = 0u32;
        loop {
            chain += 1;
            if chain > MAX_NESTING {
                return Err(self.err_here("expression too long"));
            }
            if key_val && self.kw.in_ && self.peek() == &Tok::Comma {
                let save = self.pos;
                self.advance();
                if let Ok(v) = self.term_rel() {
                    if self.is_ident("in") && self.same_line() {
                        self.advance();
                        let coll = self.term_rel()?;
                        let span = Span { file: self.file, start: lhs.span.start, end: coll.span.end };
                        lhs = call_term("internal.member_3", vec![lhs, v, coll], span);
                        continue;
                    }
                }
                self.pos = save;
            }
            if !(self.kw.in_ && self.is_ident("in") && self.same_line()) {
                break;
            }
            self.advance();
            let rhs = self.term_rel()?;
            let span = Span { file: self.file, start: lhs.span.start, end: rhs.span.end };
            lhs = call_term("internal.member_2", vec![lhs, rhs], span);
        }
        Ok(lhs)
    }

    fn term_rel(&mut self) -> PResult<Term> {
        let mut lhs = self.term_bin(0)?;
        let mut chain = 0u32;
        loop {
            chain += 1;
            if chain > MAX_NESTING {
                return Err(self.err_here("expression too long"));
            }
            let op = match self.peek() {
                Tok::Eq => "equal",
                Tok::Neq => "neq",
                Tok::Lt => "lt",
                Tok::Lte => "lte",
                Tok::Gt => "gt",
                Tok::Gte => "gte",
                _ => break,
            };
            if !self.same_line() {
                break;
            }
            self.advance();
            let rhs = self.term_bin(0)?;
            let span = Span { file: self.file, start: lhs.span.start, end: rhs.span.end };
            lhs = call_term(op, vec![lhs, rhs], span);
        }
        Ok(lhs)
    }

    /// Levels: 0 `|`, 1 `&`, 2 `+ -`, 3 `* / %`.
    fn term_bin(&mut self, level: u8) -> PResult<Term> {
        if level > 3 {
            return self.term_primary();
        }
        let mut lhs = self.term_bin(level + 1)?;
        let mut chain = 0u32;
        loop {
            // A long operator chain nests as deeply as brackets would.
            chain += 1;
            if chain > MAX_NESTING {
                return Err(self.err_here("expression too long"));
            }
            let op = match (level, self.peek()) {
                (0, Tok::Pipe) if !self.no_pipe => "or",
                (1, Tok::Amp) => "and",
                (2, Tok::Plus) => "plus",
                (2, Tok::Minus) => "minus",
                (3, Tok::Star) => "mul",
                (3, Tok::Slash) => "div",
                (3, Tok::Percent) => "rem",
                _ => break,
            };
            if !self.same_line() {
                break;
            }
            self.advance();
            let rhs = self.term_bin(level + 1)?;
            let span = Span { file: self.file, start: lhs.span.start, end: rhs.span.end };
            lhs = call_term(op, vec![lhs, rhs], span);
        }
        Ok(lhs)
    }

    fn term_primary(&mut self) -> PResult<Term> {
        self.enter()?;
        let saved = self.no_pipe;
        // Inside brackets and parentheses `|` is an operator again.
        let opens = matches!(self.peek(), Tok::LParen | Tok::LBrack | Tok::LBrace);
        if opens {
            self.no_pipe = false;
        }
        let r = self.term_primary_inner();
        self.no_pipe = saved;
        self.depth -= 1;
        r
    }

    fn term_primary_inner(&mut self) -> PResult<Term> {
        let start = self.tok().start;
        let t = self.advance();
        let base = match t.tok {
            Tok::Num(s) => Term::scalar(Value::Number(self.number(&s, start)?), self.span_from(start)),
            Tok::Minus => match self.peek().clone() {
                Tok::Num(s) if self.adjacent() => {
                    self.advance();
                    Term::scalar(Value::Number(self.number(&format!("-{}", s), start)?), self.span_from(start))
                }
                _ => {
                    let inner = self.term_primary()?;
                    let span = self.span_from(start);
                    call_term("minus", vec![Term::scalar(Value::int(0), span), inner], span)
                }
            },
            Tok::Str(s) => Term::scalar(Value::from(s), self.span_from(start)),
            Tok::Template(parts) => self.template(parts, start)?,
            // A keyword directly followed by `.` or `[` is the first name of a ref (`true.foo`, `else.x`).
            Tok::Ident(name) if self.is_keyword(&name) && self.starts_ref_at(self.pos - 1) => {
                Term::new(TermKind::Var(Arc::from(name.as_str())), self.span_from(start))
            }
            Tok::Ident(name) => match name.as_str() {
                "true" => Term::scalar(Value::Bool(true), self.span_from(start)),
                "false" => Term::scalar(Value::Bool(false), self.span_from(start)),
                "null" => Term::scalar(Value::Null, self.span_from(start)),
                "set" if self.peek() == &Tok::LParen && self.adjacent() && self.peek_at(1) == &Tok::RParen => {
                    self.advance();
                    self.advance();
                    Term::new(TermKind::Set(Vec::new()), self.span_from(start))
                }
                "_" => Term::new(TermKind::Var(fresh_wildcard()), self.span_from(start)),
                "contains" | "if" | "in" | "every" if self.peek() == &Tok::LParen && self.adjacent() => {
                    Term::new(TermKind::Var(Arc::from(name.as_str())), self.span_from(start))
                }
                n if self.is_keyword(n) => {
                    self.pos = self.pos.saturating_sub(1);
                    return Err(self.err_here("unexpected keyword"));
                }
                _ => Term::new(TermKind::Var(Arc::from(name.as_str())), self.span_from(start)),
            },
            Tok::LBrack => self.array(start)?,
            Tok::LBrace => self.object_or_set(start)?,
            Tok::LParen => {
                self.nest += 1;
                let inner = self.term_in();
                let inner = match inner {
                    Ok(k) if self.peek() == &Tok::Comma && self.kw.in_ => {
                        // `(k, v in coll)`
                        self.advance();
                        let v = self.term_rel();
                        match v {
                            Ok(v) if self.is_ident("in") => {
                                self.advance();
                                self.term_rel().map(|c| {
                                    let span = Span { file: self.file, start: k.span.start, end: c.span.end };
                                    call_term("internal.member_3", vec![k, v, c], span)
                                })
                            }
                            Ok(_) => Err(self.err_here("expected in")),
                            Err(e) => Err(e),
                        }
                    }
                    other => other,
                };
                self.nest -= 1;
                let mut inner = inner?;
                self.expect(Tok::RParen, ")")?;
                inner.span = self.span_from(start);
                inner
            }
            _ => {
                self.pos = self.pos.saturating_sub(1);
                return Err(self.err_here("unexpected token"));
            }
        };
        self.suffixes(base, start)
    }

    /// `$"a {x} b"` is `internal.template_string(["a ", {v | v = x}, " b"])`:
    /// each expression's values as a set, so that undefined does not halt.
    fn template(&mut self, parts: Vec<TplPart>, start: u32) -> PResult<Term> {
        let span = self.span_from(start);
        let mut items = Vec::new();
        for p in parts {
            match p {
                TplPart::Lit(s) => items.push(Term::scalar(Value::from(s), span)),
                TplPart::Expr(a, b) => {
                    let text = self.src.get(a as usize..b as usize).unwrap_or("");
                    let (toks, errs) = lex(text);
                    if let Some(e) = errs.first() {
                        return Err(ParseError { offset: a + e.offset, message: e.message.clone() });
                    }
                    let mut sub = Parser {
                        src: self.src,
                        toks: toks
                            .into_iter()
                            .map(|mut t| {
                                t.start += a;
                                t.end += a;
                                // A nested template's expression ranges are relative to `text` too.
                                if let Tok::Template(parts) = &mut t.tok {
                                    for p in parts.iter_mut() {
                                        if let TplPart::Expr(x, y) = p {
                                            *x += a;
                                            *y += a;
                                        }
                                    }
                                }
                                t
                            })
                            .collect(),
                        pos: 0,
                        file: self.file,
                        depth: self.depth,
                        nest: 1,
                        kw: self.kw,
                        v1: self.v1,
                        no_pipe: false,
                        not_block: self.not_block,
                        errors: Vec::new(),
                    };
                    // One expression, as OPA's `parseLiteral`, with its `with` modifiers;
                    // its value (a call's output) is what the template shows.
                    let lit = sub.literal()?;
                    if sub.peek() != &Tok::Eof {
                        return Err(ParseError { offset: sub.tok().start, message: "expected } to end template string expression".into() });
                    }
                    let bad = match &lit.kind {
                        ExprKind::Term(_) => None,
                        ExprKind::Not(_) => Some("unexpected negation ('not') in template-string expression"),
                        ExprKind::Unify(_, _, false) => Some("unexpected unification ('=') in template-string expression"),
                        ExprKind::Unify(_, _, true) => Some("unexpected assignment (':=') in template-string expression"),
                        ExprKind::Every(..) => Some("unexpected 'every' in template-string expression"),
                        ExprKind::SomeDecl(_) | ExprKind::SomeIn(..) => Some("unexpected 'some' in template-string expression"),
                    };
                    let e = match (bad, lit.kind) {
                        (None, ExprKind::Term(t)) => t,
                        (msg, _) => {
                            let msg = msg.unwrap_or("invalid template-string expression");
                            return Err(ParseError { offset: lit.span.start, message: msg.into() });
                        }
                    };
                    let v = Term::new(TermKind::Var(fresh_wildcard()), e.span);
                    let body = vec![Expr { kind: ExprKind::Unify(v.clone(), e, false), with: lit.with, span }];
                    items.push(Term::new(TermKind::SetCompr(Box::new(v), body), span));
                }
            }
        }
        Ok(call_term("internal.template_string", vec![Term::new(TermKind::Array(items), span)], span))
    }

    fn number(&self, s: &str, start: u32) -> PResult<Number> {
        Number::parse(s).ok_or_else(|| ParseError { offset: start, message: format!("invalid number {}", s) })
    }

    fn suffixes(&mut self, mut base: Term, start: u32) -> PResult<Term> {
        loop {
            match self.peek() {
                Tok::Dot if self.adjacent() => {
                    self.advance();
                    let s = self.tok().start;
                    let name = match self.advance().tok {
                        Tok::Ident(n) => n,
                        _ => {
                            self.pos = self.pos.saturating_sub(1);
                            return Err(self.err_here("expected ident"));
                        }
                    };
                    let seg = Term::scalar(Value::from(name), self.span_from(s));
                    base = push_ref(base, seg, self.span_from(start));
                }
                Tok::LBrack if self.adjacent() => {
                    self.advance();
                    self.nest += 1;
                    let saved = std::mem::replace(&mut self.no_pipe, false);
                    let k = self.term_in();
                    self.no_pipe = saved;
                    self.nest -= 1;
                    let k = k?;
                    self.expect(Tok::RBrack, "]")?;
                    base = push_ref(base, k, self.span_from(start));
                }
                Tok::LParen if self.adjacent() => {
                    self.advance();
                    self.nest += 1;
                    let saved = std::mem::replace(&mut self.no_pipe, false);
                    let args = self.term_list(&Tok::RParen);
                    self.no_pipe = saved;
                    self.nest -= 1;
                    let args = args?;
                    self.expect(Tok::RParen, ")")?;
                    base = Term::new(TermKind::Call(Box::new(Call { func: base, args, target: CallTarget::Unresolved, builtin: None, arity: None })), self.span_from(start));
                }
                _ => return Ok(base),
            }
        }
    }

    fn term_list(&mut self, end: &Tok) -> PResult<Vec<Term>> {
        let mut out = Vec::new();
        while self.peek() != end {
            out.push(self.term_in()?);
            if self.peek() == &Tok::Comma {
                self.advance();
            } else {
                break;
            }
        }
        Ok(out)
    }

    fn compr_body(&mut self, end: Tok) -> PResult<Body> {
        let saved = self.nest;
        let saved_pipe = std::mem::replace(&mut self.no_pipe, false);
        self.nest = 0;
        let b = self.query(&end);
        self.nest = saved;
        self.no_pipe = saved_pipe;
        let b = b?;
        if b.is_empty() {
            return Err(self.err_here("empty comprehension body"));
        }
        Ok(b)
    }

    fn first_elem(&mut self) -> PResult<Term> {
        let saved = self.no_pipe;
        self.no_pipe = true;
        let r = self.term_in();
        self.no_pipe = saved;
        r
    }

    fn array(&mut self, start: u32) -> PResult<Term> {
        self.nest += 1;
        let r = self.array_inner(start);
        self.nest -= 1;
        r
    }

    fn array_inner(&mut self, start: u32) -> PResult<Term> {
        if self.peek() == &Tok::RBrack {
            self.advance();
            return Ok(Term::new(TermKind::Array(Vec::new()), self.span_from(start)));
        }
        let first = self.first_elem()?;
        if self.peek() == &Tok::Pipe {
            self.advance();
            let body = self.compr_body(Tok::RBrack)?;
            self.expect(Tok::RBrack, "]")?;
            return Ok(Term::new(TermKind::ArrayCompr(Box::new(first), body), self.span_from(start)));
        }
        let mut items = vec![first];
        while self.peek() == &Tok::Comma {
            self.advance();
            if self.peek() == &Tok::RBrack {
                break;
            }
            items.push(self.term_in()?);
        }
        self.expect(Tok::RBrack, "]")?;
        Ok(Term::new(TermKind::Array(items), self.span_from(start)))
    }

    fn object_or_set(&mut self, start: u32) -> PResult<Term> {
        self.nest += 1;
        let r = self.object_or_set_inner(start);
        self.nest -= 1;
        r
    }

    fn object_or_set_inner(&mut self, start: u32) -> PResult<Term> {
        if self.peek() == &Tok::RBrace {
            self.advance();
            return Ok(Term::new(TermKind::Object(Vec::new()), self.span_from(start)));
        }
        let first = self.first_elem()?;
        if self.peek() == &Tok::Colon {
            self.advance();
            let v = self.first_elem()?;
            if self.peek() == &Tok::Pipe {
                self.advance();
                let body = self.compr_body(Tok::RBrace)?;
                self.expect(Tok::RBrace, "}")?;
                return Ok(Term::new(TermKind::ObjectCompr(Box::new(first), Box::new(v), body), self.span_from(start)));
            }
            let mut items = vec![(first, v)];
            while self.peek() == &Tok::Comma {
                self.advance();
                if self.peek() == &Tok::RBrace {
                    break;
                }
                let k = self.term_in()?;
                self.expect(Tok::Colon, ":")?;
                let v = self.term_in()?;
                items.push((k, v));
            }
            self.expect(Tok::RBrace, "}")?;
            return Ok(Term::new(TermKind::Object(items), self.span_from(start)));
        }
        if self.peek() == &Tok::Pipe {
            self.advance();
            let body = self.compr_body(Tok::RBrace)?;
            self.expect(Tok::RBrace, "}")?;
            return Ok(Term::new(TermKind::SetCompr(Box::new(first), body), self.span_from(start)));
        }
        let mut items = vec![first];
        while self.peek() == &Tok::Comma {
            self.advance();
            if self.peek() == &Tok::RBrace {
                break;
            }
            items.push(self.term_in()?);
        }
        self.expect(Tok::RBrace, "}")?;
        Ok(Term::new(TermKind::Set(items), self.span_from(start)))
    }
}

/// What makes a default value non-constant (vars, refs, calls), if anything.
fn non_constant(t: &Term) -> Option<&'static str> {
    match &t.kind {
        TermKind::Scalar(_) => None,
        TermKind::Var(_) | TermKind::Local(..) => Some("var"),
        TermKind::Ref(..) | TermKind::Data | TermKind::Input => Some("ref"),
        TermKind::Call(_) => Some("call"),
        TermKind::Array(i) | TermKind::Set(i) => i.iter().find_map(non_constant),
        TermKind::Object(i) => i.iter().find_map(|(k, v)| non_constant(k).or_else(|| non_constant(v))),
        TermKind::ArrayCompr(..) | TermKind::SetCompr(..) | TermKind::ObjectCompr(..) => None,
    }
}

/// `[true | body][0]`: defined, once, when `body` has a solution.
fn exists(body: Body, span: Span) -> Term {
    let compr = Term::new(TermKind::ArrayCompr(Box::new(Term::scalar(Value::Bool(true), span)), body), span);
    Term::new(TermKind::Ref(Box::new(compr), vec![Term::scalar(Value::int(0), span)]), span)
}

fn term_expr(t: Term) -> Expr {
    let span = t.span;
    Expr { kind: ExprKind::Term(t), with: Vec::new(), span }
}

fn push_ref(base: Term, seg: Term, span: Span) -> Term {
    match base.kind {
        TermKind::Ref(h, mut path) => {
            path.push(seg);
            Term::new(TermKind::Ref(h, path), span)
        }
        _ => Term::new(TermKind::Ref(Box::new(base), vec![seg]), span),
    }
}

pub fn call_term(name: &str, args: Vec<Term>, span: Span) -> Term {
    let func = Term::new(TermKind::Var(Arc::from(name)), span);
    Term::new(TermKind::Call(Box::new(Call { func, args, target: CallTarget::Builtin(Arc::from(name)), builtin: None, arity: crate::compile::builtin_arity(name).flatten() })), span)
}

/// A rule head reference as a path: `a.b[x]` → ["a", "b", x].
fn head_path(t: &Term) -> PResult<Vec<Term>> {
    match &t.kind {
        TermKind::Var(n) => Ok(vec![Term::scalar(Value::from(&**n), t.span)]),
        TermKind::Ref(h, path) => {
            let mut out = head_path(h)?;
            out.extend(path.iter().cloned());
            Ok(out)
        }
        _ => Err(ParseError { offset: t.span.start, message: "invalid rule head".into() }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn ok(src: &str) -> Module {
        parse_module(src, 0, false).unwrap_or_else(|e| panic!("{:?}", e))
    }

    #[test]
    fn simple_rules() {
        assert_eq!(ok("package a\np := 1\nq if { 1 == 1 }").rules.len(), 2);
    }
    #[test]
    fn contains_rule() {
        assert_eq!(ok("package a\np contains x if { x := 1 }").rules[0].kind, RuleKind::Set);
    }
    #[test]
    fn function_rule() {
        assert_eq!(ok("package a\nf(x) := y if { y := x }").rules[0].kind, RuleKind::Function);
    }
    #[test]
    fn else_chain() {
        assert!(ok("package a\np := 1 if false else := 2 if true else := 3").rules[0].else_.is_some());
    }
    #[test]
    fn ref_head() {
        assert_eq!(ok("package a\na.b[x].c := 1 if x := 2").rules[0].head.len(), 4);
    }
    #[test]
    fn comprehensions() {
        ok("package a\np := [x | x := [1,2][_]]\nq := {k: v | some k, v in {\"a\": 1}}\nr := {x | x := 1}");
    }
    #[test]
    fn keyword_starts_a_ref() {
        let m = ok("package a\nas.foo := 1\ntrue.x := 2\np if { as.foo == 1; true.x == 2 }");
        assert_eq!(m.rules[0].head.len(), 2);
        assert_eq!(m.rules[1].head.len(), 2);
    }
    #[test]
    fn logic_operators_only_when_imported() {
        assert!(parse_module("package a\np if { true and false }", 0, false).is_err());
        let m = ok("package a\nimport future.keywords.and\nimport future.keywords.or\np if { input.a and (input.b or { x := 1; x > 0 }) }");
        // One literal: the operands are folded into one expression.
        assert_eq!(m.rules[0].body.len(), 1);
    }
    #[test]
    fn v1_requires_if() {
        assert!(parse_module("package a\np { true }", 0, false).is_err());
    }
    #[test]
    fn v0_partial_set() {
        let m = parse_module("package a\np[x] { x := 1 }", 0, true).unwrap();
        assert_eq!(m.rules[0].kind, RuleKind::Set);
    }
    #[test]
    fn every_and_some_in() {
        ok("package a\np if { every x in [1] { x > 0 }; some k, v in {\"a\": 1} }");
    }
    #[test]
    fn reports_all_errors() {
        let e = parse_module("package a\np := )\nq := ]\nr := 1", 0, false).unwrap_err();
        assert!(e.len() >= 2);
    }
    #[test]
    fn deep_nesting_is_an_error() {
        let src = format!("package a\np := {}1{}", "[".repeat(1000), "]".repeat(1000));
        assert!(parse_module(&src, 0, false).is_err());
    }
    #[test]
    fn template_string() {
        ok("package a\np := $\"x {1 + 1} y {input.a}\"");
    }
    #[test]
    fn query_multi() {
        assert_eq!(parse_query("x := 1; y := x + 1", 0).unwrap().len(), 2);
    }
}
