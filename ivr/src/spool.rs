//! A recording on its way to the blob store, kept on disk as it arrives.
//!
//! A call that held its whole recording in memory cost 16 KiB a second of speech (8 kHz,
//! 16 bit), more than a megabyte for a minute's message; thousands of calls at once made that
//! the IVR's largest cost. Here each 20 ms frame goes through a small buffer into a raw file
//! (`<spool_dir>/<message id>.pcm`, 16-bit little-endian), read back only to review or store
//! it. The file goes when the recording does. Should the disk refuse (full, read-only), the
//! recording carries on in memory — what the caller says is never dropped for it.
//!
//! The recording flushes the buffer at every live fragment ([`Spool::flush`]), so should the
//! process die the file holds everything up to the last fragment, and another IVR finishes
//! the message from it (`orphans.rs`; the file is raw samples, nothing else).

use std::{
    fs::File,
    io::{BufWriter, Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
};

/// Bytes buffered before a write: half a second of audio.
const BUFFER: usize = 8 * 1024;

pub struct Spool {
    path: PathBuf,
    file: Option<BufWriter<File>>,
    /// Samples kept in memory once the disk failed us (after what it had).
    memory: Vec<i16>,
    len: usize,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("path", &self.path)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl Spool {
    /// A new spool file named `name` in `dir` (created if missing); in memory if that fails.
    pub fn create(dir: &Path, name: &str) -> Self {
        let path = dir.join(format!("{name}.pcm"));
        let file = std::fs::create_dir_all(dir)
            .and_then(|()| {
                std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(&path)
            })
            .map(|f| BufWriter::with_capacity(BUFFER, f));
        let file = match file {
            Ok(f) => Some(f),
            Err(e) => {
                tracing::warn!(error = %e, path = %path.display(), "no spool file; recording in memory");
                None
            }
        };
        Self {
            path,
            file,
            memory: Vec::new(),
            len: 0,
        }
    }

    /// Where the samples go (also when recording in memory: the name it would have had).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Hand what is buffered to the file, so it survives this process (not a crash of the
    /// machine: that would take an fsync per fragment, and the disk is not the only copy
    /// worth that — live listeners have the fragments too).
    pub fn flush(&mut self) {
        if let Some(out) = self.file.as_mut()
            && let Err(e) = out.flush()
        {
            tracing::warn!(error = %e, path = %self.path.display(), "spool flush failed; recording in memory");
            self.fall_back_to_memory();
        }
    }

    /// Samples so far.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn push(&mut self, frame: &[i16]) {
        self.len += frame.len();
        if let Some(out) = self.file.as_mut() {
            let mut bytes = Vec::with_capacity(frame.len() * 2);
            for s in frame {
                bytes.extend_from_slice(&s.to_le_bytes());
            }
            if out.write_all(&bytes).is_ok() {
                return;
            }
            tracing::warn!(path = %self.path.display(), "spool write failed; recording in memory");
            self.fall_back_to_memory();
            // The frame that failed is in neither the file nor the buffer taken back.
            let kept = self.memory.len();
            self.memory.truncate(self.len - frame.len());
            if kept < self.len - frame.len() {
                // Whatever the failed write lost is silence now, so times still line up.
                self.memory.resize(self.len - frame.len(), 0);
            }
        }
        self.memory.extend_from_slice(frame);
    }

    /// Everything recorded so far.
    pub fn read(&mut self) -> Vec<i16> {
        let mut out = Vec::with_capacity(self.len);
        if let Some(w) = self.file.as_mut() {
            let read = w.flush().and_then(|()| {
                let f = w.get_mut();
                f.seek(SeekFrom::Start(0))?;
                let mut bytes = Vec::with_capacity(self.len * 2);
                f.read_to_end(&mut bytes)?;
                f.seek(SeekFrom::End(0))?;
                Ok(bytes)
            });
            match read {
                Ok(bytes) => out.extend(
                    bytes
                        .chunks_exact(2)
                        .map(|b| i16::from_le_bytes([b[0], b[1]])),
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "spool read failed; recording in memory");
                    self.fall_back_to_memory();
                    return self.memory.clone();
                }
            }
        }
        out.extend_from_slice(&self.memory);
        out
    }

    /// Move what the file and its buffer hold into memory and stop using the file.
    fn fall_back_to_memory(&mut self) {
        let Some(w) = self.file.take() else {
            return;
        };
        let (mut f, unwritten) = w.into_parts();
        let mut bytes = Vec::new();
        if f.seek(SeekFrom::Start(0)).is_ok() {
            let _ = f.read_to_end(&mut bytes);
        }
        if let Ok(rest) = unwritten {
            bytes.extend_from_slice(&rest);
        }
        let mut memory: Vec<i16> = bytes
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        memory.append(&mut self.memory);
        self.memory = memory;
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if self.file.take().is_some()
            && let Err(e) = std::fs::remove_file(&self.path)
        {
            tracing::debug!(error = %e, "could not remove a spool file");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_every_sample_on_disk_and_removes_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::create(dir.path(), "m1");
        let frames: Vec<Vec<i16>> = (0..300)
            .map(|i| (0..160).map(|j| (i * 160 + j) as i16).collect())
            .collect();
        for f in &frames[..150] {
            s.push(f);
        }
        assert_eq!(s.read(), frames[..150].concat(), "read in the middle");
        for f in &frames[150..] {
            s.push(f);
        }
        assert_eq!(s.len(), 300 * 160);
        assert_eq!(s.read(), frames.concat());
        assert_eq!(s.path(), dir.path().join("m1.pcm"));
        let path = dir.path().join("m1.pcm");
        assert!(path.exists());
        s.push(&[7, 8]);
        s.flush();
        let raw = std::fs::read(&path).unwrap();
        assert_eq!(
            raw.len(),
            (300 * 160 + 2) * 2,
            "flushed samples are in the file"
        );
        assert_eq!(&raw[raw.len() - 4..], &[7, 0, 8, 0]);
        drop(s);
        assert!(!path.exists(), "the spool file goes with the recording");
    }

    #[test]
    fn records_in_memory_when_the_disk_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let blocked = dir.path().join("not-a-dir");
        std::fs::write(&blocked, b"x").unwrap();
        let mut s = Spool::create(&blocked, "m2");
        s.push(&[1, 2, 3]);
        s.push(&[4]);
        assert_eq!(s.read(), vec![1, 2, 3, 4]);
    }
}
