//! What the agent's speech sounds like after our Opus encoder, for a listening-quality score
//! (`scripts/bench-speech-quality`, which scores with PESQ): a WAV of synthesised speech is
//! resampled to 24 kHz (what speech synthesis gives), encoded as a talking call encodes it at
//! each complexity asked for, decoded as a browser decodes it, and written at 16 kHz beside the
//! reference, also at 16 kHz (wideband PESQ's rate), with the encoder's time per frame.
//!
//! ```sh
//! cargo run --release -p voxgate-loadtest --example opus_quality -- speech.wav OUT_DIR 0 1 3 10
//! ```

use std::time::Instant;
use voxgate_engine::audio::{frame_samples, OpusDecoder, OpusEncoder, Resampler};

fn read(path: &str) -> Result<(u32, Vec<i16>), String> {
    let reader = hound::WavReader::open(path).map_err(|e| format!("{path}: {e}"))?;
    let spec = reader.spec();
    if spec.channels != 1 || spec.bits_per_sample != 16 {
        return Err(format!("{path}: mono 16-bit PCM is wanted"));
    }
    let pcm = reader.into_samples::<i16>().collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())?;
    Ok((spec.sample_rate, pcm))
}

fn resample(pcm: &[i16], from: u32, to: u32) -> Result<Vec<i16>, String> {
    if from == to {
        return Ok(pcm.to_vec());
    }
    let mut r = Resampler::new(from, to).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    // A tail of silence pushes the last of the speech through the resampler.
    let mut padded = pcm.to_vec();
    padded.extend(std::iter::repeat_n(0, from as usize / 10));
    r.push(&padded, &mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

fn write(path: &str, rate: u32, pcm: &[i16]) -> Result<(), String> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).map_err(|e| e.to_string())?;
    for s in pcm {
        w.write_sample(*s).map_err(|e| e.to_string())?;
    }
    w.finalize().map_err(|e| e.to_string())
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [wav, out, complexities @ ..] = args.as_slice() else {
        return Err("usage: opus_quality SPEECH.wav OUT_DIR COMPLEXITY...".into());
    };
    let (rate, pcm) = read(wav)?;
    let speech = resample(&pcm, rate, 24_000)?;
    let frame = frame_samples(24_000);
    let frames: Vec<&[i16]> = speech.chunks_exact(frame).collect();
    let reference: Vec<i16> = frames.concat();
    write(&format!("{out}/reference.wav"), 16_000, &resample(&reference, 24_000, 16_000)?)?;
    for c in complexities {
        let complexity: i32 = c.parse().map_err(|_| format!("{c}: a complexity is 0 to 10"))?;
        let mut encoder = OpusEncoder::new(24_000).map_err(|e| e.to_string())?;
        encoder.set_complexity(complexity).map_err(|e| e.to_string())?;
        let mut packets = Vec::with_capacity(frames.len());
        let started = Instant::now();
        for f in &frames {
            packets.push(encoder.encode(f).map_err(|e| e.to_string())?.to_vec());
        }
        let per_frame = started.elapsed().as_secs_f64() * 1e6 / frames.len().max(1) as f64;
        // A browser decodes at 48 kHz; what is above 12 kHz is empty, so 24 kHz hears the same.
        let mut decoder = OpusDecoder::new(24_000).map_err(|e| e.to_string())?;
        let mut decoded = Vec::with_capacity(reference.len());
        for p in &packets {
            decoded.extend_from_slice(decoder.decode(p).map_err(|e| e.to_string())?);
        }
        write(&format!("{out}/c{complexity}.wav"), 16_000, &resample(&decoded, 24_000, 16_000)?)?;
        let bytes: usize = packets.iter().map(Vec::len).sum();
        println!(
            "complexity {complexity}: {per_frame:.1} us a frame, {} bytes a frame",
            bytes / packets.len().max(1)
        );
    }
    Ok(())
}
