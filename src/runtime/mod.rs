//! Runtimes that run a server: host processes today; containers join them behind the same
//! ServerActor later.

pub mod docker;
pub mod lines;
pub mod process;
