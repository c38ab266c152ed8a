//! Opus through libopus (the `opus` crate over the system library): a visitor's packets decoded
//! at the rate speech recognition wants (16 kHz; Opus decodes at 8, 12, 16, 24 or 48 kHz
//! natively, so no resampler runs on the way in), and the agent's speech encoded from the rate
//! speech synthesis gives (24 kHz), one 20 ms packet per frame.

use super::{frame_samples, AudioError};

fn opus_error(e: opus::Error) -> AudioError {
    AudioError::Opus(e.to_string())
}

/// Decodes one call's incoming Opus packets to mono PCM at a fixed rate.
pub struct OpusDecoder {
    decoder: opus::Decoder,
    rate: u32,
    pcm: Vec<i16>,
}

impl OpusDecoder {
    /// A decoder producing mono `rate` Hz PCM (8000, 12000, 16000, 24000 or 48000).
    pub fn new(rate: u32) -> Result<OpusDecoder, AudioError> {
        let decoder = opus::Decoder::new(rate, opus::Channels::Mono).map_err(opus_error)?;
        // Room for the longest packet Opus allows (120 ms).
        Ok(OpusDecoder { decoder, rate, pcm: vec![0; frame_samples(rate) * 6] })
    }

    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// The samples of one packet (a stereo packet is mixed down to mono).
    pub fn decode(&mut self, packet: &[u8]) -> Result<&[i16], AudioError> {
        let n = self.decoder.decode(packet, &mut self.pcm, false).map_err(opus_error)?;
        Ok(&self.pcm[..n])
    }

    /// One frame that stands in for a lost packet (Opus packet loss concealment).
    pub fn conceal(&mut self) -> Result<&[i16], AudioError> {
        let len = frame_samples(self.rate);
        let n = self.decoder.decode(&[], &mut self.pcm[..len], false).map_err(opus_error)?;
        Ok(&self.pcm[..n])
    }
}

/// Largest Opus packet we produce; 20 ms of speech at our bitrate is far smaller.
const MAX_PACKET: usize = 1275;

/// Whether `payload` is an Opus DTX packet: a table-of-contents byte with no audio (RFC 6716
/// §3.2.1, a zero-length frame; at most two bytes, as WebRTC's Opus wrapper judges it). A
/// browser that was asked for DTX (`usedtx=1`, RFC 7587) sends one when the visitor falls
/// silent, then only a comfort-noise update every 400 ms instead of fifty packets a second.
pub fn is_dtx(payload: &[u8]) -> bool {
    payload.len() <= 2
}

/// What a browser sends of its encoder's output with DTX on: WebRTC's Opus wrapper sends the
/// first DTX packet of a pause and drops the rest, so a silent visitor sends a comfort-noise
/// update and one DTX packet every 400 ms. For harnesses and tests that stand in for visitors.
#[derive(Debug, Default)]
pub struct BrowserDtx {
    paused: bool,
}

impl BrowserDtx {
    /// Whether the browser sends this encoded packet.
    pub fn sends(&mut self, packet: &[u8]) -> bool {
        let dtx = is_dtx(packet);
        let send = !(dtx && self.paused);
        self.paused = dtx;
        send
    }
}

/// The agent's encoder's complexity (see [`OpusEncoder::new`]).
const SPEECH_COMPLEXITY: i32 = 0;

/// Encodes the agent's speech, 20 ms per packet, mono.
pub struct OpusEncoder {
    encoder: opus::Encoder,
    rate: u32,
    packet: Vec<u8>,
}

impl OpusEncoder {
    /// An encoder for mono `rate` Hz PCM at 32 kbit/s, tuned for a server that speaks on
    /// hundreds of calls at once: CELT only (restricted low delay), complexity 0, signal voice.
    /// On synthesised speech complexity 0 costs about half of complexity 3's time a frame and
    /// scores higher by wideband PESQ (3.10 against 2.78; 3.29 at 10, for three and a half
    /// times the time): `scripts/bench-speech-quality`, docs/BENCHMARKS.md. libopus's default
    /// (VoIP, complexity 10) costs about 105 µs a frame and its SILK modes 180-360 µs.
    pub fn new(rate: u32) -> Result<OpusEncoder, AudioError> {
        let mut encoder = opus::Encoder::new(rate, opus::Channels::Mono, opus::Application::LowDelay)
            .map_err(opus_error)?;
        encoder.set_bitrate(opus::Bitrate::Bits(32_000)).map_err(opus_error)?;
        encoder.set_complexity(SPEECH_COMPLEXITY).map_err(opus_error)?;
        encoder.set_signal(opus::Signal::Voice).map_err(opus_error)?;
        Ok(OpusEncoder { encoder, rate, packet: vec![0; MAX_PACKET] })
    }

    /// An encoder as a browser's WebRTC stack runs it (VoIP mode, default complexity, 32
    /// kbit/s, in-band FEC): for clients and harnesses that stand in for visitors.
    pub fn browser_like(rate: u32) -> Result<OpusEncoder, AudioError> {
        let mut encoder =
            opus::Encoder::new(rate, opus::Channels::Mono, opus::Application::Voip).map_err(opus_error)?;
        encoder.set_bitrate(opus::Bitrate::Bits(32_000)).map_err(opus_error)?;
        encoder.set_inband_fec(true).map_err(opus_error)?;
        encoder.set_packet_loss_perc(5).map_err(opus_error)?;
        Ok(OpusEncoder { encoder, rate, packet: vec![0; MAX_PACKET] })
    }

    /// Limits the audio bandwidth to what a receiver that plays at most `max_playback_rate` can
    /// use, as a browser does on the remote's `maxplaybackrate`.
    pub fn limit_bandwidth(&mut self, max_playback_rate: u32) -> Result<(), AudioError> {
        let bandwidth = match max_playback_rate {
            0..=8_000 => opus::Bandwidth::Narrowband,
            8_001..=12_000 => opus::Bandwidth::Mediumband,
            12_001..=16_000 => opus::Bandwidth::Wideband,
            16_001..=24_000 => opus::Bandwidth::Superwideband,
            _ => opus::Bandwidth::Fullband,
        };
        self.encoder.set_max_bandwidth(bandwidth).map_err(opus_error)
    }

    /// Sets the encoder's complexity (0-10): what speech quality is bought with CPU, for
    /// measuring that trade (`scripts/bench-speech-quality`).
    pub fn set_complexity(&mut self, complexity: i32) -> Result<(), AudioError> {
        self.encoder.set_complexity(complexity).map_err(opus_error)
    }

    /// Turns on discontinuous transmission, as a browser does on the remote's `usedtx=1`: in
    /// silence the encoder gives DTX packets (at most two bytes, see [`is_dtx`]), with a
    /// comfort-noise update every 400 ms.
    pub fn enable_dtx(&mut self) -> Result<(), AudioError> {
        self.encoder.set_dtx(true).map_err(opus_error)
    }

    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// One 20 ms frame (`frame_samples(rate)` samples) as one Opus packet.
    pub fn encode(&mut self, frame: &[i16]) -> Result<&[u8], AudioError> {
        let n = self.encoder.encode(frame, &mut self.packet).map_err(opus_error)?;
        Ok(&self.packet[..n])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 440 Hz tone at `rate`, `ms` long, at about a quarter of full scale.
    pub(crate) fn tone(rate: u32, ms: u32) -> Vec<i16> {
        let n = (rate / 1000 * ms) as usize;
        (0..n)
            .map(|i| ((i as f64 * 440.0 * std::f64::consts::TAU / rate as f64).sin() * 8000.0) as i16)
            .collect()
    }

    #[test]
    fn a_browser_sends_the_first_dtx_packet_of_a_pause_and_each_update() {
        let mut browser = BrowserDtx::default();
        let (speech, dtx, update) = (&[0x78, 1, 2, 3][..], &[0x78][..], &[0x78, 9, 9][..]);
        let sent: Vec<bool> =
            [speech, dtx, dtx, dtx, update, dtx, dtx, speech].iter().map(|p| browser.sends(p)).collect();
        assert_eq!(sent, [true, true, false, false, true, true, false, true]);
    }

    fn energy(pcm: &[i16]) -> f64 {
        (pcm.iter().map(|s| (*s as f64).powi(2)).sum::<f64>() / pcm.len().max(1) as f64).sqrt()
    }

    #[test]
    fn speech_survives_a_round_trip_at_other_rates() {
        let mut encoder = OpusEncoder::new(24_000).unwrap();
        let mut decoder = OpusDecoder::new(16_000).unwrap();
        let pcm = tone(24_000, 200);
        let mut out = Vec::new();
        for frame in pcm.chunks(frame_samples(24_000)) {
            let packet = encoder.encode(frame).unwrap().to_vec();
            assert!(packet.len() < 200, "a speech packet is small: {}", packet.len());
            let decoded = decoder.decode(&packet).unwrap();
            assert_eq!(decoded.len(), frame_samples(16_000), "20 ms at 16 kHz");
            out.extend_from_slice(decoded);
        }
        // After the codec's start-up, the tone comes through with most of its energy.
        let tail = &out[out.len() / 2..];
        assert!(energy(tail) > energy(&pcm) * 0.5, "{} vs {}", energy(tail), energy(&pcm));
        assert_eq!(decoder.conceal().unwrap().len(), frame_samples(16_000));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut decoder = OpusDecoder::new(16_000).unwrap();
        assert!(decoder.decode(&[0xff; 3]).is_err());
        let mut encoder = OpusEncoder::new(24_000).unwrap();
        assert!(encoder.encode(&[0; 7]).is_err(), "not a 20 ms frame");
    }
}
