//! GraphQL documents (executable and type-system): the AST, a lexer and a
//! recursive-descent parser following the GraphQL specification (June 2018
//! and later). Errors carry gqlparser's wording and 1-based line/column
//! (columns count characters, not bytes) so that OPA's messages can be
//! reproduced. Nesting is bounded so that hostile input cannot exhaust the
//! stack.

/// Deepest nesting of selection sets, values and list types accepted.
pub const MAX_DEPTH: usize = 128;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SyntaxError {
    pub msg: String,
    pub pos: Pos,
}

// ---- AST ----

pub const K_VARIABLE: u8 = 0;
pub const K_INT: u8 = 1;
pub const K_FLOAT: u8 = 2;
pub const K_STRING: u8 = 3;
pub const K_BLOCK: u8 = 4;
pub const K_BOOLEAN: u8 = 5;
pub const K_NULL: u8 = 6;
pub const K_ENUM: u8 = 7;
pub const K_LIST: u8 = 8;
pub const K_OBJECT: u8 = 9;

#[derive(Clone, Debug, Default)]
pub struct GValue {
    pub kind: u8,
    pub raw: String,
    /// List elements (with empty names) or object fields.
    pub children: Vec<(String, GValue)>,
    /// Comments before a list's `[` or an object's `{` (see `Comments`).
    pub comment: Comments,
    /// Comments before each object field's name, by child index.
    pub child_comments: Vec<Comments>,
    pub pos: Pos,
}

/// The `#` comment lines gqlparser attaches to a node: those right before the token
/// that starts it (its `Comment` field, rendered by OPA). Empty when none.
pub type Comments = Vec<String>;

#[derive(Clone, Debug, Default)]
pub struct GType {
    pub named: String,
    pub elem: Option<Box<GType>>,
    pub non_null: bool,
    pub pos: Pos,
}

impl GType {
    /// The innermost named type.
    pub fn name(&self) -> &str {
        let mut t = self;
        while let Some(e) = &t.elem {
            t = e;
        }
        &t.named
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        let mut t = self;
        let mut closes = Vec::new();
        loop {
            if let Some(e) = &t.elem {
                s.push('[');
                closes.push(t.non_null);
                t = e;
            } else {
                s.push_str(&t.named);
                if t.non_null {
                    s.push('!');
                }
                break;
            }
        }
        while let Some(nn) = closes.pop() {
            s.push(']');
            if nn {
                s.push('!');
            }
        }
        s
    }

    /// gqlparser's `IsCompatible`: can a variable of type `self` be used where `other` is expected.
    pub fn is_compatible(&self, other: &GType) -> bool {
        let (mut a, mut b) = (self, other);
        loop {
            if a.named != b.named {
                return false;
            }
            if b.non_null && !a.non_null {
                return false;
            }
            match (&a.elem, &b.elem) {
                (Some(_), None) => return false,
                (Some(x), Some(y)) => {
                    a = x;
                    b = y;
                }
                _ => return true,
            }
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Argument {
    pub comment: Comments,
    pub name: String,
    pub value: GValue,
    pub pos: Pos,
}

#[derive(Clone, Debug, Default)]
pub struct Directive {
    pub name: String,
    pub args: Vec<Argument>,
    pub pos: Pos,
}

#[derive(Clone, Debug, Default)]
pub struct VarDef {
    pub comment: Comments,
    pub description: String,
    pub var: String,
    pub ty: GType,
    pub default: Option<GValue>,
    pub directives: Vec<Directive>,
    /// Set by validation in gqlparser; `false` when parsed, kept from an AST object.
    pub used: bool,
    pub pos: Pos,
}

#[derive(Clone, Debug)]
pub enum Selection {
    Field(Field),
    Spread(Spread),
    Inline(Inline),
}

#[derive(Clone, Debug, Default)]
pub struct Field {
    pub comment: Comments,
    pub alias: String,
    pub name: String,
    pub args: Vec<Argument>,
    pub directives: Vec<Directive>,
    pub sel: Vec<Selection>,
    pub pos: Pos,
}

#[derive(Clone, Debug, Default)]
pub struct Spread {
    pub comment: Comments,
    pub name: String,
    pub directives: Vec<Directive>,
    pub pos: Pos,
}

#[derive(Clone, Debug, Default)]
pub struct Inline {
    pub comment: Comments,
    pub type_cond: String,
    pub directives: Vec<Directive>,
    pub sel: Vec<Selection>,
    pub pos: Pos,
}

#[derive(Clone, Debug, Default)]
pub struct Operation {
    pub comment: Comments,
    pub description: String,
    pub op: String,
    pub name: String,
    pub vars: Vec<VarDef>,
    pub directives: Vec<Directive>,
    pub sel: Vec<Selection>,
    pub pos: Pos,
}

#[derive(Clone, Debug, Default)]
pub struct Fragment {
    pub comment: Comments,
    pub description: String,
    pub name: String,
    pub vars: Vec<VarDef>,
    pub type_cond: String,
    pub directives: Vec<Directive>,
    pub sel: Vec<Selection>,
    pub pos: Pos,
}

#[derive(Clone, Debug, Default)]
pub struct QueryDoc {
    pub ops: Vec<Operation>,
    pub frags: Vec<Fragment>,
}

/// The comments gqlparser keeps on a schema definition: before its description,
/// before its keyword or name (after the description), before its closing `}`.
#[derive(Clone, Debug, Default)]
pub struct DefComments {
    pub before_description: Comments,
    pub after_description: Comments,
    pub end_of_definition: Comments,
}

/// A field, input field or argument definition (arguments have no `args`).
#[derive(Clone, Debug, Default)]
pub struct FieldDef {
    pub comments: DefComments,
    pub description: String,
    pub name: String,
    pub args: Vec<FieldDef>,
    pub default: Option<GValue>,
    pub ty: GType,
    pub directives: Vec<Directive>,
    pub pos: Pos,
}

#[derive(Clone, Debug, Default)]
pub struct EnumValueDef {
    pub comments: DefComments,
    pub description: String,
    pub name: String,
    pub directives: Vec<Directive>,
    pub pos: Pos,
}

#[derive(Clone, Debug, Default)]
pub struct Definition {
    pub comments: DefComments,
    pub kind: String,
    pub description: String,
    pub name: String,
    pub directives: Vec<Directive>,
    pub interfaces: Vec<String>,
    pub fields: Vec<FieldDef>,
    pub types: Vec<String>,
    pub enum_values: Vec<EnumValueDef>,
    pub builtin: bool,
    pub pos: Pos,
}

#[derive(Clone, Debug, Default)]
pub struct DirectiveDef {
    pub comments: DefComments,
    pub description: String,
    pub name: String,
    pub args: Vec<FieldDef>,
    /// Directives applied to the directive definition (`directive @a @b on ...`).
    pub directives: Vec<Directive>,
    pub locations: Vec<String>,
    pub repeatable: bool,
    pub pos: Pos,
}

#[derive(Clone, Debug, Default)]
pub struct OpTypeDef {
    pub comment: Comments,
    pub op: String,
    pub ty: String,
    pub pos: Pos,
}

#[derive(Clone, Debug, Default)]
pub struct SchemaDef {
    pub comments: DefComments,
    pub description: String,
    pub directives: Vec<Directive>,
    pub op_types: Vec<OpTypeDef>,
    pub pos: Pos,
}

#[derive(Clone, Debug, Default)]
pub struct SchemaDoc {
    /// Comments at the end of the document.
    pub comment: Comments,
    pub schema: Vec<SchemaDef>,
    pub schema_ext: Vec<SchemaDef>,
    pub directives: Vec<DirectiveDef>,
    /// `extend directive @a @b`: more directives on a defined directive.
    pub directive_exts: Vec<DirectiveDef>,
    pub defs: Vec<Definition>,
    pub exts: Vec<Definition>,
}

pub const DIRECTIVE_LOCATIONS: &[&str] = &[
    "QUERY",
    "MUTATION",
    "SUBSCRIPTION",
    "FIELD",
    "FRAGMENT_DEFINITION",
    "FRAGMENT_SPREAD",
    "INLINE_FRAGMENT",
    "VARIABLE_DEFINITION",
    "SCHEMA",
    "SCALAR",
    "OBJECT",
    "FIELD_DEFINITION",
    "ARGUMENT_DEFINITION",
    "INTERFACE",
    "UNION",
    "ENUM",
    "ENUM_VALUE",
    "INPUT_OBJECT",
    "INPUT_FIELD_DEFINITION",
    "DIRECTIVE_DEFINITION",
];

// ---- lexer ----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Invalid,
    Eof,
    Bang,
    Dollar,
    Amp,
    ParenL,
    ParenR,
    Spread,
    Colon,
    Equals,
    At,
    BracketL,
    BracketR,
    BraceL,
    Pipe,
    BraceR,
    Name,
    Int,
    Float,
    Str,
    BlockStr,
}

impl Kind {
    pub fn text(self) -> &'static str {
        match self {
            Kind::Invalid => "<Invalid>",
            Kind::Eof => "<EOF>",
            Kind::Bang => "!",
            Kind::Dollar => "$",
            Kind::Amp => "&",
            Kind::ParenL => "(",
            Kind::ParenR => ")",
            Kind::Spread => "...",
            Kind::Colon => ":",
            Kind::Equals => "=",
            Kind::At => "@",
            Kind::BracketL => "[",
            Kind::BracketR => "]",
            Kind::BraceL => "{",
            Kind::Pipe => "|",
            Kind::BraceR => "}",
            Kind::Name => "Name",
            Kind::Int => "Int",
            Kind::Float => "Float",
            Kind::Str => "String",
            Kind::BlockStr => "BlockString",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Token {
    pub kind: Kind,
    pub value: String,
    pub pos: Pos,
    /// For `Invalid` tokens: the lexer's own message.
    pub err: Option<String>,
    /// The comment lines between the previous token and this one.
    pub comments: Comments,
}

impl Token {
    /// gqlparser's `Token.String()`: the kind, then the quoted value if any.
    pub fn describe(&self) -> String {
        if self.value.is_empty() {
            self.kind.text().to_string()
        } else {
            format!("{} {}", self.kind.text(), go_quote(&self.value))
        }
    }
}

/// Go's `strconv.Quote`, closely enough for error messages.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

struct Lexer<'a> {
    /// Comments skipped since the last token.
    comments: Comments,
    src: &'a [u8],
    text: &'a str,
    end: usize,
    end_runes: usize,
    start_runes: usize,
    line: u32,
    line_start: usize,
}

impl<'a> Lexer<'a> {
    fn new(text: &'a str) -> Self {
        Lexer { comments: Vec::new(), src: text.as_bytes(), text, end: 0, end_runes: 0, start_runes: 0, line: 1, line_start: 0 }
    }

    fn tok(&self, kind: Kind, value: String) -> Token {
        Token {
            kind,
            value,
            pos: Pos { line: self.line, col: (self.start_runes.saturating_sub(self.line_start) + 1) as u32 },
            err: None,
            comments: Vec::new(),
        }
    }

    fn error(&self, msg: String) -> Token {
        Token {
            kind: Kind::Invalid,
            value: String::new(),
            pos: Pos { line: self.line, col: (self.end_runes.saturating_sub(self.line_start) + 1) as u32 },
            err: Some(msg),
            comments: Vec::new(),
        }
    }

    fn ws(&mut self) {
        while self.end < self.src.len() {
            match self.src[self.end] {
                b'\t' | b' ' | b',' => {
                    self.end += 1;
                    self.end_runes += 1;
                }
                b'\n' => {
                    self.end += 1;
                    self.end_runes += 1;
                    self.line += 1;
                    self.line_start = self.end_runes;
                }
                b'\r' => {
                    self.end += 1;
                    self.end_runes += 1;
                    if self.src.get(self.end) == Some(&b'\n') {
                        self.end += 1;
                        self.end_runes += 1;
                    }
                    self.line += 1;
                    self.line_start = self.end_runes;
                }
                b'#' => {
                    // To the line's end: any character but a control one (tab allowed).
                    let start = self.end;
                    while self.end < self.src.len() && (self.src[self.end] > 0x1f || self.src[self.end] == b'\t') {
                        self.advance_char();
                    }
                    self.comments.push(self.text.get(start..self.end).unwrap_or("#").to_string());
                }
                0xEF if self.src[self.end..].starts_with("\u{feff}".as_bytes()) => {
                    self.end += 3;
                    self.end_runes += 1;
                }
                _ => return,
            }
        }
    }

    fn advance_char(&mut self) {
        let w = self.text[self.end..].chars().next().map(|c| c.len_utf8()).unwrap_or(1);
        self.end += w;
        self.end_runes += 1;
    }

    fn next_token(&mut self) -> Token {
        let mut t = self.read_token();
        t.comments = std::mem::take(&mut self.comments);
        t
    }

    fn read_token(&mut self) -> Token {
        self.ws();
        let start = self.end;
        self.start_runes = self.end_runes;
        let Some(&r) = self.src.get(start) else {
            return self.tok(Kind::Eof, String::new());
        };
        self.end += 1;
        self.end_runes += 1;
        let punct = match r {
            b'!' => Some(Kind::Bang),
            b'$' => Some(Kind::Dollar),
            b'&' => Some(Kind::Amp),
            b'(' => Some(Kind::ParenL),
            b')' => Some(Kind::ParenR),
            b':' => Some(Kind::Colon),
            b'=' => Some(Kind::Equals),
            b'@' => Some(Kind::At),
            b'[' => Some(Kind::BracketL),
            b']' => Some(Kind::BracketR),
            b'{' => Some(Kind::BraceL),
            b'|' => Some(Kind::Pipe),
            b'}' => Some(Kind::BraceR),
            _ => None,
        };
        if let Some(k) = punct {
            return self.tok(k, String::new());
        }
        match r {
            b'.' if self.src[start..].starts_with(b"...") => {
                self.end += 2;
                self.end_runes += 2;
                return self.tok(Kind::Spread, String::new());
            }
            b'_' | b'a'..=b'z' | b'A'..=b'Z' => {
                while self.end < self.src.len() && matches!(self.src[self.end], b'_' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z') {
                    self.end += 1;
                    self.end_runes += 1;
                }
                return self.tok(Kind::Name, self.text[start..self.end].to_string());
            }
            b'-' | b'0'..=b'9' => {
                self.end -= 1;
                self.end_runes -= 1;
                return self.read_number(start);
            }
            b'"' => {
                if self.src[start..].starts_with(b"\"\"\"") {
                    return self.read_block_string();
                }
                return self.read_string();
            }
            _ => {}
        }
        self.end -= 1;
        self.end_runes -= 1;
        if r < 0x20 && r != b'\t' && r != b'\n' && r != b'\r' {
            return self.error(format!("Cannot contain the invalid character \"\\u{:04x}\"", r));
        }
        if r == b'\'' {
            return self.error("Unexpected single quote character ('), did you mean to use a double quote (\")?".into());
        }
        let c = self.text[start..].chars().next().unwrap_or('?');
        self.error(format!("Cannot parse the unexpected character \"{}\".", c))
    }

    fn accept(&mut self, set: &[u8]) -> bool {
        if let Some(b) = self.src.get(self.end) {
            if set.contains(b) {
                self.end += 1;
                self.end_runes += 1;
                return true;
            }
        }
        false
    }

    fn digits(&mut self) -> usize {
        let mut n = 0;
        while self.end < self.src.len() && self.src[self.end].is_ascii_digit() {
            self.end += 1;
            self.end_runes += 1;
            n += 1;
        }
        n
    }

    fn describe_next(&self) -> String {
        match self.text[self.end..].chars().next() {
            Some(c) => format!("\"{}\"", c),
            None => "<EOF>".into(),
        }
    }

    fn read_number(&mut self, start: usize) -> Token {
        let mut float = false;
        self.accept(b"-");
        if self.accept(b"0") {
            let n = self.digits();
            if n != 0 {
                self.end -= n;
                self.end_runes -= n;
                return self.error(format!("Invalid number, unexpected digit after 0: {}.", self.describe_next()));
            }
        } else if self.digits() == 0 {
            return self.error(format!("Invalid number, expected digit but got: {}.", self.describe_next()));
        }
        if self.accept(b".") {
            float = true;
            if self.digits() == 0 {
                return self.error(format!("Invalid number, expected digit but got: {}.", self.describe_next()));
            }
        }
        if self.accept(b"eE") {
            float = true;
            self.accept(b"-+");
            if self.digits() == 0 {
                return self.error(format!("Invalid number, expected digit but got: {}.", self.describe_next()));
            }
        }
        let v = self.text[start..self.end].to_string();
        self.tok(if float { Kind::Float } else { Kind::Int }, v)
    }

    fn read_string(&mut self) -> Token {
        // Position of a string token: the first character after the quote (as gqlparser reports it).
        self.start_runes += 1;
        let mut buf = String::new();
        while self.end < self.src.len() {
            let r = self.src[self.end];
            if r == b'\n' || r == b'\r' {
                break;
            }
            if r < 0x20 && r != b'\t' {
                return self.error(format!("Invalid character within String: \"\\u{:04x}\".", r));
            }
            match r {
                b'"' => {
                    let mut t = self.tok(Kind::Str, buf);
                    t.pos.col = t.pos.col.max(1);
                    self.end += 1;
                    self.end_runes += 1;
                    return t;
                }
                b'\\' => {
                    let esc = self.src.get(self.end + 1).copied();
                    let simple = match esc {
                        Some(b'"') => Some('"'),
                        Some(b'/') => Some('/'),
                        Some(b'\\') => Some('\\'),
                        Some(b'b') => Some('\u{8}'),
                        Some(b'f') => Some('\u{c}'),
                        Some(b'n') => Some('\n'),
                        Some(b'r') => Some('\r'),
                        Some(b't') => Some('\t'),
                        _ => None,
                    };
                    if let Some(c) = simple {
                        buf.push(c);
                        self.end += 2;
                        self.end_runes += 2;
                    } else if esc == Some(b'u') {
                        let hex = self.text.get(self.end + 2..self.end + 6).unwrap_or("");
                        match (hex.len() == 4).then(|| u32::from_str_radix(hex, 16).ok()).flatten() {
                            Some(cp) => {
                                buf.push(char::from_u32(cp).unwrap_or('\u{fffd}'));
                                self.end += 6;
                                self.end_runes += 6;
                            }
                            None => {
                                return self.error(format!("Invalid character escape sequence: \\{}.", hex));
                            }
                        }
                    } else {
                        let c = self.text.get(self.end + 1..).and_then(|s| s.chars().next()).unwrap_or(' ');
                        return self.error(format!("Invalid character escape sequence: \\{}.", c));
                    }
                }
                _ => {
                    let c = self.text[self.end..].chars().next().unwrap_or(' ');
                    buf.push(c);
                    self.end += c.len_utf8();
                    self.end_runes += 1;
                }
            }
        }
        self.error("Unterminated string.".into())
    }

    fn read_block_string(&mut self) -> Token {
        self.start_runes += 3;
        self.end += 2;
        self.end_runes += 2;
        let start_line = self.line;
        let start_col = (self.start_runes.saturating_sub(self.line_start) + 1) as u32;
        let mut buf = String::new();
        while self.end < self.src.len() {
            let r = self.src[self.end];
            if self.src[self.end..].starts_with(b"\"\"\"") {
                let t = Token {
                    kind: Kind::BlockStr,
                    value: block_string_value(&buf),
                    pos: Pos { line: start_line, col: start_col },
                    err: None,
                    comments: Vec::new(),
                };
                self.end += 3;
                self.end_runes += 3;
                return t;
            }
            if r < 0x20 && r != b'\t' && r != b'\n' && r != b'\r' {
                return self.error(format!("Invalid character within String: \"\\u{:04x}\".", r));
            }
            if self.src[self.end..].starts_with(b"\\\"\"\"") {
                buf.push_str("\"\"\"");
                self.end += 4;
                self.end_runes += 4;
            } else if r == b'\r' {
                if self.src.get(self.end + 1) == Some(&b'\n') {
                    self.end += 1;
                    self.end_runes += 1;
                }
                buf.push('\n');
                self.end += 1;
                self.end_runes += 1;
                self.line += 1;
                self.line_start = self.end_runes;
            } else {
                let c = self.text[self.end..].chars().next().unwrap_or(' ');
                buf.push(c);
                self.end += c.len_utf8();
                self.end_runes += 1;
                if r == b'\n' {
                    self.line += 1;
                    self.line_start = self.end_runes;
                }
            }
        }
        self.error("Unterminated string.".into())
    }
}

/// The spec's BlockStringValue: common indentation and blank first/last lines removed.
fn block_string_value(raw: &str) -> String {
    let mut lines: Vec<&str> = raw.split('\n').collect();
    let mut common: Option<usize> = None;
    for l in lines.iter().skip(1) {
        let indent = l.len() - l.trim_start_matches([' ', '\t']).len();
        if indent < l.len() && common.is_none_or(|c| indent < c) {
            common = Some(indent);
        }
    }
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    for (i, l) in lines.drain(..).enumerate() {
        if i > 0 {
            if let Some(c) = common {
                out.push(l.get(c.min(l.len())..).unwrap_or("").to_string());
                continue;
            }
        }
        out.push(l.to_string());
    }
    let blank = |s: &String| s.chars().all(|c| c == ' ' || c == '\t');
    while out.first().is_some_and(blank) {
        out.remove(0);
    }
    while out.last().is_some_and(blank) {
        out.pop();
    }
    out.join("\n")
}

// ---- parser ----

type PResult<T> = Result<T, SyntaxError>;

pub struct Parser<'a> {
    lex: Lexer<'a>,
    peeked: Option<Token>,
    prev: Token,
    depth: usize,
}

impl<'a> Parser<'a> {
    pub fn new(text: &'a str) -> Self {
        Parser {
            lex: Lexer::new(text),
            peeked: None,
            prev: Token { kind: Kind::Eof, value: String::new(), pos: Pos { line: 1, col: 1 }, err: None, comments: Vec::new() },
            depth: 0,
        }
    }

    fn peek(&mut self) -> &Token {
        if self.peeked.is_none() {
            self.peeked = Some(self.lex.next_token());
        }
        // Just filled.
        self.peeked.as_ref().unwrap_or(&self.prev)
    }

    /// gqlparser's `p.comment`: the comments before the token about to be read.
    fn peek_comments(&mut self) -> Comments {
        self.peek().comments.clone()
    }

    fn peek_kind(&mut self) -> Kind {
        self.peek().kind
    }

    fn peek_is_name(&mut self, v: &str) -> bool {
        let t = self.peek();
        t.kind == Kind::Name && t.value == v
    }

    fn next(&mut self) -> PResult<Token> {
        let t = match self.peeked.take() {
            Some(t) => t,
            None => self.lex.next_token(),
        };
        if let Some(e) = &t.err {
            return Err(SyntaxError { msg: e.clone(), pos: t.pos });
        }
        self.prev = t.clone();
        Ok(t)
    }

    fn err_at<T>(&self, pos: Pos, msg: String) -> PResult<T> {
        Err(SyntaxError { msg, pos })
    }

    fn unexpected<T>(&mut self) -> PResult<T> {
        let t = self.peek().clone();
        self.err_at(t.pos, format!("Unexpected {}", t.describe()))
    }

    fn unexpected_tok<T>(&self, t: &Token) -> PResult<T> {
        self.err_at(t.pos, format!("Unexpected {}", t.describe()))
    }

    fn expect(&mut self, kind: Kind) -> PResult<Token> {
        let t = self.peek().clone();
        if t.kind == kind {
            return self.next();
        }
        self.err_at(t.pos, format!("Expected {}, found {}", kind.text(), t.kind.text()))
    }

    fn expect_keyword(&mut self, kw: &str) -> PResult<Token> {
        let t = self.peek().clone();
        if t.kind == Kind::Name && t.value == kw {
            return self.next();
        }
        self.err_at(t.pos, format!("Expected {}, found {}", go_quote(kw), t.describe()))
    }

    fn skip(&mut self, kind: Kind) -> PResult<bool> {
        if self.peek_kind() == kind {
            self.next()?;
            return Ok(true);
        }
        Ok(false)
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let pos = self.peek().pos;
            return self.err_at(pos, format!("Exceeded maximum nesting depth of {}", MAX_DEPTH));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// `many`: zero or more items between `start` and `end`, if `start` is present.
    fn many<T>(&mut self, start: Kind, end: Kind, mut f: impl FnMut(&mut Self) -> PResult<T>) -> PResult<Vec<T>> {
        let mut out = Vec::new();
        if !self.skip(start)? {
            return Ok(out);
        }
        while self.peek_kind() != end {
            out.push(f(self)?);
        }
        self.next()?;
        Ok(out)
    }

    /// `some`: one or more items between `start` and `end`, if `start` is present.
    fn some<T>(&mut self, start: Kind, end: Kind, f: impl FnMut(&mut Self) -> PResult<T>) -> PResult<Vec<T>> {
        Ok(self.some_with_end(start, end, f)?.0)
    }

    /// `some`, and the comments before its `end` token (gqlparser's `EndOfDefinitionComment`).
    fn some_with_end<T>(&mut self, start: Kind, end: Kind, mut f: impl FnMut(&mut Self) -> PResult<T>) -> PResult<(Vec<T>, Comments)> {
        let mut out = Vec::new();
        if !self.skip(start)? {
            return Ok((out, Vec::new()));
        }
        while self.peek_kind() != end {
            out.push(f(self)?);
        }
        if out.is_empty() {
            let t = self.peek().clone();
            return self.err_at(t.pos, format!("expected at least one definition, found {}", t.kind.text()));
        }
        let comments = self.peek_comments();
        self.next()?;
        Ok((out, comments))
    }

    fn parse_name(&mut self) -> PResult<(String, Pos)> {
        let t = self.expect(Kind::Name)?;
        Ok((t.value, t.pos))
    }

    // ---- executable documents ----

    pub fn parse_query_document(&mut self) -> PResult<QueryDoc> {
        let mut doc = QueryDoc::default();
        loop {
            if self.peek_kind() == Kind::Eof {
                break;
            }
            let description = self.parse_description()?;
            let t = self.peek().clone();
            match t.kind {
                Kind::Name => match t.value.as_str() {
                    "query" | "mutation" | "subscription" => doc.ops.push(self.parse_operation(description)?),
                    "fragment" => doc.frags.push(self.parse_fragment_definition(description)?),
                    _ => return self.unexpected(),
                },
                Kind::BraceL => doc.ops.push(self.parse_operation(description)?),
                _ => return self.unexpected(),
            }
        }
        Ok(doc)
    }

    fn parse_operation(&mut self, description: Option<Token>) -> PResult<Operation> {
        let pos = self.peek().pos;
        // The shorthand's comments are dropped (gqlparser reads them only after its selection set).
        if self.peek_kind() == Kind::BraceL {
            // The query shorthand takes no description.
            if let Some(d) = description {
                return self.unexpected_tok(&d);
            }
            return Ok(Operation { op: "query".into(), sel: self.parse_required_selection_set()?, pos, ..Default::default() });
        }
        let comment = join(description.as_ref(), self.peek_comments());
        let op = self.parse_operation_type()?;
        let mut name = String::new();
        if self.peek_kind() == Kind::Name {
            name = self.next()?.value;
        }
        let vars = self.parse_variable_definitions()?;
        let directives = self.parse_directives(false)?;
        let sel = self.parse_required_selection_set()?;
        let description = description.map(|t| t.value).unwrap_or_default();
        Ok(Operation { comment, description, op, name, vars, directives, sel, pos })
    }

    fn parse_operation_type(&mut self) -> PResult<String> {
        let t = self.next()?;
        match t.value.as_str() {
            "query" | "mutation" | "subscription" => Ok(t.value),
            _ => self.unexpected_tok(&t),
        }
    }

    fn parse_variable_definitions(&mut self) -> PResult<Vec<VarDef>> {
        self.many(Kind::ParenL, Kind::ParenR, |p| p.parse_variable_definition())
    }

    fn parse_variable_definition(&mut self) -> PResult<VarDef> {
        let description = self.parse_description()?;
        let comment = join(description.as_ref(), self.peek_comments());
        let description = description.map(|t| t.value).unwrap_or_default();
        let pos = self.peek().pos;
        let var = self.parse_variable()?;
        self.expect(Kind::Colon)?;
        let ty = self.parse_type_reference()?;
        let default = if self.skip(Kind::Equals)? { Some(self.parse_value(true)?) } else { None };
        let directives = self.parse_directives(false)?;
        Ok(VarDef { comment, description, var, ty, default, directives, used: false, pos })
    }

    fn parse_variable(&mut self) -> PResult<String> {
        self.expect(Kind::Dollar)?;
        Ok(self.parse_name()?.0)
    }

    fn parse_required_selection_set(&mut self) -> PResult<Vec<Selection>> {
        let t = self.peek().clone();
        if t.kind != Kind::BraceL {
            return self.err_at(t.pos, format!("Expected {}, found {}", Kind::BraceL.text(), t.kind.text()));
        }
        self.enter()?;
        let r = self.some(Kind::BraceL, Kind::BraceR, |p| p.parse_selection());
        self.leave();
        r
    }

    fn parse_selection(&mut self) -> PResult<Selection> {
        if self.peek_kind() == Kind::Spread {
            return self.parse_fragment();
        }
        Ok(Selection::Field(self.parse_field()?))
    }

    fn parse_field(&mut self) -> PResult<Field> {
        let comment = self.peek_comments();
        let (alias, pos) = self.parse_name()?;
        let name = if self.skip(Kind::Colon)? { self.parse_name()?.0 } else { alias.clone() };
        let args = self.parse_arguments(false)?;
        let directives = self.parse_directives(false)?;
        let mut sel = Vec::new();
        if self.peek_kind() == Kind::BraceL {
            self.enter()?;
            let r = self.some(Kind::BraceL, Kind::BraceR, |p| p.parse_selection());
            self.leave();
            sel = r?;
        }
        Ok(Field { comment, alias, name, args, directives, sel, pos })
    }

    fn parse_arguments(&mut self, is_const: bool) -> PResult<Vec<Argument>> {
        self.many(Kind::ParenL, Kind::ParenR, |p| {
            let comment = p.peek_comments();
            let (name, pos) = p.parse_name()?;
            p.expect(Kind::Colon)?;
            let value = p.parse_value(is_const)?;
            Ok(Argument { comment, name, value, pos })
        })
    }

    fn parse_fragment(&mut self) -> PResult<Selection> {
        let comment = self.peek_comments();
        let pos = self.expect(Kind::Spread)?.pos;
        let t = self.peek().clone();
        if t.kind == Kind::Name && t.value != "on" {
            let name = self.parse_fragment_name()?;
            let directives = self.parse_directives(false)?;
            return Ok(Selection::Spread(Spread { comment, name, directives, pos }));
        }
        let mut type_cond = String::new();
        if t.value == "on" {
            self.next()?;
            type_cond = self.parse_name()?.0;
        }
        let directives = self.parse_directives(false)?;
        let sel = self.parse_required_selection_set()?;
        Ok(Selection::Inline(Inline { comment, type_cond, directives, sel, pos }))
    }

    fn parse_fragment_name(&mut self) -> PResult<String> {
        if self.peek().value == "on" {
            return self.unexpected();
        }
        Ok(self.parse_name()?.0)
    }

    fn parse_fragment_definition(&mut self, description: Option<Token>) -> PResult<Fragment> {
        let comment = join(description.as_ref(), self.peek_comments());
        let description = description.map(|t| t.value).unwrap_or_default();
        let pos = self.peek().pos;
        self.expect_keyword("fragment")?;
        let name = self.parse_fragment_name()?;
        let vars = self.parse_variable_definitions()?;
        self.expect_keyword("on")?;
        let type_cond = self.parse_name()?.0;
        let directives = self.parse_directives(false)?;
        let sel = self.parse_required_selection_set()?;
        Ok(Fragment { comment, description, name, vars, type_cond, directives, sel, pos })
    }

    fn parse_value(&mut self, is_const: bool) -> PResult<GValue> {
        self.enter()?;
        let r = self.parse_value_inner(is_const);
        self.leave();
        r
    }

    fn parse_value_inner(&mut self, is_const: bool) -> PResult<GValue> {
        let t = self.peek().clone();
        let kind = match t.kind {
            Kind::BracketL => {
                let children = self.many(Kind::BracketL, Kind::BracketR, |p| Ok((String::new(), p.parse_value(is_const)?)))?;
                let child_comments = vec![Vec::new(); children.len()];
                return Ok(GValue { kind: K_LIST, raw: String::new(), children, comment: t.comments, child_comments, pos: t.pos });
            }
            Kind::BraceL => {
                let fields = self.many(Kind::BraceL, Kind::BraceR, |p| {
                    let comment = p.peek_comments();
                    let (name, _) = p.parse_name()?;
                    p.expect(Kind::Colon)?;
                    Ok((comment, (name, p.parse_value(is_const)?)))
                })?;
                let (child_comments, children) = fields.into_iter().unzip();
                return Ok(GValue { kind: K_OBJECT, raw: String::new(), children, comment: t.comments, child_comments, pos: t.pos });
            }
            Kind::Dollar => {
                if is_const {
                    return self.unexpected();
                }
                let raw = self.parse_variable()?;
                return Ok(GValue { kind: K_VARIABLE, raw, pos: t.pos, ..GValue::default() });
            }
            Kind::Int => K_INT,
            Kind::Float => K_FLOAT,
            Kind::Str => K_STRING,
            Kind::BlockStr => K_BLOCK,
            Kind::Name => match t.value.as_str() {
                "true" | "false" => K_BOOLEAN,
                "null" => K_NULL,
                _ => K_ENUM,
            },
            _ => return self.unexpected(),
        };
        self.next()?;
        Ok(GValue { kind, raw: t.value, pos: t.pos, ..GValue::default() })
    }

    fn parse_directives(&mut self, is_const: bool) -> PResult<Vec<Directive>> {
        let mut out = Vec::new();
        while self.peek_kind() == Kind::At {
            let pos = self.expect(Kind::At)?.pos;
            let (name, _) = self.parse_name()?;
            let args = self.parse_arguments(is_const)?;
            out.push(Directive { name, args, pos });
        }
        Ok(out)
    }

    fn parse_type_reference(&mut self) -> PResult<GType> {
        self.enter()?;
        let r = self.parse_type_inner();
        self.leave();
        r
    }

    fn parse_type_inner(&mut self) -> PResult<GType> {
        let pos = self.peek().pos;
        let mut ty = GType { pos, ..Default::default() };
        if self.skip(Kind::BracketL)? {
            ty.elem = Some(Box::new(self.parse_type_reference()?));
            self.expect(Kind::BracketR)?;
        } else {
            ty.named = self.parse_name()?.0;
        }
        if self.skip(Kind::Bang)? {
            ty.non_null = true;
        }
        Ok(ty)
    }

    // ---- type-system documents ----

    pub fn parse_schema_document(&mut self) -> PResult<SchemaDoc> {
        let mut doc = SchemaDoc::default();
        loop {
            if self.peek_kind() == Kind::Eof {
                break;
            }
            let description = self.parse_description()?;
            let t = self.peek().clone();
            if t.kind != Kind::Name {
                return self.unexpected();
            }
            match t.value.as_str() {
                "scalar" | "type" | "interface" | "union" | "enum" | "input" => {
                    doc.defs.push(self.parse_type_definition(description)?)
                }
                "schema" => doc.schema.push(self.parse_schema_definition(description)?),
                "directive" => doc.directives.push(self.parse_directive_definition(description)?),
                "extend" => {
                    if let Some(d) = description {
                        return self.unexpected_tok(&d);
                    }
                    self.parse_extension(&mut doc)?;
                }
                _ => return self.unexpected(),
            }
        }
        doc.comment = self.peek_comments();
        Ok(doc)
    }

    fn parse_description(&mut self) -> PResult<Option<Token>> {
        if matches!(self.peek_kind(), Kind::Str | Kind::BlockStr) {
            return Ok(Some(self.next()?));
        }
        Ok(None)
    }


    fn parse_type_definition(&mut self, description: Option<Token>) -> PResult<Definition> {
        let before_description = description.as_ref().map(|d| d.comments.clone()).unwrap_or_default();
        let description = description.map(|t| t.value).unwrap_or_default();
        let t = self.peek().clone();
        let comments = DefComments { before_description, after_description: t.comments.clone(), end_of_definition: Vec::new() };
        let mut def = Definition { comments, description, pos: t.pos, ..Default::default() };
        match t.value.as_str() {
            "scalar" => {
                self.expect_keyword("scalar")?;
                def.kind = "SCALAR".into();
                def.name = self.parse_name()?.0;
                def.directives = self.parse_directives(true)?;
            }
            "type" => {
                self.expect_keyword("type")?;
                def.kind = "OBJECT".into();
                def.name = self.parse_name()?.0;
                def.interfaces = self.parse_implements()?;
                def.directives = self.parse_directives(true)?;
                (def.fields, def.comments.end_of_definition) = self.parse_fields_definition()?;
            }
            "interface" => {
                self.expect_keyword("interface")?;
                def.kind = "INTERFACE".into();
                def.name = self.parse_name()?.0;
                def.interfaces = self.parse_implements()?;
                def.directives = self.parse_directives(true)?;
                (def.fields, def.comments.end_of_definition) = self.parse_fields_definition()?;
            }
            "union" => {
                self.expect_keyword("union")?;
                def.kind = "UNION".into();
                def.name = self.parse_name()?.0;
                def.directives = self.parse_directives(true)?;
                def.types = self.parse_union_members()?;
            }
            "enum" => {
                self.expect_keyword("enum")?;
                def.kind = "ENUM".into();
                def.name = self.parse_name()?.0;
                def.directives = self.parse_directives(true)?;
                (def.enum_values, def.comments.end_of_definition) = self.parse_enum_values()?;
            }
            "input" => {
                self.expect_keyword("input")?;
                def.kind = "INPUT_OBJECT".into();
                def.name = self.parse_name()?.0;
                def.directives = self.parse_directives(true)?;
                (def.fields, def.comments.end_of_definition) = self.parse_input_fields()?;
            }
            _ => return self.unexpected(),
        }
        Ok(def)
    }

    fn parse_implements(&mut self) -> PResult<Vec<String>> {
        let mut out = Vec::new();
        if self.peek().value == "implements" {
            self.next()?;
            self.skip(Kind::Amp)?;
            out.push(self.parse_name()?.0);
            while self.skip(Kind::Amp)? {
                out.push(self.parse_name()?.0);
            }
        }
        Ok(out)
    }

    fn parse_union_members(&mut self) -> PResult<Vec<String>> {
        let mut out = Vec::new();
        if self.skip(Kind::Equals)? {
            self.skip(Kind::Pipe)?;
            out.push(self.parse_name()?.0);
            while self.skip(Kind::Pipe)? {
                out.push(self.parse_name()?.0);
            }
        }
        Ok(out)
    }

    /// A member's description and its comments: those before a non-empty description
    /// (gqlparser drops them with an empty one) and those before the name.
    fn member_description(&mut self) -> PResult<(String, DefComments)> {
        let d = self.parse_description()?;
        let (description, before_description) = match d {
            Some(t) if !t.value.is_empty() => (t.value, t.comments),
            _ => (String::new(), Vec::new()),
        };
        let after_description = self.peek_comments();
        Ok((description, DefComments { before_description, after_description, end_of_definition: Vec::new() }))
    }

    fn parse_enum_values(&mut self) -> PResult<(Vec<EnumValueDef>, Comments)> {
        self.some_with_end(Kind::BraceL, Kind::BraceR, |p| {
            let (description, comments) = p.member_description()?;
            let (name, pos) = p.parse_name()?;
            let directives = p.parse_directives(true)?;
            Ok(EnumValueDef { comments, description, name, directives, pos })
        })
    }

    fn parse_fields_definition(&mut self) -> PResult<(Vec<FieldDef>, Comments)> {
        self.some_with_end(Kind::BraceL, Kind::BraceR, |p| {
            let (description, comments) = p.member_description()?;
            let (name, pos) = p.parse_name()?;
            let args = p.parse_argument_defs()?;
            p.expect(Kind::Colon)?;
            let ty = p.parse_type_reference()?;
            let directives = p.parse_directives(true)?;
            Ok(FieldDef { comments, description, name, args, default: None, ty, directives, pos })
        })
    }

    fn parse_argument_defs(&mut self) -> PResult<Vec<FieldDef>> {
        self.many(Kind::ParenL, Kind::ParenR, |p| p.parse_input_value_def())
    }

    fn parse_input_fields(&mut self) -> PResult<(Vec<FieldDef>, Comments)> {
        self.some_with_end(Kind::BraceL, Kind::BraceR, |p| p.parse_input_value_def())
    }

    fn parse_input_value_def(&mut self) -> PResult<FieldDef> {
        let (description, comments) = self.member_description()?;
        let (name, pos) = self.parse_name()?;
        self.expect(Kind::Colon)?;
        let ty = self.parse_type_reference()?;
        let default = if self.skip(Kind::Equals)? { Some(self.parse_value(true)?) } else { None };
        let directives = self.parse_directives(true)?;
        Ok(FieldDef { comments, description, name, args: Vec::new(), default, ty, directives, pos })
    }

    fn parse_schema_definition(&mut self, description: Option<Token>) -> PResult<SchemaDef> {
        let pos = self.peek().pos;
        let after_description = self.peek_comments();
        self.expect_keyword("schema")?;
        let before_description = description.as_ref().map(|d| d.comments.clone()).unwrap_or_default();
        let description = description.map(|t| t.value).unwrap_or_default();
        let directives = self.parse_directives(true)?;
        let (op_types, end_of_definition) = self.some_with_end(Kind::BraceL, Kind::BraceR, |p| p.parse_op_type_def())?;
        let comments = DefComments { before_description, after_description, end_of_definition };
        Ok(SchemaDef { comments, description, directives, op_types, pos })
    }

    fn parse_op_type_def(&mut self) -> PResult<OpTypeDef> {
        let pos = self.peek().pos;
        let comment = self.peek_comments();
        let op = self.parse_operation_type()?;
        self.expect(Kind::Colon)?;
        let ty = self.parse_name()?.0;
        Ok(OpTypeDef { comment, op, ty, pos })
    }

    fn parse_directive_definition(&mut self, description: Option<Token>) -> PResult<DirectiveDef> {
        let pos = self.peek().pos;
        let before_description = description.as_ref().map(|d| d.comments.clone()).unwrap_or_default();
        let comments = DefComments { before_description, after_description: self.peek_comments(), end_of_definition: Vec::new() };
        self.expect_keyword("directive")?;
        self.expect(Kind::At)?;
        let name = self.parse_name()?.0;
        let args = self.parse_argument_defs()?;
        let directives = self.parse_directives(true)?;
        let mut repeatable = false;
        if self.peek_is_name("repeatable") {
            repeatable = true;
            self.next()?;
        }
        self.expect_keyword("on")?;
        self.skip(Kind::Pipe)?;
        let mut locations = vec![self.parse_directive_location()?];
        while self.skip(Kind::Pipe)? {
            locations.push(self.parse_directive_location()?);
        }
        let description = description.map(|t| t.value).unwrap_or_default();
        Ok(DirectiveDef { comments, description, name, args, directives, locations, repeatable, pos })
    }

    fn parse_directive_location(&mut self) -> PResult<String> {
        let t = self.expect(Kind::Name)?;
        if DIRECTIVE_LOCATIONS.contains(&t.value.as_str()) {
            return Ok(t.value);
        }
        self.unexpected_tok(&t)
    }

    fn parse_extension(&mut self, doc: &mut SchemaDoc) -> PResult<()> {
        let after_description = self.peek_comments();
        self.expect_keyword("extend")?;
        let t = self.peek().clone();
        let comments = DefComments { after_description, ..Default::default() };
        let mut def = Definition { comments: comments.clone(), pos: t.pos, ..Default::default() };
        match t.value.as_str() {
            "schema" => {
                self.expect_keyword("schema")?;
                let directives = self.parse_directives(true)?;
                let (op_types, end_of_definition) = self.some_with_end(Kind::BraceL, Kind::BraceR, |p| p.parse_op_type_def())?;
                if directives.is_empty() && op_types.is_empty() {
                    return self.unexpected();
                }
                let comments = DefComments { end_of_definition, ..comments };
                doc.schema_ext.push(SchemaDef { comments, description: String::new(), directives, op_types, pos: t.pos });
                return Ok(());
            }
            "scalar" => {
                self.next()?;
                def.kind = "SCALAR".into();
                def.name = self.parse_name()?.0;
                def.directives = self.parse_directives(true)?;
                if def.directives.is_empty() {
                    return self.unexpected();
                }
            }
            "type" => {
                self.next()?;
                def.kind = "OBJECT".into();
                def.name = self.parse_name()?.0;
                def.interfaces = self.parse_implements()?;
                def.directives = self.parse_directives(true)?;
                (def.fields, def.comments.end_of_definition) = self.parse_fields_definition()?;
                if def.interfaces.is_empty() && def.directives.is_empty() && def.fields.is_empty() {
                    return self.unexpected();
                }
            }
            "interface" => {
                self.next()?;
                def.kind = "INTERFACE".into();
                def.name = self.parse_name()?.0;
                def.interfaces = self.parse_implements()?;
                def.directives = self.parse_directives(true)?;
                (def.fields, def.comments.end_of_definition) = self.parse_fields_definition()?;
                if def.interfaces.is_empty() && def.directives.is_empty() && def.fields.is_empty() {
                    return self.unexpected();
                }
            }
            "union" => {
                self.next()?;
                def.kind = "UNION".into();
                def.name = self.parse_name()?.0;
                def.directives = self.parse_directives(true)?;
                def.types = self.parse_union_members()?;
                if def.directives.is_empty() && def.types.is_empty() {
                    return self.unexpected();
                }
            }
            "enum" => {
                self.next()?;
                def.kind = "ENUM".into();
                def.name = self.parse_name()?.0;
                def.directives = self.parse_directives(true)?;
                (def.enum_values, def.comments.end_of_definition) = self.parse_enum_values()?;
                if def.directives.is_empty() && def.enum_values.is_empty() {
                    return self.unexpected();
                }
            }
            "input" => {
                self.next()?;
                def.kind = "INPUT_OBJECT".into();
                def.name = self.parse_name()?.0;
                def.directives = self.parse_directives(true)?;
                (def.fields, def.comments.end_of_definition) = self.parse_input_fields()?;
                if def.directives.is_empty() && def.fields.is_empty() {
                    return self.unexpected();
                }
            }
            "directive" => {
                self.next()?;
                self.expect(Kind::At)?;
                let (name, pos) = self.parse_name()?;
                let directives = self.parse_directives(true)?;
                if directives.is_empty() {
                    return self.unexpected();
                }
                doc.directive_exts.push(DirectiveDef { comments, name, directives, pos, ..Default::default() });
                return Ok(());
            }
            _ => return self.unexpected(),
        }
        doc.exts.push(def);
        Ok(())
    }
}

/// gqlparser's `joinComments`: the comments before a description, then those after it.
fn join(description: Option<&Token>, after: Comments) -> Comments {
    match description {
        Some(d) if !d.comments.is_empty() => d.comments.iter().cloned().chain(after).collect(),
        _ => after,
    }
}

pub fn parse_query(text: &str) -> Result<QueryDoc, SyntaxError> {
    Parser::new(text).parse_query_document()
}

pub fn parse_schema(text: &str) -> Result<SchemaDoc, SyntaxError> {
    Parser::new(text).parse_schema_document()
}
