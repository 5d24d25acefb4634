//! Normal forms that let records group by shape: SQL with every literal
//! replaced by `?`, and URL paths with ids replaced by `*`. Used by queries
//! (`px.normalize_sql`, `px.normalize_path`) and by redaction before storage.
//! Both write into a caller's buffer, never allocate per call beyond it, and
//! never panic on any input.

/// `SELECT * FROM t WHERE id = 42 AND name = 'x'` → `SELECT * FROM t WHERE id = ? AND name = ?`.
///
/// Literals are quoted strings and numbers that do not belong to an
/// identifier. Strings follow PostgreSQL with `standard_conforming_strings`
/// on (its default since 9.1): in `'...'` a backslash is an ordinary
/// character and only `''` escapes a quote; in `E'...'` a backslash escapes
/// too; dollar quotes `$tag$...$tag$` end at the same tag. Comments (`--` to
/// the end of the line, `/* ... */`, nested as PostgreSQL nests them) are
/// dropped: they may carry anything. Bind parameters (`$1`, `?`),
/// identifiers (also `"quoted"`) and keywords stay. Runs of white space
/// become one space.
///
/// ```
/// let mut out = String::new();
/// loupe_protocol_parsers::normalize::normalize_sql("select a from t where id=42 and s = 'it''s'", &mut out);
/// assert_eq!(out, "select a from t where id=? and s = ?");
/// loupe_protocol_parsers::normalize::normalize_sql("update t set a = a + -5, b = b -1 where c = -2.5", &mut out);
/// assert_eq!(out, "update t set a = a + ?, b = b -? where c = ?");
/// // A backslash does not escape in a standard string, so the next quote
/// // starts the next literal, which is redacted too.
/// loupe_protocol_parsers::normalize::normalize_sql(r"select 1 where a = 'x\' or pw = 'hunter2' -- note", &mut out);
/// assert_eq!(out, "select ? where a = ? or pw = ?");
/// ```
pub fn normalize_sql(sql: &str, out: &mut String) {
    normalize_sql_with(sql, out, None);
}

/// [`normalize_sql`], and the byte range in `sql` of every literal it
/// replaced, in order (the parameters of `px.normalize_pgsql`).
pub fn normalize_sql_literals(sql: &str, out: &mut String, literals: &mut Vec<(usize, usize)>) {
    literals.clear();
    normalize_sql_with(sql, out, Some(literals));
}

fn normalize_sql_with(sql: &str, out: &mut String, mut literals: Option<&mut Vec<(usize, usize)>>) {
    let mut note = |a: usize, b: usize| {
        if let Some(l) = literals.as_deref_mut() {
            l.push((a, b.min(sql.len())));
        }
    };
    out.clear();
    let b = sql.as_bytes();
    let mut i = 0;
    let mut space = false;
    // The last byte written was part of an identifier or number.
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            space = true;
            i += 1;
            continue;
        }
        // Comments are dropped, like white space.
        if c == b'-' && b.get(i + 1) == Some(&b'-') {
            i = sql[i..].find('\n').map_or(b.len(), |e| i + e);
            space = true;
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'*') {
            i = skip_block_comment(b, i);
            space = true;
            continue;
        }
        if space && !out.is_empty() {
            out.push(' ');
        }
        space = false;
        let prev_ident = out
            .as_bytes()
            .last()
            .is_some_and(|&p| ident(p) || p == b'$');
        match c {
            b'\'' => {
                let start = i;
                i = skip_quoted(b, i + 1, b'\'', false);
                note(start, i);
                out.push('?');
            }
            b'e' | b'E' if b.get(i + 1) == Some(&b'\'') && !prev_ident => {
                let start = i;
                i = skip_quoted(b, i + 2, b'\'', true);
                note(start, i);
                out.push('?');
            }
            b'"' => {
                let end = skip_quoted(b, i + 1, b'"', false);
                out.push_str(&sql[i..end]);
                i = end;
            }
            b'$' if !prev_ident => match dollar_tag(b, i) {
                Some(tag_end) => {
                    let tag = &b[i..tag_end];
                    let mut j = tag_end;
                    let mut end = b.len();
                    while j + tag.len() <= b.len() {
                        if &b[j..j + tag.len()] == tag {
                            end = j + tag.len();
                            break;
                        }
                        j += 1;
                    }
                    note(i, end);
                    i = end;
                    out.push('?');
                }
                None => {
                    // `$1`: a bind parameter, kept.
                    let start = i;
                    i += 1;
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                    out.push_str(&sql[start..i]);
                }
            },
            b'0'..=b'9' if !prev_ident => {
                let start = i;
                i = skip_number(b, i);
                note(start, i);
                drop_unary_minus(out);
                out.push('?');
            }
            b'.' if !prev_ident && b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                let start = i;
                i = skip_number(b, i);
                note(start, i);
                drop_unary_minus(out);
                out.push('?');
            }
            _ => {
                let len = utf8_len(c);
                let end = (i + len).min(b.len());
                out.push_str(sql.get(i..end).unwrap_or("?"));
                i = end;
            }
        }
    }
}

/// A `-` written just before a number is part of the literal when it is a
/// unary minus (after an operator, `(`, `,`, or at the start), as
/// PostgreSQL folds it (`x + -5` and `x + 5` are one statement to
/// `pg_stat_statements`); after an operand it is a binary minus and stays.
fn drop_unary_minus(out: &mut String) {
    let o = out.as_bytes();
    let Some((&b'-', before)) = o.split_last() else {
        return;
    };
    let before = before.strip_suffix(b" ").unwrap_or(before);
    let operand = before.last().is_some_and(|&p| {
        p.is_ascii_alphanumeric()
            || matches!(p, b'_' | b')' | b']' | b'?' | b'"' | b'$')
            || p >= 0x80
    });
    if !operand {
        out.pop();
    }
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// Index after the closing quote: a doubled quote stays inside, and so does
/// a backslash's next byte when `escapes` (`E'...'`).
fn skip_quoted(b: &[u8], mut i: usize, q: u8, escapes: bool) -> usize {
    while i < b.len() {
        if escapes && b[i] == b'\\' {
            i += 2;
            continue;
        }
        if b[i] == q {
            if b.get(i + 1) == Some(&q) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    b.len()
}

/// Index after a `/* ... */` comment at `i` (nested ones inside it too, as
/// PostgreSQL reads them); the end of the input when it is not closed.
fn skip_block_comment(b: &[u8], mut i: usize) -> usize {
    let mut depth = 0usize;
    while i + 1 < b.len() {
        match (b[i], b[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    b.len()
}

fn skip_number(b: &[u8], mut i: usize) -> usize {
    if b.get(i) == Some(&b'0') && matches!(b.get(i + 1), Some(b'x' | b'X')) {
        i += 2;
        while i < b.len() && b[i].is_ascii_hexdigit() {
            i += 1;
        }
        return i;
    }
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
        i += 1;
    }
    if i < b.len() && matches!(b[i], b'e' | b'E') {
        let mut j = i + 1;
        if j < b.len() && matches!(b[j], b'+' | b'-') {
            j += 1;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            i = j;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        }
    }
    i
}

/// `$tag$` or `$$` at `i`: the index after the opening tag.
fn dollar_tag(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    while j < b.len() && (b[j].is_ascii_alphabetic() || b[j] == b'_') {
        j += 1;
    }
    (b.get(j) == Some(&b'$')).then_some(j + 1)
}

/// `/users/1001/orders?x=1` → `/users/*/orders`: segments that are numbers,
/// UUIDs or long hex ids become `*`; the query string is dropped.
///
/// ```
/// let mut out = String::new();
/// loupe_protocol_parsers::normalize::normalize_path("/users/1001/orders/5f0c9a3b77e1?x=1", &mut out);
/// assert_eq!(out, "/users/*/orders/*");
/// ```
pub fn normalize_path(path: &str, out: &mut String) {
    out.clear();
    let path = path.split(['?', '#']).next().unwrap_or("");
    for (k, seg) in path.split('/').enumerate() {
        if k > 0 {
            out.push('/');
        }
        if is_id(seg) {
            out.push('*');
        } else {
            out.push_str(seg);
        }
    }
}

fn is_id(seg: &str) -> bool {
    let b = seg.as_bytes();
    if b.is_empty() {
        return false;
    }
    if b.iter().all(u8::is_ascii_digit) {
        return true;
    }
    // 8-4-4-4-12
    if b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
    {
        return true;
    }
    b.len() >= 8 && b.iter().all(u8::is_ascii_hexdigit) && b.iter().any(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(s: &str) -> String {
        let mut o = String::new();
        normalize_sql(s, &mut o);
        o
    }

    fn path(s: &str) -> String {
        let mut o = String::new();
        normalize_path(s, &mut o);
        o
    }

    #[test]
    fn sql_literals_become_placeholders() {
        assert_eq!(
            sql("SELECT * FROM t WHERE id = 42"),
            "SELECT * FROM t WHERE id = ?"
        );
        assert_eq!(
            sql("select 'a', E'b\\'c', 1.5e3, .5, 0xFF"),
            "select ?, ?, ?, ?, ?"
        );
        assert_eq!(
            sql("insert into t2 values ($1, $2)"),
            "insert into t2 values ($1, $2)"
        );
        assert_eq!(
            sql("select $$x y$$, $q$z$q$ from t1"),
            "select ?, ? from t1"
        );
        assert_eq!(
            sql("select \"col 1\"  from   t\n where a=?"),
            "select \"col 1\" from t where a=?"
        );
        assert_eq!(
            sql("SELECT abalance FROM pgbench_accounts WHERE aid = 1234;"),
            "SELECT abalance FROM pgbench_accounts WHERE aid = ?;"
        );
        // Comments are dropped (they may carry anything), nested ones too.
        assert_eq!(sql("x -- note 5\n= 5"), "x = ?");
        assert_eq!(
            sql("select /* a /* nested 'x' */ still */ 1 /* open"),
            "select ?"
        );
        // standard_conforming_strings: a backslash ends nothing in '...'.
        assert_eq!(
            sql(r"select * from u where name = 'a\' and pw = 'hunter2'"),
            "select * from u where name = ? and pw = ?"
        );
        assert_eq!(sql(r"select E'a\'b' , 'c\'"), "select ? , ?");
        assert_eq!(sql("select $tag$ it's $ x $tag$, 2"), "select ?, ?");
        assert_eq!(sql("select 'unterminated"), "select ?");
        assert_eq!(sql("select é, 'ü' from t"), "select é, ? from t");
    }

    #[test]
    fn paths_lose_their_ids() {
        assert_eq!(path("/users/1001/orders"), "/users/*/orders");
        assert_eq!(path("/o/123e4567-e89b-12d3-a456-426614174000/x"), "/o/*/x");
        assert_eq!(path("/static/app.js?v=3"), "/static/app.js");
        assert_eq!(path("/deadbeef42/cafe"), "/*/cafe");
        assert_eq!(path("/"), "/");
        assert_eq!(path(""), "");
    }

    #[test]
    fn never_panics_on_any_bytes() {
        for s in [
            "'",
            "$",
            "$a",
            "E'",
            "\"",
            "0x",
            "1e",
            "\u{10FFFF}'",
            "--",
            "/\u{0}",
        ] {
            sql(s);
            path(s);
        }
    }
}
