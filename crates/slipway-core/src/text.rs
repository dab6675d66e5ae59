//! Deciding whether a file's bytes are UTF-8 text, and saying where and why when they are not.

use crate::diagnostic::line_col;

/// Where a file stops being UTF-8 text, and what it looks like instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotText {
    /// 1-based line and character column of the first byte that is not text.
    pub line: usize,
    /// Its character column, from 1.
    pub column: usize,
    /// Byte offset of that byte.
    pub offset: usize,
    /// What the file is, and what to do: "the file is UTF-16 ...: save it as UTF-8".
    pub message: String,
}

impl std::fmt::Display for NotText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}, column {} (byte {}): {}",
            self.line, self.column, self.offset, self.message
        )
    }
}

/// The text of a file that must be UTF-8 (a UTF-8 byte-order mark is dropped). UTF-16, with or
/// without a byte-order mark, binary files (NUL bytes) and other encodings are refused with the
/// position of the first byte that is not UTF-8 text.
pub fn decode_utf8(bytes: &[u8]) -> Result<String, NotText> {
    let at_start = |message: String| NotText {
        line: 1,
        column: 1,
        offset: 0,
        message,
    };
    if bytes.starts_with(&[0xff, 0xfe]) {
        return Err(at_start(
            "the file is UTF-16 (little-endian, with a byte-order mark): save it as UTF-8".into(),
        ));
    }
    if bytes.starts_with(&[0xfe, 0xff]) {
        return Err(at_start(
            "the file is UTF-16 (big-endian, with a byte-order mark): save it as UTF-8".into(),
        ));
    }
    let bytes = bytes.strip_prefix(&[0xef, 0xbb, 0xbf]).unwrap_or(bytes);
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => {
            let offset = error.valid_up_to();
            let valid = std::str::from_utf8(&bytes[..offset]).expect("valid up to here");
            let (line, column) = line_col(valid, offset);
            let byte = bytes[offset];
            let guess = if utf16_order(bytes).is_some() {
                "the file looks like UTF-16 without a byte-order mark"
            } else {
                "the file is in another encoding (Latin-1 or Windows-1252, perhaps)"
            };
            return Err(NotText {
                line,
                column,
                offset,
                message: format!(
                    "byte 0x{byte:02x} is not UTF-8: {guess}; save it as UTF-8 (e.g. `iconv -f LATIN1 -t UTF-8`)"
                ),
            });
        }
    };
    if let Some(offset) = text.find('\0') {
        let (line, column) = line_col(text, offset);
        let message = match utf16_order(bytes) {
            Some(order) => format!(
                "the file is UTF-16 ({order}, without a byte-order mark): save it as UTF-8 (e.g. `iconv -f UTF-16 -t UTF-8`)"
            ),
            None => "a NUL byte: this is a binary file, not text".to_owned(),
        };
        return Err(NotText {
            line,
            column,
            offset,
            message,
        });
    }
    Ok(text.to_owned())
}

/// UTF-16 text of mostly ASCII characters has a NUL in every other byte.
fn utf16_order(bytes: &[u8]) -> Option<&'static str> {
    let pairs = bytes.len() / 2;
    if pairs == 0 {
        return None;
    }
    let zeros_at = |parity: usize| {
        bytes
            .iter()
            .skip(parity)
            .step_by(2)
            .filter(|b| **b == 0)
            .count()
    };
    if zeros_at(1) * 2 > pairs {
        Some("little-endian")
    } else if zeros_at(0) * 2 > pairs {
        Some("big-endian")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16le(text: &str) -> Vec<u8> {
        text.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    #[test]
    fn utf8_passes_and_its_byte_order_mark_is_dropped() {
        assert_eq!(decode_utf8("a = 1\n".as_bytes()).unwrap(), "a = 1\n");
        assert_eq!(decode_utf8(b"\xef\xbb\xbfa = 1\n").unwrap(), "a = 1\n");
    }

    #[test]
    fn utf16_with_or_without_a_byte_order_mark_is_named() {
        let mut with_bom = vec![0xff, 0xfe];
        with_bom.extend(utf16le("[project]\n"));
        let error = decode_utf8(&with_bom).unwrap_err();
        assert_eq!((error.line, error.column, error.offset), (1, 1, 0));
        assert!(
            error
                .message
                .contains("UTF-16 (little-endian, with a byte-order mark)")
        );

        let error = decode_utf8(&utf16le("[project]\n")).unwrap_err();
        assert_eq!((error.line, error.column, error.offset), (1, 2, 1));
        assert!(
            error.message.contains("UTF-16 (little-endian, without"),
            "{error}"
        );
        assert!(error.message.contains("save it as UTF-8"));
        let be: Vec<u8> = "ab".encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert!(decode_utf8(&be).unwrap_err().message.contains("big-endian"));
    }

    #[test]
    fn latin1_is_located_at_its_first_byte() {
        let error = decode_utf8(b"[project]\nname = \"caf\xe9\"\n").unwrap_err();
        assert_eq!((error.line, error.column, error.offset), (2, 12, 21));
        assert!(
            error.message.starts_with("byte 0xe9 is not UTF-8"),
            "{error}"
        );
        assert!(error.message.contains("save it as UTF-8"));
    }
}
