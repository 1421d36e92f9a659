//! The checks of `weft doctor`, in order, of what a node needs to talk to its mesh: one
//! verdict each and, for each problem, what to do. A running node computes them for
//! `GET /v1/doctor` (which `weft doctor` and the web page show); when no node runs, the CLI
//! computes the ones that need none ([`without_node`]).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use weft_proto::api::{MemberInfo, PeerInfo, Status};
use weft_proto::operate::{DoctorCheck, Verdict};

use crate::cli::output::{count, datetime, short_peer};
use crate::config::api_socket;
use crate::store::Store;

/// Members re-sync every 10 s; a connected member not synced for this long is worth a look.
const STALE_SYNC_SECS: u64 = 30;

/// Clock skew past which messages' times and invites' expiry go wrong.
const MAX_SKEW_MS: f64 = 30_000.0;

/// Clock skew worth a warning.
const WARN_SKEW_MS: f64 = 2_000.0;

/// Free disk below which the node cannot be trusted to keep what it acknowledged.
const MIN_FREE_BYTES: u64 = 256 << 20;

/// Free disk worth a warning.
const WARN_FREE_BYTES: u64 = 1 << 30;

/// Every check, as the node running on `data_dir` sees itself: its `status`, its
/// `members` and connected `peers`.
pub fn with_node(
    data_dir: &Path,
    status: &Status,
    members: &[MemberInfo],
    peers: &[PeerInfo],
) -> Vec<DoctorCheck> {
    let mut checks = vec![
        permissions(data_dir),
        ok("identity", status.peer_id.clone()),
        ok(
            "node",
            format!(
                "running, up {}s, local API on {}",
                status.uptime_secs,
                api_socket(data_dir).display()
            ),
        ),
    ];
    checks.extend(network(status, members, peers));
    checks.push(disk(data_dir));
    checks
}

/// The checks that need no running node, for `data_dir` whose node could not be asked
/// (`why`).
pub fn without_node(data_dir: &Path, why: &str) -> Vec<DoctorCheck> {
    vec![
        permissions(data_dir),
        stored_identity(data_dir),
        fail(
            "node",
            format!("not running: {why}"),
            format!(
                "start it: `weft --data-dir {} node` (or `systemctl start weft`)",
                data_dir.display()
            ),
        ),
        disk(data_dir),
    ]
}

fn ok(check: &str, detail: impl Into<String>) -> DoctorCheck {
    DoctorCheck {
        check: check.into(),
        verdict: Verdict::Ok,
        detail: detail.into(),
        fix: None,
    }
}

fn warn(check: &str, detail: impl Into<String>, fix: impl Into<String>) -> DoctorCheck {
    DoctorCheck {
        check: check.into(),
        verdict: Verdict::Warn,
        detail: detail.into(),
        fix: Some(fix.into()),
    }
}

fn fail(check: &str, detail: impl Into<String>, fix: impl Into<String>) -> DoctorCheck {
    DoctorCheck {
        check: check.into(),
        verdict: Verdict::Fail,
        detail: detail.into(),
        fix: Some(fix.into()),
    }
}

/// The data dir holds the secret key: it must be the user's and closed to others.
fn permissions(dir: &Path) -> DoctorCheck {
    let meta = match std::fs::metadata(dir) {
        Ok(m) => m,
        Err(e) => {
            return fail(
                "data dir",
                format!("{}: {e}", dir.display()),
                "create the node with `weft init`, or pass the right --data-dir",
            );
        }
    };
    let mode = meta.permissions().mode() & 0o777;
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return fail(
            "data dir",
            format!(
                "{} belongs to uid {}, not to you (uid {me})",
                dir.display(),
                meta.uid()
            ),
            format!(
                "run weft as its owner, or `chown -R $(id -u) {}`",
                dir.display()
            ),
        );
    }
    if mode & 0o077 != 0 {
        return fail(
            "data dir",
            format!(
                "{} is mode {mode:03o}: others can read the node's secret key",
                dir.display()
            ),
            format!("chmod 700 {}", dir.display()),
        );
    }
    let socket = api_socket(dir);
    if let Ok(meta) = std::fs::metadata(&socket)
        && meta.permissions().mode() & 0o077 != 0
    {
        return fail(
            "data dir",
            format!(
                "{} is open to others: they could drive the node",
                socket.display()
            ),
            format!("chmod 600 {} (the node sets it at start)", socket.display()),
        );
    }
    ok(
        "data dir",
        format!("{} is {mode:03o} and yours", dir.display()),
    )
}

/// The identity in the store (no node holds it open).
fn stored_identity(dir: &Path) -> DoctorCheck {
    match Store::open(dir).map(|store| store.identity.load()) {
        Ok(Ok(Some(identity))) => match crate::node::keypair(&identity) {
            Ok(key) => ok("identity", key.public().to_peer_id().to_string()),
            Err(e) => fail(
                "identity",
                e.to_string(),
                "the stored key is damaged; restore the data dir from a backup",
            ),
        },
        Ok(Ok(None)) => fail("identity", "none yet", "create one with `weft init`"),
        Ok(Err(e)) | Err(e) => fail("identity", e.to_string(), "check the data dir"),
    }
}

/// What the running node says of its network: listeners, mesh, reachability, relays,
/// members, clocks.
fn network(status: &Status, members: &[MemberInfo], peers: &[PeerInfo]) -> Vec<DoctorCheck> {
    let mut checks = Vec::new();
    if let Some(removed) = &status.removed {
        checks.push(fail(
            "membership",
            format!(
                "this node was removed from its mesh by {} (learnt {}); members refuse its connections",
                removed.by,
                datetime(removed.at * 1_000_000)
            ),
            "ask an admin for a new invite to a mesh, with a new data dir (removal is permanent for this key)",
        ));
        return checks;
    }
    let (relayed, direct): (Vec<&String>, Vec<&String>) = status
        .listen_addrs
        .iter()
        .partition(|a| a.contains("/p2p-circuit"));
    checks.push(if direct.is_empty() {
        fail(
            "listeners",
            "none bound",
            "restart the node with a free --listen address",
        )
    } else {
        let shown: Vec<&str> = direct.iter().map(|a| a.as_str()).collect();
        ok(
            "listeners",
            format!("{} (+{} relayed)", shown.join(", "), relayed.len()),
        )
    });
    let Some(mesh) = &status.mesh else {
        checks.push(fail(
            "mesh",
            "this node is in no mesh; it accepts no one",
            "found one with `weft mesh create` or join one with `weft join INVITE`",
        ));
        return checks;
    };
    let others: Vec<&MemberInfo> = members
        .iter()
        .filter(|m| m.peer_id != status.peer_id)
        .collect();
    let connected = others.iter().filter(|m| m.connected).count();
    let stale: Vec<String> = peers
        .iter()
        .filter(|p| p.synced_secs_ago.is_none_or(|s| s > STALE_SYNC_SECS))
        .filter(|p| others.iter().any(|m| m.peer_id == p.peer_id))
        .map(|p| short_peer(&p.peer_id))
        .collect();
    checks.push(if !others.is_empty() && connected == 0 {
        fail(
            "mesh",
            format!(
                "member of {mesh} ({}) but connected to none: the ACL cannot sync",
                count(members.len() as u64, "member")
            ),
            "see the members below; `weft dial ADDR` one you can reach",
        )
    } else if !stale.is_empty() {
        warn(
            "mesh",
            format!(
                "member of {mesh}; ACL not synced within {STALE_SYNC_SECS} s with {}",
                stale.join(", ")
            ),
            "they may run another version or refuse this node: look for `sync` in their logs",
        )
    } else {
        ok(
            "mesh",
            format!(
                "member of {mesh}: {}, {connected} connected, ACL synced with each within {STALE_SYNC_SECS} s",
                count(members.len() as u64, "member")
            ),
        )
    });
    let reach = &status.relay.reachability;
    // Members that dialled this node directly prove it reachable, at least from their
    // networks, whatever one AutoNAT probe concluded.
    let dialled_in = peers
        .iter()
        .filter(|p| p.direction == "inbound" && p.path == "direct")
        .count();
    checks.push(match reach.as_str() {
        "private" if dialled_in > 0 => ok(
            "reachability",
            format!(
                "dialled directly by {}; AutoNAT found it private from elsewhere (members on other networks reach it through a relay)",
                count(dialled_in as u64, "member")
            ),
        ),
        "private" => warn(
            "reachability",
            "private: peers cannot dial this node directly (AutoNAT)",
            "members reach it through a relay (next check); or open its port on the router",
        ),
        "unknown" => ok(
            "reachability",
            "not probed yet (AutoNAT asks connected peers after a few seconds)",
        ),
        _ => ok("reachability", reach.clone()),
    });
    checks.push(match (reach.as_str(), status.relay.reserved_on.len()) {
        ("private", 0) if dialled_in == 0 => fail(
            "relays",
            "reachable by no one: not public and no relay slot",
            "connect to a member that relays (`weft node --relay on` there, the default)",
        ),
        (_, 0) => ok("relays", "no relay slot held (not needed while reachable)"),
        (_, n) => ok(
            "relays",
            format!(
                "slots on {n} relay(s): {}",
                status
                    .relay
                    .reserved_on
                    .iter()
                    .map(|p| short_peer(p))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
    });
    for member in others {
        checks.push(member_check(member, peers));
    }
    checks.push(clocks(peers));
    checks
}

fn member_check(member: &MemberInfo, peers: &[PeerInfo]) -> DoctorCheck {
    let name = member
        .name
        .as_deref()
        .map_or(String::new(), |n| format!(" ({n})"));
    let who = format!("{}{name}", short_peer(&member.peer_id));
    match peers.iter().find(|p| p.peer_id == member.peer_id) {
        Some(p) => ok(
            "member",
            format!(
                "{who}: connected, {}, rtt {}",
                p.path,
                p.rtt_ms
                    .map_or("not measured yet".into(), |ms| format!("{ms:.2} ms"))
            ),
        ),
        None => fail(
            "member",
            format!("{who}: not connected (unreachable at the addresses this node knows)"),
            format!(
                "check that its node runs and its port is open; `weft dial ADDR/p2p/{}` with an address that works",
                member.peer_id
            ),
        ),
    }
}

fn clocks(peers: &[PeerInfo]) -> DoctorCheck {
    let worst = peers
        .iter()
        .filter_map(|p| Some((p, p.clock_skew_ms?)))
        .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()));
    match worst {
        None => ok("clock", "no peer's clock measured yet"),
        Some((p, skew)) if skew.abs() > MAX_SKEW_MS => fail(
            "clock",
            format!(
                "{} is {:.1} s apart from this node",
                short_peer(&p.peer_id),
                skew / 1000.0
            ),
            "synchronise clocks (NTP, e.g. `timedatectl set-ntp true`) on both machines",
        ),
        Some((p, skew)) if skew.abs() > WARN_SKEW_MS => warn(
            "clock",
            format!(
                "{} is {:.1} s apart from this node",
                short_peer(&p.peer_id),
                skew / 1000.0
            ),
            "synchronise clocks with NTP",
        ),
        Some((_, skew)) => ok(
            "clock",
            format!(
                "within {:.0} ms of every peer measured",
                skew.abs().max(1.0)
            ),
        ),
    }
}

fn disk(dir: &Path) -> DoctorCheck {
    let free = match rustix::fs::statvfs(dir) {
        Ok(s) => s.f_bavail.saturating_mul(s.f_frsize),
        Err(e) => {
            return warn(
                "disk",
                format!("cannot tell free space: {e}"),
                "check `df` by hand",
            );
        }
    };
    let shown = crate::cli::media::bytes(free);
    if free < MIN_FREE_BYTES {
        fail(
            "disk",
            format!("{shown} free under {}", dir.display()),
            "free space: a node that cannot write stops rather than lose what it acknowledged",
        )
    } else if free < WARN_FREE_BYTES {
        warn("disk", format!("{shown} free"), "free some space soon")
    } else {
        ok("disk", format!("{shown} free"))
    }
}
