//! Tree `topics`: the names of the topics this node subscribes to (value empty). A node
//! re-joins them when it starts.

use weft_proto::topic::TopicName;

use super::StoreError;

/// The `topics` tree.
#[derive(Clone)]
pub struct TopicsTree(pub(super) sled::Tree);

impl TopicsTree {
    /// Records a subscription (in the flush task). Returns true if it is new.
    pub fn add(&self, topic: &TopicName) -> Result<bool, StoreError> {
        Ok(self.0.insert(topic.as_str(), &[])?.is_none())
    }

    /// Forgets a subscription. Returns true if it existed.
    pub fn remove(&self, topic: &TopicName) -> Result<bool, StoreError> {
        Ok(self.0.remove(topic.as_str())?.is_some())
    }

    /// Every subscribed topic.
    pub fn all(&self) -> Result<Vec<TopicName>, StoreError> {
        let mut out = Vec::new();
        for key in self.0.iter().keys() {
            let key = key?;
            let name = String::from_utf8_lossy(&key);
            out.push(
                name.parse()
                    .map_err(
                        |e: weft_proto::topic::ParseTopicError| StoreError::Corrupt {
                            tree: "topics",
                            detail: e.to_string(),
                        },
                    )?,
            );
        }
        Ok(out)
    }
}
