//! Input that cannot be acted on: the error of exit code 2 (nothing was written), with the
//! `hint:` that says what to do.

/// Input that cannot be acted on: exit 2, nothing written.
#[derive(Debug)]
pub(crate) struct UsageError {
    pub(crate) message: String,
    pub(crate) hint: Option<String>,
}

impl UsageError {
    pub(crate) fn new(message: impl Into<String>) -> UsageError {
        UsageError {
            message: message.into(),
            hint: None,
        }
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> UsageError {
        self.hint = Some(hint.into());
        self
    }

    /// [`UsageError::hint`], when there is one.
    pub(crate) fn maybe_hint(mut self, hint: Option<String>) -> UsageError {
        self.hint = hint.or(self.hint);
        self
    }
}

/// A refused file input: what, where and why, and what to give instead.
impl From<crate::bounded::FileError> for UsageError {
    fn from(e: crate::bounded::FileError) -> UsageError {
        UsageError::new(e.to_string()).maybe_hint(e.hint())
    }
}
