//! What user SQL must look like before PostgreSQL's sandbox runs it.
//!
//! PostgreSQL's privileges are the wall: the statement runs as a login role that can read
//! nothing but its views (see `super::sandbox`). They cannot hide the system catalogs
//! (readable by every role: other workspaces' table and column names, row estimates) or
//! the functions every role may call (`pg_notify`, advisory locks, `set_config`, dynamic
//! SQL through `query_to_xml`, catalog lookups such as `to_regclass`). So the statement
//! is also read here, token by token as PostgreSQL's lexer reads it: one statement, a
//! query (`SELECT`, `WITH`, `VALUES`, `TABLE`), no name of a catalog or a `reg*` type,
//! and calls only of listed functions. `?` placeholders become `$n` as elsewhere in this
//! crate (so the jsonb operators `?`, `?|` and `?&` are written `jsonb_exists…()`).

/// The functions a statement may call: PostgreSQL's math, string, date and time, JSON,
/// array, aggregate and window functions. Not listed: anything that reads the catalogs or
/// the server's state, signals, locks, notifies, sleeps, runs SQL given as text, or makes
/// a value whose size is an argument (`repeat`, `lpad`, `rpad`).
const FUNCTIONS: &[&str] = &[
    // math
    "abs",
    "cbrt",
    "ceil",
    "ceiling",
    "degrees",
    "div",
    "exp",
    "factorial",
    "floor",
    "gcd",
    "lcm",
    "ln",
    "log",
    "log10",
    "min_scale",
    "mod",
    "pi",
    "power",
    "radians",
    "random",
    "round",
    "scale",
    "sign",
    "sqrt",
    "trim_scale",
    "trunc",
    "width_bucket",
    "acos",
    "acosd",
    "asin",
    "asind",
    "atan",
    "atand",
    "atan2",
    "atan2d",
    "cos",
    "cosd",
    "cot",
    "cotd",
    "sin",
    "sind",
    "tan",
    "tand",
    "sinh",
    "cosh",
    "tanh",
    "asinh",
    "acosh",
    "atanh",
    // strings
    "ascii",
    "bit_length",
    "btrim",
    "char_length",
    "character_length",
    "chr",
    "concat",
    "concat_ws",
    "convert_from",
    "decode",
    "encode",
    "format",
    "initcap",
    "left",
    "length",
    "lower",
    "ltrim",
    "md5",
    "normalize",
    "octet_length",
    "quote_ident",
    "quote_literal",
    "quote_nullable",
    "regexp_count",
    "regexp_instr",
    "regexp_like",
    "regexp_match",
    "regexp_matches",
    "regexp_replace",
    "regexp_split_to_array",
    "regexp_split_to_table",
    "regexp_substr",
    "replace",
    "reverse",
    "right",
    "rtrim",
    "split_part",
    "starts_with",
    "string_to_array",
    "string_to_table",
    "strpos",
    "substr",
    "to_hex",
    "translate",
    "unistr",
    "upper",
    "sha224",
    "sha256",
    "sha384",
    "sha512",
    "gen_random_uuid",
    "to_char",
    "to_number",
    "to_date",
    "to_timestamp",
    // date and time
    "age",
    "clock_timestamp",
    "date_bin",
    "date_part",
    "date_trunc",
    "isfinite",
    "justify_days",
    "justify_hours",
    "justify_interval",
    "make_date",
    "make_interval",
    "make_time",
    "make_timestamp",
    "make_timestamptz",
    "now",
    "statement_timestamp",
    "timeofday",
    "transaction_timestamp",
    // JSON
    "array_to_json",
    "json_agg",
    "json_array_elements",
    "json_array_elements_text",
    "json_array_length",
    "json_build_array",
    "json_build_object",
    "json_each",
    "json_each_text",
    "json_extract_path",
    "json_extract_path_text",
    "json_object",
    "json_object_agg",
    "json_object_keys",
    "json_strip_nulls",
    "json_typeof",
    "jsonb_agg",
    "jsonb_array_elements",
    "jsonb_array_elements_text",
    "jsonb_array_length",
    "jsonb_build_array",
    "jsonb_build_object",
    "jsonb_each",
    "jsonb_each_text",
    "jsonb_exists",
    "jsonb_exists_all",
    "jsonb_exists_any",
    "jsonb_extract_path",
    "jsonb_extract_path_text",
    "jsonb_insert",
    "jsonb_object",
    "jsonb_object_agg",
    "jsonb_object_keys",
    "jsonb_path_exists",
    "jsonb_path_match",
    "jsonb_path_query",
    "jsonb_path_query_array",
    "jsonb_path_query_first",
    "jsonb_pretty",
    "jsonb_set",
    "jsonb_set_lax",
    "jsonb_strip_nulls",
    "jsonb_typeof",
    "row_to_json",
    "to_json",
    "to_jsonb",
    // arrays and sets
    "array_append",
    "array_cat",
    "array_dims",
    "array_length",
    "array_lower",
    "array_position",
    "array_positions",
    "array_prepend",
    "array_remove",
    "array_replace",
    "array_to_string",
    "array_upper",
    "cardinality",
    "generate_series",
    "num_nonnulls",
    "num_nulls",
    "trim_array",
    "unnest",
    // aggregates
    "array_agg",
    "avg",
    "bit_and",
    "bit_or",
    "bool_and",
    "bool_or",
    "corr",
    "count",
    "covar_pop",
    "covar_samp",
    "every",
    "max",
    "min",
    "mode",
    "percentile_cont",
    "percentile_disc",
    "regr_avgx",
    "regr_avgy",
    "regr_count",
    "regr_intercept",
    "regr_r2",
    "regr_slope",
    "regr_sxx",
    "regr_sxy",
    "regr_syy",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "string_agg",
    "sum",
    "var_pop",
    "var_samp",
    "variance",
    // window
    "cume_dist",
    "dense_rank",
    "first_value",
    "lag",
    "last_value",
    "lead",
    "nth_value",
    "ntile",
    "percent_rank",
    "rank",
    "row_number",
];

/// Words that stand before `(` without being a function call: SQL's keywords and
/// constructs that look like calls, and type names that take a modifier (`numeric(10,2)`).
const NOT_CALLS: &[&str] = &[
    "all",
    "and",
    "any",
    "array",
    "as",
    "between",
    "by",
    "case",
    "cast",
    "coalesce",
    "cube",
    "distinct",
    "else",
    "except",
    "exists",
    "extract",
    "filter",
    "from",
    "greatest",
    "group",
    "grouping",
    "having",
    "in",
    "intersect",
    "is",
    "join",
    "lateral",
    "least",
    "like",
    "ilike",
    "limit",
    "materialized",
    "not",
    "nullif",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "over",
    "overlaps",
    "overlay",
    "partition",
    "position",
    "recursive",
    "rollup",
    "row",
    "rows",
    "select",
    "sets",
    "similar",
    "some",
    "substring",
    "then",
    "treat",
    "trim",
    "union",
    "using",
    "values",
    "when",
    "where",
    "window",
    "with",
    "within",
    "bit",
    "char",
    "character",
    "dec",
    "decimal",
    "float",
    "interval",
    "numeric",
    "time",
    "timestamp",
    "varchar",
    "varying",
    "zone",
];

/// Types whose values are catalog lookups (`'ws_x.t'::regclass` tells whether a table
/// exists).
const CATALOG_TYPES: &[&str] = &[
    "regclass",
    "regcollation",
    "regconfig",
    "regdictionary",
    "regnamespace",
    "regoper",
    "regoperator",
    "regproc",
    "regprocedure",
    "regrole",
    "regtype",
];

/// The first word a statement may have.
const QUERIES: &[&str] = &["select", "with", "values", "table"];

#[derive(Debug, PartialEq)]
enum Token {
    /// A name or keyword: unquoted ones lowercased, quoted ones as written.
    Word {
        name: String,
        quoted: bool,
    },
    Open,
    Close,
    Comma,
    Dot,
    /// Anything else that matters only as "not one of the above": literals, operators,
    /// placeholders.
    Other,
}

/// The statement ready to run (`?` numbered as `$n`, no trailing `;`), or why not.
pub(crate) fn screen(sql: &str) -> Result<String, String> {
    let (numbered, tokens) = lex(sql)?;
    check(&tokens)?;
    Ok(numbered)
}

fn catalogs_refused(name: &str) -> String {
    format!(
        "not authorized to read {name}: the database's catalogs are not readable; {}",
        super::super::sandbox::WHAT_IS_ALLOWED
    )
}

fn check(tokens: &[Token]) -> Result<(), String> {
    match tokens.first() {
        Some(Token::Word {
            name,
            quoted: false,
        }) if QUERIES.contains(&name.as_str()) => {}
        Some(Token::Open) => {}
        _ => {
            return Err(
                "only read-only statements are allowed: a query (SELECT, WITH, VALUES or TABLE)"
                    .into(),
            )
        }
    }
    let mut depth = 0usize;
    // The depths at which a WITH list is open, and whether a CTE's name comes next.
    let mut with_lists: Vec<usize> = Vec::new();
    let mut expect_cte_name = false;
    for (i, token) in tokens.iter().enumerate() {
        let previous = i.checked_sub(1).map(|p| &tokens[p]);
        match token {
            Token::Open => depth += 1,
            Token::Close => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| "unbalanced parentheses".to_string())?;
                while with_lists.last().is_some_and(|d| *d > depth) {
                    with_lists.pop();
                }
            }
            Token::Comma if with_lists.last() == Some(&depth) => expect_cte_name = true,
            Token::Word { name, quoted } => {
                let lower = name.to_ascii_lowercase();
                if lower.starts_with("pg_")
                    || lower == "information_schema"
                    || CATALOG_TYPES.contains(&lower.as_str())
                {
                    return Err(catalogs_refused(name));
                }
                let keyword = !quoted;
                if keyword && lower == "with" {
                    with_lists.push(depth);
                    expect_cte_name = true;
                    continue;
                }
                if keyword && lower == "recursive" && expect_cte_name {
                    continue;
                }
                let cte_name = std::mem::take(&mut expect_cte_name);
                if keyword
                    && with_lists.last() == Some(&depth)
                    && ["select", "values", "table", "insert", "update", "delete"]
                        .contains(&lower.as_str())
                {
                    with_lists.pop();
                }
                if tokens.get(i + 1) != Some(&Token::Open) || cte_name {
                    continue;
                }
                // A word before `(`: a call, unless it is a keyword or type, or names the
                // columns of an alias (`AS t(a, b)`).
                let alias =
                    matches!(previous, Some(Token::Word { name, quoted: false }) if name == "as");
                if alias || (keyword && NOT_CALLS.contains(&lower.as_str())) {
                    continue;
                }
                if previous == Some(&Token::Dot) {
                    return Err(format!(
                        "not authorized to call {name} by a qualified name: call functions by their plain names; {}",
                        super::super::sandbox::WHAT_IS_ALLOWED
                    ));
                }
                if !FUNCTIONS.contains(&name.as_str()) {
                    return Err(format!(
                        "not authorized to use function {name}: {} and PostgreSQL's math, string, date, JSON, array, aggregate and window functions are allowed (write an alias's columns as AS t(a, b))",
                        super::super::sandbox::WHAT_IS_ALLOWED
                    ));
                }
            }
            Token::Comma | Token::Dot | Token::Other => {}
        }
    }
    if depth != 0 {
        return Err("unbalanced parentheses".into());
    }
    Ok(())
}

/// Splits `sql` into tokens as PostgreSQL does (with `standard_conforming_strings` on),
/// and returns it with `?` numbered and a trailing `;` removed.
fn lex(sql: &str) -> Result<(String, Vec<Token>), String> {
    let b = sql.as_bytes();
    let mut out = String::with_capacity(sql.len() + 8);
    let mut tokens = Vec::new();
    let mut placeholders = 0u32;
    let mut i = 0;
    // Whether a `;` was seen (only comments and spaces may follow it).
    let mut after_semicolon = false;
    let unterminated = |what: &str| format!("unterminated {what}");
    while i < b.len() {
        let c = b[i];
        let start = i;
        if after_semicolon
            && !c.is_ascii_whitespace()
            && !sql[i..].starts_with("--")
            && !sql[i..].starts_with("/*")
        {
            return Err("send one statement at a time".into());
        }
        match c {
            _ if c.is_ascii_whitespace() => i += 1,
            b'-' if b.get(i + 1) == Some(&b'-') => {
                i = sql[i..].find('\n').map_or(b.len(), |n| i + n);
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut nesting = 0usize;
                loop {
                    if i + 1 >= b.len() {
                        return Err(unterminated("comment"));
                    }
                    match (b[i], b[i + 1]) {
                        (b'/', b'*') => {
                            nesting += 1;
                            i += 2;
                        }
                        (b'*', b'/') => {
                            nesting -= 1;
                            i += 2;
                            if nesting == 0 {
                                break;
                            }
                        }
                        _ => i += 1,
                    }
                }
            }
            b'\'' => {
                i = end_of_quoted(b, i, b'\'', false).ok_or_else(|| unterminated("string"))?;
                tokens.push(Token::Other);
            }
            b'"' => {
                i = end_of_quoted(b, i, b'"', false).ok_or_else(|| unterminated("quoted name"))?;
                let name = sql[start + 1..i - 1].replace("\"\"", "\"");
                tokens.push(Token::Word { name, quoted: true });
            }
            b'$' if b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                i += 1;
                while b.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
                tokens.push(Token::Other);
            }
            b'$' => {
                // A dollar-quoted string: `$tag$ … $tag$`.
                let tag_end = sql[i + 1..]
                    .find('$')
                    .map(|n| i + 1 + n)
                    .filter(|&e| {
                        sql[i + 1..e]
                            .bytes()
                            .all(|t| t.is_ascii_alphanumeric() || t == b'_' || t >= 0x80)
                    })
                    .ok_or_else(|| "unexpected $".to_string())?;
                let tag = &sql[i..=tag_end];
                let close = sql[tag_end + 1..]
                    .find(tag)
                    .ok_or_else(|| unterminated("dollar-quoted string"))?;
                i = tag_end + 1 + close + tag.len();
                tokens.push(Token::Other);
            }
            b'?' => {
                i += 1;
                placeholders += 1;
                out.push_str(&format!("${placeholders}"));
                tokens.push(Token::Other);
                continue;
            }
            b'(' | b'[' => {
                i += 1;
                tokens.push(if c == b'(' { Token::Open } else { Token::Other });
            }
            b')' => {
                i += 1;
                tokens.push(Token::Close);
            }
            b',' => {
                i += 1;
                tokens.push(Token::Comma);
            }
            b'.' if !b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                i += 1;
                tokens.push(Token::Dot);
            }
            b';' => {
                i += 1;
                after_semicolon = true;
                continue;
            }
            _ if c.is_ascii_digit() || c == b'.' => {
                while b
                    .get(i)
                    .is_some_and(|d| d.is_ascii_alphanumeric() || *d == b'.' || *d == b'_')
                {
                    let exponent = matches!(b[i], b'e' | b'E');
                    i += 1;
                    if exponent && matches!(b.get(i), Some(b'+' | b'-')) {
                        i += 1;
                    }
                }
                tokens.push(Token::Other);
            }
            _ if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                while b.get(i).is_some_and(|d| {
                    d.is_ascii_alphanumeric() || *d == b'_' || *d == b'$' || *d >= 0x80
                }) {
                    i += 1;
                }
                let word = &sql[start..i];
                match (word.to_ascii_lowercase().as_str(), b.get(i)) {
                    // U&'…' and U&"…" spell characters by code: refused, so every name
                    // is read here as PostgreSQL will read it.
                    ("u", Some(b'&')) if matches!(b.get(i + 1), Some(b'\'' | b'"')) => {
                        return Err("U& escapes are not allowed".into())
                    }
                    ("e", Some(b'\'')) => {
                        i = end_of_quoted(b, i, b'\'', true)
                            .ok_or_else(|| unterminated("string"))?;
                        tokens.push(Token::Other);
                    }
                    ("b" | "x" | "n", Some(b'\'')) => {
                        i = end_of_quoted(b, i, b'\'', false)
                            .ok_or_else(|| unterminated("string"))?;
                        tokens.push(Token::Other);
                    }
                    (lower, _) => tokens.push(Token::Word {
                        name: lower.to_string(),
                        quoted: false,
                    }),
                }
            }
            _ => {
                // Operators and the rest: one character at a time is enough here.
                i += sql[i..].chars().next().map_or(1, char::len_utf8);
                tokens.push(Token::Other);
            }
        }
        if !after_semicolon {
            out.push_str(&sql[start..i]);
        }
    }
    if tokens.is_empty() {
        return Err("the statement is empty".into());
    }
    Ok((out, tokens))
}

/// The index after the quoted text that starts at `open` (a doubled quote is one quote;
/// with `backslashes`, a backslash escapes the next character).
fn end_of_quoted(b: &[u8], open: usize, quote: u8, backslashes: bool) -> Option<usize> {
    let mut i = open + 1;
    while i < b.len() {
        if backslashes && b[i] == b'\\' {
            i += 2;
            continue;
        }
        if b[i] == quote {
            if b.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::screen;

    #[test]
    fn queries_analysts_write_pass_with_placeholders_numbered() {
        for (sql, expected) in [
            ("SELECT count(*) FROM orders WHERE amount > ?", "SELECT count(*) FROM orders WHERE amount > $1"),
            ("select ?, ? ;  -- done", "select $1, $2 "),
            ("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3), s AS MATERIALIZED (SELECT 2) SELECT * FROM r, s", ""),
            ("WITH a(x, y) AS (VALUES (1, 2)), b (z) AS (SELECT x FROM a) SELECT z FROM b", ""),
            ("SELECT j.key, j.value FROM orders o, jsonb_each(o.meta::jsonb) AS j(key, value)", ""),
            ("SELECT date_trunc('day', now()) - interval '1 day', x::numeric(10, 2), CAST(y AS varchar(3)) FROM t", ""),
            ("SELECT status, count(*) FILTER (WHERE amount > 1), percentile_cont(0.5) WITHIN GROUP (ORDER BY amount) FROM orders GROUP BY ROLLUP (status)", ""),
            ("SELECT E'it\\'s', 'a''b', $$pg_class$$, $q$ ; $q$, \"Mixed Case\" FROM \"orders\"", ""),
            ("(SELECT 1) UNION (SELECT 2)", ""),
            ("TABLE orders", ""),
            ("SELECT row_number() OVER w FROM t WINDOW w AS (ORDER BY id)", ""),
            ("SELECT 1.5e-3, .5, 2. FROM t /* a /* nested */ comment */", ""),
        ] {
            let screened = screen(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
            if !expected.is_empty() {
                assert_eq!(screened, expected);
            }
        }
    }

    #[test]
    fn catalogs_unlisted_functions_and_other_statements_are_refused() {
        for (sql, why) in [
            ("SELECT * FROM pg_class", "catalogs"),
            ("SELECT * FROM pg_catalog.pg_namespace", "catalogs"),
            ("SELECT * FROM \"pg_class\"", "catalogs"),
            (
                "SELECT table_name FROM information_schema.tables",
                "catalogs",
            ),
            ("SELECT 'ws_x.t'::regclass", "catalogs"),
            ("SELECT CAST('x' AS RegClass)", "catalogs"),
            ("SELECT pg_sleep(10)", "catalogs"),
            ("SELECT pg_notify('andibase_announce', 'x')", "catalogs"),
            (
                "SELECT set_config('role', 'postgres', true)",
                "function set_config",
            ),
            (
                "SELECT query_to_xml('select 1', true, true, '')",
                "function query_to_xml",
            ),
            ("SELECT to_regclass('ws_x.t')", "function to_regclass"),
            (
                "SELECT current_setting('data_directory')",
                "function current_setting",
            ),
            (
                "SELECT \"set_config\"('role', 'x', true)",
                "function set_config",
            ),
            ("SELECT public.lower('x')", "qualified"),
            ("SELECT repeat('x', 1000000000)", "function repeat"),
            ("SELECT lpad('', 1000000000)", "function lpad"),
            ("SELECT * FROM generate_series(1, 3) g(x)", "function g"),
            ("SELECT U&\"pg\\005fclass\"", "U&"),
            ("SELECT 1; DELETE FROM orders", "one statement"),
            ("SELECT 1;;", "one statement"),
            ("DELETE FROM orders", "read-only"),
            ("SET ROLE postgres", "read-only"),
            ("DO $$ BEGIN END $$", "read-only"),
            ("SHOW ALL", "read-only"),
            ("", "empty"),
            ("  -- only a comment", "empty"),
            ("SELECT (1", "unbalanced"),
            ("SELECT 1)", "unbalanced"),
            ("SELECT 'open", "unterminated"),
            ("SELECT $x$ open", "unterminated"),
            ("SELECT /* open", "unterminated"),
        ] {
            let e = screen(sql).expect_err(sql);
            assert!(e.contains(why), "{sql}: {e}");
        }
    }

    #[test]
    fn names_inside_strings_and_comments_are_not_read() {
        for sql in [
            "SELECT 'pg_class', 'set_config(' FROM t",
            "SELECT 1 -- pg_class\n",
            "SELECT E'\\' pg_class' FROM t",
            "SELECT $tag$ set_config( $tag$",
        ] {
            screen(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        // A backslash ends nothing in a standard string: the name after it is read.
        assert!(screen("SELECT 'a\\' , pg_sleep(1) --'").is_err());
    }
}
