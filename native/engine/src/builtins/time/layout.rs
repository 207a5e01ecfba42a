//! Go reference-time layouts: broken-down times, formatting and parsing.

use chrono::{Offset, TimeZone};

pub const RFC3339: &str = "2006-01-02T15:04:05Z07:00";
pub const RFC3339_NANO: &str = "2006-01-02T15:04:05.999999999Z07:00";

pub const LONG_DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const LONG_MONTHS: [&str; 12] = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December",
];

/// The Go layouts OPA's `time.format` and `time.parse_ns` accept by name (its
/// `acceptedTimeFormats`: not `Kitchen`, `Stamp`, `DateTime`..., which stay literal text).
pub fn named(name: &str) -> Option<&'static str> {
    Some(match name {
        "ANSIC" => "Mon Jan _2 15:04:05 2006",
        "UnixDate" => "Mon Jan _2 15:04:05 MST 2006",
        "RubyDate" => "Mon Jan 02 15:04:05 -0700 2006",
        "RFC822" => "02 Jan 06 15:04 MST",
        "RFC822Z" => "02 Jan 06 15:04 -0700",
        "RFC850" => "Monday, 02-Jan-06 15:04:05 MST",
        "RFC1123" => "Mon, 02 Jan 2006 15:04:05 MST",
        "RFC1123Z" => "Mon, 02 Jan 2006 15:04:05 -0700",
        "RFC3339" => RFC3339,
        "RFC3339Nano" => RFC3339_NANO,
        _ => return None,
    })
}

/// Go's `%q` for the ASCII-printable strings of error messages.
pub fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[derive(Clone, Debug)]
pub enum ZoneInfo {
    Utc,
    Named(chrono_tz::Tz),
}

/// A broken-down time in a zone.
#[derive(Clone, Debug)]
pub struct Civil {
    pub ns: i64,
    pub zone: ZoneInfo,
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub nanos: u32,
    /// 0 = Sunday.
    pub weekday: u8,
    pub yday: u32,
    pub offset: i32,
    pub abbrev: String,
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i128 {
    let y = i128::from(y) - i128::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i128::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i128::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

pub fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl Civil {
    pub fn from_ns(ns: i64, zone: &ZoneInfo) -> Civil {
        let secs = ns.div_euclid(1_000_000_000);
        let nanos = ns.rem_euclid(1_000_000_000) as u32;
        let (offset, abbrev) = match zone {
            ZoneInfo::Utc => (0, "UTC".to_string()),
            ZoneInfo::Named(tz) => match chrono::DateTime::from_timestamp(secs, 0).map(|t| t.naive_utc()) {
                Some(naive) => {
                    let off = tz.offset_from_utc_datetime(&naive);
                    (off.fix().local_minus_utc(), off.to_string())
                }
                None => (0, "UTC".to_string()),
            },
        };
        let local = secs + i64::from(offset);
        let days = local.div_euclid(86_400);
        let sod = local.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        let yday = (i128::from(days) - days_from_civil(year, 1, 1) + 1) as u32;
        Civil {
            ns,
            zone: zone.clone(),
            year,
            month,
            day,
            hour: sod / 3600,
            minute: sod % 3600 / 60,
            second: sod % 60,
            nanos,
            weekday: (days + 4).rem_euclid(7) as u8,
            yday,
            offset,
            abbrev,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Std {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PM,
    Pm,
    TZ,
    /// Numeric offset: (Z for UTC, minutes shown, seconds shown, colons).
    Offset { z: bool, hours_only: bool, secs: bool, colon: bool },
    /// Fractional seconds: ('0' or '9', digits, separator).
    Frac(u8, usize, u8),
}

/// Splits a layout into (literal prefix, std chunk, its text, suffix), as Go's `nextStdChunk`.
fn next_chunk(layout: &str) -> (&str, Option<(Std, &str)>, &str) {
    let b = layout.as_bytes();
    let starts = |i: usize, s: &str| layout[i..].starts_with(s);
    for i in 0..b.len() {
        if !layout.is_char_boundary(i) {
            continue;
        }
        let found: Option<(Std, usize)> = match b[i] {
            b'J' if starts(i, "January") => Some((Std::LongMonth, 7)),
            b'J' if starts(i, "Jan") => Some((Std::Month, 3)),
            b'M' if starts(i, "Monday") => Some((Std::LongWeekDay, 6)),
            b'M' if starts(i, "Mon") => Some((Std::WeekDay, 3)),
            b'M' if starts(i, "MST") => Some((Std::TZ, 3)),
            b'0' if starts(i, "002") => Some((Std::ZeroYearDay, 3)),
            b'0' if i + 1 < b.len() && (b'1'..=b'6').contains(&b[i + 1]) => Some((
                match b[i + 1] {
                    b'1' => Std::ZeroMonth,
                    b'2' => Std::ZeroDay,
                    b'3' => Std::ZeroHour12,
                    b'4' => Std::ZeroMinute,
                    b'5' => Std::ZeroSecond,
                    _ => Std::Year,
                },
                2,
            )),
            b'1' if starts(i, "15") => Some((Std::Hour, 2)),
            b'1' => Some((Std::NumMonth, 1)),
            b'2' if starts(i, "2006") => Some((Std::LongYear, 4)),
            b'2' => Some((Std::Day, 1)),
            b'_' if starts(i, "_2") && !starts(i, "_2006") => Some((Std::UnderDay, 2)),
            b'_' if starts(i, "__2") => Some((Std::UnderYearDay, 3)),
            b'3' => Some((Std::Hour12, 1)),
            b'4' => Some((Std::Minute, 1)),
            b'5' => Some((Std::Second, 1)),
            b'P' if starts(i, "PM") => Some((Std::PM, 2)),
            b'p' if starts(i, "pm") => Some((Std::Pm, 2)),
            b'-' | b'Z' => {
                let z = b[i] == b'Z';
                let rest = &layout[i + 1..];
                let off = |hours_only, secs, colon| Std::Offset { z, hours_only, secs, colon };
                if rest.starts_with("070000") {
                    Some((off(false, true, false), 7))
                } else if rest.starts_with("07:00:00") {
                    Some((off(false, true, true), 9))
                } else if rest.starts_with("0700") {
                    Some((off(false, false, false), 5))
                } else if rest.starts_with("07:00") {
                    Some((off(false, false, true), 6))
                } else if rest.starts_with("07") {
                    Some((off(true, false, false), 3))
                } else {
                    None
                }
            }
            c @ (b'.' | b',') if i + 1 < b.len() && (b[i + 1] == b'0' || b[i + 1] == b'9') => {
                let ch = b[i + 1];
                let mut j = i + 1;
                while j < b.len() && b[j] == ch {
                    j += 1;
                }
                if j < b.len() && b[j].is_ascii_digit() {
                    None
                } else {
                    Some((Std::Frac(ch, j - i - 1, c), j - i))
                }
            }
            _ => None,
        };
        if let Some((std, len)) = found {
            return (&layout[..i], Some((std, &layout[i..i + len])), &layout[i + len..]);
        }
    }
    (layout, None, "")
}

fn pad(out: &mut String, n: i64, width: usize) {
    if n < 0 {
        out.push('-');
    }
    out.push_str(&format!("{:0width$}", n.unsigned_abs(), width = width));
}

/// Formats like Go's `Time.Format`.
pub fn format(t: &Civil, layout: &str) -> String {
    let mut out = String::new();
    let mut rest = layout;
    loop {
        let (lit, std, after) = next_chunk(rest);
        out.push_str(lit);
        let Some((std, _)) = std else { break };
        rest = after;
        match std {
            Std::LongMonth => out.push_str(LONG_MONTHS[(t.month - 1) as usize]),
            Std::Month => out.push_str(&LONG_MONTHS[(t.month - 1) as usize][..3]),
            Std::NumMonth => pad(&mut out, t.month.into(), 0),
            Std::ZeroMonth => pad(&mut out, t.month.into(), 2),
            Std::LongWeekDay => out.push_str(LONG_DAYS[usize::from(t.weekday)]),
            Std::WeekDay => out.push_str(&LONG_DAYS[usize::from(t.weekday)][..3]),
            Std::Day => pad(&mut out, t.day.into(), 0),
            Std::UnderDay => out.push_str(&format!("{:>2}", t.day)),
            Std::ZeroDay => pad(&mut out, t.day.into(), 2),
            Std::UnderYearDay => out.push_str(&format!("{:>3}", t.yday)),
            Std::ZeroYearDay => pad(&mut out, t.yday.into(), 3),
            Std::Hour => pad(&mut out, t.hour.into(), 2),
            Std::Hour12 | Std::ZeroHour12 => {
                let h = match t.hour % 12 {
                    0 => 12,
                    h => h,
                };
                pad(&mut out, h.into(), if std == Std::Hour12 { 0 } else { 2 });
            }
            Std::Minute => pad(&mut out, t.minute.into(), 0),
            Std::ZeroMinute => pad(&mut out, t.minute.into(), 2),
            Std::Second => pad(&mut out, t.second.into(), 0),
            Std::ZeroSecond => pad(&mut out, t.second.into(), 2),
            Std::LongYear => pad(&mut out, t.year, 4),
            Std::Year => pad(&mut out, t.year.rem_euclid(100), 2),
            Std::PM => out.push_str(if t.hour >= 12 { "PM" } else { "AM" }),
            Std::Pm => out.push_str(if t.hour >= 12 { "pm" } else { "am" }),
            Std::TZ => {
                if !t.abbrev.is_empty() && !t.abbrev.starts_with(['+', '-']) {
                    out.push_str(&t.abbrev);
                } else {
                    let m = t.offset / 60;
                    out.push(if m < 0 { '-' } else { '+' });
                    pad(&mut out, i64::from(m.abs() / 60), 2);
                    pad(&mut out, i64::from(m.abs() % 60), 2);
                }
            }
            Std::Offset { z, hours_only, secs, colon } => {
                if z && t.offset == 0 {
                    out.push('Z');
                    continue;
                }
                let o = t.offset.abs();
                out.push(if t.offset < 0 { '-' } else { '+' });
                pad(&mut out, i64::from(o / 3600), 2);
                if !hours_only {
                    if colon {
                        out.push(':');
                    }
                    pad(&mut out, i64::from(o % 3600 / 60), 2);
                }
                if secs {
                    if colon {
                        out.push(':');
                    }
                    pad(&mut out, i64::from(o % 60), 2);
                }
            }
            Std::Frac(ch, n, sep) => {
                let digits = format!("{:09}", t.nanos);
                let mut d = &digits[..n.min(9)];
                if ch == b'9' {
                    d = d.trim_end_matches('0');
                    if d.is_empty() {
                        continue;
                    }
                }
                out.push(sep as char);
                out.push_str(d);
            }
        }
    }
    out
}

/// Parses like Go's `time.Parse` (zone abbreviations other than UTC get a
/// zero offset, as Go does for unknown abbreviations) and returns
/// nanoseconds since the epoch, unbounded.
pub fn parse(layout: &str, value: &str) -> Result<i128, String> {
    let orig_value = value;
    let mut rest_l = layout;
    let mut v = value;
    let err = |v: &str, elem: &str| {
        format!("parsing time {} as {}: cannot parse {} as {}", quote(orig_value), quote(layout), quote(v), quote(elem))
    };
    let range = |what: &str| format!("parsing time {}: {} out of range", quote(orig_value), what);
    let (mut year, mut month, mut day, mut yday) = (0i64, -1i64, -1i64, -1i64);
    let (mut hour, mut min, mut sec, mut nanos) = (0i64, 0i64, 0i64, 0i64);
    let (mut pm, mut am) = (false, false);
    let mut offset: Option<i64> = None;
    loop {
        let (lit, std, after) = next_chunk(rest_l);
        let trimmed_v = v;
        v = match skip_literal(v, lit) {
            Some(r) => r,
            None => return Err(err(trimmed_v, lit)),
        };
        let Some((std, elem)) = std else {
            if !v.is_empty() {
                return Err(format!("parsing time {}: extra text: {}", quote(orig_value), quote(v)));
            }
            break;
        };
        rest_l = after;
        let here = v;
        let fail = || err(here, elem);
        match std {
            Std::LongYear => {
                if v.len() < 4 || !v.as_bytes()[..4].iter().all(u8::is_ascii_digit) {
                    return Err(fail());
                }
                year = v[..4].parse().map_err(|_| fail())?;
                v = &v[4..];
            }
            Std::Year => {
                let (n, r) = getnum(v, true).ok_or_else(fail)?;
                year = if n >= 69 { n + 1900 } else { n + 2000 };
                v = r;
            }
            Std::LongMonth | Std::Month => {
                let (i, r) = lookup(v, &LONG_MONTHS, std == Std::Month).ok_or_else(fail)?;
                month = i as i64 + 1;
                v = r;
            }
            Std::NumMonth | Std::ZeroMonth => {
                let (n, r) = getnum(v, std == Std::ZeroMonth).ok_or_else(fail)?;
                if !(1..=12).contains(&n) {
                    return Err(range("month"));
                }
                month = n;
                v = r;
            }
            Std::LongWeekDay | Std::WeekDay => {
                let (_, r) = lookup(v, &LONG_DAYS, std == Std::WeekDay).ok_or_else(fail)?;
                v = r;
            }
            Std::Day | Std::UnderDay | Std::ZeroDay => {
                if std == Std::UnderDay && v.starts_with(' ') {
                    v = &v[1..];
                }
                let (n, r) = getnum(v, std == Std::ZeroDay).ok_or_else(fail)?;
                day = n;
                v = r;
            }
            Std::UnderYearDay | Std::ZeroYearDay => {
                for _ in 0..2 {
                    if std == Std::UnderYearDay && v.starts_with(' ') {
                        v = &v[1..];
                    }
                }
                let (n, r) = getnum3(v, std == Std::ZeroYearDay).ok_or_else(fail)?;
                yday = n;
                v = r;
            }
            Std::Hour => {
                let (n, r) = getnum(v, false).ok_or_else(fail)?;
                if !(0..24).contains(&n) {
                    return Err(range("hour"));
                }
                hour = n;
                v = r;
            }
            Std::Hour12 | Std::ZeroHour12 => {
                let (n, r) = getnum(v, std == Std::ZeroHour12).ok_or_else(fail)?;
                if !(0..=12).contains(&n) {
                    return Err(range("hour"));
                }
                hour = n;
                v = r;
            }
            Std::Minute | Std::ZeroMinute => {
                let (n, r) = getnum(v, std == Std::ZeroMinute).ok_or_else(fail)?;
                if !(0..60).contains(&n) {
                    return Err(range("minute"));
                }
                min = n;
                v = r;
            }
            Std::Second | Std::ZeroSecond => {
                let (n, r) = getnum(v, std == Std::ZeroSecond).ok_or_else(fail)?;
                if !(0..60).contains(&n) {
                    return Err(range("second"));
                }
                sec = n;
                v = r;
                // Fractional seconds the layout does not mention are accepted.
                let next_is_frac = matches!(next_chunk(rest_l), ("", Some((Std::Frac(..), _)), _));
                let vb = v.as_bytes();
                if !next_is_frac && vb.len() >= 2 && (vb[0] == b'.' || vb[0] == b',') && vb[1].is_ascii_digit() {
                    let n = 1 + vb[1..].iter().take_while(|c| c.is_ascii_digit()).count();
                    nanos = frac_nanos(&v[1..n]);
                    v = &v[n..];
                }
            }
            Std::PM | Std::Pm => {
                let (p, a) = if std == Std::PM { ("PM", "AM") } else { ("pm", "am") };
                if v.starts_with(p) {
                    pm = true;
                } else if v.starts_with(a) {
                    am = true;
                } else {
                    return Err(fail());
                }
                v = &v[2..];
            }
            Std::Offset { z, hours_only, secs, colon } => {
                if z && v.starts_with('Z') {
                    v = &v[1..];
                    offset = Some(0);
                    continue;
                }
                let (o, r) = parse_offset(v, hours_only, secs, colon).ok_or_else(fail)?;
                offset = Some(o);
                v = r;
            }
            Std::TZ => {
                let n = v.bytes().take_while(u8::is_ascii_uppercase).count();
                if v.starts_with("UTC") {
                    v = &v[3..];
                } else if (3..=5).contains(&n) {
                    v = &v[n..];
                } else {
                    return Err(fail());
                }
                offset = Some(0);
            }
            Std::Frac(ch, n, _) => {
                let vb = v.as_bytes();
                if ch == b'0' {
                    if vb.len() < n + 1 || !(vb[0] == b'.' || vb[0] == b',') || !vb[1..=n].iter().all(u8::is_ascii_digit) {
                        return Err(fail());
                    }
                    nanos = frac_nanos(&v[1..=n]);
                    v = &v[n + 1..];
                } else if vb.len() >= 2 && (vb[0] == b'.' || vb[0] == b',') && vb[1].is_ascii_digit() {
                    let k = 1 + vb[1..].iter().take_while(|c| c.is_ascii_digit()).count();
                    nanos = frac_nanos(&v[1..k]);
                    v = &v[k..];
                }
            }
        }
    }
    if pm && hour < 12 {
        hour += 12;
    } else if am && hour == 12 {
        hour = 0;
    }
    if yday >= 0 {
        let (m, d) = if month < 0 || day < 0 {
            let max = if is_leap(year) { 366 } else { 365 };
            if yday < 1 || yday > max {
                return Err(range("day-of-year"));
            }
            let mut left = yday;
            let mut m = 1u32;
            while left > i64::from(days_in_month(year, m)) {
                left -= i64::from(days_in_month(year, m));
                m += 1;
            }
            (i64::from(m), left)
        } else {
            (month, day)
        };
        month = m;
        day = d;
    }
    if month < 0 {
        month = 1;
    }
    if day < 0 {
        day = 1;
    }
    if day < 1 || day > i64::from(days_in_month(year, month as u32)) {
        return Err(range("day"));
    }
    let days = days_from_civil(year, month as u32, day as u32);
    let secs = days * 86_400 + i128::from(hour * 3600 + min * 60 + sec) - i128::from(offset.unwrap_or(0));
    Ok(secs * 1_000_000_000 + i128::from(nanos))
}

/// Go matches literal spaces loosely only in newer versions; here: exact.
fn skip_literal<'a>(v: &'a str, lit: &str) -> Option<&'a str> {
    v.strip_prefix(lit)
}

fn frac_nanos(digits: &str) -> i64 {
    let mut d: String = digits.chars().take(9).collect();
    while d.len() < 9 {
        d.push('0');
    }
    d.parse().unwrap_or(0)
}

/// One or two digits (exactly two when `fixed`), as Go's `getnum`.
fn getnum(v: &str, fixed: bool) -> Option<(i64, &str)> {
    let b = v.as_bytes();
    if b.is_empty() || !b[0].is_ascii_digit() {
        return None;
    }
    if b.len() < 2 || !b[1].is_ascii_digit() {
        if fixed {
            return None;
        }
        return Some((i64::from(b[0] - b'0'), &v[1..]));
    }
    Some((i64::from(b[0] - b'0') * 10 + i64::from(b[1] - b'0'), &v[2..]))
}

fn getnum3(v: &str, fixed: bool) -> Option<(i64, &str)> {
    let n = v.bytes().take(3).take_while(u8::is_ascii_digit).count();
    if n == 0 || (fixed && n != 3) {
        return None;
    }
    Some((v[..n].parse().ok()?, &v[n..]))
}

/// A (possibly abbreviated to 3 letters) name, matched case-insensitively.
fn lookup<'a>(v: &'a str, names: &[&str], short: bool) -> Option<(usize, &'a str)> {
    names.iter().enumerate().find_map(|(i, name)| {
        let name = if short { &name[..3] } else { name };
        let head = v.get(..name.len())?;
        head.eq_ignore_ascii_case(name).then(|| (i, &v[name.len()..]))
    })
}

fn parse_offset(v: &str, hours_only: bool, secs: bool, colon: bool) -> Option<(i64, &str)> {
    let b = v.as_bytes();
    let sign = match b.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let two = |i: usize| -> Option<i64> {
        let d = b.get(i..i + 2)?;
        d.iter().all(u8::is_ascii_digit).then(|| i64::from(d[0] - b'0') * 10 + i64::from(d[1] - b'0'))
    };
    let h = two(1)?;
    let mut i = 3;
    let mut m = 0;
    let mut s = 0;
    if !hours_only {
        if colon {
            (b.get(i)? == &b':').then_some(())?;
            i += 1;
        }
        m = two(i)?;
        i += 2;
    }
    if secs {
        if colon {
            (b.get(i)? == &b':').then_some(())?;
            i += 1;
        }
        s = two(i)?;
        i += 2;
    }
    Some((sign * (h * 3600 + m * 60 + s), &v[i..]))
}
