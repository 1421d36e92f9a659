//! [`BlobArg`]: a blob as the CLI takes it: its whole id, or (as git takes a commit) a
//! unique beginning of it of at least 8 hex digits, the length weft prints.

use std::collections::BTreeSet;

use weft_proto::api::InboxQuery;
use weft_proto::blob::{BlobId, FileOffer};

use crate::api::client::Client;

/// Fewest hex digits that name a blob: as many as weft prints.
const MIN_DIGITS: usize = 8;

/// Hex digits of a whole blob id.
const ALL_DIGITS: usize = 64;

/// A blob named on the command line: its id, or a unique beginning of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobArg(String);

impl std::str::FromStr for BlobArg {
    type Err = String;
    fn from_str(s: &str) -> Result<BlobArg, String> {
        let s = s.trim_end_matches('…').to_ascii_lowercase();
        if !(MIN_DIGITS..=ALL_DIGITS).contains(&s.len())
            || !s.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(format!(
                "a blob is named by its id: {MIN_DIGITS} to {ALL_DIGITS} hex digits of it"
            ));
        }
        Ok(BlobArg(s))
    }
}

impl BlobArg {
    /// The blob's id: given whole, or found among the file offers in this node's history.
    pub async fn resolve(&self, client: &Client) -> anyhow::Result<BlobId> {
        if self.0.len() == ALL_DIGITS {
            return Ok(self.0.parse()?);
        }
        let query = InboxQuery {
            from: None,
            topic: None,
            limit: Some(weft_proto::limits::MAX_INBOX_LIMIT),
        };
        let offered = client
            .inbox(&query)
            .await?
            .iter()
            .filter_map(|m| FileOffer::from_text(&m.text))
            .map(|o| o.blob)
            .collect();
        find(&self.0, &offered)
    }
}

/// The one blob in `known` whose id starts with `prefix`.
fn find(prefix: &str, known: &BTreeSet<BlobId>) -> anyhow::Result<BlobId> {
    let matches: Vec<&BlobId> = known
        .iter()
        .filter(|id| id.to_string().starts_with(prefix))
        .collect();
    match matches[..] {
        [one] => Ok(*one),
        [] => anyhow::bail!(
            "no file offer in this node's history names a blob starting with {prefix}; give its whole id"
        ),
        _ => anyhow::bail!(
            "{prefix} begins the id of {} blobs: {}; give more of it",
            matches.len(),
            matches
                .iter()
                .map(|id| id.to_string()[..16].to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(head: &str) -> BlobId {
        format!("{head}{}", "0".repeat(ALL_DIGITS - head.len()))
            .parse()
            .unwrap()
    }

    #[test]
    fn a_unique_beginning_names_a_blob_and_a_shared_one_lists_them() {
        let known: BTreeSet<BlobId> = [id("1e0d3ef4aa"), id("1e0d3ef4bb"), id("5f1c2b3a")].into();
        assert_eq!(find("5f1c2b3a", &known).unwrap(), id("5f1c2b3a"));
        assert_eq!(find("1e0d3ef4aa", &known).unwrap(), id("1e0d3ef4aa"));
        let both = find("1e0d3ef4", &known).unwrap_err().to_string();
        assert!(
            both.contains("2 blobs") && both.contains("1e0d3ef4aa") && both.contains("1e0d3ef4bb"),
            "{both}"
        );
        assert!(find("deadbeef", &known).is_err());
    }

    #[test]
    fn fewer_than_eight_digits_or_not_hex_is_refused() {
        assert!("1e0d3ef".parse::<BlobArg>().is_err());
        assert!("1e0d3efg".parse::<BlobArg>().is_err());
        assert_eq!(
            "5F1C2B3A…".parse::<BlobArg>(),
            Ok(BlobArg("5f1c2b3a".into()))
        );
    }
}
