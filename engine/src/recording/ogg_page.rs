//! Ogg pages (RFC 3533), written straight into one buffer: a recorder writes 50 packets a
//! second per call on the media worker, so a packet costs a copy into the page and its lacing
//! values, with no allocation of its own (a packet writer that owns each packet costs two).
//! A packet never spans pages here (a page is ended before one that would not fit).

use crc::{Algorithm, Crc};

/// Ogg's CRC-32: polynomial 0x04c11db7, not reflected, no initial value or final xor.
const OGG_CRC: Crc<u32> = Crc::<u32>::new(&Algorithm {
    width: 32,
    poly: 0x04c1_1db7,
    init: 0,
    refin: false,
    refout: false,
    xorout: 0,
    check: 0x89a1_897f,
    residue: 0,
});

/// The most lacing values a page holds.
const MAX_SEGMENTS: usize = 255;

/// One logical Ogg stream's pages.
pub(crate) struct PageWriter {
    serial: u32,
    sequence: u32,
    /// The page being filled: its lacing values and body.
    lacing: Vec<u8>,
    body: Vec<u8>,
    packets: u32,
    /// The granule position after the last packet added.
    granule: u64,
    /// Whole pages written and not yet taken.
    out: Vec<u8>,
}

impl PageWriter {
    pub fn new(serial: u32) -> PageWriter {
        PageWriter {
            serial,
            sequence: 0,
            lacing: Vec::with_capacity(MAX_SEGMENTS),
            body: Vec::with_capacity(8 * 1024),
            packets: 0,
            granule: 0,
            out: Vec::with_capacity(8 * 1024),
        }
    }

    /// Packets in the page being filled.
    pub fn packets(&self) -> u32 {
        self.packets
    }

    /// Adds one packet, written by `write` into the page's body, that ends at `granule`.
    pub fn packet(&mut self, granule: u64, write: impl FnOnce(&mut Vec<u8>)) {
        let start = self.body.len();
        write(&mut self.body);
        let len = self.body.len() - start;
        if self.lacing.len() + len / 255 + 1 > MAX_SEGMENTS {
            // It does not fit: the page ends before it.
            let packet = self.body.split_off(start);
            self.end_page(false);
            self.body.extend_from_slice(&packet);
        }
        self.lacing.extend(std::iter::repeat_n(255u8, len / 255));
        self.lacing.push((len % 255) as u8);
        self.packets += 1;
        self.granule = granule;
    }

    /// Writes the page being filled (even empty, for the end of the stream).
    pub fn end_page(&mut self, last: bool) {
        let first = self.sequence == 0;
        let start = self.out.len();
        self.out.extend_from_slice(b"OggS");
        self.out.push(0); // version
        self.out.push((u8::from(first) * 0x02) | (u8::from(last) * 0x04));
        self.out.extend_from_slice(&self.granule.to_le_bytes());
        self.out.extend_from_slice(&self.serial.to_le_bytes());
        self.out.extend_from_slice(&self.sequence.to_le_bytes());
        self.out.extend_from_slice(&[0; 4]); // the CRC, below
        self.out.push(self.lacing.len() as u8);
        self.out.extend_from_slice(&self.lacing);
        self.out.extend_from_slice(&self.body);
        let crc = OGG_CRC.checksum(&self.out[start..]);
        self.out[start + 22..start + 26].copy_from_slice(&crc.to_le_bytes());
        self.sequence += 1;
        self.lacing.clear();
        self.body.clear();
        self.packets = 0;
    }

    /// Whole pages written since the last call.
    pub fn take(&mut self) -> Option<Vec<u8>> {
        (!self.out.is_empty()).then(|| std::mem::replace(&mut self.out, Vec::with_capacity(8 * 1024)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crc_is_oggs() {
        assert_eq!(OGG_CRC.checksum(b"123456789"), 0x89a1_897f);
    }

    #[test]
    fn pages_read_back_with_an_independent_reader() {
        let mut w = PageWriter::new(42);
        w.packet(0, |b| b.extend_from_slice(b"first"));
        w.end_page(false);
        // A packet of 600 bytes takes three lacing values; 100 of them do not fit one page.
        for i in 0..100u64 {
            w.packet(i * 960, |b| b.extend(std::iter::repeat_n(i as u8, 600)));
        }
        w.end_page(true);
        let file = w.take().unwrap();
        let mut reader = ogg::PacketReader::new(std::io::Cursor::new(file));
        let first = reader.read_packet_expected().unwrap();
        assert_eq!(
            (first.data.as_slice(), first.stream_serial(), first.first_in_stream()),
            (&b"first"[..], 42, true)
        );
        for i in 0..100u8 {
            let p = reader.read_packet_expected().unwrap();
            assert_eq!(p.data.len(), 600);
            assert!(p.data.iter().all(|b| *b == i));
            assert_eq!(p.last_in_stream(), i == 99);
        }
        assert!(reader.read_packet().unwrap().is_none());
    }
}
