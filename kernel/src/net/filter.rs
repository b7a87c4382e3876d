//! A look at an Ethernet frame before the stack sees it (host-tested): is it a TCP
//! connection request (SYN without ACK), and to which port?
//!
//! The network service drops such a frame when that port's listener has its backlog full,
//! as Linux does: the client sends the SYN again later, instead of getting a reset (which
//! is what smoltcp answers when no socket listens).
//!
//! May use: nothing of the kernel (plain parsing).

/// The destination port of a TCP SYN (without ACK) carried in IPv4 in an Ethernet frame,
/// or `None` for anything else (and for anything malformed).
pub fn syn_port(frame: &[u8]) -> Option<u16> {
    let ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    if ethertype != 0x0800 {
        return None;
    }
    let ip = frame.get(14..)?;
    let version_ihl = *ip.first()?;
    if version_ihl >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(version_ihl & 0x0f) * 4;
    if ihl < 20 || *ip.get(9)? != 6 {
        return None;
    }
    // Only the first fragment carries the TCP header.
    let frag = u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]);
    if frag & 0x1fff != 0 {
        return None;
    }
    // A whole TCP header (20 bytes at least), or it is not a connection request.
    let tcp = ip.get(ihl..)?.get(..20)?;
    let flags = *tcp.get(13)?;
    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;
    if flags & (SYN | ACK) != SYN {
        return None;
    }
    Some(u16::from_be_bytes([*tcp.get(2)?, *tcp.get(3)?]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(ethertype: u16, proto: u8, ihl_words: u8, flags: u8, frag: u16) -> std::vec::Vec<u8> {
        let mut f = std::vec![0u8; 14];
        f[12..14].copy_from_slice(&ethertype.to_be_bytes());
        let ihl = usize::from(ihl_words) * 4;
        let mut ip = std::vec![0u8; ihl.max(20)];
        ip[0] = 0x40 | ihl_words;
        ip[6..8].copy_from_slice(&frag.to_be_bytes());
        ip[9] = proto;
        f.extend_from_slice(&ip[..ihl.max(20).min(ip.len())]);
        let mut tcp = std::vec![0u8; 20];
        tcp[0..2].copy_from_slice(&40000u16.to_be_bytes());
        tcp[2..4].copy_from_slice(&80u16.to_be_bytes());
        tcp[13] = flags;
        f.extend_from_slice(&tcp);
        f
    }

    #[test]
    fn a_syn_names_its_port() {
        assert_eq!(syn_port(&frame(0x0800, 6, 5, 0x02, 0)), Some(80));
        // IP options move the TCP header.
        assert_eq!(syn_port(&frame(0x0800, 6, 6, 0x02, 0)), Some(80));
    }

    #[test]
    fn everything_else_is_none() {
        assert_eq!(syn_port(&frame(0x0800, 6, 5, 0x12, 0)), None, "SYN-ACK");
        assert_eq!(syn_port(&frame(0x0800, 6, 5, 0x10, 0)), None, "ACK");
        assert_eq!(syn_port(&frame(0x0800, 17, 5, 0x02, 0)), None, "UDP");
        assert_eq!(syn_port(&frame(0x0806, 6, 5, 0x02, 0)), None, "ARP");
        assert_eq!(syn_port(&frame(0x0800, 6, 4, 0x02, 0)), None, "IHL < 5");
        assert_eq!(
            syn_port(&frame(0x0800, 6, 5, 0x02, 8)),
            None,
            "a later fragment"
        );
        let f = frame(0x0800, 6, 5, 0x02, 0);
        for cut in 0..f.len() {
            assert_eq!(syn_port(&f[..cut]), None, "cut at {cut}");
        }
    }

    use proptest::prelude::*;
    use smoltcp::wire::{EthernetFrame, EthernetProtocol, IpProtocol, Ipv4Packet, TcpPacket};
    use std::vec::Vec;

    /// The answer by smoltcp's own parsers (which also check lengths `syn_port` skips, so
    /// only frames whose lengths are consistent are compared with it).
    fn smoltcp_says(frame: &[u8]) -> Option<u16> {
        let eth = EthernetFrame::new_checked(frame).ok()?;
        if eth.ethertype() != EthernetProtocol::Ipv4 {
            return None;
        }
        let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
        if ip.version() != 4 || ip.next_header() != IpProtocol::Tcp || ip.frag_offset() != 0 {
            return None;
        }
        let tcp = TcpPacket::new_checked(ip.payload()).ok()?;
        (tcp.syn() && !tcp.ack()).then(|| tcp.dst_port())
    }

    /// A frame with consistent lengths and every field chosen at random, most of them
    /// near a TCP SYN (an IHL under 5 still gets a 20-byte header).
    fn consistent_frame() -> impl Strategy<Value = Vec<u8>> {
        (
            prop_oneof![6 => Just(0x0800u16), 1 => Just(0x86ddu16), 1 => any::<u16>()],
            prop_oneof![6 => Just(4u8), 1 => 0u8..16],
            prop_oneof![4 => Just(5u8), 2 => 5u8..=15, 1 => 0u8..5],
            prop_oneof![6 => Just(6u8), 1 => Just(17u8), 1 => any::<u8>()],
            // Flags and fragment offset: unfragmented, first fragment, or an offset.
            prop_oneof![
                3 => Just(0x4000u16),
                2 => Just(0u16),
                1 => Just(0x2000u16),
                2 => (0u16..8, 0u16..13).prop_map(|(flags, bit)| flags << 13 | 1 << bit),
                1 => any::<u16>(),
            ],
            prop_oneof![3 => Just(0x02u8), 2 => Just(0x12u8), 1 => Just(0x10u8), 3 => any::<u8>()],
            proptest::collection::vec(any::<u8>(), 92),
            proptest::collection::vec(any::<u8>(), 0..40),
        )
            .prop_map(
                |(ethertype, version, ihl, proto, frag, flags, noise, payload)| {
                    let mut f = noise[..12].to_vec();
                    f.extend(ethertype.to_be_bytes());
                    let hlen = usize::from(ihl) * 4;
                    let mut ip = noise[12..12 + hlen.max(20)].to_vec();
                    let total = (hlen.max(20) + 20 + payload.len()) as u16;
                    ip[0] = version << 4 | ihl;
                    ip[2..4].copy_from_slice(&total.to_be_bytes());
                    ip[6..8].copy_from_slice(&frag.to_be_bytes());
                    ip[9] = proto;
                    f.extend(ip);
                    let mut tcp = noise[72..92].to_vec();
                    tcp[12] = 0x50;
                    tcp[13] = flags;
                    f.extend(tcp);
                    f.extend(payload);
                    f
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn agrees_with_smoltcp_on_frames_with_consistent_lengths(f in consistent_frame()) {
            prop_assert_eq!(syn_port(&f), smoltcp_says(&f), "{:02x?}", f);
        }

        #[test]
        fn a_frame_cut_before_the_end_of_its_tcp_header_is_none(
            f in consistent_frame(),
            cut in any::<prop::sample::Index>(),
        ) {
            let ihl = usize::from(f[14] & 0x0f) * 4;
            let tcp_end = 14 + ihl.max(20) + 20;
            let cut = cut.index(tcp_end);
            prop_assert_eq!(syn_port(&f[..cut]), None);
        }

        #[test]
        fn any_bytes_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..120),
            ipv4 in any::<bool>(),
        ) {
            let mut bytes = bytes;
            if ipv4 && bytes.len() > 14 {
                bytes[12..15].copy_from_slice(&[0x08, 0x00, 0x45]);
            }
            let _ = syn_port(&bytes);
        }
    }
}
