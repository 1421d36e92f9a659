//! weft: a secure peer-to-peer messaging overlay. This facade re-exports what programs built
//! on weft need: the typed client of a node's local API, the wire and API types, and keys.
//!
//! ```no_run
//! # async fn demo() -> Result<(), weft::ClientError> {
//! let node = weft::Client::for_data_dir(std::env::var("WEFT_DATA_DIR").unwrap_or_default());
//! for message in node.inbox(&Default::default()).await? {
//!     println!("{}: {}", message.from, message.text);
//! }
//! # Ok(()) }
//! ```

pub use weft_keys as keys;
pub use weft_node::api::client::{Client, ClientError, Item, OfferOptions, WorkOptions};
pub use weft_node::config::{Config, resolve_data_dir};
pub use weft_node::node::Node;
pub use weft_proto as proto;
pub use weft_proto::api::{Event, InboxQuery, Message, SendRequest};
