//! [`Bits`]: a growable set of small indices, one bit each. The ACL log keeps one per op (its
//! causal past), so "did this op see that one" is one lookup.

/// A set of `u32` indices.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bits(Vec<u64>);

impl Bits {
    /// An empty set with room for indices below `n` without growing.
    pub fn with_capacity(n: usize) -> Bits {
        Bits(Vec::with_capacity(n.div_ceil(64)))
    }

    /// The set of every index below `n`.
    pub fn below(n: u32) -> Bits {
        let mut words = vec![u64::MAX; n as usize / 64];
        if n % 64 != 0 {
            words.push((1u64 << (n % 64)) - 1);
        }
        Bits(words)
    }

    /// Whether `i` is in the set.
    pub fn has(&self, i: u32) -> bool {
        let (word, bit) = (i as usize / 64, i % 64);
        self.0.get(word).is_some_and(|w| w & (1 << bit) != 0)
    }

    /// Adds `i`.
    pub fn insert(&mut self, i: u32) {
        let (word, bit) = (i as usize / 64, i % 64);
        if self.0.len() <= word {
            self.0.resize(word + 1, 0);
        }
        self.0[word] |= 1 << bit;
    }

    /// Adds every index of `other`.
    pub fn union(&mut self, other: &Bits) {
        if self.0.len() < other.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        for (mine, theirs) in self.0.iter_mut().zip(&other.0) {
            *mine |= theirs;
        }
    }

    /// The indices in the set, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().enumerate().flat_map(|(w, &word)| {
            (0..64u32)
                .filter(move |b| word & (1 << b) != 0)
                .map(move |b| w as u32 * 64 + b)
        })
    }

    /// How many indices the set holds.
    pub fn len(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    proptest! {
        #[test]
        fn behaves_like_a_set(a in proptest::collection::vec(0..500u32, 0..50), b in proptest::collection::vec(0..500u32, 0..50)) {
            let (mut x, mut y) = (Bits::default(), Bits::with_capacity(10));
            a.iter().for_each(|&i| x.insert(i));
            b.iter().for_each(|&i| y.insert(i));
            let model: BTreeSet<u32> = a.iter().chain(&b).copied().collect();
            x.union(&y);
            prop_assert_eq!(x.iter().collect::<Vec<_>>(), model.iter().copied().collect::<Vec<_>>());
            prop_assert_eq!(x.len(), model.len());
            prop_assert_eq!(x.is_empty(), model.is_empty());
            for i in 0..520 {
                prop_assert_eq!(x.has(i), model.contains(&i));
            }
            let n = a.len() as u32 * 7;
            let below = Bits::below(n);
            prop_assert_eq!(below.len(), n as usize);
            prop_assert!(below.has(n.saturating_sub(1)) == (n > 0) && !below.has(n));
        }
    }
}
