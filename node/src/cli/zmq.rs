//! `weft zmq`: the CURVE keys of the node's local ZeroMQ TCP endpoints, kept in
//! `DATA_DIR/zmq` (see [`crate::zmq::curve`]).

use std::path::Path;

use anyhow::Context;

use super::ZmqCommand;
use super::output::print_json;
use crate::zmq::curve;

/// `weft zmq key|allow|deny|allowed`.
pub fn zmq(data_dir: &Path, command: ZmqCommand, json: bool) -> anyhow::Result<()> {
    let dir = data_dir.join("zmq");
    let set = |key: &str, allow: bool| -> anyhow::Result<()> {
        let key = curve::parse_key(key).map_err(anyhow::Error::msg)?;
        let changed = curve::set_allowed(&dir, &key, allow).map_err(anyhow::Error::msg)?;
        let shown = curve::z85(&key);
        if json {
            return print_json(
                &serde_json::json!({ "key": shown, "allowed": allow, "changed": changed }),
            );
        }
        match (allow, changed) {
            (true, true) => println!("{shown} may connect to the tcp endpoints"),
            (true, false) => println!("{shown} was already allowed"),
            (false, true) => {
                println!("{shown} is no longer let in (open connections stay until they close)")
            }
            (false, false) => println!("{shown} was not allowed"),
        }
        Ok(())
    };
    match command {
        ZmqCommand::Key => {
            let path = dir.join(curve::SERVER_KEY_FILE);
            let key = std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "no server key in {}: start the node with a ZeroMQ endpoint (`weft node --zmq ...`) once; it writes its key there",
                    dir.display()
                )
            })?;
            let key = key.trim();
            if json {
                return print_json(&serde_json::json!({ "server_key": key }));
            }
            println!("{key}");
            Ok(())
        }
        ZmqCommand::Allow { key } => set(&key, true),
        ZmqCommand::Deny { key } => set(&key, false),
        ZmqCommand::Allowed => {
            let keys: Vec<String> = curve::allowed(&dir)
                .map_err(anyhow::Error::msg)?
                .iter()
                .map(curve::z85)
                .collect();
            if json {
                return print_json(&keys);
            }
            for key in keys {
                println!("{key}");
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::super::{Cli, Command, ZmqCommand};

    #[test]
    fn a_key_that_starts_with_a_dash_is_a_key() {
        // '-' is one of Z85's 85 characters: one random key in 85 starts with it.
        let key = "-s3kWyB2KrFEN$7!Lp}nhI?1ch.C%}CSzVW6dN{#";
        for verb in ["allow", "deny"] {
            let cli = Cli::try_parse_from(["weft", "zmq", verb, key]).unwrap();
            let Command::Zmq { command } = cli.command else {
                panic!("not zmq: {:?}", cli.command);
            };
            let (ZmqCommand::Allow { key: parsed } | ZmqCommand::Deny { key: parsed }) = command
            else {
                panic!("not {verb}: {command:?}");
            };
            assert_eq!(parsed, key);
        }
    }
}
