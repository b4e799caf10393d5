//! The offset added to each source value (subtracted for descending sequences): a domain type,
//! so that a negative or malformed one cannot reach the planner from any front end.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A non-negative whole number of ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Offset(i64);

impl Offset {
    pub const ZERO: Offset = Offset(0);

    pub fn new(value: i64) -> Result<Offset, String> {
        if value < 0 {
            Err(format!("the offset must not be negative (got {value}); it is subtracted automatically for descending sequences"))
        } else {
            Ok(Offset(value))
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl TryFrom<i64> for Offset {
    type Error = String;
    fn try_from(value: i64) -> Result<Self, String> {
        Offset::new(value)
    }
}

impl From<Offset> for i64 {
    fn from(offset: Offset) -> i64 {
        offset.0
    }
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The offset as a DBA types it: digits, `_` allowed as a separator, spaces around; never
/// negative.
impl FromStr for Offset {
    type Err = String;

    fn from_str(text: &str) -> Result<Offset, String> {
        let shown = crate::engine::text::excerpt(text, 40);
        let cleaned: String = text.trim().chars().filter(|c| *c != '_').collect();
        let digits = cleaned.strip_prefix('-').unwrap_or(&cleaned);
        if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!(
                "the offset must be a non-negative whole number, such as 10000 (got '{shown}')"
            ));
        }
        if digits.len() != cleaned.len() {
            return Err(format!("the offset must not be negative (got {shown}); it is subtracted automatically for descending sequences"));
        }
        cleaned
            .parse::<i64>()
            .map(Offset)
            .map_err(|_| format!("the offset {shown} is too large: at most {}", i64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<i64, String> {
        text.parse::<Offset>().map(Offset::get)
    }

    #[test]
    fn offsets_are_parsed_strictly_with_clear_errors() {
        assert_eq!(parse("10000"), Ok(10_000));
        assert_eq!(parse("10_000"), Ok(10_000));
        assert_eq!(parse("0"), Ok(0));
        assert!(parse("-5").unwrap_err().contains("must not be negative"));
        assert!(parse("abc").unwrap_err().contains("whole number"));
        assert!(parse("1e5").unwrap_err().contains("whole number"));
        assert!(parse("").unwrap_err().contains("whole number"));
        assert!(parse("-").unwrap_err().contains("whole number"));
        assert!(parse("99999999999999999999")
            .unwrap_err()
            .contains("too large"));
        assert_eq!(parse("9223372036854775807"), Ok(i64::MAX));
    }

    #[test]
    fn a_negative_value_is_refused_from_config_and_journal_alike() {
        assert!(Offset::new(-1).is_err());
        assert!(serde_json::from_str::<Offset>("-3").is_err());
        assert_eq!(serde_json::from_str::<Offset>("7").ok(), Some(Offset(7)));
        assert_eq!(serde_json::to_string(&Offset(7)).unwrap(), "7");
    }

    proptest::proptest! {
        #[test]
        fn every_offset_round_trips_with_separators_and_spaces(
            value in 0i64..=i64::MAX,
            separators in proptest::collection::vec(proptest::bool::ANY, 19),
        ) {
            let text: String = value
                .to_string()
                .chars()
                .enumerate()
                .flat_map(|(i, c)| {
                    let sep = (i > 0 && separators[i]).then_some('_');
                    sep.into_iter().chain(std::iter::once(c))
                })
                .collect();
            proptest::prop_assert_eq!(parse(&format!(" {text} ")), Ok(value));
        }

        /// Any text is either a non-negative offset made of exactly its digits, or an error that
        /// says what an offset is.
        #[test]
        fn any_text_is_an_offset_or_says_what_one_is(text in proptest::prelude::any::<String>()) {
            match parse(&text) {
                Ok(value) => {
                    proptest::prop_assert!(value >= 0);
                    let digits = text.trim().replace('_', "");
                    proptest::prop_assert_eq!(digits.parse::<i64>(), Ok(value));
                }
                Err(e) => proptest::prop_assert!(e.contains("offset"), "{}", e),
            }
        }

        #[test]
        fn negative_offsets_are_refused_as_such(value in 1i64..=i64::MAX) {
            let e = parse(&format!("-{value}")).unwrap_err();
            proptest::prop_assert!(e.contains("must not be negative"), "{}", e);
        }
    }
}
