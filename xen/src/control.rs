//! Toolstack control requests (`control/shutdown` and `control/sysrq`,
//! `docs/misc/xenstore-paths.pandoc`).

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

/// A debug key the toolstack sent with `xl sysrq DOMAIN KEY`, which writes the key to
/// `control/sysrq`. As in Linux's handler, only the first character counts and the guest
/// clears the key once it has read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sysrq {
    /// No key (the node is empty, missing, or was just cleared).
    None,
    /// `z`: print the trace ring (Linux's key for dumping the ftrace buffer).
    DumpTrace,
    /// `m`: print memory use.
    ShowMemory,
    /// Any other key: print the keys the guest knows.
    Help(char),
}

impl Sysrq {
    /// Parses a `control/sysrq` value.
    pub fn parse(value: &str) -> Sysrq {
        match value.trim_end_matches('\0').chars().next() {
            None | Some('\0') => Sysrq::None,
            Some('z') => Sysrq::DumpTrace,
            Some('m') => Sysrq::ShowMemory,
            Some(c) => Sysrq::Help(c),
        }
    }

    /// The keys the guest acts on, as printed for an unknown key.
    pub const HELP: &'static str = "z: dump the trace ring, m: show memory";
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

    #[test]
    fn sysrq_keys_are_the_first_character() {
        assert_eq!(Sysrq::parse(""), Sysrq::None);
        assert_eq!(Sysrq::parse("\0"), Sysrq::None);
        assert_eq!(Sysrq::parse("z"), Sysrq::DumpTrace);
        assert_eq!(Sysrq::parse("z\0"), Sysrq::DumpTrace);
        assert_eq!(Sysrq::parse("mz"), Sysrq::ShowMemory);
        assert_eq!(Sysrq::parse("Z"), Sysrq::Help('Z'));
        assert_eq!(Sysrq::parse("é"), Sysrq::Help('é'));
    }
}
