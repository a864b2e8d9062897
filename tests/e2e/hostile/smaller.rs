//! hostile: smaller
