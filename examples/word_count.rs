//! A service written with the client: `wordcount` answers each call with the lines, words
//! and bytes of its request, like `wc`. Any member may call it (`weft call wordcount < file`);
//! several nodes may offer it, and each caller's node spreads its calls over them.
//!
//! Start a node in a mesh, then point the service at its data dir:
//!
//! ```sh
//! cargo run --example word_count -- /tmp/bob          # offers `wordcount` from bob's node
//! weft --data-dir /tmp/alice call wordcount "to be or not to be"   # 0 6 18
//! ```
//!
//! The program holds one connection to its node's local API; the node hands it calls (up
//! to the concurrency at once) and it answers them, with no process per call.

use weft::{Client, OfferOptions};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let data_dir = weft::resolve_data_dir(std::env::args_os().nth(1).map(Into::into))?;
    let node = Client::for_data_dir(&data_dir);
    let options = OfferOptions {
        concurrency: Some(16),
        ..OfferOptions::default()
    };
    eprintln!("offering wordcount from {}", node.id().await?.peer_id);
    node.offer("wordcount", options, |request| async move {
        Ok(count(&request).into_bytes())
    })
    .await?;
    anyhow::bail!("the node stopped")
}

/// `lines words bytes` of `text`, as `wc` counts them.
fn count(text: &[u8]) -> String {
    let lines = text.iter().filter(|&&b| b == b'\n').count();
    let words = text
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
        .count();
    format!("{lines} {words} {}", text.len())
}
