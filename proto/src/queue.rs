//! Work queues: items that members push and other members work, held by their producers.

name_type! {
    /// A valid queue name: 1 to 64 bytes of ASCII letters, digits, `-`, `_`, `.`.
    QueueName, ParseQueueError, "queue"
}
