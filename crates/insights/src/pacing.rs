//! Month-end spend projection (work in progress).
