//! Anomaly alerts (work in progress).
