//! hostile: stow
