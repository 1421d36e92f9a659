//! [`DisplayNames`]: the names members call themselves, one signed card per member, the
//! latest it set (see [`weft_proto::display`]).

use std::collections::HashMap;

use weft_keys::display::verify_name_card;
use weft_proto::display::{MAX_CARD_AHEAD_SECS, NameCard, check_display_name};
use weft_proto::mesh::{MemberKey, MeshId};

/// Members' display-name cards, each verified before it is kept.
#[derive(Clone, Debug, Default)]
pub struct DisplayNames(HashMap<MemberKey, NameCard>);

impl DisplayNames {
    /// Takes `card` as what `member` calls itself in mesh `mesh`: when it is later than the
    /// card held but not dated more than [`MAX_CARD_AHEAD_SECS`] past `now` (Unix seconds),
    /// its name passes [`check_display_name`], and its signature holds. Returns whether it
    /// was taken.
    pub fn learn(&mut self, mesh: &MeshId, member: MemberKey, card: NameCard, now: u64) -> bool {
        let later = self.0.get(&member).is_none_or(|held| card.at > held.at);
        if !later
            || card.at > now.saturating_add(MAX_CARD_AHEAD_SECS)
            || check_display_name(card.name.as_deref()).is_err()
            || verify_name_card(&member, mesh, &card).is_err()
        {
            return false;
        }
        self.0.insert(member, card);
        true
    }

    /// What `member` calls itself, if it said.
    pub fn name(&self, member: &MemberKey) -> Option<&str> {
        self.0.get(member)?.name.as_deref()
    }

    /// `member`'s card, if known.
    pub fn card(&self, member: &MemberKey) -> Option<&NameCard> {
        self.0.get(member)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_keys::Identity;
    use weft_keys::display::name_card;

    const NOW: u64 = 100;

    #[test]
    fn the_latest_valid_card_wins() {
        let bob = Identity::generate().unwrap();
        let key = bob.member_key();
        let mesh = MeshId([3; 20]);
        let mut names = DisplayNames::default();
        assert!(names.learn(
            &mesh,
            key,
            name_card(&bob, &mesh, Some("Bobby".into()), 10),
            NOW
        ));
        assert!(
            !names.learn(
                &mesh,
                key,
                name_card(&bob, &mesh, Some("Old".into()), 9),
                NOW
            ),
            "an older card"
        );
        assert!(
            !names.learn(
                &mesh,
                key,
                name_card(&bob, &mesh, Some("Same".into()), 10),
                NOW
            ),
            "a card of the same moment"
        );
        let mut forged = name_card(&bob, &mesh, Some("Robert".into()), 11);
        forged.name = Some("Mallory".into());
        assert!(!names.learn(&mesh, key, forged, NOW), "a forged card");
        let other_mesh = MeshId([4; 20]);
        let elsewhere = name_card(&bob, &other_mesh, Some("Elsewhere".into()), 12);
        assert!(
            !names.learn(&mesh, key, elsewhere, NOW),
            "another mesh's card"
        );
        let control = name_card(&bob, &mesh, Some("Bob\u{1b}[2J".into()), 13);
        assert!(!names.learn(&mesh, key, control, NOW), "control characters");
        let peer_like = name_card(&bob, &mesh, Some("12D3KooWAbc".into()), 13);
        assert!(
            !names.learn(&mesh, key, peer_like, NOW),
            "a name taken for a PeerId"
        );
        let ahead = name_card(&bob, &mesh, Some("Later".into()), 3 * MAX_CARD_AHEAD_SECS);
        assert!(!names.learn(&mesh, key, ahead, NOW), "dated days ahead");
        assert_eq!(names.name(&key), Some("Bobby"));
        assert!(names.learn(&mesh, key, name_card(&bob, &mesh, None, 14), NOW));
        assert_eq!(names.name(&key), None, "taken back");
    }
}
