//! One input file's text, with the positions of its lines, for parsing JSON piece by piece.
//!
//! Files are parsed into borrowed [`RawValue`]s: each nested element is a slice of the file's own
//! buffer, parsed into a typed struct only when its loader needs it, so no `serde_json::Value`
//! tree of the whole estate is ever built. Because every slice points into the buffer, its byte
//! offset is a pointer difference, which gives resources their line and turns an error inside a
//! nested slice into an absolute `file:line:column`.

use std::borrow::Cow;
use std::cell::Cell;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::LoadError;

/// A loaded input file.
pub struct JsonFile<'a> {
    label: &'a str,
    text: &'a str,
    /// Byte offset where each line starts; `line_starts[0] == 0`.
    line_starts: Vec<usize>,
    /// The last position whose column was counted, `(byte offset, 0-based column)`, so that
    /// columns of increasing offsets on one long line are counted from there, not from the
    /// line's start: a one-line file of many resources stays linear.
    cursor: Cell<(usize, usize)>,
}

impl<'a> JsonFile<'a> {
    /// Checks that `bytes` are UTF-8 (dropping a byte-order mark) and indexes their lines.
    pub fn new(label: &'a str, bytes: &'a [u8]) -> Result<Self, LoadError> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(err) => {
                // The valid prefix is still text, so the bad byte's position is exact.
                let valid = bytes.get(..err.valid_up_to()).unwrap_or_default();
                let prefix = std::str::from_utf8(valid).unwrap_or_default();
                let file = JsonFile::index(label, prefix);
                return Err(file.error_at_offset(
                    prefix.len(),
                    "the file is not UTF-8 text; export it again as UTF-8 JSON".to_string(),
                ));
            }
        };
        let file = JsonFile::index(label, text);
        if text.trim().is_empty() {
            return Err(file.error_at_offset(
                0,
                "the file is empty; expected JSON exported from az, the Azure REST API, the AWS CLI or portcullis"
                    .to_string(),
            ));
        }
        Ok(file)
    }

    fn index(label: &'a str, text: &'a str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self {
            label,
            text,
            line_starts,
            cursor: Cell::new((0, 0)),
        }
    }

    pub fn label(&self) -> &'a str {
        self.label
    }

    pub fn text(&self) -> &'a str {
        self.text
    }

    /// Parses a slice of this file (the whole text, or a nested [`RawValue`]'s text), reporting
    /// syntax and type errors at their absolute position in the file.
    pub fn parse<T: Deserialize<'a>>(&self, slice: &'a str) -> Result<T, LoadError> {
        serde_json::from_str(slice).map_err(|err| {
            let inner = offset_in(slice, err.line(), err.column());
            self.error_at_offset(self.offset_of(slice) + inner, describe(&err))
        })
    }

    /// Parses a nested element.
    pub fn parse_raw<T: Deserialize<'a>>(&self, raw: &'a RawValue) -> Result<T, LoadError> {
        self.parse(raw.get())
    }

    /// Parses a string value with `parse`; a bad value is an error at its position that names
    /// the field and what it belongs to: `sourceAddressPrefix "10.0.0.300/24" of rule
    /// "allow-ssh" is not a valid CIDR or IP address`.
    pub fn parse_field<T, E: std::fmt::Display>(
        &self,
        raw: &'a RawValue,
        field: &str,
        owner: &(impl std::fmt::Display + ?Sized),
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<T, LoadError> {
        let value = self.string(raw)?;
        parse(&value).map_err(|err| {
            let quoted = format!("{:?}", value.trim());
            let err = err.to_string();
            let problem = match err.strip_prefix(&quoted) {
                Some(rest) => rest.trim_start().to_string(),
                None => format!("is invalid: {err}"),
            };
            self.error_at(raw.get(), format!("{field} {quoted} of {owner} {problem}"))
        })
    }

    /// A JSON string value, borrowed from the file unless it holds escapes.
    pub fn string(&self, raw: &'a RawValue) -> Result<Cow<'a, str>, LoadError> {
        // A raw value was validated when it was read, so a quoted run without a backslash is
        // exactly the string's text.
        let text = raw.get();
        match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
            Some(inner) if !inner.contains('\\') => Ok(Cow::Borrowed(inner)),
            _ => self.parse_raw::<String>(raw).map(Cow::Owned),
        }
    }

    /// The 1-based line where `slice` starts.
    pub fn line_of(&self, slice: &str) -> u32 {
        to_u32(self.line_index(self.offset_of(slice)) + 1)
    }

    /// An error positioned at the start of `slice`.
    pub fn error_at(&self, slice: &str, message: String) -> LoadError {
        self.error_at_offset(self.offset_of(slice), message)
    }

    /// A warning positioned at the start of `slice`: `file:line:column: message`.
    pub fn warning_at(&self, slice: &str, message: String) -> String {
        self.error_at(slice, message).to_string()
    }

    /// Byte offset of `slice` in the file; 0 for a slice from elsewhere.
    fn offset_of(&self, slice: &str) -> usize {
        let start = self.text.as_ptr() as usize;
        let at = slice.as_ptr() as usize;
        match at.checked_sub(start) {
            Some(offset) if offset <= self.text.len() => offset,
            _ => 0,
        }
    }

    fn error_at_offset(&self, offset: usize, message: String) -> LoadError {
        let (line, column) = self.line_col(offset);
        LoadError::Invalid {
            file: self.label.to_string(),
            line,
            column,
            message,
        }
    }

    /// 0-based index of the line holding a byte offset.
    fn line_index(&self, offset: usize) -> usize {
        self.line_starts
            .partition_point(|&start| start <= offset)
            .saturating_sub(1)
    }

    /// 1-based line and column (in characters) of a byte offset.
    fn line_col(&self, offset: usize) -> (u32, u32) {
        let offset = offset.min(self.text.len());
        let line_index = self.line_index(offset);
        let line_start = self.line_starts.get(line_index).copied().unwrap_or(0);
        let (cursor, cursor_column) = self.cursor.get();
        let (from, column_before) = if (line_start..=offset).contains(&cursor) {
            (cursor, cursor_column)
        } else {
            (line_start, 0)
        };
        let column = column_before + self.text.get(from..offset).map_or(0, |s| s.chars().count());
        self.cursor.set((offset, column));
        (to_u32(line_index + 1), to_u32(column + 1))
    }
}

/// Byte offset inside `slice` of serde_json's 1-based line and column. serde_json counts the
/// column in bytes up to and including the offending one; column 0 means the error is at the
/// newline ending the previous line.
fn offset_in(slice: &str, line: usize, column: usize) -> usize {
    let line_start = if line <= 1 {
        0
    } else {
        slice
            .match_indices('\n')
            .nth(line - 2)
            .map_or(slice.len(), |(i, _)| i + 1)
    };
    let mut offset = if column == 0 {
        // The newline that ended the previous line.
        line_start.saturating_sub(1)
    } else {
        line_start.saturating_add(column - 1)
    }
    .min(slice.len());
    while !slice.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// serde_json's message without its own " at line L column C" suffix, which would be relative
/// to the nested slice.
pub(super) fn describe(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(i) => text.get(..i).unwrap_or(&text).to_string(),
        None => text,
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Outer<'a> {
        #[serde(borrow)]
        items: Vec<&'a RawValue>,
    }

    #[derive(Debug, Deserialize)]
    struct Item {
        n: u8,
    }

    fn position(err: LoadError) -> (u32, u32, String) {
        match err {
            LoadError::Invalid {
                line,
                column,
                message,
                ..
            } => (line, column, message),
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn nested_elements_know_their_lines() {
        let text = "{\"items\": [\n  {\"n\": 1},\n\n  {\"n\": 2}\n]}";
        let file = JsonFile::new("x.json", text.as_bytes()).unwrap();
        let outer: Outer = file.parse(file.text()).unwrap();
        let lines: Vec<u32> = outer.items.iter().map(|r| file.line_of(r.get())).collect();
        assert_eq!(lines, [2, 4]);
        let second: Item = file.parse_raw(outer.items[1]).unwrap();
        assert_eq!(second.n, 2);
    }

    #[test]
    fn errors_in_nested_elements_have_absolute_positions() {
        let text = "{\"items\": [\n  {\"n\": 1},\n  {\"n\":\n     300}\n]}";
        let file = JsonFile::new("x.json", text.as_bytes()).unwrap();
        let outer: Outer = file.parse(file.text()).unwrap();
        let err = file.parse_raw::<Item>(outer.items[1]).unwrap_err();
        let (line, column, message) = position(err);
        assert_eq!((line, column), (4, 8), "{message}");
        assert!(message.contains("300"), "{message}");
        assert!(!message.contains("at line"), "{message}");
    }

    #[test]
    fn syntax_errors_have_line_and_column() {
        let text = "{\n  \"a\": 1,\n  \"b\": tru\n}";
        let file = JsonFile::new("x.json", text.as_bytes()).unwrap();
        let err = file.parse::<&RawValue>(file.text()).unwrap_err();
        let (line, column, _) = position(err);
        assert_eq!((line, column), (3, 11));
    }

    #[test]
    fn rejects_non_utf8_and_empty_files_with_positions() {
        let err = JsonFile::new("x.json", b"{\n \"a\": \"\xff\"}")
            .err()
            .unwrap();
        let (line, column, message) = position(err);
        assert_eq!((line, column), (2, 8));
        assert!(message.contains("UTF-8"));

        let err = JsonFile::new("x.json", b" \n ").err().unwrap();
        assert!(position(err).2.contains("empty"));
    }

    /// Lines of each item, and line and column of the last item and of the error inside it
    /// (`300` is no `u8`), in files laid out on one line or indented, with and without
    /// multi-byte text before the items. Columns count characters, not bytes.
    #[test]
    fn positions_in_one_line_and_indented_files() {
        for (text, lines, last_item, error) in [
            (
                r#"{"items": [{"n": 1}, {"n": 2}, {"n": 300}]}"#,
                [1, 1, 1],
                (1, 32),
                (1, 40),
            ),
            (
                r#"{"é": "ünï", "items": [{"n": 1}, {"n": 2}, {"n": 300}]}"#,
                [1, 1, 1],
                (1, 44),
                (1, 52),
            ),
            (
                "{\"items\": [\n  {\"n\": 1}, {\"n\": 2},\n  {\"n\": 300}\n]}",
                [2, 2, 3],
                (3, 3),
                (3, 11),
            ),
            (
                "{\"ü\": 1,\n\"items\": [{\"n\": 1}, {\"n\": 2}, {\"ü\": 0, \"n\": 300}]}",
                [2, 2, 2],
                (2, 31),
                (2, 47),
            ),
        ] {
            let file = JsonFile::new("x.json", text.as_bytes()).unwrap();
            let outer: Outer = file.parse(file.text()).unwrap();
            let got: Vec<u32> = outer.items.iter().map(|r| file.line_of(r.get())).collect();
            assert_eq!(got, lines, "{text}");
            let at = |raw: &RawValue| {
                let (line, column, _) = position(file.error_at(raw.get(), String::new()));
                (line, column)
            };
            // Earlier items first, later ones after, then earlier again: the cursor that
            // counts columns incrementally must give the same answers in any order.
            let first = at(outer.items[0]);
            assert_eq!(at(outer.items[2]), last_item, "{text}");
            let err = file.parse_raw::<Item>(outer.items[2]).unwrap_err();
            let (line, column, message) = position(err);
            assert_eq!((line, column), error, "{text}: {message}");
            assert_eq!(at(outer.items[0]), first, "{text}");
            assert_eq!(at(outer.items[2]), last_item, "{text}");
        }
    }

    #[test]
    fn accepts_a_byte_order_mark() {
        let file = JsonFile::new("x.json", b"\xEF\xBB\xBF{}").unwrap();
        assert_eq!(file.text(), "{}");
    }
}
