//! The kernel's own words in an error answer (netlink extended ack).
//!
//! With `NETLINK_EXT_ACK` set on the socket, an error answer may carry
//! attributes after the echoed request; one of them is a human-readable
//! message such as "Invalid master". netlink-packet-core 0.9 hands the bytes
//! after the error code over unparsed, so this reads them.

use netlink_packet_core::{NLM_F_ACK_TLVS, NLM_F_CAPPED};

/// The type of the extended-ack attribute that carries the kernel's message
/// (`NLMSGERR_ATTR_MSG`).
const NLMSGERR_ATTR_MSG: u16 = 1;

/// The size of a netlink header, all that is echoed with `NLM_F_CAPPED`.
const HEADER_LEN: usize = 16;

/// The kernel's text from an error answer's extended ack, if it sent one.
///
/// `payload` is what follows the error code: the request's own header (only
/// the header when `NLM_F_CAPPED` is set, else the whole request), then the
/// attributes when `NLM_F_ACK_TLVS` is set.
pub(crate) fn ext_ack_message(flags: u16, payload: &[u8]) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 {
        return None;
    }
    let echoed = if flags & NLM_F_CAPPED != 0 {
        HEADER_LEN
    } else {
        u32::from_ne_bytes(payload.get(..4)?.try_into().ok()?) as usize
    };
    let mut rest = payload.get(echoed.next_multiple_of(4)..)?;
    while rest.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
        let kind = u16::from_ne_bytes([rest[2], rest[3]]) & 0x3fff;
        if len < 4 || len > rest.len() {
            return None;
        }
        if kind == NLMSGERR_ATTR_MSG {
            let text = &rest[4..len];
            let text = text.split(|&b| b == 0).next().unwrap_or_default();
            return Some(String::from_utf8_lossy(text).into_owned());
        }
        rest = rest.get(len.next_multiple_of(4)..).unwrap_or_default();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attribute(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(value);
        out.resize(out.len().next_multiple_of(4), 0);
        out
    }

    #[test]
    fn ext_ack_text_after_a_capped_header() {
        let mut payload = vec![0u8; 16];
        payload.extend(attribute(3, &7u32.to_ne_bytes()));
        payload.extend(attribute(NLMSGERR_ATTR_MSG, b"Invalid master\0"));
        let flags = NLM_F_ACK_TLVS | NLM_F_CAPPED;
        assert_eq!(
            ext_ack_message(flags, &payload).as_deref(),
            Some("Invalid master")
        );
    }

    #[test]
    fn ext_ack_text_after_a_whole_request() {
        let mut payload = 22u32.to_ne_bytes().to_vec();
        payload.resize(24, 0xaa);
        payload.extend(attribute(NLMSGERR_ATTR_MSG, b"no such device\0"));
        let found = ext_ack_message(NLM_F_ACK_TLVS, &payload);
        assert_eq!(found.as_deref(), Some("no such device"));
    }

    #[test]
    fn ext_ack_absent_or_malformed() {
        assert_eq!(ext_ack_message(NLM_F_CAPPED, &[0; 32]), None);
        let mut payload = vec![0u8; 16];
        payload.extend([200, 0, 1, 0, b'x']);
        assert_eq!(
            ext_ack_message(NLM_F_ACK_TLVS | NLM_F_CAPPED, &payload),
            None
        );
    }
}
