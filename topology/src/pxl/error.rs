//! Compile errors: where (line, column of the offending construct) and what,
//! rendered as `file:line:col: message`, the source line and a caret.

use std::fmt;

/// A byte range in the script.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompileError {
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub col: usize,
    pub message: String,
    /// The source line and the caret under the construct.
    pub source_line: String,
    pub caret: String,
}

impl CompileError {
    pub fn at(file: &str, source: &str, span: Span, message: impl Into<String>) -> Self {
        let start = span.start.min(source.len());
        let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = source[start..]
            .find('\n')
            .map_or(source.len(), |i| start + i);
        let line = source[..start].matches('\n').count() + 1;
        let text = &source[line_start..line_end];
        let col_chars = source[line_start..start].chars().count();
        let end = span.end.clamp(start, line_end);
        let width = source[start..end].chars().count().max(1);
        let pad: String = source[line_start..start]
            .chars()
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        CompileError {
            file: file.to_string(),
            line,
            col: col_chars + 1,
            message: message.into(),
            source_line: text.to_string(),
            caret: format!("{pad}{}", "^".repeat(width)),
        }
    }
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}\n    {}\n    {}",
            self.file, self.line, self.col, self.message, self.source_line, self.caret
        )
    }
}

impl std::error::Error for CompileError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_under_the_construct() {
        let src = "import px\ndf = px.DataFrame('nope')\n";
        let start = src.find("'nope'").unwrap();
        let e = CompileError::at(
            "s.pxl",
            src,
            Span {
                start,
                end: start + 6,
            },
            "unknown table",
        );
        assert_eq!(
            e.to_string(),
            "s.pxl:2:19: unknown table\n    df = px.DataFrame('nope')\n                      ^^^^^^"
        );
    }
}
