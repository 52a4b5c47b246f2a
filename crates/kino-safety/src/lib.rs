//! kino-safety
