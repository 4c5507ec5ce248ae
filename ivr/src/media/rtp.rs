//! RTP packets in and out (RFC 3550), through rtp-types' zero-copy parser and builder.

/// A received packet, copied out of the datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub marker: bool,
    pub payload: Vec<u8>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    #[error("not an RTP packet: {0}")]
    Malformed(String),
}

/// Parse one datagram; anything that is not well-formed RTP version 2 is an error, never a
/// panic.
pub fn parse(datagram: &[u8]) -> Result<Packet, RtpError> {
    let p =
        rtp_types::RtpPacket::parse(datagram).map_err(|e| RtpError::Malformed(format!("{e:?}")))?;
    Ok(Packet {
        payload_type: p.payload_type(),
        sequence: p.sequence_number(),
        timestamp: p.timestamp(),
        ssrc: p.ssrc(),
        marker: p.marker_bit(),
        payload: p.payload().to_vec(),
    })
}

/// Build one datagram.
pub fn build(packet: &Packet) -> Vec<u8> {
    rtp_types::RtpPacketBuilder::<&[u8], &[u8]>::new()
        .payload_type(packet.payload_type)
        .sequence_number(packet.sequence)
        .timestamp(packet.timestamp)
        .ssrc(packet.ssrc)
        .marker_bit(packet.marker)
        .payload(packet.payload.as_slice())
        .write_vec_unchecked()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let p = Packet {
            payload_type: 0,
            sequence: 65_535,
            timestamp: 160 * 7,
            ssrc: 0xdead_beef,
            marker: true,
            payload: vec![0xFF; 160],
        };
        let bytes = build(&p);
        assert_eq!(bytes.len(), 12 + 160);
        assert_eq!(parse(&bytes).unwrap(), p);
        assert!(parse(&[]).is_err());
        assert!(parse(&[0x00; 20]).is_err(), "version 0");
        assert!(parse(&bytes[..8]).is_err(), "truncated header");
    }
}
