//! Placeholder: the overhead bench (written next).
fn main() {}
