//! hostile: images
