//! Timestamps formatted with Java `DateTimeFormatter` patterns, the language of
//! Firehose's `!{timestamp:...}` prefix expressions, evaluated in UTC or in a fixed
//! offset chosen by the caller (the time zone module turns a zone into an offset).
//!
//! Supported pattern letters (counts as in Java; more letters pad with zeros):
//! `u`/`y` year (`yy`: two digits, otherwise at least the count), `Y` week-based year and
//! `w` week of it (US rules, as Firehose's servers use: weeks start on Sunday, week 1
//! holds January 1st), `M`/`L` month (`M`, `MM`, `MMM` = `Jan`, `MMMM` = `January`),
//! `d` day of month, `D` day of year, `E` day of week (`E`..`EEE` = `Mon`, `EEEE` =
//! `Monday`), `e`/`c` numeric day of week (Sunday = 1), `a` AM/PM, `H` hour 0-23, `k`
//! hour 1-24, `h` hour 1-12, `K` hour 0-11, `m` minute, `s` second, `S` fraction of a
//! second (milliseconds, padded or cut to the count), `n` nanoseconds, `A` millisecond
//! of day, `Z`/`X`/`x` offsets, `G` era (`AD`). Text in single quotes is literal (`''`
//! is a quote); any other character that is not an ASCII letter is literal. Every other
//! letter (and an unterminated quote) is refused when the pattern is parsed, so a bad
//! prefix fails at CreateDeliveryStream, not at delivery.
//!
//! Invariant: `format` never fails and never panics once a pattern parsed.
#![forbid(unsafe_code)]

use std::fmt::Write;

/// A parsed pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeFormat {
    items: Vec<Item>,
}

/// One part of a parsed pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatternItem {
    /// Text written as it is.
    Literal(String),
    /// A field: its letter and how many times it was repeated.
    Field(char, usize),
}

use PatternItem as Item;

/// Civil date and time fields of an instant in some offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    /// Proleptic Gregorian year.
    pub year: i64,
    /// 1..=12.
    pub month: u32,
    /// 1..=31.
    pub day: u32,
    /// 0..=23.
    pub hour: u32,
    /// 0..=59.
    pub minute: u32,
    /// 0..=59.
    pub second: u32,
    /// 0..=999.
    pub millisecond: u32,
    /// Days since 1970-01-01 (of the local date).
    pub days: i64,
    /// The offset from UTC, seconds.
    pub offset_seconds: i32,
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) to days since 1970-01-01.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl Civil {
    /// The civil fields of `epoch_ms` at `offset_seconds` east of UTC.
    pub fn at(epoch_ms: i64, offset_seconds: i32) -> Self {
        let local_ms = epoch_ms + i64::from(offset_seconds) * 1000;
        let days = local_ms.div_euclid(86_400_000);
        let ms_of_day = local_ms.rem_euclid(86_400_000);
        let (year, month, day) = civil_from_days(days);
        Self {
            year,
            month,
            day,
            hour: (ms_of_day / 3_600_000) as u32,
            minute: (ms_of_day / 60_000 % 60) as u32,
            second: (ms_of_day / 1000 % 60) as u32,
            millisecond: (ms_of_day % 1000) as u32,
            days,
            offset_seconds,
        }
    }

    /// 1 = Monday .. 7 = Sunday.
    fn iso_weekday(&self) -> u32 {
        ((self.days + 3).rem_euclid(7) + 1) as u32
    }

    fn day_of_year(&self) -> u32 {
        (self.days - days_from_civil(self.year, 1, 1) + 1) as u32
    }

    /// Week-based year and week under US rules (Sunday first, week 1 holds Jan 1).
    fn us_week(&self) -> (i64, u32) {
        let sunday = self.days - i64::from(self.iso_weekday() % 7);
        let saturday = sunday + 6;
        let (week_year, _, _) = civil_from_days(saturday);
        let jan1 = days_from_civil(week_year, 1, 1);
        let week1_sunday = jan1 - (jan1 + 4).rem_euclid(7);
        (week_year, ((sunday - week1_sunday) / 7 + 1) as u32)
    }
}

const MONTHS: [&str; 12] = [
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
const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// The most letters of one field (Java allows up to 19 for numbers).
const FIELD_WIDTH_MAX: usize = 19;

impl TimeFormat {
    /// Parses a pattern; an unknown letter or an unterminated quote is an error naming
    /// it.
    pub fn parse(pattern: &str) -> Result<Self, String> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut items = Vec::new();
        let mut i = 0;
        let mut literal = String::new();
        while i < chars.len() {
            let c = chars[i];
            if c == '\'' {
                if chars.get(i + 1) == Some(&'\'') {
                    literal.push('\'');
                    i += 2;
                    continue;
                }
                let mut j = i + 1;
                loop {
                    match chars.get(j) {
                        None => return Err(format!("unterminated quote in {pattern:?}")),
                        Some('\'') if chars.get(j + 1) == Some(&'\'') => {
                            literal.push('\'');
                            j += 2;
                        }
                        Some('\'') => break,
                        Some(&other) => {
                            literal.push(other);
                            j += 1;
                        }
                    }
                }
                i = j + 1;
                continue;
            }
            if !c.is_ascii_alphabetic() {
                if matches!(c, '[' | ']' | '{' | '}' | '#') {
                    return Err(format!(
                        "{c:?} is reserved in DateTimeFormatter patterns (quote it)"
                    ));
                }
                literal.push(c);
                i += 1;
                continue;
            }
            let mut count = 1;
            while chars.get(i + count) == Some(&c) {
                count += 1;
            }
            let known = matches!(
                c,
                'u' | 'y'
                    | 'Y'
                    | 'w'
                    | 'M'
                    | 'L'
                    | 'd'
                    | 'D'
                    | 'E'
                    | 'e'
                    | 'c'
                    | 'a'
                    | 'H'
                    | 'k'
                    | 'h'
                    | 'K'
                    | 'm'
                    | 's'
                    | 'S'
                    | 'n'
                    | 'A'
                    | 'Z'
                    | 'X'
                    | 'x'
                    | 'G'
            );
            if !known {
                return Err(format!(
                    "pattern letter {c:?} is not supported (supported: u y Y w M L d D E e c a H k h K m s S n A Z X x G)"
                ));
            }
            let too_many = count > FIELD_WIDTH_MAX
                || (matches!(c, 'd' | 'H' | 'k' | 'h' | 'K' | 'm' | 's' | 'w') && count > 2)
                || (c == 'D' && count > 3)
                || (matches!(c, 'M' | 'L' | 'E' | 'G') && count > 5)
                || (c == 'a' && count > 1)
                || (matches!(c, 'X' | 'x' | 'Z') && count > 5);
            if too_many {
                return Err(format!("too many pattern letters {c:?} ({count})"));
            }
            if !literal.is_empty() {
                items.push(Item::Literal(std::mem::take(&mut literal)));
            }
            items.push(Item::Field(c, count));
            i += count;
        }
        if !literal.is_empty() {
            items.push(Item::Literal(literal));
        }
        Ok(Self { items })
    }

    /// The pattern's parts.
    pub fn items(&self) -> &[PatternItem] {
        &self.items
    }

    /// Formats `epoch_ms` at `offset_seconds` east of UTC.
    pub fn format(&self, epoch_ms: i64, offset_seconds: i32) -> String {
        let t = Civil::at(epoch_ms, offset_seconds);
        let mut out = String::new();
        for item in &self.items {
            match item {
                Item::Literal(s) => out.push_str(s),
                Item::Field(c, n) => field(&mut out, &t, *c, *n),
            }
        }
        out
    }
}

fn number(out: &mut String, value: i64, width: usize) {
    if value < 0 {
        out.push('-');
    }
    let _ = write!(out, "{:0width$}", value.unsigned_abs(), width = width);
}

fn offset(out: &mut String, seconds: i32, c: char, n: usize) {
    if seconds == 0 && c == 'X' {
        out.push('Z');
        return;
    }
    let sign = if seconds < 0 { '-' } else { '+' };
    let abs = seconds.unsigned_abs();
    let (h, m, s) = (abs / 3600, abs / 60 % 60, abs % 60);
    out.push(sign);
    match (c, n) {
        ('X' | 'x', 1) => {
            let _ = write!(out, "{h:02}");
            if m != 0 {
                let _ = write!(out, "{m:02}");
            }
        }
        ('X' | 'x', 2) | ('Z', 1..=3) => {
            let _ = write!(out, "{h:02}{m:02}");
        }
        ('X' | 'x', 3) | ('Z', 5) => {
            let _ = write!(out, "{h:02}:{m:02}");
        }
        ('X' | 'x', 4) => {
            let _ = write!(out, "{h:02}{m:02}");
            if s != 0 {
                let _ = write!(out, "{s:02}");
            }
        }
        _ => {
            let _ = write!(out, "{h:02}:{m:02}");
            if s != 0 {
                let _ = write!(out, ":{s:02}");
            }
        }
    }
}

fn field(out: &mut String, t: &Civil, c: char, n: usize) {
    match c {
        'u' | 'y' | 'Y' => {
            let year = if c == 'Y' { t.us_week().0 } else { t.year };
            if n == 2 {
                number(out, year.rem_euclid(100), 2);
            } else {
                number(out, year, n);
            }
        }
        'w' => number(out, i64::from(t.us_week().1), n),
        'M' | 'L' => match n {
            1 | 2 => number(out, i64::from(t.month), n),
            3 => out.push_str(&MONTHS[t.month as usize - 1][..3]),
            4 => out.push_str(MONTHS[t.month as usize - 1]),
            _ => out.push_str(&MONTHS[t.month as usize - 1][..1]),
        },
        'd' => number(out, i64::from(t.day), n),
        'D' => number(out, i64::from(t.day_of_year()), n),
        'E' => {
            let name = WEEKDAYS[t.iso_weekday() as usize - 1];
            match n {
                1..=3 => out.push_str(&name[..3]),
                4 => out.push_str(name),
                _ => out.push_str(&name[..1]),
            }
        }
        'e' | 'c' => number(out, i64::from(t.iso_weekday() % 7 + 1), n),
        'a' => out.push_str(if t.hour < 12 { "AM" } else { "PM" }),
        'H' => number(out, i64::from(t.hour), n),
        'k' => number(out, i64::from(if t.hour == 0 { 24 } else { t.hour }), n),
        'h' => number(
            out,
            i64::from(if t.hour % 12 == 0 { 12 } else { t.hour % 12 }),
            n,
        ),
        'K' => number(out, i64::from(t.hour % 12), n),
        'm' => number(out, i64::from(t.minute), n),
        's' => number(out, i64::from(t.second), n),
        'S' => {
            let ms = format!("{:03}", t.millisecond);
            if n <= 3 {
                out.push_str(&ms[..n]);
            } else {
                out.push_str(&ms);
                out.extend(std::iter::repeat_n('0', n - 3));
            }
        }
        'n' => number(out, i64::from(t.millisecond) * 1_000_000, n),
        'A' => number(
            out,
            i64::from(((t.hour * 60 + t.minute) * 60 + t.second) * 1000 + t.millisecond),
            n,
        ),
        'G' => out.push_str(if n == 4 {
            "Anno Domini"
        } else if n == 5 {
            "A"
        } else {
            "AD"
        }),
        'Z' | 'X' | 'x' => offset(out, t.offset_seconds, c, n),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2018-08-27T10:30:05.123Z, a Monday.
    const T: i64 = 1_535_365_805_123;

    fn fmt(p: &str) -> String {
        TimeFormat::parse(p).unwrap().format(T, 0)
    }

    #[test]
    fn common_firehose_patterns() {
        assert_eq!(fmt("yyyy/MM/dd/HH/"), "2018/08/27/10/");
        assert_eq!(fmt("yyyy-MM-dd-HH-mm-ss"), "2018-08-27-10-30-05");
        assert_eq!(
            fmt("'year='yyyy/'month='MM/'day='dd"),
            "year=2018/month=08/day=27"
        );
        assert_eq!(fmt("yy M d H m s SSS"), "18 8 27 10 30 5 123");
        assert_eq!(
            fmt("EEE EEEE MMM MMMM a hh K k D"),
            "Mon Monday Aug August AM 10 10 10 239"
        );
        assert_eq!(fmt("'it''s' '' yyyy"), "it's ' 2018");
        assert_eq!(fmt("X Z xxx"), "Z +0000 +00:00");
    }

    #[test]
    fn offsets_move_the_fields() {
        let f = TimeFormat::parse("yyyy-MM-dd HH:mm XXX").unwrap();
        assert_eq!(f.format(T, 9 * 3600), "2018-08-27 19:30 +09:00");
        assert_eq!(f.format(T, -11 * 3600), "2018-08-26 23:30 -11:00");
    }

    #[test]
    fn week_based_years_follow_us_rules() {
        // 2018-12-30 is a Sunday; its week holds 2019-01-01, so it is week 1 of 2019.
        let ms = days_from_civil(2018, 12, 30) * 86_400_000;
        let f = TimeFormat::parse("YYYY-ww yyyy").unwrap();
        assert_eq!(f.format(ms, 0), "2019-01 2018");
        let ms = days_from_civil(2018, 12, 29) * 86_400_000;
        assert_eq!(f.format(ms, 0), "2018-52 2018");
    }

    #[test]
    fn civil_round_trips_over_centuries() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn bad_patterns_are_refused() {
        for bad in [
            "yyyy-q",
            "'open",
            "HHH",
            "ddd",
            "aa",
            "{x}",
            "yyyyyyyyyyyyyyyyyyyy",
        ] {
            assert!(TimeFormat::parse(bad).is_err(), "{bad}");
        }
    }
}
