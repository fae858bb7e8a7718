//! Test support shared by this crate's unit tests: a raw zip writer that can produce
//! archives ordinary zip writers refuse to (duplicate names, symlink modes, lying
//! size headers), so the checks against them can be exercised.

/// Unix file-type bits for a symbolic link.
pub(crate) const S_IFLNK: u32 = 0o120000;
/// Unix file-type bits for a regular file.
pub(crate) const S_IFREG: u32 = 0o100000;

/// One stored (uncompressed) entry of a raw zip.
#[derive(Debug, Clone)]
pub(crate) struct RawEntry {
    pub(crate) name: String,
    pub(crate) data: Vec<u8>,
    /// Unix mode (type and permission bits) recorded in the external attributes.
    pub(crate) mode: u32,
    /// Uncompressed size to declare instead of the real one.
    pub(crate) declared_size: Option<u64>,
}

impl RawEntry {
    /// A regular file entry (or a directory entry when `name` ends in `/`).
    pub(crate) fn file(name: &str, data: &[u8]) -> Self {
        Self {
            name: name.into(),
            data: data.to_vec(),
            mode: if name.ends_with('/') {
                0o040755
            } else {
                S_IFREG | 0o644
            },
            declared_size: None,
        }
    }
}

/// The CRC-32 (IEEE) that zip headers carry, bit by bit: slow, but test data is tiny.
pub(crate) fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Builds a zip archive of stored entries, byte by byte (APPNOTE 4.3.7, 4.3.12, 4.3.16).
pub(crate) fn raw_zip(entries: &[RawEntry]) -> Vec<u8> {
    fn u16le(out: &mut Vec<u8>, v: u16) {
        out.extend_from_slice(&v.to_le_bytes());
    }
    fn u32le(out: &mut Vec<u8>, v: u32) {
        out.extend_from_slice(&v.to_le_bytes());
    }
    let mut out = Vec::new();
    let mut central = Vec::new();
    for e in entries {
        let offset = u32::try_from(out.len()).expect("test zip under 4 GiB");
        let crc = crc32(&e.data);
        let csize = u32::try_from(e.data.len()).expect("test entry under 4 GiB");
        let usize_ = u32::try_from(e.declared_size.unwrap_or(e.data.len() as u64))
            .expect("declared size under 4 GiB");
        let name = e.name.as_bytes();
        let name_len = u16::try_from(name.len()).expect("short test name");
        // Local file header.
        u32le(&mut out, 0x0403_4b50);
        u16le(&mut out, 20); // version needed
        u16le(&mut out, 0x0800); // flags: UTF-8 names
        u16le(&mut out, 0); // method: stored
        u16le(&mut out, 0); // time
        u16le(&mut out, 0x21); // date: 1980-01-01
        u32le(&mut out, crc);
        u32le(&mut out, csize);
        u32le(&mut out, usize_);
        u16le(&mut out, name_len);
        u16le(&mut out, 0); // extra length
        out.extend_from_slice(name);
        out.extend_from_slice(&e.data);
        // Central directory header.
        u32le(&mut central, 0x0201_4b50);
        u16le(&mut central, (3 << 8) | 20); // made by: Unix, so the mode is honoured
        u16le(&mut central, 20);
        u16le(&mut central, 0x0800);
        u16le(&mut central, 0);
        u16le(&mut central, 0);
        u16le(&mut central, 0x21);
        u32le(&mut central, crc);
        u32le(&mut central, csize);
        u32le(&mut central, usize_);
        u16le(&mut central, name_len);
        u16le(&mut central, 0); // extra
        u16le(&mut central, 0); // comment
        u16le(&mut central, 0); // disk
        u16le(&mut central, 0); // internal attributes
        u32le(&mut central, e.mode << 16);
        u32le(&mut central, offset);
        central.extend_from_slice(name);
    }
    let cd_offset = u32::try_from(out.len()).expect("test zip under 4 GiB");
    let cd_size = u32::try_from(central.len()).expect("test zip under 4 GiB");
    out.extend_from_slice(&central);
    let n = u16::try_from(entries.len()).expect("few test entries");
    u32le(&mut out, 0x0605_4b50);
    u16le(&mut out, 0);
    u16le(&mut out, 0);
    u16le(&mut out, n);
    u16le(&mut out, n);
    u32le(&mut out, cd_size);
    u32le(&mut out, cd_offset);
    u16le(&mut out, 0);
    out
}

#[test]
fn crc32_known_answer() {
    // The standard check value for CRC-32/ISO-HDLC.
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
}
