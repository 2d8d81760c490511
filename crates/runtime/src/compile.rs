//! Compiling hook scripts to QuickJS bytecode, and the save-time warnings.

use std::ffi::{CStr, CString};
use std::sync::Arc;

use rquickjs::{qjs, Ctx, Value};

use crate::engine::ExceptionInfo;

/// The file name QuickJS reports in stacks and syntax errors for hook code.
pub(crate) const HOOK_FILE: &CStr = c"hook.js";
const HOOK_FILE_STR: &str = "hook.js";

/// `module.exports = function (...) {...}` form: the script is a CommonJS module body. The
/// prefix stays on the script's first line so line numbers match the script.
const MODULE_PREFIX: &str = "(function (module, exports, require) {";
const MODULE_SUFFIX: &str = "\n})";
/// Bare `function (...) {...}` form: the script is one function expression.
const EXPR_PREFIX: &str = "(";
const EXPR_SUFFIX: &str = "\n)";

/// Modules `require` resolves (a `@version` suffix and a `node:` prefix are ignored).
pub const SUPPORTED_MODULES: &[&str] =
    &["axios", "buffer", "crypto", "node-fetch", "request", "url"];

/// A hook script compiled to QuickJS bytecode, with the save-time warnings. Cheap to clone.
///
/// Only [`HookRuntime::compile`](crate::HookRuntime::compile) makes one: bytecode is trusted
/// because this crate produced it, so there is deliberately no way to build a `Compiled`
/// from bytes. Keep it in memory (for example keyed by hook id and script hash) and compile
/// again after a restart; the bytecode format is tied to the engine version.
#[derive(Clone)]
pub struct Compiled {
    pub(crate) inner: Arc<CompiledInner>,
}

pub(crate) struct CompiledInner {
    pub(crate) forms: Forms,
    pub(crate) warnings: Vec<CompileWarning>,
}

impl Compiled {
    /// Problems that do not stop the script from being saved, such as a `require` of a
    /// module Hookhaven does not provide.
    pub fn warnings(&self) -> &[CompileWarning] {
        &self.inner.warnings
    }

    /// Size of the bytecode, for metrics.
    pub fn bytecode_len(&self) -> usize {
        self.inner.forms.module.as_ref().map_or(0, Vec::len)
            + self.inner.forms.expr.as_ref().map_or(0, Vec::len)
    }
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiled")
            .field("bytecode_len", &self.bytecode_len())
            .field("warnings", &self.inner.warnings)
            .finish()
    }
}

/// The bytecode of the forms the script compiles as. When both compile (a named
/// `function f(...) {...}`), the module form runs first and the expression form is used only
/// if `module.exports` is not a function.
#[derive(Debug, Default)]
pub(crate) struct Forms {
    pub(crate) module: Option<Vec<u8>>,
    pub(crate) expr: Option<Vec<u8>>,
}

/// A script that does not compile. `line` and `column` are 1-based positions in the script
/// as saved (columns count characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    pub line: u32,
    pub column: u32,
    /// The engine's message, e.g. `SyntaxError: unexpected token in expression: '}'`.
    pub message: String,
}

impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line > 0 {
            write!(
                f,
                "{} (line {}, column {})",
                self.message, self.line, self.column
            )
        } else {
            f.write_str(&self.message)
        }
    }
}

impl std::error::Error for CompileError {}

/// Something worth telling the author at save time that does not block the save.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileWarning {
    pub line: u32,
    pub column: u32,
    pub message: String,
}

impl std::fmt::Display for CompileWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (line {}, column {})",
            self.message, self.line, self.column
        )
    }
}

/// Compiles `source` in both forms inside `ctx`. Errors out when neither compiles, with the
/// error of the form the script most likely meant.
pub(crate) fn compile_forms(ctx: &Ctx<'_>, source: &str) -> Result<Forms, CompileError> {
    if source.contains('\0') {
        return Err(CompileError {
            line: 0,
            column: 0,
            message: "SyntaxError: the script contains a NUL character".into(),
        });
    }
    let module_src = format!("{MODULE_PREFIX}{source}{MODULE_SUFFIX}");
    let expr_src = format!("{EXPR_PREFIX}{source}{EXPR_SUFFIX}");
    let module = compile_script(ctx, &module_src, HOOK_FILE, Keep::Debug);
    let expr = compile_script(ctx, &expr_src, HOOK_FILE, Keep::Debug);
    match (module, expr) {
        (Err(module_err), Err(expr_err)) => {
            let (err, prefix) = if looks_like_bare_function(source) {
                (expr_err, EXPR_PREFIX)
            } else {
                (module_err, MODULE_PREFIX)
            };
            Err(to_compile_error(err, source, prefix.len()))
        }
        (module, expr) => Ok(Forms {
            module: module.ok(),
            expr: expr.ok(),
        }),
    }
}

/// Whether the script starts (after comments) with `function` or `async function`.
fn looks_like_bare_function(source: &str) -> bool {
    let rest = skip_space_and_comments(source);
    let rest = rest
        .strip_prefix("async")
        .map(skip_space_and_comments)
        .unwrap_or(rest);
    rest.starts_with("function")
        && !rest["function".len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$')
}

fn skip_space_and_comments(mut s: &str) -> &str {
    loop {
        let t = s.trim_start();
        if let Some(r) = t.strip_prefix("//") {
            s = r.find('\n').map_or("", |i| &r[i..]);
        } else if let Some(r) = t.strip_prefix("/*") {
            s = r.find("*/").map_or("", |i| &r[i + 2..]);
        } else {
            return t;
        }
    }
}

fn to_compile_error(err: ExceptionInfo, source: &str, prefix_len: usize) -> CompileError {
    let message = err.display();
    let Some((line, byte_col)) = err.stack.as_deref().and_then(parse_location) else {
        return CompileError {
            line: 0,
            column: 0,
            message,
        };
    };
    let lines: Vec<&str> = source.split('\n').collect();
    let mut line = line.max(1) as usize;
    let mut byte_col = byte_col.max(1) as usize;
    if line == 1 {
        byte_col = byte_col.saturating_sub(prefix_len).max(1);
    }
    if line > lines.len() {
        // The error is in the wrapper's closing text: point just past the script's end.
        line = lines.len().max(1);
        byte_col = lines.last().map_or(0, |l| l.len()) + 1;
    }
    let text = lines.get(line - 1).copied().unwrap_or("");
    let mut cut = (byte_col - 1).min(text.len());
    while cut > 0 && !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let column = text[..cut].chars().count() + 1 + (byte_col - 1).saturating_sub(text.len());
    CompileError {
        line: line as u32,
        column: column as u32,
        message,
    }
}

/// Finds `hook.js:LINE:COL` in a QuickJS stack.
pub(crate) fn parse_location(stack: &str) -> Option<(u32, u32)> {
    let at = stack.find(HOOK_FILE_STR)?;
    let rest = &stack[at + HOOK_FILE_STR.len()..];
    let rest = rest.strip_prefix(':')?;
    let mut parts = rest.splitn(3, |c: char| !c.is_ascii_digit());
    let line = parts.next()?.parse().ok()?;
    let col = parts.next().and_then(|c| c.parse().ok()).unwrap_or(1);
    Some((line, col))
}

/// What compiled bytecode keeps besides the code.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keep {
    /// Line numbers and source text: hook scripts, whose errors name lines and columns.
    Debug,
    /// Code only: the runtime's own JavaScript, which is smaller and quicker to load without.
    CodeOnly,
}

/// `JS_Eval` with `COMPILE_ONLY` as a sloppy-mode global script, then `JS_WriteObject`.
pub(crate) fn compile_script(
    ctx: &Ctx<'_>,
    source: &str,
    file: &CStr,
    keep: Keep,
) -> Result<Vec<u8>, ExceptionInfo> {
    let flags = match keep {
        Keep::Debug => qjs::JS_WRITE_OBJ_BYTECODE,
        Keep::CodeOnly => {
            qjs::JS_WRITE_OBJ_BYTECODE
                | qjs::JS_WRITE_OBJ_STRIP_SOURCE
                | qjs::JS_WRITE_OBJ_STRIP_DEBUG
        }
    };
    let csrc = CString::new(source).map_err(|_| ExceptionInfo::plain("NUL in source"))?;
    let raw = ctx.as_raw().as_ptr();
    // SAFETY: `raw` is the live context behind `ctx`; the source is NUL-terminated and its
    // length excludes the terminator; every value we create is freed exactly once.
    unsafe {
        let func = qjs::JS_Eval(
            raw,
            csrc.as_ptr(),
            source.len() as _,
            file.as_ptr(),
            (qjs::JS_EVAL_TYPE_GLOBAL | qjs::JS_EVAL_FLAG_COMPILE_ONLY) as i32,
        );
        if qjs::JS_IsException(func) {
            return Err(ExceptionInfo::from_value(ctx, &ctx.catch()));
        }
        let mut len: qjs::size_t = 0;
        let buf = qjs::JS_WriteObject(raw, &mut len, func, flags as i32);
        qjs::JS_FreeValue(raw, func);
        if buf.is_null() {
            return Err(ExceptionInfo::from_value(ctx, &ctx.catch()));
        }
        let bytes = std::slice::from_raw_parts(buf, len as usize).to_vec();
        qjs::js_free(raw, buf.cast());
        Ok(bytes)
    }
}

/// Runs bytecode produced by [`compile_script`] and returns the script's completion value.
///
/// # Safety
/// `bytes` must come from `compile_script` (QuickJS does not validate bytecode).
pub(crate) unsafe fn run_bytecode<'js>(
    ctx: &Ctx<'js>,
    bytes: &[u8],
) -> rquickjs::Result<Value<'js>> {
    let raw = ctx.as_raw().as_ptr();
    unsafe {
        let func = qjs::JS_ReadObject(
            raw,
            bytes.as_ptr(),
            bytes.len() as _,
            qjs::JS_READ_OBJ_BYTECODE as i32,
        );
        if qjs::JS_IsException(func) {
            return Err(rquickjs::Error::Exception);
        }
        // JS_EvalFunction takes ownership of `func`.
        let value = qjs::JS_EvalFunction(raw, func);
        if qjs::JS_IsException(value) {
            return Err(rquickjs::Error::Exception);
        }
        Ok(Value::from_raw(ctx.clone(), value))
    }
}

/// `require('x')` calls with a literal argument naming a module Hookhaven does not provide.
pub(crate) fn require_warnings(source: &str) -> Vec<CompileWarning> {
    let mut out = Vec::new();
    for (name, line, column) in literal_requires(source) {
        let base = module_base_name(&name);
        if !SUPPORTED_MODULES.contains(&base) {
            out.push(CompileWarning {
                line,
                column,
                message: format!(
                    "require('{name}') is not available in Hookhaven: the hook will fail with \
                     \"Cannot find module '{name}'\" when this line runs. Supported modules: {}",
                    SUPPORTED_MODULES.join(", ")
                ),
            });
        }
    }
    out
}

/// The module name `require` looks up: without a `node:` prefix and an `@version` suffix.
pub(crate) fn module_base_name(spec: &str) -> &str {
    let s = spec.strip_prefix("node:").unwrap_or(spec);
    let from = usize::from(s.starts_with('@'));
    match s[from..].find('@') {
        Some(i) if i + from > 0 => &s[..i + from],
        _ => s,
    }
}

/// Scans for `require ( 'literal' )` outside comments and strings. Returns the literal and
/// its 1-based line and column.
fn literal_requires(source: &str) -> Vec<(String, u32, u32)> {
    let chars: Vec<char> = source.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line, mut col) = (0usize, 1u32, 1u32);
    let advance = |i: &mut usize, line: &mut u32, col: &mut u32, chars: &[char]| {
        if chars[*i] == '\n' {
            *line += 1;
            *col = 1;
        } else {
            *col += 1;
        }
        *i += 1;
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                advance(&mut i, &mut line, &mut col, &chars);
            }
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'*') {
            advance(&mut i, &mut line, &mut col, &chars);
            advance(&mut i, &mut line, &mut col, &chars);
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                advance(&mut i, &mut line, &mut col, &chars);
            }
            if i < chars.len() {
                advance(&mut i, &mut line, &mut col, &chars);
                advance(&mut i, &mut line, &mut col, &chars);
            }
            continue;
        }
        if c == '\'' || c == '"' || c == '`' {
            advance(&mut i, &mut line, &mut col, &chars);
            while i < chars.len() && chars[i] != c {
                if chars[i] == '\\' {
                    advance(&mut i, &mut line, &mut col, &chars);
                    if i >= chars.len() {
                        break;
                    }
                }
                advance(&mut i, &mut line, &mut col, &chars);
            }
            if i < chars.len() {
                advance(&mut i, &mut line, &mut col, &chars);
            }
            continue;
        }
        let word_start = i == 0 || !is_ident(chars[i - 1]) && chars[i - 1] != '.';
        if word_start && chars[i..].starts_with(&['r', 'e', 'q', 'u', 'i', 'r', 'e']) {
            let (start_line, start_col) = (line, col);
            let mut j = i + 7;
            if j < chars.len() && is_ident(chars[j]) {
                advance(&mut i, &mut line, &mut col, &chars);
                continue;
            }
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            if chars.get(j) == Some(&'(') {
                j += 1;
                while j < chars.len() && chars[j].is_whitespace() {
                    j += 1;
                }
                if let Some(&q) = chars.get(j).filter(|q| matches!(q, '\'' | '"' | '`')) {
                    let lit_start = j + 1;
                    let mut k = lit_start;
                    while k < chars.len() && chars[k] != q && chars[k] != '\n' && chars[k] != '\\' {
                        k += 1;
                    }
                    if chars.get(k) == Some(&q) {
                        let name: String = chars[lit_start..k].iter().collect();
                        if !(q == '`' && name.contains("${")) {
                            out.push((name, start_line, start_col));
                        }
                    }
                }
            }
        }
        advance(&mut i, &mut line, &mut col, &chars);
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_names() {
        assert_eq!(module_base_name("axios@0.27.2"), "axios");
        assert_eq!(module_base_name("axios"), "axios");
        assert_eq!(module_base_name("node:crypto"), "crypto");
        assert_eq!(module_base_name("@slack/webhook@6.0.0"), "@slack/webhook");
        assert_eq!(module_base_name("@slack/webhook"), "@slack/webhook");
    }

    #[test]
    fn finds_literal_requires_outside_comments_and_strings() {
        let src = "const a = require('axios@0.27.2');\n// require('fs')\n/* require('os') */\nconst s = \"require('net')\";\n  const l = require( \"lodash\" );\nfoo.require('x'); myrequire('y');";
        let found = literal_requires(src);
        assert_eq!(
            found,
            vec![
                ("axios@0.27.2".to_string(), 1, 11),
                ("lodash".to_string(), 5, 13)
            ]
        );
        let w = require_warnings(src);
        assert_eq!(w.len(), 1);
        assert!(w[0].message.contains("Cannot find module 'lodash'"));
        assert_eq!((w[0].line, w[0].column), (5, 13));
    }

    #[test]
    fn bare_function_detection() {
        assert!(looks_like_bare_function("function (a) {}"));
        assert!(looks_like_bare_function(
            "// hi\n/* x */ async function(a) {}"
        ));
        assert!(!looks_like_bare_function("module.exports = function () {}"));
        assert!(!looks_like_bare_function("functional()"));
    }

    #[test]
    fn locations() {
        assert_eq!(parse_location("    at hook.js:3:14\n"), Some((3, 14)));
        assert_eq!(parse_location("SyntaxError\n    at foo.js:1:1"), None);
    }
}
