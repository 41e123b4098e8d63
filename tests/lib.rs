//! Integration tests live in `tests/`; shared support is the `adpipe-testkit` crate in `support/`.
