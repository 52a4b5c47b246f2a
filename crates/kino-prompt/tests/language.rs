//! The prompt language: sections, shots, time forms, camera vocabulary,
//! dialogue, settings, negatives, JSON shape.

use kino_prompt::*;

fn plan(src: &str) -> ShotPlan {
    match parse(src) {
        Ok(p) => p.plan,
        Err(e) => panic!("{src}\n{e}"),
    }
}

fn ranges(p: &ShotPlan) -> Vec<(f64, f64)> {
    p.shots
        .iter()
        .map(|s| {
            (
                (s.start_s * 1000.0).round() / 1000.0,
                (s.end_s * 1000.0).round() / 1000.0,
            )
        })
        .collect()
}

const SCRIPT: &str = "Duration: 8s
Seed: 42
Preset: Cinematic
Style: 35mm film, warm tones, subtle grain.
Negative: text, watermarks, blurry faces
Audio: rain on the windows throughout, distant thunder at 00:06.5

Shot 1 (0:00-0:04): Wide shot of a neon-lit alley at night. A woman in a red coat walks toward camera.
Camera: slow dolly in, low angle, 35mm.
Dialogue: MAYA: \"We made it.\" (at 00:03)

Shot 2 (0:04-0:08): Close-up of her face, rain dripping. She smiles.
Camera: static, shallow depth of field
Style: cold blue tones
Audio: a car horn from 00:05 to 00:06
LEO (whispering): \"Not yet.\" at 0:07
";

#[test]
fn multi_shot_script() {
    let p = plan(SCRIPT);
    assert_eq!(p.clip.duration_s, 8.0);
    assert_eq!(p.clip.seed, Some(42));
    assert_eq!(p.clip.style_preset.as_deref(), Some("cinematic"));
    assert_eq!(p.clip.spans.seed, Some(Span::new(2, 7, 2)));
    assert_eq!(ranges(&p), [(0.0, 4.0), (4.0, 8.0)]);
    assert!(p.shots.iter().all(|s| s.timing == ShotTiming::Explicit));
    assert_eq!(p.shots[1].number, Some(2));
    assert_eq!(p.shots[1].span, Span::new(12, 1, 19));

    // Global items.
    assert_eq!(p.global.style.len(), 3);
    assert_eq!(p.global.negatives.len(), 3);
    let thunder = &p.global.audio[1];
    assert_eq!(thunder.kind, AudioKind::Ambient);
    assert_eq!(thunder.at.unwrap().start_s, 6.5);

    // Shot 1: camera from its own section plus framing from its prose.
    let s1 = &p.shots[0];
    assert_eq!(
        s1.content.camera.moves[0].movement,
        CameraMove::Push {
            direction: InOut::In,
            speed: Speed::Slow
        }
    );
    assert_eq!(s1.content.camera.angle.as_ref().unwrap().value, Angle::Low);
    assert_eq!(
        s1.content.camera.framing.as_ref().unwrap().value,
        Framing::Wide
    );
    assert_eq!(
        s1.content.camera.lens.as_ref().unwrap().focal_length_mm,
        35.0
    );
    let d = &s1.content.dialogue[0];
    assert_eq!(d.speaker.as_deref(), Some("MAYA"));
    assert_eq!(d.text, "We made it.");
    assert_eq!(d.at.unwrap().start_s, 3.0);
    assert_eq!(d.span, Span::new(10, 11, 30));

    // Effective directives: global style, thunder only where it plays.
    let e1 = s1.effective(&p);
    assert_eq!(e1.style.len(), 3);
    assert_eq!(e1.audio.len(), 1, "thunder at 6.5 s is not in shot 1");
    assert_eq!(e1.negatives.len(), 3);
    let s2 = &p.shots[1];
    let e2 = s2.effective(&p);
    assert_eq!(e2.style.len(), 1, "shot style replaces the global style");
    assert_eq!(e2.style[0].text, "cold blue tones");
    assert_eq!(e2.audio.len(), 3);
    assert_eq!(e2.camera.moves[0].movement, CameraMove::Static);
    let horn = s2.content.audio[0].at.unwrap();
    assert_eq!((horn.start_s, horn.end_s), (5.0, Some(6.0)));
    let leo = &s2.content.dialogue[0];
    assert_eq!(leo.speaker.as_deref(), Some("LEO"));
    assert_eq!(leo.delivery.as_deref(), Some("whispering"));
    assert_eq!(leo.at.unwrap().start_s, 7.0);

    // Conditioning text: shot-relative times, all parts present.
    let t2 = s2.conditioning_text(&p);
    assert!(
        t2.starts_with("Close-up of her face, rain dripping. She smiles."),
        "{t2}"
    );
    assert!(t2.contains("distant thunder at 2.5 s"), "{t2}");
    assert!(t2.contains("a car horn from 1.0 s to 2.0 s"), "{t2}");
    assert!(
        t2.contains("LEO (whispering) says \"Not yet.\" at 3.0 s"),
        "{t2}"
    );
    assert!(
        t2.contains("Style: cold blue tones, cinematic preset."),
        "{t2}"
    );
    assert!(
        t2.ends_with("Avoid: text, watermarks, blurry faces."),
        "{t2}"
    );

    let pretty = p.to_pretty_text();
    assert!(pretty.starts_with("Clip: 8.0 s, 1280x720 (16:9), 24 fps, seed 42, preset cinematic"));
    assert!(
        pretty.contains("Shot 2: 4.0–8.0 s (as written)  [12:1]"),
        "{pretty}"
    );
}

#[test]
fn unspecified_durations_split_evenly() {
    let p = plan("Duration: 6s\nShot 1: a fox\nShot 2: a hare\nShot 3: a hawk");
    assert_eq!(ranges(&p), [(0.0, 2.0), (2.0, 4.0), (4.0, 6.0)]);
    assert!(p.shots.iter().all(|s| s.timing == ShotTiming::Even));

    let p = plan("Duration: 10s\nShot 1 (4s): a\nShot 2: b\nShot 3: c");
    assert_eq!(ranges(&p), [(0.0, 4.0), (4.0, 7.0), (7.0, 10.0)]);
    assert_eq!(p.shots[0].timing, ShotTiming::Duration);

    // Free time between explicit ranges is shared too.
    let p =
        plan("Duration: 9s\nShot 1 (0:00-0:03): a\nShot 2: b\nShot 3: c\nShot 4 (0:07-0:09): d");
    assert_eq!(ranges(&p), [(0.0, 3.0), (3.0, 5.0), (5.0, 7.0), (7.0, 9.0)]);

    // Duration inside a shot block is that shot's length.
    let p = plan("Duration: 8s\nShot 1: a\nDuration: 2s\nShot 2: b");
    assert_eq!(ranges(&p), [(0.0, 2.0), (2.0, 8.0)]);
}

#[test]
fn explicit_ranges_extend_the_default_duration() {
    let p = plan("Shot 1 (0:00-0:04): a\nShot 2 (0:04-0:10): b");
    assert_eq!(p.clip.duration_s, 10.0);
    let p = plan("Shot 1 (3s): a\nShot 2 (3s): b");
    assert_eq!(p.clip.duration_s, 6.0);
    // Untimed shots alone never extend it.
    let p = plan("Shot 1: a\nShot 2: b");
    assert_eq!(p.clip.duration_s, 4.0);
}

#[test]
fn cut_separators() {
    let p = plan("A cat sleeps on a windowsill. [cut] The cat wakes up, no people. [CUT]\nThe cat jumps down at 0:03.");
    assert_eq!(p.shots.len(), 3);
    assert_eq!(ranges(&p), [(0.0, 1.333), (1.333, 2.667), (2.667, 4.0)]);
    assert!(p.global.is_empty());
    assert_eq!(
        p.shots[0].content.scene[0].text,
        "A cat sleeps on a windowsill"
    );
    assert_eq!(p.shots[1].span, Span::new(1, 31, 5));
    assert_eq!(p.shots[1].content.negatives[0].text, "people");
    let jump = &p.shots[2].content.motion[0];
    assert_eq!(jump.text, "The cat jumps down");
    assert_eq!(jump.at.unwrap().start_s, 3.0);
    assert_eq!(jump.span.line, 2);
    // Relative to the shot start in the conditioning text.
    let t = p.shots[2].conditioning_text(&p);
    assert_eq!(t, "The cat jumps down at 0.333 s.");
}

#[test]
fn per_shot_camera_overrides_global_camera() {
    let p = plan(
        "Camera: slow orbit left, 85mm\nShot 1: a knight\nShot 2: a dragon\nCamera: crane up fast",
    );
    let e1 = p.shots[0].effective(&p);
    assert_eq!(
        e1.camera.moves[0].movement,
        CameraMove::Orbit {
            direction: Some(Horizontal::Left),
            speed: Speed::Slow
        }
    );
    assert_eq!(e1.camera.lens.as_ref().unwrap().focal_length_mm, 85.0);
    let e2 = p.shots[1].effective(&p);
    assert_eq!(
        e2.camera.moves[0].movement,
        CameraMove::Crane {
            direction: Some(Vertical::Up),
            speed: Speed::Fast
        }
    );
    assert!(e2.camera.lens.is_none());
}

#[test]
fn sections_any_order_case_insensitive_and_inline() {
    let p = plan("AUDIO: crickets. scene: a pond at night. Camera: Pan Right. avoid: frogs");
    let c = &p.shots[0].content;
    assert_eq!(c.audio[0].description, "crickets");
    assert_eq!(c.scene[0].text, "a pond at night");
    assert_eq!(c.scene[0].span, Span::new(1, 25, 15));
    assert_eq!(
        c.camera.moves[0].movement,
        CameraMove::Pan {
            direction: Some(Horizontal::Right),
            speed: Speed::Normal
        }
    );
    assert_eq!(c.negatives[0].text, "frogs");

    // Unlabelled lines continue a section until a blank line.
    let p = plan("Audio: rain,\nthunder at 0:02\n\nA farmhouse in a storm.");
    let c = &p.shots[0].content;
    assert_eq!(c.audio.len(), 2);
    assert_eq!(c.audio[1].at.unwrap().start_s, 2.0);
    assert_eq!(c.scene[0].text, "A farmhouse in a storm");

    // A colon in prose is not a section.
    let p = plan("The sign reads: closed");
    assert_eq!(p.shots[0].content.scene[0].text, "The sign reads: closed");
}

#[test]
fn time_forms() {
    let src = "Duration: 12s\nAudio: bell at 5 seconds, gong 6s, splash at 0:03.5, drums 00:02-00:04, horn from 7s to 9s, \
               choir between 0:10 and 0:11, beep @ 1.5s, click (at 00:01)";
    let p = plan(src);
    let got: Vec<(String, f64, Option<f64>)> = p.shots[0]
        .content
        .audio
        .iter()
        .map(|a| {
            (
                a.description.clone(),
                a.at.unwrap().start_s,
                a.at.unwrap().end_s,
            )
        })
        .collect();
    let want = [
        ("bell", 5.0, None),
        ("gong", 6.0, None),
        ("splash", 3.5, None),
        ("drums", 2.0, Some(4.0)),
        ("horn", 7.0, Some(9.0)),
        ("choir", 10.0, Some(11.0)),
        ("beep", 1.5, None),
        ("click", 1.0, None),
    ];
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert_eq!((g.0.as_str(), g.1, g.2), w);
    }
    // Decades and durations are not cue times.
    let p = plan("Audio: 80s synth pop, a hum that lasts 5 seconds");
    assert!(p.shots[0].content.audio.iter().all(|a| a.at.is_none()));
}

#[test]
fn camera_vocabulary_in_a_camera_section() {
    let cases: &[(&str, CameraMove)] = &[
        ("static", CameraMove::Static),
        ("locked-off", CameraMove::Static),
        (
            "fast pull-out",
            CameraMove::Push {
                direction: InOut::Out,
                speed: Speed::Fast,
            },
        ),
        (
            "dolly in",
            CameraMove::Push {
                direction: InOut::In,
                speed: Speed::Normal,
            },
        ),
        (
            "pan left slowly",
            CameraMove::Pan {
                direction: Some(Horizontal::Left),
                speed: Speed::Slow,
            },
        ),
        (
            "tilt down",
            CameraMove::Tilt {
                direction: Some(Vertical::Down),
                speed: Speed::Normal,
            },
        ),
        (
            "truck right",
            CameraMove::Truck {
                direction: Some(Horizontal::Right),
                speed: Speed::Normal,
            },
        ),
        (
            "pedestal up",
            CameraMove::Pedestal {
                direction: Some(Vertical::Up),
                speed: Speed::Normal,
            },
        ),
        (
            "orbit",
            CameraMove::Orbit {
                direction: None,
                speed: Speed::Normal,
            },
        ),
        (
            "crane down",
            CameraMove::Crane {
                direction: Some(Vertical::Down),
                speed: Speed::Normal,
            },
        ),
        (
            "zoom out",
            CameraMove::Zoom {
                direction: InOut::Out,
                speed: Speed::Normal,
            },
        ),
        ("handheld", CameraMove::HandHeld),
        (
            "tracking shot",
            CameraMove::Track {
                speed: Speed::Normal,
            },
        ),
        (
            "whip pan right",
            CameraMove::Pan {
                direction: Some(Horizontal::Right),
                speed: Speed::Fast,
            },
        ),
    ];
    for (words, want) in cases {
        let p = plan(&format!("A lighthouse.\nCamera: {words}"));
        let moves: Vec<CameraMove> = p.shots[0]
            .content
            .camera
            .moves
            .iter()
            .map(|m| m.movement)
            .collect();
        assert_eq!(moves, [*want], "{words}");
    }
    let p = plan("A lighthouse.\nCamera: extreme close-up, overhead, deep focus, 24 mm");
    let cam = &p.shots[0].content.camera;
    assert_eq!(cam.framing.as_ref().unwrap().value, Framing::ExtremeCloseUp);
    assert_eq!(cam.angle.as_ref().unwrap().value, Angle::Overhead);
    assert_eq!(
        cam.depth_of_field.as_ref().unwrap().value,
        DepthOfField::Deep
    );
    assert_eq!(cam.lens.as_ref().unwrap().focal_length_mm, 24.0);
    assert_eq!(cam.framing.as_ref().unwrap().span, Span::new(2, 9, 16));
    for (words, want) in [
        ("medium shot", Framing::Medium),
        ("wide", Framing::Wide),
        ("close-up", Framing::CloseUp),
    ] {
        let p = plan(&format!("A lighthouse.\nCamera: {words}"));
        assert_eq!(
            p.shots[0].content.camera.framing.as_ref().unwrap().value,
            want,
            "{words}"
        );
    }
    for (words, want) in [("low angle", Angle::Low), ("high angle", Angle::High)] {
        let p = plan(&format!("A lighthouse.\nCamera: {words}"));
        assert_eq!(
            p.shots[0].content.camera.angle.as_ref().unwrap().value,
            want,
            "{words}"
        );
    }
}

#[test]
fn camera_terms_in_prose() {
    let p = plan("A slow push-in on a lighthouse at dawn, 50mm lens, shallow depth of field.");
    let cam = &p.shots[0].content.camera;
    assert_eq!(
        cam.moves[0].movement,
        CameraMove::Push {
            direction: InOut::In,
            speed: Speed::Slow
        }
    );
    assert_eq!(cam.lens.as_ref().unwrap().focal_length_mm, 50.0);
    assert_eq!(
        cam.depth_of_field.as_ref().unwrap().value,
        DepthOfField::Shallow
    );
    // The subject stays in the scene.
    assert_eq!(
        p.shots[0].content.scene[0].text,
        "A slow push-in on a lighthouse at dawn"
    );
    // No camera words: no camera.
    let p = plan("A chef flips a pancake in a pan, the crane on the roof is still");
    assert!(p.shots[0].content.camera.is_empty());
}

#[test]
fn negatives_section_and_inline() {
    let p = plan("A busy market.\nNegative: blurry, low quality, text overlays\nAvoid: no watermarks\n\nWithout product logos, a street without cars");
    let c = &p.shots[0].content;
    let neg: Vec<&str> = c.negatives.iter().map(|n| n.text.as_str()).collect();
    assert_eq!(
        neg,
        [
            "blurry",
            "low quality",
            "text overlays",
            "watermarks",
            "product logos",
            "cars"
        ]
    );
    assert_eq!(c.negatives[3].span, Span::new(3, 11, 10));
    assert_eq!(c.negatives[4].span, Span::new(5, 9, 13));
    let scene: Vec<&str> = c.scene.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(scene, ["A busy market", "a street"]);
    // "no one" is not a negative.
    let p = plan("A quiet beach, no one around");
    assert!(p.shots[0].content.negatives.is_empty());
}

#[test]
fn dialogue_forms() {
    let p = plan("Duration: 8s\nTwo friends on a rooftop.\nDialogue: MAYA: \"We made it.\" (at 00:03) LEO: \"Barely.\" (at 00:05)\nNARRATOR: \"Years later...\"");
    let d = &p.shots[0].content.dialogue;
    assert_eq!(d.len(), 3);
    assert_eq!(
        (d[0].speaker.as_deref(), d[0].text.as_str()),
        (Some("MAYA"), "We made it.")
    );
    assert_eq!(d[0].at.unwrap().start_s, 3.0);
    assert_eq!(
        (d[1].speaker.as_deref(), d[1].text.as_str()),
        (Some("LEO"), "Barely.")
    );
    assert_eq!(d[1].at.unwrap().start_s, 5.0);
    assert_eq!(d[1].span, Span::new(3, 42, 25));
    assert_eq!(d[2].speaker.as_deref(), Some("NARRATOR"));
    assert!(d[2].at.is_none());

    let p = plan("Dialogue:\nMaya: We made it (at 0:02)\nLeo: Barely\n\nThe sun sets.");
    let d = &p.shots[0].content.dialogue;
    assert_eq!(d.len(), 2);
    assert_eq!(
        (d[0].speaker.as_deref(), d[0].text.as_str()),
        (Some("Maya"), "We made it")
    );
    assert_eq!(d[0].at.unwrap().start_s, 2.0);
    assert_eq!(p.shots[0].content.scene[0].text, "The sun sets");

    let p = plan("She whispers “run” at 0:01.");
    let d = &p.shots[0].content.dialogue[0];
    assert_eq!(
        (d.speaker.as_deref(), d.text.as_str()),
        (Some("She"), "run")
    );
    assert_eq!(d.at.unwrap().start_s, 1.0);

    let r = parse("MAYA: \"We made it").unwrap();
    assert_eq!(r.warnings[0].code, "unclosed-quote");
    assert_eq!(r.plan.shots[0].content.dialogue[0].text, "We made it");
}

#[test]
fn settings() {
    let p = plan("Length: 12 seconds\nSize: 1920x1080\nFPS: 30\nSeed: 7\nA harbor.");
    assert_eq!(p.clip.duration_s, 12.0);
    assert_eq!(
        (p.clip.width, p.clip.height, p.clip.aspect.as_str()),
        (1920, 1080, "16:9")
    );
    assert_eq!(p.clip.fps, 30);
    assert_eq!(p.clip.seed, Some(7));
    assert_eq!(p.clip.spans.duration, Some(Span::new(1, 9, 10)));
    assert_eq!(p.clip.spans.size, Some(Span::new(2, 7, 9)));

    let p = plan("Aspect: 9:16\nA dancer.");
    assert_eq!(
        (p.clip.width, p.clip.height, p.clip.aspect.as_str()),
        (720, 1280, "9:16")
    );
    let p = plan("Aspect ratio: 1:1\nA dancer.");
    assert_eq!((p.clip.width, p.clip.height), (960, 960));

    let p = plan("Duration: 8s, FPS: 12. A dancer.");
    assert_eq!((p.clip.duration_s, p.clip.fps), (8.0, 12));

    // Unambiguous inline settings.
    let p = plan("An 8-second clip of a dancer in 9:16 at 30fps.");
    assert_eq!(p.clip.duration_s, 8.0);
    assert_eq!(p.clip.aspect, "9:16");
    assert_eq!(p.clip.fps, 30);
    // Plain numbers in prose are not settings.
    let p = plan("3 dogs chase 2 balls for 10 seconds, 24 birds, 1080 leaves");
    assert_eq!(p.clip.duration_s, 4.0);
    assert_eq!((p.clip.width, p.clip.height, p.clip.fps), (1280, 720, 24));

    // Defaults come from the caller.
    let d = ClipDefaults {
        duration_s: 5.0,
        width: 832,
        height: 480,
        fps: 16,
    };
    let p = parse_with("A dancer.", &d).unwrap().plan;
    assert_eq!(
        (p.clip.duration_s, p.clip.width, p.clip.height, p.clip.fps),
        (5.0, 832, 480, 16)
    );
}

#[test]
fn json_is_stable_and_round_trips() {
    let p = plan("Scene: A girl.\nCamera: slow push-in\nStyle: no grain\nAudio: splash at 0:02");
    let v: serde_json::Value = serde_json::to_value(&p).unwrap();
    assert_eq!(v["schema_version"], 1);
    let shot = &v["shots"][0];
    assert_eq!(shot["index"], 1);
    assert_eq!(shot["timing"], "even");
    let mv = &shot["camera"]["moves"][0];
    assert_eq!(mv["type"], "push");
    assert_eq!(mv["direction"], "in");
    assert_eq!(mv["speed"], "slow");
    assert_eq!(mv["span"]["line"], 2);
    assert_eq!(shot["style"][0]["type"], "grain");
    assert_eq!(shot["style"][0]["enabled"], false);
    assert_eq!(shot["audio"][0]["kind"], "effect");
    assert_eq!(shot["audio"][0]["at"]["start_s"], 2.0);
    assert_eq!(shot["audio"][0]["at"]["end_s"], serde_json::Value::Null);
    assert_eq!(v["clip"]["width"], 1280);
    let back: ShotPlan = serde_json::from_str(&p.to_json_pretty()).unwrap();
    assert_eq!(back, p);
}

#[test]
fn unicode_spans_count_characters() {
    let p = plan("🎬 日本の夜市, no logos\nAudio: 太鼓 at 0:01");
    let c = &p.shots[0].content;
    assert_eq!(c.scene[0].text, "🎬 日本の夜市");
    assert_eq!(c.negatives[0].span, Span::new(1, 13, 5));
    assert_eq!(c.audio[0].description, "太鼓");
    assert_eq!(c.audio[0].at.unwrap().span, Span::new(2, 14, 4));
}

#[test]
fn warnings_do_not_stop_generation() {
    let r = parse("Note: keep it moody\nA lighthouse in fog.").unwrap();
    assert_eq!(r.warnings.len(), 1);
    let w = &r.warnings[0];
    assert_eq!(
        (w.code, w.severity, w.span),
        ("unknown-section", Severity::Warning, Span::new(1, 1, 4))
    );
    // The text is kept.
    assert_eq!(r.plan.shots[0].content.scene[0].text, "Note: keep it moody");

    let r = parse("Duration: 8s\nShot 1 (0:00-0:03): a\nShot 2 (0:04-0:08): b").unwrap();
    assert_eq!(r.warnings[0].code, "shot-gap");
    let r = parse("Shot 1: a\nShot 3: b").unwrap();
    assert_eq!(r.warnings[0].code, "shot-number");
    let r = parse("Audio: thud at 2").unwrap();
    assert_eq!(r.warnings[0].code, "ambiguous-time");
    assert_eq!(r.plan.shots[0].content.audio[0].at.unwrap().start_s, 2.0);
}

/// Words of the prompt, minus labels and numbers: all must reach the text encoder.
fn content_words(src: &str) -> Vec<String> {
    const LABELS: &[&str] = &[
        "scene", "camera", "motion", "audio", "style", "negative", "avoid", "dialogue", "duration",
    ];
    src.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !w.chars().any(|c| c.is_ascii_digit()))
        .map(|w| w.to_lowercase())
        .filter(|w| {
            !LABELS.contains(&w.as_str()) && !["s", "at", "no", "without"].contains(&w.as_str())
        })
        .collect()
}

#[test]
fn conditioning_text_keeps_every_word() {
    let prompts = [
        "Scene: A young girl releases a lantern by a riverside at dusk.\nCamera: Slow push-in, 50mm depth-of-field, hand-held feel.\nMotion: Hair gently moves; lantern rises; ripples form.\nAudio: Crickets in the background, soft water splash, wind chime.\nStyle: Soft lighting, warm tones, no grain, subtle vignette.",
        "Duration: 8s\nA kitchen at night. A door slam at 00:05. Camera moves left slowly. No close-ups, no product logos.",
        "Scene: A basketball player misses a shot; the ball rebounds off the rim and bounces away.\nCamera: static wide shot, then pan up.\nAudio: sneakers squeak, the rim clangs at 00:02, the crowd groans.",
        "A forest in autumn, golden light, rustling leaves, a path curving left, soft piano",
        "Duration: 6s\nTwo friends on a rooftop, a city without cars.\nDialogue: MAYA (laughing): \"We made it.\" (at 00:03)\nAvoid: lens flares",
    ];
    for src in prompts {
        let p = plan(src);
        let text = p.shots[0].conditioning_text(&p).to_lowercase();
        for w in content_words(src) {
            assert!(text.contains(&w), "{w:?} missing from {text:?}");
        }
    }
}

#[test]
fn crlf_bullets_and_header_camera_text() {
    let lf = plan("Scene: a fox\nAudio: owl at 0:01\n");
    let crlf = plan("Scene: a fox\r\nAudio: owl at 0:01\r\n");
    assert_eq!(lf, crlf);

    let p = plan("- Scene: a fox in snow\n* Camera: orbit right\n• Negative: people");
    let c = &p.shots[0].content;
    assert_eq!(c.scene[0].span, Span::new(1, 10, 13));
    assert_eq!(
        c.camera.moves[0].movement,
        CameraMove::Orbit {
            direction: Some(Horizontal::Right),
            speed: Speed::Normal
        }
    );
    assert_eq!(c.negatives[0].text, "people");

    let p = plan("Shot 1 (close-up, low angle): a face\nShot 2: a hand");
    let cam = &p.shots[0].content.camera;
    assert_eq!(cam.framing.as_ref().unwrap().value, Framing::CloseUp);
    assert_eq!(cam.angle.as_ref().unwrap().value, Angle::Low);
    assert!(p.shots[1].content.camera.is_empty());
}
