//! Just enough of MySQL's lexical rules to read a statement's words safely: comments, string
//! literals and quoted identifiers are stepped over, so a `FOR UPDATE` inside a string is not
//! a locking clause and one written across a newline is. Nothing here allocates; tokens borrow
//! the statement's bytes.
//!
//! Executable comments (`/*! … */`, `/*M! … */`) are returned as a token of their own: what
//! they contain runs on the server, so a reader must treat the statement as unknown.

/// One token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tok<'a> {
    /// A keyword or an unquoted identifier.
    Word(&'a str),
    /// A `backquoted` identifier: never a keyword.
    Quoted,
    /// A string or number literal.
    Literal,
    /// A user variable: `@x`, `@'x'`, `` @`x` ``.
    UserVar,
    /// A system variable: `@@x`, `@@session.x`.
    SysVar,
    /// `:=`.
    Assign,
    /// Any other single character.
    Punct(u8),
    /// An executable comment.
    Executable,
}

/// The tokens of a statement, in order.
#[derive(Clone)]
pub(crate) struct Lexer<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(sql: &'a [u8]) -> Lexer<'a> {
        Lexer { s: sql, i: 0 }
    }

    fn peek(&self, ahead: usize) -> Option<u8> {
        self.s.get(self.i + ahead).copied()
    }

    /// Skips white space and comments; `Some` when an executable comment starts here.
    fn skip_blank(&mut self) -> Option<Tok<'a>> {
        loop {
            match (self.peek(0), self.peek(1), self.peek(2)) {
                (Some(c), _, _) if c.is_ascii_whitespace() => self.i += 1,
                (Some(b'#'), _, _) => self.skip_line(),
                // `--` starts a comment only when followed by white space or the end.
                (Some(b'-'), Some(b'-'), c) if c.is_none_or(|c| c.is_ascii_whitespace()) => {
                    self.skip_line()
                }
                (Some(b'/'), Some(b'*'), Some(b'!' | b'M')) => {
                    self.skip_comment();
                    return Some(Tok::Executable);
                }
                (Some(b'/'), Some(b'*'), _) => self.skip_comment(),
                _ => return None,
            }
        }
    }

    fn skip_line(&mut self) {
        while let Some(c) = self.peek(0) {
            self.i += 1;
            if c == b'\n' {
                return;
            }
        }
    }

    fn skip_comment(&mut self) {
        self.i += 2;
        while self.i < self.s.len() {
            if self.s[self.i] == b'*' && self.peek(1) == Some(b'/') {
                self.i += 2;
                return;
            }
            self.i += 1;
        }
    }

    /// Steps over a quoted run that starts at `self.i` (the quote itself), with backslash
    /// escapes and doubled quotes. An unterminated one runs to the end.
    fn quoted(&mut self) {
        let q = self.s[self.i];
        self.i += 1;
        while let Some(c) = self.peek(0) {
            self.i += 1;
            if c == b'\\' && q != b'`' {
                self.i += 1;
            } else if c == q {
                if self.peek(0) == Some(q) {
                    self.i += 1;
                } else {
                    return;
                }
            }
        }
        self.i = self.i.min(self.s.len());
    }

    fn word(&mut self) -> &'a str {
        let start = self.i;
        while self.peek(0).is_some_and(is_word_byte) {
            self.i += 1;
        }
        std::str::from_utf8(&self.s[start..self.i]).unwrap_or("")
    }
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

impl<'a> Iterator for Lexer<'a> {
    type Item = Tok<'a>;

    fn next(&mut self) -> Option<Tok<'a>> {
        if let Some(t) = self.skip_blank() {
            return Some(t);
        }
        let c = self.peek(0)?;
        Some(match c {
            b'\'' | b'"' => {
                self.quoted();
                Tok::Literal
            }
            b'`' => {
                self.quoted();
                Tok::Quoted
            }
            b'@' if self.peek(1) == Some(b'@') => {
                self.i += 2;
                // `@@session.x`: the scope, a dot and the name are one variable.
                self.word();
                while self.peek(0) == Some(b'.') && self.peek(1).is_some_and(is_word_byte) {
                    self.i += 1;
                    self.word();
                }
                Tok::SysVar
            }
            b'@' => {
                self.i += 1;
                match self.peek(0) {
                    Some(b'\'' | b'"' | b'`') => self.quoted(),
                    _ => {
                        self.word();
                    }
                }
                Tok::UserVar
            }
            b':' if self.peek(1) == Some(b'=') => {
                self.i += 2;
                Tok::Assign
            }
            c if c.is_ascii_digit() => {
                self.word();
                Tok::Literal
            }
            c if is_word_byte(c) => Tok::Word(self.word()),
            c => {
                self.i += 1;
                Tok::Punct(c)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(sql: &str) -> Vec<Tok<'_>> {
        Lexer::new(sql.as_bytes()).collect()
    }

    #[test]
    fn comments_and_strings_are_stepped_over() {
        assert_eq!(
            toks("/* a */ SELECT 'FOR UPDATE' -- x\n, `t`#y\n"),
            [
                Tok::Word("SELECT"),
                Tok::Literal,
                Tok::Punct(b','),
                Tok::Quoted
            ]
        );
        assert_eq!(toks("SELECT 'it''s', \"a\\\"b\""), {
            [
                Tok::Word("SELECT"),
                Tok::Literal,
                Tok::Punct(b','),
                Tok::Literal,
            ]
        });
        // `--` without a blank after it is two minus signs.
        assert_eq!(
            toks("SELECT 1--1"),
            [
                Tok::Word("SELECT"),
                Tok::Literal,
                Tok::Punct(b'-'),
                Tok::Punct(b'-'),
                Tok::Literal
            ]
        );
    }

    #[test]
    fn variables_and_assignment() {
        assert_eq!(
            toks("SELECT @x := @@session.port, @'y'"),
            [
                Tok::Word("SELECT"),
                Tok::UserVar,
                Tok::Assign,
                Tok::SysVar,
                Tok::Punct(b','),
                Tok::UserVar
            ]
        );
    }

    #[test]
    fn executable_comments_are_tokens() {
        assert_eq!(toks("/*!50000 SELECT 1 */"), [Tok::Executable]);
        assert_eq!(toks("SELECT /*M! 1, */ 2")[1], Tok::Executable);
    }

    #[test]
    fn unterminated_input_ends_cleanly() {
        for sql in [
            "SELECT 'abc",
            "SELECT `x",
            "/* never",
            "SELECT @'",
            "@",
            "'\\",
        ] {
            let _ = toks(sql);
        }
    }
}
