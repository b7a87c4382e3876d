//! Toolstack control requests (`control/shutdown`, `docs/misc/xenstore-paths.pandoc`).

use crate::abi::sched::ShutdownReason;

/// What a value of `control/shutdown` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownRequest {
    /// Nothing (the key is empty, or was just acknowledged by clearing it).
    None,
    /// Shut down with this reason.
    Shutdown(ShutdownReason),
    /// Something we do not do (`suspend`, or an unknown word): log it and ignore it.
    Unsupported,
}

impl ShutdownRequest {
    /// Whether the guest acknowledges the request by clearing the key: only for what it
    /// carries out. libxl takes a cleared key as "the guest will do it" (for `suspend` it
    /// then waits 60 s for a suspend that would never come), so anything else is left in
    /// place, as Linux does.
    pub fn acknowledged(self) -> bool {
        matches!(self, ShutdownRequest::Shutdown(_))
    }

    /// Parses a `control/shutdown` value (`poweroff`, `halt`, `reboot`, `suspend`, ...).
    pub fn parse(value: &str) -> ShutdownRequest {
        match value.trim_end_matches('\0') {
            "" => ShutdownRequest::None,
            "poweroff" | "halt" => ShutdownRequest::Shutdown(ShutdownReason::Poweroff),
            "reboot" => ShutdownRequest::Shutdown(ShutdownReason::Reboot),
            _ => ShutdownRequest::Unsupported,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toolstack_words_map_to_shutdown_reasons() {
        use ShutdownRequest::*;
        assert_eq!(ShutdownRequest::parse(""), None);
        assert_eq!(
            ShutdownRequest::parse("poweroff"),
            Shutdown(ShutdownReason::Poweroff)
        );
        assert_eq!(
            ShutdownRequest::parse("halt"),
            Shutdown(ShutdownReason::Poweroff)
        );
        assert_eq!(
            ShutdownRequest::parse("reboot"),
            Shutdown(ShutdownReason::Reboot)
        );
        assert_eq!(
            ShutdownRequest::parse("reboot\0"),
            Shutdown(ShutdownReason::Reboot)
        );
        assert_eq!(ShutdownRequest::parse("suspend"), Unsupported);
        assert_eq!(ShutdownRequest::parse("Reboot"), Unsupported);
        assert_eq!(ShutdownRequest::parse("poweroff now"), Unsupported);
    }

    #[test]
    fn only_what_the_guest_does_is_acknowledged() {
        assert!(ShutdownRequest::parse("poweroff").acknowledged());
        assert!(ShutdownRequest::parse("reboot").acknowledged());
        assert!(!ShutdownRequest::parse("suspend").acknowledged());
        assert!(!ShutdownRequest::parse("bogus").acknowledged());
        assert!(!ShutdownRequest::parse("").acknowledged());
    }
}
