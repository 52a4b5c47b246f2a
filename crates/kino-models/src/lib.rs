//! kino's neural networks, written in candle the way candle-transformers writes models:
//! one file per network, a `Config` with named presets, small structs with
//! `new(cfg, vb)` + `forward`, and `vb.pp(..)` paths that mirror checkpoint key names.
//!
//! - [`text_encoder`]: all-MiniLM-L6-v2 sentence encoder, token-level outputs.
//! - [`causal_conv`], [`video_vae`]: causal 3D convolutional video autoencoder (KL);
//!   [`vae_kernels`]: its convolution and norm on the CPU, forward and backward.
//! - [`mel`], [`audio_vae`], [`vocoder`]: log-mel front end, audio autoencoder, waveform back end.
//! - [`dit`]: the twin-stream (video + audio) diffusion transformer.
//! - [`folder`]: the on-disk model folder (`kino-model.json` + safetensors) and its checks.
//! - [`clip_vision`]: CLIP ViT image encoder and image preprocessing (Wan 2.1 image-to-video).

pub mod audio_vae;
pub mod causal_conv;
pub mod clip_vision;
pub mod diffusers_folder;
pub mod dit;
pub mod folder;
mod fused;
mod layer_norm;
pub mod mel;
pub mod text_encoder;
pub mod umt5;
pub mod vae_kernels;
pub mod video_vae;
pub mod vocoder;
pub mod wan_transformer;
pub mod wan_vae;
