//! `weft node`'s flags and the [`Config`] they make.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use libp2p::Multiaddr;

use super::mesh::parse_ttl;
use crate::config::{Config, Limits, MailboxLimits, RelayLimits};

/// A feature switched on or off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    /// On.
    On,
    /// Off.
    Off,
}

/// `weft node`'s flags.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// Address to listen on (repeatable) [default: /ip4/0.0.0.0/tcp/7420 and
    /// /ip4/0.0.0.0/udp/7420/quic-v1]
    #[arg(long, value_name = "MULTIADDR")]
    listen: Vec<Multiaddr>,
    /// As a mailbox: most messages held for one member.
    #[arg(long, value_name = "N", default_value_t = MailboxLimits::default().max_messages)]
    mailbox_max_messages: usize,
    /// As a mailbox: most bytes held for one member.
    #[arg(long, value_name = "BYTES", default_value_t = MailboxLimits::default().max_bytes)]
    mailbox_max_bytes: usize,
    /// As a mailbox: longest a message is held (e.g. 7d, 12h); also how long this node
    /// keeps trying to deliver its own messages.
    #[arg(long, value_name = "TTL", default_value = "7d", value_parser = parse_ttl)]
    mailbox_ttl: Duration,
    /// How long messages stay in history (e.g. 365d); older ones are dropped.
    #[arg(long, value_name = "AGE", default_value = "365d", value_parser = parse_ttl)]
    history_retention: Duration,
    /// Relay for members who cannot reach each other directly (circuit relay v2, members
    /// only).
    #[arg(long, value_enum, default_value = "on")]
    relay: Switch,
    /// As a relay: most members holding a reservation here.
    #[arg(long, value_name = "N", default_value_t = RelayLimits::default().max_reservations)]
    relay_max_reservations: usize,
    /// As a relay: most circuits at once.
    #[arg(long, value_name = "N", default_value_t = RelayLimits::default().max_circuits)]
    relay_max_circuits: usize,
    /// As a relay: most circuits one member has at once.
    #[arg(long, value_name = "N", default_value_t = RelayLimits::default().max_circuits_per_peer)]
    relay_max_circuits_per_peer: usize,
    /// As a relay: longest one circuit lasts (e.g. 24h).
    #[arg(long, value_name = "AGE", default_value = "24h", value_parser = parse_ttl)]
    relay_max_circuit_duration: Duration,
    /// As a relay: most bytes one circuit carries, 0 for no cap.
    #[arg(long, value_name = "BYTES", default_value_t = RelayLimits::default().max_circuit_bytes)]
    relay_max_circuit_bytes: u64,
    /// Find members on the local network by mDNS (this announces the node's PeerId and
    /// addresses on the LAN).
    #[arg(long, value_enum, default_value = "on")]
    mdns: Switch,
}

impl NodeArgs {
    /// The configuration these flags make for `data_dir`.
    pub fn config(self, data_dir: PathBuf) -> Config {
        let mut config = Config::new(data_dir, self.listen);
        config.limits = Limits {
            mailbox: MailboxLimits {
                max_messages: self.mailbox_max_messages,
                max_bytes: self.mailbox_max_bytes,
                ttl: self.mailbox_ttl,
            },
            history_retention: self.history_retention,
            relay: (self.relay == Switch::On).then_some(RelayLimits {
                max_reservations: self.relay_max_reservations,
                max_circuits: self.relay_max_circuits,
                max_circuits_per_peer: self.relay_max_circuits_per_peer,
                max_circuit_duration: self.relay_max_circuit_duration,
                max_circuit_bytes: self.relay_max_circuit_bytes,
            }),
            mdns: self.mdns == Switch::On,
        };
        config
    }
}
