//! What the CLI prints on stdout: short human text by default, the server's JSON (one
//! document per command) with `--json`. Diagnostics and progress go to stderr.

use serde_json::{Value, json};

use super::build::{Artifact, sha256_hex};
use super::push::human_bytes;

pub struct Output {
    pub json: bool,
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_string(),
        Value::Array(a) => a.iter().map(text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// The list of UDFs in a `GET /api/v1/udfs` answer, whatever the wrapper key.
fn items<'a>(v: &'a Value, keys: &[&str]) -> Vec<&'a Value> {
    if let Some(a) = v.as_array() {
        return a.iter().collect();
    }
    for k in keys {
        if let Some(a) = v.get(*k).and_then(Value::as_array) {
            return a.iter().collect();
        }
    }
    Vec::new()
}

fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(headers.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row.clone());
    }
}

/// Prints an object's scalar fields as `key: value` lines (nested objects indented).
fn print_fields(v: &Value, indent: usize) {
    match v {
        Value::Object(map) => {
            for (k, val) in map {
                match val {
                    Value::Object(_) => {
                        println!("{:indent$}{k}:", "");
                        print_fields(val, indent + 2);
                    }
                    Value::Array(a) if a.iter().any(Value::is_object) => {
                        println!("{:indent$}{k}:", "");
                        for item in a {
                            println!("{:indent$}  -", "");
                            print_fields(item, indent + 4);
                        }
                    }
                    _ => println!("{:indent$}{k}: {}", "", text(val)),
                }
            }
        }
        other => println!("{:indent$}{}", "", text(other)),
    }
}

impl Output {
    fn emit_json(&self, v: &Value) {
        println!("{v}");
    }

    pub fn built(&self, a: &Artifact) {
        let lang = a.language.as_str();
        match (&a.wasm, &a.python) {
            (Some((path, bytes)), _) => {
                let sha = sha256_hex(bytes);
                if self.json {
                    self.emit_json(&json!({
                        "language": lang, "wasm": path, "size_bytes": bytes.len(), "sha256": sha,
                    }));
                } else {
                    println!("built {lang} UDF → {} ({}, sha256 {})", path.display(), human_bytes(bytes.len()), &sha[..12]);
                }
            }
            (None, Some(py)) => {
                if self.json {
                    self.emit_json(&json!({
                        "language": lang, "source": py.path, "size_bytes": py.text.len(),
                        "compiled_by": "server", "metadata": py.metadata,
                    }));
                } else {
                    let params: Vec<String> = py
                        .metadata
                        .parameters
                        .iter()
                        .map(|p| match &p.default {
                            Some(d) => format!("{}: {} = {d}", p.name, p.ty.as_str()),
                            None => format!("{}: {}", p.name, p.ty.as_str()),
                        })
                        .collect();
                    let exports: Vec<&str> = py.metadata.exports.iter().map(|e| e.as_str()).collect();
                    println!(
                        "python UDF {} ({}): {}({}); the server compiles it on `quidditch udf push`",
                        py.path.display(),
                        human_bytes(py.text.len()),
                        exports.join(" + "),
                        params.join(", ")
                    );
                }
            }
            (None, None) => {}
        }
    }

    pub fn pushed(&self, name: &str, version: &str, answer: &Value) {
        if self.json {
            return self.emit_json(answer);
        }
        let meta = answer.get("udf").unwrap_or(answer);
        let mut details = Vec::new();
        if let Some(k) = meta.get("kind").and_then(Value::as_str) {
            details.push(k.to_string());
        }
        if let Some(n) = meta.get("size_bytes").and_then(Value::as_u64) {
            details.push(human_bytes(n as usize));
        }
        if let Some(e) = meta.get("exports").filter(|e| e.as_array().is_some_and(|a| !a.is_empty())) {
            details.push(format!("exports: {}", text(e)));
        }
        if meta.get("signed").and_then(Value::as_bool) == Some(true) {
            details.push("signed".into());
        }
        if let Some(s) = meta.get("sha256").and_then(Value::as_str).filter(|s| s.len() >= 12) {
            details.push(format!("sha256 {}", &s[..12]));
        }
        println!("pushed {name}@{version} ({})", details.join(", "));
    }

    pub fn udf_list(&self, answer: &Value) {
        if self.json {
            return self.emit_json(answer);
        }
        let rows: Vec<Vec<String>> = items(answer, &["udfs", "items", "results"])
            .into_iter()
            .map(|u| {
                let version = u.get("latest_version").or_else(|| u.get("version")).unwrap_or(&Value::Null);
                vec![
                    text(u.get("name").unwrap_or(&Value::Null)),
                    text(version),
                    text(u.get("language").unwrap_or(&Value::Null)),
                    text(u.get("exports").unwrap_or(&Value::Null)),
                    text(u.get("description").unwrap_or(&Value::Null)),
                ]
            })
            .collect();
        if rows.is_empty() {
            println!("no UDFs registered");
        } else {
            print_table(&["NAME", "VERSION", "LANGUAGE", "EXPORTS", "DESCRIPTION"], &rows);
        }
    }

    pub fn udf_show(&self, answer: &Value) {
        if self.json {
            return self.emit_json(answer);
        }
        print_fields(answer, 0);
    }

    pub fn udf_versions(&self, name: &str, answer: &Value) {
        if self.json {
            return self.emit_json(answer);
        }
        let rows: Vec<Vec<String>> = items(answer, &["versions", "items"])
            .into_iter()
            .map(|v| match v {
                Value::String(s) => vec![s.clone(), String::new(), String::new()],
                v => vec![
                    text(v.get("version").unwrap_or(&Value::Null)),
                    text(v.get("created_at").unwrap_or(&Value::Null)),
                    text(v.get("sha256").unwrap_or(&Value::Null)),
                ],
            })
            .collect();
        if rows.is_empty() {
            println!("{name}: no versions");
        } else {
            print_table(&["VERSION", "CREATED", "SHA256"], &rows);
        }
    }

    pub fn udf_stats(&self, name: &str, answer: &Value) {
        if self.json {
            return self.emit_json(answer);
        }
        println!("{name}:");
        print_fields(answer, 2);
    }

    pub fn test_result(&self, name: &str, answer: &Value) {
        if self.json {
            return self.emit_json(answer);
        }
        let version = answer.get("version").and_then(Value::as_str).unwrap_or("?");
        let results: Vec<String> = match answer.get("result") {
            Some(Value::Object(r)) => r.iter().map(|(k, v)| format!("{k} = {}", text(v))).collect(),
            Some(other) => vec![text(other)],
            None => vec![],
        };
        let took = answer
            .get("duration_ns")
            .and_then(Value::as_u64)
            .map(|ns| format!("  ({:.3} ms)", ns as f64 / 1e6))
            .unwrap_or_default();
        println!("{name}@{version}: {}{took}", results.join(", "));
        for entry in answer.get("logs").and_then(Value::as_array).into_iter().flatten() {
            let level = entry.get("level").map(text).unwrap_or_default();
            let message = entry.get("message").map(text).unwrap_or_else(|| text(entry));
            println!("  log [{level}] {message}");
        }
        if answer.get("logs_truncated").and_then(Value::as_bool) == Some(true) {
            println!("  (logs truncated)");
        }
    }

    pub fn deleted(&self, name: &str, version: &str, answer: &Value) {
        if self.json {
            return self.emit_json(answer);
        }
        println!("deleted {name}@{version}");
    }
}
