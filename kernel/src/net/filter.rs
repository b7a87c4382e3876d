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
}
