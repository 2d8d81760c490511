//! hookhaven-deploy's auth0-deploy-cli file formats (`tenant.yaml` + `hooks/*.js`, and the
//! directory form `hooks/<name>.json` + `.js`) and its `##KEY##` / `@@KEY@@` replacement.
//!
//! Input: up to four parts separated by NUL bytes,
//! `tenant.yaml \0 hooks/hook.json \0 hook.js \0 AUTH0_KEYWORD_REPLACE_MAPPINGS`. The harness
//! writes them to a scratch folder (see `scratch`) and calls the real
//! `formats::load` on the YAML file and on the directory, as `hookhaven import` does; the
//! YAML names its script `./hooks/hook.js`, the JSON `./hook.js`.
//!
//! Properties, besides "never panics":
//! * markers (`find_markers`) are well formed and sit where they say; with no mappings,
//!   `replace` changes nothing and every marker is unresolved; text without `##`/`@@` is
//!   never changed; `unresolved` only names keys without a mapping;
//! * `yaml_scalar(s)` reads back as the string `s`;
//! * what `load` accepts is valid for the server (names, triggers, secret names, unique
//!   names, one enabled hook per trigger, non-empty scripts);
//! * export of what was loaded, in both formats (`formats::render`), loads back to the same
//!   hooks (`hookhaven export` → `hookhaven import` is lossless), unless the files then hold
//!   keyword markers, which must then be the only problems reported.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use hookhaven_core::{HookName, SecretName, TriggerId};
use hookhaven_deploy::formats::{self, yaml_scalar, OutFile};
use hookhaven_deploy::keywords::{find_markers, Mappings};
use hookhaven_deploy::model::{LocalHook, RemoteHook};
use hookhaven_deploy::{Format, Loaded};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|b| *b == 0).map(String::from_utf8_lossy);
    let yaml = parts.next().unwrap_or_default().into_owned();
    let json = parts.next().unwrap_or_default().into_owned();
    let script = parts.next().unwrap_or_default().into_owned();
    let mappings_text = parts.next().unwrap_or_default().into_owned();
    let mappings = Mappings::parse_object(&mappings_text)
        .map(|explicit| Mappings::new(explicit, Vec::new()))
        .unwrap_or_default();

    for text in [&yaml, &json, &script, &mappings_text] {
        check_keywords(text, &mappings);
        check_yaml_scalar(text);
        for line in text.lines().take(8) {
            check_yaml_scalar(line);
        }
    }

    let root = scratch();
    let yaml_dir = root.join("yaml");
    let dir_root = root.join("dir");
    write(&yaml_dir.join("tenant.yaml"), yaml.as_bytes());
    write(&yaml_dir.join("hooks/hook.js"), script.as_bytes());
    write(&dir_root.join("hooks/hook.json"), json.as_bytes());
    write(&dir_root.join("hooks/hook.js"), script.as_bytes());

    for (input, format) in [
        (yaml_dir.join("tenant.yaml"), Format::Yaml),
        (dir_root.clone(), Format::Directory),
    ] {
        match formats::load(&input, None, &mappings) {
            Ok(loaded) => {
                assert_eq!(loaded.format, format);
                if let Some(hooks) = &loaded.hooks {
                    check_loaded(hooks);
                    round_trip(hooks, &root);
                }
            }
            Err(problems) => assert!(!problems.0.is_empty()),
        }
    }
});

/// A folder of this process's own, emptied for every input: under
/// `$HOOKHAVEN_FUZZ_SCRATCH` (scripts/fuzz-smoke sets it and removes it afterwards), else
/// `/dev/shm`, else the temp folder.
fn scratch() -> PathBuf {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    let base = BASE.get_or_init(|| {
        if let Some(dir) = std::env::var_os("HOOKHAVEN_FUZZ_SCRATCH") {
            PathBuf::from(dir)
        } else if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        }
    });
    let root = base.join(format!("hookhaven-fuzz-deploy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).expect("scratch folder");
    root
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).expect("scratch folder");
    std::fs::write(path, bytes).expect("scratch file");
}

fn check_keywords(text: &str, mappings: &Mappings) {
    let markers = find_markers(text);
    let lines: Vec<&str> = text.lines().collect();
    let mut last_line = 0;
    for m in &markers {
        assert!(!m.key.is_empty());
        assert!(m.key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        assert!(
            m.text == format!("##{}##", m.key) || m.text == format!("@@{}@@", m.key),
            "{m:?}"
        );
        assert!(m.line >= 1 && m.line <= lines.len(), "{m:?}");
        assert!(lines[m.line - 1].contains(&m.text), "{m:?}");
        assert!(m.line >= last_line, "markers out of line order");
        last_line = m.line;
    }

    let none = Mappings::default();
    assert_eq!(none.replace(text), text);
    assert_eq!(none.unresolved(text), markers);

    let unresolved = mappings.unresolved(text);
    for m in &unresolved {
        assert!(!mappings.contains(&m.key));
        assert!(markers.contains(m));
    }
    let replaced = mappings.replace(text);
    if !text.contains("##") && !text.contains("@@") {
        assert_eq!(replaced, text);
    }
}

fn check_yaml_scalar(s: &str) {
    let written = yaml_scalar(s);
    let back: Result<serde_yaml_ng::Value, _> = serde_yaml_ng::from_str(&written);
    match back {
        Ok(serde_yaml_ng::Value::String(back)) => {
            assert_eq!(
                back, s,
                "yaml_scalar({s:?}) = {written:?} reads back differently"
            )
        }
        other => panic!("yaml_scalar({s:?}) = {written:?} reads back as {other:?}"),
    }
}

/// What the server would refuse must not get through the loader.
fn check_loaded(hooks: &[LocalHook]) {
    let mut names = BTreeSet::new();
    let mut enabled = BTreeSet::new();
    for hook in hooks {
        assert!(HookName::parse(&hook.name).is_ok(), "{:?}", hook.name);
        assert!(TriggerId::parse(&hook.trigger_id).is_some());
        assert!(!hook.script.is_empty());
        assert!(
            names.insert(hook.name.as_str()),
            "duplicate {:?}",
            hook.name
        );
        if hook.enabled {
            assert!(enabled.insert(hook.trigger_id.as_str()), "two enabled");
        }
        for name in hook.secrets.iter().flat_map(|s| s.keys()) {
            assert!(SecretName::parse(name).is_ok(), "{name:?}");
        }
    }
}

/// Export what was loaded, in both formats, and load it back.
fn round_trip(hooks: &[LocalHook], root: &Path) {
    let remote: Vec<RemoteHook> = hooks
        .iter()
        .enumerate()
        .map(|(i, h)| RemoteHook {
            id: h.id.clone().unwrap_or_else(|| format!("hook{i}")),
            name: h.name.clone(),
            script: h.script.clone(),
            trigger_id: h.trigger_id.clone(),
            enabled: h.enabled,
            dependencies: h.dependencies.clone(),
            secret_names: h.secrets.iter().flat_map(|s| s.keys().cloned()).collect(),
        })
        .collect();
    for format in [Format::Yaml, Format::Directory] {
        let out = root.join(format!("export-{}", format.as_str()));
        let files = formats::render(format, &remote, true);
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir_all(&out).expect("scratch folder");
        for OutFile { path, bytes } in &files {
            write(&out.join(path), bytes);
        }
        let has_markers = files
            .iter()
            .any(|f| !find_markers(&String::from_utf8_lossy(&f.bytes)).is_empty());
        let input = match format {
            Format::Yaml => out.join(formats::TENANT_FILE),
            Format::Directory => out.clone(),
        };
        match formats::load(&input, None, &Mappings::default()) {
            Ok(Loaded { hooks: back, .. }) => {
                assert!(!has_markers, "unresolved markers were not reported");
                let back = back.unwrap_or_default();
                assert_eq!(
                    by_name(&back),
                    by_name_remote(&remote),
                    "{} export does not load back the same",
                    format.as_str()
                );
            }
            Err(problems) => {
                assert!(
                    has_markers,
                    "{} export does not load back: {problems}",
                    format.as_str()
                );
                for p in &problems.0 {
                    assert!(p.starts_with("unresolved keyword "), "{p}");
                }
            }
        }
    }
}

type Comparable = (
    Option<String>,
    String,
    String,
    bool,
    BTreeMap<String, String>,
    BTreeSet<String>,
);

fn by_name(hooks: &[LocalHook]) -> BTreeMap<String, Comparable> {
    hooks
        .iter()
        .map(|h| {
            (
                h.name.clone(),
                (
                    h.id.clone(),
                    h.script.clone(),
                    h.trigger_id.clone(),
                    h.enabled,
                    h.dependencies.clone(),
                    h.secrets.iter().flat_map(|s| s.keys().cloned()).collect(),
                ),
            )
        })
        .collect()
}

fn by_name_remote(hooks: &[RemoteHook]) -> BTreeMap<String, Comparable> {
    hooks
        .iter()
        .map(|h| {
            (
                h.name.clone(),
                (
                    Some(h.id.clone()),
                    h.script.clone(),
                    h.trigger_id.clone(),
                    h.enabled,
                    h.dependencies.clone(),
                    h.secret_names.iter().cloned().collect(),
                ),
            )
        })
        .collect()
}
