// Symphonia
// Copyright (c) 2019-2022 The Project Symphonia Developers.
//
// This Source Code Form is subject to the terms of the Mozilla Public
// License, v. 2.0. If a copy of the MPL was not distributed with this
// file, You can obtain one at https://mozilla.org/MPL/2.0/.

#![warn(rust_2018_idioms)]
#![forbid(unsafe_code)]
// The following lints are allowed in all Symphonia crates. Please see clippy.toml for their
// justification.
#![allow(clippy::comparison_chain)]
#![allow(clippy::excessive_precision)]
#![allow(clippy::identity_op)]
#![allow(clippy::manual_range_contains)]

pub mod flac;
pub mod id3v1;
pub mod id3v2;
pub mod itunes;
pub mod riff;
pub mod vorbis;

/// (Hark's patch.) Reads exactly `len` bytes, growing the buffer only as the bytes actually
/// arrive.
///
/// `len` comes from a length field in the file. Reserving it up front (`vec![0; len]`) let a few
/// bytes claiming 4 GiB abort the process before the short read could fail; reading at most
/// 64 KiB at a time bounds the memory by what the stream really holds.
pub(crate) fn read_bytes_exact<B: symphonia_core::io::ReadBytes>(
    reader: &mut B,
    len: usize,
) -> std::io::Result<Vec<u8>> {
    const CHUNK: usize = 64 * 1024;

    let mut buf = Vec::with_capacity(len.min(CHUNK));

    while buf.len() < len {
        let start = buf.len();
        let end = start + (len - start).min(CHUNK);
        buf.resize(end, 0);
        reader.read_buf_exact(&mut buf[start..end])?;
    }

    Ok(buf)
}
