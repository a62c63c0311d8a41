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
#[derive(Debug)]
enum State {
    /// Bytes of a request head, up to its empty line.
    Head(Vec<u8>),
    /// This many bytes of a `Content-Length` body.
    Body(u64),
    /// A chunk-size line.
    ChunkSize(Vec<u8>),
    /// This many bytes of chunk data, then its line break.
    ChunkData(u64),
    /// The line break after chunk data.
    ChunkEnd(Vec<u8>),
    /// Trailer lines up to the empty one.
    Trailers(Vec<u8>),
    /// Stopped following (see the module comment).
    Stopped,
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
    verdicts: Verdicts,
}

/// What a complete head says about its body.
struct HeadInfo {
    content_length: Option<u64>,
    transfer_encoding: bool,
    chunked: bool,
}

fn parse_head(head: &[u8]) -> Option<HeadInfo> {
    let text = std::str::from_utf8(head).ok()?;
    let mut info = HeadInfo {
        content_length: None,
        transfer_encoding: false,
        chunked: false,
    };
    for line in text.split('\n').skip(1) {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            info.content_length = Some(value.parse().ok()?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            info.transfer_encoding = true;
            info.chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        }
    }
    Some(info)
}

/// Takes bytes into `line` up to and including a line feed; returns how many were used and
/// whether the line is complete.
fn take_line(line: &mut Vec<u8>, bytes: &[u8]) -> (usize, bool) {
    match bytes.iter().position(|b| *b == b'\n') {
        Some(i) => {
            line.extend_from_slice(&bytes[..=i]);
            (i + 1, true)
        }
        None => {
            line.extend_from_slice(bytes);
            (bytes.len(), false)
        }
    }
}

impl Framing {
    /// A reader at the start of a connection, and the verdicts it will queue.
    pub fn new() -> (Self, Verdicts) {
        let verdicts = Verdicts::default();
        (
            Framing {
                state: State::Head(Vec::new()),
                verdicts: verdicts.clone(),
            },
            verdicts,
        )
    }

    /// Follows `bytes`, the next ones the client sent.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let used = self.step(bytes);
            bytes = &bytes[used..];
        }
    }

    /// Consumes a prefix of `bytes` (at least one byte); returns its length.
    fn step(&mut self, bytes: &[u8]) -> usize {
        let (used, next) = match &mut self.state {
            State::Stopped => return bytes.len(),
            State::Head(head) => {
                // Blank lines before a request line are skipped, as hyper does.
                if head.is_empty() && matches!(bytes[0], b'\r' | b'\n') {
                    return 1;
                }
                let mut used = 0;
                let mut done = false;
                for b in bytes {
                    head.push(*b);
                    used += 1;
                    if head.ends_with(b"\n\r\n") || head.ends_with(b"\n\n") {
                        done = true;
                        break;
                    }
                }
                if !done {
                    if head.len() > HEAD_MAX {
                        self.state = State::Stopped;
                    }
                    return used;
                }
                (used, self.after_head())
            }
            State::Body(left) => {
                let n = (*left).min(bytes.len() as u64);
                *left -= n;
                let next = (*left == 0).then(|| State::Head(Vec::new()));
                (n as usize, next)
            }
            State::ChunkSize(line) => {
                let (used, complete) = take_line(line, bytes);
                let next = complete.then(|| {
                    let text = String::from_utf8_lossy(line);
                    let size = text.split(';').next().unwrap_or("").trim();
                    match u64::from_str_radix(size, 16) {
                        Ok(0) => State::Trailers(Vec::new()),
                        Ok(n) => State::ChunkData(n),
                        Err(_) => State::Stopped,
                    }
                });
                (used, next)
            }
            State::ChunkData(left) => {
                let n = (*left).min(bytes.len() as u64);
                *left -= n;
                let next = (*left == 0).then(|| State::ChunkEnd(Vec::new()));
                (n as usize, next)
            }
            State::ChunkEnd(line) => {
                let (used, complete) = take_line(line, bytes);
                let next = complete.then(|| {
                    if line.trim_ascii().is_empty() {
                        State::ChunkSize(Vec::new())
                    } else {
                        State::Stopped
                    }
                });
                (used, next)
            }
            State::Trailers(line) => {
                let (used, complete) = take_line(line, bytes);
                let next = complete.then(|| {
                    if line.trim_ascii().is_empty() {
                        State::Head(Vec::new())
                    } else {
                        State::Trailers(Vec::new())
                    }
                });
                (used, next)
            }
        };
        if let Some(next) = next {
            self.state = next;
        }
        used.max(1)
    }

    /// The state after a complete head (queues its verdict).
    fn after_head(&mut self) -> Option<State> {
        let State::Head(head) = &self.state else {
            return Some(State::Stopped);
        };
        let Some(info) = parse_head(head) else {
            return Some(State::Stopped);
        };
        let both = info.content_length.is_some() && info.transfer_encoding;
        self.verdicts.push(both);
        Some(match (both, info.transfer_encoding, info.content_length) {
            (true, _, _) => State::Stopped,
            (false, true, _) if info.chunked => State::ChunkSize(Vec::new()),
            (false, true, _) => State::Stopped,
            (false, false, Some(0) | None) => State::Head(Vec::new()),
            (false, false, Some(n)) => State::Body(n),
        })
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
