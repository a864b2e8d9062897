//! How lists and notifications name a patient: the name as written and one
//! record number, so that an alert or a row always says whom it is about
//! without the client fetching each patient. In the kernel, beside `notify`,
//! which names the patient of every notification about one.

/// The name as the register writes it: family name first, with a space only
/// between Latin-script parts ("王秀英", "Wang Xiuying").
pub fn display_name(family: &str, given: &str) -> String {
    let latin = family
        .chars()
        .last()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && given
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic());
    if latin {
        format!("{family} {given}").trim().to_owned()
    } else {
        format!("{family}{given}").trim().to_owned()
    }
}

/// An expression giving the record number of the patient in column
/// `patient` (e.g. `r.patient_id`): the one at the facility in `facility`
/// (a column or a bound parameter) if the patient has one there, else the
/// oldest record. Two subqueries, as SQLite cannot see an outer column in a
/// subquery's ORDER BY.
pub fn record_number_sql(patient: &str, facility: &str) -> String {
    format!(
        "COALESCE((SELECT pr.record_number FROM patient_record pr \
         WHERE pr.patient_id = {patient} AND pr.facility_id = {facility}), \
         (SELECT pr.record_number FROM patient_record pr WHERE pr.patient_id = {patient} \
         ORDER BY pr.id LIMIT 1))"
    )
}

#[cfg(test)]
mod tests {
    use super::display_name;

    #[test]
    fn chinese_names_have_no_space_latin_ones_do() {
        assert_eq!(display_name("王", "秀英"), "王秀英");
        assert_eq!(display_name("Wang", "Xiuying"), "Wang Xiuying");
        assert_eq!(display_name("王", ""), "王");
    }
}
