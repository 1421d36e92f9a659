//! CURVE on the TCP endpoints: the node's server key, the client keys let in
//! (`DATA_DIR/zmq/allowed`, one Z85 key a line, kept by `weft zmq allow`), and the ZAP
//! handler that libzmq asks about each handshake. The handler is bound before any TCP
//! endpoint: with none, libzmq would let every CURVE client in.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::Endpoint;
use super::socket::{Frames, Socket};

/// Where libzmq asks ZAP questions (ZeroMQ RFC 27).
pub const ZAP_ENDPOINT: &str = "inproc://zeromq.zap.01";

/// The ZAP domain of weft's endpoints.
pub const DOMAIN: &str = "weft";

/// The file of client keys let in, inside `DATA_DIR/zmq`.
pub const ALLOWED_FILE: &str = "allowed";

/// The file the node writes its server key to at start, for `weft zmq key`.
pub const SERVER_KEY_FILE: &str = "server.key";

/// The most keys the allowed file is read for (those past it are not let in).
const MAX_ALLOWED: usize = 10_000;

/// A Z85-encoded CURVE public key, checked.
pub fn parse_key(text: &str) -> Result<[u8; 32], String> {
    let text = text.trim();
    let bytes = zmq::z85_decode(text)
        .ok()
        .filter(|b| b.len() == 32 && text.len() == 40)
        .ok_or_else(|| format!("`{text}` is not a CURVE public key (40 characters of Z85)"))?;
    let mut key = [0; 32];
    key.copy_from_slice(&bytes);
    Ok(key)
}

/// `key` in Z85, as ZeroMQ programs write keys.
pub fn z85(key: &[u8; 32]) -> String {
    // 32 bytes is a multiple of 4, all Z85 asks.
    zmq::z85_encode(key).unwrap_or_default()
}

/// The client keys let in: those in `dir/allowed` (none if it does not exist).
pub fn allowed(dir: &Path) -> Result<Vec<[u8; 32]>, String> {
    let path = dir.join(ALLOWED_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .take(MAX_ALLOWED)
        .map(|l| parse_key(l).map_err(|e| format!("{}: {e}", path.display())))
        .collect()
}

/// Lets `key` in (or, with `allow` false, no longer), rewriting `dir/allowed` whole: true if
/// that changed anything.
pub fn set_allowed(dir: &Path, key: &[u8; 32], allow: bool) -> Result<bool, String> {
    let mut keys = allowed(dir)?;
    let had = keys.contains(key);
    if had == allow {
        return Ok(false);
    }
    keys.retain(|k| k != key);
    if allow {
        keys.push(*key);
    }
    private_dir(dir)?;
    let path = dir.join(ALLOWED_FILE);
    let next = dir.join(format!("{ALLOWED_FILE}.new"));
    let fail = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&next)
        .map_err(fail)?;
    let mut text = String::from("# CURVE client keys let into this node's ZeroMQ endpoints\n");
    for key in &keys {
        text.push_str(&z85(key));
        text.push('\n');
    }
    file.write_all(text.as_bytes()).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    std::fs::rename(&next, &path).map_err(fail)?;
    Ok(true)
}

/// Creates `dir` owner-only (0700) if it does not exist.
pub fn private_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

/// Answers libzmq's ZAP requests on `socket` (bound at [`ZAP_ENDPOINT`]): a CURVE client
/// whose key is in `dir/allowed` is let in, anyone else is not. Runs until the socket fails.
pub async fn serve(mut socket: Socket, dir: PathBuf, door: Endpoint) {
    loop {
        let request = match socket.recv().await {
            Ok(request) => request,
            Err(e) => return door.broken(e),
        };
        let reply = answer(&request, &dir, &door);
        if let Err(e) = socket.send(&reply).await {
            return door.broken(e);
        }
    }
}

/// The reply to one ZAP request: `[version, id, status, text, user, metadata]`.
fn answer(request: &Frames, dir: &Path, door: &Endpoint) -> Frames {
    let id = request.get(1).cloned().unwrap_or_default();
    let reply = |status: &str, text: &str, user: Vec<u8>| {
        vec![
            b"1.0".to_vec(),
            id.clone(),
            status.as_bytes().to_vec(),
            text.as_bytes().to_vec(),
            user,
            Vec::new(),
        ]
    };
    let address = request
        .get(3)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .unwrap_or_default();
    let key = match request.as_slice() {
        [_, _, _, _, _, mechanism, key] if mechanism == b"CURVE" && key.len() == 32 => {
            let mut k = [0; 32];
            k.copy_from_slice(key);
            k
        }
        _ => {
            door.refused(
                "mechanism",
                &format!("a client at {address} did not use CURVE"),
            );
            return reply("400", "CURVE only", Vec::new());
        }
    };
    match allowed(dir) {
        Ok(keys) if keys.contains(&key) => reply("200", "OK", z85(&key).into_bytes()),
        Ok(_) => {
            let shown = z85(&key);
            door.refused(
                "key",
                &format!(
                    "a CURVE client at {address} with key {shown} is not allowed (let it in with `weft zmq allow '{shown}'`)"
                ),
            );
            reply("400", "key not allowed", Vec::new())
        }
        Err(e) => {
            door.refused("allowed-file", &e);
            reply("500", "allowed keys unreadable", Vec::new())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_let_in_and_out() {
        let dir = tempfile::tempdir().unwrap();
        let zmq = dir.path().join("zmq");
        let key = [7; 32];
        assert!(allowed(&zmq).unwrap().is_empty());
        assert!(set_allowed(&zmq, &key, true).unwrap());
        assert!(!set_allowed(&zmq, &key, true).unwrap());
        assert_eq!(allowed(&zmq).unwrap(), vec![key]);
        assert_eq!(parse_key(&z85(&key)).unwrap(), key);
        assert!(set_allowed(&zmq, &key, false).unwrap());
        assert!(allowed(&zmq).unwrap().is_empty());
        assert!(parse_key("not a key").is_err());
        assert!(parse_key(&z85(&key)[..35]).is_err());
    }
}
