//! Decoding uploads in a child process with memory and time limits.
//!
//! symphonia is memory-safe Rust, a panic inside it is caught, and Hark's patches bound every
//! allocation that fuzzing and an audit found sized from a file; but a decoder bug not yet
//! found could still abort a process (a failed allocation, a stack overflow) or spin. In the
//! portal that process would be the portal itself, with every request in flight. So uploads
//! are decoded by a child (`hark decode-upload`): it limits its own address space and CPU time
//! first, reads the file on its stdin, and writes the canonical recording, or why the file was
//! refused, on its stdout ([`serve_child`]). Whatever becomes of the child (killed, aborted,
//! out of time), the portal refuses that one file and goes on.

use super::{AudioError, Recording, normalize_upload};
use std::{
    io::{Read, Write},
    path::PathBuf,
    process::Stdio,
    time::Duration,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// First bytes of the child's answer: anything else on stdout is not an answer.
const MAGIC: &[u8] = b"HARK-AUDIO-1\n";
/// What stderr of a failed child is kept for the log.
const STDERR_KEPT: u64 = 4 * 1024;

/// How uploads are decoded.
#[derive(Clone, Debug)]
pub enum Decoder {
    /// In this process, on the blocking pool (tools, and libraries' own tests).
    InProcess,
    /// In a child process per upload.
    Child(ChildDecoder),
}

/// A program that answers as [`serve_child`] does, and the limits it is given.
#[derive(Clone, Debug)]
pub struct ChildDecoder {
    /// The `hark` executable, normally this process's own.
    pub program: PathBuf,
    /// Arguments before the limits: `decode-upload` for `hark`.
    pub args: Vec<String>,
    pub limits: ChildLimits,
}

/// What one decoding child may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChildLimits {
    /// Address space, in MiB (`RLIMIT_AS`).
    pub memory_mib: u32,
    /// Wall time the portal waits, and CPU time the child may use (`RLIMIT_CPU`).
    pub seconds: u32,
}

impl Decoder {
    /// [`normalize_upload`], here or in a child.
    pub async fn normalize_upload(
        &self,
        bytes: Vec<u8>,
        max_seconds: u32,
    ) -> Result<Recording, AudioError> {
        match self {
            Decoder::InProcess => {
                tokio::task::spawn_blocking(move || normalize_upload(&bytes, max_seconds))
                    .await
                    .map_err(|e| AudioError::DecoderUnavailable(e.to_string()))?
            }
            Decoder::Child(child) => child.normalize_upload(bytes, max_seconds).await,
        }
    }
}

impl ChildDecoder {
    async fn normalize_upload(
        &self,
        bytes: Vec<u8>,
        max_seconds: u32,
    ) -> Result<Recording, AudioError> {
        let mut child = tokio::process::Command::new(&self.program)
            .args(&self.args)
            .args([
                "--max-seconds",
                &max_seconds.to_string(),
                "--memory-mib",
                &self.limits.memory_mib.to_string(),
                "--cpu-seconds",
                &self.limits.seconds.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                AudioError::DecoderUnavailable(format!("{}: {e}", self.program.display()))
            })?;
        let (Some(mut stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(AudioError::DecoderUnavailable(
                "no pipes to the child".into(),
            ));
        };
        // The canonical WAV of the longest message allowed, and the header.
        let most = u64::from(max_seconds.saturating_add(1)) * u64::from(super::CANONICAL_RATE) * 2
            + 64 * 1024;
        let work = async {
            // Feed and drain at once: a child blocked writing while we write would deadlock.
            let feed = async move {
                // A child that dies early closes the pipe; its exit status tells why.
                let _ = stdin.write_all(&bytes).await;
                drop(stdin);
            };
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let (mut stdout, mut stderr) = (stdout.take(most), stderr.take(STDERR_KEPT));
            let (_, read_out, _) = tokio::join!(
                feed,
                stdout.read_to_end(&mut out),
                stderr.read_to_end(&mut err),
            );
            let status = child.wait().await;
            (read_out.map(|_| out), err, status)
        };
        let limit = Duration::from_secs(u64::from(self.limits.seconds.max(1)));
        let Ok((out, err, status)) = tokio::time::timeout(limit, work).await else {
            // `kill_on_drop` ends the child with the future that owned it.
            tracing::warn!(
                seconds = limit.as_secs(),
                "a decoding child ran out of time"
            );
            return Err(refused());
        };
        let status = status.map_err(|e| AudioError::DecoderUnavailable(e.to_string()))?;
        let answer = out
            .ok()
            .filter(|_| status.success())
            .and_then(|o| parse_answer(&o));
        answer.unwrap_or_else(|| {
            tracing::warn!(
                %status,
                stderr = %String::from_utf8_lossy(&err).trim(),
                "a decoding child failed"
            );
            Err(refused())
        })
    }
}

/// A file the decoder could not survive is a file it could not read.
fn refused() -> AudioError {
    AudioError::Corrupt("the decoder could not read this file".into())
}

/// The child's answer, or `None` for anything that is not one.
fn parse_answer(out: &[u8]) -> Option<Result<Recording, AudioError>> {
    let body = out.strip_prefix(MAGIC)?;
    match body.split_first()? {
        (b'R', rest) => {
            let (ms, wav) = rest.split_first_chunk::<4>()?;
            Some(Ok(Recording {
                wav: wav.to_vec(),
                duration_ms: u32::from_le_bytes(*ms),
            }))
        }
        (b'E', rest) => serde_json::from_slice(rest).ok().map(Err),
        _ => None,
    }
}

/// The child's side: read one file (at most `max_input` bytes) from `input`, convert it, and
/// write the answer to `output`. Call [`limit_this_process`] first.
pub fn serve_child(
    input: &mut impl Read,
    output: &mut impl Write,
    max_seconds: u32,
    max_input: u64,
) -> std::io::Result<()> {
    let mut bytes = Vec::new();
    input.take(max_input).read_to_end(&mut bytes)?;
    let result = normalize_upload(&bytes, max_seconds);
    output.write_all(MAGIC)?;
    match result {
        Ok(r) => {
            output.write_all(b"R")?;
            output.write_all(&r.duration_ms.to_le_bytes())?;
            output.write_all(&r.wav)?;
        }
        Err(e) => {
            output.write_all(b"E")?;
            serde_json::to_writer(&mut *output, &e).map_err(std::io::Error::other)?;
        }
    }
    output.flush()
}

/// Limit this process: `memory_mib` of address space, `seconds` of CPU, no core file.
pub fn limit_this_process(limits: ChildLimits) -> std::io::Result<()> {
    use rustix::process::{Resource, Rlimit, setrlimit};
    let set = |resource, value: u64| {
        setrlimit(
            resource,
            Rlimit {
                current: Some(value),
                maximum: Some(value),
            },
        )
        .map_err(std::io::Error::from)
    };
    set(Resource::Core, 0)?;
    set(Resource::As, u64::from(limits.memory_mib) << 20)?;
    set(Resource::Cpu, u64::from(limits.seconds.max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer_for(bytes: &[u8], max_seconds: u32) -> Vec<u8> {
        let mut out = Vec::new();
        serve_child(&mut &bytes[..], &mut out, max_seconds, 1 << 20).unwrap();
        out
    }

    #[test]
    fn the_childs_answer_carries_the_recording_or_the_refusal() {
        let wav = super::super::encode_wav(&vec![0.25; 8_000], 16_000);
        let here = normalize_upload(&wav, 60).unwrap();
        let there = parse_answer(&answer_for(&wav, 60)).unwrap().unwrap();
        assert_eq!(there, here);

        let refusal = parse_answer(&answer_for(b"not audio at all", 60)).unwrap();
        assert!(matches!(refusal, Err(AudioError::NotAudio)), "{refusal:?}");
        let long = super::super::encode_wav(&vec![0.25; 48_000], 16_000);
        let refusal = parse_answer(&answer_for(&long, 2)).unwrap();
        assert!(
            matches!(refusal, Err(AudioError::TooLong { max_seconds: 2 })),
            "{refusal:?}"
        );
    }

    #[test]
    fn anything_else_on_stdout_is_no_answer() {
        let good = answer_for(&super::super::encode_wav(&[0.1; 800], 8_000), 60);
        for bad in [
            &b""[..],
            b"RIFF....WAVE",
            &good[..MAGIC.len()],
            &good[..MAGIC.len() + 3],
            b"HARK-AUDIO-1\nX",
            b"HARK-AUDIO-1\nE{not json",
        ] {
            assert!(parse_answer(bad).is_none(), "{bad:?}");
        }
    }
}
