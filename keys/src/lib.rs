//! Identities and signatures of weft. Pure: no IO beyond the OS random source a new key is
//! drawn from.
//!
//! - [`identity`]: [`Identity`], a node's ed25519 keypair; the secret zeroizes on drop and
//!   never prints.
//! - [`sign`]: signatures under a domain-separation context, verified strictly.
//! - [`invite`]: invite keys (`WEFT2…`): short, checksummed, with a one-time secret.
//! - [`acl`]: signing and checking ACL ops.
//! - [`curve`]: the CURVE server key of a node's local ZeroMQ endpoints.
//! - [`display`]: signing and checking members' display-name cards.
//! - [`seal`]: sealed boxes for mailboxes (Noise X with snow) and the cards that publish
//!   members' sealing keys.
//! - [`topic`]: signing and checking topic messages.
//! - [`service`]: signing and checking providers' service records.

#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod acl;
pub mod curve;
pub mod display;
pub mod identity;
pub mod invite;
pub mod seal;
pub mod service;
pub mod sign;
pub mod topic;

pub use identity::{Identity, KeyError};
pub use sign::{Context, PublicKey, Signature, SignatureError};
