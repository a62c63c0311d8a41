//! Follows the HTTP/1.1 framing of the bytes a client sends, to notice request heads that carry
//! both `Content-Length` and `Transfer-Encoding`.
//!
//! hyper answers such a request by dropping `Content-Length` (chunked wins) before the
//! application sees it, and closes the connection afterwards. Behind a proxy that trusts
//! `Content-Length` instead, that is request smuggling, so we refuse the request outright
//! (SECURITY.md 26). The application cannot see the dropped header, so this reader watches the
//! raw bytes: it splits them into heads and bodies as hyper does and queues, for every head, its
//! request line and whether it carried both. The service takes one verdict per request, in
//! order (HTTP/1.1 handles one request at a time per connection).
//!
//! It fails closed. A verdict whose request line is not the request's own means the reader and
//! hyper disagree about where a request starts; a request with no verdict means the reader gave
//! up (something it does not understand, which hyper refuses anyway). Either way the request is
//! refused and the connection closed, rather than guessed about.

use super::verdicts::{REQUEST_LINE_KEPT, Verdict, Verdicts};

/// Longest request head followed; the listener tells hyper to refuse longer ones (431), so the
/// reader never stops on a head hyper accepts.
pub const HEAD_MAX: usize = 64 * 1024;

/// What is kept of a header line: enough for the names and values the reader looks at.
const HEADER_LINE_KEPT: usize = 256;

/// What the reader expects next.
#[derive(Clone, Copy)]
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
    /// Trailer lines up to the empty one (which, as for hyper, must be exactly CR LF).
    Trailers,
    /// Gave up (see the module comment): no more verdicts.
    Stopped,
}

/// What a request head has said so far.
#[derive(Clone, Copy, Default)]
struct HeadInfo {
    /// Bytes read of it.
    size: usize,
    content_length: bool,
    length: Option<u64>,
    transfer_encoding: bool,
    chunked: bool,
}

/// Follows one connection's incoming bytes.
pub struct Framing {
    state: State,
    /// The line being read (kept short: see [`HEADER_LINE_KEPT`]), reused for every line.
    line: Vec<u8>,
    /// Its full length, including what was not kept.
    line_len: usize,
    /// The current head's request line (`METHOD target`).
    request_line: Vec<u8>,
    verdicts: Verdicts,
}

/// The value of header `name` if `line` is that header (`Name: value`, any case).
fn header_value<'a>(line: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let n = name.len();
    (line.len() > n && line[n] == b':' && line[..n].eq_ignore_ascii_case(name.as_bytes()))
        .then(|| line[n + 1..].trim_ascii())
}

impl HeadInfo {
    /// Takes one header line (line break removed, possibly cut at [`HEADER_LINE_KEPT`]).
    fn header(&mut self, line: &[u8], complete: bool) {
        if let Some(value) = header_value(line, "content-length") {
            // Present even when it cannot be read: hyper may skip it, a proxy may not.
            self.content_length = true;
            self.length = complete
                .then(|| std::str::from_utf8(value).ok()?.parse().ok())
                .flatten();
        } else if let Some(value) = header_value(line, "transfer-encoding") {
            self.transfer_encoding = true;
            self.chunked = complete
                && value
                    .rsplit(|b| *b == b',')
                    .next()
                    .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        }
    }

    /// The state after this complete head.
    fn body(self) -> State {
        match (self.transfer_encoding, self.content_length, self.length) {
            (true, false, _) if self.chunked => State::ChunkSize,
            (true, _, _) => State::Stopped,
            (false, false, _) | (false, true, Some(0)) => State::Head(HeadInfo::default()),
            (false, true, Some(n)) => State::Body(n),
            (false, true, None) => State::Stopped,
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
                line_len: 0,
                request_line: Vec::new(),
                verdicts: verdicts.clone(),
            },
            verdicts,
        )
    }

    /// How many bytes the reader holds on to (bounded whatever the client sends).
    pub fn held(&self) -> usize {
        self.line.capacity() + self.request_line.capacity()
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
                _ => {
                    let (piece, used, complete) = match bytes.iter().position(|b| *b == b'\n') {
                        Some(i) => (&bytes[..i], i + 1, true),
                        None => (bytes, bytes.len(), false),
                    };
                    let keep = self.kept_line_len().saturating_sub(self.line.len());
                    self.line.extend_from_slice(&piece[..piece.len().min(keep)]);
                    self.line_len += piece.len();
                    if complete {
                        self.end_of_line();
                        self.line.clear();
                        self.line_len = 0;
                    } else if self.line_len > HEAD_MAX {
                        self.stop();
                    }
                    used
                }
            };
            bytes = &bytes[used..];
        }
    }

    /// How much of the current line is worth keeping.
    fn kept_line_len(&self) -> usize {
        match self.state {
            State::Head(head) if head.size == 0 => REQUEST_LINE_KEPT + 16,
            _ => HEADER_LINE_KEPT,
        }
    }

    fn stop(&mut self) {
        self.state = State::Stopped;
        self.line = Vec::new();
        self.request_line = Vec::new();
    }

    /// Takes the complete line in `self.line` (its line feed removed).
    fn end_of_line(&mut self) {
        let had_cr = self.line.last() == Some(&b'\r');
        let line = if had_cr {
            &self.line[..self.line.len() - 1]
        } else {
            &self.line[..]
        };
        let complete = self.line_len <= self.line.len();
        let empty = line.is_empty();
        self.state = match self.state {
            State::Head(mut head) => {
                let first = head.size == 0;
                head.size += self.line_len + 1;
                if head.size > HEAD_MAX {
                    State::Stopped
                } else if first && empty {
                    // Blank lines before a request line are skipped, as hyper does.
                    State::Head(HeadInfo::default())
                } else if first {
                    // `METHOD target HTTP/1.1`: keep `METHOD target`.
                    let end = line.iter().rposition(|b| *b == b' ').unwrap_or(line.len());
                    self.request_line.clear();
                    self.request_line.extend_from_slice(&line[..end]);
                    self.request_line.truncate(REQUEST_LINE_KEPT);
                    State::Head(head)
                } else if empty {
                    let both = head.content_length && head.transfer_encoding;
                    self.verdicts.push(Verdict {
                        request_line: std::mem::take(&mut self.request_line),
                        both,
                    });
                    head.body()
                } else {
                    head.header(line, complete);
                    State::Head(head)
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
            State::ChunkEnd if empty && had_cr => State::ChunkSize,
            // As hyper: only CR LF ends the trailers; anything else is a trailer line.
            State::Trailers if empty && had_cr => State::Head(HeadInfo::default()),
            State::Trailers => State::Trailers,
            _ => State::Stopped,
        };
        if matches!(self.state, State::Stopped) {
            self.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIPELINE: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n\
        POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello\
        POST /y?q=1 HTTP/1.1\r\nhost: a\r\ntransfer-encoding: gzip, chunked\r\n\r\n\
        5;ext=1\r\nhello\r\n3\r\nabc\r\n0\r\nTrailer: x\r\n\r\n\
        PATCH /z HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n\
        GET /after HTTP/1.1\r\n\r\n";

    /// The verdicts the service would reach for `requests`, fed in pieces of `chunk` bytes.
    fn refusals(stream: &[u8], chunk: usize, requests: &[(&str, &str)]) -> Vec<bool> {
        let (mut framing, verdicts) = Framing::new();
        for piece in stream.chunks(chunk) {
            framing.feed(piece);
        }
        requests
            .iter()
            .map(|(m, t)| verdicts.refuse(m, t))
            .collect()
    }

    const REQUESTS: [(&str, &str); 5] = [
        ("GET", "/"),
        ("POST", "/x"),
        ("POST", "/y?q=1"),
        ("PATCH", "/z"),
        ("GET", "/after"),
    ];

    #[test]
    fn heads_are_found_across_bodies_in_any_split() {
        for chunk in [1, 2, 3, 7, 64, PIPELINE.len()] {
            assert_eq!(
                refusals(PIPELINE, chunk, &REQUESTS),
                [false, false, false, true, true],
                "split every {chunk} bytes (after the smuggling head the reader stops)"
            );
        }
    }

    #[test]
    fn an_unreadable_content_length_beside_transfer_encoding_is_still_both() {
        for cl in ["5, 5", "-1", "x", ""] {
            let head = format!(
                "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: {cl}\r\n\r\n0\r\n\r\n"
            );
            assert_eq!(
                refusals(head.as_bytes(), 4, &[("POST", "/a")]),
                [true],
                "{cl:?}"
            );
        }
    }

    #[test]
    fn a_disagreement_about_where_requests_start_is_refused() {
        // A bare LF after the last chunk starts a trailer for hyper, not a new request: the
        // "decoy" is hyper's trailer, so the next request hyper serves is /real.
        let stream = b"POST /login HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\
            \nGET /decoy HTTP/1.1\r\n\r\n\
            GET /real HTTP/1.1\r\n\r\n";
        let seen = refusals(stream, 3, &[("POST", "/login"), ("GET", "/real")]);
        assert_eq!(
            seen,
            [false, false],
            "the reader follows hyper's trailer rule"
        );
        // A request the reader has no verdict for is refused.
        assert_eq!(
            refusals(b"GET / HTTP/1.1\r\n\r\n", 5, &[("GET", "/"), ("GET", "/")]),
            [false, true]
        );
        // A verdict for another request line is refused.
        assert_eq!(
            refusals(b"GET /a HTTP/1.1\r\n\r\n", 5, &[("GET", "/b")]),
            [true]
        );
    }

    #[test]
    fn long_lines_are_followed_without_being_kept() {
        let pad = "x".repeat(40_000);
        let stream = format!(
            "GET /big HTTP/1.1\r\nX-Pad: {pad}\r\n\r\nGET /next HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        let (mut framing, verdicts) = Framing::new();
        framing.feed(stream.as_bytes());
        assert!(
            framing.line.capacity() <= 4096,
            "kept {}",
            framing.line.capacity()
        );
        assert!(!verdicts.refuse("GET", "/big"));
        assert!(verdicts.refuse("GET", "/next"));
        let too_long = format!("GET / HTTP/1.1\r\nX-Pad: {}\r\n\r\n", "x".repeat(HEAD_MAX));
        assert_eq!(refusals(too_long.as_bytes(), 1000, &[("GET", "/")]), [true]);
    }
}
