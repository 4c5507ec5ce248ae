//! The receive jitter buffer.
//!
//! Packets go in as they arrive and come out in sequence order. A packet that arrives twice is
//! dropped (counted as a duplicate); one that arrives after its turn was given up is dropped
//! (counted late); a gap the buffer cannot wait for any longer — more than `depth` packets are
//! queued behind it — comes out as [`Frame::Lost`], so the recording keeps its timing and the
//! loss is counted. Sequence numbers are extended past the 16-bit wrap. Interarrival jitter is
//! estimated as in RFC 3550 §6.4.1 for the metrics.

use super::rtp::Packet;
use std::collections::BTreeMap;

/// What the buffer hands on, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    Audio(Packet),
    /// This sequence number never arrived in time.
    Lost(u16),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub received: u64,
    pub duplicates: u64,
    pub late: u64,
    pub lost: u64,
    /// Arrived out of order but in time.
    pub reordered: u64,
}

#[derive(Debug)]
pub struct JitterBuffer {
    depth: usize,
    queue: BTreeMap<u64, Packet>,
    /// Extended sequence number to hand on next.
    next: Option<u64>,
    /// Highest extended sequence number seen.
    highest: Option<u64>,
    stats: Stats,
    /// RFC 3550 jitter, in timestamp units, scaled by 16 as in the RFC's integer form.
    jitter16: u64,
    last_transit: Option<i64>,
}

impl JitterBuffer {
    /// `depth`: how many packets may wait behind a gap before it is declared lost (3 = 60 ms
    /// at 20 ms packets).
    pub fn new(depth: usize) -> Self {
        Self {
            depth: depth.max(1),
            queue: BTreeMap::new(),
            next: None,
            highest: None,
            stats: Stats::default(),
            jitter16: 0,
            last_transit: None,
        }
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Interarrival jitter in timestamp units (samples).
    pub fn jitter(&self) -> u64 {
        self.jitter16 >> 4
    }

    /// Extend a 16-bit sequence number to the candidate nearest the highest seen.
    fn extend(&self, seq: u16) -> u64 {
        let Some(h) = self.highest else {
            return u64::from(seq) + (1 << 16);
        };
        let base = h & !0xFFFF;
        [base.wrapping_sub(1 << 16), base, base + (1 << 16)]
            .into_iter()
            .map(|b| b + u64::from(seq))
            .min_by_key(|c| c.abs_diff(h))
            .unwrap_or(base + u64::from(seq))
    }

    /// Accept a packet that arrived at `arrival` (in timestamp units on the receiver's clock).
    pub fn push(&mut self, packet: Packet, arrival: u32) {
        let ext = self.extend(packet.sequence);
        // Jitter (RFC 3550): D = (Rj - Ri) - (Sj - Si), J += (|D| - J) / 16.
        let transit = i64::from(arrival) - i64::from(packet.timestamp);
        if let Some(last) = self.last_transit {
            // RFC 3550 A.8, integer form: jitter += |D| - ((jitter + 8) >> 4), scaled by 16.
            let d = i64::try_from((transit - last).unsigned_abs()).unwrap_or(i64::MAX / 2);
            let j = i64::try_from(self.jitter16).unwrap_or(i64::MAX / 2);
            self.jitter16 = u64::try_from((j + d - ((j + 8) >> 4)).max(0)).unwrap_or(0);
        }
        self.last_transit = Some(transit);

        if self.next.is_some_and(|n| ext < n) {
            self.stats.late += 1;
            return;
        }
        if self.queue.contains_key(&ext) {
            self.stats.duplicates += 1;
            return;
        }
        if self.highest.is_some_and(|h| ext < h) {
            self.stats.reordered += 1;
        }
        self.stats.received += 1;
        self.highest = Some(self.highest.map_or(ext, |h| h.max(ext)));
        self.next.get_or_insert(ext);
        self.queue.insert(ext, packet);
    }

    /// The next frame, if it is due: the next packet in order, or a loss once `depth` packets
    /// wait behind a gap.
    pub fn pop(&mut self) -> Option<Frame> {
        let next = self.next?;
        if let Some(p) = self.queue.remove(&next) {
            self.next = Some(next + 1);
            return Some(Frame::Audio(p));
        }
        if self.queue.len() > self.depth {
            self.next = Some(next + 1);
            self.stats.lost += 1;
            return Some(Frame::Lost((next & 0xFFFF) as u16));
        }
        None
    }

    /// The stream ended: everything left, in order, gaps as losses.
    pub fn drain(&mut self) -> Vec<Frame> {
        let mut out = Vec::new();
        while let Some(&last) = self.queue.keys().next_back() {
            match self.next {
                Some(n) if n <= last => {
                    if let Some(p) = self.queue.remove(&n) {
                        out.push(Frame::Audio(p));
                    } else {
                        self.stats.lost += 1;
                        out.push(Frame::Lost((n & 0xFFFF) as u16));
                    }
                    self.next = Some(n + 1);
                }
                _ => break,
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(seq: u16) -> Packet {
        Packet {
            payload_type: 0,
            sequence: seq,
            timestamp: u32::from(seq).wrapping_mul(160),
            ssrc: 1,
            marker: false,
            payload: vec![seq as u8],
        }
    }

    fn seqs(frames: &[Frame]) -> Vec<(u16, bool)> {
        frames
            .iter()
            .map(|f| match f {
                Frame::Audio(p) => (p.sequence, true),
                Frame::Lost(s) => (*s, false),
            })
            .collect()
    }

    fn pop_all(j: &mut JitterBuffer) -> Vec<Frame> {
        std::iter::from_fn(|| j.pop()).collect()
    }

    #[test]
    fn reorders_and_drops_duplicates() {
        let mut j = JitterBuffer::new(3);
        for s in [10, 12, 11, 11, 13] {
            j.push(pkt(s), u32::from(s) * 160);
        }
        let out = pop_all(&mut j);
        assert_eq!(seqs(&out), [(10, true), (11, true), (12, true), (13, true)]);
        let st = j.stats();
        assert_eq!(
            (st.received, st.duplicates, st.reordered, st.lost),
            (4, 1, 1, 0)
        );
    }

    #[test]
    fn declares_a_gap_lost_once_depth_packets_wait_and_drops_the_straggler() {
        let mut j = JitterBuffer::new(2);
        j.push(pkt(1), 0);
        assert_eq!(seqs(&pop_all(&mut j)), [(1, true)]);
        for s in [3, 4] {
            j.push(pkt(s), 0);
        }
        assert!(j.pop().is_none(), "two waiting: still hoping for 2");
        j.push(pkt(5), 0);
        assert_eq!(
            seqs(&pop_all(&mut j)),
            [(2, false), (3, true), (4, true), (5, true)]
        );
        j.push(pkt(2), 0);
        assert_eq!(j.stats().late, 1);
        assert_eq!(j.stats().lost, 1);
    }

    #[test]
    fn follows_the_sequence_number_across_the_wrap() {
        let mut j = JitterBuffer::new(3);
        for s in [65_534, 65_535, 1, 0, 2] {
            j.push(pkt(s), 0);
        }
        assert_eq!(
            seqs(&pop_all(&mut j)),
            [
                (65_534, true),
                (65_535, true),
                (0, true),
                (1, true),
                (2, true)
            ]
        );
    }

    #[test]
    fn drain_hands_on_everything_with_gaps_as_losses() {
        let mut j = JitterBuffer::new(8);
        for s in [1, 2, 4] {
            j.push(pkt(s), 0);
        }
        let mut out = pop_all(&mut j);
        out.extend(j.drain());
        assert_eq!(seqs(&out), [(1, true), (2, true), (3, false), (4, true)]);
    }

    #[test]
    fn steady_arrival_has_no_jitter_and_uneven_arrival_some() {
        let mut j = JitterBuffer::new(3);
        for s in 0..50u16 {
            j.push(pkt(s), u32::from(s) * 160);
        }
        assert_eq!(j.jitter(), 0);
        let mut k = JitterBuffer::new(3);
        for s in 0..50u16 {
            let wobble = if s % 2 == 0 { 0 } else { 80 };
            k.push(pkt(s), u32::from(s) * 160 + wobble);
        }
        assert!(k.jitter() > 20, "{}", k.jitter());
    }
}
