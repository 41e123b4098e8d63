//! A YouTube Analytics API on loopback for the demo: being written.
