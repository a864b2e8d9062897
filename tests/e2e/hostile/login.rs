//! hostile: login
