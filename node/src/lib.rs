//! The weft node: the daemon, its local API (server and client) and the CLI.
//!
//! - [`config`]: [`config::Config`], parsed once, with documented defaults.
//! - [`core`]: the node's decisions as state machines without IO, which the event loop
//!   carries out.
//! - [`store`]: sled, one module per tree family.
//! - [`delivery`]: outbox, redial and clock state machines, without IO.
//! - [`mesh`]: membership: the ACL log's fold (admission and enforcement build on it).
//! - [`network`]: the Swarm, its one owner [`network::EventLoop`] and the
//!   [`network::NodeHandle`] that talks to it.
//! - [`api`]: the local HTTP API on a Unix socket, and its typed client.
//! - [`node`]: [`node::Node`], which starts and stops all of the above together.
//! - [`web`]: the node's local web page (`weft node --web ADDR`), on the API's routes.
//! - [`zmq`]: local ZeroMQ endpoints (`weft node --zmq ...`) that carry ZeroMQ programs'
//!   messages onto the mesh.
//! - [`doctor`]: the checks `weft doctor` and the web page show.
//! - [`cli`]: the `weft` command line, a thin client of the API.
//! - [`demo`]: `weft demo`, a throwaway three-node mesh on loopback.

#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod api;
pub mod blob;
pub mod cli;
pub mod config;
pub mod core;
pub mod delivery;
pub mod demo;
pub mod doctor;
pub mod mesh;
pub mod metrics;
pub mod metrics_server;
pub mod network;
pub mod node;
pub mod ping;
pub mod pipe;
pub mod store;
pub mod web;
pub mod zmq;
