//! The service commands: `service offer` (each call runs a command), `call`, `services`.

use std::io::{Read, Write};
use std::process::Stdio;

use tokio::io::AsyncWriteExt;

use super::output::{admitted, print_json, printable, short_peer};
use crate::api::client::{Client, OfferOptions};

/// `weft service offer NAME -- CMD [ARGS]...`: serves each call by running `command` with
/// the request on its stdin; its stdout is the reply, and a non-zero exit fails the call
/// with the last line of its stderr. Runs until interrupted.
pub async fn offer(
    client: &Client,
    name: &str,
    options: OfferOptions,
    command: Vec<String>,
) -> anyhow::Result<()> {
    let Some((program, args)) = command.split_first() else {
        anyhow::bail!("name the command that answers each call, after `--`");
    };
    let (program, args) = (program.clone(), args.to_vec());
    let role = if options.standby { "standby" } else { "active" };
    eprintln!(
        "offering `{name}` ({role}); each call runs `{}`; Ctrl-C stops",
        command.join(" ")
    );
    client
        .offer(name, options, move |request| {
            run(program.clone(), args.clone(), request)
        })
        .await?;
    anyhow::bail!("the node stopped the offer (it is stopping)")
}

/// Runs `program` with `request` on stdin: its stdout, or the last line of its stderr.
async fn run(program: String, args: Vec<String>, request: Vec<u8>) -> Result<Vec<u8>, String> {
    let mut child = tokio::process::Command::new(&program)
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its input is not a failure.
        let _ = stdin.write_all(&request).await;
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

/// `weft service policy NAME --offer ... --call ...`.
pub async fn policy(
    client: &Client,
    name: &str,
    offer: Vec<String>,
    call: Vec<String>,
    json: bool,
) -> anyhow::Result<()> {
    client
        .service_policy(name, offer.clone(), call.clone())
        .await?;
    if json {
        return print_json(&serde_json::json!({ "service": name, "offer": offer, "call": call }));
    }
    println!(
        "{name}: offered by {}; called by {}",
        admitted(&offer, "every member but guests"),
        admitted(&call, "everyone in the mesh")
    );
    Ok(())
}

/// `weft call NAME [BODY]`: the reply to stdout as it came (bytes), or one line why not.
pub async fn call(
    client: &Client,
    name: &str,
    body: Option<String>,
    timeout_secs: f64,
    json: bool,
) -> anyhow::Result<()> {
    let body = match body {
        Some(body) => body.into_bytes(),
        None => {
            let mut body = Vec::new();
            std::io::stdin().read_to_end(&mut body)?;
            body
        }
    };
    let timeout_ms = (timeout_secs.max(0.0) * 1000.0) as u64;
    let reply = client.call(name, body, timeout_ms).await?;
    if json {
        let text = String::from_utf8_lossy(&reply);
        print_json(&serde_json::json!({ "service": name, "bytes": reply.len(), "reply": text }))
    } else {
        let mut stdout = std::io::stdout().lock();
        // A reader that stops early (`| head`) is not an error.
        let _ = stdout.write_all(&reply);
        let _ = stdout.flush();
        Ok(())
    }
}

/// `weft services`: every service offered in the mesh, each provider on a line.
pub async fn services(client: &Client, json: bool) -> anyhow::Result<()> {
    let services = client.services().await?;
    if json {
        return print_json(&services);
    }
    if services.is_empty() {
        println!("no service is offered in the mesh (offer one with `weft service offer`)");
        return Ok(());
    }
    let names: std::collections::HashMap<String, String> = client
        .members()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| Some((m.peer_id, m.name?)))
        .collect();
    println!(
        "{:<20} {:<26} {:<8} {:<9} {:>9} {:>8} {:>7} {:>9} {:>9}",
        "SERVICE", "PROVIDER", "ROLE", "HEALTH", "IN-FLIGHT", "SERVED", "ERRORS", "MEAN", "P99"
    );
    for service in &services {
        for p in &service.providers {
            let short = short_peer(&p.peer_id);
            let who = match names.get(&p.peer_id) {
                Some(name) => format!("{} ({short})", printable(name)),
                None => short,
            };
            let who = if p.local {
                format!("{who} [here]")
            } else {
                who
            };
            let role = if p.standby { "standby" } else { "active" };
            let health = match (p.healthy, p.load.overloaded) {
                (_, true) => "overload",
                (true, false) => "healthy",
                (false, false) => "down",
            };
            println!(
                "{:<20} {:<26} {:<8} {:<9} {:>9} {:>8} {:>7} {:>9} {:>9}",
                service.name.as_str(),
                who,
                role,
                health,
                p.load.in_flight + p.load.queued,
                p.load.served,
                p.load.errors,
                millis(p.load.mean_us),
                millis(p.load.p99_us),
            );
        }
    }
    Ok(())
}

fn millis(us: u32) -> String {
    format!("{:.1} ms", f64::from(us) / 1000.0)
}
