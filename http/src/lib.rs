//! The HTTP edge of voxgate: parses requests, calls into `voxgate-actors`, renders responses.
//! It holds no session state of its own.

pub mod body;
pub mod browser;
pub mod cli;
pub mod client_address;
pub mod control;
pub mod dashboard;
pub mod demo;
pub mod error;
pub mod health;
pub mod metrics;
pub mod request_timing;
pub mod server;
pub mod state;
pub mod trust_center;
pub mod widget_script;
