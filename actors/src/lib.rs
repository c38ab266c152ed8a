//! Live state of voxgate: sessions, supervisors, the configuration cache and the store writer.
//! Knows actix and SQLite; knows nothing of HTTP.

pub mod agent_tests;
pub mod agents;
pub mod analysis;
pub mod answer_feed;
pub mod api_keys;
pub mod backup;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod control;
pub mod dashboard_sign_in;
pub mod dashboard_users;
pub mod drain;
pub mod media;
pub mod metrics;
pub mod offline_store;
pub mod rate_limits;
pub mod recordings;
pub mod runtime;
pub mod sessions;
pub mod signing;
pub mod store;
pub mod supervisors;
pub mod talk;
pub mod text_session;
pub mod tools;
pub mod usage;
pub mod webhooks;
pub mod workspaces;
