//! `weft node`'s settings: flags, the config file (`DATA_DIR/weft.toml`) and built-in
//! defaults, in that order of precedence, and the [`Config`] they make. Every flag has a
//! key of the same name in the file; `weft config show` prints the effective value of each
//! and where it came from.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use libp2p::Multiaddr;
use serde::{Deserialize, Serialize};

use super::mesh::parse_ttl;
use crate::config::{Config, Limits, MailboxLimits, RelayLimits};

/// The config file's name inside the data dir.
pub const CONFIG_FILE: &str = "weft.toml";

/// A feature switched on or off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Switch {
    /// On.
    On,
    /// Off.
    Off,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// For people: one line each, with time, level, target and fields.
    Text,
    /// One JSON object per line.
    Json,
}

/// A duration written as `90s`, `15m`, `12h` or `7d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Age(pub Duration);

impl std::str::FromStr for Age {
    type Err = String;
    fn from_str(s: &str) -> Result<Age, String> {
        parse_ttl(s).map(Age)
    }
}

impl std::fmt::Display for Age {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.0.as_secs();
        match s {
            _ if s % 86_400 == 0 => write!(f, "{}d", s / 86_400),
            _ if s % 3600 == 0 => write!(f, "{}h", s / 3600),
            _ if s % 60 == 0 => write!(f, "{}m", s / 60),
            _ => write!(f, "{s}s"),
        }
    }
}

/// Declares the node's settings once: each becomes a flag (`Option`, so an absent flag
/// lets the file or the default speak), a key of the config file, and a row of
/// `weft config show`.
macro_rules! settings {
    ($( $(#[doc = $doc:literal])* $field:ident : $ty:ty = $default:expr, $key:literal; )*) => {
        /// `weft node`'s flags. Each may also be set in `DATA_DIR/weft.toml` under the same
        /// name; a flag given here wins.
        #[derive(Debug, Default, Args)]
        pub struct NodeArgs {
            $( $(#[doc = $doc])* #[arg(long)] pub $field: Option<$ty>, )*
        }

        /// The config file: the same keys as the flags, all optional.
        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "kebab-case")]
        pub struct FileSettings {
            $( $field: Option<$ty>, )*
        }

        /// The effective settings, each with where it came from.
        #[derive(Debug)]
        pub struct Settings {
            $( $field: ($ty, Source), )*
        }

        impl Settings {
            /// Flags over the file over the defaults.
            pub fn resolve(flags: NodeArgs, file: FileSettings) -> Settings {
                Settings {
                    $( $field: match (flags.$field, file.$field) {
                        (Some(v), _) => (v, Source::Flag),
                        (None, Some(v)) => (v, Source::File),
                        (None, None) => ($default, Source::Default),
                    }, )*
                }
            }

            /// Every setting: its key, value (as the file would write it) and source.
            pub fn rows(&self) -> Vec<(&'static str, toml::Value, Source)> {
                vec![ $( ($key, show(&self.$field.0), self.$field.1), )* ]
            }
        }
    };
}

settings! {
    /// Address to listen on; repeat for more [default: /ip4/0.0.0.0/tcp/7420 and
    /// /ip4/0.0.0.0/udp/7420/quic-v1]
    listen: Vec<Addr> = vec![], "listen";
    /// Serve Prometheus metrics on http://ADDR/metrics (e.g. 127.0.0.1:9464) [default: off]
    metrics: MetricsAddr = MetricsAddr(None), "metrics";
    /// Serve the local web page on http://ADDR/ (e.g. 127.0.0.1:7480); `weft web` prints
    /// its URL with the access token [default: off]
    web: MetricsAddr = MetricsAddr(None), "web";
    /// Let --web serve on an address other than loopback, so others on the network reach
    /// the page (its token still guards every call) [default: false]
    web_allow_remote: bool = false, "web-allow-remote";
    /// Open a local ZeroMQ endpoint for existing ZeroMQ programs: KIND[/NAME][=ENDPOINT],
    /// e.g. `pub`, `sub/weather`, `call/hello`, `offer/hello`, `queue/jobs`, `work/jobs`,
    /// at ipc://DATA_DIR/zmq/KIND[/NAME] or at the ENDPOINT given (ipc://PATH, or
    /// tcp://127.0.0.1:PORT with CURVE); repeat for more [default: none]
    zmq: Vec<crate::zmq::Spec> = vec![], "zmq";
    /// As a mailbox: most messages held for one member [default: 10000]
    mailbox_max_messages: usize = MailboxLimits::default().max_messages, "mailbox-max-messages";
    /// As a mailbox: most bytes held for one member [default: 67108864]
    mailbox_max_bytes: usize = MailboxLimits::default().max_bytes, "mailbox-max-bytes";
    /// As a mailbox: longest a message is held (e.g. 7d, 12h); also how long this node keeps
    /// trying to deliver its own messages [default: 7d]
    mailbox_ttl: Age = Age(MailboxLimits::default().ttl), "mailbox-ttl";
    /// How long messages stay in history; older ones are dropped [default: 365d]
    history_retention: Age = Age(Limits::default().history_retention), "history-retention";
    /// Relay for members who cannot reach each other directly (circuit relay v2, members
    /// only) [default: on]
    relay: Switch = Switch::On, "relay";
    /// As a relay: most members holding a reservation here [default: 128]
    relay_max_reservations: usize = RelayLimits::default().max_reservations, "relay-max-reservations";
    /// As a relay: most circuits at once [default: 64]
    relay_max_circuits: usize = RelayLimits::default().max_circuits, "relay-max-circuits";
    /// As a relay: most circuits one member has at once [default: 16]
    relay_max_circuits_per_peer: usize = RelayLimits::default().max_circuits_per_peer, "relay-max-circuits-per-peer";
    /// As a relay: longest one circuit lasts [default: 24h]
    relay_max_circuit_duration: Age = Age(RelayLimits::default().max_circuit_duration), "relay-max-circuit-duration";
    /// As a relay: most bytes one circuit carries, 0 for no cap [default: 0]
    relay_max_circuit_bytes: u64 = RelayLimits::default().max_circuit_bytes, "relay-max-circuit-bytes";
    /// Find members on the local network by mDNS (announces this node's PeerId and
    /// addresses on every interface): auto runs it only when listening on every interface
    /// [default: auto]
    mdns: crate::config::Mdns = crate::config::Mdns::Auto, "mdns";
    /// The most connections to other members kept while idle (at least 4): a quarter are
    /// members this node dials by itself, the rest are dialled on demand (a message, a
    /// call, a transfer) and closed after a minute unused [default: 32]
    connections: usize = Limits::default().connections, "connections";
    /// Let members run `weft bench dm` against this node (guests never may): their
    /// benchmark messages are acknowledged after a flush and stored nowhere [default: off]
    bench_dm: Switch = Switch::Off, "bench-dm";
    /// Log filter, e.g. `info` or `info,weft_node=debug` (RUST_LOG wins over the file)
    /// [default: info]
    log_level: String = "info".to_string(), "log-level";
    /// Log lines as text for people or as JSON objects [default: text]
    log_format: LogFormat = LogFormat::Text, "log-format";
}

/// Where a setting's value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A flag.
    Flag,
    /// The config file.
    File,
    /// The built-in default.
    Default,
}

/// A listen address: `--listen` once per address, a list of strings in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Addr(pub Multiaddr);

impl std::str::FromStr for Addr {
    type Err = String;
    fn from_str(s: &str) -> Result<Addr, String> {
        s.parse()
            .map(Addr)
            .map_err(|e| format!("`{s}` is not a multiaddr: {e}"))
    }
}

/// Where to serve an HTTP door, metrics or the web page (`ADDRESS:PORT`), or nowhere
/// (`off`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricsAddr(pub Option<SocketAddr>);

impl std::str::FromStr for MetricsAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<MetricsAddr, String> {
        if s == "off" {
            return Ok(MetricsAddr(None));
        }
        s.parse()
            .map(|a| MetricsAddr(Some(a)))
            .map_err(|e| format!("`{s}` is neither ADDRESS:PORT nor off: {e}"))
    }
}

/// Settings the file writes as strings, read as their flags parse them.
macro_rules! deserialize_from_str {
    ($($t:ty),*) => { $(
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$t, D::Error> {
                String::deserialize(d)?
                    .parse()
                    .map_err(serde::de::Error::custom)
            }
        }
    )* };
}
deserialize_from_str!(Age, Addr, MetricsAddr, crate::zmq::Spec);

/// A setting's value as the config file writes it.
fn show<T: ShowValue>(value: &T) -> toml::Value {
    value.show()
}

/// Values as TOML values, the way the config file writes them.
trait ShowValue {
    fn show(&self) -> toml::Value;
}

impl ShowValue for usize {
    fn show(&self) -> toml::Value {
        (*self as u64).show()
    }
}

impl ShowValue for u64 {
    fn show(&self) -> toml::Value {
        // TOML integers are i64: a larger value (no limit anyone means) is written as the
        // largest.
        toml::Value::Integer(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}

impl ShowValue for bool {
    fn show(&self) -> toml::Value {
        toml::Value::Boolean(*self)
    }
}

impl ShowValue for String {
    fn show(&self) -> toml::Value {
        toml::Value::String(self.clone())
    }
}

impl ShowValue for Age {
    fn show(&self) -> toml::Value {
        toml::Value::String(self.to_string())
    }
}

/// Enums written as their lower-case names.
macro_rules! show_named {
    ($($t:ty),*) => { $( impl ShowValue for $t {
        fn show(&self) -> toml::Value { toml::Value::String(format!("{self:?}").to_lowercase()) }
    } )* };
}
show_named!(Switch, crate::config::Mdns, LogFormat);

impl ShowValue for Vec<Addr> {
    fn show(&self) -> toml::Value {
        let addrs: Vec<String> = if self.is_empty() {
            crate::config::default_listen()
                .iter()
                .map(|a| a.to_string())
                .collect()
        } else {
            self.iter().map(|a| a.0.to_string()).collect()
        };
        toml::Value::Array(addrs.into_iter().map(toml::Value::String).collect())
    }
}

impl ShowValue for Vec<crate::zmq::Spec> {
    fn show(&self) -> toml::Value {
        toml::Value::Array(
            self.iter()
                .map(|s| toml::Value::String(s.to_string()))
                .collect(),
        )
    }
}

impl ShowValue for MetricsAddr {
    fn show(&self) -> toml::Value {
        toml::Value::String(self.0.map_or("off".into(), |a| a.to_string()))
    }
}

/// Reads `data_dir`'s config file; an absent file is an empty one. A malformed file is
/// refused with its line and the problem.
pub fn read_file(data_dir: &Path) -> anyhow::Result<FileSettings> {
    let path = data_dir.join(CONFIG_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileSettings::default()),
        Err(e) => anyhow::bail!("cannot read {}: {e}", path.display()),
    };
    toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start].lines().count().max(1))
            .unwrap_or(1);
        anyhow::anyhow!("{}, line {line}: {}", path.display(), e.message().trim())
    })
}

impl Settings {
    /// The log filter and format: the flag, else `RUST_LOG`, else the file, else the
    /// default.
    pub fn logging(&self) -> (String, LogFormat) {
        let level = match (self.log_level.1, std::env::var("RUST_LOG")) {
            (Source::Flag, _) | (_, Err(_)) => self.log_level.0.clone(),
            (_, Ok(env)) => env,
        };
        (level, self.log_format.0)
    }

    /// The node configuration these settings make for `data_dir`.
    pub fn config(&self, data_dir: PathBuf) -> Config {
        let listen = self.listen.0.iter().map(|a| a.0.clone()).collect();
        let mut config = Config::new(data_dir, listen);
        config.metrics = self.metrics.0.0;
        config.web = self.web.0.0;
        config.web_allow_remote = self.web_allow_remote.0;
        config.zmq = self.zmq.0.clone();
        config.limits = Limits {
            mailbox: MailboxLimits {
                max_messages: self.mailbox_max_messages.0,
                max_bytes: self.mailbox_max_bytes.0,
                ttl: self.mailbox_ttl.0.0,
            },
            history_retention: self.history_retention.0.0,
            relay: (self.relay.0 == Switch::On).then_some(RelayLimits {
                max_reservations: self.relay_max_reservations.0,
                max_circuits: self.relay_max_circuits.0,
                max_circuits_per_peer: self.relay_max_circuits_per_peer.0,
                max_circuit_duration: self.relay_max_circuit_duration.0.0,
                max_circuit_bytes: self.relay_max_circuit_bytes.0,
            }),
            mdns: self.mdns.0,
            connections: self.connections.0,
            bench_dm: self.bench_dm.0 == Switch::On,
        };
        config
    }
}
