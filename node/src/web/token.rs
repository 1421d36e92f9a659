//! The web page's access token: 32 random bytes, written as 64 hex digits in
//! `DATA_DIR/web-token` (mode 0600), held by the running node, compared in constant time and
//! replaced at once by [`Tokens::rotate`].

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::network::NodeError;

/// The token file's name inside the data dir.
pub const TOKEN_FILE: &str = "web-token";

/// Random bytes in a token.
const TOKEN_BYTES: usize = 32;

/// An access token, as the hex text a browser presents. Zeroized on drop; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct WebToken(Zeroizing<String>);

impl WebToken {
    /// A fresh random token.
    fn generate() -> Result<WebToken, NodeError> {
        let mut bytes = Zeroizing::new([0u8; TOKEN_BYTES]);
        getrandom::fill(bytes.as_mut())
            .map_err(|e| NodeError::Invalid(format!("no randomness for the web token: {e}")))?;
        let mut hex = Zeroizing::new(String::with_capacity(2 * TOKEN_BYTES));
        for b in bytes.iter() {
            hex.push(char::from(HEX[usize::from(b >> 4)]));
            hex.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        Ok(WebToken(hex))
    }

    /// A token read back from its file: exactly 64 lower-case hex digits, else `None`.
    fn parse(text: &str) -> Option<WebToken> {
        let text = text.trim();
        let well_formed = text.len() == 2 * TOKEN_BYTES && text.bytes().all(|b| HEX.contains(&b));
        well_formed.then(|| WebToken(Zeroizing::new(text.to_string())))
    }

    /// The token's text, for the URL that `weft web` prints.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for WebToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebToken(..)")
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The node's current token and its file. Cloning shares them.
#[derive(Clone, Debug)]
pub struct Tokens {
    path: PathBuf,
    current: Arc<RwLock<WebToken>>,
}

impl Tokens {
    /// The token in `data_dir`'s token file, or a new one written there when the file is
    /// absent or damaged.
    pub fn open(data_dir: &Path) -> Result<Tokens, NodeError> {
        let path = data_dir.join(TOKEN_FILE);
        let token = match std::fs::read_to_string(&path) {
            Ok(mut text) => {
                let token = WebToken::parse(&text);
                text.zeroize();
                token
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(file_error(&path, &e)),
        };
        let token = match token {
            Some(token) => {
                // Closed to others whatever an editor or a restore left it as.
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| file_error(&path, &e))?;
                token
            }
            None => {
                let token = WebToken::generate()?;
                write(&path, &token)?;
                token
            }
        };
        Ok(Tokens {
            path,
            current: Arc::new(RwLock::new(token)),
        })
    }

    /// Replaces the token, in the file and in memory: the old one opens nothing from now on.
    pub fn rotate(&self) -> Result<WebToken, NodeError> {
        let token = WebToken::generate()?;
        write(&self.path, &token)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = token.clone();
        tracing::info!(file = %self.path.display(), "web token rotated");
        Ok(token)
    }

    /// The current token.
    pub fn current(&self) -> WebToken {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether `presented` is the current token, compared in constant time (its length
    /// aside, which is public).
    pub fn admits(&self, presented: &[u8]) -> bool {
        let current = self.current.read().unwrap_or_else(|e| e.into_inner());
        current.0.as_bytes().ct_eq(presented).into()
    }
}

/// Writes `token` to `path` atomically, mode 0600 from the start (a temporary file in the
/// same dir, renamed over the old one).
fn write(path: &Path, token: &WebToken) -> Result<(), NodeError> {
    use std::io::Write;
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    // tempfile creates its files 0600.
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(|e| file_error(path, &e))?;
    file.write_all(token.expose().as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.as_file().sync_all())
        .map_err(|e| file_error(path, &e))?;
    file.persist(path).map_err(|e| file_error(path, &e.error))?;
    Ok(())
}

fn file_error(path: &Path, e: &std::io::Error) -> NodeError {
    NodeError::Invalid(format!(
        "cannot use the web token file {}: {e}",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_token_is_kept_across_starts_in_a_private_file_and_rotation_replaces_it() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = Tokens::open(dir.path()).unwrap();
        let first = tokens.current();
        assert_eq!(first.expose().len(), 64);
        let file = dir.path().join(TOKEN_FILE);
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(Tokens::open(dir.path()).unwrap().current(), first);
        assert!(tokens.admits(first.expose().as_bytes()));

        let second = tokens.rotate().unwrap();
        assert_ne!(second, first);
        assert!(!tokens.admits(first.expose().as_bytes()));
        assert!(tokens.admits(second.expose().as_bytes()));
        assert_eq!(Tokens::open(dir.path()).unwrap().current(), second);
        assert_eq!(format!("{second:?}"), "WebToken(..)");
    }

    #[test]
    fn a_damaged_file_is_replaced_and_near_misses_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(TOKEN_FILE), "not a token").unwrap();
        let tokens = Tokens::open(dir.path()).unwrap();
        let token = tokens.current();
        assert!(WebToken::parse(token.expose()).is_some());
        let mut near = token.expose().as_bytes().to_vec();
        near[63] = if near[63] == b'0' { b'1' } else { b'0' };
        assert!(!tokens.admits(&near));
        assert!(!tokens.admits(&near[..63]));
        assert!(!tokens.admits(b""));
    }
}
