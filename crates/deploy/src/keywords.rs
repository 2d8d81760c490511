//! Keyword replacement, as auth0-deploy-cli (`a0deploy`) 8.x does it.
//!
//! * `@@KEY@@` becomes `JSON.stringify(value)`. A marker written inside single or double
//!   quotes (`'@@KEY@@'`, `"@@KEY@@"`) loses those quotes, so `"@@KEY@@"` becomes `"value"`.
//! * `##KEY##` becomes the value as text (`String(value)` in JavaScript).
//! * All `@@` markers are replaced first (key by key, in mapping order), then all `##`
//!   markers, so a value inserted earlier can be matched by a later key, as in a0deploy.
//! * Mappings come from `AUTH0_KEYWORD_REPLACE_MAPPINGS` and, unless turned off, from every
//!   environment variable, which wins over a mapping of the same name: a0deploy's `--env=true`
//!   default does `Object.assign(mappings, process.env)`. (a0deploy 8.44 skips the environment
//!   altogether when the mappings themselves come from an environment variable; that quirk is
//!   not copied, see docs/compatibility.md.)
//!
//! One deliberate difference: a0deploy builds a regular expression from each key, so a key
//! holding regex syntax matches more than itself. Keys here are matched literally.
//!
//! Mapping values are secrets: [`Mappings`] never prints them (its `Debug` shows keys only).

use serde_json::{Map, Number, Value};

/// Keyword mappings in the order a0deploy applies them.
#[derive(Clone, Default)]
pub struct Mappings {
    entries: Vec<(String, Value)>,
}

impl std::fmt::Debug for Mappings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mappings")
            .field(
                "keys",
                &self.entries.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// A `##KEY##` or `@@KEY@@` marker found in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    /// The marker as written, e.g. `##HOOK_API_KEY##`.
    pub text: String,
    /// The key inside it, e.g. `HOOK_API_KEY`.
    pub key: String,
    /// 1-based line in the file.
    pub line: usize,
}

impl Mappings {
    /// Mappings from an explicit object (`AUTH0_KEYWORD_REPLACE_MAPPINGS`) with the
    /// environment variables given laid over it (pass none to leave the environment out).
    pub fn new(
        explicit: Map<String, Value>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Mappings {
        let mut entries: Vec<(String, Value)> = explicit.into_iter().collect();
        for (k, v) in env {
            match entries.iter_mut().find(|(e, _)| *e == k) {
                Some(entry) => entry.1 = Value::String(v),
                None => entries.push((k, Value::String(v))),
            }
        }
        Mappings { entries }
    }

    /// Parses `AUTH0_KEYWORD_REPLACE_MAPPINGS` text: a JSON object.
    pub fn parse_object(text: &str) -> anyhow::Result<Map<String, Value>> {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => anyhow::bail!(
                "AUTH0_KEYWORD_REPLACE_MAPPINGS must be a JSON object, e.g. {{\"HOOK_API_KEY\": \"…\"}}"
            ),
            // serde_json's message names a position, never the content.
            Err(e) => anyhow::bail!("AUTH0_KEYWORD_REPLACE_MAPPINGS is not valid JSON: {e}"),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn contains(&self, key: &str) -> bool {
        self.entries.iter().any(|(k, _)| k == key)
    }

    /// Replaces every marker whose key has a mapping. Text without a mapping stays as it is.
    pub fn replace(&self, input: &str) -> String {
        let mut out = input.to_string();
        for (key, value) in &self.entries {
            let bare = format!("@@{key}@@");
            if out.contains(&bare) {
                let json = js_json_stringify(value);
                out = replace_array_marker(&out, &bare, &json);
            }
        }
        for (key, value) in &self.entries {
            let marker = format!("##{key}##");
            if out.contains(&marker) {
                out = out.replace(&marker, &js_to_string(value));
            }
        }
        out
    }

    /// The markers in `input` (the text before replacement) that no mapping resolves.
    pub fn unresolved(&self, input: &str) -> Vec<Marker> {
        find_markers(input)
            .into_iter()
            .filter(|m| !self.contains(&m.key))
            .collect()
    }
}

/// Replaces `'@@K@@'`, `"@@K@@"` and `@@K@@`, trying them in that order at each position,
/// like a0deploy's alternation regex does.
fn replace_array_marker(input: &str, bare: &str, json: &str) -> String {
    let single = format!("'{bare}'");
    let double = format!("\"{bare}\"");
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix(single.as_str()) {
            out.push_str(json);
            rest = after;
        } else if let Some(after) = rest.strip_prefix(double.as_str()) {
            out.push_str(json);
            rest = after;
        } else if let Some(after) = rest.strip_prefix(bare) {
            out.push_str(json);
            rest = after;
        } else {
            let c = rest.chars().next().unwrap_or_default();
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Finds `##KEY##` and `@@KEY@@` markers whose key is made of letters, digits and `_`.
pub fn find_markers(input: &str) -> Vec<Marker> {
    let mut found = Vec::new();
    for (index, line) in input.lines().enumerate() {
        for fence in ["##", "@@"] {
            let mut from = 0;
            while let Some(pos) = line[from..].find(fence) {
                let start = from + pos + 2;
                let key_len = line[start..]
                    .chars()
                    .take_while(|c| is_key_char(*c))
                    .map(char::len_utf8)
                    .sum::<usize>();
                let end = start + key_len;
                if key_len > 0 && line[end..].starts_with(fence) {
                    let key = &line[start..end];
                    found.push(Marker {
                        text: format!("{fence}{key}{fence}"),
                        key: key.to_string(),
                        line: index + 1,
                    });
                    from = end + 2;
                } else {
                    from = start;
                }
            }
        }
    }
    found.sort_by_key(|m| m.line);
    found
}

/// JavaScript's `String(value)`.
fn js_to_string(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => js_number(n),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::Null => String::new(),
                other => js_to_string(other),
            })
            .collect::<Vec<_>>()
            .join(","),
        Value::Object(_) => "[object Object]".into(),
    }
}

/// JavaScript's `JSON.stringify(value)`: compact, and integral floats without `.0`.
fn js_json_stringify(value: &Value) -> String {
    fn normalise(value: &Value) -> Value {
        match value {
            Value::Number(n) => {
                let text = js_number(n);
                serde_json::from_str(&text).unwrap_or_else(|_| value.clone())
            }
            Value::Array(items) => Value::Array(items.iter().map(normalise).collect()),
            Value::Object(map) => {
                Value::Object(map.iter().map(|(k, v)| (k.clone(), normalise(v))).collect())
            }
            other => other.clone(),
        }
    }
    serde_json::to_string(&normalise(value)).unwrap_or_default()
}

fn js_number(n: &Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
        Some(f) => f.to_string(),
        None => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mappings(value: Value) -> Mappings {
        let Value::Object(map) = value else { panic!() };
        Mappings::new(map, Vec::new())
    }

    #[test]
    fn string_markers_insert_the_text() {
        let m = mappings(json!({"KEY": "s3cret", "N": 5, "F": 1.5, "B": true}));
        assert_eq!(
            m.replace("a: '##KEY##' n=##N## f=##F## b=##B## ##KEY##"),
            "a: 's3cret' n=5 f=1.5 b=true s3cret"
        );
    }

    #[test]
    fn array_markers_insert_json_and_swallow_quotes() {
        let m = mappings(json!({"DEPS": {"lodash": "4.17.21"}, "S": "a\"b", "L": [1, "x"]}));
        assert_eq!(
            m.replace("d: @@DEPS@@\ne: '@@DEPS@@'\nf: \"@@S@@\"\ng: @@L@@"),
            "d: {\"lodash\":\"4.17.21\"}\ne: {\"lodash\":\"4.17.21\"}\nf: \"a\\\"b\"\ng: [1,\"x\"]"
        );
        // An opening quote without its closing one is left alone.
        assert_eq!(m.replace("'@@S@@\""), "'\"a\\\"b\"\"");
    }

    #[test]
    fn javascript_string_conversion() {
        let m =
            mappings(json!({"ARR": [1, [2, null], "s"], "OBJ": {"k": 1}, "NUL": null, "I": 2.0}));
        // What a0deploy 8.44 produced for the same mappings (checked with the real CLI).
        assert_eq!(
            m.replace("##ARR## ##OBJ## ##NUL## ##I## @@I@@"),
            "1,2,,s [object Object] null 2 2"
        );
    }

    #[test]
    fn array_markers_run_before_string_markers() {
        // `@@A@@` inserts text holding `##B##`, which the string pass then replaces; `##A##`
        // is replaced after `B`'s turn, so its `##B##` stays (keys go in mapping order).
        let m = mappings(json!({"B": "bee", "A": "##B##"}));
        assert_eq!(m.replace("@@A@@ ##A##"), "\"bee\" ##B##");
    }

    #[test]
    fn the_environment_wins_over_mappings() {
        // As a0deploy 8.44 did with a config file's mappings and `X=from-env` set.
        let Value::Object(map) = json!({"X": "from-mappings", "M": "m"}) else {
            panic!()
        };
        let m = Mappings::new(
            map,
            vec![("X".into(), "from-env".into()), ("Y".into(), "y".into())],
        );
        assert_eq!(m.replace("##X## ##Y## ##M##"), "from-env y m");
    }

    #[test]
    fn dollar_signs_in_values_are_literal() {
        let m = mappings(json!({"K": "a$&b$'c"}));
        assert_eq!(m.replace("##K##"), "a$&b$'c");
    }

    #[test]
    fn unresolved_markers_name_key_and_line() {
        let m = mappings(json!({"KNOWN": "x"}));
        let text =
            "a: ##KNOWN##\nb: '##MISSING##'\n# ## not a marker ##\nc: @@ALSO_MISSING@@ ##lower_1##";
        let found = m.unresolved(text);
        let got: Vec<(String, usize)> = found.iter().map(|m| (m.text.clone(), m.line)).collect();
        assert_eq!(
            got,
            vec![
                ("##MISSING##".to_string(), 2),
                ("##lower_1##".to_string(), 4),
                ("@@ALSO_MISSING@@".to_string(), 4),
            ]
        );
    }

    #[test]
    fn debug_never_shows_values() {
        let m = mappings(json!({"KEY": "super-secret-value"}));
        let shown = format!("{m:?}");
        assert!(shown.contains("KEY"));
        assert!(!shown.contains("super-secret-value"));
    }
}
