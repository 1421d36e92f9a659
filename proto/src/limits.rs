//! Size caps. Input over a cap is refused with a reason, never truncated.

/// Largest message text, in bytes of UTF-8, for direct and topic messages alike.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;

/// Largest encoded frame on `/weft/dm/1` (the text plus its envelope).
pub const MAX_DM_FRAME_BYTES: usize = MAX_TEXT_BYTES + 1024;

/// Largest encoded acknowledgement frame on `/weft/dm/1`.
pub const MAX_ACK_FRAME_BYTES: usize = 1024;

/// Largest gossipsub payload (a topic message plus its envelope).
pub const MAX_TOPIC_PAYLOAD_BYTES: usize = MAX_TEXT_BYTES + 1024;

/// Longest topic name, in bytes.
pub const MAX_TOPIC_NAME_BYTES: usize = 64;

/// Longest node name, in bytes.
pub const MAX_NAME_BYTES: usize = 64;

/// Most history entries one query returns.
pub const MAX_INBOX_LIMIT: usize = 10_000;
