//! hostile: connections
