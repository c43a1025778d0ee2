//! Why a request was refused, and what a server answers.

use std::fmt;

/// A request that breaks RFC 9112 (or a configured limit). The connection cannot continue:
/// a server answers [`HttpError::status`] and closes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpError {
    status: u16,
    reason: &'static str,
}

impl HttpError {
    pub(crate) const fn new(status: u16, reason: &'static str) -> HttpError {
        HttpError { status, reason }
    }

    /// 400: malformed syntax or framing.
    pub(crate) const fn bad(reason: &'static str) -> HttpError {
        HttpError::new(400, reason)
    }

    /// The status a server answers (400, 413, 414, 431, 501 or 505).
    pub fn status(&self) -> u16 {
        self.status
    }

    /// What was wrong, for logs and `on_parse_error`.
    pub fn description(&self) -> &'static str {
        self.reason
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.reason, self.status)
    }
}

impl std::error::Error for HttpError {}
