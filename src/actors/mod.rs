//! The daemon's actors: the Registry of servers, one ServerActor per server, and the
//! EventBus that fans their events out.

pub mod bus;
pub mod probe;
pub mod registry;
pub mod server;
