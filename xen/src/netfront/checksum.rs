//! Checksum verification of a received Ethernet frame: the IPv4 header checksum and the
//! TCP, UDP or ICMP checksum (RFC 791, 793, 768, 792; the sum of RFC 1071).
//!
//! A frame the backend flagged neither `NETRXF_csum_blank` nor `NETRXF_data_validated` is
//! checked here before the stack sees it (smoltcp is told not to verify, since frames from
//! a local peer may arrive with blank checksums). Pure functions over a byte slice; no
//! allocation. Anything that is not IPv4 (ARP, IPv6, VLAN-tagged) passes unchecked; for a
//! fragment only the IP header can be checked (the transport checksum covers the whole
//! datagram).

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use core::fmt;

/// Ethernet header length (no VLAN tag).
const ETH_HEADER: usize = 14;
/// EtherType of IPv4.
const ETHERTYPE_IPV4: u16 = 0x0800;
/// IP protocol numbers.
const PROTO_ICMP: u8 = 1;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;

/// Why a frame's checksums do not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumError {
    /// The IPv4 header is cut short, not version 4, or its lengths do not fit the frame.
    Ipv4Malformed,
    /// The IPv4 header checksum is wrong.
    Ipv4Header {
        /// The checksum field as received.
        checksum: u16,
    },
    /// The TCP/UDP/ICMP header is cut short (or a UDP length does not fit).
    TransportMalformed {
        /// The IP protocol.
        protocol: u8,
    },
    /// The TCP/UDP/ICMP checksum is wrong.
    Transport {
        /// The IP protocol.
        protocol: u8,
        /// The checksum field as received.
        checksum: u16,
    },
}

impl fmt::Display for ChecksumError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ChecksumError::Ipv4Malformed => write!(f, "malformed IPv4 header"),
            ChecksumError::Ipv4Header { checksum } => {
                write!(f, "bad IPv4 header checksum {checksum:#06x}")
            }
            ChecksumError::TransportMalformed { protocol } => {
                write!(f, "malformed header of IP protocol {protocol}")
            }
            ChecksumError::Transport { protocol, checksum } => {
                write!(f, "bad checksum {checksum:#06x} of IP protocol {protocol}")
            }
        }
    }
}

impl core::error::Error for ChecksumError {}

/// The 16-bit big-endian word at `at`.
fn be16(b: &[u8], at: usize) -> Option<u16> {
    let w = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([*w.first()?, *w.get(1)?]))
}

/// Adds `bytes` as big-endian 16-bit words (an odd last byte padded with zero) to `acc`.
fn sum(bytes: &[u8], mut acc: u64) -> u64 {
    let mut words = bytes.chunks_exact(2);
    for w in &mut words {
        if let [hi, lo] = *w {
            acc = acc.wrapping_add(u64::from(u16::from_be_bytes([hi, lo])));
        }
    }
    if let [last] = *words.remainder() {
        acc = acc.wrapping_add(u64::from(u16::from_be_bytes([last, 0])));
    }
    acc
}

/// The ones'-complement sum folded to 16 bits.
fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff).wrapping_add(acc >> 16);
    }
    u16::try_from(acc).unwrap_or(0)
}

/// A block including its checksum field verifies when its sum folds to all ones.
fn verifies(acc: u64) -> bool {
    fold(acc) == 0xffff
}

/// Checks the checksums of Ethernet frame `frame` (destination MAC first, no FCS).
///
/// # Errors
/// The IPv4 header checksum, or the TCP/UDP/ICMP checksum of an unfragmented datagram, is
/// wrong, or the headers needed to check them are malformed. A UDP checksum of 0 means
/// "none" and passes.
pub fn verify_frame(frame: &[u8]) -> Result<(), ChecksumError> {
    if be16(frame, 12) != Some(ETHERTYPE_IPV4) {
        return Ok(());
    }
    let ip = frame.get(ETH_HEADER..).unwrap_or_default();
    let malformed = ChecksumError::Ipv4Malformed;
    let first = *ip.first().ok_or(malformed)?;
    let header_len = usize::from(first & 0x0f).saturating_mul(4);
    let total_len = usize::from(be16(ip, 2).ok_or(malformed)?);
    if first >> 4 != 4 || header_len < 20 || total_len < header_len || total_len > ip.len() {
        return Err(malformed);
    }
    let header = ip.get(..header_len).ok_or(malformed)?;
    if !verifies(sum(header, 0)) {
        return Err(ChecksumError::Ipv4Header {
            checksum: be16(header, 10).unwrap_or(0),
        });
    }
    let fragment = be16(header, 6).ok_or(malformed)?;
    if fragment & 0x3fff != 0 {
        // More fragments, or not the first: the transport checksum spans them all.
        return Ok(());
    }
    let protocol = *header.get(9).ok_or(malformed)?;
    let payload = ip.get(header_len..total_len).ok_or(malformed)?;
    let short = ChecksumError::TransportMalformed { protocol };
    let (covered, checksum) = match protocol {
        PROTO_ICMP => (payload, be16(payload, 2).ok_or(short)?),
        PROTO_TCP if payload.len() >= 20 => (payload, be16(payload, 16).ok_or(short)?),
        PROTO_UDP => {
            let udp_len = usize::from(be16(payload, 4).ok_or(short)?);
            let checksum = be16(payload, 6).ok_or(short)?;
            if udp_len < 8 || udp_len > payload.len() {
                return Err(short);
            }
            if checksum == 0 {
                return Ok(());
            }
            (payload.get(..udp_len).ok_or(short)?, checksum)
        }
        PROTO_TCP => return Err(short),
        _ => return Ok(()),
    };
    let mut acc = 0;
    if protocol != PROTO_ICMP {
        // The pseudo-header: source, destination, protocol, transport length.
        acc = sum(header.get(12..20).ok_or(malformed)?, acc);
        acc = acc.wrapping_add(u64::from(protocol));
        acc = acc.wrapping_add(u64::try_from(covered.len()).unwrap_or(0));
    }
    if verifies(sum(covered, acc)) {
        Ok(())
    } else {
        Err(ChecksumError::Transport { protocol, checksum })
    }
}
