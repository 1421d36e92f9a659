//! Tree `identity`: the node's secret key (`secret`, 32 bytes) and its name (`name`, UTF-8).
//! The database directory is 0700, so the secret is readable by its owner only.

use weft_keys::Identity;

use super::StoreError;

/// The `identity` tree.
#[derive(Clone)]
pub struct IdentityTree(pub(super) sled::Tree);

impl IdentityTree {
    /// The stored identity, if `weft init` ran.
    pub fn load(&self) -> Result<Option<Identity>, StoreError> {
        match self.0.get("secret")? {
            None => Ok(None),
            Some(bytes) => {
                Identity::from_secret_slice(&bytes)
                    .map(Some)
                    .map_err(|e| StoreError::Corrupt {
                        tree: "identity",
                        detail: e.to_string(),
                    })
            }
        }
    }

    /// The stored name, if one was given.
    pub fn name(&self) -> Result<Option<String>, StoreError> {
        Ok(self
            .0
            .get("name")?
            .map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// Stores `identity` and `name` if no identity is stored yet, atomically. Returns false,
    /// changing nothing, when one already is.
    pub fn create(&self, identity: &Identity, name: Option<&str>) -> Result<bool, StoreError> {
        let secret = identity.secret_bytes();
        let swapped =
            self.0
                .compare_and_swap("secret", None as Option<&[u8]>, Some(secret.as_ref()))?;
        if swapped.is_err() {
            return Ok(false);
        }
        if let Some(name) = name {
            self.0.insert("name", name.as_bytes())?;
        }
        self.0.flush()?;
        Ok(true)
    }
}
