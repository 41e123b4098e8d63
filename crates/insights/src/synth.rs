//! Seeded synthetic series (work in progress).
