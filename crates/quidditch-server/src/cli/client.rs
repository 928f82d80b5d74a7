//! The HTTP client: ureq, OpenSearch-style error bodies turned into [`CliError::Server`].

use std::time::Duration;

use serde_json::Value;

use super::{CliError, CliResult};

pub struct Client {
    base: String,
    agent: ureq::Agent,
    api_key: Option<String>,
}

/// Percent-encodes one path segment (UDF names and versions are plain, but a typo with a `/`
/// or space must not turn into another endpoint).
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'+') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Client {
    pub fn new(base: &str) -> Client {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(10))
            // Python uploads are compiled by the server (componentize-py): minutes, not seconds.
            .timeout_read(Duration::from_secs(900))
            .timeout_write(Duration::from_secs(300))
            .build();
        Client {
            base: base.trim_end_matches('/').to_string(),
            agent,
            api_key: std::env::var("QUIDDITCH_API_KEY").ok().filter(|k| !k.is_empty()),
        }
    }

    fn request(&self, method: &str, path: &str) -> ureq::Request {
        let req = self.agent.request(method, &format!("{}{path}", self.base));
        match &self.api_key {
            Some(key) => req.set("Authorization", &format!("ApiKey {key}")),
            None => req,
        }
    }

    pub fn get(&self, path: &str) -> CliResult<Value> {
        self.finish(self.request("GET", path).call())
    }

    pub fn delete(&self, path: &str) -> CliResult<Value> {
        self.finish(self.request("DELETE", path).call())
    }

    pub fn post_json(&self, path: &str, body: &Value) -> CliResult<Value> {
        let bytes = serde_json::to_vec(body).map_err(|e| CliError::Usage(format!("cannot encode request: {e}")))?;
        self.finish(self.request("POST", path).set("Content-Type", "application/json").send_bytes(&bytes))
    }

    fn finish(&self, result: Result<ureq::Response, ureq::Error>) -> CliResult<Value> {
        match result {
            Ok(resp) => read_json(resp).map_err(CliError::Transport),
            Err(ureq::Error::Status(status, resp)) => {
                let body = read_json(resp).unwrap_or_else(Value::String);
                Err(CliError::Server { status, body })
            }
            Err(ureq::Error::Transport(t)) => {
                Err(CliError::Transport(format!("cannot reach the server at {}: {t}", self.base)))
            }
        }
    }
}

fn read_json(resp: ureq::Response) -> Result<Value, String> {
    let text = resp.into_string().map_err(|e| format!("cannot read the server's answer: {e}"))?;
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&text).or(Ok(Value::String(text)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(super::segment("geo_filter"), "geo_filter");
        assert_eq!(super::segment("1.0.0+build"), "1.0.0+build");
        assert_eq!(super::segment("a/b c"), "a%2Fb%20c");
        assert_eq!(super::segment("é"), "%C3%A9");
    }
}
