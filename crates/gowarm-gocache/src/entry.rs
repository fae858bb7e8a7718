//! The action-entry (`-a` file) format.
//!
//! Go writes `"v1 %x %x %20d %20d\n"` (action ID, output ID, output size, unix nanoseconds)
//! in `putIndexEntry` and reads it back strictly in `get`
//! (cmd/go/internal/cache/cache.go). Anything Go's reader would reject is a miss for Go, so
//! the parser here rejects exactly the same inputs.

use crate::id::{Id, IdError, HEX_SIZE};

/// Length in bytes of an action entry file: `2+1+64+1+64+1+20+1+20+1` (`entrySize` in cache.go).
pub const ENTRY_LEN: usize = 2 + 1 + HEX_SIZE + 1 + HEX_SIZE + 1 + 20 + 1 + 20 + 1;

// Field offsets inside an entry, in the order cache.go `get` slices them.
const ACTION_AT: usize = 3;
const OUTPUT_AT: usize = ACTION_AT + HEX_SIZE + 1;
const SIZE_AT: usize = OUTPUT_AT + HEX_SIZE + 1;
const TIME_AT: usize = SIZE_AT + 20 + 1;
const NUM_WIDTH: usize = 20;

/// What an action entry records about one build step: which output it produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ActionEntry {
    /// SHA-256 of the output, naming its `-d` file.
    pub output_id: Id,
    /// Size of the output in bytes; Go checks the `-d` file against it before use.
    pub size: u64,
    /// When Go added the entry, in unix nanoseconds (`go test` compares it with testexpire.txt).
    pub time_nanos: i64,
}

/// Why bytes are not a valid action entry (each of these is a cache miss for Go).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    /// The data is not exactly [`ENTRY_LEN`] bytes long.
    #[error("action entry is {len} bytes, want {ENTRY_LEN}")]
    Length {
        /// Length of the data that was read (at most `ENTRY_LEN + 1`).
        len: usize,
    },
    /// The `v1 ` prefix, a field separator or the final newline is wrong.
    #[error("action entry has an invalid header or field separator")]
    Header,
    /// The action ID or output ID field is not hex.
    #[error("action entry {field} is not hex: {source}")]
    BadId {
        /// Which field: "action ID" or "output ID".
        field: &'static str,
        /// What was wrong with it.
        source: IdError,
    },
    /// The size or time field is not a decimal integer that fits in an i64.
    #[error("action entry {field} is not a decimal integer")]
    Number {
        /// Which field: "size" or "time".
        field: &'static str,
    },
    /// The size or time field is negative.
    #[error("action entry {field} is negative")]
    Negative {
        /// Which field: "size" or "time".
        field: &'static str,
    },
    /// The entry names a different action ID than the file it was read from.
    #[error("action entry is for {found}, not {expected}")]
    MismatchedId {
        /// The ID the file name (or caller) asked for.
        expected: Id,
        /// The ID written inside the entry.
        found: Id,
    },
    /// The size does not fit in Go's int64, so Go could not read the entry back.
    #[error("output size {size} does not fit in an int64")]
    SizeTooLarge {
        /// The size that was asked for.
        size: u64,
    },
}

/// Parses an action entry, returning the action ID written inside it and the entry.
pub fn parse_action_record(data: &[u8]) -> Result<(Id, ActionEntry), EntryError> {
    if data.len() != ENTRY_LEN {
        return Err(EntryError::Length { len: data.len() });
    }
    // Same checks, in the same order, as cache.go `get`.
    if &data[..3] != b"v1 "
        || data[OUTPUT_AT - 1] != b' '
        || data[SIZE_AT - 1] != b' '
        || data[TIME_AT - 1] != b' '
        || data[ENTRY_LEN - 1] != b'\n'
    {
        return Err(EntryError::Header);
    }
    let action_id =
        Id::from_hex_bytes(&data[ACTION_AT..ACTION_AT + HEX_SIZE]).map_err(|source| {
            EntryError::BadId {
                field: "action ID",
                source,
            }
        })?;
    let output_id =
        Id::from_hex_bytes(&data[OUTPUT_AT..OUTPUT_AT + HEX_SIZE]).map_err(|source| {
            EntryError::BadId {
                field: "output ID",
                source,
            }
        })?;
    let size = parse_padded_int(&data[SIZE_AT..SIZE_AT + NUM_WIDTH], "size")?;
    let time_nanos = parse_padded_int(&data[TIME_AT..TIME_AT + NUM_WIDTH], "time")?;
    Ok((
        action_id,
        ActionEntry {
            output_id,
            // Non-negative i64 always fits in u64.
            size: size.unsigned_abs(),
            time_nanos,
        },
    ))
}

/// Parses an action entry strictly, as Go's reader does (length, `v1 `, hex, spaces, `\n`).
pub fn parse_action_entry(data: &[u8]) -> Result<ActionEntry, EntryError> {
    parse_action_record(data).map(|(_, entry)| entry)
}

/// Parses an action entry and checks that it is the entry for `action_id`, as Go does
/// (a copied or renamed `-a` file naming another action is a miss: "mismatched ID").
pub fn parse_action_entry_for(action_id: &Id, data: &[u8]) -> Result<ActionEntry, EntryError> {
    let (found, entry) = parse_action_record(data)?;
    if found != *action_id {
        return Err(EntryError::MismatchedId {
            expected: *action_id,
            found,
        });
    }
    Ok(entry)
}

/// Formats the exact bytes Go writes for an action entry (`"v1 %x %x %20d %20d\n"`).
///
/// Fails for a size above `i64::MAX` or a negative time, which Go would reject on reading.
pub fn format_action_entry(action_id: &Id, e: &ActionEntry) -> Result<[u8; ENTRY_LEN], EntryError> {
    if i64::try_from(e.size).is_err() {
        return Err(EntryError::SizeTooLarge { size: e.size });
    }
    if e.time_nanos < 0 {
        return Err(EntryError::Negative { field: "time" });
    }
    let text = format!(
        "v1 {} {} {:>20} {:>20}\n",
        action_id, e.output_id, e.size, e.time_nanos
    );
    // Both numbers have at most 19 digits after the checks above, so the width is exact.
    text.as_bytes()
        .try_into()
        .map_err(|_| EntryError::Length { len: text.len() })
}

/// Parses a space-padded decimal field the way cache.go does: skip leading spaces, then
/// `strconv.ParseInt(s, 10, 64)` (optional sign, at least one digit, no overflow), then
/// reject negative values.
fn parse_padded_int(field: &[u8], name: &'static str) -> Result<i64, EntryError> {
    let start = field.iter().take_while(|&&b| b == b' ').count();
    let s = &field[start..];
    let (negative, digits) = match s.first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(EntryError::Number { field: name });
    }
    let mut magnitude: u64 = 0;
    for &d in digits {
        magnitude = magnitude
            .checked_mul(10)
            .and_then(|m| m.checked_add(u64::from(d - b'0')))
            .ok_or(EntryError::Number { field: name })?;
    }
    if negative {
        // ParseInt accepts down to i64::MIN; any non-zero negative value is then rejected.
        if magnitude > i64::MIN.unsigned_abs() {
            return Err(EntryError::Number { field: name });
        }
        if magnitude != 0 {
            return Err(EntryError::Negative { field: name });
        }
        return Ok(0);
    }
    i64::try_from(magnitude).map_err(|_| EntryError::Number { field: name })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(byte: u8) -> Id {
        Id([byte; 32])
    }

    fn sample() -> (Id, ActionEntry) {
        (
            id(0xab),
            ActionEntry {
                output_id: id(0x01),
                size: 703382,
                time_nanos: 1_796_298_371_740_995_079,
            },
        )
    }

    /// A real entry from a go1.25.5 GOCACHE (00/002b43…-a), byte for byte.
    const REAL: &[u8] = b"v1 002b434cad46854453938d80b4e088cc87d3e6c586a8226f32b7d77f01ec6af3 \
b341787c704c9821738540381b7428efdc0b220e351bf768d6d880a799eff949               703382  \
1796298371740995079\n";

    #[test]
    fn real_entry_parses() {
        assert_eq!(REAL.len(), ENTRY_LEN);
        let (action, e) = parse_action_record(REAL).unwrap();
        assert_eq!(
            action.to_hex(),
            "002b434cad46854453938d80b4e088cc87d3e6c586a8226f32b7d77f01ec6af3"
        );
        assert_eq!(
            e.output_id.to_hex(),
            "b341787c704c9821738540381b7428efdc0b220e351bf768d6d880a799eff949"
        );
        assert_eq!(e.size, 703382);
        assert_eq!(e.time_nanos, 1_796_298_371_740_995_079);
        assert_eq!(&format_action_entry(&action, &e).unwrap()[..], REAL);
    }

    #[test]
    fn round_trip() {
        let (action, e) = sample();
        let bytes = format_action_entry(&action, &e).unwrap();
        assert_eq!(bytes.len(), ENTRY_LEN);
        assert_eq!(parse_action_record(&bytes), Ok((action, e)));
        assert_eq!(parse_action_entry_for(&action, &bytes), Ok(e));
        assert_eq!(
            parse_action_entry_for(&id(0xcd), &bytes),
            Err(EntryError::MismatchedId {
                expected: id(0xcd),
                found: action
            })
        );
    }

    #[test]
    fn extremes_format_and_parse() {
        let e = ActionEntry {
            output_id: id(2),
            size: i64::MAX as u64,
            time_nanos: 0,
        };
        let bytes = format_action_entry(&id(3), &e).unwrap();
        assert_eq!(parse_action_entry(&bytes), Ok(e));

        let too_big = ActionEntry {
            size: i64::MAX as u64 + 1,
            ..e
        };
        assert!(matches!(
            format_action_entry(&id(3), &too_big),
            Err(EntryError::SizeTooLarge { .. })
        ));
        let negative = ActionEntry {
            time_nanos: -1,
            ..e
        };
        assert_eq!(
            format_action_entry(&id(3), &negative),
            Err(EntryError::Negative { field: "time" })
        );
    }

    fn with(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut v = REAL.to_vec();
        f(&mut v);
        v
    }

    #[test]
    fn rejects_what_go_rejects() {
        let cases: Vec<(&str, Vec<u8>, EntryError)> = vec![
            ("empty", vec![], EntryError::Length { len: 0 }),
            (
                "short",
                REAL[..ENTRY_LEN - 1].to_vec(),
                EntryError::Length { len: ENTRY_LEN - 1 },
            ),
            (
                "long",
                with(|v| v.push(b'\n')),
                EntryError::Length { len: ENTRY_LEN + 1 },
            ),
            ("v2", with(|v| v[1] = b'2'), EntryError::Header),
            (
                "no newline",
                with(|v| v[ENTRY_LEN - 1] = b' '),
                EntryError::Header,
            ),
            (
                "separator",
                with(|v| v[OUTPUT_AT - 1] = b'x'),
                EntryError::Header,
            ),
            (
                "time separator",
                with(|v| v[TIME_AT - 1] = b'0'),
                EntryError::Header,
            ),
            (
                "action hex",
                with(|v| v[ACTION_AT] = b'z'),
                EntryError::BadId {
                    field: "action ID",
                    source: IdError::NotHex,
                },
            ),
            (
                "output hex",
                with(|v| v[OUTPUT_AT + 5] = b' '),
                EntryError::BadId {
                    field: "output ID",
                    source: IdError::NotHex,
                },
            ),
            (
                "size blank",
                with(|v| v[SIZE_AT..SIZE_AT + NUM_WIDTH].fill(b' ')),
                EntryError::Number { field: "size" },
            ),
            (
                "size trailing space",
                with(|v| v[SIZE_AT..SIZE_AT + NUM_WIDTH].copy_from_slice(b"                123 ")),
                EntryError::Number { field: "size" },
            ),
            (
                "size negative",
                with(|v| v[SIZE_AT..SIZE_AT + NUM_WIDTH].copy_from_slice(b"                  -5")),
                EntryError::Negative { field: "size" },
            ),
            (
                "time overflow",
                with(|v| v[TIME_AT..TIME_AT + NUM_WIDTH].copy_from_slice(b"99999999999999999999")),
                EntryError::Number { field: "time" },
            ),
            (
                "time hex",
                with(|v| v[TIME_AT..TIME_AT + NUM_WIDTH].copy_from_slice(b"                0x10")),
                EntryError::Number { field: "time" },
            ),
        ];
        for (name, data, want) in cases {
            assert_eq!(parse_action_entry(&data), Err(want), "case {name}");
        }
    }

    #[test]
    fn accepts_what_go_accepts() {
        // strconv.ParseInt takes a leading '+' and "-0"; hex.Decode takes upper case.
        let plus =
            with(|v| v[SIZE_AT..SIZE_AT + NUM_WIDTH].copy_from_slice(b"             +703382"));
        assert_eq!(parse_action_entry(&plus).unwrap().size, 703382);
        let minus_zero =
            with(|v| v[TIME_AT..TIME_AT + NUM_WIDTH].copy_from_slice(b"                  -0"));
        assert_eq!(parse_action_entry(&minus_zero).unwrap().time_nanos, 0);
        let zero_padded =
            with(|v| v[SIZE_AT..SIZE_AT + NUM_WIDTH].copy_from_slice(b"00000000000000703382"));
        assert_eq!(parse_action_entry(&zero_padded).unwrap().size, 703382);
        let upper = with(|v| v[OUTPUT_AT..OUTPUT_AT + HEX_SIZE].make_ascii_uppercase());
        assert_eq!(
            parse_action_entry(&upper).unwrap().output_id,
            parse_action_entry(REAL).unwrap().output_id
        );
    }
}
