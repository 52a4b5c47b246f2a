//! The Wan pipeline against diffusers' `WanPipeline` (tools/parity/wan_pipeline.py).
//!
//! Each fixture is a complete diffusers folder, written by `save_pretrained` (tiny random
//! networks, no text encoder), loaded here with the production loader, plus
//! `inputs.safetensors`: prompt embeddings, the initial noise, and diffusers' denoised
//! latents and decoded video. `wan_pipeline` is Wan 2.1 style (UniPC, one transformer);
//! `wan_pipeline_moe` is Wan 2.2 A14B style (two experts switching at boundary_ratio,
//! guidance_scale_2, flow-match Euler, transformers stored as shards with an index.json).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use kino_engine::wan::{
    image_tensor, resize_bicubic, resize_lanczos, ImageCondition, WanModel, WanSampling,
};
use kino_engine::NoProgress;

const TOLERANCE: f32 = 1e-4;

fn folder(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tools/parity/fixtures")
        .join(name)
}

fn inputs(dir: &Path) -> (HashMap<String, Tensor>, serde_json::Value) {
    let path = dir.join("inputs.safetensors");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let call: serde_json::Value =
        serde_json::from_str(header["__metadata__"]["call"].as_str().unwrap()).unwrap();
    let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu).unwrap();
    (tensors, call)
}

fn max_abs(x: &Tensor) -> f32 {
    x.abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

fn rel_err(got: &Tensor, want: &Tensor) -> f32 {
    assert_eq!(got.dims(), want.dims());
    max_abs(&(got - want).unwrap()) / max_abs(want)
}

fn run(name: &str) {
    let dir = folder(name);
    let model = WanModel::load(&dir, DType::F32, &Device::Cpu)
        .unwrap_or_else(|e| panic!("loading {}: {e}", dir.display()));
    let (t, call) = inputs(&dir);
    let args = WanSampling {
        steps: call["num_inference_steps"].as_u64().unwrap() as usize,
        guidance: call["guidance_scale"].as_f64().unwrap(),
        guidance_2: call["guidance_scale_2"].as_f64(),
        solver: None,
        shift: None,
    };
    let latents = model
        .denoise(
            &t["latents"],
            &t["prompt_embeds"],
            Some(&t["negative_prompt_embeds"]),
            &args,
            &mut NoProgress,
        )
        .unwrap();
    let err = rel_err(&latents, &t["expected.latents"]);
    eprintln!("{name}: latents relative error {err:e}");
    assert!(err <= TOLERANCE, "{name}: latents relative error {err:e}");

    // diffusers' "pt" output: (B, F, C, H, W) in [0, 1].
    let video = model.decode(&latents).unwrap();
    let video = ((video / 2.0).unwrap() + 0.5)
        .unwrap()
        .clamp(0f32, 1f32)
        .unwrap()
        .permute((0, 2, 1, 3, 4))
        .unwrap();
    let err = rel_err(&video, &t["expected.video"]);
    eprintln!("{name}: video relative error {err:e}");
    assert!(err <= TOLERANCE, "{name}: video relative error {err:e}");
}

#[test]
fn wan2_1_style_pipeline_matches_diffusers() {
    run("wan_pipeline");
}

#[test]
fn wan2_2_two_expert_pipeline_matches_diffusers() {
    run("wan_pipeline_moe");
}

#[test]
fn a_truncated_shard_is_reported_by_file() {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&folder("wan_pipeline_moe"), tmp.path());
    let shard = tmp
        .path()
        .join("transformer/diffusion_pytorch_model-00002-of-00004.safetensors");
    let bytes = std::fs::read(&shard).unwrap();
    std::fs::write(&shard, &bytes[..bytes.len() - 100]).unwrap();
    let err = WanModel::load(tmp.path(), DType::F32, &Device::Cpu)
        .err()
        .expect("a truncated shard must not load")
        .to_string();
    assert!(
        err.contains("00002-of-00004") && err.contains("truncated"),
        "{err}"
    );
}

#[test]
fn a_missing_key_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&folder("wan_pipeline"), tmp.path());
    // Rewrite the transformer without one weight.
    let path = tmp
        .path()
        .join("transformer/diffusion_pytorch_model.safetensors");
    let mut tensors = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    let key = "blocks.1.attn2.to_k.weight";
    assert!(tensors.remove(key).is_some());
    candle_core::safetensors::save(&tensors, &path).unwrap();
    let err = WanModel::load(tmp.path(), DType::F32, &Device::Cpu)
        .err()
        .expect("a missing key must not load")
        .to_string();
    assert!(err.contains(key), "{err}");
}

#[test]
fn an_unknown_folder_is_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let err = WanModel::load(tmp.path(), DType::F32, &Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("model_index.json"), "{err}");
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
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

fn ti2v_call(call: &serde_json::Value) -> (WanSampling, usize, usize) {
    let args = WanSampling {
        steps: call["num_inference_steps"].as_u64().unwrap() as usize,
        guidance: call["guidance_scale"].as_f64().unwrap(),
        guidance_2: None,
        solver: None,
        shift: None,
    };
    let h = call["height"].as_u64().unwrap() as usize;
    let w = call["width"].as_u64().unwrap() as usize;
    (args, w, h)
}

#[test]
fn wan2_2_ti2v_image_to_video_matches_diffusers() {
    let name = "wan_ti2v";
    let dir = folder(name);
    let model = WanModel::load(&dir, DType::F32, &Device::Cpu)
        .unwrap_or_else(|e| panic!("loading {}: {e}", dir.display()));
    assert!(model.supports_first_frame());
    let (t, call) = inputs(&dir);
    let (args, _, _) = ti2v_call(&call);

    let condition = model.encode_first_frame(&t["image.vae_input"]).unwrap();
    let err = rel_err(&condition, &t["expected.condition"]);
    eprintln!("{name}: first-frame latent relative error {err:e}");
    assert!(
        err <= TOLERANCE,
        "{name}: first-frame latent relative error {err:e}"
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
    let err = rel_err(&latents, &t["expected.latents"]);
    eprintln!("{name}: latents relative error {err:e}");
    assert!(err <= TOLERANCE, "{name}: latents relative error {err:e}");
    // The first latent frame is the image's latent itself.
    let first = latents.narrow(2, 0, 1).unwrap();
    assert_eq!(max_abs(&(&first - &condition).unwrap()), 0.0);

    let video = model.decode(&latents).unwrap();
    let video = ((video / 2.0).unwrap() + 0.5)
        .unwrap()
        .clamp(0f32, 1f32)
        .unwrap()
        .permute((0, 2, 1, 3, 4))
        .unwrap();
    let err = rel_err(&video, &t["expected.video"]);
    eprintln!("{name}: video relative error {err:e}");
    assert!(err <= TOLERANCE, "{name}: video relative error {err:e}");
}

#[test]
fn an_image_of_the_video_size_becomes_exactly_diffusers_vae_input() {
    let (t, call) = inputs(&folder("wan_ti2v"));
    let (_, w, h) = ti2v_call(&call);
    let got = image_tensor(&rgb(&t["image.sized"]), w, h, &Device::Cpu).unwrap();
    let want = &t["image.sized.vae_input"];
    assert_eq!(got.dims(), want.dims());
    assert_eq!(max_abs(&(&got - want).unwrap()), 0.0);
}

#[test]
fn a_resized_image_becomes_exactly_diffusers_vae_input() {
    // diffusers resizes with PIL's LANCZOS; kino's resize_lanczos computes the same pixels.
    let (t, call) = inputs(&folder("wan_ti2v"));
    let (_, w, h) = ti2v_call(&call);
    let original = rgb(&t["image.original"]);
    assert_ne!(
        (original.width() as usize, original.height() as usize),
        (w, h)
    );
    let got = image_tensor(&original, w, h, &Device::Cpu).unwrap();
    let want = &t["image.vae_input"];
    assert_eq!(got.dims(), want.dims());
    assert_eq!(max_abs(&(&got - want).unwrap()), 0.0);
}

#[test]
fn resize_lanczos_equals_pil() {
    let (t, _) = inputs(&folder("wan_ti2v"));
    let mut cases = 0;
    while let (Some(input), Some(want)) = (
        t.get(&format!("resize.{cases}.in")),
        t.get(&format!("resize.{cases}.out")),
    ) {
        let (input, want) = (rgb(input), rgb(want));
        let got = resize_lanczos(&input, want.width(), want.height());
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

/// `wan_ti2v` with a text encoder and tokenizer: the tiny umT5 of tools/parity/umt5.py (its
/// width is the transformer's text_dim), so the whole [`Pipeline`] runs.
fn ti2v_with_text_encoder(to: &Path) {
    with_text_encoder("wan_ti2v", to);
}

/// The fixture `name` with the tiny umT5 text encoder and tokenizer added.
fn with_text_encoder(name: &str, to: &Path) {
    copy_dir(&folder(name), to);
    let fixtures = folder("");
    let umt5 = fixtures.join("umt5.safetensors");
    let bytes = std::fs::read(&umt5).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let config = header["__metadata__"]["config"].as_str().unwrap();
    let weights: HashMap<String, Tensor> = candle_core::safetensors::load(&umt5, &Device::Cpu)
        .unwrap()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("__"))
        .collect();
    std::fs::create_dir_all(to.join("text_encoder")).unwrap();
    std::fs::write(to.join("text_encoder/config.json"), config).unwrap();
    candle_core::safetensors::save(&weights, to.join("text_encoder/model.safetensors")).unwrap();
    std::fs::create_dir_all(to.join("tokenizer")).unwrap();
    std::fs::copy(
        fixtures.join("umt5_tokenizer.json"),
        to.join("tokenizer/tokenizer.json"),
    )
    .unwrap();
    let index = to.join("model_index.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&index).unwrap()).unwrap();
    json["text_encoder"] = serde_json::json!(["transformers", "UMT5EncoderModel"]);
    json["tokenizer"] = serde_json::json!(["transformers", "T5TokenizerFast"]);
    std::fs::write(&index, json.to_string()).unwrap();
}

#[test]
fn generate_animates_a_first_frame_on_ti2v_and_refuses_it_elsewhere() {
    use kino_engine::{GenerateOptions, Pipeline};
    let (t, _) = inputs(&folder("wan_ti2v"));
    let plan = kino_prompt::parse("a red ball rolls").unwrap().plan;
    let opts = GenerateOptions {
        steps: 2,
        size: Some((64, 32)),
        fps: Some(8),
        seconds: Some(0.5),
        first_frame: Some(rgb(&t["image.original"])),
        ..GenerateOptions::default()
    };

    let t2v = WanModel::load(&folder("wan_pipeline"), DType::F32, &Device::Cpu).unwrap();
    assert!(!t2v.supports_first_frame());
    let err = t2v
        .generate(&plan, &opts, &mut NoProgress)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("image-to-video"), "{err}");

    let tmp = tempfile::tempdir().unwrap();
    ti2v_with_text_encoder(tmp.path());
    let model = WanModel::load(tmp.path(), DType::F32, &Device::Cpu).unwrap();
    let i2v = model.generate(&plan, &opts, &mut NoProgress).unwrap();
    let t2v = model
        .generate(
            &plan,
            &GenerateOptions {
                first_frame: None,
                ..opts.clone()
            },
            &mut NoProgress,
        )
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
    let err = WanModel::load(dir, DType::F32, &Device::Cpu)
        .err()
        .expect("the folder must be refused")
        .to_string();
    let verify = kino_engine::wan::verify_folder(dir)
        .expect_err("verify must refuse the folder too")
        .to_string();
    assert_eq!(err, verify);
    err
}

#[test]
fn image_to_video_folders_whose_parts_do_not_fit_are_refused_clearly() {
    // A transformer with an image branch and no image encoder.
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&folder("wan_i2v21"), tmp.path());
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
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&folder("wan_ti2v"), tmp.path());
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
    let dir = folder("wan_pipeline");
    let model = WanModel::load(&dir, DType::F32, &Device::Cpu).unwrap();
    let path = folder("wan_video2video.safetensors");
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
    let err = rel_err(&latents, &t["expected.latents"]);
    eprintln!("video2video: latents relative error {err:e}");
    assert!(err <= TOLERANCE, "latents relative error {err:e}");
    let out = model.decode(&latents).unwrap();
    let out = ((out / 2.0).unwrap() + 0.5)
        .unwrap()
        .clamp(0f32, 1f32)
        .unwrap()
        .permute((0, 2, 1, 3, 4))
        .unwrap();
    let err = rel_err(&out, &t["expected.video"]);
    eprintln!("video2video: video relative error {err:e}");
    assert!(err <= TOLERANCE, "video relative error {err:e}");

    // A strength that leaves no step is an error, not a silent copy.
    let err = model
        .remix_latents(
            &video,
            &t["noise"],
            0.1,
            &t["prompt_embeds"],
            None,
            &args,
            &mut NoProgress,
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("no step"), "{err}");
}

/// `Pipeline::extend` on a TI2V model continues from the source's last frame: the result
/// starts with the source's frames, unchanged, and runs `seconds` longer; the source's sound
/// is kept. `Pipeline::remix` keeps the length, size and sound of the source. A
/// text-to-video-only model refuses to extend, naming image-to-video.
#[test]
fn extend_continues_from_the_last_frame_and_remix_keeps_the_source_shape() {
    use kino_engine::{GenerateOptions, Pipeline};
    let (t, _) = inputs(&folder("wan_ti2v"));
    let plan = kino_prompt::parse("a red ball rolls").unwrap().plan;
    let tmp = tempfile::tempdir().unwrap();
    ti2v_with_text_encoder(tmp.path());
    let model = WanModel::load(tmp.path(), DType::F32, &Device::Cpu).unwrap();
    let opts = GenerateOptions {
        steps: 2,
        size: Some((64, 32)),
        fps: Some(8),
        seconds: Some(1.0),
        first_frame: Some(rgb(&t["image.original"])),
        ..GenerateOptions::default()
    };
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

    let t2v = WanModel::load(&folder("wan_pipeline"), DType::F32, &Device::Cpu).unwrap();
    let err = t2v
        .extend(&source, &plan, 0.5, &opts, &mut NoProgress)
        .err()
        .unwrap()
        .to_string();
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

/// diffusers' "pt" output: `(B, F, C, H, W)` in [0, 1].
fn pt_video(video: &Tensor) -> Tensor {
    ((video / 2.0).unwrap() + 0.5)
        .unwrap()
        .clamp(0f32, 1f32)
        .unwrap()
        .permute((0, 2, 1, 3, 4))
        .unwrap()
}

fn check(name: &str, what: &str, got: &Tensor, want: &Tensor) {
    let err = rel_err(got, want);
    eprintln!("{name}: {what} relative error {err:e}");
    assert!(err <= TOLERANCE, "{name}: {what} relative error {err:e}");
}

fn concat_case(name: &str) {
    let dir = folder(name);
    let model = WanModel::load(&dir, DType::F32, &Device::Cpu)
        .unwrap_or_else(|e| panic!("loading {}: {e}", dir.display()));
    assert!(model.supports_first_frame() && model.needs_first_frame());
    let (t, call) = inputs(&dir);
    let args = WanSampling {
        steps: call["num_inference_steps"].as_u64().unwrap() as usize,
        guidance: call["guidance_scale"].as_f64().unwrap(),
        guidance_2: call["guidance_scale_2"].as_f64(),
        solver: None,
        shift: None,
    };
    let (w, h) = (
        call["width"].as_u64().unwrap() as usize,
        call["height"].as_u64().unwrap() as usize,
    );
    let frames = call["num_frames"].as_u64().unwrap() as usize;
    let text_len = call["text_len"].as_u64().unwrap() as usize;
    let with_last = call["last_image"].as_bool().unwrap();
    assert_eq!(model.supports_last_frame(), with_last);

    // The images as diffusers' VideoProcessor resizes them (PIL LANCZOS), exactly.
    let original = rgb(&t["image.original"]);
    let last = with_last.then(|| rgb(&t["image.last"]));
    let vae_input = image_tensor(&original, w, h, &Device::Cpu).unwrap();
    assert_eq!(max_abs(&(&vae_input - &t["image.vae_input"]).unwrap()), 0.0);
    if let Some(last) = &last {
        let got = image_tensor(last, w, h, &Device::Cpu).unwrap();
        assert_eq!(max_abs(&(&got - &t["image.last.vae_input"]).unwrap()), 0.0);
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
        let err = max_abs(&(&pixels - &t["image.clip_input"]).unwrap());
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
            assert_eq!(max_abs(&(&v - &video).unwrap()), 0.0);
            assert_eq!(s.is_some(), image_states.is_some());
            if let (Some(s), Some(want)) = (s, &image_states) {
                assert_eq!(max_abs(&(&s - want).unwrap()), 0.0);
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
    let err = model
        .denoise(
            &t["latents"],
            &t["prompt_embeds"],
            None,
            &args,
            &mut NoProgress,
        )
        .unwrap_err()
        .to_string();
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
    let (t, _) = inputs(&folder("wan_i2v21"));
    let mut cases = 0;
    while let (Some(input), Some(want)) = (
        t.get(&format!("bicubic.{cases}.in")),
        t.get(&format!("bicubic.{cases}.out")),
    ) {
        let (input, want) = (rgb(input), rgb(want));
        let got = resize_bicubic(&input, want.width(), want.height());
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

/// The whole [`Pipeline`] on a Wan 2.1 I2V style folder: `generate` animates the first frame
/// (and refuses to run without one), a two-shot plan continues from the first shot's last
/// frame, and `extend` continues a clip.
#[test]
fn generate_and_extend_run_on_wan2_1_i2v() {
    use kino_engine::{GenerateOptions, Pipeline};
    let (t, _) = inputs(&folder("wan_i2v21"));
    let tmp = tempfile::tempdir().unwrap();
    with_text_encoder("wan_i2v21", tmp.path());
    let model = WanModel::load(tmp.path(), DType::F32, &Device::Cpu).unwrap();
    let plan = kino_prompt::parse("a red ball rolls").unwrap().plan;
    let opts = GenerateOptions {
        steps: 2,
        size: Some((32, 16)),
        fps: Some(8),
        seconds: Some(0.5),
        first_frame: Some(rgb(&t["image.original"])),
        ..GenerateOptions::default()
    };
    let out = model.generate(&plan, &opts, &mut NoProgress).unwrap();
    let video = &out.clip.video;
    assert_eq!((video.width(), video.height(), video.len()), (32, 16, 4));
    assert!(out.times.stages.iter().any(|(n, _)| n == "conditioning"));

    let err = model
        .generate(
            &plan,
            &GenerateOptions {
                first_frame: None,
                ..opts.clone()
            },
            &mut NoProgress,
        )
        .err()
        .unwrap()
        .to_string();
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

    let two = kino_prompt::parse("a red ball rolls [cut] the ball stops")
        .unwrap()
        .plan;
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
    let dir = folder("wan_pipeline");
    let auto = WanModel::load(&dir, DType::F32, &Device::Cpu).unwrap();
    let tiled = WanModel::load(&dir, DType::F32, &Device::Cpu)
        .unwrap()
        .with_vae_tiling(Some(WanVaeTiling::default()))
        .unwrap();
    let untiled = WanModel::load(&dir, DType::F32, &Device::Cpu)
        .unwrap()
        .with_vae_tiling(None)
        .unwrap();
    // The tiny VAE is 4x spatial: 160 x 168 latents = 640 x 672 pixels > 832 x 480.
    let z = Tensor::randn(0f32, 1.0, (1, 4, 1, 168, 160), &Device::Cpu).unwrap();
    let a = auto.decode(&z).unwrap();
    let t = tiled.decode(&z).unwrap();
    let u = untiled.decode(&z).unwrap();
    assert_eq!(a.dims(), &[1, 3, 1, 672, 640]);
    assert_eq!(max_abs(&(&a - &t).unwrap()), 0.0, "auto = tiled above 480p");
    assert!(
        max_abs(&(&a - &u).unwrap()) > 1e-4,
        "tiling must change the result"
    );
    // At 480p or below the default is untiled.
    let z = Tensor::randn(0f32, 1.0, (1, 4, 1, 24, 40), &Device::Cpu).unwrap();
    let a = auto.decode(&z).unwrap();
    let u = untiled.decode(&z).unwrap();
    assert_eq!(max_abs(&(&a - &u).unwrap()), 0.0);
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
    let plan = kino_prompt::parse(src).unwrap().plan;
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
    opts: &kino_engine::GenerateOptions,
) -> kino_media::VideoFrames {
    use kino_engine::Pipeline;
    let single = kino_prompt::parse(alone).unwrap().plan;
    assert_eq!(single.shots.len(), 1);
    assert_eq!(
        single.shots[0].conditioning_text(&single),
        plan.shots[k].conditioning_text(plan),
        "the one-shot plan must give the model the same text"
    );
    let fps = opts.fps.unwrap();
    let opts = kino_engine::GenerateOptions {
        seed: opts.seed + k as u64 * 1_000_003,
        seconds: Some(frames as f64 / fps as f64),
        first_frame: first,
        ..opts.clone()
    };
    let video = model
        .generate(&single, &opts, &mut NoProgress)
        .unwrap()
        .clip
        .video;
    assert_eq!(video.len(), frames);
    video
}

fn stages(g: &kino_engine::Generated) -> Vec<&str> {
    g.times.stages.iter().map(|(n, _)| n.as_str()).collect()
}

/// TI2V (takes a first frame, can also start from text), no --image: shot 2 without a scene
/// of its own is image-to-video from shot 1's last frame; shot 2 with `Scene:` is a hard cut,
/// text-to-video. Shot 1 is the same text-to-video shot in both plans.
#[test]
fn ti2v_later_shots_continue_unless_they_describe_their_own_scene() {
    use kino_engine::{GenerateOptions, Pipeline};
    let tmp = tempfile::tempdir().unwrap();
    ti2v_with_text_encoder(tmp.path());
    let model = WanModel::load(tmp.path(), DType::F32, &Device::Cpu).unwrap();
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
    let from_last = shot_alone(
        &model,
        &continuing,
        1,
        "Camera: slow pan left.",
        Some(last_frame_of(&va.slice(0, 4))),
        5,
        &opts,
    );
    assert_eq!(frames_of(va, 4, 4), frames_of(&from_last, 1, 4));
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
    let from_last = shot_alone(
        &model,
        &continuing,
        1,
        "Camera: slow pan left.",
        Some(last_frame_of(&vc.slice(0, 4))),
        5,
        &opts,
    );
    assert_eq!(frames_of(vc, 4, 4), frames_of(&from_last, 1, 4));
}

/// A model that needs an image (Wan 2.1 I2V) continues after a hard cut too: it cannot make
/// a shot from text alone.
#[test]
fn i2v_continues_after_a_hard_cut_as_it_needs_an_image() {
    use kino_engine::{GenerateOptions, Pipeline};
    let (t, _) = inputs(&folder("wan_i2v21"));
    let tmp = tempfile::tempdir().unwrap();
    with_text_encoder("wan_i2v21", tmp.path());
    let model = WanModel::load(tmp.path(), DType::F32, &Device::Cpu).unwrap();
    assert!(model.needs_first_frame());
    let opts = GenerateOptions {
        seed: 3,
        steps: 2,
        size: Some((32, 16)),
        fps: Some(8),
        seconds: Some(1.0),
        first_frame: Some(rgb(&t["image.original"])),
        ..GenerateOptions::default()
    };
    let cut = plan_with_scenes(
        "A red ball rolls across a table. [cut] Scene: a blue box on a shelf.",
        &[true, true],
    );
    let out = model
        .generate(&cut, &opts, &mut NoProgress)
        .unwrap()
        .clip
        .video;
    assert_eq!(out.len(), 8);
    let from_last = shot_alone(
        &model,
        &cut,
        1,
        "Scene: a blue box on a shelf.",
        Some(last_frame_of(&out.slice(0, 4))),
        5,
        &opts,
    );
    assert_eq!(frames_of(&out, 4, 4), frames_of(&from_last, 1, 4));
}

/// `opts.last_frame` on a model that takes one (Wan 2.2 I2V-A14B style): the last shot is
/// the first-and-last-frame video `image_condition(first, Some(last))` makes, its length
/// rounded up to the model's frame grid (2k + 1 frames for this VAE's temporal factor 2; the
/// tiny VAE's encoder, like diffusers', reads 4k + 1 frames, so the sizes here are both) so
/// the clip ends on the frame generated from the last image; earlier shots are untouched.
/// Models without it refuse.
#[test]
fn generate_ends_the_last_shot_on_a_last_frame() {
    use kino_engine::wan::WanSampling;
    use kino_engine::{GenerateOptions, Pipeline};
    let (t, _) = inputs(&folder("wan_i2v_a14b"));
    let tmp = tempfile::tempdir().unwrap();
    with_text_encoder("wan_i2v_a14b", tmp.path());
    let model = WanModel::load(tmp.path(), DType::F32, &Device::Cpu).unwrap();
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
    let plan = kino_prompt::parse("A red ball rolls across a table.")
        .unwrap()
        .plan;
    let got = model
        .generate(&plan, &opts, &mut NoProgress)
        .unwrap()
        .clip
        .video;
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
    let free = model
        .generate(
            &plan,
            &GenerateOptions {
                last_frame: None,
                ..opts.clone()
            },
            &mut NoProgress,
        )
        .unwrap()
        .clip
        .video;
    assert_eq!(free.len(), 8);
    assert_ne!(free.frame_rgb(7), got.frame_rgb(8));

    // Two shots: the first is untouched by the last frame; the second ends on it.
    let two = kino_prompt::parse("A red ball rolls across a table. [cut] Camera: slow pan left.")
        .unwrap()
        .plan;
    let opts2 = opts.clone();
    let with_last = model
        .generate(&two, &opts2, &mut NoProgress)
        .unwrap()
        .clip
        .video;
    let without = model
        .generate(
            &two,
            &GenerateOptions {
                last_frame: None,
                ..opts2.clone()
            },
            &mut NoProgress,
        )
        .unwrap()
        .clip
        .video;
    // Shot 2: 4 frames + the repeated one = 5 = 2 * 2 + 1, no rounding needed.
    assert_eq!((with_last.len(), without.len()), (8, 8));
    assert_eq!(frames_of(&with_last, 0, 4), frames_of(&without, 0, 4));
    assert_ne!(frames_of(&with_last, 4, 4), frames_of(&without, 4, 4));

    // A last frame without a first frame, and remix with one, are refused.
    let err = model
        .generate(
            &plan,
            &GenerateOptions {
                first_frame: None,
                ..opts.clone()
            },
            &mut NoProgress,
        )
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("needs an image"), "{err}");
    let clip = kino_media::Clip {
        video: got.clone(),
        audio: None,
    };
    let err = model
        .remix(
            &clip,
            &plan,
            0.5,
            &GenerateOptions {
                first_frame: None,
                ..opts.clone()
            },
            &mut NoProgress,
        )
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("last frame"), "{err}");

    // Models without a last frame refuse it, naming it: TI2V (first frame only) and a
    // text-to-video folder.
    let tmp = tempfile::tempdir().unwrap();
    ti2v_with_text_encoder(tmp.path());
    let ti2v = WanModel::load(tmp.path(), DType::F32, &Device::Cpu).unwrap();
    let t2v = WanModel::load(&folder("wan_pipeline"), DType::F32, &Device::Cpu).unwrap();
    for (m, what) in [(&ti2v, "TI2V"), (&t2v, "T2V")] {
        assert!(!Pipeline::supports_last_frame(m), "{what}");
        let err = m
            .generate(&plan, &opts, &mut NoProgress)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("last frame") || err.contains("image-to-video"),
            "{what}: {err}"
        );
    }
    let err = ti2v
        .generate(&plan, &opts, &mut NoProgress)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("takes no last frame"), "{err}");
}
