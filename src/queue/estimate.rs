//! Wait estimate (filled in below).
