//! YouTube Analytics: being written.
