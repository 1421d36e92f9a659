//! The queue commands: `queue push`, `queue work` (each item runs a command), `queue
//! status`, `queue dead`, `queue retry`, `queue policy`.

use super::command::{body_or_stdin, run};
use super::output::{admitted, count, datetime, print_json, printable};
use crate::api::client::{Client, WorkOptions};

/// `weft queue push QUEUE [BODY] [--id KEY]`: the item's id once it is on disk.
pub async fn push(
    client: &Client,
    queue: &str,
    body: Option<String>,
    key: Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    let body = body_or_stdin(body)?;
    let pushed = client.push(queue, body, key.as_deref()).await?;
    if json {
        return print_json(&pushed);
    }
    if pushed.new {
        println!("{}", pushed.id);
    } else {
        println!(
            "{} (pushed before with this key; not enqueued again)",
            pushed.id
        );
    }
    Ok(())
}

/// `weft queue work QUEUE -- CMD [ARGS]...`: runs `command` for each item, the item on its
/// stdin (`WEFT_QUEUE`, `WEFT_ITEM_ID` and `WEFT_ATTEMPT` in its environment); exit 0
/// acknowledges it, anything else fails it with the last line of its stderr. Runs until
/// interrupted.
pub async fn work(
    client: &Client,
    queue: &str,
    options: WorkOptions,
    command: Vec<String>,
) -> anyhow::Result<()> {
    let Some((program, args)) = command.split_first() else {
        anyhow::bail!("name the command that runs each item, after `--`");
    };
    let (program, args) = (program.clone(), args.to_vec());
    eprintln!(
        "working `{queue}`; each item runs `{}`; Ctrl-C stops",
        command.join(" ")
    );
    let name = queue.to_string();
    client
        .work(queue, options, move |item| {
            let envs = vec![
                ("WEFT_QUEUE", name.clone()),
                ("WEFT_ITEM_ID", item.id.to_string()),
                ("WEFT_ATTEMPT", item.attempt.to_string()),
            ];
            let ran = run(program.clone(), args.clone(), item.body, envs);
            async move { ran.await.map(|_| ()) }
        })
        .await?;
    anyhow::bail!("the node stopped the work (it is stopping)")
}

/// `weft queue status [QUEUE]`: one queue, or every queue held or worked here.
pub async fn status(client: &Client, queue: Option<&str>, json: bool) -> anyhow::Result<()> {
    let statuses = match queue {
        Some(queue) => vec![client.queue_status(queue).await?],
        None => client.queues().await?,
    };
    if json {
        return match queue {
            Some(_) => print_json(&statuses[0]),
            None => print_json(&statuses),
        };
    }
    if statuses.is_empty() {
        println!("no queue is held or worked here (push with `weft queue push`)");
    }
    for s in &statuses {
        println!(
            "{} here: {} pending, {} in flight, {} done, {} dead; {} redelivered; {} workers pulling",
            s.queue, s.pending, s.in_flight, s.done, s.dead, s.redeliveries, s.workers
        );
        if s.producers > 0 || s.working > 0 {
            println!(
                "  worked here: from {}, {} held now",
                count(s.producers, "producer"),
                count(s.working, "item")
            );
        }
    }
    Ok(())
}

/// `weft queue dead QUEUE`: the dead letters held here, oldest first.
pub async fn dead(client: &Client, queue: &str, json: bool) -> anyhow::Result<()> {
    let dead = client.dead_letters(queue).await?;
    if json {
        return print_json(&dead);
    }
    if dead.is_empty() {
        println!("no dead letters of {queue} here");
        return Ok(());
    }
    println!(
        "{:<32}  {:<19}  {:>8}  {:>8}  REASON",
        "ID", "PUSHED", "BYTES", "ATTEMPTS"
    );
    for d in &dead {
        println!(
            "{:<32}  {:<19}  {:>8}  {:>8}  {}",
            d.id,
            datetime(d.pushed_ms * 1000),
            d.size,
            d.attempts,
            printable(&d.reason)
        );
    }
    Ok(())
}

/// `weft queue retry QUEUE ID`.
pub async fn retry(client: &Client, queue: &str, id: &str, json: bool) -> anyhow::Result<()> {
    client.retry(queue, id).await?;
    if json {
        return print_json(&serde_json::json!({ "queue": queue, "id": id, "retried": true }));
    }
    println!("{id} is back in {queue}, its deliveries counted afresh");
    Ok(())
}

/// `weft queue policy QUEUE --push ... --work ...`.
pub async fn policy(
    client: &Client,
    queue: &str,
    push: Vec<String>,
    work: Vec<String>,
    json: bool,
) -> anyhow::Result<()> {
    client
        .queue_policy(queue, push.clone(), work.clone())
        .await?;
    if json {
        return print_json(&serde_json::json!({ "queue": queue, "push": push, "work": work }));
    }
    println!(
        "{queue}: pushed to by {}; worked by {}",
        admitted(&push, "everyone in the mesh"),
        admitted(&work, "every member but guests")
    );
    Ok(())
}
