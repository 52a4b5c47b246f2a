//! kino-provenance: where a kino clip came from.
//!
//! * [`watermark`]: an invisible, keyed spread-spectrum watermark in the luma of every frame
//!   that carries a 48-bit [`watermark::Payload`] and survives re-encoding, scaling, cropping
//!   and trimming.
//!
//! C2PA manifest signing will live here as a sibling module.

pub mod watermark;
