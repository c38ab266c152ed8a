//! Opus packet framing (RFC 6716 §3.2 and Appendix B): splitting a packet into 20 ms pieces and
//! writing one self-delimited, so that two packets can share one multistream packet. Frames are
//! moved as they are, never decoded.

/// 20 ms at 48 kHz: one slot of a recording.
pub const SLOT_SAMPLES: u32 = 960;

/// The longest frame RFC 6716 allows (R2).
const MAX_FRAME_BYTES: usize = 1275;

/// Why a packet cannot be put in a recording as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    #[error("not a valid Opus packet")]
    Invalid,
    /// A frame longer than 20 ms (SILK's 40 and 60 ms frames) does not fit a 20 ms slot, and
    /// recording it would mean decoding it.
    #[error("an Opus frame of {0} samples does not fit a 20 ms slot")]
    FrameTooLong(u32),
    /// Frames shorter than 20 ms that do not add up to whole 20 ms pieces.
    #[error("{frames} frames of {samples} samples do not make whole 20 ms pieces")]
    Ragged { frames: usize, samples: u32 },
}

/// An Opus packet's frames, as libopus parses them.
pub struct OpusFrames<'a> {
    /// The TOC byte with its frame-count code cleared: the configuration every frame shares.
    config: u8,
    frames: Vec<&'a [u8]>,
    /// Samples per frame at 48 kHz.
    frame_samples: u32,
}

impl<'a> OpusFrames<'a> {
    pub fn parse(packet: &'a [u8]) -> Result<OpusFrames<'a>, FramingError> {
        let parsed = opus::packet::parse(packet).map_err(|_| FramingError::Invalid)?;
        let frame_samples =
            opus::packet::get_samples_per_frame(packet, 48_000).map_err(|_| FramingError::Invalid)? as u32;
        Ok(OpusFrames { config: parsed.toc & !3, frames: parsed.frames, frame_samples })
    }

    /// Samples at 48 kHz the packet holds.
    pub fn samples(&self) -> u32 {
        self.frame_samples * self.frames.len() as u32
    }

    /// The packet as whole 20 ms packets (normal framing), in order.
    pub fn slots(&self) -> Result<Vec<Vec<u8>>, FramingError> {
        let fs = self.frame_samples;
        if fs > SLOT_SAMPLES {
            return Err(FramingError::FrameTooLong(fs));
        }
        let per_slot = (SLOT_SAMPLES / fs) as usize;
        if !SLOT_SAMPLES.is_multiple_of(fs) || !self.frames.len().is_multiple_of(per_slot) {
            return Err(FramingError::Ragged { frames: self.frames.len(), samples: fs });
        }
        Ok(self
            .frames
            .chunks(per_slot)
            .map(|frames| {
                let mut out = Vec::with_capacity(frames.iter().map(|f| f.len() + 2).sum::<usize>() + 2);
                write(self.config, frames, false, &mut out);
                out
            })
            .collect())
    }
}

/// Samples per frame at 48 kHz, from the TOC byte's configuration (RFC 6716 §3.1).
fn frame_samples(toc: u8) -> u32 {
    match toc >> 3 {
        c @ 0..=11 => [480, 960, 1920, 2880][usize::from(c % 4)],
        c @ 12..=15 => [480, 960][usize::from(c % 2)],
        c => [120, 240, 480, 960][usize::from(c % 4)],
    }
}

/// Whether `packet` is one 20 ms frame (code 0): the common case, taken as it is.
pub fn is_one_slot(packet: &[u8]) -> bool {
    matches!(packet, [toc, frame @ ..] if toc & 3 == 0 && frame_samples(*toc) == SLOT_SAMPLES && frame.len() <= MAX_FRAME_BYTES)
}

/// Appends `packet` to `out` in self-delimited framing (RFC 6716 Appendix B): the framing of
/// every stream of a multistream packet but the last.
pub fn self_delimit(packet: &[u8], out: &mut Vec<u8>) -> Result<(), FramingError> {
    match packet {
        // The common case, one frame (code 0): its length goes after the TOC byte.
        [toc, frame @ ..] if toc & 3 == 0 && frame.len() <= MAX_FRAME_BYTES => {
            out.push(*toc);
            push_length(frame.len(), out);
            out.extend_from_slice(frame);
            Ok(())
        }
        _ => {
            let parsed = OpusFrames::parse(packet)?;
            write(parsed.config, &parsed.frames, true, out);
            Ok(())
        }
    }
}

/// Writes frames sharing the TOC configuration `config`: one frame as code 0, more as code 3
/// with variable lengths. Self-delimited framing adds the last frame's length.
fn write(config: u8, frames: &[&[u8]], self_delimited: bool, out: &mut Vec<u8>) {
    match frames {
        [frame] => {
            out.push(config);
            if self_delimited {
                push_length(frame.len(), out);
            }
            out.extend_from_slice(frame);
        }
        _ => {
            out.push(config | 3);
            out.push(0x80 | frames.len() as u8); // VBR, no padding, M frames
            let lengths = if self_delimited { frames.len() } else { frames.len().saturating_sub(1) };
            for frame in &frames[..lengths] {
                push_length(frame.len(), out);
            }
            for frame in frames {
                out.extend_from_slice(frame);
            }
        }
    }
}

/// A frame length in one byte below 252, else two (RFC 6716 §3.2.1).
fn push_length(len: usize, out: &mut Vec<u8>) {
    if len < 252 {
        out.push(len as u8);
    } else {
        let first = 252 + (len & 3);
        out.push(first as u8);
        out.push(((len - first) / 4) as u8);
    }
}

/// Twenty milliseconds of silence: CELT, full band, one frame that says "silence".
pub const SILENCE: [u8; 3] = [0xF8, 0xFF, 0xFE];

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(encoder: &mut opus::Encoder, n: usize) -> Vec<u8> {
        let pcm: Vec<i16> = (0..n).map(|i| ((i as f32 * 0.05).sin() * 8000.0) as i16).collect();
        encoder.encode_vec(&pcm, 4000).unwrap()
    }

    #[test]
    fn frame_sizes_come_from_the_toc_byte() {
        let mut enc = opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip).unwrap();
        for n in [480, 960] {
            let p = tone(&mut enc, n);
            assert_eq!(frame_samples(p[0]), opus::packet::get_samples_per_frame(&p, 48_000).unwrap() as u32);
        }
        assert_eq!(frame_samples(SILENCE[0]), SLOT_SAMPLES);
        assert!(is_one_slot(&SILENCE));
        assert!(!is_one_slot(&tone(&mut enc, 480)));
    }

    #[test]
    fn lengths_use_two_bytes_from_252() {
        for (len, want) in [(0, vec![0]), (251, vec![251]), (252, vec![252, 0]), (1275, vec![255, 255])] {
            let mut out = Vec::new();
            push_length(len, &mut out);
            assert_eq!(out, want, "{len}");
            let decoded =
                if out.len() == 1 { out[0] as usize } else { out[0] as usize + 4 * out[1] as usize };
            assert_eq!(decoded, len);
        }
    }

    #[test]
    fn a_self_delimited_packet_is_the_first_stream_of_a_multistream_packet() {
        let mut enc = opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip).unwrap();
        let first = tone(&mut enc, 960);
        let second = tone(&mut enc, 960);
        let mut joined = Vec::new();
        self_delimit(&first, &mut joined).unwrap();
        joined.extend_from_slice(&second);
        let mut dec = opus::MSDecoder::new(48_000, 2, 0, &[0, 1]).unwrap();
        let mut pcm = vec![0i16; 960 * 2];
        assert_eq!(dec.decode(&joined, &mut pcm, false).unwrap(), 960);
        // Silence against a tone: each stream lands in its own channel.
        let mut joined = Vec::new();
        self_delimit(&SILENCE, &mut joined).unwrap();
        joined.extend_from_slice(&tone(&mut enc, 960));
        for _ in 0..3 {
            dec.decode(&joined, &mut pcm, false).unwrap();
        }
        let left: i64 = pcm.iter().step_by(2).map(|s| i64::from(*s).abs()).sum();
        let right: i64 = pcm.iter().skip(1).step_by(2).map(|s| i64::from(*s).abs()).sum();
        assert!(left * 100 < right, "left {left}, right {right}");
    }

    #[test]
    fn a_packet_of_ten_ms_frames_becomes_twenty_ms_pieces() {
        let mut enc = opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip).unwrap();
        let frames: Vec<Vec<u8>> = (0..4).map(|_| tone(&mut enc, 480)).collect();
        let refs: Vec<&[u8]> = frames.iter().map(|f| &f[1..]).collect();
        let mut packet = Vec::new();
        write(frames[0][0] & !3, &refs, false, &mut packet);
        let parsed = OpusFrames::parse(&packet).unwrap();
        assert_eq!(parsed.samples(), 1920);
        let slots = parsed.slots().unwrap();
        assert_eq!(slots.len(), 2);
        for slot in &slots {
            assert_eq!(opus::packet::get_nb_samples(slot, 48_000).unwrap(), 960);
            let mut sd = Vec::new();
            self_delimit(slot, &mut sd).unwrap();
            sd.extend_from_slice(&SILENCE);
            let mut dec = opus::MSDecoder::new(48_000, 2, 0, &[0, 1]).unwrap();
            let mut pcm = vec![0i16; 960 * 2];
            assert_eq!(dec.decode(&sd, &mut pcm, false).unwrap(), 960);
        }
    }

    #[test]
    fn what_does_not_fit_a_slot_is_refused_by_name() {
        let mut enc = opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip).unwrap();
        enc.set_expert_frame_duration(opus::FrameSize::Ms60).unwrap();
        let long = tone(&mut enc, 2880);
        match OpusFrames::parse(&long).unwrap().slots() {
            Err(FramingError::FrameTooLong(2880)) => {}
            Ok(slots) => assert_eq!(slots.len(), 3, "CELT splits 60 ms into 20 ms frames"),
            Err(e) => panic!("{e}"),
        }
        assert_eq!(OpusFrames::parse(&[]).err(), Some(FramingError::Invalid));
        let mut odd = Vec::new();
        let mut enc = opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip).unwrap();
        let ten = tone(&mut enc, 480);
        write(ten[0] & !3, &[&ten[1..]], false, &mut odd);
        assert!(matches!(OpusFrames::parse(&odd).unwrap().slots(), Err(FramingError::Ragged { .. })));
    }
}
