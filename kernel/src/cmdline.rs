//! The guest command line (the xl config's `cmdline =`/`extra =`): words and settings
//! (host-tested).
//!
//! Words are separated by ASCII whitespace. A setting is a word `name=value`; when a name
//! is given more than once the last one counts, as on Linux. A value that does not parse
//! is a [`BadValue`] naming the setting and what it takes; the caller decides whether
//! that stops the app (`ip=`, `port=`) or is reported while a default is kept
//! (`loglevel=`, `watchdog=`, `trace=`). Nothing here allocates: the watchdog and trace
//! settings are read before the heap exists.
//!
//! The words after the first standalone `--` are a program's arguments (apps/cprog),
//! split as a POSIX shell splits them ([`args_after_dashes`]): single quotes, double
//! quotes with their four escapes, backslash outside quotes, empty arguments. The words
//! go into a buffer the caller provides, each followed by a NUL (a C argv's strings), so
//! this too needs no heap. The part before `--` keeps the plain word rules above.
//!
//! May use: nothing of the kernel (plain parsing).
#![forbid(unsafe_code)]

use core::fmt;
use core::ops::RangeInclusive;

/// A setting whose value does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadValue<'a> {
    /// The setting's name (`port`, `watchdog`).
    pub name: &'static str,
    /// The value given.
    pub value: &'a str,
    /// What it takes, for the message (`"seconds (0 to 3600)"`).
    pub expected: &'static str,
}

impl fmt::Display for BadValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}={}: expected {}",
            self.name, self.value, self.expected
        )
    }
}

impl core::error::Error for BadValue<'_> {}

/// The words of `cmdline`, in order.
pub fn words(cmdline: &str) -> impl DoubleEndedIterator<Item = &str> {
    cmdline.split_ascii_whitespace()
}

/// True when `word` is one of the words of `cmdline` (a flag such as `masked`).
pub fn has_word(cmdline: &str, word: &str) -> bool {
    words(cmdline).any(|w| w == word)
}

/// The value of the last `name=value` word, if there is one (`""` for `name=`).
pub fn value<'a>(cmdline: &'a str, name: &str) -> Option<&'a str> {
    words(cmdline)
        .filter_map(|w| w.strip_prefix(name)?.strip_prefix('='))
        .next_back()
}

/// A decimal number: one or more ASCII digits and nothing else (no sign, no spaces),
/// at most `u64::MAX`.
pub fn decimal(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.bytes().try_fold(0u64, |n, b| {
        let digit = if b.is_ascii_digit() {
            b.wrapping_sub(b'0')
        } else {
            return None;
        };
        n.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// The last `name=` setting as a decimal number within `range`: `Ok(None)` when the
/// name is not given.
///
/// # Errors
/// A value that is not a [`decimal`] number, or one outside `range`: a [`BadValue`]
/// with `expected` (which should state the range).
pub fn number<'a>(
    cmdline: &'a str,
    name: &'static str,
    range: RangeInclusive<u64>,
    expected: &'static str,
) -> Result<Option<u64>, BadValue<'a>> {
    let Some(value) = self::value(cmdline, name) else {
        return Ok(None);
    };
    match decimal(value) {
        Some(n) if range.contains(&n) => Ok(Some(n)),
        _ => Err(BadValue {
            name,
            value,
            expected,
        }),
    }
}

/// Why the arguments after `--` could not be split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitError {
    /// A quote that is never closed: the quote (`'` or `"`) and its byte offset in the
    /// command line.
    UnterminatedQuote {
        /// `'` or `"`.
        quote: char,
        /// Byte offset of the opening quote in the whole command line.
        at: usize,
    },
    /// The buffer given is shorter than the words (`cmdline.len() + 1` bytes always do).
    BufferTooSmall {
        /// Bytes of the buffer.
        len: usize,
    },
}

impl fmt::Display for SplitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SplitError::UnterminatedQuote { quote, at } => write!(
                f,
                "the {quote} quote at byte {at} of the command line is never closed"
            ),
            SplitError::BufferTooSmall { len } => {
                write!(f, "{len} bytes are too few for the arguments")
            }
        }
    }
}

impl core::error::Error for SplitError {}

/// The words of a command line after splitting, each followed by a NUL in the buffer.
#[derive(Debug, Clone)]
pub struct Args<'b> {
    rest: &'b [u8],
}

impl<'b> Iterator for Args<'b> {
    type Item = &'b str;

    fn next(&mut self) -> Option<&'b str> {
        let end = self.rest.iter().position(|&b| b == 0)?;
        let (word, rest) = self.rest.split_at(end);
        self.rest = rest.get(1..).unwrap_or_default();
        // Splitting only drops ASCII bytes (quotes, backslashes) from UTF-8 text and puts
        // whole characters together, so each word is UTF-8 again.
        Some(core::str::from_utf8(word).unwrap_or_default())
    }
}

/// Byte offset just past the first word `--` of `cmdline`, if it has one.
fn after_dashes(cmdline: &str) -> Option<usize> {
    let base = cmdline.as_ptr() as usize;
    words(cmdline)
        .find(|w| *w == "--")
        .map(|w| w.as_ptr() as usize - base + 2)
}

/// The arguments after the first standalone `--` of `cmdline`, unquoted as a POSIX shell
/// would and written into `buf`, each followed by a NUL. No `--`: no arguments.
///
/// Outside quotes, ASCII whitespace separates words and a backslash takes the next
/// character literally (backslash-newline is removed; a backslash at the very end is
/// itself). `'...'` is literal. In `"..."` a backslash escapes only `"`, `\`, `$` and
/// `` ` `` (and a newline, removed); before anything else it is itself. Adjacent parts
/// make one word (`a"b c"d` is `ab cd`); `''` and `""` are empty words. Nothing is
/// expanded (`$`, `*`, `~` are plain characters).
///
/// # Errors
/// [`SplitError::UnterminatedQuote`] naming the opening quote's offset in `cmdline`;
/// [`SplitError::BufferTooSmall`] when `buf` is shorter than the words need (it never is
/// with `cmdline.len() + 1` bytes: every word but the last had a separator).
pub fn args_after_dashes<'b>(cmdline: &str, buf: &'b mut [u8]) -> Result<Args<'b>, SplitError> {
    let Some(start) = after_dashes(cmdline) else {
        return Ok(Args { rest: &[] });
    };
    let bytes = cmdline.as_bytes();
    let too_small = SplitError::BufferTooSmall { len: buf.len() };
    let mut out = 0usize;
    let mut put = |b: u8, buf: &mut [u8]| -> Result<(), SplitError> {
        *buf.get_mut(out).ok_or(too_small)? = b;
        out += 1;
        Ok(())
    };
    let mut in_word = false;
    let mut i = start;
    while let Some(&c) = bytes.get(i) {
        match c {
            b'\\' => match bytes.get(i + 1) {
                Some(b'\n') => i += 2,
                Some(&next) => {
                    put(next, buf)?;
                    in_word = true;
                    i += 2;
                }
                None => {
                    put(b'\\', buf)?;
                    in_word = true;
                    i += 1;
                }
            },
            b'\'' => {
                let close = bytes
                    .get(i + 1..)
                    .and_then(|rest| rest.iter().position(|&b| b == b'\''))
                    .ok_or(SplitError::UnterminatedQuote { quote: '\'', at: i })?;
                for &b in bytes.get(i + 1..i + 1 + close).unwrap_or_default() {
                    put(b, buf)?;
                }
                in_word = true;
                i += close + 2;
            }
            b'"' => {
                let open = i;
                i += 1;
                loop {
                    match (bytes.get(i), bytes.get(i + 1)) {
                        (None, _) => {
                            return Err(SplitError::UnterminatedQuote {
                                quote: '"',
                                at: open,
                            });
                        }
                        (Some(b'"'), _) => break,
                        (Some(b'\\'), Some(b'\n')) => i += 2,
                        (Some(b'\\'), Some(&e @ (b'"' | b'\\' | b'$' | b'`'))) => {
                            put(e, buf)?;
                            i += 2;
                        }
                        (Some(&b), _) => {
                            put(b, buf)?;
                            i += 1;
                        }
                    }
                }
                in_word = true;
                i += 1;
            }
            _ if c.is_ascii_whitespace() => {
                if in_word {
                    put(0, buf)?;
                    in_word = false;
                }
                i += 1;
            }
            _ => {
                put(c, buf)?;
                in_word = true;
                i += 1;
            }
        }
    }
    if in_word {
        put(0, buf)?;
    }
    Ok(Args {
        rest: buf.get(..out).unwrap_or_default(),
    })
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    reason = "test code: a panic is a failed test"
)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::sample::select;
    use std::format;
    use std::string::String;
    use std::vec::Vec;

    #[test]
    fn the_last_setting_counts_and_names_match_whole() {
        let line = "port=1 xport=2 portx=3 port=4 port loglevel=debug";
        assert_eq!(value(line, "port"), Some("4"));
        assert_eq!(value(line, "xport"), Some("2"));
        assert_eq!(value(line, "loglevel"), Some("debug"));
        assert_eq!(value(line, "por"), None);
        assert_eq!(value("a= b", "a"), Some(""));
        assert_eq!(value("ip=a=b", "ip"), Some("a=b"));
        assert!(has_word(line, "port"));
        assert!(!has_word(line, "port=4 "));
        assert_eq!(words(" a\tb\n c ").collect::<Vec<_>>(), ["a", "b", "c"]);
    }

    #[test]
    fn numbers_are_digits_only_and_checked_against_the_range() {
        assert_eq!(decimal("0"), Some(0));
        assert_eq!(decimal("007"), Some(7));
        assert_eq!(decimal("18446744073709551615"), Some(u64::MAX));
        for bad in [
            "",
            "+5",
            "-0",
            " 5",
            "5 ",
            "0x10",
            "18446744073709551616",
            "٣",
        ] {
            assert_eq!(decimal(bad), None, "{bad:?}");
        }
        let e = "seconds (0 to 3600)";
        assert_eq!(number("w=5", "w", 0..=3600, e), Ok(Some(5)));
        assert_eq!(number("x=5", "w", 0..=3600, e), Ok(None));
        let bad = number("w=3601 x", "w", 0..=3600, e).unwrap_err();
        assert_eq!(
            bad,
            BadValue {
                name: "w",
                value: "3601",
                expected: e
            }
        );
        assert_eq!(format!("{bad}"), "w=3601: expected seconds (0 to 3600)");
        assert!(number("w=+5", "w", 0..=3600, e).is_err());
        assert!(number("w=", "w", 0..=3600, e).is_err());
    }

    /// Words with none of the names below as a setting, but near misses of them.
    fn filler() -> impl Strategy<Value = String> {
        prop_oneof![
            select(
                &[
                    "port", "xport=1", "portx=2", "trace", "=5", "a=b=c", "--", "é=1"
                ][..]
            )
            .prop_map(String::from),
            "[a-z0-9=./+-]{1,8}".prop_filter("not a setting of ours", |w| {
                NAMES.iter().all(|n| !w.starts_with(&format!("{n}=")))
            }),
        ]
    }

    const NAMES: [&str; 3] = ["port", "watchdog", "trace"];

    /// ASCII whitespace between words: one or more of space, tab, newline, CR, FF.
    fn gap() -> impl Strategy<Value = String> {
        proptest::collection::vec(select(&[' ', '\t', '\n', '\r', '\x0c'][..]), 1..3)
            .prop_map(|v| v.into_iter().collect())
    }

    /// A command line of `words`, with arbitrary gaps (and maybe some at either end).
    fn join(words: &[String], gaps: &[String]) -> String {
        let mut line = String::new();
        for (k, w) in words.iter().enumerate() {
            line.push_str(&gaps[k % gaps.len()]);
            line.push_str(w);
        }
        line.push_str(&gaps[words.len() % gaps.len()]);
        line
    }

    /// The arguments after `--` of `line`, as owned strings.
    fn split(line: &str) -> Result<Vec<String>, SplitError> {
        let mut buf = std::vec![0u8; line.len() + 1];
        Ok(args_after_dashes(line, &mut buf)?
            .map(String::from)
            .collect())
    }

    #[test]
    fn arguments_after_dashes_are_split_as_a_shell_splits_them() {
        let ok = |line: &str, want: &[&str]| assert_eq!(split(line).unwrap(), want, "{line:?}");
        ok("ip=1 -- a b", &["a", "b"]);
        ok("no dashes 'here", &[]);
        ok("--", &[]);
        ok("x --y -- --  -- z", &["--", "--", "z"]);
        ok(r#"a"b'c -- a"b c"d"#, &["ab cd"]);
        ok(r#"-- 'it''s' "" '' x"" """" "#, &["its", "", "", "x", ""]);
        ok(
            r#"-- 'a "b" \c' "\"\\\$\`\a""#,
            &[r#"a "b" \c"#, r#""\$`\a"#],
        );
        ok(r"-- a\ b \' \\ tail\", &["a b", "'", r"\", r"tail\"]);
        ok("-- a\\\nb \"c\\\nd\"\t\ne", &["ab", "cd", "e"]);
        ok("-- é\\é 'ü' \"$HOME\" * ~", &["éé", "ü", "$HOME", "*", "~"]);
        ok("-- 'two\n lines'", &["two\n lines"]);
    }

    #[test]
    fn an_unterminated_quote_names_its_offset() {
        assert_eq!(
            split("w=1 -- ok 'open"),
            Err(SplitError::UnterminatedQuote {
                quote: '\'',
                at: 10
            })
        );
        let e = split(r#"-- "a\" 'b'"#).unwrap_err();
        assert_eq!(e, SplitError::UnterminatedQuote { quote: '"', at: 3 });
        assert_eq!(
            e.to_string(),
            "the \" quote at byte 3 of the command line is never closed"
        );
    }

    #[test]
    fn a_short_buffer_is_an_error_not_a_panic() {
        let mut buf = [0u8; 4];
        assert_eq!(
            args_after_dashes("-- abc d", &mut buf).map(|a| a.count()),
            Err(SplitError::BufferTooSmall { len: 4 })
        );
        let mut buf = [0u8; 4];
        assert_eq!(
            args_after_dashes("-- abc", &mut buf).map(|a| a.count()),
            Ok(1)
        );
    }

    /// `arg` quoted for a POSIX shell in one of three ways (`how`): single quotes, double
    /// quotes with escapes, or backslashes.
    fn quote(arg: &str, how: u8) -> String {
        match how % 3 {
            0 => format!("'{}'", arg.replace('\'', r"'\''")),
            1 => {
                let mut q = String::from("\"");
                for c in arg.chars() {
                    if matches!(c, '"' | '\\' | '$' | '`') {
                        q.push('\\');
                    }
                    q.push(c);
                }
                q.push('"');
                q
            }
            _ if arg.is_empty() => String::from("''"),
            _ => {
                let mut q = String::new();
                for c in arg.chars() {
                    if c == '\n' {
                        // Backslash-newline is a continuation: a newline is quoted instead.
                        q.push_str("'\n'");
                    } else {
                        if !c.is_ascii_alphanumeric() {
                            q.push('\\');
                        }
                        q.push(c);
                    }
                }
                q
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn split_undoes_quoting_of_any_argument_vector(
            args in proptest::collection::vec(
                prop_oneof![
                    any::<String>(),
                    "[ '\"\\\\$`a\t\n-]{0,6}",
                    Just(String::new()),
                    Just(String::from("--")),
                ]
                .prop_map(|s| s.replace('\0', "")),
                0..8,
            ),
            hows in proptest::collection::vec(any::<u8>(), 8),
            before in proptest::collection::vec(filler(), 0..3),
            gaps in proptest::collection::vec(gap(), 1..4),
        ) {
            let mut words: Vec<String> = before;
            words.push(String::from("--"));
            words.extend(args.iter().zip(&hows).map(|(a, h)| quote(a, *h)));
            let line = join(&words, &gaps);
            // The filler may hold a `--` of its own: the arguments start after the first.
            let first = words.iter().position(|w| w == "--").unwrap();
            let mut want: Vec<String> = words[first + 1..].to_vec();
            want.truncate(want.len() - args.len());
            let want_filler = want;
            let got = split(&line).unwrap();
            prop_assert_eq!(&got[..want_filler.len()], &want_filler[..]);
            prop_assert_eq!(&got[want_filler.len()..], &args[..]);
        }

        #[test]
        fn any_line_splits_or_names_an_unterminated_quote(line in any::<String>()) {
            let line = line.replace('\0', "");
            match split(&line) {
                Ok(_) => {}
                Err(SplitError::UnterminatedQuote { quote, at }) => {
                    prop_assert_eq!(line.as_bytes()[at], quote as u8);
                }
                Err(e) => prop_assert!(false, "{e}"),
            }
        }


        #[test]
        fn any_line_never_panics_and_the_value_is_the_last_settings(
            line in prop_oneof![
                any::<String>(),
                // Settings of ours among near misses, values of digits and junk.
                "((port|watchdog|trace|xport|port)=?[0-9+a=é-]{0,6}[ \t\n]?){0,8}",
            ],
            name in select(&NAMES[..]),
        ) {
            let prefix = format!("{name}=");
            let last = line
                .split(|c: char| c.is_ascii_whitespace())
                .rfind(|w| w.starts_with(&prefix))
                .map(|w| &w[prefix.len()..]);
            prop_assert_eq!(value(&line, name), last);
            match number(&line, name, 0..=3600, "seconds") {
                Ok(Some(n)) => prop_assert_eq!(Some(format!("{n}")), last.map(|v| {
                    let v = v.trim_start_matches('0');
                    if v.is_empty() { String::from("0") } else { String::from(v) }
                })),
                Ok(None) => prop_assert_eq!(last, None),
                Err(e) => {
                    prop_assert_eq!(Some(e.value), last);
                    let (shown, head) = (format!("{e}"), format!("{name}={}: ", e.value));
                    prop_assert!(shown.starts_with(&head));
                }
            }
            let _ = has_word(&line, name);
        }

        #[test]
        fn settings_written_into_any_line_read_back(
            filler in proptest::collection::vec(filler(), 0..8),
            settings in proptest::collection::vec(
                (select(&NAMES[..]), "[!-~]{0,12}", any::<prop::sample::Index>()),
                1..4,
            ),
            gaps in proptest::collection::vec(gap(), 1..4),
        ) {
            let mut words = filler.clone();
            let mut order: Vec<(usize, &str, &str)> = Vec::new();
            for (name, v, at) in &settings {
                let at = at.index(words.len() + 1);
                words.insert(at, format!("{name}={v}"));
                // Settings inserted earlier at or after `at` move one word on.
                for o in &mut order {
                    if o.0 >= at {
                        o.0 += 1;
                    }
                }
                order.push((at, name, v));
            }
            let line = join(&words, &gaps);
            for name in NAMES {
                let want = order
                    .iter()
                    .filter(|o| o.1 == name)
                    .max_by_key(|o| o.0)
                    .map(|o| o.2);
                prop_assert_eq!(value(&line, name), want, "{:?}", line);
            }
        }

        #[test]
        fn numbers_round_trip_and_bad_ones_name_the_setting(
            n in prop_oneof![0u64..5000, any::<u64>()],
            lo in 0u64..10,
            hi in prop_oneof![Just(u64::MAX), 10u64..5000],
            zeros in 0usize..3,
            other in "[0-9+x -]{0,6}",
            filler in proptest::collection::vec(filler(), 0..4),
        ) {
            let text = format!("{}{n}", "0".repeat(zeros));
            let line = format!("{} trace={text} {}", filler.join(" "), filler.join("\t"));
            let got = number(&line, "trace", lo..=hi, "a number");
            if (lo..=hi).contains(&n) {
                prop_assert_eq!(got, Ok(Some(n)));
            } else {
                prop_assert_eq!(
                    got,
                    Err(BadValue { name: "trace", value: &text, expected: "a number" })
                );
            }
            // Anything else: digits only (std's parse less its `+`), else named.
            let word = other.split(' ').next().unwrap_or_default();
            let line = format!("trace={word}");
            let digits = !word.starts_with('+') && word.parse::<u64>().is_ok();
            prop_assert_eq!(decimal(word), digits.then(|| word.parse::<u64>().unwrap()));
            match number(&line, "trace", 0..=u64::MAX, "a number") {
                Ok(v) => prop_assert_eq!(v, decimal(word)),
                Err(e) => {
                    prop_assert!(!digits);
                    prop_assert_eq!(e.value, word);
                }
            }
        }
    }
}
