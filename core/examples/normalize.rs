//! Convert audio files to Hark's canonical format exactly as an upload is converted (symphonia
//! decode, rubato resample to 16 kHz mono, WAV), timing each conversion; for
//! `scripts/bench-upload.sh`, which runs ffmpeg on the same files beside it.
//!
//! `cargo run --release -p hark-core --example normalize -- RUNS FILE…` prints, per file, the
//! median wall time of RUNS conversions in milliseconds and the output duration.

use std::{io::Write, time::Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let runs: usize = args.next().ok_or("usage: normalize RUNS FILE…")?.parse()?;
    let mut out = std::io::stdout().lock();
    for path in args {
        let bytes = std::fs::read(&path)?;
        let mut times = Vec::with_capacity(runs);
        let mut duration_ms = 0;
        for _ in 0..runs.max(1) {
            let start = Instant::now();
            let converted = hark_core::audio::normalize_upload(&bytes, 3600)?;
            times.push(start.elapsed().as_secs_f64() * 1000.0);
            duration_ms = converted.duration_ms;
        }
        times.sort_by(f64::total_cmp);
        writeln!(
            out,
            "{path}\tmedian {:.1} ms\tmin {:.1} ms\t{duration_ms} ms of audio",
            times[times.len() / 2],
            times[0]
        )?;
    }
    Ok(())
}
