//! DICOM UIDs (PS3.5 §9.1): at most 64 characters, dot-separated components
//! of digits, no component empty, none with a leading zero unless it is `0`.
//! New ones come from [`generate`].

/// Why a string is not a valid UID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UidError {
    /// Empty, or only padding.
    #[error("the UID is empty")]
    Empty,
    /// Longer than the 64 characters PS3.5 allows.
    #[error("the UID has {0} characters; at most 64 are allowed")]
    TooLong(usize),
    /// A character other than a digit or `.`.
    #[error("the UID contains {0:?}; only digits and '.' are allowed")]
    BadCharacter(char),
    /// Two dots in a row, or a dot at either end.
    #[error("the UID has an empty component")]
    EmptyComponent,
    /// A component such as `012`.
    #[error("the UID component {0:?} has a leading zero")]
    LeadingZero(String),
}

/// Checks a UID as it appears in a data set. A trailing NUL, which DICOM uses
/// to pad UIDs to an even length, is ignored.
pub fn validate(uid: &str) -> Result<&str, UidError> {
    let uid = uid.trim_end_matches('\0');
    if uid.is_empty() {
        return Err(UidError::Empty);
    }
    if uid.len() > 64 {
        return Err(UidError::TooLong(uid.len()));
    }
    if let Some(bad) = uid.chars().find(|c| !c.is_ascii_digit() && *c != '.') {
        return Err(UidError::BadCharacter(bad));
    }
    for component in uid.split('.') {
        if component.is_empty() {
            return Err(UidError::EmptyComponent);
        }
        if component.len() > 1 && component.starts_with('0') {
            return Err(UidError::LeadingZero(component.to_owned()));
        }
    }
    Ok(uid)
}

/// A new UID under the `2.25` root (PS3.5 §B.2): the decimal value of a
/// random UUID. It needs no registered organisation root, and at most 39
/// digits after `2.25.` it stays within the 64 characters.
pub fn generate() -> String {
    format!("2.25.{}", uuid::Uuid::new_v4().as_u128())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_uids_are_valid_and_distinct() {
        let a = generate();
        let b = generate();
        assert!(a.starts_with("2.25."), "{a}");
        assert_eq!(validate(&a), Ok(a.as_str()));
        assert_ne!(a, b);
    }

    #[test]
    fn accepts_real_uids_and_their_padding() {
        assert_eq!(
            validate("1.2.840.10008.5.1.4.1.1.2"),
            Ok("1.2.840.10008.5.1.4.1.1.2")
        );
        assert_eq!(validate("1.2.3.0\0"), Ok("1.2.3.0"));
    }

    #[test]
    fn refuses_malformed_uids() {
        assert_eq!(validate(""), Err(UidError::Empty));
        assert_eq!(validate("1..2"), Err(UidError::EmptyComponent));
        assert_eq!(validate("1.2."), Err(UidError::EmptyComponent));
        assert_eq!(
            validate("1.02"),
            Err(UidError::LeadingZero("02".to_owned()))
        );
        assert_eq!(validate("1.2a"), Err(UidError::BadCharacter('a')));
        assert_eq!(validate(&"1.".repeat(40)[..65]), Err(UidError::TooLong(65)));
    }
}
