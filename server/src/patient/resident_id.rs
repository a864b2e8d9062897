//! The citizen identity number of the resident identity card (居民身份证号码),
//! GB 11643-1999: a 6-digit region code, the birth date as `YYYYMMDD`, a
//! 3-digit sequence (odd for men, even for women) and an ISO 7064 MOD 11-2
//! check character, `0`–`9` or `X`.
//!
//! Pure: no database, no HTTP. The caller turns a [`Refusal`] into its error.
//!
//! The legacy 15-digit number (cards issued before 1999: region, `YYMMDD`
//! birth date in the 1900s, sequence, no check digit) is accepted when its
//! birth date is a real date, and kept as given. Clinics still meet such cards
//! now and then, mostly among the elderly, and refusing them would leave the
//! person with no identifier at all, which is worse for matching than an
//! unchecked one. It is not upgraded to 18 characters here: the upgrade
//! computes a check digit but cannot confirm the person's current number (a
//! region code may have changed since), so storing a guess would make a
//! second, silently wrong identity. The price: the same person registered
//! once under the old number and once under the new one is two patients
//! until the records are linked by hand.

use jiff::civil::Date;

/// Weights of positions 1–17 for the check character.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// The check character for each remainder of the weighted sum modulo 11.
const CHECK: &[u8; 11] = b"10X98765432";

/// Which rule a number breaks; `as_str` is the `details.reason` the API sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Neither 18 nor 15 characters (after trimming).
    Length,
    /// Something other than digits, or an `X` anywhere but last.
    Characters,
    /// Not a real date, before 1900 or in the future.
    BirthDate,
    /// The check character does not match the first 17 digits.
    CheckDigit,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Length => "length",
            Refusal::Characters => "characters",
            Refusal::BirthDate => "birth_date",
            Refusal::CheckDigit => "check_digit",
        }
    }

    /// For people, in English; the client has its own words per reason.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::Length => "a resident identity number has 18 characters (or 15 on old cards)",
            Refusal::Characters => {
                "a resident identity number is digits only, with X allowed as the last character"
            }
            Refusal::BirthDate => {
                "the birth date in the resident identity number is not a real past date"
            }
            Refusal::CheckDigit => {
                "the last character of the resident identity number does not match the others; check for a typing error"
            }
        }
    }
}

/// Checks `text` and returns it normalised: trimmed, a final `x` upper-cased.
/// `today` bounds the birth date; it is a parameter so tests need no clock.
pub fn validate(text: &str, today: Date) -> Result<String, Refusal> {
    let text = text.trim();
    let len = text.chars().count();
    if len != 18 && len != 15 {
        return Err(Refusal::Length);
    }
    // From here on every character is ASCII, so byte offsets are positions.
    let normalised = text.to_ascii_uppercase();
    let bytes = normalised.as_bytes();
    let (body, last) = match len {
        18 => (&bytes[..17], Some(bytes[17])),
        _ => (bytes, None),
    };
    if !body.iter().all(u8::is_ascii_digit)
        || last.is_some_and(|c| !c.is_ascii_digit() && c != b'X')
    {
        return Err(Refusal::Characters);
    }
    let birth = match len {
        18 => normalised[6..14].to_owned(),
        // Legacy numbers were issued only to people born in the 1900s.
        _ => format!("19{}", &normalised[6..12]),
    };
    check_birth_date(&birth, today)?;
    if let Some(last) = last {
        if check_character(body) != last {
            return Err(Refusal::CheckDigit);
        }
    }
    Ok(normalised)
}

/// The check character of 17 ASCII digits.
pub fn check_character(digits: &[u8]) -> u8 {
    let sum: u32 = digits
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    CHECK[(sum % 11) as usize]
}

/// `yyyymmdd`, all digits: a real date from 1900 up to `today`.
fn check_birth_date(yyyymmdd: &str, today: Date) -> Result<(), Refusal> {
    let part = |range: std::ops::Range<usize>| {
        yyyymmdd
            .get(range)
            .and_then(|s| s.parse::<i16>().ok())
            .ok_or(Refusal::BirthDate)
    };
    let (year, month, day) = (part(0..4)?, part(4..6)?, part(6..8)?);
    let month = i8::try_from(month).map_err(|_| Refusal::BirthDate)?;
    let day = i8::try_from(day).map_err(|_| Refusal::BirthDate)?;
    let date = Date::new(year, month, day).map_err(|_| Refusal::BirthDate)?;
    if date.year() < 1900 || date > today {
        return Err(Refusal::BirthDate);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> Date {
        jiff::civil::date(2026, 6, 1)
    }

    /// Completes 17 digits with the check character the algorithm gives.
    fn complete(first17: &str) -> String {
        let check = check_character(first17.as_bytes()) as char;
        format!("{first17}{check}")
    }

    #[test]
    fn the_published_example_is_valid() {
        assert_eq!(complete("11010519491231002"), "11010519491231002X");
        assert_eq!(
            validate("11010519491231002X", today()).as_deref(),
            Ok("11010519491231002X")
        );
    }

    #[test]
    fn derived_numbers_are_valid() {
        for first17 in [
            "33022519580312123",
            "11010119900101001",
            "46000019610702002",
            "44030620000229001",
            "33022520260601003",
        ] {
            let id = complete(first17);
            assert_eq!(validate(&id, today()), Ok(id.clone()), "{id}");
        }
    }

    #[test]
    fn a_lower_case_x_is_upper_cased_and_spaces_trimmed() {
        assert_eq!(
            validate("  11010519491231002x\t", today()).as_deref(),
            Ok("11010519491231002X")
        );
    }

    #[test]
    fn a_wrong_check_character_is_refused() {
        assert_eq!(
            validate("110105194912310021", today()),
            Err(Refusal::CheckDigit)
        );
        // One digit changed in the body, check character kept.
        assert_eq!(
            validate("11010519491231003X", today()),
            Err(Refusal::CheckDigit)
        );
    }

    #[test]
    fn impossible_or_future_birth_dates_are_refused() {
        for first17 in [
            "11010519490230002", // 30 February
            "11010519491331002", // month 13
            "11010519490000002", // month 0
            "11010520260602002", // tomorrow
            "11010518991231002", // before 1900
            "11010519010229002", // 1901 is no leap year
        ] {
            assert_eq!(
                validate(&complete(first17), today()),
                Err(Refusal::BirthDate),
                "{first17}"
            );
        }
    }

    #[test]
    fn wrong_lengths_are_refused() {
        for text in ["", "1101051949123100", "11010519491231002X1", "1234"] {
            assert_eq!(validate(text, today()), Err(Refusal::Length), "{text:?}");
        }
    }

    #[test]
    fn letters_and_inner_spaces_are_refused() {
        for text in [
            "1101051949123100AX",
            "X10105194912310021",
            "110105 94912310021",
            "11010519491231002Y",
            "１１０１０５１９４９１２３１００２Ｘ",
        ] {
            assert_eq!(
                validate(text, today()),
                Err(Refusal::Characters),
                "{text:?}"
            );
        }
    }

    #[test]
    fn legacy_fifteen_digit_numbers_need_a_real_date() {
        assert_eq!(
            validate("110105491231002", today()).as_deref(),
            Ok("110105491231002")
        );
        assert_eq!(
            validate("110105490230002", today()),
            Err(Refusal::BirthDate)
        );
        assert_eq!(
            validate("11010549123100X", today()),
            Err(Refusal::Characters)
        );
    }
}
