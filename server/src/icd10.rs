//! ICD-10 codes as Ferry accepts them: a letter, two digits, and an optional
//! subdivision after a dot (`I21`, `I21.4`, `S72.001A`). Codes are stored
//! normalised: upper case, trimmed.

/// The normalised code, or `None` if `text` is not shaped like an ICD-10 code.
pub fn normalize(text: &str) -> Option<String> {
    let code = text.trim().to_ascii_uppercase();
    let bytes = code.as_bytes();
    let head_ok = bytes.len() >= 3
        && bytes[0].is_ascii_uppercase()
        && bytes[1].is_ascii_digit()
        && bytes[2].is_ascii_alphanumeric();
    if !head_ok {
        return None;
    }
    match &code[3..] {
        "" => Some(code),
        rest => {
            let tail = rest.strip_prefix('.')?;
            let tail_ok =
                (1..=4).contains(&tail.len()) && tail.bytes().all(|b| b.is_ascii_alphanumeric());
            tail_ok.then_some(code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn accepts_categories_and_subdivisions() {
        assert_eq!(normalize(" i21.4 ").as_deref(), Some("I21.4"));
        assert_eq!(normalize("J18").as_deref(), Some("J18"));
        assert_eq!(normalize("S72.001A").as_deref(), Some("S72.001A"));
        assert_eq!(normalize("C4A").as_deref(), Some("C4A"));
    }

    #[test]
    fn refuses_other_shapes() {
        for bad in [
            "",
            "I2",
            "121",
            "I21.",
            "I21.12345",
            "I21-4",
            "II1",
            "I21 4",
        ] {
            assert_eq!(normalize(bad), None, "{bad:?}");
        }
    }
}
