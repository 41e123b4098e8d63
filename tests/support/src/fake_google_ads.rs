//! A Google Ads API (and Google OAuth token endpoint) on loopback for the demo: being written.
