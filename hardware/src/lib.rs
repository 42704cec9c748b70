//! Sportello's devices behind traits: the app never touches a device directly, so a simulated
//! device can stand in wherever the hardware is absent.
//!
//! This crate has no dependency on the rest of Sportello.

pub mod emulated;
pub mod panel;
pub mod printer;
pub mod scanner;
pub mod screen;
