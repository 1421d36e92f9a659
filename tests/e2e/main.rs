//! End-to-end tests: real `weft` processes on loopback, each with its own data dir, driven
//! through the CLI (and, where a test needs to watch events, the API client).

mod bare;
mod bench;
mod blobs;
mod catch_up;
mod chat;
mod cli_errors;
mod demo;
mod doors;
mod durability;
mod examples;
mod faults;
mod hostile_peer;
mod liveness;
mod local_doors;
mod mailbox;
mod mdns;
mod media_doors;
mod membership;
mod messaging;
mod names;
mod nat;
mod netns;
mod operate;
mod pipes;
mod queues;
mod reachability;
mod relay;
mod replay;
mod services;
mod stranger;
mod support;
mod tampering;
mod web;
mod work_doors;
mod zmq;
