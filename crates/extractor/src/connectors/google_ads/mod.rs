//! Google Ads: being written.
