//! kino's video autoencoder: a causal 3D convolutional KL-VAE in the spirit of the
//! LTX-Video and Wan 2.1 VAEs, sized so that decoding runs on a laptop CPU.
//!
//! - Video: `(B, 3, T, H, W)` f32 in `[-1, 1]`, `T = 1 + 4k` (causal: the first frame gets
//!   its own latent frame), `H`, `W` divisible by the spatial factor (8 for kino-tiny).
//! - Latent: `(B, z_channels, 1 + k, H / 8, W / 8)` (mean and log-variance).
//! - Pixels are first folded 2x2 into channels ("patchify", like LTX-Video's patch size),
//!   so no conv ever runs at full resolution; the decoder ends with the inverse shuffle.
//! - Levels near full resolution use per-frame 2D convs (kernel `(1, 3, 3)`), the low
//!   resolution levels use causal 3D convs (kernel `(3, 3, 3)`, see [`crate::causal_conv`]).
//!   Time is down/up-sampled only at those low-resolution levels.
//! - Norm: per-position RMS norm over channels with a learned gain (what Wan uses); unlike
//!   GroupNorm it has no statistics over time or space, so the model stays causal and
//!   chunked decoding is exact.
//! - Down: strided causal conv. Up: conv to `4 * C` + depth-to-space (pixel shuffle) in
//!   space, conv `(3, 1, 1)` to `2 * C` + depth-to-time in time (the first frame of a clip
//!   maps to one frame, every later latent frame to two).
//!
//! Activations are kept in the frames layout `(B, T, C, H, W)` inside the network, so
//! folding time into the conv batch is free; the public API speaks `(B, C, T, H, W)`.
//!
//! Checkpoint key names (`vb` paths):
//! `encoder.conv_in`, `encoder.down.{level}.resnets.{j}.{norm1.gamma,conv1,norm2.gamma,conv2,skip}`,
//! `encoder.down.{level}.downsample.conv`, `encoder.norm_out.gamma`, `encoder.conv_out`,
//! `decoder.conv_in`, `decoder.up.{k}.resnets.{j}.*` (`k = 0` is the lowest resolution,
//! the first one run), `decoder.up.{k}.upsample.{time_conv,conv}`, `decoder.norm_out.gamma`,
//! `decoder.conv_out`. Each conv has `.weight` `(out, in, kt, kh, kw)` and `.bias`.

use candle_core::{bail, DType, Result, Tensor};
use candle_nn::VarBuilder;

use crate::causal_conv::{
    channel_rms_norm_silu, depth_to_space, space_to_depth, CausalConv3d, CausalConv3dConfig,
};

/// Hyper-parameters of the video VAE.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VideoVaeConfig {
    /// Video channels (3, RGB).
    pub in_channels: usize,
    /// Pixels folded into channels before the encoder (`p x p` patches); part of the spatial factor.
    pub patch_size: usize,
    /// Channels of level 0 (the highest resolution, `H / patch_size`).
    pub base_channels: usize,
    /// Channels of level `i` are `base_channels * channel_mults[i]`.
    pub channel_mults: Vec<usize>,
    /// Residual blocks per level (encoder and decoder alike).
    pub num_res_blocks: usize,
    /// Latent channels.
    pub z_channels: usize,
    /// `spatial_down[i]`: the transition from level `i` to `i + 1` halves H and W.
    pub spatial_down: Vec<bool>,
    /// `temporal_down[i]`: the transition from level `i` to `i + 1` maps `1 + 2k` frames to `1 + k`.
    pub temporal_down: Vec<bool>,
    /// Temporal kernel size of the convs of each level: 1 = per-frame 2D convs, 3 = causal 3D.
    pub temporal_kernel: Vec<usize>,
    /// Epsilon of the RMS norms.
    pub norm_eps: f64,
}

impl VideoVaeConfig {
    /// kino-tiny: 8x spatial, 4x temporal, 16 latent channels; 0.68 M parameters (1.35 MB f16).
    ///
    /// Levels (for a 128x128 clip): 64x64 @ 16 ch (2D), 32x32 @ 32 ch (2D, 1/2 frame rate),
    /// 16x16 @ 64 ch (causal 3D, 1/4 frame rate).
    pub fn kino_tiny() -> Self {
        Self {
            in_channels: 3,
            patch_size: 2,
            base_channels: 16,
            channel_mults: vec![1, 2, 4],
            num_res_blocks: 1,
            z_channels: 16,
            spatial_down: vec![true, true],
            temporal_down: vec![true, true],
            temporal_kernel: vec![1, 1, 3],
            norm_eps: 1e-6,
        }
    }

    /// A very small configuration for tests (same factors as kino-tiny: 8x space, 4x time).
    pub fn test_tiny() -> Self {
        Self {
            in_channels: 3,
            patch_size: 2,
            base_channels: 8,
            channel_mults: vec![1, 2, 2],
            num_res_blocks: 1,
            z_channels: 8,
            spatial_down: vec![true, true],
            temporal_down: vec![true, true],
            temporal_kernel: vec![1, 3, 3],
            norm_eps: 1e-6,
        }
    }

    pub fn num_levels(&self) -> usize {
        self.channel_mults.len()
    }

    /// Channels of level `i`.
    pub fn level_channels(&self, i: usize) -> usize {
        self.base_channels * self.channel_mults[i]
    }

    /// Spatial compression factor (`patch_size * 2^(#spatial_down)`).
    pub fn spatial_factor(&self) -> usize {
        self.patch_size * (1usize << self.spatial_down.iter().filter(|&&d| d).count())
    }

    /// Temporal compression factor (`2^(#temporal_down)`).
    pub fn temporal_factor(&self) -> usize {
        1usize << self.temporal_down.iter().filter(|&&d| d).count()
    }

    /// Checks the internal consistency of the configuration.
    pub fn validate(&self) -> Result<()> {
        let l = self.num_levels();
        if l == 0 {
            bail!("VideoVaeConfig: channel_mults is empty");
        }
        if self.spatial_down.len() + 1 != l || self.temporal_down.len() + 1 != l {
            bail!(
                "VideoVaeConfig: spatial_down/temporal_down need {} entries (levels - 1), got {}/{}",
                l - 1,
                self.spatial_down.len(),
                self.temporal_down.len()
            );
        }
        if self.temporal_kernel.len() != l {
            bail!(
                "VideoVaeConfig: temporal_kernel needs {l} entries, got {}",
                self.temporal_kernel.len()
            );
        }
        if self.temporal_kernel.contains(&0) {
            bail!("VideoVaeConfig: temporal kernel sizes must be >= 1");
        }
        if self.patch_size == 0
            || self.base_channels == 0
            || self.z_channels == 0
            || self.in_channels == 0
            || self.channel_mults.contains(&0)
        {
            bail!("VideoVaeConfig: sizes must be >= 1: {self:?}");
        }
        Ok(())
    }

    /// Latent shape `(z_channels, latent_frames, h, w)` for a clip of `frames` frames of `h x w`,
    /// or an error if the clip does not fit the compression factors.
    pub fn latent_shape(
        &self,
        frames: usize,
        h: usize,
        w: usize,
    ) -> Result<(usize, usize, usize, usize)> {
        let tf = self.temporal_factor();
        let sf = self.spatial_factor();
        if frames == 0 || !(frames - 1).is_multiple_of(tf) {
            bail!("video VAE: frame count must be 1 + {tf}k, got {frames}");
        }
        if h == 0 || w == 0 || !h.is_multiple_of(sf) || !w.is_multiple_of(sf) {
            bail!("video VAE: frame size {h}x{w} must be a non-zero multiple of {sf}");
        }
        Ok((self.z_channels, 1 + (frames - 1) / tf, h / sf, w / sf))
    }

    /// Number of video frames decoded from `n` latent frames: `1 + tf * (n - 1)` (0 for 0).
    pub fn frames_for_latents(&self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            1 + self.temporal_factor() * (n - 1)
        }
    }
}

/// A diagonal Gaussian posterior `N(mean, exp(logvar))` over latents `(B, Z, T, h, w)`.
#[derive(Debug, Clone)]
pub struct DiagonalGaussian {
    pub mean: Tensor,
    pub logvar: Tensor,
}

impl DiagonalGaussian {
    /// `mean + exp(logvar / 2) * noise` (reparameterised, differentiable).
    pub fn sample(&self, noise: &Tensor) -> Result<Tensor> {
        let std = (&self.logvar * 0.5)?.exp()?;
        self.mean.add(&std.mul(noise)?)
    }

    /// Draws standard normal noise and samples.
    pub fn sample_random(&self) -> Result<Tensor> {
        let noise = self.mean.randn_like(0.0, 1.0)?;
        self.sample(&noise)
    }

    /// The mode (= mean).
    pub fn mode(&self) -> &Tensor {
        &self.mean
    }

    /// KL divergence to `N(0, 1)`, **averaged** over all latent elements (a scalar), so the
    /// weight of the KL term does not depend on the clip size.
    pub fn kl(&self) -> Result<Tensor> {
        let kl = ((self.mean.sqr()? + self.logvar.exp()?)? - &self.logvar)?;
        ((kl - 1.0)? * 0.5)?.mean_all()
    }
}

/// Losses of one training step (scalars).
#[derive(Debug, Clone)]
pub struct VaeLoss {
    /// What training minimises: the (weighted) reconstruction term, plus the motion term
    /// and `kl_weight * kl` when [`VaeLossOptions`] asks for them.
    pub total: Tensor,
    /// Mean absolute error between the clip and its reconstruction.
    pub recon: Tensor,
    /// Mean KL per latent element, see [`DiagonalGaussian::kl`].
    pub kl: Tensor,
}

/// Streaming state of the decoder: one cache slot per causal conv with `kt > 1`.
#[derive(Debug, Clone, Default)]
pub struct DecodeState {
    slots: Vec<Option<Tensor>>,
}

impl DecodeState {
    pub fn new() -> Self {
        Self::default()
    }

    /// True before the first chunk has been decoded.
    pub fn is_fresh(&self) -> bool {
        self.slots.iter().all(|s| s.is_none())
    }
}

struct Cursor<'a> {
    slots: &'a mut Vec<Option<Tensor>>,
    i: usize,
}

impl<'a> Cursor<'a> {
    fn new(slots: &'a mut Vec<Option<Tensor>>) -> Self {
        Self { slots, i: 0 }
    }

    fn next(&mut self) -> &mut Option<Tensor> {
        if self.i == self.slots.len() {
            self.slots.push(None);
        }
        let i = self.i;
        self.i += 1;
        &mut self.slots[i]
    }
}

#[derive(Debug, Clone)]
struct RmsNorm {
    gamma: Tensor,
    eps: f64,
}

impl RmsNorm {
    fn new(c: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        let gamma = vb.get_with_hints(c, "gamma", candle_nn::init::ONE)?;
        Ok(Self { gamma, eps })
    }

    /// `silu(rms_norm(x))`, frames layout (channels are dim 2); one op in training.
    fn forward_silu(&self, x: &Tensor) -> Result<Tensor> {
        channel_rms_norm_silu(x, &self.gamma, 2, self.eps)
    }
}

#[derive(Debug, Clone)]
struct ResBlock {
    norm1: RmsNorm,
    conv1: CausalConv3d,
    norm2: RmsNorm,
    conv2: CausalConv3d,
    skip: Option<CausalConv3d>,
}

impl ResBlock {
    fn new(cin: usize, cout: usize, kt: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        let conv = CausalConv3dConfig::same(kt, 3);
        Ok(Self {
            norm1: RmsNorm::new(cin, eps, vb.pp("norm1"))?,
            conv1: CausalConv3d::new(cin, cout, conv, vb.pp("conv1"))?,
            norm2: RmsNorm::new(cout, eps, vb.pp("norm2"))?,
            conv2: CausalConv3d::new(cout, cout, conv, vb.pp("conv2"))?,
            skip: if cin != cout {
                Some(CausalConv3d::new(
                    cin,
                    cout,
                    CausalConv3dConfig::same(1, 1),
                    vb.pp("skip"),
                )?)
            } else {
                None
            },
        })
    }

    fn forward(&self, x: &Tensor, cur: &mut Cursor) -> Result<Tensor> {
        let h = self.norm1.forward_silu(x)?;
        let h = self.conv1.forward_frames_cached(&h, cur.next())?;
        let h = self.norm2.forward_silu(&h)?;
        let h = self.conv2.forward_frames_cached(&h, cur.next())?;
        let s = match &self.skip {
            Some(skip) => skip.forward_frames(x)?,
            None => x.clone(),
        };
        h + s
    }
}

#[derive(Debug, Clone)]
struct EncLevel {
    resnets: Vec<ResBlock>,
    downsample: Option<CausalConv3d>,
}

#[derive(Debug, Clone)]
struct Encoder {
    conv_in: CausalConv3d,
    levels: Vec<EncLevel>,
    norm_out: RmsNorm,
    conv_out: CausalConv3d,
    patch: usize,
}

impl Encoder {
    fn new(cfg: &VideoVaeConfig, vb: VarBuilder) -> Result<Self> {
        let l = cfg.num_levels();
        let p = cfg.patch_size;
        let conv_in = CausalConv3d::new(
            cfg.in_channels * p * p,
            cfg.level_channels(0),
            CausalConv3dConfig::same(cfg.temporal_kernel[0], 3),
            vb.pp("conv_in"),
        )?;
        let mut levels = Vec::with_capacity(l);
        let mut c = cfg.level_channels(0);
        for i in 0..l {
            let vbl = vb.pp("down").pp(i);
            let co = cfg.level_channels(i);
            let mut resnets = Vec::with_capacity(cfg.num_res_blocks);
            for j in 0..cfg.num_res_blocks {
                resnets.push(ResBlock::new(
                    c,
                    co,
                    cfg.temporal_kernel[i],
                    cfg.norm_eps,
                    vbl.pp("resnets").pp(j),
                )?);
                c = co;
            }
            let downsample = if i + 1 < l && (cfg.spatial_down[i] || cfg.temporal_down[i]) {
                let (kt, st) = if cfg.temporal_down[i] { (3, 2) } else { (1, 1) };
                let s = if cfg.spatial_down[i] { 2 } else { 1 };
                Some(CausalConv3d::new(
                    c,
                    c,
                    CausalConv3dConfig::same(kt, 3).with_stride(st, s),
                    vbl.pp("downsample").pp("conv"),
                )?)
            } else {
                None
            };
            levels.push(EncLevel {
                resnets,
                downsample,
            });
        }
        let norm_out = RmsNorm::new(c, cfg.norm_eps, vb.pp("norm_out"))?;
        let conv_out = CausalConv3d::new(
            c,
            2 * cfg.z_channels,
            CausalConv3dConfig::same(cfg.temporal_kernel[l - 1], 3),
            vb.pp("conv_out"),
        )?;
        Ok(Self {
            conv_in,
            levels,
            norm_out,
            conv_out,
            patch: p,
        })
    }

    /// `(B, T, 3, H, W)` -> `(B, T', 2Z, h, w)`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, t, c, h, w) = x.dims5()?;
        let x = space_to_depth(&x.reshape((b * t, c, h, w))?, self.patch)?;
        let (_, cp, hp, wp) = x.dims4()?;
        let x = x.reshape((b, t, cp, hp, wp))?;
        let mut slots = Vec::new();
        let mut cur = Cursor::new(&mut slots);
        let mut h = self.conv_in.forward_frames(&x)?;
        for level in &self.levels {
            for r in &level.resnets {
                h = r.forward(&h, &mut cur)?;
            }
            if let Some(d) = &level.downsample {
                h = d.forward_frames(&h)?;
            }
        }
        let h = self.norm_out.forward_silu(&h)?;
        self.conv_out.forward_frames(&h)
    }
}

#[derive(Debug, Clone)]
struct Upsample {
    /// `(3, 1, 1)` causal conv to `2 C`, then depth-to-time.
    time_conv: Option<CausalConv3d>,
    /// `(1, 3, 3)` conv to `4 C_out`, then depth-to-space.
    conv: Option<CausalConv3d>,
}

impl Upsample {
    fn forward(&self, x: &Tensor, cur: &mut Cursor) -> Result<Tensor> {
        let mut x = x.clone();
        if let Some(tc) = &self.time_conv {
            let slot = cur.next();
            let first = slot.is_none();
            let y = tc.forward_frames_cached(&x, slot)?;
            let (b, t, c2, h, w) = y.dims5()?;
            let y = y.reshape((b, t * 2, c2 / 2, h, w))?;
            // The first frame of a clip has a single video frame: drop its twin.
            x = if first { y.narrow(1, 1, 2 * t - 1)? } else { y };
        }
        if let Some(conv) = &self.conv {
            let y = conv.forward_frames(&x)?;
            let (b, t, c4, h, w) = y.dims5()?;
            let y = depth_to_space(&y.reshape((b * t, c4, h, w))?, 2)?;
            x = y.reshape((b, t, c4 / 4, h * 2, w * 2))?;
        }
        Ok(x)
    }
}

#[derive(Debug, Clone)]
struct DecLevel {
    resnets: Vec<ResBlock>,
    upsample: Option<Upsample>,
}

#[derive(Debug, Clone)]
struct Decoder {
    conv_in: CausalConv3d,
    /// From the lowest resolution (run first) to the highest.
    levels: Vec<DecLevel>,
    norm_out: RmsNorm,
    conv_out: CausalConv3d,
    patch: usize,
}

impl Decoder {
    fn new(cfg: &VideoVaeConfig, vb: VarBuilder) -> Result<Self> {
        let l = cfg.num_levels();
        let p = cfg.patch_size;
        let mut c = cfg.level_channels(l - 1);
        let conv_in = CausalConv3d::new(
            cfg.z_channels,
            c,
            CausalConv3dConfig::same(cfg.temporal_kernel[l - 1], 3),
            vb.pp("conv_in"),
        )?;
        let mut levels = Vec::with_capacity(l);
        for k in 0..l {
            let i = l - 1 - k;
            let vbl = vb.pp("up").pp(k);
            let co = cfg.level_channels(i);
            let mut resnets = Vec::with_capacity(cfg.num_res_blocks);
            for j in 0..cfg.num_res_blocks {
                resnets.push(ResBlock::new(
                    c,
                    co,
                    cfg.temporal_kernel[i],
                    cfg.norm_eps,
                    vbl.pp("resnets").pp(j),
                )?);
                c = co;
            }
            let upsample = if i > 0 && (cfg.spatial_down[i - 1] || cfg.temporal_down[i - 1]) {
                let vbu = vbl.pp("upsample");
                let time_conv = if cfg.temporal_down[i - 1] {
                    Some(CausalConv3d::new(
                        c,
                        2 * c,
                        CausalConv3dConfig {
                            kernel: (3, 1, 1),
                            stride: (1, 1, 1),
                            padding: 0,
                            bias: true,
                        },
                        vbu.pp("time_conv"),
                    )?)
                } else {
                    None
                };
                let conv = if cfg.spatial_down[i - 1] {
                    let cn = cfg.level_channels(i - 1);
                    let conv = CausalConv3d::new(
                        c,
                        4 * cn,
                        CausalConv3dConfig::same(1, 3),
                        vbu.pp("conv"),
                    )?;
                    c = cn;
                    Some(conv)
                } else {
                    None
                };
                Some(Upsample { time_conv, conv })
            } else {
                None
            };
            levels.push(DecLevel { resnets, upsample });
        }
        let norm_out = RmsNorm::new(c, cfg.norm_eps, vb.pp("norm_out"))?;
        let conv_out = CausalConv3d::new(
            c,
            cfg.in_channels * p * p,
            CausalConv3dConfig::same(cfg.temporal_kernel[0], 3),
            vb.pp("conv_out"),
        )?;
        Ok(Self {
            conv_in,
            levels,
            norm_out,
            conv_out,
            patch: p,
        })
    }

    /// `(B, T', Z, h, w)` -> `(B, T, 3, H, W)`; streaming through `state`.
    fn forward(&self, z: &Tensor, state: &mut DecodeState) -> Result<Tensor> {
        let mut cur = Cursor::new(&mut state.slots);
        let mut h = self.conv_in.forward_frames_cached(z, cur.next())?;
        for level in &self.levels {
            for r in &level.resnets {
                h = r.forward(&h, &mut cur)?;
            }
            if let Some(u) = &level.upsample {
                h = u.forward(&h, &mut cur)?;
            }
        }
        let h = self.norm_out.forward_silu(&h)?;
        let h = self.conv_out.forward_frames_cached(&h, cur.next())?;
        let (b, t, cp, hp, wp) = h.dims5()?;
        let y = depth_to_space(&h.reshape((b * t, cp, hp, wp))?, self.patch)?;
        let (_, c, hh, ww) = y.dims4()?;
        y.reshape((b, t, c, hh, ww))
    }
}

/// The video VAE: [`Self::encode`] / [`Self::decode`] between `(B, 3, T, H, W)` clips and
/// `(B, Z, T', H/8, W/8)` latents.
#[derive(Debug, Clone)]
pub struct VideoVae {
    encoder: Encoder,
    decoder: Decoder,
    cfg: VideoVaeConfig,
}

impl VideoVae {
    pub fn new(cfg: &VideoVaeConfig, vb: VarBuilder) -> Result<Self> {
        cfg.validate()?;
        Ok(Self {
            encoder: Encoder::new(cfg, vb.pp("encoder"))?,
            decoder: Decoder::new(cfg, vb.pp("decoder"))?,
            cfg: cfg.clone(),
        })
    }

    pub fn config(&self) -> &VideoVaeConfig {
        &self.cfg
    }

    /// See [`VideoVaeConfig::latent_shape`].
    pub fn latent_shape(
        &self,
        frames: usize,
        h: usize,
        w: usize,
    ) -> Result<(usize, usize, usize, usize)> {
        self.cfg.latent_shape(frames, h, w)
    }

    /// See [`VideoVaeConfig::frames_for_latents`].
    pub fn frames_for_latents(&self, n: usize) -> usize {
        self.cfg.frames_for_latents(n)
    }

    /// `(B, 3, T, H, W)` in `[-1, 1]` -> posterior over `(B, Z, 1 + (T-1)/4, H/8, W/8)`.
    pub fn encode(&self, x: &Tensor) -> Result<DiagonalGaussian> {
        let (_b, c, t, h, w) = match x.dims() {
            &[b, c, t, h, w] => (b, c, t, h, w),
            d => bail!("video VAE encode expects (B, C, T, H, W), got {d:?}"),
        };
        if c != self.cfg.in_channels {
            bail!(
                "video VAE encode: expected {} channels, got {c} (shape {:?})",
                self.cfg.in_channels,
                x.dims()
            );
        }
        self.cfg.latent_shape(t, h, w)?;
        let x = x.to_dtype(self.dtype())?;
        let xf = x.permute((0, 2, 1, 3, 4))?.contiguous()?;
        let out = self.encoder.forward(&xf)?;
        let out = out.permute((0, 2, 1, 3, 4))?.contiguous()?;
        let z = self.cfg.z_channels;
        let mean = out.narrow(1, 0, z)?;
        let logvar = out.narrow(1, z, z)?.clamp(-30f32, 20f32)?;
        Ok(DiagonalGaussian { mean, logvar })
    }

    fn dtype(&self) -> DType {
        self.decoder.conv_in_dtype()
    }

    fn check_latent(&self, z: &Tensor) -> Result<usize> {
        let (c, t) = match z.dims() {
            &[_, c, t, h, w] => {
                if h == 0 || w == 0 {
                    bail!("video VAE decode: empty latent {:?}", z.dims());
                }
                (c, t)
            }
            d => bail!("video VAE decode expects (B, Z, T, h, w), got {d:?}"),
        };
        if c != self.cfg.z_channels {
            bail!(
                "video VAE decode: expected {} latent channels, got {c}",
                self.cfg.z_channels
            );
        }
        if t == 0 {
            bail!("video VAE decode: latent has no frames");
        }
        Ok(t)
    }

    /// `(B, Z, n, h, w)` -> `(B, 3, 1 + 4(n-1), 8h, 8w)` (not clamped).
    pub fn decode(&self, z: &Tensor) -> Result<Tensor> {
        self.check_latent(z)?;
        let mut state = DecodeState::new();
        let zf = z.permute((0, 2, 1, 3, 4))?.contiguous()?;
        let y = self.decoder.forward(&zf, &mut state)?;
        y.permute((0, 2, 1, 3, 4))?.contiguous()
    }

    /// Decodes the next latent frames `(B, Z, n, h, w)` of a stream; returns their video
    /// frames `(B, 3, T, H, W)`: `1 + 4(n-1)` for the first chunk, `4n` afterwards.
    /// Concatenating the chunks equals [`Self::decode`] of the whole latent.
    pub fn decode_next(&self, z: &Tensor, state: &mut DecodeState) -> Result<Tensor> {
        self.check_latent(z)?;
        let zf = z.permute((0, 2, 1, 3, 4))?.contiguous()?;
        let y = self.decoder.forward(&zf, state)?;
        y.permute((0, 2, 1, 3, 4))?.contiguous()
    }

    /// Same result as [`Self::decode`], computed `latent_frames_per_chunk` latent frames at a
    /// time (bounded memory). `on_chunk(done, total)` is called after each chunk with the
    /// number of latent frames decoded so far and the total.
    pub fn decode_chunked(
        &self,
        z: &Tensor,
        latent_frames_per_chunk: usize,
        mut on_chunk: impl FnMut(usize, usize),
    ) -> Result<Tensor> {
        let n = self.check_latent(z)?;
        if latent_frames_per_chunk == 0 {
            bail!("video VAE decode_chunked: latent_frames_per_chunk must be >= 1");
        }
        let zf = z.permute((0, 2, 1, 3, 4))?.contiguous()?;
        let mut state = DecodeState::new();
        let mut outs = Vec::new();
        let mut start = 0;
        while start < n {
            let len = latent_frames_per_chunk.min(n - start);
            outs.push(
                self.decoder
                    .forward(&zf.narrow(1, start, len)?, &mut state)?,
            );
            start += len;
            on_chunk(start, n);
        }
        let y = Tensor::cat(&outs, 1)?;
        y.permute((0, 2, 1, 3, 4))?.contiguous()
    }

    /// Training loss on a clip: encode, sample `z`, decode; `recon` = L1, `kl` = mean KL.
    pub fn loss(&self, x: &Tensor, kl_weight: f64) -> Result<VaeLoss> {
        self.loss_with_noise(x, kl_weight, |mean| mean.randn_like(0.0, 1.0))
    }

    /// [`Self::loss`] with the posterior's noise from `noise` (given the latent mean, it
    /// returns standard normal noise of its shape), so that a seeded trainer is
    /// deterministic.
    pub fn loss_with_noise(
        &self,
        x: &Tensor,
        kl_weight: f64,
        noise: impl FnOnce(&Tensor) -> Result<Tensor>,
    ) -> Result<VaeLoss> {
        self.loss_weighted(x, None, kl_weight, noise)
    }

    /// [`Self::loss_with_noise`] with a per-pixel weight on the reconstruction error:
    /// `weight` is `(B, 1, T, H, W)` (shared by the channels), non-negative with a positive
    /// sum, and the weighted term is `sum(w * |x_r - x|) / (C * sum(w))`, a weighted mean
    /// on the same scale as plain L1 (all-ones weights give exactly L1). `total` uses the
    /// weighted term; `recon` stays the plain L1, comparable across weightings.
    ///
    /// Small objects cover ~1% of a world frame, so plain L1 learns them last; a trainer
    /// that knows where they are weights those pixels up (see kino-engine's recipe
    /// `object_weight`).
    pub fn loss_weighted(
        &self,
        x: &Tensor,
        weight: Option<&Tensor>,
        kl_weight: f64,
        noise: impl FnOnce(&Tensor) -> Result<Tensor>,
    ) -> Result<VaeLoss> {
        let opts = VaeLossOptions {
            kl_weight,
            ..VaeLossOptions::default()
        };
        self.loss_with(x, weight, &opts, noise)
    }

    /// The training loss with every option (see [`VaeLossOptions`]); `weight` as in
    /// [`Self::loss_weighted`], and it weights the motion term too (a frame difference
    /// counts with the larger weight of its two frames, so an object's old and new places
    /// both count).
    pub fn loss_with(
        &self,
        x: &Tensor,
        weight: Option<&Tensor>,
        opts: &VaeLossOptions,
        noise: impl FnOnce(&Tensor) -> Result<Tensor>,
    ) -> Result<VaeLoss> {
        let (b, _, t, h, wd) = x.dims5()?;
        if let Some(w) = weight {
            if w.dims() != [b, 1, t, h, wd] {
                bail!(
                    "VideoVae::loss_with: weight shape {:?}, expected {:?}",
                    w.dims(),
                    [b, 1, t, h, wd]
                );
            }
        }
        let mut post = self.encode(x)?;
        if !opts.train_encoder {
            post = DiagonalGaussian {
                mean: post.mean.detach(),
                logvar: post.logvar.detach(),
            };
        }
        let z = post.sample(&noise(&post.mean)?)?;
        let xr = self.decode(&z)?;
        let w = weight.map(|w| w.to_dtype(x.dtype())).transpose()?;
        let err = (&xr - x)?.abs()?;
        let recon = err.mean_all()?;
        let mut total = weighted_mean(&err, w.as_ref(), recon.clone())?;
        if opts.motion_weight > 0.0 && t > 1 {
            let diff =
                |v: &Tensor| -> Result<Tensor> { v.narrow(2, 1, t - 1)? - v.narrow(2, 0, t - 1)? };
            let merr = (diff(&xr)? - diff(x)?)?.abs()?;
            let mw = w
                .as_ref()
                .map(|w| w.narrow(2, 1, t - 1)?.maximum(&w.narrow(2, 0, t - 1)?))
                .transpose()?;
            let plain = merr.mean_all()?;
            let motion = weighted_mean(&merr, mw.as_ref(), plain)?;
            total = (total + (motion * opts.motion_weight)?)?;
        }
        let kl = post.kl()?;
        if opts.train_encoder {
            total = (total + (&kl * opts.kl_weight)?)?;
        }
        Ok(VaeLoss { total, recon, kl })
    }
}

/// What [`VideoVae::loss_with`] optimises.
#[derive(Debug, Clone, PartialEq)]
pub struct VaeLossOptions {
    /// Weight of the posterior's KL to a standard normal.
    pub kl_weight: f64,
    /// Weight of an L1 on the clip's frame-to-frame differences (0: none). A plain L1
    /// lets a decoder that is unsure where a moving object is draw it smeared over its
    /// path, which costs little per pixel; the motion term charges the missing change.
    pub motion_weight: f64,
    /// `false`: the encoder gets no gradient (and the KL, which only it controls, is left
    /// out of `total`), so the latent space, and every DiT trained in it, stays valid while
    /// the decoder trains.
    pub train_encoder: bool,
}

impl Default for VaeLossOptions {
    fn default() -> Self {
        Self {
            kl_weight: 0.0,
            motion_weight: 0.0,
            train_encoder: true,
        }
    }
}

/// `sum(w * err) / (C * sum(w))` with `w` `(B, 1, T, H, W)`, or `plain` without weights.
fn weighted_mean(err: &Tensor, w: Option<&Tensor>, plain: Tensor) -> Result<Tensor> {
    match w {
        None => Ok(plain),
        Some(w) => {
            let c = err.dim(1)?;
            let num = err.broadcast_mul(w)?.sum_all()?;
            let den = (w.sum_all()? * c as f64)?;
            num.div(&den)
        }
    }
}

impl Decoder {
    fn conv_in_dtype(&self) -> DType {
        self.conv_out.weight_dtype()
    }
}
