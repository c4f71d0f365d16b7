//! Line splitting for child output: reads a pipe to EOF without ever stalling the child,
//! caps each line, and keeps invalid UTF-8 lossily. A partial last line is flushed at EOF.

use tokio::io::{AsyncRead, AsyncReadExt};

pub struct Line {
    pub bytes: Vec<u8>,
    /// The line was longer than the cap; only its head is kept.
    pub truncated: bool,
}

/// Splits a byte stream into capped lines.
pub struct LineSplitter {
    current: Vec<u8>,
    truncated: bool,
    max: usize,
}

impl LineSplitter {
    pub fn new(max: usize) -> LineSplitter {
        LineSplitter {
            current: Vec::new(),
            truncated: false,
            max,
        }
    }

    /// Feeds a chunk; complete lines are appended to `out`.
    pub fn feed(&mut self, mut chunk: &[u8], out: &mut Vec<Line>) {
        while let Some(pos) = memchr::memchr(b'\n', chunk) {
            let mut bytes = if self.current.is_empty() && !self.truncated {
                // The common case, a whole line in one read: one allocation of its size.
                chunk[..pos.min(self.max)].to_vec()
            } else {
                self.push(&chunk[..pos]);
                std::mem::take(&mut self.current)
            };
            let truncated = std::mem::take(&mut self.truncated) || pos > self.max;
            if bytes.last() == Some(&b'\r') {
                bytes.pop();
            }
            out.push(Line { bytes, truncated });
            chunk = &chunk[pos + 1..];
        }
        self.push(chunk);
    }

    /// The partial last line, at EOF.
    pub fn finish(&mut self) -> Option<Line> {
        (!self.current.is_empty()).then(|| Line {
            bytes: std::mem::take(&mut self.current),
            truncated: std::mem::take(&mut self.truncated),
        })
    }

    fn push(&mut self, data: &[u8]) {
        let room = self.max.saturating_sub(self.current.len());
        if data.len() > room {
            self.truncated = true;
        }
        self.current
            .extend_from_slice(&data[..data.len().min(room)]);
    }
}

/// Reads `reader` to EOF and calls `on_lines` with the complete lines of each read (without
/// their newlines; it may take them), then with the partial last line at EOF.
///
/// With `gather`, a read that did not fill the buffer is followed by that pause before the
/// next read, so a writer of one line per write(2) is read in batches; only for a pipe with
/// room for more than the pause's worth of output (the caller knows).
pub async fn read_lines<R, F>(
    mut reader: R,
    max_line: usize,
    gather: Option<std::time::Duration>,
    mut on_lines: F,
) where
    R: AsyncRead + Unpin,
    F: FnMut(&mut Vec<Line>),
{
    let mut buf = vec![0u8; 256 * 1024];
    let mut splitter = LineSplitter::new(max_line);
    let mut lines = Vec::new();
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        splitter.feed(&buf[..n], &mut lines);
        if !lines.is_empty() {
            on_lines(&mut lines);
            lines.clear();
        }
        if let Some(pause) = gather
            && n < buf.len()
        {
            tokio::time::sleep(pause).await;
        }
    }
    if let Some(last) = splitter.finish() {
        lines.push(last);
        on_lines(&mut lines);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn splits_caps_and_flushes_the_tail() {
        let mut out = vec![];
        read_lines(
            &b"a\r\nbbbbbb\n\xffc\ntail"[..],
            4,
            None,
            |lines: &mut Vec<Line>| {
                for l in lines.drain(..) {
                    out.push((String::from_utf8_lossy(&l.bytes).into_owned(), l.truncated));
                }
            },
        )
        .await;
        assert_eq!(
            out,
            vec![
                ("a".into(), false),
                ("bbbb".into(), true),
                ("\u{fffd}c".into(), false),
                ("tail".into(), false)
            ]
        );
    }
}
