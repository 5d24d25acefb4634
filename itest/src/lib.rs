//! End-to-end tests live in tests/; helpers for them here.
