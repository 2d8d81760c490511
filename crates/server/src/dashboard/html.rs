//! A small HTML builder: every piece of text that comes from data goes through [`esc`],
//! and the page layout, icons and notices live here. There is no inline script and no
//! inline style anywhere (the Content-Security-Policy forbids both).

use std::fmt::Write;

/// Escapes text for an element body or a quoted attribute value.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query or path component.
pub fn url_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The kind of a notice shown at the top of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Success,
    Info,
    Error,
}

impl Tone {
    fn class(self) -> &'static str {
        match self {
            Tone::Success => "notice success",
            Tone::Info => "notice info",
            Tone::Error => "notice error",
        }
    }

    pub fn code(self) -> char {
        match self {
            Tone::Success => 's',
            Tone::Info => 'i',
            Tone::Error => 'e',
        }
    }

    pub fn from_code(c: char) -> Option<Tone> {
        match c {
            's' => Some(Tone::Success),
            'i' => Some(Tone::Info),
            'e' => Some(Tone::Error),
            _ => None,
        }
    }
}

/// A notice: role `alert` for errors, `status` otherwise.
pub fn notice(tone: Tone, text: &str) -> String {
    let role = if tone == Tone::Error {
        "alert"
    } else {
        "status"
    };
    format!(
        "<div class=\"{}\" role=\"{role}\"><p>{}</p></div>",
        tone.class(),
        esc(text)
    )
}

/// Which main section a page belongs to, for the navigation's `aria-current`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Hooks,
    Clients,
    Logs,
    None,
}

/// The signed-in chrome around a page.
pub struct Chrome<'a> {
    pub email: &'a str,
    pub csrf: &'a str,
    pub section: Section,
}

/// A whole page. `chrome` is `None` on the sign-in page.
pub fn page(title: &str, chrome: Option<&Chrome<'_>>, notices: &str, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 2048);
    out.push_str("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    let _ = write!(out, "<title>{} · Hookhaven</title>", esc(title));
    out.push_str("<link rel=\"icon\" href=\"/assets/favicon.svg\" type=\"image/svg+xml\">");
    out.push_str("<link rel=\"stylesheet\" href=\"/assets/app.css\">");
    out.push_str("<script src=\"/assets/app.js\" defer></script>");
    out.push_str("<script src=\"/assets/editor.js\" defer></script>");
    out.push_str("</head><body>");
    out.push_str("<a class=\"skip\" href=\"#main\">Skip to content</a>");
    match chrome {
        Some(c) => {
            out.push_str("<header class=\"top\"><a class=\"brand\" href=\"/hooks\">");
            out.push_str(LOGO);
            out.push_str("<span>Hookhaven</span></a><nav aria-label=\"Main\"><ul>");
            for (section, href, label) in [
                (Section::Hooks, "/hooks", "Hooks"),
                (Section::Clients, "/clients", "Applications"),
                (Section::Logs, "/logs", "Logs"),
            ] {
                let current = if c.section == section {
                    " aria-current=\"page\""
                } else {
                    ""
                };
                let _ = write!(out, "<li><a href=\"{href}\"{current}>{label}</a></li>");
            }
            out.push_str("</ul></nav>");
            let _ = write!(
                out,
                "<form class=\"signout\" method=\"post\" action=\"/logout\">{}<span class=\"who\">{}</span><button type=\"submit\" class=\"secondary\">Sign out</button></form>",
                csrf_field(c.csrf),
                esc(c.email)
            );
            out.push_str("</header>");
        }
        None => {
            out.push_str("<header class=\"top\"><span class=\"brand\">");
            out.push_str(LOGO);
            out.push_str("<span>Hookhaven</span></span></header>");
        }
    }
    out.push_str("<main id=\"main\" tabindex=\"-1\">");
    out.push_str(notices);
    out.push_str(body);
    out.push_str("</main></body></html>");
    out
}

/// The hidden CSRF field every form carries.
pub fn csrf_field(token: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"_csrf\" value=\"{}\">",
        esc(token)
    )
}

/// A date and time (UTC) from epoch milliseconds, e.g. `2026-11-27 03:04:05 UTC`.
pub fn datetime(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

const LOGO: &str = "<svg class=\"logo\" viewBox=\"0 0 24 24\" width=\"24\" height=\"24\" aria-hidden=\"true\" focusable=\"false\"><path d=\"M12 2 3 6v6c0 5 3.8 9.4 9 10 5.2-.6 9-5 9-10V6l-9-4z\" fill=\"currentColor\" opacity=\".18\"/><path d=\"M12 2 3 6v6c0 5 3.8 9.4 9 10 5.2-.6 9-5 9-10V6l-9-4z\" fill=\"none\" stroke=\"currentColor\" stroke-width=\"1.6\"/><path d=\"M12 7v6a2.5 2.5 0 1 1-2.5-2.5\" fill=\"none\" stroke=\"currentColor\" stroke-width=\"1.8\" stroke-linecap=\"round\"/></svg>";

fn svg(paths: &str) -> String {
    format!(
        "<svg viewBox=\"0 0 24 24\" width=\"18\" height=\"18\" aria-hidden=\"true\" focusable=\"false\" fill=\"none\" stroke=\"currentColor\" stroke-width=\"1.8\" stroke-linecap=\"round\" stroke-linejoin=\"round\">{paths}</svg>"
    )
}

/// A pencil: "Edit hook".
pub fn icon_pencil() -> String {
    svg("<path d=\"M4 20h4L19 9l-4-4L4 16v4z\"/><path d=\"m13.5 6.5 4 4\"/>")
}

/// A pencil over a sheet of paper: "Edit secret".
pub fn icon_pencil_paper() -> String {
    svg("<path d=\"M11 4H5a1 1 0 0 0-1 1v14a1 1 0 0 0 1 1h14a1 1 0 0 0 1-1v-6\"/><path d=\"M18.5 2.5a2.1 2.1 0 0 1 3 3L12 15l-4 1 1-4 9.5-9.5z\"/>")
}

/// A wrench: "Hook settings".
pub fn icon_wrench() -> String {
    svg("<path d=\"M14.7 6.3a1 1 0 0 0 0 1.4l1.6 1.6a1 1 0 0 0 1.4 0l3.8-3.8a6 6 0 0 1-7.9 7.9l-6.9 6.9a2.1 2.1 0 0 1-3-3l6.9-6.9a6 6 0 0 1 7.9-7.9l-3.8 3.8z\"/>")
}

/// A bin: "Delete …".
pub fn icon_trash() -> String {
    svg("<path d=\"M3 6h18\"/><path d=\"M8 6V4h8v2\"/><path d=\"M19 6l-1 14H6L5 6\"/><path d=\"M10 11v6M14 11v6\"/>")
}

/// A key: secret rows.
pub fn icon_key() -> String {
    svg("<circle cx=\"7.5\" cy=\"15.5\" r=\"4.5\"/><path d=\"m10.7 12.3 9.8-9.8M17 6l3 3M14.5 8.5l2 2\"/>")
}

/// A play triangle: Run.
pub fn icon_play() -> String {
    svg("<path d=\"M7 4v16l13-8z\"/>")
}

/// A rotating arrow: rotate a client secret.
pub fn icon_rotate() -> String {
    svg("<path d=\"M21 12a9 9 0 1 1-3-6.7L21 8\"/><path d=\"M21 3v5h-5\"/>")
}

/// Two sheets: copy.
pub fn icon_copy() -> String {
    svg("<rect x=\"9\" y=\"9\" width=\"12\" height=\"12\" rx=\"2\"/><path d=\"M5 15H4a1 1 0 0 1-1-1V4a1 1 0 0 1 1-1h10a1 1 0 0 1 1 1v1\"/>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }

    #[test]
    fn url_components_are_percent_encoded() {
        assert_eq!(url_component("A B/é?&"), "A%20B%2F%C3%A9%3F%26");
        assert_eq!(url_component("SAFE-name_1.x~"), "SAFE-name_1.x~");
    }

    #[test]
    fn dates_are_utc() {
        assert_eq!(datetime(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(datetime(1_764_212_645_000), "2025-11-27 03:04:05 UTC");
        assert_eq!(datetime(951_782_400_000), "2000-02-29 00:00:00 UTC");
    }
}
