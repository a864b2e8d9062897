//! hostile: parsing
