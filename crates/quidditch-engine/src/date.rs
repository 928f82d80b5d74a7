//! Date formats — the one parser for both sides: `date` field values and date detection
//! (mapping side) and dates in queries, sorts and aggregations (query side, which adds date
//! math on top in `query_ast::date`).
//!
//! Supported formats (combine with `||`): `strict_date_optional_time` / `date_optional_time`
//! (ISO-8601: `2024-01-31`, `2024-01-31T10:00:00`, `…T10:00:00.123Z`, `…+02:00`),
//! `strict_date` / `date`, `epoch_millis`, `epoch_second`, and Java-style patterns built from
//! `yyyy`/`uuuu`, `M`/`MM`, `d`/`dd`, `H`/`HH`, `m`/`mm`, `s`/`ss`, `S…` (fraction digits), `Z`/`X`
//! (zone), `'quoted'` literals and other literal characters (e.g. `yyyy/MM/dd HH:mm:ss`). Any
//! other pattern letter is an error, never a literal. All dates are UTC epoch milliseconds.

use serde_json::Value;

/// The default format of a `date` field.
pub const DEFAULT_DATE_FORMAT: &str = "strict_date_optional_time||epoch_millis";

#[derive(Debug, Clone, PartialEq)]
enum Alt {
    Iso,
    IsoDateOnly,
    EpochMillis,
    EpochSecond,
    Pattern(Vec<Token>),
}

/// One element of a pattern; a number token carries its minimum and maximum digit count.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Year,
    Month(usize),
    Day(usize),
    Hour(usize),
    Minute(usize),
    Second(usize),
    /// Fraction of a second with this many digits (`SSS` = millis, `SSSSSS` = micros).
    Fraction(usize),
    Zone,
    Literal(char),
}

/// A parsed `format` string: alternatives tried in order.
#[derive(Debug, Clone, PartialEq)]
pub struct DateFormat {
    source: String,
    alts: Vec<Alt>,
}

impl DateFormat {
    /// The format of a `date` field without one.
    pub const DEFAULT: &'static str = DEFAULT_DATE_FORMAT;

    /// Parses `a||b||c`. Unknown pattern letters are an error.
    pub fn parse(spec: &str) -> Result<DateFormat, String> {
        let mut alts = Vec::new();
        for part in spec.split("||") {
            let part = part.trim();
            let alt = match part {
                "strict_date_optional_time" | "date_optional_time" | "strict_date_optional_time_nanos"
                | "date_time" | "strict_date_time" | "date_time_no_millis"
                | "strict_date_time_no_millis" | "basic_date_time" | "iso8601" => Alt::Iso,
                "strict_date" | "date" | "yyyy-MM-dd" => Alt::IsoDateOnly,
                "epoch_millis" => Alt::EpochMillis,
                "epoch_second" => Alt::EpochSecond,
                p if !p.is_empty() => Alt::Pattern(parse_pattern(p)?),
                _ => return Err("empty date format".into()),
            };
            alts.push(alt);
        }
        Ok(DateFormat { source: spec.to_string(), alts })
    }

    /// The default `strict_date_optional_time||epoch_millis`.
    pub fn default_format() -> DateFormat {
        DateFormat { source: DEFAULT_DATE_FORMAT.to_string(), alts: vec![Alt::Iso, Alt::EpochMillis] }
    }

    /// The format string as given.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Parses a JSON value (string or number) to epoch milliseconds.
    pub fn parse_value(&self, v: &Value) -> Result<i64, String> {
        match v {
            Value::String(s) => self.parse_str(s),
            Value::Number(n) => {
                // Numbers are epoch values, in the unit of the first epoch format (millis if none).
                let unit_secs = self.alts.iter().find_map(|a| match a {
                    Alt::EpochSecond => Some(true),
                    Alt::EpochMillis => Some(false),
                    _ => None,
                });
                let f = n.as_f64().ok_or_else(|| format!("invalid number [{n}]"))?;
                epoch_to_millis(f, unit_secs.unwrap_or(false))
            }
            other => Err(format!("cannot parse a {} as a date", crate::mapping::json_kind(other))),
        }
    }

    /// Parses a string with the first alternative that accepts it.
    pub fn parse_str(&self, s: &str) -> Result<i64, String> {
        let s = s.trim();
        for alt in &self.alts {
            let r = match alt {
                Alt::Iso => parse_iso(s, false),
                Alt::IsoDateOnly => parse_iso(s, true),
                Alt::EpochMillis => parse_epoch(s, false),
                Alt::EpochSecond => parse_epoch(s, true),
                Alt::Pattern(tokens) => parse_with_pattern(s, tokens),
            };
            if let Some(ms) = r {
                return Ok(ms);
            }
        }
        Err(format!("failed to parse date field [{s}]"))
    }

    /// Prints epoch milliseconds with the first alternative, as OpenSearch prints dates
    /// (aggregation keys with a `format`): `strict_date` → `2024-01-31`, ISO forms →
    /// `2024-01-31T10:00:00.000Z`, epoch formats → the number, patterns token by token (UTC).
    pub fn format_millis(&self, ms: i64) -> String {
        match self.alts.first() {
            None | Some(Alt::Iso) => format_millis(ms),
            Some(Alt::IsoDateOnly) => format_millis(ms)[..10].to_string(),
            Some(Alt::EpochMillis) => ms.to_string(),
            Some(Alt::EpochSecond) => ms.div_euclid(1000).to_string(),
            Some(Alt::Pattern(tokens)) => format_with_pattern(ms, tokens),
        }
    }
}

fn format_with_pattern(ms: i64, tokens: &[Token]) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let mut out = String::new();
    for t in tokens {
        match t {
            Token::Year => out.push_str(&format!("{y:04}")),
            Token::Month(w) => out.push_str(&format!("{m:0w$}", w = *w)),
            Token::Day(w) => out.push_str(&format!("{d:0w$}", w = *w)),
            Token::Hour(w) => out.push_str(&format!("{:0w$}", rem / 3_600_000, w = *w)),
            Token::Minute(w) => out.push_str(&format!("{:0w$}", (rem / 60_000) % 60, w = *w)),
            Token::Second(w) => out.push_str(&format!("{:0w$}", (rem / 1000) % 60, w = *w)),
            Token::Fraction(n) => {
                let millis = format!("{:03}", rem % 1000);
                let digits: String = millis.chars().chain(std::iter::repeat('0')).take(*n).collect();
                out.push_str(&digits);
            }
            Token::Zone => out.push('Z'),
            Token::Literal(c) => out.push(*c),
        }
    }
    out
}


/// Parses a date with a mapping's `format` (or the default format when `None`).
pub fn parse_date(v: &Value, format: Option<&str>) -> Result<i64, String> {
    match format {
        None => DateFormat::default_format().parse_value(v),
        Some(f) => DateFormat::parse(f)?.parse_value(v),
    }
}

/// Date detection for dynamic mapping: `strict_date_optional_time` or `yyyy/MM/dd HH:mm:ss`
/// / `yyyy/MM/dd` (OpenSearch's `dynamic_date_formats`). Bare numbers are never dates.
pub fn detect_date(s: &str) -> bool {
    let s = s.trim();
    // A plain year ("2024") parses as ISO but OpenSearch requires at least yyyy-MM-dd to
    // detect a date; bare numbers stay strings.
    if s.len() < 10 || !s.as_bytes()[..4].iter().all(u8::is_ascii_digit) {
        return false;
    }
    if parse_iso(s, false).is_some() {
        return true;
    }
    let slash = [
        "yyyy/MM/dd HH:mm:ss",
        "yyyy/MM/dd",
    ];
    slash
        .iter()
        .filter_map(|p| parse_pattern(p).ok())
        .any(|t| parse_with_pattern(s, &t).is_some())
}

fn epoch_to_millis(f: f64, seconds: bool) -> Result<i64, String> {
    if !f.is_finite() {
        return Err("date must be a finite number".into());
    }
    let ms = if seconds { f * 1000.0 } else { f };
    if ms.abs() > 8.64e15 {
        return Err(format!("date [{f}] is out of range"));
    }
    Ok(ms.trunc() as i64)
}

fn parse_epoch(s: &str, seconds: bool) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit() || b == b'-' || b == b'.') {
        return None;
    }
    let f: f64 = s.parse().ok()?;
    epoch_to_millis(f, seconds).ok()
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// The (proleptic Gregorian) calendar date `(year, month, day)` of a day number since
/// 1970-01-01: the inverse of [`days_from_civil`].
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days in month `m` (1-12) of year `y`; 0 for a month out of range.
pub(crate) fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

#[derive(Default)]
struct Parts {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    millis: i64,
    offset_secs: i64,
}

impl Parts {
    fn to_millis(&self) -> Option<i64> {
        if !(1..=12).contains(&self.month)
            || self.day < 1
            || self.day > days_in_month(self.year, self.month)
            || self.hour > 23
            || self.minute > 59
            || self.second > 59
        {
            return None;
        }
        let days = days_from_civil(self.year, self.month, self.day);
        let secs = days * 86_400 + self.hour * 3600 + self.minute * 60 + self.second - self.offset_secs;
        Some(secs * 1000 + self.millis)
    }
}

/// A tiny cursor over ASCII date text.
pub(crate) struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(s: &'a str) -> Cursor<'a> {
        Cursor { b: s.as_bytes(), i: 0 }
    }
    /// Reads `min..=max` ASCII digits as a number.
    pub(crate) fn digits(&mut self, min: usize, max: usize) -> Option<i64> {
        let start = self.i;
        while self.i < self.b.len() && self.i - start < max && self.b[self.i].is_ascii_digit() {
            self.i += 1;
        }
        if self.i - start < min {
            return None;
        }
        std::str::from_utf8(&self.b[start..self.i]).ok()?.parse().ok()
    }
    pub(crate) fn eat(&mut self, c: u8) -> bool {
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    /// Consumes `ch` (UTF-8 encoded) or fails; a failed parse is abandoned, so a partial
    /// match of a multi-byte character needs no rewind.
    pub(crate) fn eat_char(&mut self, ch: char) -> bool {
        let mut buf = [0u8; 4];
        ch.encode_utf8(&mut buf).bytes().all(|b| self.eat(b))
    }
    pub(crate) fn done(&self) -> bool {
        self.i == self.b.len()
    }
    fn zone(&mut self) -> Option<i64> {
        if self.eat(b'Z') || self.eat(b'z') {
            return Some(0);
        }
        let sign = if self.eat(b'+') {
            1
        } else if self.eat(b'-') {
            -1
        } else {
            return None;
        };
        let h = self.digits(2, 2)?;
        self.eat(b':');
        let m = if self.done() { 0 } else { self.digits(2, 2)? };
        Some(sign * (h * 3600 + m * 60))
    }
}

fn parse_iso(s: &str, date_only: bool) -> Option<i64> {
    let mut c = Cursor::new(s);
    let mut p = Parts { month: 1, day: 1, ..Default::default() };
    let neg = c.eat(b'-');
    p.year = c.digits(4, 4)?;
    if neg {
        p.year = -p.year;
    }
    if c.eat(b'-') {
        p.month = c.digits(2, 2)?;
        if c.eat(b'-') {
            p.day = c.digits(2, 2)?;
        }
    }
    if !c.done() && !date_only && (c.eat(b'T') || c.eat(b't')) {
        p.hour = c.digits(2, 2)?;
        if c.eat(b':') {
            p.minute = c.digits(2, 2)?;
            if c.eat(b':') {
                p.second = c.digits(2, 2)?;
                if c.eat(b'.') || c.eat(b',') {
                    let start = c.i;
                    let frac = c.digits(1, 9)?;
                    let n = c.i - start;
                    p.millis = if n >= 3 { frac / 10i64.pow(n as u32 - 3) } else { frac * 10i64.pow(3 - n as u32) };
                }
            }
        }
        if !c.done() {
            p.offset_secs = c.zone()?;
        }
    }
    if !c.done() {
        return None;
    }
    p.to_millis()
}

fn parse_pattern(p: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = p.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // `'T'` is a literal T; `''` a literal quote.
            let end = chars[i + 1..].iter().position(|x| *x == '\'').map(|e| e + i + 1).unwrap_or(chars.len());
            if end == i + 1 {
                out.push(Token::Literal('\''));
            }
            out.extend(chars[i + 1..end].iter().map(|c| Token::Literal(*c)));
            i = end + 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|x| **x == c).count();
        let tok = match (c, run) {
            ('y' | 'u', 4) => Token::Year,
            ('M', 1 | 2) => Token::Month(run),
            ('d', 1 | 2) => Token::Day(run),
            ('H', 1 | 2) => Token::Hour(run),
            ('m', 1 | 2) => Token::Minute(run),
            ('s', 1 | 2) => Token::Second(run),
            ('S', 1..=9) => Token::Fraction(run),
            ('Z' | 'X', _) => Token::Zone,
            (c, _) if c.is_ascii_alphabetic() => {
                return Err(format!("unsupported date pattern element [{}]", c.to_string().repeat(run)));
            }
            (c, _) => {
                out.extend(std::iter::repeat_n(Token::Literal(c), run));
                i += run;
                continue;
            }
        };
        out.push(tok);
        i += run;
    }
    Ok(out)
}

fn parse_with_pattern(s: &str, tokens: &[Token]) -> Option<i64> {
    let mut c = Cursor::new(s);
    let mut p = Parts { month: 1, day: 1, ..Default::default() };
    // A one-letter field (`M`) takes one or two digits, a two-letter one (`MM`) exactly two.
    let num = |c: &mut Cursor, run: usize| c.digits(run, 2);
    for t in tokens {
        match t {
            Token::Year => p.year = c.digits(4, 4)?,
            Token::Month(run) => p.month = num(&mut c, *run)?,
            Token::Day(run) => p.day = num(&mut c, *run)?,
            Token::Hour(run) => p.hour = num(&mut c, *run)?,
            Token::Minute(run) => p.minute = num(&mut c, *run)?,
            Token::Second(run) => p.second = num(&mut c, *run)?,
            Token::Fraction(digits) => {
                let frac = c.digits(*digits, *digits)?;
                let n = *digits as u32;
                p.millis = if n >= 3 { frac / 10i64.pow(n - 3) } else { frac * 10i64.pow(3 - n) };
            }
            Token::Zone => p.offset_secs = c.zone()?,
            Token::Literal(ch) => {
                if !c.eat_char(*ch) {
                    return None;
                }
            }
        }
    }
    if !c.done() {
        return None;
    }
    p.to_millis()
}

/// Formats epoch milliseconds as `2024-01-31T10:00:00.000Z`.
pub fn format_millis(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        (rem / 60_000) % 60,
        (rem / 1000) % 60,
        rem % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn iso_forms() {
        assert_eq!(parse_date(&json!("1970-01-01"), None), Ok(0));
        assert_eq!(parse_date(&json!("1970-01-02T00:00:01Z"), None), Ok(86_401_000));
        assert_eq!(parse_date(&json!("1970-01-01T01:00:00+01:00"), None), Ok(0));
        assert_eq!(parse_date(&json!("1970-01-01T00:00:00.5"), None), Ok(500));
        assert_eq!(parse_date(&json!("2024-02-29"), None), Ok(1_709_164_800_000));
        assert!(parse_date(&json!("2023-02-29"), None).is_err());
        assert!(parse_date(&json!("not a date"), None).is_err());
    }

    #[test]
    fn epoch_and_patterns() {
        assert_eq!(parse_date(&json!(1500), None), Ok(1500));
        assert_eq!(parse_date(&json!("1500000"), None), Ok(1_500_000));
        // Like OpenSearch, a 4-digit string is a year under strict_date_optional_time.
        assert_eq!(parse_date(&json!("1970"), None), Ok(0));
        assert_eq!(parse_date(&json!(2), Some("epoch_second")), Ok(2000));
        assert_eq!(parse_date(&json!("1970/01/01 00:00:02"), Some("yyyy/MM/dd HH:mm:ss")), Ok(2000));
        assert!(DateFormat::parse("qqq").is_err());
    }

    #[test]
    fn pattern_letters_quotes_fractions_and_zones() {
        let f = DateFormat::parse("uuuu-MM-dd'T'HH:mm:ss.SSSSSSSSSX").unwrap();
        assert_eq!(f.parse_str("1970-01-01T00:00:01.250000000Z"), Ok(1250));
        assert_eq!(f.parse_str("1970-01-01T01:00:01.250000000+01:00"), Ok(1250));
        let f = DateFormat::parse("yyyy-MM-dd HH:mm:ss.SSSSSS").unwrap();
        assert_eq!(f.parse_str("1970-01-01 00:00:00.123456"), Ok(123));
        let f = DateFormat::parse("d/M/yyyy").unwrap();
        assert_eq!(f.parse_str("2/1/1970"), Ok(86_400_000));
        assert!(f.parse_str("02/01/1970").is_ok());
        // Letters outside the supported set are errors, not literals (OpenSearch rejects them).
        assert!(DateFormat::parse("yyyy-MM-dd EEE").is_err());
        assert!(DateFormat::parse("yyyy'T'").is_ok());
    }

    #[test]
    fn detection_and_format() {
        assert!(detect_date("2024-01-31"));
        assert!(detect_date("2024-01-31T10:11:12Z"));
        assert!(detect_date("2024/01/31 10:11:12"));
        assert!(!detect_date("2024"));
        assert!(!detect_date("hello world"));
        assert_eq!(format_millis(1_709_164_800_123), "2024-02-29T00:00:00.123Z");
        let ms = 1_709_164_800_123;
        assert_eq!(DateFormat::parse("strict_date").unwrap().format_millis(ms), "2024-02-29");
        assert_eq!(DateFormat::parse("epoch_second").unwrap().format_millis(ms), "1709164800");
        assert_eq!(DateFormat::parse("yyyy/MM/dd HH:mm:ss.SSS").unwrap().format_millis(ms), "2024/02/29 00:00:00.123");
        for spec in ["strict_date", "yyyy/MM/dd HH:mm", "epoch_millis", "iso8601"] {
            let f = DateFormat::parse(spec).unwrap();
            let printed = f.format_millis(1_709_164_800_000);
            assert_eq!(f.parse_str(&printed).unwrap(), 1_709_164_800_000, "{spec}");
        }
    }
}
