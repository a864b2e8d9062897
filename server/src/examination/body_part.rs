//! The names people type for a body part, mapped to DICOM Body Part Examined
//! terms (PS3.16 Annex L): a clinic types 头颅 or 腰椎, the record and the
//! modality worklist carry `HEAD` or `LSPINE`. One table, so the server and
//! the client's list (web-client/i18n/terms.js, whose test reads this file)
//! offer the same terms.

/// Each DICOM term with the names it is typed as: Chinese first, then
/// English (matched without case and spacing).
pub const BODY_PARTS: &[(&str, &[&str])] = &[
    ("HEAD", &["头颅", "头部", "颅脑", "头颅部", "head"]),
    ("BRAIN", &["脑", "脑部", "大脑", "brain"]),
    ("SKULL", &["颅骨", "skull"]),
    ("HEADNECK", &["头颈部", "头颈", "head and neck"]),
    ("NECK", &["颈部", "颈", "neck"]),
    ("CSPINE", &["颈椎", "颈椎间盘", "cervical spine"]),
    ("TSPINE", &["胸椎", "thoracic spine"]),
    ("LSPINE", &["腰椎", "腰椎间盘", "腰", "lumbar spine"]),
    ("SSPINE", &["骶椎", "sacral spine"]),
    ("COCCYX", &["尾骨", "coccyx"]),
    ("SPINE", &["脊柱", "全脊柱", "spine"]),
    ("CHEST", &["胸部", "胸", "胸片", "胸腔", "chest"]),
    ("LUNG", &["肺", "肺部", "双肺", "lung"]),
    ("HEART", &["心脏", "心", "heart"]),
    ("BREAST", &["乳腺", "乳房", "breast"]),
    ("ABDOMEN", &["腹部", "腹", "上腹部", "全腹", "abdomen"]),
    ("PELVIS", &["盆腔", "骨盆", "盆部", "pelvis"]),
    (
        "ABDOMENPELVIS",
        &["腹盆腔", "腹部盆腔", "全腹盆腔", "abdomen and pelvis"],
    ),
    ("CHESTABDOMEN", &["胸腹部", "胸腹", "chest and abdomen"]),
    ("LIVER", &["肝脏", "肝", "liver"]),
    ("GALLBLADDER", &["胆囊", "gallbladder"]),
    ("KIDNEY", &["肾脏", "肾", "双肾", "kidney"]),
    ("PANCREAS", &["胰腺", "pancreas"]),
    ("SPLEEN", &["脾脏", "spleen"]),
    ("BLADDER", &["膀胱", "bladder"]),
    ("PROSTATE", &["前列腺", "prostate"]),
    ("UTERUS", &["子宫", "uterus"]),
    ("OVARY", &["卵巢", "ovary"]),
    ("THYROID", &["甲状腺", "甲状腺部", "thyroid"]),
    ("CAROTID", &["颈动脉", "carotid artery"]),
    ("CLAVICLE", &["锁骨", "clavicle"]),
    ("RIB", &["肋骨", "ribs"]),
    ("SHOULDER", &["肩关节", "肩", "肩部", "shoulder"]),
    ("HUMERUS", &["肱骨", "humerus"]),
    ("ELBOW", &["肘关节", "肘", "肘部", "elbow"]),
    ("FOREARM", &["前臂", "forearm"]),
    ("WRIST", &["腕关节", "腕", "腕部", "wrist"]),
    ("HAND", &["手", "手部", "hand"]),
    ("HIP", &["髋关节", "髋", "髋部", "hip"]),
    ("FEMUR", &["股骨", "femur"]),
    ("KNEE", &["膝关节", "膝", "膝部", "knee"]),
    ("LEG", &["小腿", "lower leg"]),
    ("ANKLE", &["踝关节", "踝", "踝部", "ankle"]),
    ("FOOT", &["足", "脚", "foot"]),
    ("EXTREMITY", &["四肢", "肢体", "extremity"]),
    ("TMJ", &["颞下颌关节", "jaw joint"]),
    ("WHOLEBODY", &["全身", "全身各部", "whole body"]),
];

/// The DICOM term for a name typed in Chinese or English, if the table has
/// it; `None` for anything else (which may still be a DICOM term itself).
pub fn dicom_term(typed: &str) -> Option<&'static str> {
    let wanted = squeeze(typed);
    if wanted.is_empty() {
        return None;
    }
    BODY_PARTS
        .iter()
        .find(|(_, names)| names.iter().any(|name| squeeze(name) == wanted))
        .map(|(term, _)| *term)
}

/// Lower case without spaces, hyphens or underscores: "Lumbar spine",
/// "lumbar-spine" and "lumbarspine" are one name; Chinese is unchanged.
fn squeeze(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && *c != '-' && *c != '_' && *c != '\u{3000}')
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_and_english_names_map_to_dicom_terms() {
        assert_eq!(dicom_term("头颅"), Some("HEAD"));
        assert_eq!(dicom_term(" 胸部 "), Some("CHEST"));
        assert_eq!(dicom_term("腹部"), Some("ABDOMEN"));
        assert_eq!(dicom_term("腰椎"), Some("LSPINE"));
        assert_eq!(dicom_term("颈椎"), Some("CSPINE"));
        assert_eq!(dicom_term("Lumbar spine"), Some("LSPINE"));
        assert_eq!(dicom_term("膝关节"), Some("KNEE"));
        assert_eq!(dicom_term("肚子"), None);
        assert_eq!(dicom_term(""), None);
    }

    #[test]
    fn every_term_is_a_dicom_code_string_and_no_name_means_two_terms() {
        let mut seen = std::collections::HashMap::new();
        for (term, names) in BODY_PARTS {
            assert!(
                term.len() <= 16 && term.bytes().all(|b| b.is_ascii_uppercase()),
                "{term}"
            );
            assert!(!names.is_empty(), "{term}");
            for name in *names {
                if let Some(other) = seen.insert(squeeze(name), *term) {
                    panic!("{name} names both {other} and {term}");
                }
            }
        }
    }
}
