//! adpipe's insights (docs/insights.md): per connection, from the current lake table, the
//! anomaly alerts of every recent day and the month-end spend projection pacing is judged
//! from.
//!
//! `series` is what the models read; `alerts` and `pacing` are the models, pure and
//! deterministic (no AWS client); `synth` makes the seeded synthetic data their accuracy
//! benchmarks run on.

pub mod alerts;
pub mod pacing;
pub mod series;
pub mod synth;
