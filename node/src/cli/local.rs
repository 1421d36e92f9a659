//! The commands that work on the data dir itself: `init` and `node`.

use std::path::Path;

use anyhow::Context;
use weft_proto::limits::MAX_NAME_BYTES;

use super::output::print_json;
use crate::config::Config;
use crate::node::{Init, Node};

/// `weft init`: creates the identity once; refuses, changing nothing, if one exists.
pub fn init(data_dir: &Path, name: Option<String>, json: bool) -> anyhow::Result<()> {
    if let Some(name) = &name {
        if name.is_empty() || name.len() > MAX_NAME_BYTES || name.chars().any(char::is_control) {
            anyhow::bail!("--name must be 1-{MAX_NAME_BYTES} bytes of printable text");
        }
    }
    let peer = match crate::node::init(data_dir, name.as_deref())? {
        Init::Created(peer) => peer,
        Init::Exists(peer) => anyhow::bail!(
            "{} is already initialised as node {peer}; nothing was changed (use another --data-dir for another node)",
            data_dir.display()
        ),
    };
    if json {
        print_json(&serde_json::json!({
            "peer_id": peer.to_string(),
            "data_dir": data_dir.display().to_string(),
        }))
    } else {
        println!("{peer}");
        eprintln!(
            "initialised a weft node in {}; start it with `weft node`",
            data_dir.display()
        );
        Ok(())
    }
}

/// `weft node`: runs until SIGINT or SIGTERM.
pub async fn node(config: Config, json: bool) -> anyhow::Result<()> {
    let data_dir = config.data_dir.clone();
    let node = Node::start(config)
        .await
        .with_context(|| format!("cannot start a node on {}", data_dir.display()))?;
    let suffix = libp2p::multiaddr::Protocol::P2p(node.peer_id);
    let addrs: Vec<String> = node
        .listen_addrs
        .iter()
        .map(|a| a.clone().with(suffix.clone()).to_string())
        .collect();
    let metrics = node.metrics_addr.map(|a| a.to_string());
    if json {
        print_json(&serde_json::json!({
            "peer_id": node.peer_id.to_string(),
            "addrs": addrs,
            "api_socket": node.api_socket.display().to_string(),
            "metrics": metrics,
        }))?;
    } else {
        // A closed stdout (the reader went away) must not take the node down: write, don't
        // println!, and ignore failures.
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "weft node {}", node.peer_id);
        for addr in &addrs {
            let _ = writeln!(out, "listening on {addr}");
        }
        let _ = writeln!(out, "local API on {}", node.api_socket.display());
        if let Some(metrics) = metrics {
            let _ = writeln!(out, "metrics on http://{metrics}/metrics");
        }
    }
    Ok(node.run_until(stop_signal()).await?)
}

/// Resolves on SIGINT or SIGTERM.
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch SIGTERM; stop with Ctrl-C");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted; stopping"),
        _ = term.recv() => tracing::info!("terminated; stopping"),
    }
}

/// `weft config show`: every setting, its value and where it came from.
pub fn config_show(
    data_dir: &std::path::Path,
    settings: &super::node_args::Settings,
    json: bool,
) -> anyhow::Result<()> {
    let rows = settings.rows();
    if json {
        let rows: Vec<_> = rows
            .iter()
            .map(|(key, value, source)| serde_json::json!({"key": key, "value": value, "source": source}))
            .collect();
        return print_json(&rows);
    }
    let file = data_dir.join(super::node_args::CONFIG_FILE);
    println!(
        "# effective settings of `weft node` for {}",
        data_dir.display()
    );
    println!(
        "# file: {} ({})",
        file.display(),
        if file.exists() { "read" } else { "absent" }
    );
    for (key, value, source) in rows {
        let source = format!("{source:?}").to_lowercase();
        println!("{:<46} # {source}", format!("{key} = {value}"));
    }
    Ok(())
}
