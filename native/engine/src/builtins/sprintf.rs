//! `sprintf`: Go's `fmt.Sprintf` as OPA calls it.
//!
//! OPA hands Go's formatter an `int` for numbers that fit in 64 bits, a
//! `*big.Int` for larger integers, a `float64` for the rest, the string itself
//! for strings, and the Rego text (`String()`) of every other value, so
//! `sprintf("%d", [true])` is `%!d(string=true)`. This file reimplements the
//! parts of Go's formatter those four argument kinds reach: verbs, flags,
//! width, precision, explicit argument indexes, and the `%!verb(...)`,
//! `%!v(MISSING)`, `%!(EXTRA ...)`, `%!(NOVERB)` diagnostics.

use super::{arg_array, arg_str, BuiltinResult, Ctx, Registry};
use crate::number::Number;
use crate::value::Value;
use num_bigint::BigInt;
use num_traits::Signed;

pub fn register(r: &mut Registry) {
    r.func("strings", "sprintf", "(string, array[any]) => string", sprintf);
}

fn sprintf(ctx: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let f = arg_str(a, 0)?;
    let args: Vec<Arg> = arg_array(a, 1)?.iter().map(Arg::from_value).collect();
    // Widths and precisions (up to 10^6 each) make the output far larger
    // than the operands: it is stopped once past what the budget allows.
    let max_len = usize::try_from(ctx.budget.bytes_left()).unwrap_or(usize::MAX);
    match do_printf(f, &args, max_len) {
        Some(out) => Ok(Value::string(out)),
        None => Err(super::limit_error(format!("sprintf: output longer than the evaluation's memory budget of {} bytes", ctx.budget.max_bytes()))),
    }
}

/// Formats `args` with the Go format string `f`, as OPA's `sprintf` does.
pub fn format(f: &str, args: &[Value]) -> String {
    let args: Vec<Arg> = args.iter().map(Arg::from_value).collect();
    do_printf(f, &args, usize::MAX).unwrap_or_default()
}

/// A Go value as OPA passes it to `fmt.Sprintf`.
#[derive(Clone, Debug)]
pub enum Arg {
    Int(i64),
    Big(BigInt),
    Float(f64),
    Str(String),
}

impl Arg {
    pub fn from_value(v: &Value) -> Arg {
        match v {
            Value::Number(Number::Int(i)) => Arg::Int(*i),
            Value::Number(Number::Big(b)) => Arg::Big((**b).clone()),
            Value::Number(Number::Float(f)) => Arg::Float(*f),
            // A literal written as a float is one to OPA (`1e2` is float64 100), or
            // its text when no float64 holds it (`2e308`).
            Value::Number(n @ Number::Spelled(_)) => match n.as_f64() {
                f if f.is_finite() => Arg::Float(f),
                _ => Arg::Str(n.to_string()),
            },
            Value::String(s) => Arg::Str(s.to_string()),
            other => Arg::Str(other.to_rego_string()),
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            // OPA passes an integer as Go's int64.
            Arg::Int(_) => "int64",
            Arg::Big(_) => "*big.Int",
            Arg::Float(_) => "float64",
            Arg::Str(_) => "string",
        }
    }
}

#[derive(Default, Clone, Copy)]
struct Flags {
    plus: bool,
    minus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    plus_v: bool,
    sharp_v: bool,
    wid: Option<usize>,
    prec: Option<usize>,
}

/// Numbers larger than this in a format string are treated as malformed (Go's `tooLarge`).
const TOO_LARGE: usize = 1_000_000;

struct Printer<'a> {
    out: String,
    args: &'a [Arg],
    reordered: bool,
    good_arg_num: bool,
}

fn parse_num(f: &[u8], start: usize, end: usize) -> (usize, bool, usize) {
    if start >= end {
        return (0, false, end);
    }
    let mut num = 0usize;
    let mut isnum = false;
    let mut i = start;
    while i < end && f.get(i).is_some_and(|c| c.is_ascii_digit()) {
        if num > TOO_LARGE {
            return (0, false, end);
        }
        num = num * 10 + (f[i] - b'0') as usize;
        isnum = true;
        i += 1;
    }
    (num, isnum, i)
}

/// `[n]` at the start of `f`: (zero-based index, bytes consumed, ok).
fn parse_arg_number(f: &[u8]) -> (isize, usize, bool) {
    if f.len() < 3 {
        return (0, 1, false);
    }
    for i in 1..f.len() {
        if f[i] == b']' {
            let (w, ok, newi) = parse_num(f, 1, i);
            if !ok || newi != i {
                return (0, i + 1, false);
            }
            return (w as isize - 1, i + 1, true);
        }
    }
    (0, 1, false)
}

impl Printer<'_> {
    fn arg_number(&mut self, arg_num: usize, f: &[u8], i: usize) -> (usize, usize, bool) {
        if f.len() <= i || f[i] != b'[' {
            return (arg_num, i, false);
        }
        self.reordered = true;
        let (index, wid, ok) = parse_arg_number(&f[i..]);
        if ok && index >= 0 && (index as usize) < self.args.len() {
            return (index as usize, i + wid, true);
        }
        self.good_arg_num = false;
        (arg_num, i + wid, ok)
    }

    /// An int argument for `*` width/precision.
    fn int_from_arg(&self, arg_num: usize) -> (i64, bool, usize) {
        match self.args.get(arg_num) {
            Some(Arg::Int(i)) if i.unsigned_abs() <= TOO_LARGE as u64 => (*i, true, arg_num + 1),
            Some(_) => (0, false, arg_num + 1),
            None => (0, false, arg_num),
        }
    }
}

/// `None` once the output grows past `max_len` (checked after each verb).
fn do_printf(format: &str, args: &[Arg], max_len: usize) -> Option<String> {
    let f = format.as_bytes();
    let end = f.len();
    let mut p = Printer { out: String::with_capacity(format.len() + 16), args, reordered: false, good_arg_num: true };
    let mut arg_num = 0usize;
    let mut i = 0usize;
    'format: while i < end {
        if p.out.len() > max_len {
            return None;
        }
        p.good_arg_num = true;
        let lasti = i;
        while i < end && f[i] != b'%' {
            i += 1;
        }
        if i > lasti {
            p.out.push_str(&format[lasti..i]);
        }
        if i >= end {
            break;
        }
        i += 1; // skip %
        let mut fl = Flags::default();
        // Flags.
        while i < end {
            match f[i] {
                b'#' => fl.sharp = true,
                b'0' => fl.zero = !fl.minus,
                b'+' => fl.plus = true,
                b'-' => {
                    fl.minus = true;
                    fl.zero = false;
                }
                b' ' => fl.space = true,
                _ => break,
            }
            i += 1;
        }
        let mut after_index;
        (arg_num, i, after_index) = p.arg_number(arg_num, f, i);
        // Width.
        if i < end && f[i] == b'*' {
            i += 1;
            let (w, ok, n) = p.int_from_arg(arg_num);
            arg_num = n;
            if !ok {
                p.out.push_str("%!(BADWIDTH)");
            } else if w < 0 {
                fl.wid = Some(w.unsigned_abs() as usize);
                fl.minus = true;
                fl.zero = false;
            } else {
                fl.wid = Some(w as usize);
            }
            after_index = false;
        } else {
            let (w, ok, n) = parse_num(f, i, end);
            i = n;
            if ok {
                fl.wid = Some(w);
                if after_index {
                    p.good_arg_num = false;
                }
            }
        }
        // Precision.
        if i + 1 < end && f[i] == b'.' {
            i += 1;
            if after_index {
                p.good_arg_num = false;
            }
            (arg_num, i, after_index) = p.arg_number(arg_num, f, i);
            if i < end && f[i] == b'*' {
                i += 1;
                let (w, ok, n) = p.int_from_arg(arg_num);
                arg_num = n;
                if ok && w >= 0 {
                    fl.prec = Some(w as usize);
                } else if !ok {
                    p.out.push_str("%!(BADPREC)");
                }
                after_index = false;
            } else {
                let (w, ok, n) = parse_num(f, i, end);
                i = n;
                fl.prec = Some(if ok { w } else { 0 });
            }
        }
        if !after_index {
            (arg_num, i, _) = p.arg_number(arg_num, f, i);
        }
        if i >= end {
            p.out.push_str("%!(NOVERB)");
            break;
        }
        let Some(verb) = format[i..].chars().next() else { break };
        i += verb.len_utf8();
        match verb {
            '%' => p.out.push('%'),
            _ if !p.good_arg_num => {
                p.out.push_str("%!");
                p.out.push(verb);
                p.out.push_str("(BADINDEX)");
            }
            _ if arg_num >= args.len() => {
                p.out.push_str("%!");
                p.out.push(verb);
                p.out.push_str("(MISSING)");
            }
            _ => {
                if verb == 'v' {
                    fl.sharp_v = fl.sharp;
                    fl.sharp = false;
                    fl.plus_v = fl.plus;
                    fl.plus = false;
                }
                let Some(arg) = args.get(arg_num) else { continue 'format };
                print_arg(&mut p.out, arg, verb, &fl);
                arg_num += 1;
            }
        }
    }
    if !p.reordered && arg_num < args.len() {
        p.out.push_str("%!(EXTRA ");
        for (k, a) in args[arg_num..].iter().enumerate() {
            if k > 0 {
                p.out.push_str(", ");
            }
            p.out.push_str(a.type_name());
            p.out.push('=');
            print_arg(&mut p.out, a, 'v', &Flags::default());
        }
        p.out.push(')');
    }
    (p.out.len() <= max_len).then_some(p.out)
}

/// `%!d(string=x)`: the value printed with `%v` and the verb's width and
/// precision, as Go does (`%.2f` of the text `2e308` is `%!f(string=2e)`).
fn bad_verb(out: &mut String, arg: &Arg, verb: char, fl: &Flags) {
    out.push_str("%!");
    out.push(verb);
    out.push('(');
    out.push_str(arg.type_name());
    out.push('=');
    print_arg(out, arg, 'v', fl);
    out.push(')');
}

fn print_arg(out: &mut String, arg: &Arg, verb: char, fl: &Flags) {
    if verb == 'T' {
        pad(out, arg.type_name(), fl);
        return;
    }
    match arg {
        Arg::Int(i) => fmt_int(out, arg, *i, verb, fl),
        Arg::Big(b) => fmt_big(out, b, verb, fl),
        Arg::Float(x) => fmt_float_verb(out, arg, *x, verb, fl),
        Arg::Str(s) => fmt_string(out, arg, s, verb, fl),
    }
}

// ---- padding ----

fn write_padding(out: &mut String, n: usize, zero: bool) {
    let c = if zero { '0' } else { ' ' };
    out.extend(std::iter::repeat_n(c, n));
}

/// Go's `fmt.pad`: width counted in runes; zero padding only on the left.
fn pad_with(out: &mut String, s: &str, fl: &Flags, zero: bool) {
    let Some(wid) = fl.wid else {
        out.push_str(s);
        return;
    };
    let n = s.chars().count();
    if n >= wid {
        out.push_str(s);
        return;
    }
    if fl.minus {
        out.push_str(s);
        write_padding(out, wid - n, false);
    } else {
        write_padding(out, wid - n, zero);
        out.push_str(s);
    }
}

fn pad(out: &mut String, s: &str, fl: &Flags) {
    pad_with(out, s, fl, fl.zero)
}

// ---- integers ----

const LDIGITS: &[u8] = b"0123456789abcdefx";
const UDIGITS: &[u8] = b"0123456789ABCDEFX";

fn fmt_int(out: &mut String, arg: &Arg, v: i64, verb: char, fl: &Flags) {
    match verb {
        'v' | 'd' => fmt_integer(out, v, 10, verb, LDIGITS, fl),
        'b' => fmt_integer(out, v, 2, verb, LDIGITS, fl),
        'o' | 'O' => fmt_integer(out, v, 8, verb, LDIGITS, fl),
        'x' => fmt_integer(out, v, 16, verb, LDIGITS, fl),
        'X' => fmt_integer(out, v, 16, verb, UDIGITS, fl),
        'c' => {
            let c = u32::try_from(v).ok().and_then(char::from_u32).unwrap_or('\u{FFFD}');
            pad(out, c.encode_utf8(&mut [0; 4]), fl);
        }
        'q' => {
            let c = u32::try_from(v).ok().and_then(char::from_u32).unwrap_or('\u{FFFD}');
            let mut s = String::from("'");
            if c == '\'' {
                s.push_str("\\'");
            } else if c == '"' {
                s.push('"');
            } else {
                quote_char(&mut s, c, fl.plus);
            }
            s.push('\'');
            pad(out, &s, fl);
        }
        'U' => {
            let u = v as u64;
            let mut s = format!("U+{:04X}", u);
            if let Some(p) = fl.prec {
                let digits = s.len() - 2;
                if p > digits {
                    s = format!("U+{}{:X}", "0".repeat(p - digits), u);
                }
            }
            if fl.sharp {
                if let Some(c) = u32::try_from(v).ok().and_then(char::from_u32) {
                    if is_print(c) {
                        s.push_str(&format!(" '{}'", c));
                    }
                }
            }
            pad_with(out, &s, fl, false);
        }
        _ => bad_verb(out, arg, verb, fl),
    }
}

/// Go's `fmt.fmtInteger` for a signed 64-bit value.
fn fmt_integer(out: &mut String, v: i64, base: u64, verb: char, digits: &[u8], fl: &Flags) {
    let negative = v < 0;
    let mut u = v.unsigned_abs();
    let mut prec = 0usize;
    if let Some(p) = fl.prec {
        prec = p;
        if p == 0 && u == 0 {
            write_padding(out, fl.wid.unwrap_or(0), false);
            return;
        }
    } else if fl.zero && !fl.minus {
        if let Some(w) = fl.wid {
            prec = w;
            if negative || fl.plus || fl.space {
                prec = prec.saturating_sub(1);
            }
        }
    }
    let mut buf: Vec<u8> = Vec::with_capacity(24);
    loop {
        buf.push(digits[(u % base) as usize]);
        u /= base;
        if u == 0 {
            break;
        }
    }
    while buf.len() < prec {
        buf.push(b'0');
    }
    if fl.sharp {
        match base {
            2 => buf.extend_from_slice(b"b0"),
            8 if buf.last() != Some(&b'0') => buf.push(b'0'),
            16 => {
                buf.push(digits[16]);
                buf.push(b'0');
            }
            _ => {}
        }
    }
    if verb == 'O' {
        buf.extend_from_slice(b"o0");
    }
    if negative {
        buf.push(b'-');
    } else if fl.plus {
        buf.push(b'+');
    } else if fl.space {
        buf.push(b' ');
    }
    buf.reverse();
    let s = String::from_utf8(buf).unwrap_or_default();
    pad_with(out, &s, fl, false);
}

/// `*big.Int`'s `Format` method.
fn fmt_big(out: &mut String, x: &BigInt, verb: char, fl: &Flags) {
    let base = match verb {
        'b' => 2,
        'o' | 'O' => 8,
        'd' | 's' | 'v' => 10,
        'x' | 'X' => 16,
        _ => {
            out.push_str(&format!("%!{}(big.Int={})", verb, x));
            return;
        }
    };
    let sign = if x.is_negative() {
        "-"
    } else if fl.plus || fl.plus_v {
        "+"
    } else if fl.space {
        " "
    } else {
        ""
    };
    let mut prefix = "";
    if fl.sharp || fl.sharp_v {
        prefix = match verb {
            'b' => "0b",
            'o' => "0",
            'x' => "0x",
            'X' => "0X",
            _ => "",
        };
    }
    if verb == 'O' {
        prefix = "0o";
    }
    let mut digits = x.abs().to_str_radix(base);
    if verb == 'X' {
        digits = digits.to_uppercase();
    }
    let mut zeros = 0usize;
    if let Some(p) = fl.prec {
        if digits.len() < p {
            zeros = p - digits.len();
        } else if digits == "0" && p == 0 {
            return;
        }
    }
    let length = sign.len() + prefix.len() + zeros + digits.len();
    let (mut left, mut right) = (0usize, 0usize);
    if let Some(w) = fl.wid {
        if length < w {
            let d = w - length;
            if fl.minus {
                right = d;
            } else if fl.zero && fl.prec.is_none() {
                zeros = d;
            } else {
                left = d;
            }
        }
    }
    write_padding(out, left, false);
    out.push_str(sign);
    out.push_str(prefix);
    write_padding(out, zeros, true);
    out.push_str(&digits);
    write_padding(out, right, false);
}

// ---- strings ----

fn fmt_string(out: &mut String, arg: &Arg, s: &str, verb: char, fl: &Flags) {
    match verb {
        'v' => {
            if fl.sharp_v {
                fmt_q(out, s, fl)
            } else {
                fmt_s(out, s, fl)
            }
        }
        's' => fmt_s(out, s, fl),
        'x' => fmt_sx(out, s, LDIGITS, fl),
        'X' => fmt_sx(out, s, UDIGITS, fl),
        'q' => fmt_q(out, s, fl),
        _ => bad_verb(out, arg, verb, fl),
    }
}

fn truncate<'a>(s: &'a str, fl: &Flags) -> &'a str {
    match fl.prec {
        Some(p) => match s.char_indices().nth(p) {
            Some((i, _)) => &s[..i],
            None => s,
        },
        None => s,
    }
}

fn fmt_s(out: &mut String, s: &str, fl: &Flags) {
    pad(out, truncate(s, fl), fl);
}

fn fmt_sx(out: &mut String, s: &str, digits: &[u8], fl: &Flags) {
    let mut b = s.as_bytes();
    if let Some(p) = fl.prec {
        if p < b.len() {
            b = &b[..p];
        }
    }
    let mut r = String::with_capacity(b.len() * 3);
    for (k, c) in b.iter().enumerate() {
        if fl.space && k > 0 {
            r.push(' ');
        }
        if fl.sharp && (fl.space || k == 0) {
            r.push('0');
            r.push(digits[16] as char);
        }
        r.push(digits[(c >> 4) as usize] as char);
        r.push(digits[(c & 0xf) as usize] as char);
    }
    pad_with(out, &r, fl, fl.zero);
}

fn fmt_q(out: &mut String, s: &str, fl: &Flags) {
    let s = truncate(s, fl);
    if fl.sharp && can_backquote(s) {
        pad(out, &format!("`{}`", s), fl);
        return;
    }
    pad(out, &go_quote(s, fl.plus), fl);
}

fn can_backquote(s: &str) -> bool {
    s.chars().all(|c| c != '`' && c != '\u{FEFF}' && (c == '\t' || !c.is_control()))
}

/// Whether Go's `strconv.IsPrint` holds, approximately: not a control or
/// format character, not an unassigned-looking surrogate, and spaces other
/// than U+0020 are not printable.
fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(c as u32, 0x00AD | 0x0600..=0x0605 | 0x061C | 0x06DD | 0x070F | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB | 0xE000..=0xF8FF | 0xF0000..)
}

fn quote_char(r: &mut String, c: char, ascii_only: bool) {
    match c {
        '\x07' => r.push_str("\\a"),
        '\x08' => r.push_str("\\b"),
        '\x0c' => r.push_str("\\f"),
        '\n' => r.push_str("\\n"),
        '\r' => r.push_str("\\r"),
        '\t' => r.push_str("\\t"),
        '\x0b' => r.push_str("\\v"),
        '\\' => r.push_str("\\\\"),
        c if (c as u32) < 0x80 && is_print(c) => r.push(c),
        c if !ascii_only && is_print(c) => r.push(c),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => r.push_str(&format!("\\x{:02x}", c as u32)),
        c if (c as u32) < 0x10000 => r.push_str(&format!("\\u{:04x}", c as u32)),
        c => r.push_str(&format!("\\U{:08x}", c as u32)),
    }
}

/// Go's `strconv.Quote` (or `QuoteToASCII`).
pub fn go_quote(s: &str, ascii_only: bool) -> String {
    let mut r = String::with_capacity(s.len() + 2);
    r.push('"');
    for c in s.chars() {
        if c == '"' {
            r.push_str("\\\"");
        } else {
            quote_char(&mut r, c, ascii_only);
        }
    }
    r.push('"');
    r
}

// ---- floats ----

fn fmt_float_verb(out: &mut String, arg: &Arg, x: f64, verb: char, fl: &Flags) {
    match verb {
        'v' => fmt_float(out, x, 'g', None, fl),
        'b' | 'g' | 'G' | 'x' | 'X' => fmt_float(out, x, verb, None, fl),
        'f' | 'e' | 'E' => fmt_float(out, x, verb, Some(6), fl),
        'F' => fmt_float(out, x, 'f', Some(6), fl),
        _ => bad_verb(out, arg, verb, fl),
    }
}

/// Decimal digits of |x| (no trailing zeros) and the decimal point position:
/// the value is 0.d1d2d3... × 10^dp. Zero has no digits.
struct Digits {
    d: Vec<u8>,
    dp: i32,
}

fn digits_from_sci(s: &str) -> Digits {
    // `s` is Rust's `{:e}` output for a non-negative finite number: `1.2345e-7`.
    let (mant, exp) = s.split_once('e').unwrap_or((s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut d: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).map(|b| b - b'0').collect();
    while d.last() == Some(&0) {
        d.pop();
    }
    if d.is_empty() {
        return Digits { d, dp: 0 };
    }
    Digits { d, dp: exp + 1 }
}

/// Shortest digits that round-trip.
fn shortest(x: f64) -> Digits {
    digits_from_sci(&format!("{:e}", x.abs()))
}

/// `n` significant digits, correctly rounded.
fn significant(x: f64, n: usize) -> Digits {
    digits_from_sci(&format!("{:.*e}", n.saturating_sub(1), x.abs()))
}

/// Digits rounded to `prec` places after the decimal point.
fn fixed(x: f64, prec: usize) -> Digits {
    let s = format!("{:.*}", prec, x.abs());
    let (ip, fp) = s.split_once('.').unwrap_or((&s, ""));
    let ip = ip.trim_start_matches('0');
    let mut d: Vec<u8> = Vec::new();
    let mut dp = ip.len() as i32;
    d.extend(ip.bytes().map(|b| b - b'0'));
    if d.is_empty() {
        // Leading fraction zeros move the decimal point.
        let lead = fp.bytes().take_while(|b| *b == b'0').count();
        dp = -(lead as i32);
        d.extend(fp.bytes().skip(lead).map(|b| b - b'0'));
    } else {
        d.extend(fp.bytes().map(|b| b - b'0'));
    }
    while d.last() == Some(&0) {
        d.pop();
    }
    if d.is_empty() {
        dp = 0;
    }
    Digits { d, dp }
}

fn fmt_e(out: &mut String, dg: &Digits, prec: usize, e: char) {
    out.push(match dg.d.first() {
        Some(c) => (b'0' + c) as char,
        None => '0',
    });
    if prec > 0 {
        out.push('.');
        for k in 1..=prec {
            out.push((b'0' + dg.d.get(k).copied().unwrap_or(0)) as char);
        }
    }
    out.push(e);
    let exp = if dg.d.is_empty() { 0 } else { dg.dp - 1 };
    out.push(if exp < 0 { '-' } else { '+' });
    let a = exp.unsigned_abs();
    if a < 10 {
        out.push('0');
    }
    out.push_str(&a.to_string());
}

fn fmt_f(out: &mut String, dg: &Digits, prec: usize) {
    if dg.dp > 0 {
        for k in 0..dg.dp as usize {
            out.push((b'0' + dg.d.get(k).copied().unwrap_or(0)) as char);
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for k in 1..=prec as i64 {
            let j = dg.dp as i64 + k - 1;
            let c = if j >= 0 { dg.d.get(j as usize).copied().unwrap_or(0) } else { 0 };
            out.push((b'0' + c) as char);
        }
    }
}

/// Go's `strconv.FormatFloat(|x|, verb, prec, 64)` without the sign.
fn format_float_abs(x: f64, verb: char, prec: Option<usize>) -> String {
    let mut s = String::new();
    match verb {
        'e' | 'E' => {
            let dg = match prec {
                Some(p) => significant(x, p + 1),
                None => shortest(x),
            };
            let p = prec.unwrap_or(dg.d.len().saturating_sub(1));
            fmt_e(&mut s, &dg, p, verb);
        }
        'f' => {
            let dg = match prec {
                Some(p) => fixed(x, p),
                None => shortest(x),
            };
            let p = prec.unwrap_or_else(|| (dg.d.len() as i32 - dg.dp).max(0) as usize);
            fmt_f(&mut s, &dg, p);
        }
        'g' | 'G' => {
            let short = prec.is_none();
            let dg = match prec {
                Some(p) => significant(x, p.max(1)),
                None => shortest(x),
            };
            let nd = dg.d.len() as i32;
            let mut p = match prec {
                Some(p) => p.max(1) as i32,
                None => nd,
            };
            let mut eprec = p;
            if eprec > nd && nd >= dg.dp {
                eprec = nd;
            }
            if short {
                eprec = 6;
            }
            let exp = dg.dp - 1;
            if exp < -4 || exp >= eprec {
                if p > nd {
                    p = nd;
                }
                fmt_e(&mut s, &dg, (p - 1).max(0) as usize, if verb == 'g' { 'e' } else { 'E' });
            } else {
                if p > dg.dp {
                    p = nd;
                }
                fmt_f(&mut s, &dg, (p - dg.dp).max(0) as usize);
            }
        }
        'b' => {
            let bits = x.to_bits();
            let mut exp = ((bits >> 52) & 0x7ff) as i64;
            let mut mant = bits & ((1u64 << 52) - 1);
            if exp == 0 {
                exp += 1;
            } else {
                mant |= 1u64 << 52;
            }
            exp -= 1075;
            s = format!("{}p{}{}", mant, if exp >= 0 { "+" } else { "-" }, exp.unsigned_abs());
        }
        'x' | 'X' => s = hex_float(x, prec, verb == 'X'),
        _ => {}
    }
    s
}

/// `%x` of a float64: `0x1.8p+01`.
fn hex_float(x: f64, prec: Option<usize>, upper: bool) -> String {
    if x == 0.0 {
        let mut s = String::from("0x0");
        if let Some(p) = prec.filter(|p| *p > 0) {
            s.push('.');
            s.push_str(&"0".repeat(p));
        }
        s.push_str("p+00");
        return if upper { s.to_uppercase() } else { s };
    }
    let bits = x.to_bits();
    let mut exp = ((bits >> 52) & 0x7ff) as i64;
    let mut mant = bits & ((1u64 << 52) - 1);
    if exp == 0 {
        // Subnormal: normalize.
        exp = -1022;
        while mant & (1u64 << 52) == 0 {
            mant <<= 1;
            exp -= 1;
        }
    } else {
        mant |= 1u64 << 52;
        exp -= 1023;
    }
    // mant has 53 bits: 1.xxxx (52 fraction bits = 13 hex digits).
    let mut frac = mant & ((1u64 << 52) - 1);
    let mut lead = 1u64;
    let mut nd = 13usize;
    if let Some(p) = prec {
        if p < 13 {
            let shift = (13 - p) * 4;
            let half = 1u64 << (shift - 1);
            let rem = frac & ((1u64 << shift) - 1);
            frac >>= shift;
            let odd = if p == 0 { lead & 1 == 1 } else { frac & 1 == 1 };
            if rem > half || (rem == half && odd) {
                frac += 1;
                if frac >> (p * 4) != 0 {
                    frac &= (1u64 << (p * 4)) - 1;
                    lead += 1;
                    if lead == 2 {
                        lead = 1;
                        exp += 1;
                    }
                }
            }
            nd = p;
        }
    }
    let mut digits = if nd > 0 { format!("{:0width$x}", frac, width = nd) } else { String::new() };
    if prec.is_none() {
        while digits.ends_with('0') {
            digits.pop();
        }
    }
    let mut s = format!("0x{}", lead);
    if !digits.is_empty() {
        s.push('.');
        s.push_str(&digits);
    }
    if let Some(p) = prec {
        if p > 13 {
            s.push_str(&"0".repeat(p - 13));
        }
    }
    s.push('p');
    s.push(if exp < 0 { '-' } else { '+' });
    let a = exp.unsigned_abs();
    if a < 10 {
        s.push('0');
    }
    s.push_str(&a.to_string());
    if upper {
        s.to_uppercase()
    } else {
        s
    }
}

/// Go's `fmt.fmtFloat`.
fn fmt_float(out: &mut String, x: f64, verb: char, default_prec: Option<usize>, fl: &Flags) {
    let prec = fl.prec.or(default_prec);
    if !x.is_finite() {
        let s = if x.is_nan() {
            "NaN".to_string()
        } else if x < 0.0 {
            "-Inf".to_string()
        } else if fl.plus {
            "+Inf".to_string()
        } else if fl.space {
            " Inf".to_string()
        } else {
            "Inf".to_string()
        };
        pad_with(out, &s, fl, false);
        return;
    }
    let mut num = format_float_abs(x, verb, prec);
    if fl.sharp && verb != 'b' {
        num = sharp_float(num, verb, prec);
    }
    let neg = x.is_sign_negative();
    let sign = if neg {
        Some('-')
    } else if fl.plus {
        Some('+')
    } else if fl.space {
        Some(' ')
    } else {
        None
    };
    match sign {
        Some(c) => {
            if let Some(w) = fl.wid.filter(|w| fl.zero && !fl.minus && *w > num.len() + 1) {
                out.push(c);
                write_padding(out, w - num.len() - 1, true);
                out.push_str(&num);
            } else {
                let s = format!("{}{}", c, num);
                pad(out, &s, fl);
            }
        }
        None => pad(out, &num, fl),
    }
}

/// The `#` flag on floats: always a decimal point; `%g` keeps trailing zeros.
fn sharp_float(num: String, verb: char, prec: Option<usize>) -> String {
    let (mant, tail) = match num.find(['e', 'E', 'p', 'P']) {
        Some(i) if !num.starts_with("0x") && !num.starts_with("0X") || matches!(&num[i..i + 1], "p" | "P") => {
            (num[..i].to_string(), num[i..].to_string())
        }
        _ => (num.clone(), String::new()),
    };
    let mut mant = mant;
    if !mant.contains('.') {
        mant.push('.');
    }
    if matches!(verb, 'g' | 'G') {
        let want = prec.unwrap_or(6).max(1);
        let sig = mant.bytes().filter(u8::is_ascii_digit).skip_while(|b| *b == b'0').count();
        let sig = if sig == 0 { mant.bytes().filter(u8::is_ascii_digit).count().min(1) } else { sig };
        if want > sig {
            mant.push_str(&"0".repeat(want - sig));
        }
    }
    mant + &tail
}

#[cfg(test)]
mod tests {
    use super::*;
    fn f(fmt: &str, args: Vec<Value>) -> String {
        format(fmt, &args)
    }
    fn s(x: &str) -> Value {
        Value::string(x)
    }
    #[test]
    fn basics() {
        assert_eq!(f("hi %s", vec![s("there")]), "hi there");
        assert_eq!(f("hi %02X.%02X", vec![Value::int(127), Value::int(1)]), "hi 7F.01");
        assert_eq!(f("hi %.2f", vec![Value::float(3.1482)]), "hi 3.15");
        assert_eq!(f("hi %s", vec![Value::Bool(true)]), "hi true");
        assert_eq!(f("%v", vec![Value::from(vec![s("there"), Value::int(5), Value::float(3.25)])]), r#"["there", 5, 3.25]"#);
        assert_eq!(f("%d%%", vec![Value::int(5)]), "5%");
    }
    #[test]
    fn mismatches() {
        assert_eq!(f("%d", vec![s("x")]), "%!d(string=x)");
        assert_eq!(f("%s", vec![Value::int(5)]), "%!s(int64=5)");
        assert_eq!(f("%d", vec![Value::float(1.5)]), "%!d(float64=1.5)");
        assert_eq!(f("%d %d", vec![Value::int(1)]), "1 %!d(MISSING)");
        assert_eq!(f("x", vec![Value::int(1), s("a")]), "x%!(EXTRA int64=1, string=a)");
        assert_eq!(f("%", vec![]), "%!(NOVERB)");
        assert_eq!(f("%[2]d %[1]d", vec![Value::int(1), Value::int(2)]), "2 1");
        assert_eq!(f("%[3]d", vec![Value::int(1)]), "%!d(BADINDEX)");
        assert_eq!(f("%t", vec![Value::Bool(true)]), "%!t(string=true)");
    }
    #[test]
    fn big() {
        let b = Value::Number(Number::parse("123456789123456789123").unwrap());
        assert_eq!(f("%s", vec![b.clone()]), "123456789123456789123");
        assert_eq!(f("%x", vec![b.clone()]), "6b14e9f9b0df36a83");
        assert_eq!(f("%f", vec![b.clone()]), "%!f(big.Int=123456789123456789123)");
        assert_eq!(f("%30d|", vec![b]), "         123456789123456789123|");
    }
    #[test]
    fn floats() {
        assert_eq!(f("%v", vec![Value::float(1.5)]), "1.5");
        assert_eq!(f("%v", vec![Value::float(1e21)]), "1e+21");
        assert_eq!(f("%v", vec![Value::float(1234567.5)]), "1.2345675e+06");
        assert_eq!(f("%v", vec![Value::float(0.00001)]), "1e-05");
        assert_eq!(f("%v", vec![Value::float(0.0001)]), "0.0001");
        assert_eq!(f("%e", vec![Value::float(1234.5678)]), "1.234568e+03");
        assert_eq!(f("%E", vec![Value::float(1.5)]), "1.500000E+00");
        assert_eq!(f("%g", vec![Value::float(100000.5)]), "100000.5");
        assert_eq!(f("%.3g", vec![Value::float(1234.5)]), "1.23e+03");
        assert_eq!(f("%.3g", vec![Value::float(0.5)]), "0.5");
        assert_eq!(f("%8.3f|", vec![Value::float(-3.14259)]), "  -3.143|");
        assert_eq!(f("%08.3f", vec![Value::float(-3.14259)]), "-003.143");
        assert_eq!(f("%-8.2f|", vec![Value::float(2.5)]), "2.50    |");
        assert_eq!(f("%+.1f", vec![Value::float(2.25)]), "+2.2");
        assert_eq!(f("%f", vec![Value::float(0.000001)]), "0.000001");
        assert_eq!(f("%.0f", vec![Value::float(2.5)]), "2");
        assert_eq!(f("%x", vec![Value::float(3.5)]), "0x1.cp+01");
        assert_eq!(f("%b", vec![Value::float(1.5)]), "6755399441055744p-52");
        assert_eq!(f("%.2f", vec![Value::int(3)]), "%!f(int64=03)");
    }
    #[test]
    fn ints() {
        assert_eq!(f("%5d|%-5d|%05d", vec![Value::int(-42), Value::int(42), Value::int(-42)]), "  -42|42   |-0042");
        assert_eq!(f("%x %X %o %b %O", vec![Value::int(255), Value::int(255), Value::int(8), Value::int(5), Value::int(8)]), "ff FF 10 101 0o10");
        assert_eq!(f("%#x %#o %#b", vec![Value::int(255), Value::int(8), Value::int(5)]), "0xff 010 0b101");
        assert_eq!(f("%+d % d", vec![Value::int(5), Value::int(5)]), "+5  5");
        assert_eq!(f("%.3d", vec![Value::int(7)]), "007");
        assert_eq!(f("%c %q %U", vec![Value::int(65), Value::int(65), Value::int(65)]), "A 'A' U+0041");
        assert_eq!(f("%*d", vec![Value::int(4), Value::int(7)]), "   7");
    }
    #[test]
    fn pathological() {
        assert_eq!(f("%[", vec![]), "%!(NOVERB)");
        assert_eq!(f("%[1", vec![Value::int(1)]), "%!(NOVERB)");
        assert_eq!(f("%[x]d", vec![Value::int(1)]), "%!d(BADINDEX)");
        assert_eq!(f("%.*d", vec![s("x"), Value::int(1)]), "%!(BADPREC)1");
        assert_eq!(f("%-*d|", vec![Value::int(3), Value::int(1)]), "1  |");
        assert_eq!(f("%99999999999d", vec![Value::int(1)]), "%!(NOVERB)%!(EXTRA int64=1)");
        assert_eq!(f("%.500f", vec![Value::float(0.1)]).len(), 502);
        assert_eq!(f("%.20x", vec![Value::float(1.5)]), "0x1.80000000000000000000p+00");
        assert_eq!(f("%.0x", vec![Value::float(1.5)]), "0x1p+01");
        assert_eq!(f("%é", vec![Value::int(1)]), "%!é(int64=1)");
        assert_eq!(f("ü%dü", vec![Value::int(1)]), "ü1ü");
    }
    #[test]
    fn strs() {
        assert_eq!(f("%q", vec![s("a\"b\n")]), r#""a\"b\n""#);
        assert_eq!(f("%x", vec![s("hi")]), "6869");
        assert_eq!(f("% X", vec![s("hi")]), "68 69");
        assert_eq!(f("%.2s|%5s|%-5s|", vec![s("hello"), s("ab"), s("ab")]), "he|   ab|ab   |");
        assert_eq!(f("%v", vec![Value::Null]), "null");
        assert_eq!(f("%T %T", vec![s("a"), Value::int(1)]), "string int64");
    }
}
