//! A recording on its way to the blob store, kept on disk as it arrives.
//!
//! A call that held its whole recording in memory cost 16 KiB a second of speech (8 kHz,
//! 16 bit), more than a megabyte for a minute's message; thousands of calls at once made that
//! the IVR's largest cost. Here the audio goes, half a second at a time, into a file
//! (`<spool_dir>/<message id>.pcm`), read back only to review or store it. The file goes when
//! the recording does. Should the disk refuse (full, read-only), the recording carries on in
//! memory — what the caller says is never dropped for it.
//!
//! The file is encrypted like blobs (audio is never at rest in the clear): `HARKSPOOL1`, then
//! records of a 4-byte little-endian length and [`BlobStore::seal`]ed 16-bit little-endian
//! samples, each bound to the message and its place in the file. The recording flushes a
//! record at every live fragment ([`Spool::flush`]), so should the process die the file holds
//! everything up to the last fragment, and another IVR (with the same `blobs.key`) finishes
//! the message from it ([`read_file`], used by `orphans.rs`).

use hark_core::blob::BlobStore;

use std::{
    fs::File,
    io::{Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
};

/// Samples buffered before a record is written: half a second of audio.
const BUFFER: usize = 4 * 1024;
const MAGIC: &[u8] = b"HARKSPOOL1";
/// Largest record [`read_file`] accepts (a record is at most [`BUFFER`] samples, or a
/// fragment's worth more).
const MAX_RECORD: usize = 1 << 20;

/// What a record is bound to: the message and the record's place.
fn aad(name: &str, index: u64) -> Vec<u8> {
    format!("hark-spool|{name}|{index}").into_bytes()
}

fn to_bytes(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

fn to_samples(bytes: &[u8]) -> impl Iterator<Item = i16> + '_ {
    bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
}

/// The samples in the records of `bytes` (a spool file's contents after the magic). Stops at
/// a record cut short by a crash; an error for one that does not open (another key, a
/// changed file).
fn open_records(blobs: &BlobStore, name: &str, mut bytes: &[u8]) -> std::io::Result<Vec<i16>> {
    let mut out = Vec::new();
    let mut index = 0u64;
    while bytes.len() >= 4 {
        let len = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        if len > MAX_RECORD || bytes.len() < 4 + len {
            break;
        }
        let plain = blobs
            .open(&aad(name, index), &bytes[4..4 + len])
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
        out.extend(to_samples(&plain));
        bytes = &bytes[4 + len..];
        index += 1;
    }
    Ok(out)
}

/// The samples in the spool file at `path` for message `name`; `None` if it is not there.
pub fn read_file(blobs: &BlobStore, path: &Path, name: &str) -> std::io::Result<Option<Vec<i16>>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some(records) = bytes.strip_prefix(MAGIC) else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not a Hark spool file",
        ));
    };
    open_records(blobs, name, records).map(Some)
}

pub struct Spool {
    path: PathBuf,
    name: String,
    blobs: BlobStore,
    file: Option<File>,
    /// Records written to the file.
    records: u64,
    /// Samples not yet in a record.
    pending: Vec<i16>,
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
    /// A new spool file for message `name` in `dir` (created if missing), sealed with
    /// `blobs`' key; in memory if that fails.
    pub fn create(dir: &Path, name: &str, blobs: BlobStore) -> Self {
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
            .and_then(|mut f| f.write_all(MAGIC).map(|()| f));
        let file = match file {
            Ok(f) => Some(f),
            Err(e) => {
                tracing::warn!(error = %e, path = %path.display(), "no spool file; recording in memory");
                None
            }
        };
        Self {
            path,
            name: name.to_owned(),
            blobs,
            file,
            records: 0,
            pending: Vec::new(),
            memory: Vec::new(),
            len: 0,
        }
    }

    /// Where the samples go (also when recording in memory: the name it would have had).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Seal what is pending into a record in the file, so it survives this process (not a
    /// crash of the machine: that would take an fsync per fragment, and the disk is not the
    /// only copy worth that — live listeners have the fragments too).
    pub fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let Some(out) = self.file.as_mut() else {
            return;
        };
        let sealed = self
            .blobs
            .seal(&aad(&self.name, self.records), &to_bytes(&self.pending));
        let mut record = Vec::with_capacity(4 + sealed.len());
        record.extend_from_slice(&(sealed.len() as u32).to_le_bytes());
        record.extend_from_slice(&sealed);
        match out.write_all(&record) {
            Ok(()) => {
                self.records += 1;
                self.pending.clear();
            }
            Err(e) => {
                tracing::warn!(error = %e, path = %self.path.display(), "spool write failed; recording in memory");
                self.fall_back_to_memory();
            }
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
        if self.file.is_none() {
            self.memory.extend_from_slice(frame);
            return;
        }
        self.pending.extend_from_slice(frame);
        if self.pending.len() >= BUFFER {
            self.flush();
        }
    }

    /// The records in the file, opened.
    fn read_records(&mut self) -> std::io::Result<Vec<i16>> {
        let Some(f) = self.file.as_mut() else {
            return Ok(Vec::new());
        };
        f.seek(SeekFrom::Start(0))?;
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes)?;
        f.seek(SeekFrom::End(0))?;
        let records = bytes.strip_prefix(MAGIC).unwrap_or_default();
        open_records(&self.blobs, &self.name, records)
    }

    /// Everything recorded so far.
    pub fn read(&mut self) -> Vec<i16> {
        if self.file.is_none() {
            return self.memory.clone();
        }
        match self.read_records() {
            Ok(mut out) => {
                out.extend_from_slice(&self.pending);
                out
            }
            Err(e) => {
                tracing::warn!(error = %e, "spool read failed; recording in memory");
                self.fall_back_to_memory();
                self.memory.clone()
            }
        }
    }

    /// Move what the file and the pending samples hold into memory and stop using the file.
    fn fall_back_to_memory(&mut self) {
        if self.file.is_none() {
            return;
        }
        let mut memory = self.read_records().unwrap_or_default();
        memory.append(&mut self.pending);
        // Whatever a failed write lost is silence now, so times still line up.
        memory.resize(self.len - self.memory.len(), 0);
        memory.append(&mut self.memory);
        self.memory = memory;
        self.file = None;
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

    fn blobs(dir: &Path, key: &str) -> BlobStore {
        BlobStore::new(dir.join("blobs"), &key.repeat(32)).unwrap()
    }

    #[test]
    fn keeps_every_sample_on_disk_encrypted_and_removes_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::create(dir.path(), "m1", blobs(dir.path(), "ab"));
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
        let path = dir.path().join("m1.pcm");
        assert_eq!(s.path(), path);
        s.push(&[7, 8]);
        s.flush();
        // What another IVR reads from the file after a crash: every sample, flushed.
        let mut all = frames.concat();
        all.extend([7, 8]);
        let back = read_file(&blobs(dir.path(), "ab"), &path, "m1").unwrap();
        assert_eq!(back, Some(all.clone()));
        // At rest it is ciphertext: no run of the recorded samples is in the file.
        let raw = std::fs::read(&path).unwrap();
        let plain = to_bytes(&all[1000..1016]);
        assert!(!raw.windows(plain.len()).any(|w| w == plain));
        // Another key, another message's name, a changed byte: refused, not misread.
        assert!(read_file(&blobs(dir.path(), "cd"), &path, "m1").is_err());
        assert!(read_file(&blobs(dir.path(), "ab"), &path, "m2").is_err());
        let mut changed = raw.clone();
        changed[MAGIC.len() + 40] ^= 1;
        std::fs::write(dir.path().join("x.pcm"), &changed).unwrap();
        assert!(read_file(&blobs(dir.path(), "ab"), &dir.path().join("x.pcm"), "m1").is_err());
        // A record cut short by a crash is left out; the ones before it count.
        let cut = &raw[..raw.len() - 3];
        std::fs::write(dir.path().join("cut.pcm"), cut).unwrap();
        let got = read_file(&blobs(dir.path(), "ab"), &dir.path().join("cut.pcm"), "m1")
            .unwrap()
            .unwrap();
        assert!(got.len() < all.len() && all.starts_with(&got));
        assert_eq!(
            read_file(&blobs(dir.path(), "ab"), &dir.path().join("none.pcm"), "m1").unwrap(),
            None
        );
        drop(s);
        assert!(!path.exists(), "the spool file goes with the recording");
    }

    #[test]
    fn records_in_memory_when_the_disk_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let blocked = dir.path().join("not-a-dir");
        std::fs::write(&blocked, b"x").unwrap();
        let mut s = Spool::create(&blocked, "m2", blobs(dir.path(), "ab"));
        s.push(&[1, 2, 3]);
        s.push(&[4]);
        assert_eq!(s.read(), vec![1, 2, 3, 4]);
    }
}
