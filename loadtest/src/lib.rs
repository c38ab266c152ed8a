//! `voxgate-loadtest`: simulated visitors (str0m client peers and SSE clients) that measure a
//! voxgate deployment from outside. It shares only `voxgate-engine` types with the server.
//!
//! The harness is built by the load-test issue; this crate holds its place in the workspace
//! layout so the dependency rule (engine only) is fixed from the start.
