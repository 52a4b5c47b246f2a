//! kino-provenance: where a kino clip came from.
//!
//! * [`watermark`]: an invisible, keyed spread-spectrum watermark in the luma of every frame
//!   that carries a 48-bit [`watermark::Payload`] and survives re-encoding, scaling, cropping
//!   and trimming.
//! * [`credentials`]: C2PA content credentials: the signing key and its certificate chain
//!   ([`credentials::ProvenanceKey`]), signing an MP4 ([`credentials::sign_mp4`]) and reading
//!   and validating what a file carries ([`credentials::read_credentials`]).
//! * [`stamp`]: both together, the way every kino clip is written: watermark the frames,
//!   encode, sign.
//! * [`visible`]: an optional visible badge ("AI · KINO") in a corner of every frame.

pub mod credentials;
pub mod stamp;
pub mod visible;
pub mod watermark;
