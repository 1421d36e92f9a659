use std::time::Duration;

use super::*;

fn limits(max_messages: usize, max_bytes: usize) -> MailboxLimits {
    MailboxLimits {
        max_messages,
        max_bytes,
        ttl: Duration::from_secs(60),
    }
}

#[test]
fn a_recipient_quota_counts_messages_and_bytes_and_frees_on_release() {
    let (mut q, l) = (Quota::default(), limits(2, 100));
    let (to, a, b) = (MemberKey([1; 32]), MemberKey([2; 32]), MemberKey([3; 32]));
    assert_eq!(q.full(&to, &a, 100, l), None);
    assert!(matches!(q.full(&to, &a, 101, l), Some(Full::Recipient(..))));
    q.hold(to, a, 40);
    q.hold(to, b, 40);
    let Some(Full::Recipient(used, _)) = q.full(&to, &a, 1, l) else {
        panic!("two messages is the quota");
    };
    assert_eq!(
        used,
        Usage {
            messages: 2,
            bytes: 80
        }
    );
    assert_eq!(q.total(), used);
    assert_eq!(q.recipients(), 1);
    q.release(&to, &a, 40);
    assert_eq!(q.full(&to, &a, 60, l), None);
    q.release(&to, &b, 40);
    assert!(q.is_empty());
}

#[test]
fn one_depositor_cannot_fill_every_recipients_quota() {
    let (mut q, l) = (Quota::default(), limits(3, 1_000));
    let flooder = MemberKey([9; 32]);
    for n in 0..3u8 {
        assert_eq!(q.full(&MemberKey([n; 32]), &flooder, 10, l), None);
        q.hold(MemberKey([n; 32]), flooder, 10);
    }
    assert!(matches!(
        q.full(&MemberKey([7; 32]), &flooder, 10, l),
        Some(Full::Depositor(Usage { messages: 3, .. }))
    ));
    // Others still may.
    assert_eq!(
        q.full(&MemberKey([7; 32]), &MemberKey([8; 32]), 10, l),
        None
    );
}

#[test]
fn a_release_of_what_was_never_held_changes_nothing() {
    let (mut q, l) = (Quota::default(), limits(1, 10));
    q.release(&MemberKey([1; 32]), &MemberKey([2; 32]), 5);
    assert!(q.is_empty());
    assert_eq!(
        q.full(&MemberKey([1; 32]), &MemberKey([2; 32]), 10, l),
        None
    );
    assert!(
        q.full(&MemberKey([1; 32]), &MemberKey([2; 32]), usize::MAX, l)
            .is_some()
    );
}
