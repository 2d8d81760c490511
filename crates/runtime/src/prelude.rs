//! The sandbox's JavaScript, compiled to bytecode once when the runtime starts: the core
//! prelude (evaluated in every context) and the chunks it loads on first use.

use crate::compile;
use crate::CompileError;

const CORE: &str = include_str!("js/prelude.js");

/// Name, source and file name of each chunk `core.need(name)` can load.
const CHUNKS: [(&str, &str, &std::ffi::CStr); 6] = [
    ("console", include_str!("js/console.js"), c"console.js"),
    ("bytes", include_str!("js/bytes.js"), c"bytes.js"),
    ("url", include_str!("js/url.js"), c"url.js"),
    ("fetch", include_str!("js/fetch.js"), c"fetch.js"),
    ("crypto", include_str!("js/crypto.js"), c"crypto.js"),
    ("http", include_str!("js/http.js"), c"http.js"),
];

pub(crate) struct Prelude {
    pub(crate) core: Vec<u8>,
    chunks: Vec<(&'static str, Vec<u8>)>,
}

impl Prelude {
    /// Compiles the prelude. Panics if it does not compile: that is a bug in this crate,
    /// caught by every test.
    pub(crate) fn compile() -> Prelude {
        let compiled = crate::with_scratch_context(0, |ctx| {
            let build = |source: &str, file: &std::ffi::CStr| {
                compile::compile_script(ctx, source, file, compile::Keep::CodeOnly).unwrap_or_else(
                    |e| {
                        panic!(
                            "the runtime prelude ({}) does not compile: {}",
                            file.to_string_lossy(),
                            e.display()
                        )
                    },
                )
            };
            Prelude {
                core: build(CORE, c"prelude.js"),
                chunks: CHUNKS
                    .iter()
                    .map(|(name, source, file)| (*name, build(source, file)))
                    .collect(),
            }
        });
        compiled.unwrap_or_else(|e: CompileError| {
            panic!("creating an engine to compile the prelude: {}", e.message)
        })
    }

    pub(crate) fn chunk(&self, name: &str) -> Option<&[u8]> {
        self.chunks
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, bytecode)| bytecode.as_slice())
    }
}
