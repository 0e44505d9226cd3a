//! Typed ids: each table's index is its own type, so a guest class cannot index the host
//! classes (or the other way round) and "none" is `Option<Id>`, not a sentinel. Each id stores
//! index + 1 in a `NonZeroU32`, so an id and an `Option` of it are both 4 bytes.

use std::num::NonZeroU32;

macro_rules! id {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub(crate) struct $name(NonZeroU32);

        impl $name {
            /// The id of table index `i` (panics past `u32::MAX - 1` entries).
            #[inline]
            pub(crate) fn new(i: usize) -> Self {
                let n = u32::try_from(i).ok().and_then(|i| i.checked_add(1)).and_then(NonZeroU32::new);
                Self(n.expect(concat!(stringify!($name), " overflows u32")))
            }

            /// The table index.
            #[inline]
            #[allow(dead_code)] // not every id kind is read both ways
            pub(crate) fn index(self) -> usize {
                (self.0.get() - 1) as usize
            }

            /// The table index as u32 (for the packed tables keyed by it).
            #[inline]
            #[allow(dead_code)] // not every id kind is read both ways
            pub(crate) fn raw(self) -> u32 {
                self.0.get() - 1
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
}
