//! Running hooks from the server: compiling at save time, caching compiled scripts, and
//! invoking a hook with its decrypted secrets. The runtime crate does the sandboxing;
//! this module fetches what an invocation needs from the store.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use hookhaven_core::{Error, Hook, HookId, SecretValue};
use hookhaven_crypto::{open_secret, MasterKeyring};
use hookhaven_runtime::{Compiled, HookRuntime, HookScript, Invocation, Outcome};
use hookhaven_store::RunnableHook;
use serde_json::Value;

/// How many compiled scripts are kept. Past it the cache starts over: compiling a typical
/// hook costs about a tenth of a millisecond.
const CACHE_CAPACITY: usize = 256;

pub struct HookExecutor {
    runtime: HookRuntime,
    /// Compiled scripts by hook id, tagged with a hash of the source. Each invocation reads
    /// the hook from the database, so a hook saved through another instance is picked up
    /// at its next invocation: the hash no longer matches and the script is recompiled.
    cache: Mutex<HashMap<HookId, (u64, Compiled)>>,
}

fn script_hash(script: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    script.hash(&mut hasher);
    hasher.finish()
}

impl HookExecutor {
    pub fn new(runtime: HookRuntime) -> HookExecutor {
        HookExecutor {
            runtime,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn runtime(&self) -> &HookRuntime {
        &self.runtime
    }

    /// Compiles a script off the async workers. A script that does not compile is an
    /// `invalid_body` error naming the line and column; unsupported `require`s are logged.
    pub async fn check_script(&self, script: &str) -> Result<Compiled, Error> {
        let runtime = self.runtime.clone();
        let source = script.to_string();
        let compiled = tokio::task::spawn_blocking(move || runtime.compile(&source))
            .await
            .map_err(Error::internal)?
            .map_err(|e| {
                Error::InvalidBody(format!(
                    "Payload validation error: 'Script does not compile: {} (line {}, column {})' on property script (Code to be executed when this hook runs).",
                    e.message, e.line, e.column
                ))
            })?;
        for warning in compiled.warnings() {
            tracing::warn!(line = warning.line, column = warning.column, warning = %warning.message, "hook script warning");
        }
        Ok(compiled)
    }

    /// The compiled form of a stored hook, from the cache when its source is unchanged.
    async fn compiled(&self, hook: &Hook) -> Result<Compiled, Error> {
        let hash = script_hash(&hook.script);
        if let Some((cached_hash, compiled)) = self.lock().get(&hook.id) {
            if *cached_hash == hash {
                return Ok(compiled.clone());
            }
        }
        let compiled = self.check_script(&hook.script).await?;
        let mut cache = self.lock();
        if cache.len() >= CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(hook.id.clone(), (hash, compiled.clone()));
        Ok(compiled)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<HookId, (u64, Compiled)>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Builds the invocation for a hook read with its sealed secrets: decrypts them and
    /// attaches `payload`.
    /// `script` replaces the stored source (the runner's unsaved code).
    pub async fn prepare(
        &self,
        keyring: &MasterKeyring,
        runnable: &RunnableHook,
        script: Option<String>,
        payload: Value,
    ) -> Result<(Invocation, Vec<SecretValue>), Error> {
        let hook = &runnable.hook;
        let mut secrets = Vec::with_capacity(runnable.secrets.len());
        let mut values = Vec::new();
        for (name, value) in &runnable.secrets {
            let plain = match value {
                None => None,
                Some(sealed) => Some(
                    open_secret(keyring, hook.id.as_str(), name.as_str(), sealed).map_err(
                        |_| Error::CorruptSecret {
                            hook_id: hook.id.to_string(),
                            name: name.to_string(),
                        },
                    )?,
                ),
            };
            if let Some(v) = &plain {
                values.push(v.clone());
            }
            secrets.push((name.as_str().to_string(), plain));
        }
        let script: HookScript = match script {
            Some(source) => self.check_script(&source).await?.into(),
            None => self.compiled(hook).await?.into(),
        };
        let invocation = Invocation::new(hook.trigger_id, script, payload).with_secrets(secrets);
        Ok((invocation, values))
    }

    pub async fn invoke(&self, invocation: Invocation) -> Outcome {
        self.runtime.invoke(invocation).await
    }
}

/// Replaces every secret value inside a JSON document with `[REDACTED]`: what the runner
/// shows an administrator must not reveal a value the hook echoed back.
pub fn redact_json(value: &mut Value, secrets: &[SecretValue]) {
    match value {
        Value::String(s) => {
            for secret in secrets {
                let plain = secret.expose();
                if !plain.is_empty() && s.contains(plain) {
                    *s = s.replace(plain, "[REDACTED]");
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| redact_json(v, secrets)),
        Value::Object(map) => map.values_mut().for_each(|v| redact_json(v, secrets)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_reaches_nested_strings() {
        let secret = SecretValue::new("s3cr3t".into()).unwrap();
        let mut doc = serde_json::json!({"a": "x s3cr3t y", "b": ["s3cr3t"], "c": {"d": 1}});
        redact_json(&mut doc, &[secret]);
        assert_eq!(
            doc,
            serde_json::json!({"a": "x [REDACTED] y", "b": ["[REDACTED]"], "c": {"d": 1}})
        );
    }
}
