//! Dates in queries: OpenSearch formats (`strict_date_optional_time`, `epoch_millis`,
//! `epoch_second`, Java-style patterns like `yyyy-MM-dd HH:mm:ss`, alternatives joined by
//! `||`) and simple date math (`now-1d/d`, `2024-01-01||+1M`). Results are epoch millis, UTC.

use serde_json::Value;

use crate::date::{Cursor, civil_from_days, days_from_civil, days_in_month};

/// A parsed `format` string: alternatives tried in order.
#[derive(Debug, Clone, PartialEq)]
pub struct DateFormat {
    source: String,
    alternatives: Vec<DateFormatKind>,
}

#[derive(Debug, Clone, PartialEq)]
enum DateFormatKind {
    Iso,
    EpochMillis,
    EpochSecond,
    Pattern(Vec<PatternItem>),
}

#[derive(Debug, Clone, PartialEq)]
enum PatternItem {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    Millis,
    Literal(char),
}

impl DateFormat {
    pub const DEFAULT: &'static str = "strict_date_optional_time||epoch_millis";

    pub fn parse(source: &str) -> DateFormat {
        let alternatives = source
            .split("||")
            .map(|alt| match alt.trim() {
                "epoch_millis" => DateFormatKind::EpochMillis,
                "epoch_second" => DateFormatKind::EpochSecond,
                "strict_date_optional_time" | "date_optional_time" | "strict_date_time"
                | "date_time" | "strict_date" | "date" | "basic_date_time" | "iso8601"
                | "strict_date_optional_time_nanos" | "date_time_no_millis"
                | "strict_date_time_no_millis" => DateFormatKind::Iso,
                pattern => DateFormatKind::Pattern(compile_pattern(pattern)),
            })
            .collect();
        DateFormat { source: source.to_string(), alternatives }
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Parses a date string (no math) with the first matching alternative.
    pub fn parse_str(&self, s: &str) -> Option<i64> {
        self.alternatives.iter().find_map(|alt| match alt {
            DateFormatKind::Iso => parse_iso(s),
            DateFormatKind::EpochMillis => parse_epoch(s, 1),
            DateFormatKind::EpochSecond => parse_epoch(s, 1000),
            DateFormatKind::Pattern(items) => parse_pattern(items, s),
        })
    }

    fn has_epoch(&self) -> Option<i64> {
        self.alternatives.iter().find_map(|a| match a {
            DateFormatKind::EpochMillis => Some(1),
            DateFormatKind::EpochSecond => Some(1000),
            _ => None,
        })
    }
}

/// Parses a query-side date value (string with optional date math, or a number as epoch
/// millis / seconds depending on the format) to epoch millis.
pub fn parse_date_millis(value: &Value, format: &DateFormat) -> Result<i64, String> {
    match value {
        Value::Number(n) => {
            let scale = format.has_epoch().unwrap_or(1);
            if let Some(i) = n.as_i64() {
                i.checked_mul(scale).ok_or_else(|| "date out of range".to_string())
            } else {
                n.as_f64().map(|f| (f * scale as f64) as i64).ok_or_else(|| "not a number".into())
            }
        }
        Value::String(s) => parse_with_math(s.trim(), format),
        other => Err(format!("expected a date string or number, got {other}")),
    }
}

fn parse_with_math(s: &str, format: &DateFormat) -> Result<i64, String> {
    let (base, math) = if let Some(rest) = s.strip_prefix("now") {
        (now_millis(), rest)
    } else if let Some((date, math)) = s.split_once("||") {
        (format.parse_str(date).ok_or_else(|| format!("failed to parse date [{date}]"))?, math)
    } else {
        return format.parse_str(s).ok_or_else(|| format!("failed to parse date [{s}]"));
    };
    apply_date_math(base, math)
}

fn now_millis() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    (now.unix_timestamp_nanos() / 1_000_000) as i64
}

fn apply_date_math(mut millis: i64, mut math: &str) -> Result<i64, String> {
    while !math.is_empty() {
        let Some(op_char) = math.chars().next() else { break };
        math = &math[op_char.len_utf8()..];
        let op = if op_char.is_ascii() { op_char as u8 } else { b'?' };
        match op {
            b'+' | b'-' => {
                let digits = math.bytes().take_while(|b| b.is_ascii_digit()).count();
                let n: i64 = if digits == 0 { 1 } else { math[..digits].parse().map_err(|_| "bad number")? };
                math = &math[digits..];
                let unit = math.chars().next().ok_or("missing date math unit")?;
                math = &math[unit.len_utf8()..];
                let n = if op == b'-' { -n } else { n };
                millis = add_unit(millis, n, unit)?;
            }
            b'/' => {
                let unit = math.chars().next().ok_or("missing rounding unit")?;
                math = &math[unit.len_utf8()..];
                millis = round_down(millis, unit)?;
            }
            _ => return Err(format!("unsupported date math [{op_char}]")),
        }
    }
    Ok(millis)
}

const SECOND: i64 = 1000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

fn add_unit(millis: i64, n: i64, unit: char) -> Result<i64, String> {
    let fixed = match unit {
        's' => SECOND,
        'm' => MINUTE,
        'h' | 'H' => HOUR,
        'd' => DAY,
        'w' => 7 * DAY,
        'M' | 'y' => {
            let (y, mo, d, rest) = split_civil(millis);
            let months = if unit == 'y' { n * 12 } else { n };
            let total = y * 12 + (mo - 1) + months;
            let (ny, nm) = (total.div_euclid(12), total.rem_euclid(12) + 1);
            let nd = d.min(days_in_month(ny, nm));
            return Ok(days_from_civil(ny, nm, nd) * DAY + rest);
        }
        other => return Err(format!("unknown date math unit [{other}]")),
    };
    Ok(millis + n * fixed)
}

fn round_down(millis: i64, unit: char) -> Result<i64, String> {
    let (y, mo, _d, _rest) = split_civil(millis);
    Ok(match unit {
        's' => millis - millis.rem_euclid(SECOND),
        'm' => millis - millis.rem_euclid(MINUTE),
        'h' | 'H' => millis - millis.rem_euclid(HOUR),
        'd' => millis - millis.rem_euclid(DAY),
        'w' => {
            // Weeks start on Monday; 1970-01-01 was a Thursday.
            let days = millis.div_euclid(DAY);
            (days - (days + 3).rem_euclid(7)) * DAY
        }
        'M' => days_from_civil(y, mo, 1) * DAY,
        'y' => days_from_civil(y, 1, 1) * DAY,
        other => return Err(format!("unknown rounding unit [{other}]")),
    })
}

fn split_civil(millis: i64) -> (i64, i64, i64, i64) {
    let days = millis.div_euclid(DAY);
    let rest = millis.rem_euclid(DAY);
    let (y, m, d) = civil_from_days(days);
    (y, m, d, rest)
}

/// Start of the calendar month (`M`), quarter (`q`) or year (`y`) containing `millis` (UTC).
pub fn calendar_bucket_start(millis: i64, unit: char) -> i64 {
    let (y, m, _d, _rest) = split_civil(millis);
    match unit {
        'q' => days_from_civil(y, (m - 1) / 3 * 3 + 1, 1) * DAY,
        'y' => days_from_civil(y, 1, 1) * DAY,
        _ => days_from_civil(y, m, 1) * DAY,
    }
}

/// Formats epoch millis as OpenSearch does for `key_as_string` (`2024-01-15T00:00:00.000Z`).
pub fn format_millis_iso(millis: i64) -> String {
    crate::date::format_millis(millis)
}

fn parse_epoch(s: &str, scale: i64) -> Option<i64> {
    if let Ok(i) = s.parse::<i64>() {
        return i.checked_mul(scale);
    }
    s.parse::<f64>().ok().filter(|f| f.is_finite()).map(|f| (f * scale as f64) as i64)
}

fn to_millis(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64, ms: i64) -> Option<i64> {
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * DAY + h * HOUR + mi * MINUTE + s * SECOND + ms)
}

/// `yyyy[-MM[-dd[(T| )HH[:mm[:ss[.SSS…]]]]]][Z|±HH[:]mm]`.
fn parse_iso(s: &str) -> Option<i64> {
    let mut c = Cursor::new(s);
    let neg = c.eat(b'-');
    let mut y = c.digits(4, 9)?;
    if neg {
        y = -y;
    }
    let (mut mo, mut d, mut h, mut mi, mut sec, mut ms) = (1, 1, 0, 0, 0, 0);
    if c.eat(b'-') {
        mo = c.digits(2, 2)?;
        if c.eat(b'-') {
            d = c.digits(2, 2)?;
            if c.eat(b'T') || c.eat(b' ') {
                h = c.digits(2, 2)?;
                if c.eat(b':') {
                    mi = c.digits(2, 2)?;
                    if c.eat(b':') {
                        sec = c.digits(2, 2)?;
                        if c.eat(b'.') || c.eat(b',') {
                            let start = c.pos();
                            let frac = c.digits(1, 9)?;
                            let len = (c.pos() - start) as u32;
                            ms = if len >= 3 { frac / 10i64.pow(len - 3) } else { frac * 10i64.pow(3 - len) };
                        }
                    }
                }
            }
        }
    }
    let mut offset = 0;
    if c.eat(b'Z') || c.eat(b'z') {
    } else if let Some(sign_byte @ (b'+' | b'-')) = c.peek() {
        let sign = if sign_byte == b'-' { -1 } else { 1 };
        c.eat(sign_byte);
        let oh = c.digits(2, 2)?;
        c.eat(b':');
        let om = c.digits(0, 2).unwrap_or(0);
        offset = sign * (oh * HOUR + om * MINUTE);
    }
    if !c.done() {
        return None;
    }
    Some(to_millis(y, mo, d, h, mi, sec, ms)? - offset)
}

fn compile_pattern(p: &str) -> Vec<PatternItem> {
    let mut items = Vec::new();
    let chars: Vec<char> = p.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let run = chars[i..].iter().take_while(|x| **x == c).count();
        match c {
            'y' | 'u' => items.push(PatternItem::Year),
            'M' => items.push(PatternItem::Month),
            'd' => items.push(PatternItem::Day),
            'H' => items.push(PatternItem::Hour),
            'm' => items.push(PatternItem::Minute),
            's' => items.push(PatternItem::Second),
            'S' => items.push(PatternItem::Millis),
            '\'' => {
                let end = chars[i + 1..].iter().position(|x| *x == '\'').map(|e| e + i + 1);
                let end = end.unwrap_or(chars.len());
                items.extend(chars[i + 1..end].iter().map(|c| PatternItem::Literal(*c)));
                i = end + 1;
                continue;
            }
            other => {
                items.extend(std::iter::repeat_n(PatternItem::Literal(other), run));
            }
        }
        i += run;
    }
    items
}

fn parse_pattern(items: &[PatternItem], s: &str) -> Option<i64> {
    let mut c = Cursor::new(s);
    let (mut y, mut mo, mut d, mut h, mut mi, mut sec, mut ms) = (1970, 1, 1, 0, 0, 0, 0);
    for item in items {
        match item {
            PatternItem::Year => y = c.digits(4, 4)?,
            PatternItem::Month => mo = c.digits(1, 2)?,
            PatternItem::Day => d = c.digits(1, 2)?,
            PatternItem::Hour => h = c.digits(1, 2)?,
            PatternItem::Minute => mi = c.digits(1, 2)?,
            PatternItem::Second => sec = c.digits(1, 2)?,
            PatternItem::Millis => ms = c.digits(1, 3)?,
            PatternItem::Literal(ch) => {
                if !c.eat_char(*ch) {
                    return None;
                }
            }
        }
    }
    if !c.done() {
        return None;
    }
    to_millis(y, mo, d, h, mi, sec, ms)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn default_fmt() -> DateFormat {
        DateFormat::parse(DateFormat::DEFAULT)
    }

    #[test]
    fn iso_variants() {
        let f = default_fmt();
        assert_eq!(parse_date_millis(&json!("1970-01-01"), &f), Ok(0));
        assert_eq!(parse_date_millis(&json!("2024-01-15T10:00:00Z"), &f), Ok(1705312800000));
        assert_eq!(parse_date_millis(&json!("2024-01-15T10:00:00.5Z"), &f), Ok(1705312800500));
        assert_eq!(parse_date_millis(&json!("2024-01-15T11:00:00+01:00"), &f), Ok(1705312800000));
        assert_eq!(parse_date_millis(&json!(1705312800000i64), &f), Ok(1705312800000));
        assert_eq!(parse_date_millis(&json!("1705312800000"), &f), Ok(1705312800000));
        assert!(parse_date_millis(&json!("2024-13-01"), &f).is_err());
        assert!(parse_date_millis(&json!("yesterday"), &f).is_err());
    }

    #[test]
    fn patterns_and_math() {
        let f = DateFormat::parse("yyyy/MM/dd HH:mm:ss||epoch_second");
        assert_eq!(parse_date_millis(&json!("2024/01/15 10:00:00"), &f), Ok(1705312800000));
        assert_eq!(parse_date_millis(&json!(1705312800), &f), Ok(1705312800000));
        let f = default_fmt();
        assert_eq!(parse_date_millis(&json!("2024-01-31||+1M"), &f), Ok(days_from_civil(2024, 2, 29) * DAY));
        assert_eq!(parse_date_millis(&json!("2024-01-15T10:00:00Z||/d"), &f), Ok(days_from_civil(2024, 1, 15) * DAY));
        assert_eq!(format_millis_iso(1705312800500), "2024-01-15T10:00:00.500Z");
        assert!(parse_date_millis(&json!("now€"), &f).is_err());
        assert!(parse_date_millis(&json!("now+€"), &f).is_err());
    }
}
