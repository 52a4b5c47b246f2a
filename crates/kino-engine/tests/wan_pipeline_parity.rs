//! The Wan pipeline against diffusers' `WanPipeline` (tools/parity/wan_pipeline.py).
//!
//! Each fixture is a complete diffusers folder, written by `save_pretrained` (tiny random
//! networks, no text encoder), loaded here with the production loader, plus
//! `inputs.safetensors`: prompt embeddings, the initial noise, and diffusers' denoised
//! latents and decoded video. `wan_pipeline` is Wan 2.1 style (UniPC, one transformer);
//! `wan_pipeline_moe` is Wan 2.2 A14B style (two experts switching at boundary_ratio,
//! guidance_scale_2, flow-match Euler, transformers stored as shards with an index.json).

mod common;

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use common::{copy_dir, fixture_path, max_abs, meta_json, read_safetensors, rel_err};
use kino_engine::wan::{
    image_tensor, resize_bicubic, resize_lanczos, ImageCondition, WanModel, WanSampling,
};
use kino_engine::{GenerateOptions, NoProgress, Pipeline};

const TOLERANCE: f32 = 1e-4;

/// A fixture folder's `inputs.safetensors`: its tensors and diffusers' call arguments.
fn inputs(dir: &Path) -> (HashMap<String, Tensor>, serde_json::Value) {
    let (tensors, meta) = read_safetensors(&dir.join("inputs.safetensors"));
    (tensors, meta_json(&meta, "call"))
}

/// The diffusers folder at `dir`, loaded in f32 on the CPU.
fn load(dir: &Path) -> WanModel {
    WanModel::load(dir, DType::F32, &Device::Cpu)
        .unwrap_or_else(|e| panic!("loading {}: {e}", dir.display()))
}

/// The fixture folder `name` loaded, with its inputs and call arguments.
fn fixture_model(name: &str) -> (WanModel, HashMap<String, Tensor>, serde_json::Value) {
    let dir = fixture_path(name);
    let (t, call) = inputs(&dir);
    (load(&dir), t, call)
}

/// The sampling arguments of diffusers' call.
fn sampling(call: &serde_json::Value) -> WanSampling {
    WanSampling {
        steps: call["num_inference_steps"].as_u64().unwrap() as usize,
        guidance: call["guidance_scale"].as_f64().unwrap(),
        guidance_2: call["guidance_scale_2"].as_f64(),
        solver: None,
        shift: None,
    }
}

/// The message of an error that `r` must be.
fn err_of<T>(r: Result<T, impl std::fmt::Display>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

/// The shot plan of `src`.
fn parse_plan(src: &str) -> kino_prompt::ShotPlan {
    kino_prompt::parse(src).unwrap().plan
}

/// Options for a `size` clip of `seconds` at 8 fps in 2 steps that animates the image the
/// fixture `name` gave diffusers.
fn first_frame_opts(name: &str, size: (u32, u32), seconds: f64) -> GenerateOptions {
    let (t, _) = inputs(&fixture_path(name));
    GenerateOptions {
        steps: 2,
        size: Some(size),
        fps: Some(8),
        seconds: Some(seconds),
        first_frame: Some(rgb(&t["image.original"])),
        ..GenerateOptions::default()
    }
}

/// `opts` without a first frame.
fn without_first_frame(opts: &GenerateOptions) -> GenerateOptions {
    GenerateOptions {
        first_frame: None,
        ..opts.clone()
    }
}

/// `opts` without a last frame.
fn without_last_frame(opts: &GenerateOptions) -> GenerateOptions {
    GenerateOptions {
        last_frame: None,
        ..opts.clone()
    }
}

/// The video `model` generates for `plan`.
fn video_of(
    model: &WanModel,
    plan: &kino_prompt::ShotPlan,
    opts: &GenerateOptions,
) -> kino_media::VideoFrames {
    model
        .generate(plan, opts, &mut NoProgress)
        .unwrap()
        .clip
        .video
}

/// Max |a - b|.
fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    max_abs(&(a - b).unwrap())
}

/// diffusers' "pt" output: `(B, F, C, H, W)` in [0, 1].
fn pt_video(video: &Tensor) -> Tensor {
    ((video / 2.0).unwrap() + 0.5)
        .unwrap()
        .clamp(0f32, 1f32)
        .unwrap()
        .permute((0, 2, 1, 3, 4))
        .unwrap()
}

/// Asserts that `got` is within [`TOLERANCE`] of `want` (relative), printing the error.
fn check(name: &str, what: &str, got: &Tensor, want: &Tensor) {
    let err = rel_err(got, want);
    eprintln!("{name}: {what} relative error {err:e}");
    assert!(err <= TOLERANCE, "{name}: {what} relative error {err:e}");
}

fn run(name: &str) {
    let (model, t, call) = fixture_model(name);
    let latents = model
        .denoise(
            &t["latents"],
            &t["prompt_embeds"],
            Some(&t["negative_prompt_embeds"]),
            &sampling(&call),
            &mut NoProgress,
        )
        .unwrap();
    check(name, "latents", &latents, &t["expected.latents"]);
    let video = pt_video(&model.decode(&latents).unwrap());
    check(name, "video", &video, &t["expected.video"]);
}

#[test]
fn wan2_1_style_pipeline_matches_diffusers() {
    run("wan_pipeline");
}

#[test]
fn wan2_2_two_expert_pipeline_matches_diffusers() {
    run("wan_pipeline_moe");
}

/// A copy of the fixture folder `name` in a temporary folder.
fn fixture_copy(name: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixture_path(name), tmp.path());
    tmp
}

/// The error loading the folder at `dir` gives; `why` says why it must not load.
fn load_refused(dir: &Path, why: &str) -> String {
    WanModel::load(dir, DType::F32, &Device::Cpu)
        .err()
        .expect(why)
        .to_string()
}

#[test]
fn a_truncated_shard_is_reported_by_file() {
    let tmp = fixture_copy("wan_pipeline_moe");
    let shard = tmp
        .path()
        .join("transformer/diffusion_pytorch_model-00002-of-00004.safetensors");
    let bytes = std::fs::read(&shard).unwrap();
    std::fs::write(&shard, &bytes[..bytes.len() - 100]).unwrap();
    let err = load_refused(tmp.path(), "a truncated shard must not load");
    assert!(
        err.contains("00002-of-00004") && err.contains("truncated"),
        "{err}"
    );
}

#[test]
fn a_missing_key_is_named() {
    let tmp = fixture_copy("wan_pipeline");
    // Rewrite the transformer without one weight.
    let path = tmp
        .path()
        .join("transformer/diffusion_pytorch_model.safetensors");
    let mut tensors = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    let key = "blocks.1.attn2.to_k.weight";
    assert!(tensors.remove(key).is_some());
    candle_core::safetensors::save(&tensors, &path).unwrap();
    let err = load_refused(tmp.path(), "a missing key must not load");
    assert!(err.contains(key), "{err}");
}

#[test]
fn an_unknown_folder_is_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let err = err_of(WanModel::load(tmp.path(), DType::F32, &Device::Cpu));
    assert!(err.contains("model_index.json"), "{err}");
}

// Image-to-video, Wan 2.2 TI2V-5B style: `wan_ti2v` is a `WanImageToVideoPipeline` folder
// with expand_timesteps and no image encoder (tools/parity/wan_pipeline.py, write_ti2v_case).
// Its inputs add the image (`image.original`, another size than the video), the tensor
// diffusers' VideoProcessor made of it and fed the VAE (`image.vae_input`), an image already
// of the video's size with its tensor (`image.sized`, `image.sized.vae_input`), and the
// normalised first-frame latent (`expected.condition`).

fn rgb(t: &Tensor) -> image::RgbImage {
    let (h, w, c) = t.dims3().unwrap();
    assert_eq!(c, 3);
    let raw = t.flatten_all().unwrap().to_vec1::<u8>().unwrap();
    image::RgbImage::from_raw(w as u32, h as u32, raw).unwrap()
}

/// The video's (width, height) in diffusers' call.
fn call_size(call: &serde_json::Value) -> (usize, usize) {
    (
        call["width"].as_u64().unwrap() as usize,
        call["height"].as_u64().unwrap() as usize,
    )
}

#[test]
fn wan2_2_ti2v_image_to_video_matches_diffusers() {
    let name = "wan_ti2v";
    let (model, t, call) = fixture_model(name);
    assert!(model.supports_first_frame());
    // No guidance_scale_2 in TI2V's call.
    let args = sampling(&call);
    assert_eq!(args.guidance_2, None);

    let condition = model.encode_first_frame(&t["image.vae_input"]).unwrap();
    check(
        name,
        "first-frame latent",
        &condition,
        &t["expected.condition"],
    );

    let latents = model
        .denoise_i2v(
            &ImageCondition::FirstFrame(condition.clone()),
            &t["latents"],
            &t["prompt_embeds"],
            Some(&t["negative_prompt_embeds"]),
            &args,
            &mut NoProgress,
        )
        .unwrap();
    check(name, "latents", &latents, &t["expected.latents"]);
    // The first latent frame is the image's latent itself.
    let first = latents.narrow(2, 0, 1).unwrap();
    assert_eq!(max_abs_diff(&first, &condition), 0.0);

    let video = pt_video(&model.decode(&latents).unwrap());
    check(name, "video", &video, &t["expected.video"]);
}

#[test]
fn an_image_of_the_video_size_becomes_exactly_diffusers_vae_input() {
    let (t, call) = inputs(&fixture_path("wan_ti2v"));
    let (w, h) = call_size(&call);
    let got = image_tensor(&rgb(&t["image.sized"]), w, h, &Device::Cpu).unwrap();
    assert_eq!(max_abs_diff(&got, &t["image.sized.vae_input"]), 0.0);
}

#[test]
fn a_resized_image_becomes_exactly_diffusers_vae_input() {
    // diffusers resizes with PIL's LANCZOS; kino's resize_lanczos computes the same pixels.
    let (t, call) = inputs(&fixture_path("wan_ti2v"));
    let (w, h) = call_size(&call);
    let original = rgb(&t["image.original"]);
    assert_ne!(
        (original.width() as usize, original.height() as usize),
        (w, h)
    );
    let got = image_tensor(&original, w, h, &Device::Cpu).unwrap();
    assert_eq!(max_abs_diff(&got, &t["image.vae_input"]), 0.0);
}

/// `resize` gives PIL's pixels on the fixture `name`'s 5 cases `<prefix>.<k>.in` -> `.out`.
fn resize_equals_pil(
    name: &str,
    prefix: &str,
    resize: fn(&image::RgbImage, u32, u32) -> image::RgbImage,
) {
    let (t, _) = inputs(&fixture_path(name));
    let mut cases = 0;
    while let (Some(input), Some(want)) = (
        t.get(&format!("{prefix}.{cases}.in")),
        t.get(&format!("{prefix}.{cases}.out")),
    ) {
        let (input, want) = (rgb(input), rgb(want));
        let got = resize(&input, want.width(), want.height());
        assert!(
            got == want,
            "{}x{} -> {}x{} differs from PIL",
            input.width(),
            input.height(),
            want.width(),
            want.height()
        );
        cases += 1;
    }
    assert_eq!(cases, 5);
}

#[test]
fn resize_lanczos_equals_pil() {
    resize_equals_pil("wan_ti2v", "resize", resize_lanczos);
}

/// The fixture `name` with a text encoder and tokenizer added: the tiny umT5 of
/// tools/parity/umt5.py (its width is the transformer's text_dim), so the whole [`Pipeline`]
/// runs.
fn with_text_encoder(name: &str, to: &Path) {
    copy_dir(&fixture_path(name), to);
    let (weights, meta) = read_safetensors(&fixture_path("umt5.safetensors"));
    let config = meta["config"].as_str().unwrap();
    let weights: HashMap<String, Tensor> = weights
        .into_iter()
        .filter(|(k, _)| !k.starts_with("__"))
        .collect();
    std::fs::create_dir_all(to.join("text_encoder")).unwrap();
    std::fs::write(to.join("text_encoder/config.json"), config).unwrap();
    candle_core::safetensors::save(&weights, to.join("text_encoder/model.safetensors")).unwrap();
    std::fs::create_dir_all(to.join("tokenizer")).unwrap();
    std::fs::copy(
        fixture_path("umt5_tokenizer.json"),
        to.join("tokenizer/tokenizer.json"),
    )
    .unwrap();
    edit_index(to, |json| {
        json["text_encoder"] = serde_json::json!(["transformers", "UMT5EncoderModel"]);
        json["tokenizer"] = serde_json::json!(["transformers", "T5TokenizerFast"]);
    });
}

/// [`with_text_encoder`] in a temporary folder, loaded (the folder lives as long as the
/// returned guard).
fn model_with_text_encoder(name: &str) -> (tempfile::TempDir, WanModel) {
    let tmp = tempfile::tempdir().unwrap();
    with_text_encoder(name, tmp.path());
    let model = load(tmp.path());
    (tmp, model)
}

#[test]
fn generate_animates_a_first_frame_on_ti2v_and_refuses_it_elsewhere() {
    let plan = parse_plan("a red ball rolls");
    let opts = first_frame_opts("wan_ti2v", (64, 32), 0.5);

    let t2v = load(&fixture_path("wan_pipeline"));
    assert!(!t2v.supports_first_frame());
    let err = err_of(t2v.generate(&plan, &opts, &mut NoProgress));
    assert!(err.contains("image-to-video"), "{err}");

    let (_tmp, model) = model_with_text_encoder("wan_ti2v");
    let i2v = model.generate(&plan, &opts, &mut NoProgress).unwrap();
    let t2v = model
        .generate(&plan, &without_first_frame(&opts), &mut NoProgress)
        .unwrap();
    let video = &i2v.clip.video;
    assert_eq!((video.width(), video.height(), video.len()), (64, 32, 4));
    assert_eq!(t2v.clip.video.len(), 4);
    assert_ne!(video.frame(0), t2v.clip.video.frame(0));
    assert!(i2v.times.stages.iter().any(|(n, _)| n == "conditioning"));
}

/// Rewrites `model_index.json` of the folder at `dir` with `edit`.
fn edit_index(dir: &Path, edit: impl Fn(&mut serde_json::Value)) {
    let index = dir.join("model_index.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&index).unwrap()).unwrap();
    edit(&mut json);
    std::fs::write(&index, json.to_string()).unwrap();
}

fn load_err(dir: &Path) -> String {
    let err = load_refused(dir, "the folder must be refused");
    let verify = kino_engine::wan::verify_folder(dir)
        .expect_err("verify must refuse the folder too")
        .to_string();
    assert_eq!(err, verify);
    err
}

#[test]
fn image_to_video_folders_whose_parts_do_not_fit_are_refused_clearly() {
    // A transformer with an image branch and no image encoder.
    let tmp = fixture_copy("wan_i2v21");
    edit_index(tmp.path(), |json| {
        json["image_encoder"] = serde_json::json!([null, null]);
        json["image_processor"] = serde_json::json!([null, null]);
    });
    let err = load_err(tmp.path());
    assert!(err.contains("no image_encoder"), "{err}");

    // An image encoder kino does not run.
    edit_index(tmp.path(), |json| {
        json["image_encoder"] = serde_json::json!(["transformers", "SiglipVisionModel"]);
        json["image_processor"] = serde_json::json!(["transformers", "CLIPImageProcessor"]);
    });
    let err = load_err(tmp.path());
    assert!(err.contains("SiglipVisionModel"), "{err}");

    // expand_timesteps with an image encoder.
    edit_index(tmp.path(), |json| {
        json["image_encoder"] = serde_json::json!(["transformers", "CLIPVisionModel"]);
        json["expand_timesteps"] = serde_json::json!(true);
    });
    let err = load_err(tmp.path());
    assert!(err.contains("expand_timesteps"), "{err}");

    // A TI2V transformer (the VAE latent alone) without expand_timesteps: the channels do
    // not fit the concatenated condition.
    let tmp = fixture_copy("wan_ti2v");
    edit_index(tmp.path(), |json| {
        json["expand_timesteps"] = serde_json::json!(false);
    });
    let err = load_err(tmp.path());
    assert!(err.contains("12 channels"), "{err}");
}

/// `WanModel::remix_latents` against diffusers' `WanVideoToVideoPipeline` on the same folder
/// (tools/parity/wan_video2video.py): strength 0.6 of 5 UniPC steps (the last 3 run), CFG 4.
#[test]
fn video_to_video_matches_diffusers() {
    let model = load(&fixture_path("wan_pipeline"));
    let path = fixture_path("wan_video2video.safetensors");
    let t = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    // (1, F, 3, H, W) in [0, 1] -> (1, 3, F, H, W) in [-1, 1].
    let video = ((t["video"].permute((0, 2, 1, 3, 4)).unwrap() * 2.0).unwrap() - 1.0).unwrap();
    let args = WanSampling {
        steps: 5,
        guidance: 4.0,
        guidance_2: None,
        solver: None,
        shift: None,
    };
    let latents = model
        .remix_latents(
            &video,
            &t["noise"],
            0.6,
            &t["prompt_embeds"],
            Some(&t["negative_prompt_embeds"]),
            &args,
            &mut NoProgress,
        )
        .unwrap();
    check("video2video", "latents", &latents, &t["expected.latents"]);
    let out = pt_video(&model.decode(&latents).unwrap());
    check("video2video", "video", &out, &t["expected.video"]);

    // A strength that leaves no step is an error, not a silent copy.
    let err = err_of(model.remix_latents(
        &video,
        &t["noise"],
        0.1,
        &t["prompt_embeds"],
        None,
        &args,
        &mut NoProgress,
    ));
    assert!(err.contains("no step"), "{err}");
}

/// `Pipeline::extend` on a TI2V model continues from the source's last frame: the result
/// starts with the source's frames, unchanged, and runs `seconds` longer; the source's sound
/// is kept. `Pipeline::remix` keeps the length, size and sound of the source. A
/// text-to-video-only model refuses to extend, naming image-to-video.
#[test]
fn extend_continues_from_the_last_frame_and_remix_keeps_the_source_shape() {
    let plan = parse_plan("a red ball rolls");
    let (_tmp, model) = model_with_text_encoder("wan_ti2v");
    let opts = first_frame_opts("wan_ti2v", (64, 32), 1.0);
    let mut source = model.generate(&plan, &opts, &mut NoProgress).unwrap().clip;
    // Give the source a tone, to see it kept.
    let tone: Vec<f32> = (0..48_000).map(|k| (k as f32 * 0.05).sin() * 0.3).collect();
    source.audio = Some(kino_media::AudioBuffer::new(48_000, 1, tone).unwrap());
    assert_eq!(source.video.len(), 8);

    let opts = GenerateOptions {
        steps: 2,
        first_frame: None,
        ..GenerateOptions::default()
    };
    let ext = model
        .extend(&source, &plan, 0.5, &opts, &mut NoProgress)
        .unwrap()
        .clip;
    assert_eq!(ext.video.len(), 8 + 4, "1 s + 0.5 s at 8 fps");
    for k in 0..source.video.len() {
        assert_eq!(
            ext.video.frame_rgb(k),
            source.video.frame_rgb(k),
            "frame {k}"
        );
    }
    let audio = ext.audio.as_ref().unwrap();
    assert_eq!(audio.frames(), 72_000);
    assert_eq!(
        &audio.samples()[..48_000],
        source.audio.as_ref().unwrap().samples()
    );
    assert!(audio.samples()[48_000..].iter().all(|&s| s == 0.0));

    let remixed = model
        .remix(&source, &plan, 0.7, &opts, &mut NoProgress)
        .unwrap()
        .clip;
    assert_eq!(
        (
            remixed.video.width(),
            remixed.video.height(),
            remixed.video.len()
        ),
        (64, 32, 8)
    );
    assert_ne!(remixed.video.frame_rgb(3), source.video.frame_rgb(3));
    assert_eq!(
        remixed.audio.as_ref().unwrap().samples(),
        source.audio.as_ref().unwrap().samples()
    );

    let t2v = load(&fixture_path("wan_pipeline"));
    let err = err_of(t2v.extend(&source, &plan, 0.5, &opts, &mut NoProgress));
    assert!(err.contains("image-to-video"), "{err}");
}

// Image-to-video by channel concatenation: `wan_i2v21` is Wan 2.1 I2V style (a CLIP image
// encoder and image processor, a transformer with an image branch), `wan_i2v_a14b` Wan 2.2
// I2V-A14B style (no image encoder, two experts at boundary_ratio 0.9, guidance_scale_2, a
// last image) (tools/parity/wan_pipeline.py, write_i2v21_case / write_i2v_a14b_case). Their
// inputs hold the images given to diffusers (`image.original`, `image.last`), what it fed the
// VAE (`image.vae_input`, `image.last.vae_input`: the first and last frames of the video
// condition) and the CLIP encoder (`image.clip_input`), the image states
// (`expected.image_states`) and the mask-and-latents condition (`expected.condition`).
// diffusers pads the prompt embeddings to 512 tokens with zeros (its image-branch attention
// finds the image tokens by that length); the stored embeddings are the unpadded ones.

/// `t` `(B, L, D)` padded with zeros to `(B, len, D)`.
fn padded(t: &Tensor, len: usize) -> Tensor {
    let (b, l, d) = t.dims3().unwrap();
    let zeros = Tensor::zeros((b, len - l, d), t.dtype(), t.device()).unwrap();
    Tensor::cat(&[t, &zeros], 1).unwrap()
}

fn concat_case(name: &str) {
    let (model, t, call) = fixture_model(name);
    assert!(model.supports_first_frame() && model.needs_first_frame());
    let args = sampling(&call);
    let (w, h) = call_size(&call);
    let frames = call["num_frames"].as_u64().unwrap() as usize;
    let text_len = call["text_len"].as_u64().unwrap() as usize;
    let with_last = call["last_image"].as_bool().unwrap();
    assert_eq!(model.supports_last_frame(), with_last);

    // The images as diffusers' VideoProcessor resizes them (PIL LANCZOS), exactly.
    let original = rgb(&t["image.original"]);
    let last = with_last.then(|| rgb(&t["image.last"]));
    let vae_input = image_tensor(&original, w, h, &Device::Cpu).unwrap();
    assert_eq!(max_abs_diff(&vae_input, &t["image.vae_input"]), 0.0);
    if let Some(last) = &last {
        let got = image_tensor(last, w, h, &Device::Cpu).unwrap();
        assert_eq!(max_abs_diff(&got, &t["image.last.vae_input"]), 0.0);
    }

    // The mask-and-latents condition from diffusers' own VAE input.
    let video = model
        .encode_video_condition(
            &t["image.vae_input"],
            with_last.then(|| &t["image.last.vae_input"]),
            frames,
        )
        .unwrap();
    check(name, "video condition", &video, &t["expected.condition"]);

    // The CLIP image states, from the image itself (PIL BICUBIC resize, crop, normalise).
    let image_states = if let Some(want) = t.get("expected.image_states") {
        let pixels = model.clip_pixel_values(&[&original]).unwrap();
        let err = max_abs_diff(&pixels, &t["image.clip_input"]);
        eprintln!("{name}: CLIP pixel values max abs error {err:e}");
        assert!(
            err <= 1e-5,
            "{name}: CLIP pixel values max abs error {err:e}"
        );
        let states = model.encode_image_states(&[&original]).unwrap();
        check(name, "image states", &states, want);
        Some(states)
    } else {
        assert!(model.clip_pixel_values(&[&original]).is_err());
        None
    };

    // The whole condition from the images equals the parts.
    match model
        .image_condition(&original, last.as_ref(), frames, w, h)
        .unwrap()
    {
        ImageCondition::Concat {
            video: v,
            image_states: s,
        } => {
            assert_eq!(max_abs_diff(&v, &video), 0.0);
            assert_eq!(s.is_some(), image_states.is_some());
            if let (Some(s), Some(want)) = (s, &image_states) {
                assert_eq!(max_abs_diff(&s, want), 0.0);
            }
        }
        other => panic!("{name}: expected a concatenated condition, got {other:?}"),
    }

    let condition = ImageCondition::Concat {
        video: t["expected.condition"].clone(),
        image_states: t.get("expected.image_states").cloned(),
    };
    let latents = model
        .denoise_i2v(
            &condition,
            &t["latents"],
            &padded(&t["prompt_embeds"], text_len),
            Some(&padded(&t["negative_prompt_embeds"], text_len)),
            &args,
            &mut NoProgress,
        )
        .unwrap();
    check(name, "latents", &latents, &t["expected.latents"]);
    let video = pt_video(&model.decode(&latents).unwrap());
    check(name, "video", &video, &t["expected.video"]);

    // Text-to-video and video-to-video need what this model does not take.
    let err = err_of(model.denoise(
        &t["latents"],
        &t["prompt_embeds"],
        None,
        &args,
        &mut NoProgress,
    ));
    assert!(err.contains("needs an image"), "{err}");
}

#[test]
fn wan2_1_i2v_image_to_video_matches_diffusers() {
    concat_case("wan_i2v21");
}

#[test]
fn wan2_2_i2v_a14b_first_and_last_frame_matches_diffusers() {
    concat_case("wan_i2v_a14b");
}

#[test]
fn resize_bicubic_equals_pil() {
    resize_equals_pil("wan_i2v21", "bicubic", resize_bicubic);
}

/// The whole [`Pipeline`] on a Wan 2.1 I2V style folder: `generate` animates the first frame
/// (and refuses to run without one), a two-shot plan continues from the first shot's last
/// frame, and `extend` continues a clip.
#[test]
fn generate_and_extend_run_on_wan2_1_i2v() {
    let (_tmp, model) = model_with_text_encoder("wan_i2v21");
    let plan = parse_plan("a red ball rolls");
    let opts = first_frame_opts("wan_i2v21", (32, 16), 0.5);
    let out = model.generate(&plan, &opts, &mut NoProgress).unwrap();
    let video = &out.clip.video;
    assert_eq!((video.width(), video.height(), video.len()), (32, 16, 4));
    assert!(out.times.stages.iter().any(|(n, _)| n == "conditioning"));

    let err = err_of(model.generate(&plan, &without_first_frame(&opts), &mut NoProgress));
    assert!(err.contains("needs an image"), "{err}");

    let ext = model
        .extend(
            &out.clip,
            &plan,
            0.5,
            &GenerateOptions {
                steps: 2,
                ..GenerateOptions::default()
            },
            &mut NoProgress,
        )
        .unwrap()
        .clip;
    assert_eq!(ext.video.len(), 4 + 4);
    for k in 0..4 {
        assert_eq!(ext.video.frame_rgb(k), video.frame_rgb(k), "frame {k}");
    }

    let two = parse_plan("a red ball rolls [cut] the ball stops");
    assert_eq!(two.shots.len(), 2);
    let out = model
        .generate(
            &two,
            &GenerateOptions {
                seconds: Some(1.0),
                ..opts.clone()
            },
            &mut NoProgress,
        )
        .unwrap();
    assert_eq!(out.clip.video.len(), 8);
}

/// Frames above 480p are decoded tile by tile by default (bounded memory at 720p); at or
/// below it the decode is untiled, as diffusers' pipelines decode.
#[test]
fn large_frames_are_decoded_in_tiles_by_default() {
    use kino_models::wan_vae::WanVaeTiling;
    let dir = fixture_path("wan_pipeline");
    let auto = load(&dir);
    let tiled = load(&dir)
        .with_vae_tiling(Some(WanVaeTiling::default()))
        .unwrap();
    let untiled = load(&dir).with_vae_tiling(None).unwrap();
    // The tiny VAE is 4x spatial: 160 x 168 latents = 640 x 672 pixels > 832 x 480.
    let z = Tensor::randn(0f32, 1.0, (1, 4, 1, 168, 160), &Device::Cpu).unwrap();
    let a = auto.decode(&z).unwrap();
    let t = tiled.decode(&z).unwrap();
    let u = untiled.decode(&z).unwrap();
    assert_eq!(a.dims(), &[1, 3, 1, 672, 640]);
    assert_eq!(max_abs_diff(&a, &t), 0.0, "auto = tiled above 480p");
    assert!(max_abs_diff(&a, &u) > 1e-4, "tiling must change the result");
    // At 480p or below the default is untiled.
    let z = Tensor::randn(0f32, 1.0, (1, 4, 1, 24, 40), &Device::Cpu).unwrap();
    let a = auto.decode(&z).unwrap();
    let u = untiled.decode(&z).unwrap();
    assert_eq!(max_abs_diff(&a, &u), 0.0);
}

// Multi-shot plans on models that take a first frame: a later shot continues from the
// previous shot's last frame (image-to-video from it, that frame generated again and
// dropped) unless it describes its own scene, which is a hard cut (text-to-video, on models
// that can). Shot k is sampled from seed + k * 1_000_003, so each shot of a plan can be
// made again on its own with `generate`: the continuing shot is the single-shot
// image-to-video run from the previous shot's last frame, minus its first frame.

/// `n` frames of `video` from `from` on, as RGB bytes.
fn frames_of(video: &kino_media::VideoFrames, from: usize, n: usize) -> Vec<Vec<u8>> {
    (from..from + n)
        .map(|k| video.frame_rgb(k).unwrap())
        .collect()
}

fn last_frame_of(video: &kino_media::VideoFrames) -> image::RgbImage {
    let rgb = video.frame_rgb(video.len() - 1).unwrap();
    image::RgbImage::from_raw(video.width(), video.height(), rgb).unwrap()
}

/// The plan of `src` with its shots' scene text checked.
fn plan_with_scenes(src: &str, scenes: &[bool]) -> kino_prompt::ShotPlan {
    let plan = parse_plan(src);
    let got: Vec<bool> = plan
        .shots
        .iter()
        .map(|s| !s.content.scene.is_empty())
        .collect();
    assert_eq!(got, scenes, "{src}: which shots describe a scene");
    plan
}

/// Generates shot `k` of `plan` on its own: a one-shot plan with the same conditioning text,
/// shot k's seed, `frames` frames, from `first` (image-to-video) or from text.
fn shot_alone(
    model: &WanModel,
    plan: &kino_prompt::ShotPlan,
    k: usize,
    alone: &str,
    first: Option<image::RgbImage>,
    frames: usize,
    opts: &GenerateOptions,
) -> kino_media::VideoFrames {
    let single = parse_plan(alone);
    assert_eq!(single.shots.len(), 1);
    assert_eq!(
        single.shots[0].conditioning_text(&single),
        plan.shots[k].conditioning_text(plan),
        "the one-shot plan must give the model the same text"
    );
    let fps = opts.fps.unwrap();
    let opts = GenerateOptions {
        seed: opts.seed + k as u64 * 1_000_003,
        seconds: Some(frames as f64 / fps as f64),
        first_frame: first,
        ..opts.clone()
    };
    let video = video_of(model, &single, &opts);
    assert_eq!(video.len(), frames);
    video
}

/// Asserts that shot 2 of `video` (two shots of 4 frames) continues shot 1: it is shot 2
/// made on its own (the one-shot plan `alone`) by image-to-video from shot 1's last frame,
/// that first frame (shot 1's last, made again) dropped.
fn assert_continues(
    model: &WanModel,
    plan: &kino_prompt::ShotPlan,
    alone: &str,
    video: &kino_media::VideoFrames,
    opts: &GenerateOptions,
) {
    let first = last_frame_of(&video.slice(0, 4));
    let from_last = shot_alone(model, plan, 1, alone, Some(first), 5, opts);
    assert_eq!(frames_of(video, 4, 4), frames_of(&from_last, 1, 4));
}

fn stages(g: &kino_engine::Generated) -> Vec<&str> {
    g.times.stages.iter().map(|(n, _)| n.as_str()).collect()
}

/// TI2V (takes a first frame, can also start from text), no --image: shot 2 without a scene
/// of its own is image-to-video from shot 1's last frame; shot 2 with `Scene:` is a hard cut,
/// text-to-video. Shot 1 is the same text-to-video shot in both plans.
#[test]
fn ti2v_later_shots_continue_unless_they_describe_their_own_scene() {
    let (_tmp, model) = model_with_text_encoder("wan_ti2v");
    assert!(model.supports_first_frame() && !model.needs_first_frame());
    // 1 s at 8 fps, two shots of 4 frames.
    let opts = GenerateOptions {
        seed: 11,
        steps: 2,
        size: Some((64, 32)),
        fps: Some(8),
        seconds: Some(1.0),
        ..GenerateOptions::default()
    };
    let continuing = plan_with_scenes(
        "A red ball rolls across a table. [cut] Camera: slow pan left.",
        &[true, false],
    );
    let cut = plan_with_scenes(
        "A red ball rolls across a table. [cut] Scene: a blue box on a shelf.",
        &[true, true],
    );
    let a = model.generate(&continuing, &opts, &mut NoProgress).unwrap();
    let b = model.generate(&cut, &opts, &mut NoProgress).unwrap();
    let (va, vb) = (&a.clip.video, &b.clip.video);
    assert_eq!((va.len(), vb.len()), (8, 8));
    assert_eq!(
        frames_of(va, 0, 4),
        frames_of(vb, 0, 4),
        "shot 1 is the same"
    );
    // No image was given: only a continuation conditions on one.
    assert!(stages(&a).contains(&"conditioning"), "{:?}", stages(&a));
    assert!(!stages(&b).contains(&"conditioning"), "{:?}", stages(&b));

    // The continuing shot: image-to-video from frame 3, its first frame (frame 3 again)
    // dropped.
    assert_continues(&model, &continuing, "Camera: slow pan left.", va, &opts);
    // ... which is not what the same shot makes from its text alone.
    let from_text = shot_alone(
        &model,
        &continuing,
        1,
        "Camera: slow pan left.",
        None,
        4,
        &opts,
    );
    assert_ne!(frames_of(va, 4, 4), frames_of(&from_text, 0, 4));

    // The hard cut: text-to-video.
    let alone = shot_alone(
        &model,
        &cut,
        1,
        "Scene: a blue box on a shelf.",
        None,
        4,
        &opts,
    );
    assert_eq!(frames_of(vb, 4, 4), frames_of(&alone, 0, 4));

    // With --image, the first shot animates it and the second still continues.
    let image = last_frame_of(&from_text);
    let c = model
        .generate(
            &continuing,
            &GenerateOptions {
                first_frame: Some(image),
                ..opts.clone()
            },
            &mut NoProgress,
        )
        .unwrap();
    let vc = &c.clip.video;
    assert_continues(&model, &continuing, "Camera: slow pan left.", vc, &opts);
}

/// A model that needs an image (Wan 2.1 I2V) continues after a hard cut too: it cannot make
/// a shot from text alone.
#[test]
fn i2v_continues_after_a_hard_cut_as_it_needs_an_image() {
    let (_tmp, model) = model_with_text_encoder("wan_i2v21");
    assert!(model.needs_first_frame());
    let opts = GenerateOptions {
        seed: 3,
        ..first_frame_opts("wan_i2v21", (32, 16), 1.0)
    };
    let cut = plan_with_scenes(
        "A red ball rolls across a table. [cut] Scene: a blue box on a shelf.",
        &[true, true],
    );
    let out = video_of(&model, &cut, &opts);
    assert_eq!(out.len(), 8);
    assert_continues(&model, &cut, "Scene: a blue box on a shelf.", &out, &opts);
}

/// `opts.last_frame` on a model that takes one (Wan 2.2 I2V-A14B style): the last shot is
/// the first-and-last-frame video `image_condition(first, Some(last))` makes, its length
/// rounded up to the model's frame grid (2k + 1 frames for this VAE's temporal factor 2; the
/// tiny VAE's encoder, like diffusers', reads 4k + 1 frames, so the sizes here are both) so
/// the clip ends on the frame generated from the last image; earlier shots are untouched.
/// Models without it refuse.
#[test]
fn generate_ends_the_last_shot_on_a_last_frame() {
    let (t, _) = inputs(&fixture_path("wan_i2v_a14b"));
    let (_tmp, model) = model_with_text_encoder("wan_i2v_a14b");
    assert!(Pipeline::supports_last_frame(&model));
    let (first, last) = (rgb(&t["image.original"]), rgb(&t["image.last"]));
    let (w, h) = (32usize, 16usize);
    // 1 s at 8 fps = 8 frames, rounded up to 9 = 2 * 4 + 1.
    let opts = GenerateOptions {
        seed: 9,
        steps: 2,
        size: Some((w as u32, h as u32)),
        fps: Some(8),
        seconds: Some(1.0),
        first_frame: Some(first.clone()),
        last_frame: Some(last.clone()),
        ..GenerateOptions::default()
    };
    let plan = parse_plan("A red ball rolls across a table.");
    let got = video_of(&model, &plan, &opts);
    assert_eq!(got.len(), 9);

    // The same through the library: condition, noise of the shot's seed, denoise, decode.
    let frames = 9;
    let condition = model
        .image_condition(&first, Some(&last), frames, w, h)
        .unwrap();
    let noise =
        kino_engine::noise::randn(9, 1, model.latent_shape(frames, h, w), &Device::Cpu).unwrap();
    let text = plan.shots[0].conditioning_text(&plan);
    let embeds = model.encode_prompts(&[&text, ""]).unwrap();
    let args = WanSampling {
        steps: 2,
        guidance: opts.video_guidance,
        guidance_2: None,
        solver: Some(opts.solver),
        shift: None,
    };
    let latents = model
        .denoise_i2v(
            &condition,
            &noise,
            &embeds.narrow(0, 0, 1).unwrap(),
            Some(&embeds.narrow(0, 1, 1).unwrap()),
            &args,
            &mut NoProgress,
        )
        .unwrap();
    let want: Vec<u8> = ((model
        .decode(&latents)
        .unwrap()
        .squeeze(0)
        .unwrap()
        .permute((1, 2, 3, 0))
        .unwrap()
        .clamp(-1f32, 1f32)
        .unwrap()
        + 1.0)
        .unwrap()
        * 127.5)
        .unwrap()
        .round()
        .unwrap()
        .to_dtype(DType::U8)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let plane = w * h * 3;
    for k in 0..frames {
        assert_eq!(
            got.frame_rgb(k).unwrap(),
            want[k * plane..(k + 1) * plane],
            "frame {k}"
        );
    }
    // Without the last frame the clip ends elsewhere.
    let free = video_of(&model, &plan, &without_last_frame(&opts));
    assert_eq!(free.len(), 8);
    assert_ne!(free.frame_rgb(7), got.frame_rgb(8));

    // Two shots: the first is untouched by the last frame; the second ends on it.
    let two = parse_plan("A red ball rolls across a table. [cut] Camera: slow pan left.");
    let opts2 = opts.clone();
    let with_last = video_of(&model, &two, &opts2);
    let without = video_of(&model, &two, &without_last_frame(&opts2));
    // Shot 2: 4 frames + the repeated one = 5 = 2 * 2 + 1, no rounding needed.
    assert_eq!((with_last.len(), without.len()), (8, 8));
    assert_eq!(frames_of(&with_last, 0, 4), frames_of(&without, 0, 4));
    assert_ne!(frames_of(&with_last, 4, 4), frames_of(&without, 4, 4));

    // A last frame without a first frame, and remix with one, are refused.
    let err = err_of(model.generate(&plan, &without_first_frame(&opts), &mut NoProgress));
    assert!(err.contains("needs an image"), "{err}");
    let clip = kino_media::Clip {
        video: got.clone(),
        audio: None,
    };
    let err = err_of(model.remix(
        &clip,
        &plan,
        0.5,
        &without_first_frame(&opts),
        &mut NoProgress,
    ));
    assert!(err.contains("last frame"), "{err}");

    // Models without a last frame refuse it, naming it: TI2V (first frame only) and a
    // text-to-video folder.
    let (_tmp, ti2v) = model_with_text_encoder("wan_ti2v");
    let t2v = load(&fixture_path("wan_pipeline"));
    for (m, what) in [(&ti2v, "TI2V"), (&t2v, "T2V")] {
        assert!(!Pipeline::supports_last_frame(m), "{what}");
        let err = err_of(m.generate(&plan, &opts, &mut NoProgress));
        assert!(
            err.contains("last frame") || err.contains("image-to-video"),
            "{what}: {err}"
        );
    }
    let err = err_of(ti2v.generate(&plan, &opts, &mut NoProgress));
    assert!(err.contains("takes no last frame"), "{err}");
}
