//! Unit tests of QIDO-RS query parsing.

use super::*;

fn q(level: Level, params: &[(&str, &str)]) -> Result<Query, String> {
    let params: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    parse(level, &params, &[], &StudyScope::All)
}

#[test]
fn keywords_and_tags_name_the_same_attribute() {
    assert_eq!(resolve_tag("StudyInstanceUID"), Some((0x0020, 0x000D)));
    assert_eq!(resolve_tag("0020000D"), Some((0x0020, 0x000D)));
    assert_eq!(resolve_tag("NoSuchKeyword"), None);
}

#[test]
fn wildcards_become_escaped_like_patterns_and_names_are_lower_cased() {
    let query = q(Level::Study, &[("PatientName", "Sm_th*")]).expect("parses");
    assert_eq!(query.where_sql, "s.patient_name_search LIKE $1 ESCAPE '!'");
    assert_eq!(query.binds, vec![Bind::Text("sm!_th%".to_owned())]);
}

#[test]
fn ranges_lists_and_paging_parse() {
    let query = q(
        Level::Study,
        &[
            ("StudyDate", "20200101-"),
            ("StudyInstanceUID", "1.2.3,1.2.4"),
            ("limit", "5000"),
            ("offset", "2"),
        ],
    )
    .expect("parses");
    assert_eq!(
        query.where_sql,
        "s.study_date >= $1 AND s.study_uid IN ($2, $3)"
    );
    assert_eq!((query.limit, query.offset), (MAX_LIMIT, 2));
}

#[test]
fn malformed_values_are_refused_with_the_attribute_named() {
    for (name, value) in [
        ("StudyDate", "2020-13"),
        ("StudyInstanceUID", "1.02"),
        ("limit", "-1"),
        ("Foo", "x"),
    ] {
        let error = q(Level::Study, &[(name, value)]).expect_err("refused");
        assert!(
            error.contains(name.trim_start_matches("Study")) || error.contains(name),
            "{error}"
        );
    }
}

#[test]
fn series_attributes_are_ignored_at_study_level_and_scope_restricts() {
    let params = vec![("Modality".to_owned(), "CT".to_owned())];
    let scope = StudyScope::facility(7);
    let query = parse(Level::Study, &params, &[], &scope).expect("parses");
    assert_eq!(query.where_sql, "(s.facility_id = $1)");
}

#[test]
fn a_scope_condition_is_renumbered_after_the_matches_and_reuses_its_placeholders() {
    use crate::{ScopeCondition, ScopeValue};
    let params = vec![("PatientID".to_owned(), "A-1".to_owned())];
    let scope = StudyScope::Where(ScopeCondition {
        sql: "s.facility_id = $1 OR EXISTS (SELECT 1 FROM t WHERE t.f = $1 AND t.u = $2)"
            .to_owned(),
        binds: vec![ScopeValue::Int(7), ScopeValue::Text("x".to_owned())],
    });
    let query = parse(Level::Study, &params, &[], &scope).expect("parses");
    assert_eq!(
        query.where_sql,
        "s.dicom_patient_id = $1 AND (s.facility_id = $2 OR EXISTS (SELECT 1 FROM t WHERE t.f = $2 AND t.u = $3))"
    );
    assert_eq!(query.binds.len(), 3);
}

#[test]
fn a_scope_condition_naming_a_value_it_lacks_matches_nothing() {
    use crate::{ScopeCondition, ScopeValue};
    let scope = StudyScope::Where(ScopeCondition {
        sql: "s.facility_id = $2".to_owned(),
        binds: vec![ScopeValue::Int(7)],
    });
    let query = parse(Level::Study, &[], &[], &scope).expect("parses");
    assert_eq!(query.where_sql, "1 = 0");
}
