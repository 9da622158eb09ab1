//! A generational slab: values stored by index, with a generation so that a stale key (one whose
//! value was removed and whose slot may since have been reused) finds nothing.
//!
//! The reactor keeps registrations, waiters and timers in slabs, so no raw pointer ever reaches
//! the kernel (epoll data holds a [`Key`]) and removal is O(1). Freed slots are reused before
//! the vector grows, so a steady state allocates nothing.

/// A slot index plus the generation it was filled in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Key {
    index: u32,
    generation: u32,
}

impl Key {
    /// Packs the key into the 64 bits of `epoll_event.data`.
    pub(crate) fn to_u64(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.index)
    }

    pub(crate) fn from_u64(v: u64) -> Key {
        Key {
            index: v as u32,
            generation: (v >> 32) as u32,
        }
    }

    pub(crate) fn new(index: u32, generation: u32) -> Key {
        Key { index, generation }
    }

    pub(crate) fn index(self) -> u32 {
        self.index
    }

    pub(crate) fn generation(self) -> u32 {
        self.generation
    }
}

enum Entry<T> {
    Occupied { generation: u32, value: T },
    Vacant { generation: u32, next_free: u32 },
}

const NONE: u32 = u32::MAX;

pub(crate) struct Slab<T> {
    entries: Vec<Entry<T>>,
    /// Head of the free list threaded through vacant entries, or `NONE`.
    free: u32,
    len: usize,
}

impl<T> Slab<T> {
    pub(crate) const fn new() -> Slab<T> {
        Slab {
            entries: Vec::new(),
            free: NONE,
            len: 0,
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn insert(&mut self, value: T) -> Key {
        self.len += 1;
        if self.free != NONE {
            let index = self.free;
            let entry = &mut self.entries[index as usize];
            let Entry::Vacant {
                generation,
                next_free,
            } = *entry
            else {
                unreachable!("geode: slab free list points at an occupied slot");
            };
            self.free = next_free;
            let generation = generation.wrapping_add(1);
            *entry = Entry::Occupied { generation, value };
            Key { index, generation }
        } else {
            let index = u32::try_from(self.entries.len())
                .ok()
                .filter(|&i| i != NONE)
                .expect("geode: more than 4 billion live entries in one slab");
            self.entries.push(Entry::Occupied {
                generation: 0,
                value,
            });
            Key {
                index,
                generation: 0,
            }
        }
    }

    /// The key the next [`insert`](Self::insert) will return.
    pub(crate) fn next_key(&self) -> Key {
        if self.free != NONE {
            match self.entries[self.free as usize] {
                Entry::Vacant { generation, .. } => Key {
                    index: self.free,
                    generation: generation.wrapping_add(1),
                },
                Entry::Occupied { .. } => {
                    unreachable!("geode: slab free list points at an occupied slot")
                }
            }
        } else {
            Key {
                index: self.entries.len() as u32,
                generation: 0,
            }
        }
    }

    pub(crate) fn get(&self, key: Key) -> Option<&T> {
        match self.entries.get(key.index as usize) {
            Some(Entry::Occupied { generation, value }) if *generation == key.generation => {
                Some(value)
            }
            _ => None,
        }
    }

    pub(crate) fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        match self.entries.get_mut(key.index as usize) {
            Some(Entry::Occupied { generation, value }) if *generation == key.generation => {
                Some(value)
            }
            _ => None,
        }
    }

    /// The key of the value at `index`, if occupied.
    pub(crate) fn key_at(&self, index: u32) -> Option<Key> {
        match self.entries.get(index as usize) {
            Some(Entry::Occupied { generation, .. }) => Some(Key {
                index,
                generation: *generation,
            }),
            _ => None,
        }
    }

    pub(crate) fn remove(&mut self, key: Key) -> Option<T> {
        let entry = self.entries.get_mut(key.index as usize)?;
        match entry {
            Entry::Occupied { generation, .. } if *generation == key.generation => {
                let vacant = Entry::Vacant {
                    generation: key.generation,
                    next_free: self.free,
                };
                let Entry::Occupied { value, .. } = std::mem::replace(entry, vacant) else {
                    unreachable!()
                };
                self.free = key.index;
                self.len -= 1;
                Some(value)
            }
            _ => None,
        }
    }

    /// Keys of all occupied slots.
    pub(crate) fn keys(&self) -> Vec<Key> {
        (0..self.entries.len() as u32)
            .filter_map(|i| self.key_at(i))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_keys_find_nothing() {
        let mut s = Slab::new();
        let a = s.insert("a");
        let b = s.insert("b");
        assert_eq!(s.remove(a), Some("a"));
        assert_eq!(s.get(a), None);
        let c = s.insert("c");
        assert_eq!(c.index(), a.index(), "freed slot is reused");
        assert_ne!(c, a);
        assert_eq!(s.get(a), None);
        assert_eq!(s.remove(a), None);
        assert_eq!(s.get(c), Some(&"c"));
        assert_eq!(s.get(b), Some(&"b"));
        assert_eq!(s.len(), 2);
        assert_eq!(Key::from_u64(c.to_u64()), c);
        assert_eq!(s.keys(), vec![c, b]);
    }
}
