//! hostile: sessions
