//! Node configuration, parsed once from flags and environment, with documented defaults.

use std::path::{Path, PathBuf};
use std::time::Duration;

use libp2p::Multiaddr;

/// The default TCP port (`/ip4/0.0.0.0/tcp/7420`).
pub const DEFAULT_TCP_PORT: u16 = 7420;

/// The default QUIC port (`/ip4/0.0.0.0/udp/7420/quic-v1`).
pub const DEFAULT_QUIC_PORT: u16 = 7420;

/// The local API socket's file name inside the data dir.
pub const API_SOCKET: &str = "weft.sock";

/// Everything a node needs to start.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where the database and the API socket live.
    pub data_dir: PathBuf,
    /// Addresses to listen on.
    pub listen: Vec<Multiaddr>,
    /// Whether `listen` are the defaults (then a busy port falls back to an ephemeral one).
    pub listen_is_default: bool,
    /// How much this node keeps, and for how long.
    pub limits: Limits,
    /// Where to serve Prometheus metrics (`/metrics`), if anywhere.
    pub metrics: Option<std::net::SocketAddr>,
    /// Where to serve the local web page, if anywhere.
    pub web: Option<std::net::SocketAddr>,
    /// Whether the web page may be served on an address other than loopback.
    pub web_allow_remote: bool,
    /// The local ZeroMQ endpoints to open.
    pub zmq: Vec<crate::zmq::Spec>,
}

/// How much a node keeps, and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// What this node holds for others when its role is mailbox.
    pub mailbox: MailboxLimits,
    /// How long messages stay in history (default 365 days); older ones are dropped, and
    /// older ones arriving are refused.
    pub history_retention: Duration,
    /// What this node relays for other members; `None` when it does not relay.
    pub relay: Option<RelayLimits>,
    /// Whether members on the local network are found by mDNS.
    pub mdns: Mdns,
    /// The most connections to members kept while idle (at least 4); a quarter of them
    /// are members this node dials by itself, the rest come and go on demand.
    pub connections: usize,
    /// Whether members may run `weft bench dm` against this node (default no; guests never
    /// may): it then acknowledges their benchmark messages after its next flush, storing
    /// nothing.
    pub bench_dm: bool,
}

/// When to find members on the local network by mDNS. mDNS multicasts on every interface,
/// whatever addresses the node listens on.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Mdns {
    /// Only when the node listens on every interface (`0.0.0.0` or `::`): a node bound
    /// to loopback, or to chosen addresses, sends nothing beyond them.
    Auto,
    /// Always.
    On,
    /// Never.
    Off,
}

impl Mdns {
    /// Whether mDNS runs for a node listening on `listen`.
    pub fn runs(self, listen: &[Multiaddr]) -> bool {
        use libp2p::multiaddr::Protocol;
        let wildcard = |a: &&Multiaddr| {
            a.iter().any(|p| match p {
                Protocol::Ip4(ip) => ip.is_unspecified(),
                Protocol::Ip6(ip) => ip.is_unspecified(),
                _ => false,
            })
        };
        match self {
            Mdns::Auto => listen.iter().any(|a| wildcard(&a)),
            Mdns::On => true,
            Mdns::Off => false,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            mailbox: MailboxLimits::default(),
            history_retention: Duration::from_secs(365 * 24 * 3600),
            relay: Some(RelayLimits::default()),
            mdns: Mdns::Auto,
            connections: 32,
            bench_dm: false,
        }
    }
}

/// How much a node relays for members who cannot reach each other directly (circuit relay
/// v2). Sized for traffic: a relayed pipe or file transfer runs as long and moves as much as
/// a direct one unless these say otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RelayLimits {
    /// Most members holding a reservation here (default 128).
    pub max_reservations: usize,
    /// Most circuits relayed at once (default 64).
    pub max_circuits: usize,
    /// Most circuits one member has relayed at once (default 16).
    pub max_circuits_per_peer: usize,
    /// Longest one circuit lasts (default 24 h); the connection is then re-established.
    pub max_circuit_duration: Duration,
    /// Most bytes one circuit carries, 0 for no cap (default 0).
    pub max_circuit_bytes: u64,
}

impl Default for RelayLimits {
    fn default() -> Self {
        RelayLimits {
            max_reservations: 128,
            max_circuits: 64,
            max_circuits_per_peer: 16,
            max_circuit_duration: Duration::from_secs(24 * 3600),
            max_circuit_bytes: 0,
        }
    }
}

/// The quota and lifetime of what a mailbox node holds for each recipient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MailboxLimits {
    /// Most sealed messages held for one recipient (default 10,000).
    pub max_messages: usize,
    /// Most bytes of sealed messages held for one recipient (default 64 MiB).
    pub max_bytes: usize,
    /// Longest a message is held (default 7 days); a sender's shorter expiry wins.
    pub ttl: Duration,
}

impl Default for MailboxLimits {
    fn default() -> Self {
        MailboxLimits {
            max_messages: 10_000,
            max_bytes: 64 * 1024 * 1024,
            ttl: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

impl Config {
    /// A configuration for `data_dir`, listening on `listen`, or on the default TCP and QUIC
    /// ports on all IPv4 interfaces when `listen` is empty.
    pub fn new(data_dir: PathBuf, listen: Vec<Multiaddr>) -> Config {
        let listen_is_default = listen.is_empty();
        let listen = if listen_is_default {
            default_listen()
        } else {
            listen
        };
        Config {
            data_dir,
            listen,
            listen_is_default,
            limits: Limits::default(),
            metrics: None,
            web: None,
            web_allow_remote: false,
            zmq: Vec::new(),
        }
    }

    /// The path of the local API socket.
    pub fn api_socket(&self) -> PathBuf {
        api_socket(&self.data_dir)
    }
}

/// The default listen addresses.
pub fn default_listen() -> Vec<Multiaddr> {
    [
        format!("/ip4/0.0.0.0/tcp/{DEFAULT_TCP_PORT}"),
        format!("/ip4/0.0.0.0/udp/{DEFAULT_QUIC_PORT}/quic-v1"),
    ]
    .iter()
    .filter_map(|s| s.parse().ok())
    .collect()
}

/// The API socket of the node using `data_dir`.
pub fn api_socket(data_dir: &Path) -> PathBuf {
    data_dir.join(API_SOCKET)
}

/// The data dir: `flag` (which clap fills from `--data-dir` or `WEFT_DATA_DIR`), else the
/// platform data dir (`$XDG_DATA_HOME/weft`, `~/.local/share/weft` on Linux).
pub fn resolve_data_dir(flag: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match flag {
        Some(dir) => Ok(dir),
        None => dirs::data_dir().map(|d| d.join("weft")).ok_or_else(|| {
            anyhow::anyhow!("cannot find a data dir for this platform; pass --data-dir DIR")
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mdns_runs_by_default_only_on_every_interface() {
        let addrs =
            |list: &[&str]| -> Vec<Multiaddr> { list.iter().map(|a| a.parse().unwrap()).collect() };
        let loopback = addrs(&["/ip4/127.0.0.1/tcp/7420", "/ip4/127.0.0.1/udp/7420/quic-v1"]);
        let chosen = addrs(&["/ip4/10.0.0.2/tcp/7420"]);
        let everywhere = addrs(&["/ip4/0.0.0.0/tcp/7420"]);
        assert!(!Mdns::Auto.runs(&loopback));
        assert!(!Mdns::Auto.runs(&chosen));
        assert!(Mdns::Auto.runs(&everywhere));
        assert!(Mdns::Auto.runs(&addrs(&["/ip6/::/tcp/7420"])));
        assert!(Mdns::On.runs(&loopback));
        assert!(!Mdns::Off.runs(&everywhere));
        assert!(Mdns::Auto.runs(&default_listen()), "the default listeners");
    }
}
