//! The `log` facade on the console: `[seconds.micros][LEVEL target] message`, seconds
//! since the guest's entry point, from the pvclock. The level comes from the guest command line word
//! `loglevel=off|error|warn|info|debug|trace` (default `info`); a bad word is reported on
//! the console and the default kept.
#![forbid(unsafe_code)]

use core::fmt;
use log::LevelFilter;

/// The level when the command line names none.
pub const DEFAULT_LEVEL: LevelFilter = LevelFilter::Info;

/// A `loglevel=` word whose value is not a level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLevel {
    /// The value given (cut to 32 bytes).
    pub value: heapless::String<32>,
}

impl fmt::Display for BadLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "loglevel={}: expected off, error, warn, info, debug or trace",
            self.value
        )
    }
}

/// The level a command line asks for: the last `loglevel=` word wins; none gives
/// [`DEFAULT_LEVEL`].
pub fn level_from_cmdline(cmdline: &str) -> Result<LevelFilter, BadLevel> {
    let Some(value) = crate::cmdline::value(cmdline, "loglevel") else {
        return Ok(DEFAULT_LEVEL);
    };
    value.parse().map_err(|_| {
        let mut v = heapless::String::new();
        for ch in value.chars() {
            if v.push(ch).is_err() {
                break;
            }
        }
        BadLevel { value: v }
    })
}

#[cfg(target_os = "none")]
mod console_logger {
    use log::{Log, Metadata, Record};

    pub(super) struct ConsoleLogger;

    impl Log for ConsoleLogger {
        fn enabled(&self, metadata: &Metadata<'_>) -> bool {
            metadata.level() <= log::max_level()
        }

        fn log(&self, record: &Record<'_>) {
            if !self.enabled(record.metadata()) {
                return;
            }
            let ns = crate::time::now_ns().saturating_sub(crate::boot_times().entry_ns);
            crate::println!(
                "[{}.{:06}][{} {}] {}",
                ns / 1_000_000_000,
                ns % 1_000_000_000 / 1000,
                record.level(),
                record.target(),
                record.args()
            );
        }

        fn flush(&self) {
            crate::drivers::console::flush();
        }
    }

    pub(super) static LOGGER: ConsoleLogger = ConsoleLogger;
}

/// Installs the console logger with the level from the command line (boot, once).
#[cfg(target_os = "none")]
pub(crate) fn init(cmdline: &str) {
    let level = match level_from_cmdline(cmdline) {
        Ok(level) => level,
        Err(e) => {
            crate::println!("ferrun: {e}; logging at {DEFAULT_LEVEL}");
            DEFAULT_LEVEL
        }
    };
    if log::set_logger(&console_logger::LOGGER).is_ok() {
        log::set_max_level(level);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_loglevel_word_sets_the_level() {
        assert_eq!(level_from_cmdline(""), Ok(DEFAULT_LEVEL));
        assert_eq!(level_from_cmdline("x=1 y"), Ok(DEFAULT_LEVEL));
        assert_eq!(level_from_cmdline("loglevel=debug"), Ok(LevelFilter::Debug));
        assert_eq!(
            level_from_cmdline("a loglevel=warn b"),
            Ok(LevelFilter::Warn)
        );
        assert_eq!(
            level_from_cmdline("loglevel=trace loglevel=off"),
            Ok(LevelFilter::Off)
        );
        assert_eq!(level_from_cmdline("loglevel=ERROR"), Ok(LevelFilter::Error));
    }

    #[test]
    fn a_bad_level_is_an_error_naming_it() {
        let e = level_from_cmdline("loglevel=loud").unwrap_err();
        assert_eq!(e.value.as_str(), "loud");
        assert!(std::format!("{e}").contains("loglevel=loud"));
        let long = std::format!("loglevel={}", "x".repeat(100));
        assert_eq!(level_from_cmdline(&long).unwrap_err().value.len(), 32);
    }

    use proptest::prelude::*;
    use proptest::sample::select;

    const LEVELS: [(&str, LevelFilter); 6] = [
        ("off", LevelFilter::Off),
        ("error", LevelFilter::Error),
        ("warn", LevelFilter::Warn),
        ("info", LevelFilter::Info),
        ("debug", LevelFilter::Debug),
        ("trace", LevelFilter::Trace),
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn a_level_in_any_case_reads_back(
            (name, level) in select(&LEVELS[..]),
            upper in proptest::collection::vec(any::<bool>(), 5),
            earlier in select(&LEVELS[..]),
        ) {
            let name: std::string::String = name
                .chars()
                .zip(upper.iter().cycle())
                .map(|(c, &u)| if u { c.to_ascii_uppercase() } else { c })
                .collect();
            let line = std::format!("loglevel={} x=1 loglevel={name} y", earlier.0);
            prop_assert_eq!(level_from_cmdline(&line), Ok(level));
        }

        #[test]
        fn any_other_value_is_named_cut_at_a_character_within_32_bytes(
            value in prop_oneof![
                "[a-zA-Z]{0,8}",
                any::<std::string::String>()
                    .prop_map(|s| s.replace(|c: char| c.is_ascii_whitespace(), "")),
            ],
        ) {
            let got = level_from_cmdline(&std::format!("loglevel={value}"));
            match LEVELS.iter().find(|(n, _)| n.eq_ignore_ascii_case(&value)) {
                Some(&(_, level)) => prop_assert_eq!(got, Ok(level)),
                None => {
                    let cut = got.unwrap_err().value;
                    prop_assert!(value.starts_with(cut.as_str()));
                    prop_assert!(cut.len() <= 32);
                    let next = value[cut.len()..].chars().next();
                    prop_assert!(next.is_none_or(|c| cut.len() + c.len_utf8() > 32));
                }
            }
        }
    }
}
