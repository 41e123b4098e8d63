//! The body of `googleAds:searchStream` is one JSON array, `[batch, batch, …]`, sent as it
//! is produced. [`Splitter`] cuts it into its elements as the bytes arrive, whatever the
//! chunking, and hands each whole element to the caller: at most one element's bytes (and
//! the chunk at hand) are held at a time.

use super::wire::Status;

/// Why a stream yielded no rows.
#[derive(Debug, Clone)]
pub enum StreamError {
    /// An element was Google's error (HTTP 200, then `{"error": …}` after some batches).
    Failed(Status),
    /// The body is not the documented array of objects, or an element is not a valid
    /// batch; the message names the element and the field at fault.
    Malformed(String),
    /// The body ended before the array closed.
    Truncated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before `[`.
    Start,
    /// After `[`: an element or `]`.
    Open,
    /// After `,`: an element.
    Next,
    /// Inside an element.
    Element,
    /// After an element: `,` or `]`.
    After,
    /// After `]`: whitespace only.
    Done,
}

/// Splits a streamed JSON array into its object elements.
#[derive(Debug)]
pub struct Splitter {
    state: State,
    /// Bytes of an element begun in an earlier chunk.
    pending: Vec<u8>,
    at: Position,
    elements: usize,
}

impl Default for Splitter {
    fn default() -> Self {
        Self::new()
    }
}

impl Splitter {
    pub fn new() -> Self {
        Self {
            state: State::Start,
            pending: Vec::new(),
            at: Position::default(),
            elements: 0,
        }
    }

    /// Elements handed over so far.
    pub fn elements(&self) -> usize {
        self.elements
    }

    /// Scans `chunk`, calling `element` with each element it completes (its index and its
    /// bytes, `{…}`).
    pub fn push<F>(&mut self, chunk: &[u8], element: &mut F) -> Result<(), StreamError>
    where
        F: FnMut(usize, &[u8]) -> Result<(), StreamError>,
    {
        let mut i = 0;
        while i < chunk.len() {
            if self.state == State::Element {
                let end = self.scan(chunk, i);
                let Some(end) = end else {
                    self.pending.extend_from_slice(&chunk[i..]);
                    return Ok(());
                };
                self.emit(&chunk[i..=end], element)?;
                self.state = State::After;
                i = end + 1;
                continue;
            }
            let b = chunk[i];
            if b.is_ascii_whitespace() {
                i += 1;
                continue;
            }
            self.state = match (self.state, b) {
                (State::Start, b'[') => State::Open,
                (State::Open | State::After, b']') => State::Done,
                (State::After, b',') => State::Next,
                (State::Open | State::Next, b'{') => {
                    // The element starts at its brace; `scan` counts from the next byte.
                    self.at = Position {
                        depth: 1,
                        ..Position::default()
                    };
                    match self.scan(chunk, i + 1) {
                        Some(end) => {
                            self.emit(&chunk[i..=end], element)?;
                            i = end + 1;
                            continue;
                        }
                        None => {
                            self.pending.extend_from_slice(&chunk[i..]);
                            self.state = State::Element;
                            return Ok(());
                        }
                    }
                }
                (state, b) => return Err(self.unexpected(state, b)),
            };
            i += 1;
        }
        Ok(())
    }

    /// The stream ended: it must have closed its array.
    pub fn finish(&self) -> Result<(), StreamError> {
        match self.state {
            State::Done => Ok(()),
            _ => Err(StreamError::Truncated),
        }
    }

    fn scan(&mut self, chunk: &[u8], from: usize) -> Option<usize> {
        // A copy in locals, so that the state goes from word to word in registers.
        let mut at = self.at;
        let end = at.scan(chunk, from);
        self.at = at;
        end
    }

    /// Hands over an element ending with `tail`: `tail` alone, or after the bytes of it
    /// that earlier chunks held. Leaves the splitter after the element.
    fn emit<F>(&mut self, tail: &[u8], element: &mut F) -> Result<(), StreamError>
    where
        F: FnMut(usize, &[u8]) -> Result<(), StreamError>,
    {
        let index = self.elements;
        self.elements += 1;
        self.state = State::After;
        if self.pending.is_empty() {
            return element(index, tail);
        }
        self.pending.extend_from_slice(tail);
        let result = element(index, &self.pending);
        // The allocation stays for the next element that spans chunks.
        self.pending.clear();
        result
    }

    fn unexpected(&self, state: State, byte: u8) -> StreamError {
        let found = char::from(byte).escape_default().to_string();
        StreamError::Malformed(match state {
            State::Start => format!("the body is not a JSON array (it starts with '{found}')"),
            State::Done => format!("'{found}' after the end of the JSON array"),
            _ => format!(
                "element {} of the JSON array is not an object (found '{found}')",
                self.elements
            ),
        })
    }
}

/// Where a scan is inside an element: its brace depth, whether in a string, whether just
/// after a backslash in one.
#[derive(Debug, Clone, Copy, Default)]
struct Position {
    depth: u32,
    in_string: bool,
    escaped: bool,
}

impl Position {
    /// From `from` on, inside an element whose opening brace is counted: the index of its
    /// closing brace, if this chunk holds it. Only braces outside strings are counted:
    /// brackets nest inside them, and an element that is not valid JSON is refused when it
    /// is parsed.
    ///
    /// Eight bytes are read at a time: their quotes and braces as bit masks, which bytes
    /// are inside a string by a prefix XOR of the quotes, the braces outside strings
    /// counted. Only a word that may close the element, or that holds a backslash, is
    /// walked byte by byte.
    fn scan(&mut self, chunk: &[u8], from: usize) -> Option<usize> {
        let mut i = from;
        while let Some(word) = chunk.get(i..i + 8) {
            let w = u64::from_le_bytes(word.try_into().ok()?);
            if self.escaped || eq(w, b'\\') != 0 {
                if let Some(end) = self.walk(&chunk[..i + 8], i) {
                    return Some(end);
                }
                i += 8;
                continue;
            }
            let mut inside = prefix_xor(eq(w, b'"'));
            if self.in_string {
                inside ^= HIGH;
            }
            let open = eq(w, b'{') & !inside;
            let close = eq(w, b'}') & !inside;
            // Most words hold no brace: nothing to count.
            if (open | close) != 0 {
                let closes = close.count_ones();
                if closes >= self.depth {
                    if let Some(end) = self.walk(&chunk[..i + 8], i) {
                        return Some(end);
                    }
                    i += 8;
                    continue;
                }
                self.depth = self.depth + open.count_ones() - closes;
            }
            self.in_string = inside >> 63 == 1;
            i += 8;
        }
        self.walk(chunk, i)
    }

    /// `chunk[from..]` byte by byte: the closing brace's index, if there.
    fn walk(&mut self, chunk: &[u8], from: usize) -> Option<usize> {
        for (i, &b) in chunk.iter().enumerate().skip(from) {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
            } else if b == b'"' {
                self.in_string = true;
            } else if b == b'{' {
                self.depth += 1;
            } else if b == b'}' {
                self.depth = self.depth.saturating_sub(1);
                if self.depth == 0 {
                    return Some(i);
                }
            }
        }
        None
    }
}

/// The high bit of each byte of a word.
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `w` that equals `byte` (exact: no carry crosses bytes).
#[inline(always)]
fn eq(w: u64, byte: u8) -> u64 {
    let t = w ^ (u64::from(byte) * 0x0101_0101_0101_0101);
    !(((t & !HIGH) + !HIGH) | t) & HIGH
}

/// Each byte's high bit becomes the XOR of the high bits of that byte and of those before
/// it in memory: with quotes as input, set from an opening quote up to, not including, its
/// closing one.
#[inline(always)]
fn prefix_xor(mut m: u64) -> u64 {
    m ^= m << 8;
    m ^= m << 16;
    m ^= m << 32;
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every element of `body` pushed in chunks of `size`.
    fn split(body: &[u8], size: usize) -> Result<Vec<String>, StreamError> {
        let mut splitter = Splitter::new();
        let mut out = Vec::new();
        for chunk in body.chunks(size.max(1)) {
            splitter.push(chunk, &mut |i, bytes| {
                assert_eq!(i, out.len());
                out.push(String::from_utf8_lossy(bytes).into_owned());
                Ok(())
            })?;
        }
        splitter.finish()?;
        Ok(out)
    }

    #[test]
    fn elements_are_the_same_whatever_the_chunking() {
        let body = br#" [ {"results":[{"campaign":{"name":"a } \" ] { [ \\"}}],"fieldMask":"x"} ,
            {"results":[]},{"error":{"code":500,"details":[{}]}}]
        "#;
        let expected = split(body, body.len()).expect("elements");
        assert_eq!(expected.len(), 3);
        assert!(expected[0].starts_with("{\"results\"") && expected[0].ends_with("\"x\"}"));
        assert_eq!(expected[1], r#"{"results":[]}"#);
        for size in 1..body.len() {
            assert_eq!(
                split(body, size).expect("elements"),
                expected,
                "chunks of {size}"
            );
        }
    }

    #[test]
    fn an_empty_array_has_no_elements() {
        assert!(split(b"[]", 1).expect("empty").is_empty());
        assert!(split(b" [ \n ] \n", 2).expect("empty").is_empty());
    }

    #[test]
    fn a_body_that_is_not_an_array_of_objects_is_malformed() {
        for body in [&b"{}"[..], b"[1]", b"[{}]x", b"[{},,{}]", b"[{} {}]"] {
            assert!(
                matches!(split(body, 3), Err(StreamError::Malformed(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn a_body_cut_short_is_truncated() {
        for body in [&b""[..], b"[", b"[{\"results\":[", b"[{}", b"[{},"] {
            assert!(
                matches!(split(body, 2), Err(StreamError::Truncated)),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
