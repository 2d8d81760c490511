//! The hook runtime (sandboxed JavaScript). Work in progress.
