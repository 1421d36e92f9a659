//! The `weft` command line. Each command parses its arguments, calls the node's local API
//! through [`crate::api::client::Client`] and prints; only `init`, `node` and `demo` work
//! without a running node. Human output by default, `--json` on every command.
//!
//! Two binaries run it. `weft` ([`main`]) is a client of a node's API only: the commands
//! that run a node or open its files in this process ([`Command::in_node_binary`]) are
//! handed to `weft-node` ([`node_main`]), which runs every command ([`handoff`] says why).
//!
//! Exit codes: 0 ok, 1 error (one line on stderr), 2 usage, 75 a message queued but not
//! delivered yet ([`StillQueued`]).

mod bench;
mod blob_arg;
mod chat;
mod command;
mod doctor;
pub mod handoff;
mod local;
pub(crate) mod media;
mod mesh;
mod messages;
mod names;
mod node_args;
pub(crate) mod output;
mod peer_arg;
mod peers;
mod queues;
mod services;
mod web;
mod zmq;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use libp2p::{Multiaddr, PeerId};

use self::peer_arg::PeerArg;

use crate::api::client::Client;
use crate::config::resolve_data_dir;

/// weft: a secure peer-to-peer messaging overlay.
#[derive(Debug, Parser)]
#[command(name = "weft", version, about, propagate_version = true)]
pub struct Cli {
    /// The node's data dir (database, API socket) [default: the platform data dir, e.g.
    /// ~/.local/share/weft]
    #[arg(long, global = true, env = "WEFT_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    pub json: bool,

    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create this node's identity (once per data dir) and print its PeerId.
    Init {
        /// A name for this node, shown to you in `weft status`.
        #[arg(long)]
        name: Option<String>,
    },
    /// Run the node in the foreground until interrupted (SIGINT/SIGTERM). Every flag can
    /// also be set in DATA_DIR/weft.toml (same names); flags win.
    Node(node_args::NodeArgs),
    /// Check, in order, what this node needs to talk to its mesh, and say what to fix.
    /// Exit code 0 only when nothing failed.
    Doctor,
    /// Print the URL of this node's web page with its access token, and open it when
    /// there is a display. The node serves the page with `weft node --web 127.0.0.1:7480`.
    Web {
        /// Make a new token first: the old URL opens nothing from now on.
        #[arg(long)]
        rotate: bool,
        /// Only print the URL, even when there is a display.
        #[arg(long)]
        print: bool,
    },
    /// Show the configuration a node would run with.
    Config {
        /// What to do.
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Print shell completions (bash, zsh, fish, elvish, powershell) to stdout.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print this node's PeerId and dialable addresses.
    Id,
    /// Connect to another node.
    Dial {
        /// Its address, e.g. /ip4/192.0.2.7/tcp/7420/p2p/12D3KooW...
        addr: Multiaddr,
    },
    /// List connected peers.
    Peers,
    /// Measure round trips to a member through the mesh, like ping(8).
    Ping {
        /// The member: its name, its PeerId or a unique part of it.
        peer: PeerArg,
        /// How many round trips.
        #[arg(short, long, default_value_t = 4, value_name = "N")]
        count: u32,
        /// Seconds between them.
        #[arg(short, long, default_value_t = 1.0, value_name = "SECS")]
        interval: f64,
    },
    /// Send a direct message; waits for the recipient's acknowledgement.
    Send {
        /// The recipient: its name, its PeerId or a unique part of it.
        peer: PeerArg,
        /// The message (at most 64 KiB).
        text: String,
        /// Return once the message is durably queued, without waiting for delivery.
        #[arg(long)]
        no_wait: bool,
        /// How long to wait for the acknowledgement, in seconds.
        #[arg(long, default_value_t = 30, value_name = "SECS")]
        timeout: u64,
    },
    /// Publish a message on a topic.
    Publish {
        /// The topic (letters, digits, '-', '_', '.').
        topic: String,
        /// The message (at most 64 KiB).
        text: String,
    },
    /// Join a topic and print its messages as they arrive, until interrupted. The node
    /// stays subscribed (and keeps history) until `weft unsubscribe`.
    Subscribe {
        /// The topic.
        topic: String,
    },
    /// Leave a topic.
    Unsubscribe {
        /// The topic.
        topic: String,
    },
    /// A full-screen terminal chat: rooms and direct conversations, members, history,
    /// delivery states, files (line by line when stdout is not a terminal; `/help` inside).
    Chat {
        /// Open this first: a member (name or PeerId part), or a topic (`#topic` to be
        /// sure).
        target: Option<String>,
    },
    /// Show stored history, direct and topic, sent and received, newest last.
    Inbox {
        /// Only direct messages exchanged with this member (name or PeerId).
        #[arg(long, value_name = "PEER")]
        from: Option<PeerArg>,
        /// Only messages on this topic.
        #[arg(long)]
        topic: Option<String>,
        /// At most this many (the newest).
        #[arg(long, default_value_t = 50, value_name = "N")]
        limit: usize,
    },
    /// Show identity, listen addresses, peers, outbox depth, uptime.
    Status,
    /// Start a throwaway three-node mesh on loopback, exchange messages, report, clean up.
    Demo,
    /// Manage this node's mesh.
    Mesh {
        /// What to do.
        #[command(subcommand)]
        command: MeshCommand,
    },
    /// Issue, list and revoke invite keys.
    Invite {
        /// What to do.
        #[command(subcommand)]
        command: InviteCommand,
    },
    /// List the mesh's members (role, name, who admitted them, whether connected), or
    /// change them.
    Members {
        /// What to change; without one, list.
        #[command(subcommand)]
        command: Option<MembersCommand>,
    },
    /// Set topic rules.
    Topic {
        /// What to set.
        #[command(subcommand)]
        command: TopicCommand,
    },
    /// Join a mesh with an invite key (on a node in no mesh yet).
    Join {
        /// The invite key, `WEFT2…`, or `-` to read it from stdin (so it is not in the
        /// process list, which other local users can read).
        invite: String,
    },
    /// Add a file to this node's blob store (members may then fetch it) and print its id.
    Share {
        /// The file.
        path: PathBuf,
    },
    /// Share a file and send a member a message offering it (id, name, size, type).
    SendFile {
        /// The recipient: its name, its PeerId or a unique part of it.
        peer: PeerArg,
        /// The file.
        path: PathBuf,
        /// Return once the message is durably queued, without waiting for delivery.
        #[arg(long)]
        no_wait: bool,
        /// How long to wait for the acknowledgement, in seconds.
        #[arg(long, default_value_t = 30, value_name = "SECS")]
        timeout: u64,
    },
    /// Fetch a blob from members (resuming what an earlier fetch left), check every chunk,
    /// and write it to a file.
    Fetch {
        /// The blob id, as `weft share` printed it or a file offer carried it: whole, or a
        /// unique beginning of at least 8 hex digits of one offered to this node.
        blob: blob_arg::BlobArg,
        /// Fetch from this member, by name or PeerId (repeatable) [default: every
        /// connected member].
        #[arg(long, value_name = "PEER")]
        from: Vec<PeerArg>,
        /// Where to write it [default: the offered name, else the blob id, in the current
        /// directory].
        #[arg(short, long, value_name = "PATH")]
        out: Option<PathBuf>,
    },
    /// Offer a service from this node (request/reply, load-balanced across providers, with
    /// failover).
    Service {
        /// What to do.
        #[command(subcommand)]
        command: ServiceCommand,
    },
    /// Call a service and print its reply; exit 0 on a reply, 1 with one line otherwise.
    Call {
        /// The service.
        name: String,
        /// The request [default: read from stdin].
        body: Option<String>,
        /// How long to wait for the reply, in seconds.
        #[arg(long, default_value_t = 30.0, value_name = "SECS")]
        timeout: f64,
    },
    /// List the services offered in the mesh: each provider, active or standby, healthy
    /// or not, calls in flight, served, errors, mean and p99 service time.
    Services,
    /// Load-test the mesh through the real paths: round trips (min, p50, p99, max),
    /// throughput and failures, with a live progress line; exit 1 if a call failed.
    Bench {
        /// What to load.
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Push work items, work a queue, and look after it (items are held by the node they
    /// were pushed to until a worker acknowledges them).
    Queue {
        /// What to do.
        #[command(subcommand)]
        command: QueueCommand,
    },
    /// The CURVE keys of the node's local ZeroMQ TCP endpoints (`weft node --zmq
    /// KIND=tcp://127.0.0.1:PORT`): its server key, and the client keys it lets in.
    Zmq {
        /// What to do.
        #[command(subcommand)]
        command: ZmqCommand,
    },
    /// A live byte stream with a member: stdin goes to the other end, what it sends comes
    /// out on stdout (e.g. `ffmpeg … | weft pipe PEER`).
    Pipe {
        /// The member to open a pipe to (name or PeerId).
        #[arg(required_unless_present = "accept", conflicts_with = "accept")]
        peer: Option<PeerArg>,
        /// Wait for a member to open a pipe to this node instead.
        #[arg(long)]
        accept: bool,
        /// With --accept: only from this member (name or PeerId).
        #[arg(long, value_name = "PEER", requires = "accept")]
        from: Option<PeerArg>,
    },
}

/// What `weft bench` loads.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Call SERVICE again and again (as `weft call` does), several calls under way at once.
    Call {
        /// The service.
        service: String,
        /// How much, for how long.
        #[command(flatten)]
        load: LoadArgs,
    },
    /// Send PEER benchmark direct messages (durable, through the outbox), each timed until
    /// PEER acknowledged it; stored in no history. PEER must run with `--bench-dm on`.
    Dm {
        /// The member (name or PeerId).
        peer: PeerArg,
        /// How much, for how long.
        #[command(flatten)]
        load: LoadArgs,
    },
    /// Gossip benchmark messages on TOPIC (stored nowhere), or with --receive count those
    /// that arrive here: lost, duplicated, one-way latency.
    Topic {
        /// The topic (--receive follows it, as `weft subscribe` does).
        topic: String,
        /// How much, for how long (with --receive: --count and --duration only).
        #[command(flatten)]
        load: LoadArgs,
        /// Publish at most this many messages per second [default: as fast as they go].
        #[arg(long, value_name = "PER_SEC", conflicts_with = "receive")]
        rate: Option<f64>,
        /// Receive instead of publish: start this on the receiving members first.
        #[arg(long)]
        receive: bool,
    },
}

/// How much `weft bench` sends, and for how long.
#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// Bytes in each request or message.
    #[arg(long, default_value_t = 64, value_name = "BYTES")]
    size: usize,
    /// Requests kept under way at once (1 to 1024).
    #[arg(long, default_value_t = 1, value_name = "N")]
    in_flight: usize,
    /// How long to keep going, in seconds.
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    duration: f64,
    /// Stop after this many.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
}

impl LoadArgs {
    /// The load, sent at most `rate` per second when given.
    fn load(&self, rate: Option<f64>) -> bench::Load {
        bench::Load {
            size: self.size,
            in_flight: self.in_flight,
            duration: Duration::from_secs_f64(self.duration.clamp(0.0, 365.0 * 24.0 * 3600.0)),
            count: self.count,
            rate,
        }
    }
}

/// `weft service ...`.
#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Offer a service: each call runs CMD with the request on stdin; its stdout is the
    /// reply, a non-zero exit fails the call with the last line of its stderr. Runs until
    /// interrupted.
    Offer {
        /// The service (letters, digits, '-', '_', '.').
        name: String,
        /// Answer only while no active provider is reachable (a backup).
        #[arg(long)]
        standby: bool,
        /// Calls run at once [default: the number of cores].
        #[arg(long, value_name = "N")]
        concurrency: Option<u32>,
        /// Past this many calls running and waiting, take no new ones.
        #[arg(long, value_name = "N")]
        max_inflight: Option<u32>,
        /// Past this CPU load (per cent of one core), take no new calls.
        #[arg(long, value_name = "PCT")]
        max_cpu: Option<u16>,
        /// The command, after `--`.
        #[arg(last = true, required = true, value_name = "CMD")]
        command: Vec<String>,
    },
    /// Restrict who may offer and who may call a service (admins only); a list not given
    /// lifts its restriction.
    Policy {
        /// The service.
        name: String,
        /// Roles (admin, member, mailbox, guest) or PeerIds that may offer it [default:
        /// every member but guests].
        #[arg(long, num_args = 0.., value_name = "ROLE|PEER")]
        offer: Vec<String>,
        /// Roles or PeerIds that may call it [default: everyone in the mesh].
        #[arg(long, num_args = 0.., value_name = "ROLE|PEER")]
        call: Vec<String>,
    },
}

/// `weft zmq ...`. They change files in the data dir, so they work whether or not the node
/// runs; a running node reads the allowed keys at each handshake.
#[derive(Debug, Subcommand)]
pub enum ZmqCommand {
    /// Print the node's CURVE server key (Z85), which clients set as their server key.
    Key,
    /// Let a client's CURVE public key (Z85, 40 characters; quote it for the shell) in.
    Allow {
        /// The client's public key (Z85 keys may start with '-': taken as the key, not a
        /// flag).
        #[arg(allow_hyphen_values = true)]
        key: String,
    },
    /// Stop letting a client's key in (its open connections stay until they close).
    Deny {
        /// The client's public key (as for `allow`).
        #[arg(allow_hyphen_values = true)]
        key: String,
    },
    /// List the client keys let in.
    Allowed,
}

/// `weft queue ...`.
#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Push an item; returns once it is on this node's disk, printing its id.
    Push {
        /// The queue (letters, digits, '-', '_', '.').
        queue: String,
        /// The item [default: read from stdin].
        body: Option<String>,
        /// An idempotency key: an item with the same key is pushed once.
        #[arg(long = "id", value_name = "KEY")]
        key: Option<String>,
    },
    /// Work a queue: each item runs CMD with the item on stdin (WEFT_ITEM_ID and
    /// WEFT_ATTEMPT set); exit 0 acknowledges it, anything else sends it back for another
    /// delivery after a pause, and after --max-deliver to the dead letters. Runs until
    /// interrupted.
    Work {
        /// The queue.
        queue: String,
        /// Items run at once [default: the number of cores].
        #[arg(long, value_name = "N")]
        concurrency: Option<u32>,
        /// Items held beyond those running [default: a quarter of the concurrency].
        #[arg(long, value_name = "N")]
        prefetch: Option<u32>,
        /// Deliveries after which a failing item is a dead letter.
        #[arg(long, default_value_t = 5, value_name = "N")]
        max_deliver: u32,
        /// The command, after `--`.
        #[arg(last = true, required = true, value_name = "CMD")]
        command: Vec<String>,
    },
    /// Show a queue at this node: pending, in flight, done and dead items, and its workers.
    Status {
        /// The queue [default: every queue held or worked here].
        queue: Option<String>,
    },
    /// List the dead letters this node holds for a queue.
    Dead {
        /// The queue.
        queue: String,
    },
    /// Send a dead letter back to the workers.
    Retry {
        /// The queue.
        queue: String,
        /// The item's id, as `weft queue dead` shows it.
        id: String,
    },
    /// Restrict who may push to and who may work a queue (admins only); a list not given
    /// lifts its restriction.
    Policy {
        /// The queue.
        queue: String,
        /// Roles or PeerIds that may push [default: everyone in the mesh].
        #[arg(long, num_args = 0.., value_name = "ROLE|PEER")]
        push: Vec<String>,
        /// Roles or PeerIds that may work it [default: every member but guests].
        #[arg(long, num_args = 0.., value_name = "ROLE|PEER")]
        work: Vec<String>,
    },
}

/// `weft config ...`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print every setting of `weft node` with its effective value and where it came from
    /// (flag, file or default); takes the same flags as `weft node`.
    Show(node_args::NodeArgs),
}

/// `weft mesh ...`.
#[derive(Debug, Subcommand)]
pub enum MeshCommand {
    /// Found a new mesh with this node as its first admin (mesh id derived from its key).
    Create {
        /// The mesh's name.
        #[arg(long)]
        name: Option<String>,
    },
}

/// `weft members ...`.
#[derive(Debug, Subcommand)]
pub enum MembersCommand {
    /// Admit a key you already know, without an invite (admins only).
    Add {
        /// Its PeerId.
        peer: PeerId,
        /// Its role: admin, member, guest or mailbox.
        #[arg(long, default_value = "member")]
        role: weft_proto::mesh::Role,
        /// A name for it.
        #[arg(long)]
        name: Option<String>,
    },
    /// Remove a member, permanently (admins only).
    Remove {
        /// The member: its name, its PeerId or a unique part of it.
        peer: PeerArg,
    },
    /// Change a member's role (admins only).
    Role {
        /// The member: its name, its PeerId or a unique part of it.
        peer: PeerArg,
        /// The new role: admin, member, guest or mailbox.
        role: weft_proto::mesh::Role,
    },
    /// Name a member, the name commands take it by (admins only); no NAME takes it away.
    Name {
        /// The member: its name, its PeerId or a unique part of it.
        peer: PeerArg,
        /// Its new name.
        name: Option<String>,
    },
    /// Give yourself a display name (any member may), shown quoted beside the name the
    /// admins gave you; no NAME takes it back. Commands never take a member by it.
    DisplayName {
        /// The name you call yourself.
        name: Option<String>,
    },
}

/// `weft topic ...`.
#[derive(Debug, Subcommand)]
pub enum TopicCommand {
    /// Restrict who may publish on a topic (admins only); guests never publish anywhere.
    Policy {
        /// The topic.
        topic: String,
        /// Roles (admin, member) or PeerIds allowed to publish; none lifts the restriction.
        #[arg(long, num_args = 0.., value_name = "ROLE|PEER")]
        publish: Vec<String>,
    },
}

/// `weft invite ...`.
#[derive(Debug, Subcommand)]
pub enum InviteCommand {
    /// Print a new invite key (`WEFT2…`).
    Create {
        /// The role the newcomer gets: admin, member, guest or mailbox.
        #[arg(long, default_value = "member")]
        role: weft_proto::mesh::Role,
        /// How long it stays valid (s, m, h or d; at most 90d).
        #[arg(long, default_value = "24h", value_parser = mesh::parse_ttl)]
        ttl: std::time::Duration,
        /// How many times it may be redeemed.
        #[arg(long, default_value_t = 1)]
        uses: u32,
        /// A note to recognise it by in `weft invite list`.
        #[arg(long)]
        note: Option<String>,
        /// Also draw it as a QR code.
        #[arg(long)]
        qr: bool,
    },
    /// Show outstanding invites: id, role, uses left, expiry, note.
    List,
    /// Kill an invite at once.
    Revoke {
        /// Its id, as `weft invite list` shows it.
        id: String,
    },
}

/// Runs the `weft` binary: parses `std::env::args`, hands a command that runs a node to
/// `weft-node` ([`handoff::exec_node_binary`]), runs any other as a client of the node's
/// API, and returns the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.command.in_node_binary() {
        return handoff::exec_node_binary();
    }
    start(cli, run_api)
}

/// Runs the `weft-node` binary: every command, in this process.
pub fn node_main() -> ExitCode {
    if let Some(why) = handoff::handed_by_another_build() {
        eprintln!("error: {why}");
        return ExitCode::FAILURE;
    }
    start(Cli::parse(), |cli| async move {
        if cli.command.in_node_binary() {
            run_local(cli).await
        } else {
            run_api(cli).await
        }
    })
}

/// Runs `command` on a runtime fit for it, and turns its outcome into the exit code.
fn start<F>(cli: Cli, command: impl FnOnce(Cli) -> F) -> ExitCode
where
    F: Future<Output = anyhow::Result<()>>,
{
    // A node (and the demo, which runs three) works on every core; any other command is one
    // client of a node, and starting worker threads would be most of what it costs.
    let runtime = match &cli.command {
        Command::Node(_) | Command::Demo => tokio::runtime::Builder::new_multi_thread(),
        _ => tokio::runtime::Builder::new_current_thread(),
    }
    .enable_all()
    .build();
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if !matches!(cli.command, Command::Node(_)) {
        let level = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into());
        init_logging(&level, node_args::LogFormat::Text);
    }
    match runtime.block_on(command(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<StillQueued>() => {
            eprintln!("{}", output::one_line(&e));
            ExitCode::from(StillQueued::EXIT)
        }
        Err(e) => {
            eprintln!("error: {}", output::one_line(&e));
            ExitCode::FAILURE
        }
    }
}

impl Command {
    /// Whether the command runs a node or opens its files (its database, its keys, its
    /// settings) in this process, and so runs in `weft-node`: every other one is a client
    /// of a running node's API.
    pub fn in_node_binary(&self) -> bool {
        // Every command listed: a new one has to be put on one side or the other.
        match self {
            Command::Node(_)
            | Command::Demo
            | Command::Init { .. }
            | Command::Config { .. }
            | Command::Doctor
            | Command::Zmq { .. } => true,
            Command::Web { .. }
            | Command::Completions { .. }
            | Command::Id
            | Command::Dial { .. }
            | Command::Peers
            | Command::Ping { .. }
            | Command::Send { .. }
            | Command::Publish { .. }
            | Command::Subscribe { .. }
            | Command::Unsubscribe { .. }
            | Command::Chat { .. }
            | Command::Inbox { .. }
            | Command::Status
            | Command::Mesh { .. }
            | Command::Invite { .. }
            | Command::Members { .. }
            | Command::Topic { .. }
            | Command::Join { .. }
            | Command::Share { .. }
            | Command::SendFile { .. }
            | Command::Fetch { .. }
            | Command::Service { .. }
            | Command::Call { .. }
            | Command::Services
            | Command::Bench { .. }
            | Command::Queue { .. }
            | Command::Pipe { .. } => false,
        }
    }
}

/// A message is durably queued but not delivered yet (its recipient is unreachable, or did
/// not acknowledge in time): the command exits with [`StillQueued::EXIT`], not 1, so a
/// script can tell "try later" from "refused".
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StillQueued(String);

impl StillQueued {
    /// The exit status: 75, `EX_TEMPFAIL` in sysexits(3), as sendmail exits when it queued
    /// a message it could not deliver yet.
    pub const EXIT: u8 = 75;
}

/// Runs a command of [`Command::in_node_binary`]: one that runs a node, or opens its files,
/// in this process.
async fn run_local(cli: Cli) -> anyhow::Result<()> {
    let json = cli.json;
    let data_dir = || resolve_data_dir(cli.data_dir.clone());
    match cli.command {
        Command::Demo => crate::demo::run(json).await,
        Command::Init { name } => local::init(&data_dir()?, name, json),
        Command::Node(args) => {
            let dir = data_dir()?;
            let settings = node_args::Settings::resolve(args, node_args::read_file(&dir)?);
            let (level, format) = settings.logging();
            init_logging(&level, format);
            local::node(settings.config(dir), json).await
        }
        Command::Config {
            command: ConfigCommand::Show(args),
        } => {
            let dir = data_dir()?;
            let settings = node_args::Settings::resolve(args, node_args::read_file(&dir)?);
            local::config_show(&dir, &settings, json)
        }
        Command::Doctor => {
            let dir = data_dir()?;
            doctor::doctor(&Client::for_data_dir(&dir), &dir, json).await
        }
        Command::Zmq { command } => zmq::zmq(&data_dir()?, command, json),
        api => unreachable!("{api:?} is a client of the API"),
    }
}

/// Runs a command that talks to the node's API (any but those of
/// [`Command::in_node_binary`]).
async fn run_api(cli: Cli) -> anyhow::Result<()> {
    let json = cli.json;
    let data_dir = || resolve_data_dir(cli.data_dir.clone());
    let client = || data_dir().map(Client::for_data_dir);
    match cli.command {
        local @ (Command::Node(_)
        | Command::Demo
        | Command::Init { .. }
        | Command::Config { .. }
        | Command::Doctor
        | Command::Zmq { .. }) => unreachable!("{local:?} runs in weft-node"),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "weft", &mut script);
            // A reader that stops early (`| head`) is not an error.
            let _ = std::io::Write::write_all(&mut std::io::stdout(), &script);
            Ok(())
        }
        Command::Web { rotate, print } => {
            let dir = data_dir()?;
            web::web(&Client::for_data_dir(&dir), &dir, rotate, print, json).await
        }
        Command::Id => peers::id(&client()?, json).await,
        Command::Dial { addr } => peers::dial(&client()?, &addr, json).await,
        Command::Peers => peers::peers(&client()?, json).await,
        Command::Ping {
            peer,
            count,
            interval,
        } => {
            let client = client()?;
            let peer = peer.resolve(&client).await?;
            peers::ping(&client, peer, count, interval, json).await
        }
        Command::Status => peers::status(&client()?, json).await,
        Command::Send {
            peer,
            text,
            no_wait,
            timeout,
        } => {
            let client = client()?;
            let peer = peer.resolve(&client).await?;
            messages::send(&client, peer, text, !no_wait, timeout, json, None).await
        }
        Command::Publish { topic, text } => {
            messages::publish(&client()?, &topic, &text, json).await
        }
        Command::Subscribe { topic } => messages::subscribe(&client()?, &topic, json).await,
        Command::Unsubscribe { topic } => messages::unsubscribe(&client()?, &topic, json).await,
        Command::Chat { target } => {
            anyhow::ensure!(
                !json,
                "weft chat has no --json output; `weft subscribe --json` and `weft inbox --json` do"
            );
            chat::chat(&client()?, target).await
        }
        Command::Inbox { from, topic, limit } => {
            let client = client()?;
            let from = peer_arg::resolve_some(from, &client).await?;
            messages::inbox(&client, from, topic, limit, json).await
        }
        Command::Mesh {
            command: MeshCommand::Create { name },
        } => mesh::create(&client()?, name, json).await,
        Command::Invite { command } => match command {
            InviteCommand::Create {
                role,
                ttl,
                uses,
                note,
                qr,
            } => {
                let args = mesh::InviteArgs {
                    role,
                    ttl,
                    uses,
                    note,
                    qr,
                };
                mesh::invite(&client()?, args, json).await
            }
            InviteCommand::List => mesh::invites(&client()?, json).await,
            InviteCommand::Revoke { id } => mesh::revoke(&client()?, &id, json).await,
        },
        Command::Members { command } => mesh::members(&client()?, command, json).await,
        Command::Topic {
            command: TopicCommand::Policy { topic, publish },
        } => mesh::topic_policy(&client()?, &topic, publish, json).await,
        Command::Join { invite } => mesh::join(&client()?, &invite, json).await,
        Command::Share { path } => media::share(&client()?, &path, json, true)
            .await
            .map(|_| ()),
        Command::SendFile {
            peer,
            path,
            no_wait,
            timeout,
        } => {
            let client = client()?;
            let peer = peer.resolve(&client).await?;
            let offer = media::share(&client, &path, json, !json).await?;
            let text = offer.to_text();
            messages::send(&client, peer, text, !no_wait, timeout, json, Some(&offer)).await
        }
        Command::Fetch { blob, from, out } => {
            let client = client()?;
            let from = peer_arg::resolve_all(&from, &client).await?;
            let blob = blob.resolve(&client).await?;
            media::fetch(&client, blob, from, out, json).await
        }
        Command::Pipe { peer, from, .. } => {
            let client = client()?;
            let peer = peer_arg::resolve_some(peer, &client).await?;
            let from = peer_arg::resolve_some(from, &client).await?;
            media::pipe(&client, peer, from).await
        }
        Command::Service {
            command:
                ServiceCommand::Offer {
                    name,
                    standby,
                    concurrency,
                    max_inflight,
                    max_cpu,
                    command,
                },
        } => {
            let options = crate::api::client::OfferOptions {
                standby,
                concurrency,
                max_inflight,
                max_cpu_percent: max_cpu,
            };
            services::offer(&client()?, &name, options, command).await
        }
        Command::Service {
            command: ServiceCommand::Policy { name, offer, call },
        } => services::policy(&client()?, &name, offer, call, json).await,
        Command::Call {
            name,
            body,
            timeout,
        } => services::call(&client()?, &name, body, timeout, json).await,
        Command::Services => services::services(&client()?, json).await,
        Command::Bench { command } => bench(&client()?, command, json).await,
        Command::Queue { command } => queue(&client()?, command, json).await,
    }
}

/// Runs a `weft bench` command.
async fn bench(client: &Client, command: BenchCommand, json: bool) -> anyhow::Result<()> {
    match command {
        BenchCommand::Call { service, load } => {
            bench::call(client, &service, load.load(None), json).await
        }
        BenchCommand::Dm { peer, load } => {
            let peer = peer.resolve(client).await?;
            bench::dm(client, peer, load.load(None), json).await
        }
        BenchCommand::Topic {
            topic,
            load,
            receive: true,
            ..
        } => {
            let until = bench::Until {
                count: load.count,
                duration: load.load(None).duration,
            };
            bench::receive(client, &topic, until, json).await
        }
        BenchCommand::Topic {
            topic, load, rate, ..
        } => bench::topic(client, &topic, load.load(rate), json).await,
    }
}

/// Runs a `weft queue` command.
async fn queue(client: &Client, command: QueueCommand, json: bool) -> anyhow::Result<()> {
    match command {
        QueueCommand::Push { queue, body, key } => {
            queues::push(client, &queue, body, key, json).await
        }
        QueueCommand::Work {
            queue,
            concurrency,
            prefetch,
            max_deliver,
            command,
        } => {
            let options = crate::api::client::WorkOptions {
                concurrency,
                prefetch,
                max_deliver: Some(max_deliver),
            };
            queues::work(client, &queue, options, command).await
        }
        QueueCommand::Status { queue } => queues::status(client, queue.as_deref(), json).await,
        QueueCommand::Dead { queue } => queues::dead(client, &queue, json).await,
        QueueCommand::Retry { queue, id } => queues::retry(client, &queue, &id, json).await,
        QueueCommand::Policy { queue, push, work } => {
            queues::policy(client, &queue, push, work, json).await
        }
    }
}

/// Logs go to stderr, filtered by `filter` (a level, or `RUST_LOG`'s syntax), as text or
/// one JSON object per line. Chatty dependencies are held to warnings unless the filter
/// names them.
fn init_logging(filter: &str, format: node_args::LogFormat) {
    let mut directives = filter.to_string();
    for quiet in ["libp2p_gossipsub=warn", "sled=off"] {
        let target = quiet.split('=').next().unwrap_or(quiet);
        if !directives.contains(target) {
            directives.push(',');
            directives.push_str(quiet);
        }
    }
    let filter = tracing_subscriber::EnvFilter::try_new(&directives).unwrap_or_else(|e| {
        eprintln!("warning: log filter `{filter}` is not valid ({e}); using `info`");
        tracing_subscriber::EnvFilter::new("info")
    });
    // Colours only for a terminal: a journal or a log file gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match format {
        node_args::LogFormat::Text => builder.try_init(),
        node_args::LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
