//! kino serve
