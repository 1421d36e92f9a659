//! What the service and queue commands share: running a command per request or item, and
//! a body given as an argument or read from stdin.

use std::io::Read;
use std::process::Stdio;

use tokio::io::AsyncWriteExt;

/// Runs `program` with `args`, `input` on its stdin and `envs` in its environment: its
/// stdout, or the last line of its stderr (or its exit status) when it fails.
pub async fn run(
    program: String,
    args: Vec<String>,
    input: Vec<u8>,
    envs: Vec<(&'static str, String)>,
) -> Result<Vec<u8>, String> {
    let mut child = tokio::process::Command::new(&program)
        .args(&args)
        .envs(envs)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its input is not a failure.
        let _ = stdin.write_all(&input).await;
    }
    let output = child
        .wait_with_output()
        .await
        .map_err(|e| format!("{program}: {e}"))?;
    if output.status.success() {
        return Ok(output.stdout);
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
    Err(match last {
        Some(line) => line.trim().to_string(),
        None => format!("{program} exited with {}", output.status),
    })
}

/// `body` as bytes, or all of stdin when it is not given.
pub fn body_or_stdin(body: Option<String>) -> std::io::Result<Vec<u8>> {
    match body {
        Some(body) => Ok(body.into_bytes()),
        None => {
            let mut body = Vec::new();
            std::io::stdin().read_to_end(&mut body)?;
            Ok(body)
        }
    }
}
