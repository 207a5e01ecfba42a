//! time builtins, with Go's semantics: reference-time layouts
//! (`2006-01-02T15:04:05Z07:00`), `time.ParseDuration` syntax, IANA zones.

use super::{arg_int, arg_num, arg_str, BuiltinError, BuiltinResult, Ctx, Registry};
use crate::value::Value;

#[path = "time/layout.rs"]
mod layout;

use layout::{Civil, ZoneInfo};

pub fn register(r: &mut Registry) {
    r.nondeterministic("time", "time.now_ns", "() => number", now_ns);
    r.func("time", "time.parse_ns", "(string, string) => number", parse_ns);
    r.func("time", "time.parse_rfc3339_ns", "(string) => number", parse_rfc3339_ns);
    r.func("time", "time.parse_duration_ns", "(string) => number", parse_duration_ns);
    r.func("time", "time.format", "(any<number, [number, string], [number, string, string]>) => string", format);
    r.func("time", "time.date", "(any<number, [number, string]>) => [number, number, number]", date);
    r.func("time", "time.clock", "(any<number, [number, string]>) => [number, number, number]", clock);
    r.func("time", "time.weekday", "(any<number, [number, string]>) => string", weekday);
    r.func("time", "time.add_date", "(number, number, number, number) => number", add_date);
    r.func(
        "time",
        "time.diff",
        "(any<number, [number, string]>, any<number, [number, string]>) => [number, number, number, number, number, number]",
        diff,
    );
}

fn eval(msg: impl Into<String>) -> BuiltinError {
    BuiltinError::Eval(msg.into())
}

fn now_ns(ctx: &mut Ctx, _: &[Value]) -> BuiltinResult {
    Ok(Value::int(ctx.now_ns()))
}

/// Nanoseconds since the epoch as an i64, or OPA's range error.
fn to_ns(total: i128) -> Result<i64, BuiltinError> {
    i64::try_from(total).map_err(|_| eval("time outside of valid range"))
}

fn parse_ns(_: &mut Ctx, args: &[Value]) -> BuiltinResult {
    let layout = arg_str(args, 0)?;
    let value = arg_str(args, 1)?;
    let layout = layout::named(layout).unwrap_or(layout);
    let ns = layout::parse(layout, value).map_err(eval)?;
    Ok(Value::int(to_ns(ns)?))
}

fn parse_rfc3339_ns(_: &mut Ctx, args: &[Value]) -> BuiltinResult {
    let value = arg_str(args, 0)?;
    let ns = layout::parse(layout::RFC3339, value).map_err(eval)?;
    Ok(Value::int(to_ns(ns)?))
}

fn parse_duration_ns(_: &mut Ctx, args: &[Value]) -> BuiltinResult {
    let s = arg_str(args, 0)?;
    Ok(Value::int(parse_extended_duration(s).map_err(eval)?))
}

/// OPA's `time.parse_duration_ns` also takes days, weeks and years (`d` = 24h,
/// `w` = 168h, `y` = 8760h): such segments are rewritten in hours, then the whole
/// is read as Go's `time.ParseDuration` does.
fn parse_extended_duration(orig: &str) -> Result<i64, String> {
    if orig.is_empty() || !orig.contains(['d', 'w', 'y']) {
        return parse_duration(orig);
    }
    let invalid = || format!("time: invalid duration {}", layout::quote(orig));
    let (sign, mut rest) = match orig.strip_prefix(['-', '+']) {
        Some(r) => (&orig[..1], r),
        None => ("", orig),
    };
    let mut rewritten = String::from(sign);
    if rest.is_empty() {
        return Err(invalid());
    }
    while !rest.is_empty() {
        let digits_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if digits_len == 0 {
            return Err(invalid());
        }
        let (digits, after) = rest.split_at(digits_len);
        let unit = ["ms", "us", "\u{b5}s", "ns"]
            .into_iter()
            .find(|u| after.starts_with(u))
            .or_else(|| after.get(..1).filter(|u| u.as_bytes()[0].is_ascii_lowercase()))
            .ok_or_else(invalid)?;
        rest = &after[unit.len()..];
        let hours_per_unit = match unit {
            "d" => 24.0,
            "w" => 7.0 * 24.0,
            "y" => 365.0 * 24.0,
            _ => {
                rewritten.push_str(digits);
                rewritten.push_str(unit);
                continue;
            }
        };
        let value: f64 = digits.parse().map_err(|_| invalid())?;
        rewritten.push_str(&format!("{}h", value * hours_per_unit));
    }
    // Errors name the duration as written, not the rewritten one.
    parse_duration(&rewritten).map_err(|e| match e.rfind(' ') {
        Some(i) => format!("{} {}", &e[..i], layout::quote(orig)),
        None => e,
    })
}

/// Go's `time.ParseDuration`.
pub(crate) fn parse_duration(orig: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", layout::quote(orig));
    let mut s = orig;
    let mut neg = false;
    if let Some(c) = s.chars().next() {
        if c == '-' || c == '+' {
            neg = c == '-';
            s = &s[1..];
        }
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !s.is_empty() {
        let b = s.as_bytes();
        if !(b[0] == b'.' || b[0].is_ascii_digit()) {
            return Err(invalid());
        }
        let int_len = b.iter().take_while(|c| c.is_ascii_digit()).count();
        let pre = int_len > 0;
        let mut v: u64 = 0;
        for c in &b[..int_len] {
            v = v.checked_mul(10).and_then(|v| v.checked_add(u64::from(c - b'0'))).ok_or_else(invalid)?;
        }
        s = &s[int_len..];
        let (mut f, mut scale, mut post) = (0u64, 1f64, false);
        if s.starts_with('.') {
            s = &s[1..];
            let n = s.bytes().take_while(|c| c.is_ascii_digit()).count();
            post = n > 0;
            let mut overflow = false;
            for c in s[..n].bytes() {
                if overflow {
                    continue;
                }
                match f.checked_mul(10).and_then(|x| x.checked_add(u64::from(c - b'0'))) {
                    Some(x) if x <= 1 << 63 => {
                        f = x;
                        scale *= 10.0;
                    }
                    _ => overflow = true,
                }
            }
            s = &s[n..];
        }
        if !pre && !post {
            return Err(invalid());
        }
        let unit_len = s.find(|c: char| c == '.' || c.is_ascii_digit()).unwrap_or(s.len());
        if unit_len == 0 {
            return Err(format!("time: missing unit in duration {}", layout::quote(orig)));
        }
        let u = &s[..unit_len];
        s = &s[unit_len..];
        let unit: u64 = match u {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(format!("time: unknown unit {} in duration {}", layout::quote(u), layout::quote(orig))),
        };
        v = v.checked_mul(unit).ok_or_else(invalid)?;
        if f > 0 {
            v = v.checked_add((f as f64 * (unit as f64 / scale)) as u64).ok_or_else(invalid)?;
        }
        total = total.checked_add(v).ok_or_else(invalid)?;
        if total > 1 << 63 {
            return Err(invalid());
        }
    }
    if neg {
        return Ok((total as i128).wrapping_neg() as i64);
    }
    i64::try_from(total).map_err(|_| invalid())
}

/// OPA's `tzTime`: a number of nanoseconds, or `[ns, tz]`, or `[ns, tz, layout]`.
fn tz_time(v: &Value, type_desc: &str) -> Result<(Civil, Option<String>), BuiltinError> {
    let bad = || BuiltinError::Type(format!("operand 1 must be {} but got {}", type_desc, v.type_name()));
    let (n, tz, lay) = match v {
        Value::Number(_) => (v, None, None),
        Value::Array(a) => {
            let n = a.first().ok_or_else(bad)?;
            let tz = match a.get(1) {
                None => None,
                Some(Value::String(s)) => Some(s.to_string()),
                Some(o) => return Err(BuiltinError::Type(format!("operand 1 must be string but got {}", o.type_name()))),
            };
            let lay = match a.get(2) {
                None => None,
                Some(Value::String(s)) => Some(s.to_string()),
                Some(o) => return Err(BuiltinError::Type(format!("operand 1 must be string but got {}", o.type_name()))),
            };
            (n, tz, lay)
        }
        _ => return Err(bad()),
    };
    let n = match n {
        Value::Number(n) => n,
        o => return Err(BuiltinError::Type(format!("operand 1 must be number but got {}", o.type_name()))),
    };
    let ns = match n.as_i64() {
        Some(i) => i,
        None => {
            let f = n.as_f64();
            if f.fract() != 0.0 || !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) {
                return Err(eval("timestamp too big"));
            }
            f as i64
        }
    };
    let zone = match tz.as_deref() {
        // "Local" is the server's zone: this engine runs its policies in UTC.
        None | Some("") | Some("UTC") | Some("Local") => ZoneInfo::Utc,
        Some(name) => {
            let z: chrono_tz::Tz = name.parse().map_err(|_| eval(format!("unknown time zone {}", name)))?;
            ZoneInfo::Named(z)
        }
    };
    Ok((Civil::from_ns(ns, &zone), lay))
}

fn arg(args: &[Value], i: usize) -> Result<&Value, BuiltinError> {
    args.get(i).ok_or_else(|| eval(format!("missing operand {}", i + 1)))
}

fn format(_: &mut Ctx, args: &[Value]) -> BuiltinResult {
    let (t, lay) = tz_time(arg(args, 0)?, "either number (ns) or [number (ns), string (tz)]")?;
    let lay = lay.map(|l| layout::named(&l).map(str::to_string).unwrap_or(l));
    Ok(Value::string(layout::format(&t, lay.as_deref().unwrap_or(layout::RFC3339_NANO))))
}

fn date(_: &mut Ctx, args: &[Value]) -> BuiltinResult {
    let (t, _) = tz_time(arg(args, 0)?, "either number (ns) or [number (ns), string (tz)]")?;
    Ok(Value::from_array(vec![Value::int(t.year), Value::int(t.month.into()), Value::int(t.day.into())]))
}

fn clock(_: &mut Ctx, args: &[Value]) -> BuiltinResult {
    let (t, _) = tz_time(arg(args, 0)?, "either number (ns) or [number (ns), string (tz)]")?;
    Ok(Value::from_array(vec![Value::int(t.hour.into()), Value::int(t.minute.into()), Value::int(t.second.into())]))
}

fn weekday(_: &mut Ctx, args: &[Value]) -> BuiltinResult {
    let (t, _) = tz_time(arg(args, 0)?, "either number (ns) or [number (ns), string (tz)]")?;
    Ok(Value::string(layout::LONG_DAYS[usize::from(t.weekday)]))
}

/// Go's `Time.AddDate` in UTC: out-of-range months and days normalize.
fn add_date(_: &mut Ctx, args: &[Value]) -> BuiltinResult {
    // OPA reads the timestamp as a number, then fails when it is no i64.
    let ns = arg_num(args, 0)?.as_i64().ok_or_else(|| eval("timestamp too big"))?;
    let years = arg_int(args, 1)?;
    let months = arg_int(args, 2)?;
    let days = arg_int(args, 3)?;
    let t = Civil::from_ns(ns, &ZoneInfo::Utc);
    let month0 = i128::from(t.month) - 1 + i128::from(months);
    let year = i128::from(t.year) + i128::from(years) + month0.div_euclid(12);
    let month = month0.rem_euclid(12) + 1;
    let year = i64::try_from(year).map_err(|_| eval("time outside of valid range"))?;
    let day_num = layout::days_from_civil(year, month as u32, 1) + i128::from(t.day) - 1 + i128::from(days);
    let secs = day_num * 86_400 + i128::from(t.hour) * 3600 + i128::from(t.minute) * 60 + i128::from(t.second);
    let total = secs.checked_mul(1_000_000_000).and_then(|s| s.checked_add(i128::from(t.nanos)));
    let total = total.ok_or_else(|| eval("time outside of valid range"))?;
    Ok(Value::int(to_ns(total)?))
}

/// Calendar difference `[years, months, days, hours, minutes, seconds]`,
/// computed in the first operand's zone as OPA does.
fn diff(_: &mut Ctx, args: &[Value]) -> BuiltinResult {
    let desc = "either number (ns) or [number (ns), string (tz)]";
    let (a, _) = tz_time(arg(args, 0)?, desc)?;
    let (b, _) = tz_time(arg(args, 1)?, desc)?;
    let b = Civil::from_ns(b.ns, &a.zone);
    let (t1, t2) = if a.ns > b.ns { (b, a) } else { (a, b) };
    let mut year = t2.year - t1.year;
    let mut month = i64::from(t2.month) - i64::from(t1.month);
    let mut day = i64::from(t2.day) - i64::from(t1.day);
    let mut hour = i64::from(t2.hour) - i64::from(t1.hour);
    let mut min = i64::from(t2.minute) - i64::from(t1.minute);
    let mut sec = i64::from(t2.second) - i64::from(t1.second);
    if sec < 0 {
        sec += 60;
        min -= 1;
    }
    if min < 0 {
        min += 60;
        hour -= 1;
    }
    if hour < 0 {
        hour += 24;
        day -= 1;
    }
    if day < 0 {
        day += i64::from(layout::days_in_month(t1.year, t1.month));
        month -= 1;
    }
    if month < 0 {
        month += 12;
        year -= 1;
    }
    Ok(Value::from_array([year, month, day, hour, min, sec].into_iter().map(Value::int).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(f: super::super::BuiltinFn, args: Vec<Value>) -> BuiltinResult {
        f(&mut Ctx::new(0, true), &args)
    }
    fn s(x: &str) -> Value {
        Value::string(x)
    }
    fn ints(xs: &[i64]) -> Value {
        Value::from_array(xs.iter().map(|i| Value::int(*i)).collect())
    }

    #[test]
    fn durations() {
        assert_eq!(parse_extended_duration("1d2h"), Ok(93_600_000_000_000));
        assert_eq!(parse_extended_duration("-1.5w"), Ok(-907_200_000_000_000));
        assert_eq!(parse_extended_duration("1y"), Ok(31_536_000_000_000_000));
        assert_eq!(parse_extended_duration("1dx"), Err("time: invalid duration \"1dx\"".into()));
        assert_eq!(parse_extended_duration("1d1q"), Err("time: unknown unit \"q\" in duration \"1d1q\"".into()));
        assert_eq!(parse_extended_duration("1ms"), Ok(1_000_000));
        assert_eq!(parse_duration("100ms"), Ok(100_000_000));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000_000_000));
        assert_eq!(parse_duration("-1.5s"), Ok(-1_500_000_000));
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(parse_duration("1"), Err("time: missing unit in duration \"1\"".into()));
        assert_eq!(parse_duration("1d"), Err("time: unknown unit \"d\" in duration \"1d\"".into()));
        assert_eq!(parse_duration(""), Err("time: invalid duration \"\"".into()));
    }

    #[test]
    fn rfc3339() {
        let p = |x: &str| call(parse_rfc3339_ns, vec![s(x)]);
        assert_eq!(p("1970-01-01T00:00:00-00:00"), Ok(Value::int(0)));
        assert_eq!(p("2017-06-02T19:00:00-07:00"), Ok(Value::int(1_496_455_200_000_000_000)));
        assert_eq!(p("1677-09-21T00:12:43.145224192-00:00"), Ok(Value::int(i64::MIN)));
        assert_eq!(p("2262-04-11T23:47:16.854775807-00:00"), Ok(Value::int(i64::MAX)));
        assert_eq!(p("2262-04-11T23:47:16.854775808-00:00"), Err(eval("time outside of valid range")));
        assert!(p("2017-13-01T00:00:00Z").is_err());
    }

    #[test]
    fn parse_layouts() {
        let p = |l: &str, x: &str| call(parse_ns, vec![s(l), s(x)]);
        assert_eq!(p("2006-01-02", "2020-02-02"), Ok(Value::int(1_580_601_600_000_000_000)));
        assert_eq!(p("Mon Jan _2 15:04:05 2006", "Sun Feb  2 00:00:00 2020"), Ok(Value::int(1_580_601_600_000_000_000)));
        assert_eq!(
            p("2006-01-02", "2020-2-02"),
            Err(eval("parsing time \"2020-2-02\" as \"2006-01-02\": cannot parse \"2-02\" as \"01\""))
        );
    }

    #[test]
    fn format_and_fields() {
        let t = Value::int(1_670_006_453_141_828_752);
        let with = |v: Vec<Value>| call(format, vec![Value::from_array(v)]);
        assert_eq!(call(format, vec![t.clone()]), Ok(s("2022-12-02T18:40:53.141828752Z")));
        assert_eq!(with(vec![t.clone(), s("Asia/Kolkata")]), Ok(s("2022-12-03T00:10:53.141828752+05:30")));
        assert_eq!(
            with(vec![t.clone(), s("Asia/Kolkata"), s("Mon Jan 02 15:04:05 -0700 2006")]),
            Ok(s("Sat Dec 03 00:10:53 +0530 2022"))
        );
        assert_eq!(with(vec![t.clone(), s("Asia/Kolkata"), s("RFC1123Z")]), Ok(s("Sat, 03 Dec 2022 00:10:53 +0530")));
        assert_eq!(call(date, vec![Value::int(1_517_814_000_000_000_000)]), Ok(ints(&[2018, 2, 5])));
        let ny = Value::from_array(vec![Value::int(1_517_832_000_000_000_000), s("America/New_York")]);
        assert_eq!(call(clock, vec![ny]), Ok(ints(&[7, 0, 0])));
        assert_eq!(call(weekday, vec![Value::int(1_518_177_600_000_000_000)]), Ok(s("Friday")));
        assert_eq!(call(date, vec![Value::float(1.582_977_6e27)]), Err(eval("timestamp too big")));
    }

    #[test]
    fn add_and_diff() {
        let add = |args: [i64; 4]| call(add_date, args.iter().map(|i| Value::int(*i)).collect());
        assert_eq!(add([1_585_852_421_593_912_000, 3, 9, 12]), Ok(Value::int(1_705_257_221_593_912_000)));
        assert_eq!(add([0, 2262, 1, 1]), Err(eval("time outside of valid range")));
        let feb2 = Value::int(1_580_601_600_000_000_000);
        let mar1 = Value::int(1_583_020_800_000_000_000);
        assert_eq!(call(diff, vec![feb2, mar1]), Ok(ints(&[0, 0, 28, 0, 0, 0])));
    }
}
