//! How the reports spell a count: the one spelling of "3 guests" everywhere.

/// `n` and a noun, singular for one ("1 guest", "3 guests", "1 distinct host CPU"): the one
/// spelling of a count in every report line.
pub fn count(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    format!("{n} {}", noun_for(n, noun))
}

/// `noun` as it follows the number `n`: singular for one, else plural.
pub(crate) fn noun_for(n: u64, noun: &str) -> String {
    format!("{noun}{}", if n == 1 { "" } else { "s" })
}
