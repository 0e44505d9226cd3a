//! Closed sets: enums whose values have fixed names (libvirt versions, CPU modes and policies,
//! export formats, scenarios, faults, orders, drivers …), all spelt one way, by
//! [`closed_set!`](crate::closed_set!).
//!
//! The macro gives each set `ALL` (declaration order), `NAMES`, `as_str()`, `parse()` (names and
//! aliases), `help()` (the variant's doc comment), [`std::fmt::Display`] (the name),
//! [`std::str::FromStr`] with an [`UnknownName`] error that lists the valid names, and the
//! [`ClosedSet`] trait, through which the command line builds its value parsers and help lists.
//! Pure: no I/O, no global state, so every crate may use it.

use std::fmt;

/// A name that is not one of a closed set's: what was given, and what is valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownName {
    /// What the set is, for the message (`libvirt version`, `export format`, …).
    pub kind: &'static str,
    /// The text given.
    pub given: String,
    /// The valid names, in declaration order.
    pub names: &'static [&'static str],
    /// Other spellings also accepted (for example `11.3` for `11.3.0`).
    pub aliases: &'static [&'static str],
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unsupported {} '{}' (supported: {}", self.kind, self.given, self.names.join(", "))?;
        if !self.aliases.is_empty() {
            write!(f, "; {} accepted", self.aliases.join(", "))?;
        }
        f.write_str(")")
    }
}

impl std::error::Error for UnknownName {}

/// What [`closed_set!`](crate::closed_set!) implements: a set's values, their names and help,
/// for code generic over sets (the command line's value parsers and help lists).
pub trait ClosedSet: Copy + Eq + fmt::Debug + Send + Sync + 'static {
    /// What the set is (`export format`).
    const KIND: &'static str;
    /// Every value, in declaration order.
    const VALUES: &'static [Self];
    /// The value's name.
    fn name(self) -> &'static str;
    /// The value's doc comment, lines joined with `\n` (empty when it has none).
    fn help(self) -> &'static str;
    /// The value named `s` (a name or an alias).
    fn from_name(s: &str) -> Option<Self>;
}

/// Defines a closed set: an enum whose every variant has a name.
///
/// ```
/// cpufleet_engine::closed_set! {
///     /// How fast.
///     #[derive(Clone, Copy, Debug, PartialEq, Eq)]
///     pub enum Speed: "speed" {
///         /// Slowly.
///         Slow = "slow",
///         /// Quickly (also `quick`).
///         Fast = "fast" | "quick",
///     }
/// }
/// assert_eq!(Speed::ALL, [Speed::Slow, Speed::Fast]);
/// assert_eq!("quick".parse::<Speed>(), Ok(Speed::Fast));
/// assert_eq!(Speed::Slow.to_string(), "slow");
/// assert_eq!(Speed::Slow.help(), " Slowly.\n");
/// let e = "slower".parse::<Speed>().unwrap_err();
/// assert_eq!(e.to_string(), "unsupported speed 'slower' (supported: slow, fast; quick accepted)");
/// ```
///
/// `impl T: "kind" { V = "name", … }` gives the same items to an enum defined elsewhere (one
/// whose definition carries other derives); its variants may carry doc comments for `help()`.
#[macro_export]
macro_rules! closed_set {
    (
        $(#[$meta:meta])*
        $vis:vis enum $T:ident : $kind:literal {
            $( $(#[$($vattr:tt)*])* $V:ident = $name:literal $(| $alias:literal)* ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis enum $T {
            $( $(#[$($vattr)*])* $V, )+
        }
        $crate::closed_set!(impl $T : $kind { $( $(#[$($vattr)*])* $V = $name $(| $alias)* ),+ });
    };
    (
        impl $T:ident : $kind:literal {
            $( $(#[$($vattr:tt)*])* $V:ident = $name:literal $(| $alias:literal)* ),+ $(,)?
        }
    ) => {
        impl $T {
            #[doc = concat!("Every ", $kind, ", in declaration order.")]
            pub const ALL: [$T; [$($name),+].len()] = [$($T::$V),+];
            #[doc = concat!("The name of every ", $kind, ", in declaration order.")]
            pub const NAMES: [&'static str; [$($name),+].len()] = [$($name),+];
            #[doc = concat!("Other spellings of ", $kind, " names, also accepted.")]
            pub const ALIASES: &'static [&'static str] = &[$($($alias,)*)+];

            #[doc = concat!("The ", $kind, "'s name.")]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($T::$V => $name,)+
                }
            }

            #[doc = concat!("The ", $kind, " named `s` (a name or an alias).")]
            pub fn parse(s: &str) -> Option<$T> {
                match s {
                    $($name $(| $alias)* => Some($T::$V),)+
                    _ => None,
                }
            }

            #[doc = concat!("The ", $kind, "'s doc comment, lines joined with `\\n`.")]
            pub const fn help(self) -> &'static str {
                match self {
                    $($T::$V => $crate::__closed_set_doc!($(#[$($vattr)*])*),)+
                }
            }
        }

        impl ::std::fmt::Display for $T {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $T {
            type Err = $crate::closed::UnknownName;
            fn from_str(s: &str) -> Result<$T, $crate::closed::UnknownName> {
                $T::parse(s).ok_or_else(|| $crate::closed::UnknownName {
                    kind: $kind,
                    given: s.to_string(),
                    names: &$T::NAMES,
                    aliases: $T::ALIASES,
                })
            }
        }

        impl $crate::closed::ClosedSet for $T {
            const KIND: &'static str = $kind;
            const VALUES: &'static [$T] = &$T::ALL;
            fn name(self) -> &'static str {
                self.as_str()
            }
            fn help(self) -> &'static str {
                $T::help(self)
            }
            fn from_name(s: &str) -> Option<$T> {
                $T::parse(s)
            }
        }
    };
}

/// The doc comments among attributes, joined with `\n` (for [`closed_set!`](crate::closed_set!)).
#[doc(hidden)]
#[macro_export]
macro_rules! __closed_set_doc {
    () => { "" };
    (#[doc = $d:literal] $($rest:tt)*) => { concat!($d, "\n", $crate::__closed_set_doc!($($rest)*)) };
    (#[$($other:tt)*] $($rest:tt)*) => { $crate::__closed_set_doc!($($rest)*) };
}
