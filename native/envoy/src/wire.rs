//! Protocol Buffers wire format: a bounds-checked reader and an appending writer.

#[derive(Debug, Clone, PartialEq)]
pub struct WireError(pub &'static str);

pub type WireResult<T> = Result<T, WireError>;

pub const VARINT: u32 = 0;
pub const FIXED64: u32 = 1;
pub const LEN: u32 = 2;
pub const FIXED32: u32 = 5;
pub const START_GROUP: u32 = 3;
pub const END_GROUP: u32 = 4;

pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    #[inline]
    pub fn varint(&mut self) -> WireResult<u64> {
        // Tags and most lengths fit in one byte.
        if let Some(&b) = self.buf.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(u64::from(b));
            }
        }
        self.varint_slow()
    }

    fn varint_slow(&mut self) -> WireResult<u64> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = *self.buf.get(self.pos).ok_or(WireError("truncated varint"))?;
            self.pos += 1;
            v |= ((b & 0x7f) as u64) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(WireError("varint too long"))
    }

    /// The next field's number and wire type.
    pub fn tag(&mut self) -> WireResult<(u32, u32)> {
        let t = self.varint()?;
        let num = (t >> 3) as u32;
        if num == 0 || t >> 3 > u32::MAX as u64 {
            return Err(WireError("invalid field number"));
        }
        Ok((num, (t & 7) as u32))
    }

    pub fn bytes(&mut self) -> WireResult<&'a [u8]> {
        let n = self.varint()? as usize;
        let end = self.pos.checked_add(n).ok_or(WireError("length overflow"))?;
        let s = self.buf.get(self.pos..end).ok_or(WireError("truncated length-delimited field"))?;
        self.pos = end;
        Ok(s)
    }

    pub fn fixed64(&mut self) -> WireResult<u64> {
        let s = self.buf.get(self.pos..self.pos + 8).ok_or(WireError("truncated fixed64"))?;
        self.pos += 8;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }

    pub fn fixed32(&mut self) -> WireResult<u32> {
        let s = self.buf.get(self.pos..self.pos + 4).ok_or(WireError("truncated fixed32"))?;
        self.pos += 4;
        let mut a = [0u8; 4];
        a.copy_from_slice(s);
        Ok(u32::from_le_bytes(a))
    }

    /// Skips a field of an unknown number, as every proto reader must.
    pub fn skip(&mut self, wire_type: u32) -> WireResult<()> {
        match wire_type {
            VARINT => self.varint().map(|_| ()),
            FIXED64 => self.fixed64().map(|_| ()),
            LEN => self.bytes().map(|_| ()),
            FIXED32 => self.fixed32().map(|_| ()),
            _ => Err(WireError("unsupported wire type")),
        }
    }

    /// Skips field `num` of any wire type, groups included.
    pub fn skip_field(&mut self, num: u32, wire_type: u32) -> WireResult<()> {
        if wire_type == START_GROUP {
            return self.group(num).map(|_| ());
        }
        self.skip(wire_type)
    }

    /// The body of group `num`, whose start tag was just read: the bytes up
    /// to its matching end tag, which is consumed. Nested groups are
    /// followed without recursion.
    pub fn group(&mut self, num: u32) -> WireResult<&'a [u8]> {
        let start = self.pos;
        let mut open = vec![num];
        loop {
            let before = self.pos;
            if self.done() {
                return Err(WireError("truncated group"));
            }
            let (n, wt) = self.tag()?;
            match wt {
                START_GROUP => open.push(n),
                END_GROUP => {
                    if open.pop() != Some(n) {
                        return Err(WireError("mismatched end group"));
                    }
                    if open.is_empty() {
                        return self.buf.get(start..before).ok_or(WireError("truncated group"));
                    }
                }
                _ => self.skip(wt)?,
            }
        }
    }
}

/// Appends protobuf fields to a byte vector.
#[derive(Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    fn tag(&mut self, num: u32, wt: u32) {
        self.varint(((num as u64) << 3) | wt as u64);
    }

    pub fn uint_field(&mut self, num: u32, v: u64) {
        if v != 0 {
            self.tag(num, VARINT);
            self.varint(v);
        }
    }

    pub fn int_field(&mut self, num: u32, v: i64) {
        if v != 0 {
            self.tag(num, VARINT);
            self.varint(v as u64);
        }
    }

    pub fn bool_field(&mut self, num: u32, v: bool) {
        if v {
            self.tag(num, VARINT);
            self.varint(1);
        }
    }

    pub fn double_field(&mut self, num: u32, v: f64) {
        self.tag(num, FIXED64);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub fn bytes_field(&mut self, num: u32, v: &[u8]) {
        self.tag(num, LEN);
        self.varint(v.len() as u64);
        self.buf.extend_from_slice(v);
    }

    /// A string field; proto3 leaves empty strings off the wire.
    pub fn string_field(&mut self, num: u32, v: &str) {
        if !v.is_empty() {
            self.bytes_field(num, v.as_bytes());
        }
    }

    /// A nested message, always written (presence matters for messages).
    /// Written in place: one byte is kept for the length and widened
    /// afterwards if the message is 128 bytes or longer, so nesting costs
    /// no buffer of its own.
    pub fn message_field(&mut self, num: u32, f: impl FnOnce(&mut Writer)) {
        self.tag(num, LEN);
        let at = self.buf.len();
        self.buf.push(0);
        f(self);
        let len = self.buf.len() - at - 1;
        if let (true, Some(b)) = (len < 0x80, self.buf.get_mut(at)) {
            *b = len as u8;
        } else {
            let mut prefix = Writer::default();
            prefix.varint(len as u64);
            self.buf.splice(at..at + 1, prefix.buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_messages_of_every_length_prefix_size_read_back() {
        for n in [0usize, 1, 126, 127, 128, 300, 16_383, 16_384, 70_000] {
            let body = "x".repeat(n);
            let mut w = Writer::default();
            w.message_field(3, |outer| {
                outer.message_field(1, |inner| inner.string_field(2, &body));
                outer.uint_field(4, 9);
            });
            let mut r = Reader::new(&w.buf);
            assert_eq!(r.tag().unwrap(), (3, LEN));
            let mut outer = Reader::new(r.bytes().unwrap());
            assert!(r.done());
            assert_eq!(outer.tag().unwrap(), (1, LEN));
            let mut inner = Reader::new(outer.bytes().unwrap());
            if n > 0 {
                assert_eq!(inner.tag().unwrap(), (2, LEN));
                assert_eq!(inner.bytes().unwrap().len(), n);
            }
            assert!(inner.done());
            assert_eq!(outer.tag().unwrap(), (4, VARINT));
            assert_eq!(outer.varint().unwrap(), 9);
            assert!(outer.done());
        }
    }

    #[test]
    fn varints_round_trip() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut w = Writer::default();
            w.varint(v);
            assert_eq!(Reader::new(&w.buf).varint().unwrap(), v);
        }
    }

    #[test]
    fn rejects_truncation() {
        assert!(Reader::new(&[0x80]).varint().is_err());
        assert!(Reader::new(&[0x05, b'a']).bytes().is_err());
    }

    #[test]
    fn skips_nested_groups() {
        // field 1 group { field 2 group { field 3 varint 1 } } then field 4 varint 2
        let buf = [0x0b, 0x13, 0x18, 0x01, 0x14, 0x0c, 0x20, 0x02];
        let mut r = Reader::new(&buf);
        assert_eq!(r.tag().unwrap(), (1, START_GROUP));
        assert_eq!(r.group(1).unwrap(), &buf[1..5]);
        assert_eq!(r.tag().unwrap(), (4, VARINT));
        assert!(Reader::new(&[0x0b, 0x14]).skip_field(1, START_GROUP).is_err());
        assert!(Reader::new(&[0x18, 0x01]).group(1).is_err());
    }
}
