//! How the interface gets its address, from the guest command line (host-tested).
//!
//! `ip=A.B.C.D/N` (and optionally `gw=A.B.C.D`) asks for a static address; without `ip=`
//! the address comes from DHCP. A value that does not parse is an error naming the word;
//! it never falls back to a default. The last occurrence of a word counts, as on Linux.
//!
//! May use: `cmdline` (plain parsing).

use crate::cmdline;
use core::fmt;
use core::net::Ipv4Addr;

/// The interface's IPv4 configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv4Config {
    /// Ask a DHCP server (and keep renewing the lease).
    Dhcp,
    /// A fixed address.
    Static {
        /// Our address.
        address: Ipv4Addr,
        /// Prefix length of the local network (0..=32).
        prefix: u8,
        /// Default gateway, if any.
        gateway: Option<Ipv4Addr>,
    },
}

/// A command-line word that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// `word=value` did not parse; `expected` says what would.
    BadValue {
        /// The word (`ip`, `gw`).
        word: &'static str,
        /// What it was given.
        value: alloc::string::String,
        /// What it takes.
        expected: &'static str,
    },
    /// `gw=` without `ip=` (DHCP supplies its own gateway).
    GatewayWithoutAddress,
    /// The gateway is not on the local network of `ip=`.
    GatewayOffLink {
        /// The gateway given.
        gateway: Ipv4Addr,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::BadValue {
                word,
                value,
                expected,
            } => write!(f, "{word}={value}: expected {expected}"),
            ConfigError::GatewayWithoutAddress => {
                write!(f, "gw= needs ip= (with DHCP the server names the gateway)")
            }
            ConfigError::GatewayOffLink { gateway } => {
                write!(f, "gw={gateway} is not on the network of ip=")
            }
        }
    }
}

impl core::error::Error for ConfigError {}

const IP_EXPECTED: &str = "an IPv4 address with a prefix length, like ip=10.0.0.2/24";
const GW_EXPECTED: &str = "an IPv4 address, like gw=10.0.0.1";

fn bad(word: &'static str, value: &str, expected: &'static str) -> ConfigError {
    ConfigError::BadValue {
        word,
        value: alloc::string::String::from(value),
        expected,
    }
}

/// True when `a` and `b` are on the same network of prefix length `prefix`.
fn same_network(a: Ipv4Addr, b: Ipv4Addr, prefix: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    (u32::from(a) & mask) == (u32::from(b) & mask)
}

/// Reads `ip=` and `gw=` from the guest command line.
pub fn from_cmdline(line: &str) -> Result<Ipv4Config, ConfigError> {
    let gw = cmdline::value(line, "gw");
    let Some(ip) = cmdline::value(line, "ip") else {
        return match gw {
            Some(_) => Err(ConfigError::GatewayWithoutAddress),
            None => Ok(Ipv4Config::Dhcp),
        };
    };
    let (addr, prefix) = ip
        .split_once('/')
        .ok_or_else(|| bad("ip", ip, IP_EXPECTED))?;
    let address: Ipv4Addr = addr.parse().map_err(|_| bad("ip", ip, IP_EXPECTED))?;
    let prefix = match cmdline::decimal(prefix).and_then(|p| u8::try_from(p).ok()) {
        Some(p) if p <= 32 => p,
        _ => return Err(bad("ip", ip, IP_EXPECTED)),
    };
    if address.is_unspecified() || address.is_broadcast() || address.is_multicast() {
        return Err(bad("ip", ip, IP_EXPECTED));
    }
    let gateway = match gw {
        None => None,
        Some(g) => {
            let g: Ipv4Addr = g.parse().map_err(|_| bad("gw", g, GW_EXPECTED))?;
            if !same_network(address, g, prefix) {
                return Err(ConfigError::GatewayOffLink { gateway: g });
            }
            Some(g)
        }
    };
    Ok(Ipv4Config::Static {
        address,
        prefix,
        gateway,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]
mod tests {
    use super::*;

    #[test]
    fn no_ip_means_dhcp() {
        assert_eq!(from_cmdline(""), Ok(Ipv4Config::Dhcp));
        assert_eq!(from_cmdline("loglevel=debug port=80"), Ok(Ipv4Config::Dhcp));
        assert_eq!(from_cmdline("zip=1.2.3.4/8"), Ok(Ipv4Config::Dhcp));
    }

    #[test]
    fn static_address_and_gateway() {
        assert_eq!(
            from_cmdline("ip=10.0.0.2/24 gw=10.0.0.1"),
            Ok(Ipv4Config::Static {
                address: Ipv4Addr::new(10, 0, 0, 2),
                prefix: 24,
                gateway: Some(Ipv4Addr::new(10, 0, 0, 1)),
            })
        );
        assert_eq!(
            from_cmdline("ip=1.2.3.4/8 ip=192.168.1.9/16"),
            Ok(Ipv4Config::Static {
                address: Ipv4Addr::new(192, 168, 1, 9),
                prefix: 16,
                gateway: None,
            }),
            "the last word counts"
        );
    }

    #[test]
    fn malformed_values_name_the_word() {
        for bad_ip in [
            "ip=10.0.0.2",
            "ip=10.0.0/24",
            "ip=10.0.0.2/33",
            "ip=10.0.0.2/+3",
            "ip=10.0.0.2/",
            "ip=/24",
            "ip=0.0.0.0/0",
            "ip=255.255.255.255/32",
            "ip=224.0.0.1/4",
            "ip=",
        ] {
            let e = from_cmdline(bad_ip).unwrap_err();
            assert!(
                matches!(e, ConfigError::BadValue { word: "ip", .. }),
                "{bad_ip}: {e:?}"
            );
            assert!(alloc::format!("{e}").starts_with("ip="), "{e}");
        }
        let e = from_cmdline("ip=10.0.0.2/24 gw=10.0.0").unwrap_err();
        assert!(matches!(e, ConfigError::BadValue { word: "gw", .. }));
        assert_eq!(
            from_cmdline("gw=10.0.0.1"),
            Err(ConfigError::GatewayWithoutAddress)
        );
        assert_eq!(
            from_cmdline("ip=10.0.0.2/24 gw=10.0.1.1"),
            Err(ConfigError::GatewayOffLink {
                gateway: Ipv4Addr::new(10, 0, 1, 1)
            })
        );
    }
}
