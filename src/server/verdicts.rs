//! The verdicts of the framing reader ([`super::framing`]), one per request head, taken by the
//! service in order: whether each request must be refused because its head carried both
//! `Content-Length` and `Transfer-Encoding`, or because the reader and hyper disagree about
//! where it starts.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

/// What is kept of a request line to compare with the request (method and target): a longer
/// target is compared on this prefix.
pub(super) const REQUEST_LINE_KEPT: usize = 2048;

/// One request head as the reader saw it.
pub(super) struct Verdict {
    /// `METHOD target`, at most [`REQUEST_LINE_KEPT`] bytes.
    pub(super) request_line: Vec<u8>,
    /// Whether it carried both `Content-Length` and `Transfer-Encoding`.
    pub(super) both: bool,
}

impl Verdict {
    /// Whether this verdict's request line is `method target` (compared on what was kept).
    fn names(&self, method: &str, target: &str) -> bool {
        let line = self.request_line.as_slice();
        let kept_target = (method.len() + 1 + target.len()).min(REQUEST_LINE_KEPT);
        line.len() == kept_target
            && line.starts_with(method.as_bytes())
            && line.get(method.len()) == Some(&b' ')
            && target.as_bytes().starts_with(&line[method.len() + 1..])
    }
}

/// The per-connection verdicts, shared between the reader and the service.
#[derive(Clone, Default)]
pub struct Verdicts(Arc<Mutex<VecDeque<Verdict>>>);

impl Verdicts {
    /// Whether the request `method target` must be refused (and its connection closed): its
    /// head carried both `Content-Length` and `Transfer-Encoding`, or the reader lost track.
    pub fn refuse(&self, method: &str, target: &str) -> bool {
        let next = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front();
        let Some(verdict) = next else {
            return true;
        };
        verdict.both || !verdict.names(method, target)
    }

    /// The verdicts queued so far, as (request line, both) pairs: for tests and fuzzing.
    pub fn queued(&self) -> Vec<(Vec<u8>, bool)> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|v| (v.request_line.clone(), v.both))
            .collect()
    }

    pub(super) fn push(&self, verdict: Verdict) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(verdict);
    }
}
