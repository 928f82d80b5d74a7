//! Dates in queries: date math (`now-1d/d`, `2024-01-01||+1M`) over a date parsed with the
//! field's or the query's format (the one format parser is [`crate::date`]), and calendar
//! bucket starts. Results are epoch millis, UTC.

use serde_json::Value;

pub use crate::date::DateFormat;
use crate::date::{civil_from_days, days_from_civil, days_in_month};

/// Parses a query-side date value (string with optional date math, or a number as epoch
/// millis / seconds depending on the format) to epoch millis. The format itself is the
/// mapping side's parser ([`crate::date`]): one set of rules for both sides.
pub fn parse_date_millis(value: &Value, format: &DateFormat) -> Result<i64, String> {
    match value {
        Value::String(s) => parse_with_math(s.trim(), format),
        other => format.parse_value(other),
    }
}

fn parse_with_math(s: &str, format: &DateFormat) -> Result<i64, String> {
    let (base, math) = if let Some(rest) = s.strip_prefix("now") {
        (now_millis(), rest)
    } else if let Some((date, math)) = s.split_once("||") {
        (format.parse_str(date).map_err(|_| format!("failed to parse date [{date}]"))?, math)
    } else {
        return format.parse_str(s).map_err(|_| format!("failed to parse date [{s}]"));
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn default_fmt() -> DateFormat {
        DateFormat::default_format()
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
        let f = DateFormat::parse("yyyy/MM/dd HH:mm:ss||epoch_second").unwrap();
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
