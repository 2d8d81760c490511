//! The two auth0-deploy-cli file formats, read and written.
//!
//! * **YAML**: `tenant.yaml` with a `hooks:` list; each hook's `script` is a path relative to
//!   the YAML file's folder (or `AUTH0_BASE_PATH`), written as `./hooks/<name>.js`.
//! * **Directory**: `<root>/hooks/<name>.json` per hook, `script` relative to `hooks/`,
//!   written as `./<name>.js` next to it.
//!
//! Export output is byte-for-byte what a0deploy 8.44 writes for the same server state
//! (js-yaml's layout and quoting for YAML, `JSON.stringify(…, null, 2)` plus a newline for
//! JSON), with hooks sorted by name and secret and dependency names sorted, so the same
//! state always gives the same bytes.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};

use hookhaven_core::hook::ALL_TRIGGERS;
use hookhaven_core::{HookName, SecretName, TriggerId, PLACEHOLDER};
use serde_json::{Map, Value};

use crate::keywords::Mappings;
use crate::model::{file_stem, LocalHook, LocalSecret, RemoteHook};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Directory,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "yaml" => Some(Format::Yaml),
            "directory" => Some(Format::Directory),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Yaml => "yaml",
            Format::Directory => "directory",
        }
    }
}

pub const HOOKS_DIR: &str = "hooks";
pub const TENANT_FILE: &str = "tenant.yaml";

/// One file of an export, relative to the output folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutFile {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
}

/// The files an export writes for these hooks. Secret values are always the placeholder.
pub fn render(format: Format, hooks: &[RemoteHook], export_ids: bool) -> Vec<OutFile> {
    let mut hooks: Vec<&RemoteHook> = hooks.iter().collect();
    hooks.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    let mut files = Vec::new();
    match format {
        Format::Yaml => {
            let mut yaml = String::from("hooks:");
            if hooks.is_empty() {
                yaml.push_str(" []\n");
            } else {
                yaml.push('\n');
            }
            for hook in &hooks {
                let stem = file_stem(&hook.name);
                files.push(OutFile {
                    path: Path::new(HOOKS_DIR).join(format!("{stem}.js")),
                    bytes: hook.script.as_bytes().to_vec(),
                });
                yaml.push_str(&format!("  - name: {}\n", yaml_scalar(&hook.name)));
                yaml.push_str(&format!(
                    "    script: {}\n",
                    yaml_scalar(&format!("./{HOOKS_DIR}/{stem}.js"))
                ));
                if export_ids {
                    yaml.push_str(&format!("    id: {}\n", yaml_scalar(&hook.id)));
                }
                yaml_map(&mut yaml, "dependencies", hook.dependencies.iter());
                yaml.push_str(&format!("    enabled: {}\n", hook.enabled));
                yaml_map(
                    &mut yaml,
                    "secrets",
                    hook.secret_names.iter().map(|n| (n, &PLACEHOLDER)),
                );
                yaml.push_str(&format!(
                    "    triggerId: {}\n",
                    yaml_scalar(&hook.trigger_id)
                ));
            }
            files.push(OutFile {
                path: PathBuf::from(TENANT_FILE),
                bytes: yaml.into_bytes(),
            });
        }
        Format::Directory => {
            for hook in &hooks {
                let stem = file_stem(&hook.name);
                files.push(OutFile {
                    path: Path::new(HOOKS_DIR).join(format!("{stem}.js")),
                    bytes: hook.script.as_bytes().to_vec(),
                });
                let mut object = Map::new();
                if export_ids {
                    object.insert("id".into(), hook.id.clone().into());
                }
                object.insert("name".into(), hook.name.clone().into());
                object.insert("script".into(), format!("./{stem}.js").into());
                object.insert(
                    "dependencies".into(),
                    Value::Object(
                        hook.dependencies
                            .iter()
                            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                            .collect(),
                    ),
                );
                object.insert("enabled".into(), hook.enabled.into());
                object.insert("triggerId".into(), hook.trigger_id.clone().into());
                object.insert(
                    "secrets".into(),
                    Value::Object(
                        hook.secret_names
                            .iter()
                            .map(|n| (n.clone(), Value::String(PLACEHOLDER.into())))
                            .collect(),
                    ),
                );
                let mut json =
                    serde_json::to_string_pretty(&Value::Object(object)).unwrap_or_default();
                json.push('\n');
                files.push(OutFile {
                    path: Path::new(HOOKS_DIR).join(format!("{stem}.json")),
                    bytes: json.into_bytes(),
                });
            }
        }
    }
    files
}

fn yaml_map<'a, V: AsRef<str> + 'a>(
    out: &mut String,
    key: &str,
    entries: impl Iterator<Item = (&'a String, V)>,
) {
    let mut sorted: Vec<(&String, V)> = entries.collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    if sorted.is_empty() {
        out.push_str(&format!("    {key}: {{}}\n"));
        return;
    }
    out.push_str(&format!("    {key}:\n"));
    for (k, v) in sorted {
        out.push_str(&format!(
            "      {}: {}\n",
            yaml_scalar(k),
            yaml_scalar(v.as_ref())
        ));
    }
}

/// A string as js-yaml writes it: plain when that reads back as the same string, single
/// quotes when it would not, double quotes (JSON escapes, valid YAML) for line breaks and
/// control characters.
pub fn yaml_scalar(s: &str) -> String {
    if plain_is_safe(s) {
        return s.to_string();
    }
    if s.chars().all(yaml_keeps) {
        return format!("'{}'", s.replace('\'', "''"));
    }
    let json = serde_json::to_string(s).unwrap_or_default();
    if json.chars().all(yaml_keeps) {
        return json;
    }
    // JSON leaves DEL, C1 controls, U+2028/U+2029 and U+FFFE/U+FFFF as they are; a YAML
    // reader refuses or folds them, so they get YAML's escapes (as js-yaml writes them).
    let mut out = String::with_capacity(json.len() + 8);
    for c in json.chars() {
        match c {
            c if yaml_keeps(c) => out.push(c),
            '\u{85}' => out.push_str("\\N"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if u32::from(c) <= 0xff => out.push_str(&format!("\\x{:02X}", u32::from(c))),
            c => out.push_str(&format!("\\u{:04X}", u32::from(c))),
        }
    }
    out
}

/// Whether a YAML reader (libyaml, js-yaml) takes this character as it is inside a quoted
/// scalar: printable in YAML's sense, and not one of the line breaks it would fold.
fn yaml_keeps(c: char) -> bool {
    let printable = matches!(
        c,
        '\u{20}'..='\u{7e}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..
    );
    printable && !matches!(c, '\u{2028}' | '\u{2029}')
}

fn plain_is_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    let last = s.chars().last().unwrap_or(first);
    let first_ok =
        first.is_ascii_alphanumeric() || matches!(first, '_' | '.' | '/' | '^' | '~' | '$' | '(');
    let inner_ok = |c: char| {
        c.is_ascii_alphanumeric()
            || matches!(
                c,
                ' ' | '-' | '_' | '.' | '/' | '^' | '~' | '+' | '@' | '$' | '(' | ')' | '=' | '<'
            )
    };
    first_ok && last != ' ' && s.chars().all(inner_ok) && !looks_like_other_type(s)
}

/// Whether a plain scalar would load as something other than a string, in js-yaml (which
/// a0deploy reads with) or in a YAML 1.1 reader.
fn looks_like_other_type(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "null" | "~" | "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | ".inf" | ".nan"
    ) {
        return true;
    }
    let has_digit = s.chars().any(|c| c.is_ascii_digit());
    if has_digit && (s.parse::<f64>().is_ok() || s.replace('_', "").parse::<f64>().is_ok()) {
        return true;
    }
    if lower.starts_with("0x") || lower.starts_with("0o") || lower.starts_with("0b") {
        return true;
    }
    // Timestamps: js-yaml loads `2024-01-31` (and longer forms) as a Date.
    let b = s.as_bytes();
    if b.len() >= 8 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' {
        return true;
    }
    !matches!(
        serde_yaml_ng::from_str::<serde_yaml_ng::Value>(s),
        Ok(serde_yaml_ng::Value::String(ref back)) if back == s
    )
}

// ---------------------------------------------------------------------------------------
// Reading

/// What the files say.
#[derive(Debug)]
pub struct Loaded {
    pub format: Format,
    /// `None` when the files have no `hooks` at all: then nothing is managed (as in a0deploy).
    pub hooks: Option<Vec<LocalHook>>,
    pub warnings: Vec<String>,
}

/// Everything wrong with the files, reported together before any change is made.
#[derive(Debug)]
pub struct Problems(pub Vec<String>);

impl std::fmt::Display for Problems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.len();
        write!(
            f,
            "{n} problem{} in the input files; nothing was changed on the server:",
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.0 {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

/// Reads a `tenant.yaml` (`.yaml`/`.yml`) or a directory, as a0deploy decides by the path.
pub fn load(
    input: &Path,
    base_path: Option<&Path>,
    mappings: &Mappings,
) -> Result<Loaded, Problems> {
    let mut reader = Reader {
        mappings,
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    let (format, hooks) = if input.is_dir() {
        (Format::Directory, reader.directory(input))
    } else {
        let ext = input.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext != "yaml" && ext != "yml" {
            let what = if input.exists() {
                "is neither a directory nor a .yaml/.yml file"
            } else {
                "does not exist"
            };
            return Err(Problems(vec![format!("{} {what}", input.display())]));
        }
        (Format::Yaml, reader.yaml(input, base_path))
    };
    if let Some(hooks) = &hooks {
        reader.check_set(hooks);
    }
    if reader.problems.is_empty() {
        Ok(Loaded {
            format,
            hooks,
            warnings: reader.warnings,
        })
    } else {
        Err(Problems(reader.problems))
    }
}

struct Reader<'a> {
    mappings: &'a Mappings,
    problems: Vec<String>,
    warnings: Vec<String>,
}

const HOOK_KEYS: [&str; 7] = [
    "name",
    "script",
    "triggerId",
    "enabled",
    "dependencies",
    "secrets",
    "id",
];

impl Reader<'_> {
    /// Reads a text file, reports its unresolved keywords, and returns it replaced.
    fn read_replaced(&mut self, path: &Path) -> Option<String> {
        let raw = match std::fs::read_to_string(path) {
            Ok(raw) => raw,
            Err(e) => {
                self.problems
                    .push(format!("cannot read {}: {e}", path.display()));
                return None;
            }
        };
        let unresolved = self.mappings.unresolved(&raw);
        for marker in &unresolved {
            self.problems.push(format!(
                "unresolved keyword {} in {} line {}: set {} in the environment or in AUTH0_KEYWORD_REPLACE_MAPPINGS",
                marker.text,
                path.display(),
                marker.line,
                marker.key
            ));
        }
        if !unresolved.is_empty() {
            return None;
        }
        Some(self.mappings.replace(&raw))
    }

    fn yaml(&mut self, file: &Path, base_path: Option<&Path>) -> Option<Vec<LocalHook>> {
        let text = self.read_replaced(file)?;
        let doc: serde_yaml_ng::Value = match serde_yaml_ng::from_str(&text) {
            Ok(doc) => doc,
            // libyaml's messages give a position and the kind of error, never the content.
            Err(e) => {
                self.problems
                    .push(format!("{} is not valid YAML: {e}", file.display()));
                return None;
            }
        };
        let doc = match doc {
            serde_yaml_ng::Value::Null => return None,
            serde_yaml_ng::Value::Mapping(m) => m,
            _ => {
                self.problems.push(format!(
                    "{}: the top level must be a mapping with a `hooks:` key",
                    file.display()
                ));
                return None;
            }
        };
        let mut others = Vec::new();
        let mut hooks_value = None;
        for (k, v) in doc {
            match k.as_str() {
                Some("hooks") => hooks_value = Some(v),
                Some(other) => others.push(other.to_string()),
                None => others.push("(a non-string key)".into()),
            }
        }
        if !others.is_empty() {
            self.warnings.push(format!(
                "{}: ignoring {} (Hookhaven manages hooks only)",
                file.display(),
                others.join(", ")
            ));
        }
        let hooks_value = match hooks_value {
            None | Some(serde_yaml_ng::Value::Null) => return None,
            Some(v) => v,
        };
        let serde_yaml_ng::Value::Sequence(items) = hooks_value else {
            self.problems
                .push(format!("{}: `hooks` must be a list", file.display()));
            return None;
        };
        let base = match base_path {
            Some(b) => b.to_path_buf(),
            None => file
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from(".")),
        };
        let mut hooks = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            let source = format!("{} hooks[{i}]", file.display());
            let value = match serde_json::to_value(&item) {
                Ok(v) => v,
                Err(_) => {
                    self.problems
                        .push(format!("{source}: must be a mapping with string keys"));
                    continue;
                }
            };
            if let Some(hook) = self.hook(source, value, &base, &base) {
                hooks.push(hook);
            }
        }
        Some(hooks)
    }

    fn directory(&mut self, root: &Path) -> Option<Vec<LocalHook>> {
        let folder = root.join(HOOKS_DIR);
        if !folder.exists() {
            self.warnings.push(format!(
                "{} has no {HOOKS_DIR}/ folder: no hooks to import",
                root.display()
            ));
            return None;
        }
        if !folder.is_dir() {
            self.problems
                .push(format!("{} is not a folder", folder.display()));
            return None;
        }
        let mut files: Vec<PathBuf> = match std::fs::read_dir(&folder) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file() && p.extension().and_then(|e| e.to_str()) == Some("json"))
                .collect(),
            Err(e) => {
                self.problems
                    .push(format!("cannot read {}: {e}", folder.display()));
                return None;
            }
        };
        files.sort();
        let mut hooks = Vec::new();
        for file in files {
            let Some(text) = self.read_replaced(&file) else {
                continue;
            };
            let value: Value = match serde_json::from_str(&text) {
                Ok(v) => v,
                // serde_json's messages give a position, never the content.
                Err(e) => {
                    self.problems
                        .push(format!("{} is not valid JSON: {e}", file.display()));
                    continue;
                }
            };
            if let Some(hook) = self.hook(file.display().to_string(), value, &folder, root) {
                hooks.push(hook);
            }
        }
        Some(hooks)
    }

    /// Validates one hook object; `base` is where its script path starts, `root` the
    /// folder the script should stay inside.
    fn hook(
        &mut self,
        source: String,
        value: Value,
        base: &Path,
        root: &Path,
    ) -> Option<LocalHook> {
        let Value::Object(map) = value else {
            self.problems
                .push(format!("{source}: a hook must be a mapping/object"));
            return None;
        };
        let before = self.problems.len();
        let label = match map.get("name").and_then(Value::as_str) {
            Some(n) => format!("{source} (\"{n}\")"),
            None => source.clone(),
        };
        for key in map.keys() {
            if !HOOK_KEYS.contains(&key.as_str()) {
                self.problems.push(format!(
                    "{label}: unknown key `{key}` (a hook has {})",
                    HOOK_KEYS.join(", ")
                ));
            }
        }
        let name = match map.get("name") {
            Some(Value::String(n)) => match HookName::parse(n) {
                Ok(_) => Some(n.clone()),
                Err(_) => {
                    self.problems.push(format!(
                        "{label}: name \"{n}\" is not a valid hook name (letters, digits, spaces and -, starting and ending with a letter or digit, at most 128 characters)"
                    ));
                    None
                }
            },
            Some(_) => {
                self.problems
                    .push(format!("{label}: `name` must be a string"));
                None
            }
            None => {
                self.problems.push(format!("{label}: `name` is missing"));
                None
            }
        };
        let trigger_id = match map.get("triggerId") {
            Some(Value::String(t)) if TriggerId::parse(t).is_some() => Some(t.clone()),
            Some(Value::String(t)) => {
                let all: Vec<&str> = ALL_TRIGGERS.iter().map(|t| t.as_str()).collect();
                self.problems.push(format!(
                    "{label}: triggerId \"{t}\" is not one of {}",
                    all.join(", ")
                ));
                None
            }
            Some(_) => {
                self.problems
                    .push(format!("{label}: `triggerId` must be a string"));
                None
            }
            None => {
                self.problems
                    .push(format!("{label}: `triggerId` is missing"));
                None
            }
        };
        let enabled = match map.get("enabled") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.problems
                    .push(format!("{label}: `enabled` must be true or false"));
                false
            }
        };
        let dependencies = match map.get("dependencies") {
            None => BTreeMap::new(),
            Some(Value::Object(deps)) => {
                let mut out = BTreeMap::new();
                for (k, v) in deps {
                    match v {
                        Value::String(s) => {
                            out.insert(k.clone(), s.clone());
                        }
                        _ => self.problems.push(format!(
                            "{label}: dependencies.{k} must be a version string (quote it, e.g. '1.0')"
                        )),
                    }
                }
                out
            }
            Some(_) => {
                self.problems
                    .push(format!("{label}: `dependencies` must be a mapping"));
                BTreeMap::new()
            }
        };
        let secrets = match map.get("secrets") {
            None => None,
            Some(Value::Object(entries)) => {
                let mut out = BTreeMap::new();
                for (k, v) in entries {
                    if SecretName::parse(k).is_err() {
                        self.problems.push(format!(
                            "{label}: secret name \"{k}\" is not valid (1 to 255 characters, no control characters)"
                        ));
                        continue;
                    }
                    // Messages name the secret and the type, never a value.
                    match v {
                        Value::String(s) if s.is_empty() => self.problems.push(format!(
                            "{label}: secrets.{k} is empty (remove the key to delete the secret, or write {PLACEHOLDER} to keep it)"
                        )),
                        Value::String(s) => match LocalSecret::from_text(s.clone()) {
                            Ok(secret) => {
                                out.insert(k.clone(), secret);
                            }
                            Err(e) => self.problems.push(format!("{label}: secrets.{k}: {e}")),
                        },
                        Value::Null => self.problems.push(format!(
                            "{label}: secrets.{k} has no value (remove the key to delete the secret, or write {PLACEHOLDER} to keep it)"
                        )),
                        other => self.problems.push(format!(
                            "{label}: secrets.{k} must be a string, found {} (quote it)",
                            type_name(other)
                        )),
                    }
                }
                Some(out)
            }
            Some(_) => {
                self.problems.push(format!(
                    "{label}: `secrets` must be a mapping (leave the key out to keep the server's secrets, or write `secrets: {{}}` to delete them all)"
                ));
                None
            }
        };
        let id = match map.get("id") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.problems
                    .push(format!("{label}: `id` must be a string"));
                None
            }
        };
        let script = match map.get("script") {
            Some(Value::String(path)) => self.script(&label, path, base, root),
            Some(_) => {
                self.problems.push(format!(
                    "{label}: `script` must be the path of the hook's .js file"
                ));
                None
            }
            None => {
                self.problems.push(format!("{label}: `script` is missing"));
                None
            }
        };
        if self.problems.len() > before {
            return None;
        }
        Some(LocalHook {
            source,
            id,
            name: name?,
            script: script?,
            trigger_id: trigger_id?,
            enabled,
            dependencies,
            secrets,
        })
    }

    fn script(&mut self, label: &str, path: &str, base: &Path, root: &Path) -> Option<String> {
        let normalized = path.replace('\\', "/");
        let full = base.join(&normalized);
        if !within(root, &full) {
            self.warnings.push(format!(
                "{label}: script \"{path}\" is outside {}",
                root.display()
            ));
        }
        if !full.is_file() {
            self.problems.push(format!(
                "{label}: script file {} does not exist",
                full.display()
            ));
            return None;
        }
        let script = self.read_replaced(&full)?;
        if script.is_empty() {
            self.problems
                .push(format!("{label}: script file {} is empty", full.display()));
            return None;
        }
        Some(script)
    }

    /// Checks across hooks: unique names, one enabled hook per trigger.
    fn check_set(&mut self, hooks: &[LocalHook]) {
        let mut names: HashMap<&str, &str> = HashMap::new();
        for hook in hooks {
            if let Some(first) = names.insert(&hook.name, &hook.source) {
                self.problems.push(format!(
                    "hook name \"{}\" appears twice: {first} and {}",
                    hook.name, hook.source
                ));
            }
        }
        let mut enabled: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for hook in hooks.iter().filter(|h| h.enabled) {
            enabled
                .entry(&hook.trigger_id)
                .or_default()
                .push(&hook.name);
        }
        for (trigger, names) in enabled {
            if names.len() > 1 {
                self.problems.push(format!(
                    "only one hook can be enabled per trigger, and {} are enabled on {trigger}: {}",
                    names.len(),
                    names.join(", ")
                ));
            }
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Whether `path` stays inside `root`, by its components (no filesystem access).
fn within(root: &Path, path: &Path) -> bool {
    let normal = |p: &Path| {
        let mut out: Vec<Component> = Vec::new();
        for c in p.components() {
            match c {
                Component::CurDir => {}
                Component::ParentDir => {
                    if matches!(out.last(), Some(Component::Normal(_))) {
                        out.pop();
                    } else {
                        out.push(c);
                    }
                }
                other => out.push(other),
            }
        }
        out.into_iter().collect::<PathBuf>()
    };
    normal(path).starts_with(normal(root))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookhaven_core::SecretValue;

    fn remote(name: &str, secrets: &[&str]) -> RemoteHook {
        RemoteHook {
            id: format!("id-{name}"),
            name: name.into(),
            script: format!("module.exports = function () {{ /* {name} */ }};\n"),
            trigger_id: "credentials-exchange".into(),
            enabled: false,
            dependencies: BTreeMap::from([
                ("lodash".to_string(), "4.17.21".to_string()),
                ("@scope/pkg".to_string(), "1.0".to_string()),
            ]),
            secret_names: secrets.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn write_all(dir: &Path, files: &[OutFile]) {
        for f in files {
            let path = dir.join(&f.path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, &f.bytes).unwrap();
        }
    }

    #[test]
    fn yaml_matches_what_a0deploy_writes() {
        // The bytes a0deploy 8.44 wrote for this state (see docs/compatibility.md).
        let mut a = remote("cce-hook", &["API_KEY", "B_KEY"]);
        a.enabled = true;
        a.script = "x".into();
        let mut b = remote("pre-reg", &[]);
        b.dependencies.clear();
        b.trigger_id = "pre-user-registration".into();
        let files = render(Format::Yaml, &[b, a], false);
        let tenant = files
            .iter()
            .find(|f| f.path == Path::new("tenant.yaml"))
            .unwrap();
        assert_eq!(
            String::from_utf8(tenant.bytes.clone()).unwrap(),
            "hooks:
  - name: cce-hook
    script: ./hooks/cce-hook.js
    dependencies:
      '@scope/pkg': '1.0'
      lodash: 4.17.21
    enabled: true
    secrets:
      API_KEY: _VALUE_NOT_SHOWN_
      B_KEY: _VALUE_NOT_SHOWN_
    triggerId: credentials-exchange
  - name: pre-reg
    script: ./hooks/pre-reg.js
    dependencies: {}
    enabled: false
    secrets: {}
    triggerId: pre-user-registration
"
        );
        assert_eq!(
            render(Format::Yaml, &[], false)[0].bytes,
            b"hooks: []\n".to_vec()
        );
    }

    #[test]
    fn directory_json_matches_what_a0deploy_writes() {
        let mut a = remote("cce-hook", &["API_KEY", "B_KEY"]);
        a.enabled = true;
        let files = render(Format::Directory, &[a], false);
        let json = files
            .iter()
            .find(|f| f.path == Path::new("hooks/cce-hook.json"))
            .unwrap();
        assert_eq!(
            String::from_utf8(json.bytes.clone()).unwrap(),
            r#"{
  "name": "cce-hook",
  "script": "./cce-hook.js",
  "dependencies": {
    "@scope/pkg": "1.0",
    "lodash": "4.17.21"
  },
  "enabled": true,
  "triggerId": "credentials-exchange",
  "secrets": {
    "API_KEY": "_VALUE_NOT_SHOWN_",
    "B_KEY": "_VALUE_NOT_SHOWN_"
  }
}
"#
        );
    }

    #[test]
    fn ids_only_when_asked() {
        let hooks = [remote("with-id", &[])];
        for format in [Format::Yaml, Format::Directory] {
            let plain = render(format, &hooks, false);
            assert!(plain
                .iter()
                .all(|f| !String::from_utf8_lossy(&f.bytes).contains("id-with-id")));
            let with = render(format, &hooks, true);
            assert!(with
                .iter()
                .any(|f| String::from_utf8_lossy(&f.bytes).contains("id-with-id")));
        }
    }

    #[test]
    fn scalars_read_back_as_the_same_string() {
        let cases = [
            "plain",
            "My Hook",
            "4.17.21",
            "1.0",
            "1",
            "0x1F",
            "1e3",
            "true",
            "yes",
            "No",
            "null",
            "~",
            "",
            " lead",
            "trail ",
            "@scope/pkg",
            "a: b",
            "a #b",
            "#x",
            "-x",
            "x:",
            "it's",
            "quote\"d",
            "multi\nline",
            "tab\there",
            "2024-01-31",
            ".inf",
            "^1.2.3",
            "~1.0.0",
            "*",
            "&a",
            "!tag",
            "%x",
            "`x`",
            "[x]",
            "{x}",
            "a,b",
            "ünïcödé",
            "=",
            "<<",
            "?x",
            "|",
            ">",
            // Found by fuzz/fuzz_targets/deploy_formats.rs: quotes leave these raw, and
            // libyaml refuses DEL, C1 and U+FFFE/U+FFFF, reads NEL as a space, and strips
            // the spaces around U+2028/U+2029.
            "del\u{7f}",
            "c1\u{9b}x",
            "nel\u{85}x",
            "ls \u{2028} ps \u{2029} x",
            "non\u{fffe}char\u{ffff}",
            "tab\t\u{7f}\u{2028}",
            "bom\u{feff}nbsp\u{a0}",
        ];
        for s in cases {
            let doc = format!("k: {}\n", yaml_scalar(s));
            let back: BTreeMap<String, String> =
                serde_yaml_ng::from_str(&doc).unwrap_or_else(|e| panic!("{s:?} → {doc:?}: {e}"));
            assert_eq!(back["k"], s, "{doc}");
        }
        assert_eq!(yaml_scalar("My Hook"), "My Hook");
        assert_eq!(yaml_scalar("1.0"), "'1.0'");
        assert_eq!(yaml_scalar("@scope/pkg"), "'@scope/pkg'");
        assert_eq!(yaml_scalar("a\u{7f}\u{85}\u{2028}"), r#""a\x7F\N\L""#);
        assert_eq!(yaml_scalar("tab\there"), r#""tab\there""#);
    }

    #[test]
    fn both_formats_round_trip() {
        let mut hooks = vec![remote("alpha", &["A", "B"]), remote("Beta Hook", &[])];
        hooks[0].enabled = true;
        for format in [Format::Yaml, Format::Directory] {
            let dir = tempfile::tempdir().unwrap();
            write_all(dir.path(), &render(format, &hooks, false));
            let input = match format {
                Format::Yaml => dir.path().join("tenant.yaml"),
                Format::Directory => dir.path().to_path_buf(),
            };
            let loaded = load(&input, None, &Mappings::default()).unwrap();
            assert_eq!(loaded.format, format);
            let mut got = loaded.hooks.unwrap();
            got.sort_by(|a, b| a.name.cmp(&b.name));
            let mut want = hooks.clone();
            want.sort_by(|a, b| a.name.cmp(&b.name));
            assert_eq!(got.len(), 2);
            for (g, w) in got.iter().zip(&want) {
                assert_eq!(g.name, w.name);
                assert_eq!(g.script, w.script);
                assert_eq!(g.trigger_id, w.trigger_id);
                assert_eq!(g.enabled, w.enabled);
                assert_eq!(g.dependencies, w.dependencies);
                assert_eq!(g.id, None);
                let secrets = g.secrets.as_ref().unwrap();
                assert_eq!(secrets.keys().cloned().collect::<Vec<_>>(), w.secret_names);
                assert!(secrets.values().all(|s| *s == LocalSecret::Placeholder));
            }
            // Rendering again gives the same bytes.
            assert_eq!(render(format, &hooks, false), render(format, &hooks, false));
        }
    }

    fn env_mappings(pairs: &[(&str, &str)]) -> Mappings {
        Mappings::new(
            Map::new(),
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    #[test]
    fn keywords_fill_yaml_json_and_scripts() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("hooks")).unwrap();
        std::fs::write(
            dir.path().join("tenant.yaml"),
            "hooks:\n  - name: kw\n    triggerId: send-phone-message\n    script: ./hooks/kw.js\n    secrets:\n      API_KEY: '##HOOK_API_KEY##'\n      KEEP: _VALUE_NOT_SHOWN_\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("hooks/kw.js"), "const u = '##URL##';").unwrap();
        let m = env_mappings(&[("HOOK_API_KEY", "s3cret"), ("URL", "https://x")]);
        let loaded = load(&dir.path().join("tenant.yaml"), None, &m).unwrap();
        let hook = &loaded.hooks.unwrap()[0];
        assert_eq!(hook.script, "const u = 'https://x';");
        let secrets = hook.secrets.as_ref().unwrap();
        assert_eq!(
            secrets["API_KEY"],
            LocalSecret::Value(SecretValue::new("s3cret".into()).unwrap())
        );
        assert_eq!(secrets["KEEP"], LocalSecret::Placeholder);

        // Directory format: the hook JSON and the script.
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("hooks")).unwrap();
        std::fs::write(
            d.path().join("hooks/kw.json"),
            r###"{"name":"kw","triggerId":"send-phone-message","script":"./kw.js","dependencies":"@@DEPS@@","secrets":{"K":"##HOOK_API_KEY##"}}"###,
        )
        .unwrap();
        std::fs::write(d.path().join("hooks/kw.js"), "// ##URL##").unwrap();
        let Value::Object(explicit) = serde_json::json!({"DEPS": {"lodash": "4.17.21"}}) else {
            panic!()
        };
        let m = Mappings::new(
            explicit,
            vec![
                ("HOOK_API_KEY".into(), "v".into()),
                ("URL".into(), "u".into()),
            ],
        );
        let hook = &load(d.path(), None, &m).unwrap().hooks.unwrap()[0];
        assert_eq!(hook.dependencies["lodash"], "4.17.21");
        assert_eq!(hook.script, "// u");
    }

    #[test]
    fn unresolved_keywords_name_the_keyword_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("hooks")).unwrap();
        std::fs::write(
            dir.path().join("tenant.yaml"),
            "hooks:\n  - name: kw\n    triggerId: send-phone-message\n    script: ./hooks/kw.js\n    secrets:\n      API_KEY: '##NOT_SET_ANYWHERE##'\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("hooks/kw.js"), "x\n@@ALSO_MISSING@@").unwrap();
        let err = load(&dir.path().join("tenant.yaml"), None, &Mappings::default()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("##NOT_SET_ANYWHERE##"), "{text}");
        assert!(text.contains("tenant.yaml line 6"), "{text}");
        // The YAML itself was unusable, so its script was never reached.
        assert_eq!(err.0.len(), 1, "{text}");
        std::fs::write(
            dir.path().join("tenant.yaml"),
            "hooks:\n  - name: kw\n    triggerId: send-phone-message\n    script: ./hooks/kw.js\n",
        )
        .unwrap();
        let text = load(&dir.path().join("tenant.yaml"), None, &Mappings::default())
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("@@ALSO_MISSING@@") && text.contains("kw.js line 2"),
            "{text}"
        );
    }

    #[test]
    fn bad_files_are_reported_together_without_values() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("hooks")).unwrap();
        std::fs::write(dir.path().join("hooks/a.js"), "x").unwrap();
        std::fs::write(
            dir.path().join("tenant.yaml"),
            "hooks:
  - name: a
    triggerId: pre-user-reg
    script: ./hooks/a.js
    extra: 1
    secrets:
      NUM: 12345
      EMPTY: ''
  - name: bad name!
    triggerId: credentials-exchange
    script: ./hooks/missing.js
  - name: x1
    triggerId: credentials-exchange
    enabled: true
    script: ./hooks/a.js
  - name: x2
    triggerId: credentials-exchange
    enabled: true
    script: ./hooks/a.js
",
        )
        .unwrap();
        let text = load(&dir.path().join("tenant.yaml"), None, &Mappings::default())
            .unwrap_err()
            .to_string();
        for needle in [
            "triggerId \"pre-user-reg\" is not one of",
            "unknown key `extra`",
            "secrets.NUM must be a string, found a number",
            "secrets.EMPTY is empty",
            "name \"bad name!\" is not a valid hook name",
            "missing.js does not exist",
            "2 are enabled on credentials-exchange: x1, x2",
        ] {
            assert!(text.contains(needle), "{needle} not in {text}");
        }
        assert!(!text.contains("12345"), "a value leaked: {text}");

        std::fs::write(
            dir.path().join("tenant.yaml"),
            "hooks:\n  - name: [unclosed\n",
        )
        .unwrap();
        let text = load(&dir.path().join("tenant.yaml"), None, &Mappings::default())
            .unwrap_err()
            .to_string();
        assert!(text.contains("is not valid YAML"), "{text}");
    }

    #[test]
    fn missing_hooks_key_manages_nothing_but_an_empty_list_manages_all() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tenant.yaml");
        std::fs::write(&file, "rules: []\n").unwrap();
        let loaded = load(&file, None, &Mappings::default()).unwrap();
        assert!(loaded.hooks.is_none());
        assert!(loaded.warnings[0].contains("ignoring rules"));
        std::fs::write(&file, "hooks: []\n").unwrap();
        assert_eq!(
            load(&file, None, &Mappings::default()).unwrap().hooks,
            Some(vec![])
        );
    }

    #[test]
    fn within_checks_components() {
        assert!(within(Path::new("/a/b"), Path::new("/a/b/./hooks/x.js")));
        assert!(!within(Path::new("/a/b"), Path::new("/a/b/../c/x.js")));
    }
}
