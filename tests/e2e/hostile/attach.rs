//! hostile: attach
