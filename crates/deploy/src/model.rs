//! Hooks as the files describe them and as the server holds them.

use std::collections::BTreeMap;

use hookhaven_core::{SecretValue, PLACEHOLDER};

/// A secret value in a file: the placeholder ("keep the value on the server"), or a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalSecret {
    Placeholder,
    Value(SecretValue),
}

impl LocalSecret {
    pub fn from_text(text: String) -> anyhow::Result<LocalSecret> {
        if text == PLACEHOLDER {
            return Ok(LocalSecret::Placeholder);
        }
        Ok(LocalSecret::Value(
            SecretValue::new(text).map_err(|e| anyhow::anyhow!("{}", e.message()))?,
        ))
    }

    /// The text to send: the value, or the placeholder.
    pub fn wire(&self) -> &str {
        match self {
            LocalSecret::Placeholder => PLACEHOLDER,
            LocalSecret::Value(v) => v.expose(),
        }
    }
}

/// A hook read from the files, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalHook {
    /// Where it came from, for messages: a file, or `tenant.yaml hooks[2]`.
    pub source: String,
    pub id: Option<String>,
    pub name: String,
    /// The script's contents (already keyword-replaced).
    pub script: String,
    pub trigger_id: String,
    pub enabled: bool,
    pub dependencies: BTreeMap<String, String>,
    /// `None` when the file has no `secrets` key: the remote secrets are left alone.
    pub secrets: Option<BTreeMap<String, LocalSecret>>,
}

/// A hook as the server holds it, with its secret names (values are never readable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteHook {
    pub id: String,
    pub name: String,
    pub script: String,
    pub trigger_id: String,
    pub enabled: bool,
    pub dependencies: BTreeMap<String, String>,
    /// Sorted.
    pub secret_names: Vec<String>,
}

/// a0deploy lower-cases hook names and turns each whitespace character into `-` when it
/// reads files; this is the name it would send for `name`.
pub fn a0deploy_name(name: &str) -> String {
    name.to_lowercase()
        .chars()
        .map(|c| if c.is_whitespace() { '-' } else { c })
        .collect()
}

/// a0deploy's schema pattern for hook names: `^[^-\s][a-zA-Z0-9-\s]+[^-\s]$`.
pub fn a0deploy_accepts_name(name: &str) -> bool {
    let chars: Vec<char> = name.chars().collect();
    if chars.len() < 3 {
        return false;
    }
    let edge = |c: char| c != '-' && !c.is_whitespace();
    let inner = |c: &char| c.is_ascii_alphanumeric() || *c == '-' || c.is_whitespace();
    edge(chars[0]) && edge(chars[chars.len() - 1]) && chars[1..chars.len() - 1].iter().all(inner)
}

/// The file name a0deploy gives a hook's files (its `sanitize-filename`, with `-` as the
/// replacement). Hook names that pass Auth0's pattern come through unchanged.
pub fn file_stem(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '/' | '?' | '<' | '>' | '\\' | ':' | '*' | '|' | '"') {
                '-'
            } else {
                c
            }
        })
        .collect();
    if cleaned.is_empty() || cleaned == "." || cleaned == ".." {
        return "undefined".into();
    }
    cleaned
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a0deploy_name_rules() {
        assert_eq!(a0deploy_name("Post Reg"), "post-reg");
        assert_eq!(a0deploy_name("cce-hook"), "cce-hook");
        assert!(a0deploy_accepts_name("cce-hook"));
        assert!(a0deploy_accepts_name("My Hook 2"));
        assert!(!a0deploy_accepts_name("ab"));
        assert!(!a0deploy_accepts_name("-abc"));
        assert!(!a0deploy_accepts_name("abc-"));
    }

    #[test]
    fn file_stems() {
        assert_eq!(file_stem("My Hook"), "My Hook");
        assert_eq!(file_stem("a/b"), "a-b");
        assert_eq!(file_stem(".."), "undefined");
    }

    #[test]
    fn placeholder_is_not_a_value() {
        assert_eq!(
            LocalSecret::from_text(PLACEHOLDER.into()).unwrap(),
            LocalSecret::Placeholder
        );
        assert!(matches!(
            LocalSecret::from_text("_VALUE_NOT_SHOWN".into()).unwrap(),
            LocalSecret::Value(_)
        ));
    }
}
