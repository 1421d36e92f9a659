//! `weft doctor`: prints the node's checks ([`crate::doctor`]), one line per check with a
//! verdict and, for each problem, what to do; when no node runs, the checks that need none.
//! Exit code 0 only when nothing failed; `--json` prints the checks as a list.

use std::path::Path;

use weft_proto::operate::Verdict;

use super::output::print_json;
use crate::api::client::{Client, ClientError};

/// `weft doctor`.
pub async fn doctor(client: &Client, data_dir: &Path, json: bool) -> anyhow::Result<()> {
    let checks = match client.doctor().await {
        Ok(checks) => checks,
        Err(e @ (ClientError::NotRunning { .. } | ClientError::Io(_))) => {
            crate::doctor::without_node(data_dir, &e.to_string())
        }
        Err(e) => return Err(e.into()),
    };
    if json {
        print_json(&checks)?;
    } else {
        for c in &checks {
            let mark = match c.verdict {
                Verdict::Ok => " ok ",
                Verdict::Warn => "warn",
                Verdict::Fail => "FAIL",
            };
            println!("[{mark}] {:<12} {}", c.check, c.detail);
            if let Some(fix) = &c.fix {
                println!("       {:<12} -> {fix}", "");
            }
        }
    }
    let failed = checks.iter().filter(|c| c.verdict == Verdict::Fail).count();
    anyhow::ensure!(failed == 0, "{failed} check(s) failed");
    Ok(())
}
