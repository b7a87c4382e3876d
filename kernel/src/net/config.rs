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

    use proptest::prelude::*;
    use proptest::sample::select;
    use std::format;
    use std::string::String;

    /// An address `ip=` accepts: not 0.0.0.0, 255.255.255.255 or multicast.
    fn host_address() -> impl Strategy<Value = Ipv4Addr> {
        prop_oneof![
            any::<u32>().prop_map(Ipv4Addr::from),
            select(
                &[
                    0x0a00_0002u32,
                    0xc0a8_0101,
                    0x7f00_0001,
                    0xdfff_ffff,
                    0x0000_0001
                ][..]
            )
            .prop_map(Ipv4Addr::from),
        ]
        .prop_filter("not a unicast address", |a| {
            !(a.is_unspecified() || a.is_broadcast() || a.is_multicast())
        })
    }

    /// The network part of a prefix length, computed apart from the code's shift.
    fn mask(prefix: u8) -> u32 {
        ((1u64 << 32) - (1u64 << (32 - u32::from(prefix)))) as u32
    }

    /// Words that are not `ip=` or `gw=` settings.
    fn filler() -> impl Strategy<Value = String> {
        select(
            &[
                "loglevel=debug",
                "ip",
                "gw",
                "zip=1.2.3.4/8",
                "ipv6=::1",
                "port=80",
                "--",
            ][..],
        )
        .prop_map(String::from)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn a_static_address_written_into_any_line_reads_back(
            address in host_address(),
            prefix in 0u8..=32,
            host_bits in any::<u32>(),
            gateway in any::<bool>(),
            before in proptest::collection::vec(filler(), 0..4),
            after in proptest::collection::vec(filler(), 0..4),
        ) {
            let m = mask(prefix);
            let gw = Ipv4Addr::from((u32::from(address) & m) | (host_bits & !m));
            let mut line = format!("{} ip={address}/{prefix}", before.join(" "));
            if gateway {
                line.push_str(&format!("\tgw={gw}"));
            }
            line.push_str(&format!(" {}", after.join("  ")));
            prop_assert_eq!(
                from_cmdline(&line),
                Ok(Ipv4Config::Static {
                    address,
                    prefix,
                    gateway: gateway.then_some(gw),
                })
            );
        }

        #[test]
        fn a_gateway_off_the_network_is_refused_naming_it(
            address in host_address(),
            prefix in prop_oneof![1u8..=32, Just(1u8), Just(32u8)],
            bit in prop_oneof![Just(None), (0u32..32).prop_map(Some)],
            host_bits in any::<u32>(),
        ) {
            // Flip one of the network bits (there are `prefix` of them, from the top;
            // `None`: the lowest of them).
            let index = bit.map_or(u32::from(prefix) - 1, |b| b % u32::from(prefix));
            let flip = 1u32 << (31 - index);
            let m = mask(prefix);
            let gw = Ipv4Addr::from(((u32::from(address) & m) ^ flip) | (host_bits & !m));
            prop_assert_eq!(
                from_cmdline(&format!("gw={gw} ip={address}/{prefix}")),
                Err(ConfigError::GatewayOffLink { gateway: gw })
            );
        }

        #[test]
        fn any_ip_value_is_read_exactly_or_refused_naming_it(
            value in prop_oneof![
                "[0-9./+-]{0,20}",
                (
                    select(&["0.0.0.0", "255.255.255.255", "224.0.0.1", "239.9.9.9", "1.2.3.4"][..]),
                    0u8..=40,
                )
                    .prop_map(|(a, p)| format!("{a}/{p}")),
                "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}/[0-9+]{0,3}",
                any::<String>().prop_map(|s| s.replace(|c: char| c.is_ascii_whitespace(), "")),
            ],
        ) {
            match from_cmdline(&format!("ip={value}")) {
                Ok(Ipv4Config::Static { address, prefix, gateway: None }) => {
                    // Only the address as Rust writes it, and digits for the prefix.
                    let (a, p) = value.split_once('/').unwrap();
                    prop_assert_eq!(a, format!("{address}"));
                    prop_assert!(!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
                    prop_assert_eq!(p.parse::<u8>(), Ok(prefix));
                    prop_assert!(prefix <= 32);
                    prop_assert!(
                        !(address.is_unspecified() || address.is_broadcast() || address.is_multicast()),
                        "{} is not an address of ours", address
                    );
                }
                Ok(other) => prop_assert!(false, "{:?} from ip={}", other, value),
                Err(e) => {
                    let named = matches!(
                        &e,
                        ConfigError::BadValue { word: "ip", value: v, .. } if *v == value
                    );
                    prop_assert!(named, "{:?}", e);
                    let (shown, head) = (format!("{e}"), format!("ip={value}: expected "));
                    prop_assert!(shown.starts_with(&head));
                }
            }
        }

        #[test]
        fn any_line_never_panics_and_errors_name_the_last_setting(
            line in prop_oneof![
                any::<String>(),
                "((ip|gw|zip)=[0-9./a-z]{0,12}[ \t]){0,4}",
            ],
        ) {
            let last = |name: &str| {
                let prefix = format!("{name}=");
                line.split(|c: char| c.is_ascii_whitespace())
                    .rfind(|w| w.starts_with(&prefix))
                    .map(|w| String::from(&w[prefix.len()..]))
            };
            match from_cmdline(&line) {
                Ok(Ipv4Config::Dhcp) => prop_assert_eq!((last("ip"), last("gw")), (None, None)),
                Ok(Ipv4Config::Static { .. }) => prop_assert!(last("ip").is_some()),
                Err(ConfigError::BadValue { word, value, .. }) => {
                    prop_assert_eq!(Some(value), last(word));
                }
                Err(ConfigError::GatewayWithoutAddress) => {
                    prop_assert!(last("ip").is_none() && last("gw").is_some());
                }
                Err(ConfigError::GatewayOffLink { gateway }) => {
                    prop_assert_eq!(last("gw"), Some(format!("{gateway}")));
                }
            }
        }
    }
}
