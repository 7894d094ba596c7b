//! Policy errors: every problem found in the rules files, each with the place it was found.

use std::fmt;

use serde_saphyr::{MessageFormatter, UserMessageFormatter};

/// One thing wrong with the rules, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The file (or directory) the problem is in; `None` for problems of the merged policy as a
    /// whole, such as a missing section.
    pub file: Option<String>,
    /// 1-based line and column, when known.
    pub line: Option<u64>,
    pub column: Option<u64>,
    /// What is wrong and what to do about it.
    pub message: String,
}

impl Problem {
    /// A problem of the merged policy, not of one file.
    pub(super) fn general(message: impl Into<String>) -> Self {
        Self {
            file: None,
            line: None,
            column: None,
            message: message.into(),
        }
    }

    /// A problem with a whole file or directory.
    pub(crate) fn in_file(file: &str, message: impl Into<String>) -> Self {
        Self {
            file: Some(file.to_owned()),
            ..Self::general(message)
        }
    }

    /// A problem at a line and column of a file.
    pub(crate) fn at(place: &Place, message: impl Into<String>) -> Self {
        Self {
            file: Some(place.file.clone()),
            line: Some(place.line),
            column: Some(place.column),
            message: message.into(),
        }
    }
}

impl Problem {
    /// A YAML file that did not parse into the expected shape: the parser's message for users,
    /// at the line and column it points to.
    pub(crate) fn from_yaml(file: &str, err: &serde_saphyr::Error) -> Self {
        let message = UserMessageFormatter
            .format_message(err.without_snippet())
            .into_owned();
        match err.location() {
            Some(location) => Problem::at(
                &Place {
                    file: file.to_owned(),
                    line: location.line(),
                    column: location.column(),
                },
                message,
            ),
            None => Problem::in_file(file, message),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{file}:")?;
            if let (Some(line), Some(column)) = (self.line, self.column) {
                write!(f, "{line}:{column}:")?;
            }
            f.write_str(" ")?;
        }
        f.write_str(&self.message)
    }
}

/// The rules could not be loaded; holds every problem found, in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.problems.len();
        write!(
            f,
            "invalid rules ({count} problem{}):",
            if count == 1 { "" } else { "s" }
        )?;
        for problem in &self.problems {
            write!(f, "\n  {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyError {}

/// A position in a YAML file (rules, exemptions).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Place {
    pub file: String,
    pub line: u64,
    pub column: u64,
}

impl Place {
    pub fn of<T>(file: &str, spanned: &serde_saphyr::Spanned<T>) -> Self {
        Self {
            file: file.to_owned(),
            line: spanned.referenced.line(),
            column: spanned.referenced.column(),
        }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}
