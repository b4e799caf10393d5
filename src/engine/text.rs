//! Text from outside — sequence, schema, table and column names, server messages, values from
//! the journal or a config, host names — made safe to show. Any role that may create a
//! sequence chooses its name, so a name may carry terminal escapes (clear the screen, set the
//! window title), a newline that splits a table row, or a bidirectional override that makes
//! text read backwards. [`shown`] renders every such character visibly escaped; it is applied
//! where text is displayed (tables, stderr, the log, the TUI), never to what is stored or
//! matched: JSON and CSV keep the exact text, and filters match the real name.

use std::borrow::Cow;
use unicode_width::UnicodeWidthStr;

/// Whether `c` must not reach a terminal as it is: C0 (newline and tab included), DEL, C1,
/// and the bidirectional controls.
pub fn is_control(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}')
}

/// What `shown` escapes: the controls, and the escape character itself, so that a literal
/// `\n` in a name cannot pass for an escaped newline.
fn is_unsafe(c: char) -> bool {
    is_control(c) || c == '\\'
}

/// `text` with every control character, bidirectional control and backslash escaped:
/// `\n`, `\t`, `\r`, `\\`, `\x1b` (C0 and DEL), `\u{9b}` (C1), `\u{202e}` (bidi).
pub fn shown(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if is_unsafe(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Columns `text` takes on a terminal once shown: wide characters count two, combining marks
/// none.
pub fn width(text: &str) -> usize {
    shown(text).width()
}

/// `text` shown and cut to at most `columns` terminal columns, with an ellipsis where cut.
pub fn fit(text: &str, columns: usize) -> String {
    let text = shown(text);
    if text.width() <= columns {
        return text.into_owned();
    }
    if columns == 0 {
        return String::new();
    }
    let mut out = take_columns(text.chars(), columns - 1);
    out.push('…');
    out
}

/// `text` shown, cut to at most `columns` and padded to exactly `columns` (a table cell that
/// may not grow).
pub fn fit_padded(text: &str, columns: usize) -> String {
    let cut = fit(text, columns);
    let fill = " ".repeat(columns.saturating_sub(cut.width()));
    format!("{cut}{fill}")
}

/// `text` shown and cut to at most `columns` by an ellipsis in the middle, keeping both ends
/// (a long host name's start and its domain).
pub fn fit_middle(text: &str, columns: usize) -> String {
    let text = shown(text);
    if text.width() <= columns {
        return text.into_owned();
    }
    if columns == 0 {
        return String::new();
    }
    let keep = columns - 1;
    let (front, back) = (keep - keep / 2, keep / 2);
    let head = take_columns(text.chars(), front);
    let tail: String = take_columns(text.chars().rev(), back)
        .chars()
        .rev()
        .collect();
    format!("{head}…{tail}")
}

/// `text` shown and wrapped into lines of at most `columns`, at spaces where it can (a word
/// longer than a line is split).
pub fn wrap(text: &str, columns: usize) -> Vec<String> {
    wrap_shown(&shown(text), columns)
}

/// [`wrap`] for text already shown (escaped): it is not escaped again.
pub fn wrap_shown(text: &str, columns: usize) -> Vec<String> {
    let columns = columns.max(1);
    let mut lines = vec![];
    let mut line = String::new();
    for word in text.split(' ') {
        let mut word = word.to_string();
        loop {
            let room = columns - line.width().min(columns);
            let gap = usize::from(!line.is_empty());
            if word.width() + gap <= room {
                if gap == 1 {
                    line.push(' ');
                }
                line.push_str(&word);
                break;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
                continue;
            }
            // A word longer than a whole line: split it.
            let mut cut = String::new();
            let mut rest = String::new();
            for c in word.chars() {
                if rest.is_empty() && cut.width() + c.to_string().width() <= columns {
                    cut.push(c);
                } else {
                    rest.push(c);
                }
            }
            lines.push(cut);
            word = rest;
            if word.is_empty() {
                break;
            }
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// Most of a server's or a user's text that an error message quotes: enough to recognise it
/// (an HTML error page's title, the start of a connection string), never a 100 KB echo.
pub const EXCERPT_CHARS: usize = 200;

/// At most `max` characters of `text`, cut on a character boundary, saying how much was left
/// out. Not escaped: what displays it escapes it (escaping twice would double backslashes).
pub fn excerpt(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => Cow::Borrowed(text),
        Some((cut, _)) => Cow::Owned(format!(
            "{}… ({} more bytes)",
            &text[..cut],
            text.len() - cut
        )),
    }
}

/// `text` cut to at most `max` characters with an ellipsis: for fields of untrusted answers
/// (a DTS job's name) that are kept, so that memory and tables follow what is shown.
pub fn clip(text: &mut String, max: usize) {
    if let Some((cut, _)) = text.char_indices().nth(max.saturating_sub(1)) {
        if text[cut..].chars().nth(1).is_some() {
            text.truncate(cut);
            text.push('…');
        }
    }
}

/// The characters of `chars`, in order, while they fit in `columns` terminal columns.
fn take_columns(chars: impl Iterator<Item = char>, columns: usize) -> String {
    let mut out = String::new();
    let mut used = 0;
    for c in chars {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w > columns {
            break;
        }
        used += w;
        out.push(c);
    }
    out
}

/// `text` shown and padded with spaces to `columns` terminal columns (left- or right-aligned).
pub fn pad(text: &str, columns: usize, right: bool) -> String {
    let text = shown(text);
    let fill = " ".repeat(columns.saturating_sub(text.width()));
    if right {
        format!("{fill}{text}")
    } else {
        format!("{text}{fill}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_control_character_is_escaped_visibly() {
        let controls = (0u32..0x20)
            .chain(std::iter::once(0x7f))
            .chain(0x80..0xa0)
            .chain(0x202a..=0x202e)
            .chain(0x2066..=0x2069);
        for code in controls {
            let c = char::from_u32(code).unwrap();
            let text = format!("a{c}b");
            let escaped = shown(&text);
            assert!(
                !escaped.chars().any(is_control),
                "U+{code:04X} reached the output: {escaped:?}"
            );
            assert!(
                escaped.starts_with("a\\") && escaped.ends_with('b'),
                "{escaped:?}"
            );
            assert!(
                escaped.len() > text.len(),
                "U+{code:04X} is visible: {escaped:?}"
            );
        }
        assert_eq!(shown("a\u{1b}[2Jb"), "a\\x1b[2Jb");
        assert_eq!(shown("\u{1b}]0;owned\u{7}"), "\\x1b]0;owned\\x07");
        assert_eq!(shown("x\u{9b}y"), "x\\u{9b}y");
        assert_eq!(shown("a\nb\tc\rd"), "a\\nb\\tc\\rd");
        assert_eq!(shown("evil\u{202e}gpj.exe"), "evil\\u{202e}gpj.exe");
        assert_eq!(shown("a\u{7f}"), "a\\x7f");
    }

    #[test]
    fn plain_text_is_kept_without_copying_and_backslashes_are_told_apart() {
        assert!(matches!(shown("orders_id_seq"), Cow::Borrowed(_)));
        assert!(matches!(shown("заказы_😀"), Cow::Borrowed(_)));
        // A literal backslash-n is not an escaped newline.
        assert_eq!(shown("a\\nb"), "a\\\\nb");
        assert_ne!(shown("a\\nb"), shown("a\nb"));
    }

    #[test]
    fn widths_are_terminal_columns() {
        assert_eq!(width("abc"), 3);
        assert_eq!(width("表"), 2);
        assert_eq!(width("e\u{301}"), 1, "a combining accent takes no column");
        assert_eq!(width("a\u{1b}"), 5, "shown as a\\x1b");
        assert_eq!(pad("表", 4, false), "表  ");
        assert_eq!(pad("1", 3, true), "  1");
        assert_eq!(fit("表表表", 5), "表表…");
        assert_eq!(width(&fit("表表表", 5)), 5);
        assert_eq!(fit("abc", 3), "abc");
        assert_eq!(fit("a\nb", 3), "a\\…");
        assert_eq!(fit_padded("表表表", 5), "表表…");
        assert_eq!(fit_padded("a\\b", 6), "a\\\\b  ", "escaped once");
    }

    #[test]
    fn excerpts_and_clips_are_bounded_on_character_boundaries() {
        assert!(matches!(excerpt("short", 10), Cow::Borrowed("short")));
        let long = "é".repeat(300);
        let cut = excerpt(&long, 200);
        assert!(cut.starts_with(&"é".repeat(200)), "{cut}");
        assert!(cut.ends_with("… (200 more bytes)"), "{cut}");
        let mut name = "x".repeat(10);
        clip(&mut name, 10);
        assert_eq!(name, "x".repeat(10), "at the bound: kept whole");
        let mut name = "表".repeat(11);
        clip(&mut name, 10);
        assert_eq!(name, format!("{}…", "表".repeat(9)));
        assert_eq!(name.chars().count(), 10);
    }

    #[test]
    fn middle_cuts_keep_both_ends_and_wraps_stay_within_the_width() {
        let host = "db-primary-0042.orders.eu-central-1.rds.example.internal";
        let cut = fit_middle(host, 21);
        assert_eq!(cut.as_str().width(), 21);
        assert!(
            cut.starts_with("db-primary") && cut.ends_with("internal") && cut.contains('…'),
            "{cut}"
        );
        assert_eq!(fit_middle("short", 21), "short");
        let lines = wrap(
            "the task is finished: Synchronize Sequence is for tasks that replicate",
            20,
        );
        assert!(lines.iter().all(|l| l.as_str().width() <= 20), "{lines:?}");
        assert_eq!(
            lines.join(" "),
            "the task is finished: Synchronize Sequence is for tasks that replicate"
        );
        let lines = wrap(&"x".repeat(45), 20);
        assert_eq!(
            lines.iter().map(|l| l.len()).collect::<Vec<_>>(),
            [20, 20, 5]
        );
        assert_eq!(wrap("", 10), vec![String::new()]);
    }

    proptest::proptest! {
        #[test]
        fn nothing_unsafe_ever_comes_out(text in proptest::prelude::any::<String>()) {
            let out = shown(&text);
            proptest::prop_assert!(!out.chars().any(is_control), "{:?}", out);
            let fitted = fit(&text, 10);
            proptest::prop_assert!(fitted.as_str().width() <= 10, "{:?}", fitted);
        }
    }
}
