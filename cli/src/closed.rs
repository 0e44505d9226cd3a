//! The closed sets of the crates below (`cpufleet_engine::closed_set!`) on the command line:
//! clap's value parser and every help list of possible values come from the set itself, so a
//! new value is one new variant and the help cannot miss it.

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use cpufleet_engine::closed::ClosedSet;

/// The value parser of a closed-set argument: exactly the set's names, each with its doc
/// comment as help; clap's own messages for a value outside the set.
pub fn parser<T: ClosedSet>() -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(possible_values::<T>())
        .map(|name| T::from_name(&name).expect("clap accepts only the set's names"))
}

/// `clap::ValueEnum` for the command line's own closed sets (clap's `value_enum` arguments).
macro_rules! value_enum {
    ($($T:ty),+ $(,)?) => {
        $(impl clap::ValueEnum for $T {
            fn value_variants<'a>() -> &'a [Self] {
                &<$T>::ALL
            }
            fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
                Some($crate::closed::possible_value(*self))
            }
        })+
    };
}
pub(crate) use value_enum;

/// The possible values of `T`, in declaration order, each with its help.
pub fn possible_values<T: ClosedSet>() -> Vec<PossibleValue> {
    T::VALUES.iter().map(|&v| possible_value(v)).collect()
}

/// One value as clap lists it: its name, and its doc comment's first paragraph as help.
pub fn possible_value<T: ClosedSet>(v: T) -> PossibleValue {
    let help = value_help(v.help());
    let value = PossibleValue::new(v.name());
    if help.is_empty() {
        value
    } else {
        value.help(help)
    }
}

/// `a, b or c` (`word` = `or`) for a help text.
pub fn list<S: AsRef<str>>(items: &[S], word: &str) -> String {
    match items {
        [] => String::new(),
        [one] => one.as_ref().to_string(),
        [rest @ .., last] => {
            let rest: Vec<&str> = rest.iter().map(AsRef::as_ref).collect();
            format!("{} {word} {}", rest.join(", "), last.as_ref())
        }
    }
}

/// A doc comment as clap's derive shows it for a value: the first paragraph, its lines trimmed
/// and joined with spaces, one trailing period removed.
fn value_help(doc: &str) -> String {
    let lines: Vec<&str> =
        doc.lines().map(str::trim).skip_while(|l| l.is_empty()).take_while(|l| !l.is_empty()).collect();
    let mut help = lines.join(" ");
    if help.ends_with('.') && !help.ends_with("..") {
        help.pop();
    }
    help
}

#[cfg(test)]
mod tests {
    use super::{list, value_help};

    #[test]
    fn lists_read_as_english() {
        assert_eq!(list(&["a"], "or"), "a");
        assert_eq!(list(&["a", "b"], "or"), "a or b");
        assert_eq!(list(&["a", "b", "c"], "and"), "a, b and c");
    }

    #[test]
    fn value_help_is_the_first_paragraph_without_its_period() {
        assert_eq!(value_help(" One line.\n"), "One line");
        assert_eq!(value_help(" Two\n lines (a, b).\n"), "Two lines (a, b)");
        assert_eq!(value_help(" First.\n\n Second.\n"), "First");
        assert_eq!(value_help(" Etc..\n"), "Etc..");
        assert_eq!(value_help(""), "");
    }
}
