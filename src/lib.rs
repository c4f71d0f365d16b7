//! mcp-manager: a supervisor daemon for Model Context Protocol servers.
//!
//! See `docs/` for the API and the state machine, and DESIGN.md for the architecture.

pub mod actors;
pub mod api;
pub mod bridge;
pub mod cli;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod db;
pub mod doctor;
pub mod error;
pub mod gateway;
pub mod health;
pub mod logs;
pub mod mcp;
pub mod model;
pub mod reload;
pub mod runtime;
pub mod sdnotify;
pub mod servers_file;
pub mod state;
