//! Typed ids: each table's index is its own type, so a guest class cannot index the host
//! classes (or the other way round) and "none" is `Option<Id>`, not a sentinel. Each id stores
//! index + 1 in a `NonZeroU32`, so an id and an `Option` of it are both 4 bytes. The tables
//! themselves are [`IdVec`]s, indexed by their id type only, so a mixed-up index does not compile.

use std::marker::PhantomData;
use std::num::NonZeroU32;

/// A table's id: what [`IdVec`] is indexed by.
pub trait Id: Copy {
    /// The id of table index `i`.
    fn new(i: usize) -> Self;
    /// The table index.
    fn index(self) -> usize;
}

macro_rules! id {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(NonZeroU32);

        impl $name {
            /// The id of table index `i` (panics past `u32::MAX - 1` entries).
            #[inline]
            pub fn new(i: usize) -> Self {
                let n = u32::try_from(i).ok().and_then(|i| i.checked_add(1)).and_then(NonZeroU32::new);
                Self(n.expect(concat!(stringify!($name), " overflows u32")))
            }

            /// The table index.
            #[inline]
            pub fn index(self) -> usize {
                (self.0.get() - 1) as usize
            }

            /// The table index as u32 (for the packed tables keyed by it).
            #[inline]
            pub fn raw(self) -> u32 {
                self.0.get() - 1
            }

            /// The table index + 1, as stored: the position in a table that leaves slot 0 unused,
            /// so that a lookup subtracts nothing (the compatibility cache's rows and bits,
            /// `Compat`, whose lookup is the migration loop's inner step).
            #[inline]
            pub fn slot(self) -> usize {
                self.0.get() as usize
            }
        }

        impl Id for $name {
            #[inline]
            fn new(i: usize) -> Self {
                $name::new(i)
            }
            #[inline]
            fn index(self) -> usize {
                $name::index(self)
            }
        }

        const _: () = assert!(size_of::<$name>() == 4 && size_of::<Option<$name>>() == 4);
    };
}

id!(
    /// A host of the fleet: an index into `Fleet::host_class`.
    HostId
);
id!(
    /// A host CPU class: an index into the fleet's `Classes`.
    HostClassId
);
id!(
    /// A started guest CPU class: an index into `Starter::classes`.
    GuestClassId
);
id!(
    /// A pool context (what a configuration's CPU depends on in its pool): an index into
    /// `Starter::ctxs`.
    CtxId
);
id!(
    /// A distinct (configuration, context, host class) start: an index into `Starter::combos`.
    ComboId
);

/// A `Vec<T>` indexed by its id type `I` only (`table[id]`), whose `push` answers the new entry's
/// id: a table of host classes cannot be read with a guest class id or a bare integer. As small
/// as the `Vec` it wraps (a table of 4-byte ids takes 4 bytes an entry).
///
/// ```
/// use cpufleet_sim::phases::{HostClassId, HostId, IdVec};
/// let mut host_class: IdVec<HostId, HostClassId> = IdVec::new();
/// let h = host_class.push(HostClassId::new(3));
/// assert_eq!(host_class[h], HostClassId::new(3));
/// ```
///
/// The same table read with a guest class id does not compile:
///
/// ```compile_fail,E0277
/// use cpufleet_sim::phases::{GuestClassId, HostClassId, HostId, IdVec};
/// let mut host_class: IdVec<HostId, HostClassId> = IdVec::new();
/// host_class.push(HostClassId::new(3));
/// let _ = host_class[GuestClassId::new(0)];
/// ```
///
/// nor with a bare index:
///
/// ```compile_fail,E0277
/// use cpufleet_sim::phases::{HostClassId, HostId, IdVec};
/// let mut host_class: IdVec<HostId, HostClassId> = IdVec::new();
/// host_class.push(HostClassId::new(3));
/// let _ = host_class[0usize];
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct IdVec<I, T> {
    items: Vec<T>,
    _id: PhantomData<fn(I) -> I>,
}

impl<I: Id, T> IdVec<I, T> {
    /// An empty table.
    pub fn new() -> Self {
        IdVec { items: Vec::new(), _id: PhantomData }
    }

    /// The number of entries.
    #[inline]
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Adds an entry; returns its id.
    pub fn push(&mut self, item: T) -> I {
        self.items.push(item);
        I::new(self.items.len() - 1)
    }

    /// The entry of `id`, if the table has it.
    pub fn get(&self, id: I) -> Option<&T> {
        self.items.get(id.index())
    }

    /// The entries, in id order.
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.items.iter()
    }

    /// The entries with their ids, in id order.
    pub fn iter_enumerated(&self) -> impl ExactSizeIterator<Item = (I, &T)> + '_ {
        self.items.iter().enumerate().map(|(i, t)| (I::new(i), t))
    }

    /// Every id of the table, in order.
    pub fn ids(&self) -> impl ExactSizeIterator<Item = I> {
        (0..self.items.len()).map(I::new)
    }

    /// The entries of ids `range` (given as table indices, as a pool's host range is), in order.
    pub fn slice(&self, range: std::ops::Range<usize>) -> &[T] {
        &self.items[range]
    }

    /// The entries as a slice, in id order (for parallel iteration and bulk reads; a position
    /// in it is the index of an id).
    pub fn as_slice(&self) -> &[T] {
        &self.items
    }
}

impl<I: Id, T> Default for IdVec<I, T> {
    fn default() -> Self {
        IdVec::new()
    }
}

impl<I, T: std::fmt::Debug> std::fmt::Debug for IdVec<I, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.items.fmt(f)
    }
}

impl<I, T> From<Vec<T>> for IdVec<I, T> {
    /// The table whose entry `i` is `items[i]`.
    fn from(items: Vec<T>) -> Self {
        IdVec { items, _id: PhantomData }
    }
}

impl<I, T> FromIterator<T> for IdVec<I, T> {
    fn from_iter<It: IntoIterator<Item = T>>(it: It) -> Self {
        IdVec::from(it.into_iter().collect::<Vec<T>>())
    }
}

impl<I, T> Extend<T> for IdVec<I, T> {
    /// Appends entries: they take the next ids, in order.
    fn extend<It: IntoIterator<Item = T>>(&mut self, it: It) {
        self.items.extend(it)
    }
}

impl<I: Id, T> std::ops::Index<I> for IdVec<I, T> {
    type Output = T;
    #[inline]
    fn index(&self, id: I) -> &T {
        &self.items[id.index()]
    }
}

impl<I: Id, T> std::ops::IndexMut<I> for IdVec<I, T> {
    #[inline]
    fn index_mut(&mut self, id: I) -> &mut T {
        &mut self.items[id.index()]
    }
}

impl<'a, I: Id, T> IntoIterator for &'a IdVec<I, T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_option_is_free() {
        for i in [0usize, 1, 7, u32::MAX as usize - 1] {
            assert_eq!(HostClassId::new(i).index(), i);
            assert_eq!(GuestClassId::new(i).raw() as usize, i);
        }
        assert_eq!(size_of::<Option<ComboId>>(), 4);
        assert!(std::panic::catch_unwind(|| CtxId::new(u32::MAX as usize)).is_err());
    }

    #[test]
    fn an_id_vec_is_indexed_by_the_ids_its_push_answers() {
        let mut t: IdVec<HostId, HostClassId> = IdVec::new();
        let a = t.push(HostClassId::new(7));
        let b = t.push(HostClassId::new(3));
        assert_eq!((a.index(), b.index()), (0, 1));
        assert_eq!((t[a], t[b]), (HostClassId::new(7), HostClassId::new(3)));
        t[a] = HostClassId::new(9);
        assert_eq!(t.iter_enumerated().map(|(i, c)| (i, c.index())).collect::<Vec<_>>(), [(a, 9), (b, 3)]);
        assert_eq!(t.ids().collect::<Vec<_>>(), [a, b]);
        assert_eq!((t.len(), t.get(HostId::new(2))), (2, None));
        // As small as the Vec<u32> it replaces.
        assert_eq!(size_of::<IdVec<HostId, HostClassId>>(), size_of::<Vec<u32>>());
        assert_eq!(size_of_val(t.as_slice()), 2 * 4);
    }
}
