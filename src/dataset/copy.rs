//! PostgreSQL binary COPY encoding for the column types the datasets use.

/// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01).
const PG_EPOCH_OFFSET_US: i64 = 946_684_800_000_000;
const TEXT_OID: i32 = 25;

/// Accumulates rows in COPY BINARY format; send `take()` chunks, then `finish()`.
#[derive(Default)]
pub struct CopyEncoder {
    buf: Vec<u8>,
}

impl CopyEncoder {
    pub fn new() -> Self {
        let mut e = CopyEncoder {
            buf: Vec::with_capacity(1 << 20),
        };
        e.buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        e.buf.extend_from_slice(&0i32.to_be_bytes()); // flags
        e.buf.extend_from_slice(&0i32.to_be_bytes()); // header extension length
        e
    }

    pub fn row(&mut self, fields: i16) -> &mut Self {
        self.buf.extend_from_slice(&fields.to_be_bytes());
        self
    }

    pub fn int8(&mut self, v: i64) -> &mut Self {
        self.buf.extend_from_slice(&8i32.to_be_bytes());
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn int4(&mut self, v: i32) -> &mut Self {
        self.buf.extend_from_slice(&4i32.to_be_bytes());
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// pgvector's `vector` binary form (vector_recv): int16 dimension, int16 unused, then
    /// the float4 values, all big-endian.
    pub fn vector(&mut self, v: &[f32]) -> &mut Self {
        self.buf
            .extend_from_slice(&(4 + 4 * v.len() as i32).to_be_bytes());
        self.buf.extend_from_slice(&(v.len() as i16).to_be_bytes());
        self.buf.extend_from_slice(&0i16.to_be_bytes());
        for x in v {
            self.buf.extend_from_slice(&x.to_be_bytes());
        }
        self
    }

    pub fn text(&mut self, v: &str) -> &mut Self {
        self.buf.extend_from_slice(&(v.len() as i32).to_be_bytes());
        self.buf.extend_from_slice(v.as_bytes());
        self
    }

    /// `timestamptz` from microseconds since the Unix epoch.
    pub fn timestamptz(&mut self, unix_us: i64) -> &mut Self {
        self.buf.extend_from_slice(&8i32.to_be_bytes());
        self.buf
            .extend_from_slice(&(unix_us - PG_EPOCH_OFFSET_US).to_be_bytes());
        self
    }

    /// One-dimensional `text[]`.
    pub fn text_array(&mut self, items: &[String]) -> &mut Self {
        let body: usize = 20 + items.iter().map(|s| 4 + s.len()).sum::<usize>();
        self.buf.extend_from_slice(&(body as i32).to_be_bytes());
        self.buf.extend_from_slice(&1i32.to_be_bytes()); // dimensions
        self.buf.extend_from_slice(&0i32.to_be_bytes()); // has nulls
        self.buf.extend_from_slice(&TEXT_OID.to_be_bytes());
        self.buf
            .extend_from_slice(&(items.len() as i32).to_be_bytes());
        self.buf.extend_from_slice(&1i32.to_be_bytes()); // lower bound
        for s in items {
            self.buf.extend_from_slice(&(s.len() as i32).to_be_bytes());
            self.buf.extend_from_slice(s.as_bytes());
        }
        self
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Hands over what is buffered so far.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// The trailer that ends the stream.
    pub fn finish(&mut self) -> Vec<u8> {
        self.buf.extend_from_slice(&(-1i16).to_be_bytes());
        self.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_row_and_trailer_layout() {
        let mut e = CopyEncoder::new();
        e.row(2).int8(7).text("hi");
        let bytes = e.finish();
        assert_eq!(&bytes[..11], b"PGCOPY\n\xff\r\n\0");
        let row = &bytes[19..];
        assert_eq!(&row[..2], &2i16.to_be_bytes());
        assert_eq!(&row[2..6], &8i32.to_be_bytes());
        assert_eq!(&row[6..14], &7i64.to_be_bytes());
        assert_eq!(&row[14..18], &2i32.to_be_bytes());
        assert_eq!(&row[18..20], b"hi");
        assert_eq!(&row[20..], &(-1i16).to_be_bytes());
    }

    #[test]
    fn array_length_prefix_matches_payload() {
        let mut e = CopyEncoder { buf: Vec::new() };
        e.text_array(&["a".into(), "bcd".into()]);
        let len = i32::from_be_bytes(e.buf[..4].try_into().unwrap()) as usize;
        assert_eq!(len, e.buf.len() - 4);
    }
}
