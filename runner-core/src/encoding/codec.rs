//! Primitive encoding of the recording format: LEB128 varints, zigzag,
//! length-prefixed bytes, the record frame, and its CRC-32. The reading side
//! never trusts a length: every one is checked against what is left, so a
//! hostile file cannot make it allocate more than its own size.

use std::time::Duration;

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320): detects every
/// error burst up to 32 bits, so a flipped byte never goes unnoticed.
/// Computed eight bytes at a time ("slicing-by-8": eight tables of 256
/// entries, 8 KiB), several times faster than a byte at a time.
const CRC_TABLES: [[u32; 256]; 8] = crc_tables();

const fn crc_tables() -> [[u32; 256]; 8] {
    let mut tables = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        tables[0][i] = c;
        i += 1;
    }
    let mut t = 1;
    while t < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = tables[t - 1][i];
            tables[t][i] = (prev >> 8) ^ tables[0][(prev & 0xff) as usize];
            i += 1;
        }
        t += 1;
    }
    tables
}

pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    let t = &CRC_TABLES;
    let mut crc = !0u32;
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        let lo = crc ^ u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        crc = t[7][(lo & 0xff) as usize]
            ^ t[6][((lo >> 8) & 0xff) as usize]
            ^ t[5][((lo >> 16) & 0xff) as usize]
            ^ t[4][(lo >> 24) as usize]
            ^ t[3][usize::from(w[4])]
            ^ t[2][usize::from(w[5])]
            ^ t[1][usize::from(w[6])]
            ^ t[0][usize::from(w[7])];
    }
    for &b in words.remainder() {
        crc = t[0][((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

/// The byte after a record's length: any single changed length byte changes it.
pub(crate) fn length_check(len: [u8; 4]) -> u8 {
    len.iter().fold(0x5a, |acc, b| acc ^ b)
}

/// Bytes of a record frame around its body: length (4), check (1), CRC (4).
pub(crate) const FRAME_OVERHEAD: usize = 9;

/// Appends primitives to a buffer.
pub(crate) trait Put {
    fn put_u8(&mut self, v: u8);
    fn put_varint(&mut self, v: u64);
    fn put_zigzag(&mut self, v: i64) {
        self.put_varint(((v << 1) ^ (v >> 63)) as u64);
    }
    fn put_bool(&mut self, v: bool) {
        self.put_u8(u8::from(v));
    }
    fn put_bytes(&mut self, v: &[u8]);
    fn put_str(&mut self, v: &str) {
        self.put_bytes(v.as_bytes());
    }
    fn put_duration(&mut self, v: Duration) {
        self.put_varint(u64::try_from(v.as_nanos()).unwrap_or(u64::MAX));
    }
    fn put_opt_u16(&mut self, v: Option<u16>) {
        match v {
            None => self.put_u8(0),
            Some(v) => {
                self.put_u8(1);
                self.put_varint(u64::from(v));
            }
        }
    }
    fn put_opt_str(&mut self, v: Option<&str>) {
        match v {
            None => self.put_u8(0),
            Some(v) => {
                self.put_u8(1);
                self.put_str(v);
            }
        }
    }
}

impl Put for Vec<u8> {
    fn put_u8(&mut self, v: u8) {
        self.push(v);
    }
    fn put_varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.push(v as u8);
    }
    fn put_bytes(&mut self, v: &[u8]) {
        self.put_varint(v.len() as u64);
        self.extend_from_slice(v);
    }
}

/// Why a record's body did not decode (it passed its CRC, so the writer
/// and the reader disagree: a newer format, or a bug).
pub(crate) type Malformed = &'static str;

/// Reads primitives from one record's body.
#[derive(Debug)]
pub(crate) struct Cursor<'a> {
    data: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Cursor { data }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.data.len()
    }

    pub(crate) fn u8(&mut self) -> Result<u8, Malformed> {
        let (&first, rest) = self.data.split_first().ok_or("unexpected end of record")?;
        self.data = rest;
        Ok(first)
    }

    pub(crate) fn bool(&mut self) -> Result<bool, Malformed> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err("invalid boolean"),
        }
    }

    pub(crate) fn varint(&mut self) -> Result<u64, Malformed> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return Err("varint overflows 64 bits");
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("varint longer than 10 bytes")
    }

    pub(crate) fn zigzag(&mut self) -> Result<i64, Malformed> {
        let v = self.varint()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    pub(crate) fn u16(&mut self) -> Result<u16, Malformed> {
        u16::try_from(self.varint()?).map_err(|_| "value does not fit 16 bits")
    }

    pub(crate) fn u32(&mut self) -> Result<u32, Malformed> {
        u32::try_from(self.varint()?).map_err(|_| "value does not fit 32 bits")
    }

    pub(crate) fn usize(&mut self) -> Result<usize, Malformed> {
        usize::try_from(self.varint()?).map_err(|_| "value does not fit usize")
    }

    pub(crate) fn fixed<const N: usize>(&mut self) -> Result<[u8; N], Malformed> {
        let (head, rest) = self
            .data
            .split_at_checked(N)
            .ok_or("unexpected end of record")?;
        self.data = rest;
        head.try_into().map_err(|_| "unexpected end of record")
    }

    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], Malformed> {
        let len = self.usize()?;
        let (head, rest) = self
            .data
            .split_at_checked(len)
            .ok_or("length past the record's end")?;
        self.data = rest;
        Ok(head)
    }

    pub(crate) fn string(&mut self) -> Result<String, Malformed> {
        let bytes = self.bytes()?;
        String::from_utf8(bytes.to_vec()).map_err(|_| "string is not UTF-8")
    }

    pub(crate) fn duration(&mut self) -> Result<Duration, Malformed> {
        Ok(Duration::from_nanos(self.varint()?))
    }

    pub(crate) fn opt_u16(&mut self) -> Result<Option<u16>, Malformed> {
        Ok(if self.bool()? {
            Some(self.u16()?)
        } else {
            None
        })
    }

    pub(crate) fn opt_string(&mut self) -> Result<Option<String>, Malformed> {
        Ok(if self.bool()? {
            Some(self.string()?)
        } else {
            None
        })
    }

    /// A count of items that each take at least one byte: never more than
    /// what is left, so a hostile count cannot reserve a huge vector.
    pub(crate) fn count(&mut self) -> Result<usize, Malformed> {
        let n = self.usize()?;
        if n > self.data.len() {
            return Err("count past the record's end");
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        // Past eight bytes, the sliced path: the same as a byte at a time.
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let mut slow = !0u32;
        for &b in &data {
            slow ^= u32::from(b);
            for _ in 0..8 {
                slow = if slow & 1 != 0 {
                    0xEDB8_8320 ^ (slow >> 1)
                } else {
                    slow >> 1
                };
            }
        }
        assert_eq!(crc32(&data), !slow);
    }

    #[test]
    fn varints_and_zigzag_round_trip() {
        let mut buf = Vec::new();
        for v in [0, 1, 127, 128, 300, u64::MAX] {
            buf.put_varint(v);
        }
        for v in [0, -1, 1, i64::MIN, i64::MAX] {
            buf.put_zigzag(v);
        }
        let mut cursor = Cursor::new(&buf);
        for v in [0, 1, 127, 128, 300, u64::MAX] {
            assert_eq!(cursor.varint(), Ok(v));
        }
        for v in [0, -1, 1, i64::MIN, i64::MAX] {
            assert_eq!(cursor.zigzag(), Ok(v));
        }
        assert!(cursor.is_empty());
        assert!(Cursor::new(&[0xff; 11]).varint().is_err());
    }
}
