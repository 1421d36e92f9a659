//! The service commands: `service offer` (each call runs a command), `call`, `services`.

use std::io::Write;

use super::command::{body_or_stdin, run};
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
            run(program.clone(), args.clone(), request, Vec::new())
        })
        .await?;
    anyhow::bail!("the node stopped the offer (it is stopping)")
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
    let body = body_or_stdin(body)?;
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
