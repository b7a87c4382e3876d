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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

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
