//! PxL modules Loupe ships, importable by scripts (`import pxviews`): one
//! line each here, the source in `lib/`.

/// (name, file for messages, source).
pub const MODULES: &[(&str, &str, &str)] =
    &[("pxviews", "pxviews.pxl", include_str!("lib/pxviews.pxl"))];

pub fn module(name: &str) -> Option<(&'static str, &'static str, &'static str)> {
    MODULES.iter().find(|m| m.0 == name).copied()
}
