//! Timestamp formatting for `%d{strftime[...]}` and `%d{go[...]}`, always in
//! UTC, with no dependency: a civil calendar from milliseconds, strftime(3)
//! conversions in the C locale, and Go's reference-time layouts.
//!
//! Both layouts are compiled once into steps, so formatting a record appends
//! to the output without allocating.

use super::numbers::{write_i64, write_padded};

const DAY_NAMES: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// A UTC instant broken into calendar fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Civil {
    pub(crate) year: i64,
    /// 1 to 12.
    pub(crate) month: u32,
    /// 1 to 31.
    pub(crate) day: u32,
    pub(crate) hour: u32,
    pub(crate) minute: u32,
    pub(crate) second: u32,
    pub(crate) millis: u32,
    /// 0 is Sunday.
    pub(crate) weekday: u32,
    /// 1 to 366.
    pub(crate) yday: u32,
    /// Seconds since the Unix epoch.
    pub(crate) unix: i64,
}

impl Civil {
    /// Breaks milliseconds since the Unix epoch into UTC calendar fields.
    pub(crate) fn from_millis(ms: i64) -> Civil {
        let unix = ms.div_euclid(1000);
        let days = unix.div_euclid(86_400);
        let secs = unix.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: secs / 3600,
            minute: secs / 60 % 60,
            second: secs % 60,
            millis: ms.rem_euclid(1000) as u32,
            weekday: (days + 4).rem_euclid(7) as u32,
            yday: yday(year, month, day),
            unix,
        }
    }

    fn day_name(&self) -> &'static str {
        DAY_NAMES[self.weekday as usize % 7]
    }

    fn month_name(&self) -> &'static str {
        MONTH_NAMES[(self.month as usize + 11) % 12]
    }

    fn hour12(&self) -> u32 {
        match self.hour % 12 {
            0 => 12,
            h => h,
        }
    }

    /// The ISO 8601 week-numbering year and week (1 to 53).
    pub(crate) fn iso_week(&self) -> (i64, u32) {
        let iso_wd = i64::from((self.weekday + 6) % 7 + 1);
        let week = (i64::from(self.yday) - iso_wd + 10).div_euclid(7);
        if week < 1 {
            (self.year - 1, iso_weeks(self.year - 1))
        } else if week > i64::from(iso_weeks(self.year)) {
            (self.year + 1, 1)
        } else {
            (self.year, week as u32)
        }
    }
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn is_leap(year: i64) -> bool {
    year.rem_euclid(4) == 0 && (year.rem_euclid(100) != 0 || year.rem_euclid(400) == 0)
}

fn yday(year: i64, month: u32, day: u32) -> u32 {
    const BEFORE: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let leap = u32::from(month > 2 && is_leap(year));
    BEFORE[(month as usize + 11) % 12] + leap + day
}

/// ISO weeks in a year: 53 when the year starts on a Thursday, or on a
/// Wednesday in a leap year.
fn iso_weeks(year: i64) -> u32 {
    let p = |y: i64| (y + y.div_euclid(4) - y.div_euclid(100) + y.div_euclid(400)).rem_euclid(7);
    if p(year) == 4 || p(year - 1) == 3 {
        53
    } else {
        52
    }
}

/// A compiled timestamp layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TimeFmt {
    /// A strftime(3) format.
    Strftime(Box<[Strf]>),
    /// A Go reference-time layout.
    Go(Box<[GoStep]>),
}

impl TimeFmt {
    /// Compiles a strftime format; every format is valid.
    pub(crate) fn strftime(format: &str) -> TimeFmt {
        TimeFmt::Strftime(compile_strftime(format.as_bytes()))
    }

    /// Compiles a Go layout; every layout is valid.
    pub(crate) fn go(layout: &str) -> TimeFmt {
        TimeFmt::Go(compile_go(layout.as_bytes()))
    }

    /// Appends the UTC time `ms` milliseconds after the Unix epoch.
    pub(crate) fn write(&self, out: &mut Vec<u8>, ms: i64) {
        let t = Civil::from_millis(ms);
        match self {
            TimeFmt::Strftime(steps) => steps.iter().for_each(|s| write_strf(out, s, &t)),
            TimeFmt::Go(steps) => steps.iter().for_each(|s| write_go(out, s, &t)),
        }
    }
}

/// One strftime step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Strf {
    /// Text copied as is.
    Lit(Box<[u8]>),
    /// A conversion character with its glibc flag (`-`, `_`, `0`, `^` or 0).
    Conv(u8, u8),
}

fn compile_strftime(f: &[u8]) -> Box<[Strf]> {
    let mut steps = Vec::new();
    let mut lit = Vec::new();
    let mut it = f.iter().copied().peekable();
    while let Some(c) = it.next() {
        if c != b'%' {
            lit.push(c);
            continue;
        }
        let Some(mut conv) = it.next() else {
            lit.push(b'%');
            break;
        };
        let mut flag = 0;
        if matches!(conv, b'-' | b'_' | b'0' | b'^') {
            if let Some(next) = it.next() {
                flag = conv;
                conv = next;
            }
        }
        // %E and %O select alternative numerals, which the C locale lacks,
        // so they modify nothing.
        if matches!(conv, b'E' | b'O') {
            if let Some(next) = it.next_if(u8::is_ascii_alphabetic) {
                conv = next;
            }
        }
        if !lit.is_empty() {
            steps.push(Strf::Lit(std::mem::take(&mut lit).into_boxed_slice()));
        }
        steps.push(Strf::Conv(conv, flag));
    }
    if !lit.is_empty() {
        steps.push(Strf::Lit(lit.into_boxed_slice()));
    }
    steps.into_boxed_slice()
}

/// Appends a number with strftime padding: `width` digits padded with
/// `pad` unless a flag overrides it.
fn strf_num(out: &mut Vec<u8>, n: i64, width: usize, pad: u8, flag: u8) {
    match flag {
        b'-' => write_i64(out, n),
        b'_' => write_padded(out, n, width, b' '),
        b'0' => write_padded(out, n, width, b'0'),
        _ => write_padded(out, n, width, pad),
    }
}

fn strf_text(out: &mut Vec<u8>, s: &str, flag: u8) {
    if flag == b'^' {
        out.extend(s.bytes().map(|b| b.to_ascii_uppercase()));
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

fn write_strf(out: &mut Vec<u8>, step: &Strf, t: &Civil) {
    let (c, flag) = match step {
        Strf::Lit(b) => return out.extend_from_slice(b),
        Strf::Conv(c, flag) => (*c, *flag),
    };
    let num = |out: &mut Vec<u8>, n: i64, width: usize| strf_num(out, n, width, b'0', flag);
    let spaced = |out: &mut Vec<u8>, n: i64| strf_num(out, n, 2, b' ', flag);
    match c {
        b'a' => strf_text(out, &t.day_name()[..3], flag),
        b'A' => strf_text(out, t.day_name(), flag),
        b'b' | b'h' => strf_text(out, &t.month_name()[..3], flag),
        b'B' => strf_text(out, t.month_name(), flag),
        b'C' => num(out, t.year.div_euclid(100), 2),
        b'd' => num(out, i64::from(t.day), 2),
        b'e' => spaced(out, i64::from(t.day)),
        b'g' => num(out, t.iso_week().0.rem_euclid(100), 2),
        b'G' => num(out, t.iso_week().0, 4),
        b'H' => num(out, i64::from(t.hour), 2),
        b'I' => num(out, i64::from(t.hour12()), 2),
        b'j' => num(out, i64::from(t.yday), 3),
        b'k' => spaced(out, i64::from(t.hour)),
        b'l' => spaced(out, i64::from(t.hour12())),
        b'm' => num(out, i64::from(t.month), 2),
        b'M' => num(out, i64::from(t.minute), 2),
        b'n' => out.push(b'\n'),
        b'p' => strf_text(out, if t.hour < 12 { "AM" } else { "PM" }, flag),
        b'P' => out.extend_from_slice(if t.hour < 12 { b"am" } else { b"pm" }),
        b's' => write_i64(out, t.unix),
        b'S' => num(out, i64::from(t.second), 2),
        b't' => out.push(b'\t'),
        b'u' => write_i64(out, i64::from((t.weekday + 6) % 7 + 1)),
        b'U' => num(out, i64::from((t.yday + 6 - t.weekday) / 7), 2),
        b'V' => num(out, i64::from(t.iso_week().1), 2),
        b'w' => write_i64(out, i64::from(t.weekday)),
        b'W' => num(out, i64::from((t.yday + 6 - (t.weekday + 6) % 7) / 7), 2),
        b'y' => num(out, t.year.rem_euclid(100), 2),
        b'Y' => num(out, t.year, 4),
        b'z' => out.extend_from_slice(b"+0000"),
        b'Z' => strf_text(out, "UTC", flag),
        b'%' => out.push(b'%'),
        _ => write_strf_composite(out, c, flag, t),
    }
}

/// The conversions that expand to other conversions.
fn write_strf_composite(out: &mut Vec<u8>, c: u8, flag: u8, t: &Civil) {
    let parts: &[u8] = match c {
        b'c' => b"a b e H:M:S Y",
        b'D' => b"m/d/y",
        b'F' => b"Y-m-d",
        b'r' => b"I:M:S p",
        b'R' => b"H:M",
        b'T' => b"H:M:S",
        // kgo prints %x day first; the time is the C locale's %X.
        b'x' => b"d/m/y",
        b'X' => b"H:M:S",
        b'+' => b"a b e H:M:S Z Y",
        _ => {
            // Unknown conversions are kept as written, as glibc does.
            out.push(b'%');
            if flag != 0 {
                out.push(flag);
            }
            out.push(c);
            return;
        }
    };
    for &p in parts {
        if p.is_ascii_alphabetic() {
            write_strf(out, &Strf::Conv(p, 0), t);
        } else {
            out.push(p);
        }
    }
}

/// One step of a Go layout (the std chunks of Go's time package).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GoStep {
    /// Text copied as is.
    Lit(Box<[u8]>),
    /// A reference-time element.
    Std(GoStd),
}

/// The reference-time elements of Go's layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GoStd {
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
    Pm(bool),
    /// The zone name.
    Tz,
    /// A numeric offset; `iso` prints `Z` for UTC, `text` is the UTC form.
    Offset {
        iso: bool,
        text: &'static str,
    },
    /// Fractional seconds: separator, digits, and whether zeros trim.
    Frac {
        sep: u8,
        digits: u8,
        trim: bool,
    },
}

/// Offsets, longest first so that prefixes do not shadow them.
const OFFSETS: [(&str, &str); 5] = [
    ("070000", "+000000"),
    ("07:00:00", "+00:00:00"),
    ("0700", "+0000"),
    ("07:00", "+00:00"),
    ("07", "+00"),
];

fn compile_go(l: &[u8]) -> Box<[GoStep]> {
    let mut steps = Vec::new();
    let mut lit = Vec::new();
    let mut i = 0;
    while i < l.len() {
        match next_std(&l[i..]) {
            Some((std, len)) => {
                if !lit.is_empty() {
                    steps.push(GoStep::Lit(std::mem::take(&mut lit).into_boxed_slice()));
                }
                steps.push(GoStep::Std(std));
                i += len;
            }
            None => {
                lit.push(l[i]);
                i += 1;
            }
        }
    }
    if !lit.is_empty() {
        steps.push(GoStep::Lit(lit.into_boxed_slice()));
    }
    steps.into_boxed_slice()
}

/// The element at the start of `l` and its length, following the order of
/// Go's nextStdChunk so that the same layouts mean the same thing.
fn next_std(l: &[u8]) -> Option<(GoStd, usize)> {
    let at = |s: &[u8]| l.starts_with(s);
    let lower_after = |n: usize| l.get(n).is_some_and(u8::is_ascii_lowercase);
    Some(match l.first()? {
        b'J' if at(b"January") => (GoStd::LongMonth, 7),
        b'J' if at(b"Jan") && !lower_after(3) => (GoStd::Month, 3),
        b'M' if at(b"Monday") => (GoStd::LongWeekDay, 6),
        b'M' if at(b"Mon") && !lower_after(3) => (GoStd::WeekDay, 3),
        b'M' if at(b"MST") => (GoStd::Tz, 3),
        b'0' => match l.get(1)? {
            b'1' => (GoStd::ZeroMonth, 2),
            b'2' => (GoStd::ZeroDay, 2),
            b'3' => (GoStd::ZeroHour12, 2),
            b'4' => (GoStd::ZeroMinute, 2),
            b'5' => (GoStd::ZeroSecond, 2),
            b'6' => (GoStd::Year, 2),
            b'0' if l.get(2) == Some(&b'2') => (GoStd::ZeroYearDay, 3),
            _ => return None,
        },
        b'1' if l.get(1) == Some(&b'5') => (GoStd::Hour, 2),
        b'1' => (GoStd::NumMonth, 1),
        b'2' if at(b"2006") => (GoStd::LongYear, 4),
        b'2' => (GoStd::Day, 1),
        // "_2006" is a literal underscore before the year.
        b'_' if at(b"_2") && !at(b"_2006") => (GoStd::UnderDay, 2),
        b'_' if at(b"__2") => (GoStd::UnderYearDay, 3),
        b'3' => (GoStd::Hour12, 1),
        b'4' => (GoStd::Minute, 1),
        b'5' => (GoStd::Second, 1),
        b'P' if at(b"PM") => (GoStd::Pm(true), 2),
        b'p' if at(b"pm") => (GoStd::Pm(false), 2),
        b'-' | b'Z' => return offset(l),
        b'.' | b',' => return frac(l),
        _ => return None,
    })
}

fn offset(l: &[u8]) -> Option<(GoStd, usize)> {
    let iso = l.first() == Some(&b'Z');
    let rest = l.get(1..)?;
    let (tail, text) = OFFSETS
        .iter()
        .find(|(tail, _)| rest.starts_with(tail.as_bytes()))?;
    Some((GoStd::Offset { iso, text }, 1 + tail.len()))
}

fn frac(l: &[u8]) -> Option<(GoStd, usize)> {
    let sep = *l.first()?;
    let digit = *l.get(1).filter(|&&d| d == b'0' || d == b'9')?;
    let run = l.iter().skip(1).take_while(|&&d| d == digit).count();
    // Only a run not followed by another digit is a fraction.
    if l.get(1 + run).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let frac = GoStd::Frac {
        sep,
        digits: run.min(9) as u8,
        trim: digit == b'9',
    };
    Some((frac, 1 + run))
}

fn write_go(out: &mut Vec<u8>, step: &GoStep, t: &Civil) {
    let std = match step {
        GoStep::Lit(b) => return out.extend_from_slice(b),
        GoStep::Std(s) => *s,
    };
    let num =
        |out: &mut Vec<u8>, n: u32, width: usize| write_padded(out, i64::from(n), width, b'0');
    match std {
        GoStd::LongMonth => out.extend_from_slice(t.month_name().as_bytes()),
        GoStd::Month => out.extend_from_slice(&t.month_name().as_bytes()[..3]),
        GoStd::NumMonth => num(out, t.month, 1),
        GoStd::ZeroMonth => num(out, t.month, 2),
        GoStd::LongWeekDay => out.extend_from_slice(t.day_name().as_bytes()),
        GoStd::WeekDay => out.extend_from_slice(&t.day_name().as_bytes()[..3]),
        GoStd::Day => num(out, t.day, 1),
        GoStd::UnderDay => write_padded(out, i64::from(t.day), 2, b' '),
        GoStd::ZeroDay => num(out, t.day, 2),
        GoStd::UnderYearDay => write_padded(out, i64::from(t.yday), 3, b' '),
        GoStd::ZeroYearDay => num(out, t.yday, 3),
        GoStd::Hour => num(out, t.hour, 2),
        GoStd::Hour12 => num(out, t.hour12(), 1),
        GoStd::ZeroHour12 => num(out, t.hour12(), 2),
        GoStd::Minute => num(out, t.minute, 1),
        GoStd::ZeroMinute => num(out, t.minute, 2),
        GoStd::Second => num(out, t.second, 1),
        GoStd::ZeroSecond => num(out, t.second, 2),
        GoStd::LongYear => write_padded(out, t.year, 4, b'0'),
        GoStd::Year => write_padded(out, t.year.rem_euclid(100), 2, b'0'),
        GoStd::Pm(upper) => {
            let pm = t.hour >= 12;
            out.extend_from_slice(match (upper, pm) {
                (true, true) => b"PM",
                (true, false) => b"AM",
                (false, true) => b"pm",
                (false, false) => b"am",
            });
        }
        GoStd::Tz => out.extend_from_slice(b"UTC"),
        GoStd::Offset { iso: true, .. } => out.push(b'Z'),
        GoStd::Offset { text, .. } => out.extend_from_slice(text.as_bytes()),
        GoStd::Frac { sep, digits, trim } => write_frac(out, t.millis, sep, digits, trim),
    }
}

/// Appends fractional seconds; trimmed forms drop trailing zeros and, when
/// nothing is left, the separator too (Go's `.999`).
fn write_frac(out: &mut Vec<u8>, millis: u32, sep: u8, digits: u8, trim: bool) {
    let mut buf = [b'0'; 9];
    let mut n = millis * 1_000_000;
    for d in buf.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    let mut len = usize::from(digits);
    if trim {
        while len > 0 && buf[len - 1] == b'0' {
            len -= 1;
        }
        if len == 0 {
            return;
        }
    }
    out.push(sep);
    out.extend_from_slice(&buf[..len]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(f: &TimeFmt, ms: i64) -> String {
        let mut out = Vec::new();
        f.write(&mut out, ms);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn civil_fields() {
        let t = Civil::from_millis(1_700_000_000_123);
        assert_eq!(
            (t.year, t.month, t.day, t.hour, t.minute, t.second, t.millis),
            (2023, 11, 14, 22, 13, 20, 123)
        );
        assert_eq!((t.weekday, t.yday, t.unix), (2, 318, 1_700_000_000));
        let t = Civil::from_millis(-1);
        assert_eq!(
            (t.year, t.month, t.day, t.hour, t.minute, t.second, t.millis),
            (1969, 12, 31, 23, 59, 59, 999)
        );
        // The extremes must not overflow.
        for ms in [i64::MIN, i64::MAX] {
            let t = Civil::from_millis(ms);
            assert!((1..=12).contains(&t.month) && (1..=366).contains(&t.yday));
        }
    }

    #[test]
    fn strftime_matches_glibc_date() {
        // Expected outputs come from GNU date(1) in the C locale for the
        // same instants and this format.
        let format = "%a|%A|%b|%B|%c|%C|%d|%D|%e|%F|%G|%g|%H|%I|%j|%k|%l|%m|%M|%p|%P|%r|%R|%s|%S|%T|%u|%U|%V|%w|%W|%X|%y|%Y|%z|%Z|%h|%n|%t|%%|%-d|%_m|%^a|%Ey|%Od|%-j";
        let f = TimeFmt::strftime(format);
        let table: &[(i64, &str)] = &[
            (17_000, "Thu|Thursday|Jan|January|Thu Jan  1 00:00:17 1970|19|01|01/01/70| 1|1970-01-01|1970|70|00|12|001| 0|12|01|00|AM|am|12:00:17 AM|00:00|17|17|00:00:17|4|00|01|4|00|00:00:17|70|1970|+0000|UTC|Jan|\n|\t|%|1| 1|THU|70|01|1"),
            (1_700_000_000_000, "Tue|Tuesday|Nov|November|Tue Nov 14 22:13:20 2023|20|14|11/14/23|14|2023-11-14|2023|23|22|10|318|22|10|11|13|PM|pm|10:13:20 PM|22:13|1700000000|20|22:13:20|2|46|46|2|46|22:13:20|23|2023|+0000|UTC|Nov|\n|\t|%|14|11|TUE|23|14|318"),
            (-1_000, "Wed|Wednesday|Dec|December|Wed Dec 31 23:59:59 1969|19|31|12/31/69|31|1969-12-31|1970|70|23|11|365|23|11|12|59|PM|pm|11:59:59 PM|23:59|-1|59|23:59:59|3|52|01|3|52|23:59:59|69|1969|+0000|UTC|Dec|\n|\t|%|31|12|WED|69|31|365"),
            (951_782_400_000, "Tue|Tuesday|Feb|February|Tue Feb 29 00:00:00 2000|20|29|02/29/00|29|2000-02-29|2000|00|00|12|060| 0|12|02|00|AM|am|12:00:00 AM|00:00|951782400|00|00:00:00|2|09|09|2|09|00:00:00|00|2000|+0000|UTC|Feb|\n|\t|%|29| 2|TUE|00|29|60"),
            (1_609_459_200_000, "Fri|Friday|Jan|January|Fri Jan  1 00:00:00 2021|20|01|01/01/21| 1|2021-01-01|2020|20|00|12|001| 0|12|01|00|AM|am|12:00:00 AM|00:00|1609459200|00|00:00:00|5|00|53|5|00|00:00:00|21|2021|+0000|UTC|Jan|\n|\t|%|1| 1|FRI|21|01|1"),
            (1_735_516_800_000, "Mon|Monday|Dec|December|Mon Dec 30 00:00:00 2024|20|30|12/30/24|30|2024-12-30|2025|25|00|12|365| 0|12|12|00|AM|am|12:00:00 AM|00:00|1735516800|00|00:00:00|1|52|01|1|53|00:00:00|24|2024|+0000|UTC|Dec|\n|\t|%|30|12|MON|24|30|365"),
            (1_704_067_199_000, "Sun|Sunday|Dec|December|Sun Dec 31 23:59:59 2023|20|31|12/31/23|31|2023-12-31|2023|23|23|11|365|23|11|12|59|PM|pm|11:59:59 PM|23:59|1704067199|59|23:59:59|7|53|52|0|52|23:59:59|23|2023|+0000|UTC|Dec|\n|\t|%|31|12|SUN|23|31|365"),
        ];
        for &(ms, want) in table {
            assert_eq!(fmt(&f, ms), want, "{ms}");
        }
    }

    #[test]
    fn strftime_kgo_choices() {
        let table: &[(&str, i64, &str)] = &[
            // kgo's example, and its test "%d{strftime## %a ##}".
            ("%F", 1_700_000_000_123, "2023-11-14"),
            (" %a ", 17_000, " Thu "),
            // kgo prints %x day first and supports date(1)'s %+.
            ("%x", 1_700_000_000_123, "14/11/23"),
            ("%+", 1_700_000_000_123, "Tue Nov 14 22:13:20 UTC 2023"),
            // Unknown conversions and a trailing % are kept as written.
            ("%Q %-Q %", 0, "%Q %-Q %"),
            ("%-", 0, "%-"),
            ("%E", 0, "%E"),
            ("plain", 0, "plain"),
            ("", 0, ""),
        ];
        for &(format, ms, want) in table {
            assert_eq!(fmt(&TimeFmt::strftime(format), ms), want, "{format:?}");
        }
    }

    #[test]
    fn go_layouts() {
        let t = 1_700_000_000_123;
        let table: &[(&str, i64, &str)] = &[
            // kgo's example layout.
            ("2006-01-02T15:04:05Z07:00", t, "2023-11-14T22:13:20Z"),
            (
                "2006-01-02T15:04:05.000Z07:00",
                t,
                "2023-11-14T22:13:20.123Z",
            ),
            (
                "2006-01-02T15:04:05.000Z07:00",
                -1,
                "1969-12-31T23:59:59.999Z",
            ),
            (
                "Mon Jan _2 15:04:05 MST 2006",
                t,
                "Tue Nov 14 22:13:20 UTC 2023",
            ),
            (
                "Monday, January 2, 06 3:4:5 PM pm",
                t,
                "Tuesday, November 14, 23 10:13:20 PM pm",
            ),
            ("002 __2 _2006", t, "318 318 _2023"),
            (".999 ,000000 .9", t, ".123 ,123000 .1"),
            ("15:04:05.000000000", t, "22:13:20.123000000"),
            (".0000000000", t, ".123000000"),
            (".00a .001", t, ".12a .011"),
            ("05.999|", 17_000, "17|"),
            (
                "-0700 -07:00 -07 -070000 -07:00:00 Z0700 Z07 Z07:00:00 Z070000",
                t,
                "+0000 +00:00 +00 +000000 +00:00:00 Z Z Z Z",
            ),
            ("Janx Monx Month January2", t, "Janx Monx Month November14"),
            ("3:04 PM 03", 17_000, "12:00 AM 12"),
            ("1 01 2 02 _2", 17_000, "1 01 1 01  1"),
            ("no layout here", t, "no layout here"),
        ];
        for &(layout, ms, want) in table {
            assert_eq!(fmt(&TimeFmt::go(layout), ms), want, "{layout:?}");
        }
    }
}
