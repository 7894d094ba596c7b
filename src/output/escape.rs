//! Text from cloud data and file names made safe for a terminal: control characters (C0, DEL,
//! C1) and bidirectional-text controls become visible escapes (`\x1b`, `\u{202e}`), so a hostile
//! name can neither steer the terminal nor reorder what the reader sees.

use std::borrow::Cow;
use std::fmt::Write;

/// Whether a terminal, readline or a bidi-aware renderer would act on `c` instead of showing it.
pub fn is_hostile(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// `text` with every hostile character written as an escape; a backslash is left as it is.
pub fn visible(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_hostile) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        push_visible(&mut out, c);
    }
    Cow::Owned(out)
}

/// Like [`visible`], but line breaks (and tabs) are kept: for whole rendered outputs whose own
/// layout uses them, where every value from cloud data was already passed through [`visible`].
pub fn visible_layout(text: &str) -> Cow<'_, str> {
    if !text
        .chars()
        .any(|c| is_hostile(c) && !matches!(c, '\n' | '\t'))
    {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if matches!(c, '\n' | '\t') {
            out.push(c);
        } else {
            push_visible(&mut out, c);
        }
    }
    Cow::Owned(out)
}

fn push_visible(out: &mut String, c: char) {
    if !is_hostile(c) {
        out.push(c);
    } else if u32::from(c) < 0x80 {
        let _ = write!(out, "\\x{:02x}", u32::from(c));
    } else {
        let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_characters_become_visible_escapes() {
        for (raw, shown) in [
            ("plain-name_1.0", "plain-name_1.0"),
            ("\x1b[31mred", "\\x1b[31mred"),
            ("a\rb", "a\\x0db"),
            ("bell\x07", "bell\\x07"),
            ("ctl\x01a", "ctl\\x01a"),
            ("del\x7f", "del\\x7f"),
            ("c1\u{9b}2J", "c1\\u{9b}2J"),
            ("rlo\u{202e}txt", "rlo\\u{202e}txt"),
            ("lri\u{2066}x\u{2069}", "lri\\u{2066}x\\u{2069}"),
            ("m\u{200e}\u{200f}\u{061c}", "m\\u{200e}\\u{200f}\\u{61c}"),
            ("two\nlines\t", "two\\x0alines\\x09"),
            ("naïve 名前", "naïve 名前"),
        ] {
            assert_eq!(visible(raw), shown, "{raw:?}");
            assert!(!visible(raw).chars().any(is_hostile));
        }
    }

    #[test]
    fn layout_keeps_line_breaks_only() {
        assert_eq!(visible_layout("a\n\tb\x1b\r\n"), "a\n\tb\\x1b\\x0d\n");
    }
}
