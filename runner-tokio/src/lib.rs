//! Placeholder: the driver arrives with its issue.
