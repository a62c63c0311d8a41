//! Follows the HTTP/1.1 framing of the bytes a client sends, to notice request heads that carry
//! both `Content-Length` and `Transfer-Encoding`.
//!
//! hyper answers such a request by dropping `Content-Length` (chunked wins) before the
//! application sees it, and closes the connection afterwards. Behind a proxy that trusts
//! `Content-Length` instead, that is request smuggling, so we refuse the request outright
//! (SECURITY.md 26). The application cannot see the dropped header, so this reader watches the
//! raw bytes: it splits them into heads and bodies as hyper does and queues, for every head, whether
//! it carried both. The service pops one verdict per request, in order (HTTP/1.1 handles one
//! request at a time per connection).
//!
//! Once a head carries both, or anything is not understood, the reader stops: hyper closes such a
//! connection after that request, and a reader that lost track must not guess.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

/// Longest request head followed (hyper's own limit is larger; a longer head just stops the
/// reader, and then no verdict is invented).
const HEAD_MAX: usize = 64 * 1024;

/// What the reader expects next.
#[derive(Debug, Clone, Copy)]
enum State {
    /// Lines of a request head, up to its empty line.
    Head(HeadInfo),
    /// This many bytes of a `Content-Length` body.
    Body(u64),
    /// A chunk-size line.
    ChunkSize,
    /// This many bytes of chunk data, then its line break.
    ChunkData(u64),
    /// The line break after chunk data.
    ChunkEnd,
    /// Trailer lines up to the empty one.
    Trailers,
    /// Stopped following (see the module comment).
    Stopped,
}

/// What a request head has said so far.
#[derive(Debug, Clone, Copy, Default)]
struct HeadInfo {
    /// Whether its request line has been read.
    started: bool,
    /// Bytes read of it.
    size: usize,
    content_length: Option<u64>,
    transfer_encoding: bool,
    chunked: bool,
}

/// The per-connection verdicts, shared between the reader and the service.
#[derive(Debug, Clone, Default)]
pub struct Verdicts(Arc<Mutex<VecDeque<bool>>>);

impl Verdicts {
    /// Whether the next request's head carried both `Content-Length` and `Transfer-Encoding`.
    pub fn next_is_smuggling(&self) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
            .unwrap_or(false)
    }

    fn push(&self, both: bool) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(both);
    }
}

/// Follows one connection's incoming bytes.
#[derive(Debug)]
pub struct Framing {
    state: State,
    /// The line being read (reused for every line of the connection).
    line: Vec<u8>,
    verdicts: Verdicts,
}

/// The value of header `name` if `line` is that header (`Name: value`, any case).
fn header_value<'a>(line: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let n = name.len();
    (line.len() > n && line[n] == b':' && line[..n].eq_ignore_ascii_case(name.as_bytes()))
        .then(|| line[n + 1..].trim_ascii())
}

impl HeadInfo {
    /// Takes one header line (line break removed); false when it cannot be understood.
    fn header(&mut self, line: &[u8]) -> bool {
        if let Some(value) = header_value(line, "content-length") {
            match std::str::from_utf8(value).ok().and_then(|v| v.parse().ok()) {
                Some(n) => self.content_length = Some(n),
                None => return false,
            }
        } else if let Some(value) = header_value(line, "transfer-encoding") {
            self.transfer_encoding = true;
            self.chunked = value
                .rsplit(|b| *b == b',')
                .next()
                .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        }
        true
    }

    /// The state after this complete head.
    fn body(self) -> State {
        match (self.transfer_encoding, self.content_length) {
            (true, Some(_)) => State::Stopped,
            (true, None) if self.chunked => State::ChunkSize,
            (true, None) => State::Stopped,
            (false, Some(0) | None) => State::Head(HeadInfo::default()),
            (false, Some(n)) => State::Body(n),
        }
    }
}

impl Framing {
    /// A reader at the start of a connection, and the verdicts it will queue.
    pub fn new() -> (Self, Verdicts) {
        let verdicts = Verdicts::default();
        (
            Framing {
                state: State::Head(HeadInfo::default()),
                line: Vec::new(),
                verdicts: verdicts.clone(),
            },
            verdicts,
        )
    }

    /// Follows `bytes`, the next ones the client sent.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let used = match self.state {
                State::Stopped => return,
                State::Body(left) | State::ChunkData(left) => {
                    let n = left.min(bytes.len() as u64);
                    self.state = match (self.state, left - n) {
                        (State::Body(_), 0) => State::Head(HeadInfo::default()),
                        (State::Body(_), rest) => State::Body(rest),
                        (_, 0) => State::ChunkEnd,
                        (_, rest) => State::ChunkData(rest),
                    };
                    n as usize
                }
                _ => match bytes.iter().position(|b| *b == b'\n') {
                    Some(i) => {
                        self.line.extend_from_slice(&bytes[..i]);
                        self.end_of_line();
                        self.line.clear();
                        i + 1
                    }
                    None => {
                        self.line.extend_from_slice(bytes);
                        if self.line.len() > HEAD_MAX {
                            self.state = State::Stopped;
                        }
                        bytes.len()
                    }
                },
            };
            bytes = &bytes[used..];
        }
    }

    /// Takes the complete line in `self.line` (its line feed removed).
    fn end_of_line(&mut self) {
        let line = self.line.strip_suffix(b"\r").unwrap_or(&self.line);
        let empty = line.is_empty();
        self.state = match self.state {
            State::Head(mut head) => {
                head.size += self.line.len() + 1;
                if head.size > HEAD_MAX {
                    State::Stopped
                } else if !head.started {
                    // Blank lines before a request line are skipped, as hyper does.
                    head.started = !empty;
                    State::Head(head)
                } else if empty {
                    let both = head.content_length.is_some() && head.transfer_encoding;
                    self.verdicts.push(both);
                    head.body()
                } else if head.header(line) {
                    State::Head(head)
                } else {
                    State::Stopped
                }
            }
            State::ChunkSize => {
                let size = line.split(|b| *b == b';').next().unwrap_or_default();
                let size = std::str::from_utf8(size.trim_ascii())
                    .ok()
                    .and_then(|s| u64::from_str_radix(s, 16).ok());
                match size {
                    Some(0) => State::Trailers,
                    Some(n) => State::ChunkData(n),
                    None => State::Stopped,
                }
            }
            State::ChunkEnd if empty => State::ChunkSize,
            State::Trailers if empty => State::Head(HeadInfo::default()),
            State::Trailers => State::Trailers,
            _ => State::Stopped,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdicts_of(stream: &[u8], chunk: usize) -> Vec<bool> {
        let (mut framing, verdicts) = Framing::new();
        for piece in stream.chunks(chunk) {
            framing.feed(piece);
        }
        let mut out = Vec::new();
        let queue = verdicts.0.lock().unwrap();
        out.extend(queue.iter().copied());
        out
    }

    const PIPELINE: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n\
        POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello\
        POST /y HTTP/1.1\r\nhost: a\r\ntransfer-encoding: gzip, chunked\r\n\r\n\
        5;ext=1\r\nhello\r\n3\r\nabc\r\n0\r\nTrailer: x\r\n\r\n\
        PATCH /z HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n\
        GET /after HTTP/1.1\r\n\r\n";

    #[test]
    fn heads_are_found_across_bodies_in_any_split() {
        for chunk in [1, 2, 3, 7, 64, PIPELINE.len()] {
            assert_eq!(
                verdicts_of(PIPELINE, chunk),
                [false, false, false, true],
                "split every {chunk} bytes"
            );
        }
    }

    #[test]
    fn the_service_takes_one_verdict_per_request_in_order() {
        let (mut framing, verdicts) = Framing::new();
        framing.feed(PIPELINE);
        let seen: Vec<bool> = (0..5).map(|_| verdicts.next_is_smuggling()).collect();
        assert_eq!(seen, [false, false, false, true, false]);
    }

    #[test]
    fn what_is_not_understood_stops_the_reader_without_inventing_verdicts() {
        assert_eq!(
            verdicts_of(
                b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\nGET / HTTP/1.1\r\n\r\n",
                5
            ),
            Vec::<bool>::new()
        );
        assert_eq!(
            verdicts_of(
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nGET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
                4
            ),
            [false]
        );
        // Bare line feeds end lines too.
        assert_eq!(
            verdicts_of(
                b"GET / HTTP/1.1\nContent-Length: 0\nTransfer-Encoding: chunked\n\n",
                3
            ),
            [true]
        );
    }
}
