//! Redaction of secret values and the capped console buffer.

use hookhaven_core::secret::SecretValue;

pub(crate) const REDACTED: &str = "[REDACTED]";

/// Replaces every non-empty secret value of one hook with `[REDACTED]`.
pub(crate) struct Redactor {
    /// Longest first, so a secret that contains another is replaced whole.
    needles: Vec<SecretValue>,
}

impl Redactor {
    pub(crate) fn new(secrets: &[(String, Option<SecretValue>)]) -> Redactor {
        let mut needles: Vec<SecretValue> = secrets
            .iter()
            .filter_map(|(_, v)| v.clone())
            .filter(|v| !v.expose().is_empty())
            .collect();
        needles.sort_by_key(|v| std::cmp::Reverse(v.expose().len()));
        needles.dedup_by(|a, b| a.expose() == b.expose());
        Redactor { needles }
    }

    /// One left-to-right pass, so the marker itself is never matched again.
    pub(crate) fn redact(&self, text: &str) -> String {
        if self.needles.is_empty() {
            return text.to_string();
        }
        let bytes = text.as_bytes();
        let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
        let mut i = 0;
        'outer: while i < bytes.len() {
            for needle in &self.needles {
                let n = needle.expose().as_bytes();
                if bytes[i..].starts_with(n) {
                    out.extend_from_slice(REDACTED.as_bytes());
                    i += n.len();
                    continue 'outer;
                }
            }
            out.push(bytes[i]);
            i += 1;
        }
        // A needle is valid UTF-8 and so starts on a character boundary: the cuts are too.
        String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

/// Captured console output of one invocation, capped in bytes.
pub(crate) struct LogBuffer {
    pub(crate) lines: Vec<String>,
    bytes: usize,
    max: usize,
    pub(crate) truncated: bool,
}

impl LogBuffer {
    pub(crate) fn new(max: usize) -> LogBuffer {
        LogBuffer {
            lines: Vec::new(),
            bytes: 0,
            max,
            truncated: false,
        }
    }

    /// Adds a line that has already been redacted.
    pub(crate) fn push(&mut self, line: String) {
        if self.truncated {
            return;
        }
        let room = self.max.saturating_sub(self.bytes);
        if line.len() <= room {
            self.bytes += line.len();
            self.lines.push(line);
            return;
        }
        let mut cut = room;
        while cut > 0 && !line.is_char_boundary(cut) {
            cut -= 1;
        }
        if cut > 0 {
            self.lines.push(format!("{}…", &line[..cut]));
        }
        self.bytes = self.max;
        self.truncated = true;
        self.lines
            .push(format!("[log output truncated at {} bytes]", self.max));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sv(s: &str) -> Option<SecretValue> {
        Some(SecretValue::new(s.to_string()).unwrap())
    }

    #[test]
    fn redacts_all_secrets_longest_first() {
        let r = Redactor::new(&[
            ("A".into(), sv("abc")),
            ("B".into(), sv("abcdef")),
            ("C".into(), sv("")),
            ("D".into(), None),
            ("E".into(), sv("RED")),
        ]);
        assert_eq!(
            r.redact("x abcdef y abc z RED é"),
            "x [REDACTED] y [REDACTED] z [REDACTED] é"
        );
        assert_eq!(r.redact(""), "");
    }

    #[test]
    fn log_buffer_caps() {
        let mut b = LogBuffer::new(10);
        b.push("12345".into());
        b.push("6789abcdef".into());
        b.push("more".into());
        assert!(b.truncated);
        assert_eq!(b.lines[0], "12345");
        assert_eq!(b.lines[1], "6789a…");
        assert_eq!(b.lines.len(), 3);
    }
}
