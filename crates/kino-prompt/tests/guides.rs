//! Real prompts from the public prompt guides (tests/data/public-guides.txt).

use kino_prompt::*;

const GUIDES: &str = include_str!("data/public-guides.txt");

/// The prompts in the file: blocks separated by `---` lines, first line a comment.
fn guide_prompts() -> Vec<String> {
    let mut blocks = Vec::new();
    let mut cur = String::new();
    for line in GUIDES.lines() {
        if line.starts_with('#') {
            continue;
        }
        if line.trim() == "---" {
            blocks.push(std::mem::take(&mut cur));
        } else {
            cur.push_str(line);
            cur.push('\n');
        }
    }
    blocks.push(cur);
    blocks
        .into_iter()
        .filter(|b| !b.trim().is_empty())
        .collect()
}

fn eight() -> ClipDefaults {
    ClipDefaults {
        duration_s: 8.0,
        ..ClipDefaults::default()
    }
}

#[test]
fn every_guide_prompt_parses_into_one_shot() {
    let prompts = guide_prompts();
    assert_eq!(prompts.len(), 5);
    for p in &prompts {
        let parsed = parse_with(p, &eight()).unwrap_or_else(|e| panic!("{p}\n{e}"));
        assert_eq!(parsed.plan.shots.len(), 1, "{p}");
        assert!(parsed.warnings.is_empty(), "{p}: {:?}", parsed.warnings);
        let text = parsed.plan.shots[0].conditioning_text(&parsed.plan);
        assert!(text.len() > 20, "{text}");
    }
}

#[test]
fn lantern_template() {
    let src = &guide_prompts()[0];
    let plan = parse(src).unwrap().plan;
    assert_eq!(plan.schema_version, 1);
    assert_eq!(plan.duration_s(), 4.0);
    let s = &plan.shots[0];
    assert_eq!((s.start_s, s.end_s), (0.0, 4.0));
    let c = &s.content;

    assert_eq!(c.scene.len(), 1);
    assert_eq!(
        c.scene[0].text,
        "A young girl releases a lantern by a riverside at dusk"
    );
    assert_eq!(c.scene[0].span, Span::new(1, 8, 54));

    let moves: Vec<CameraMove> = c.camera.moves.iter().map(|m| m.movement).collect();
    assert_eq!(
        moves,
        vec![
            CameraMove::Push {
                direction: InOut::In,
                speed: Speed::Slow
            },
            CameraMove::HandHeld
        ]
    );
    assert_eq!(c.camera.moves[0].text, "Slow push-in");
    let lens = c.camera.lens.as_ref().unwrap();
    assert_eq!(lens.focal_length_mm, 50.0);
    assert_eq!(lens.span, Span::new(2, 23, 4));
    assert_eq!(
        c.camera.depth_of_field.as_ref().unwrap().value,
        DepthOfField::Shallow
    );
    assert_eq!(c.camera.phrases.len(), 3);

    let motion: Vec<&str> = c.motion.iter().map(|p| p.text.as_str()).collect();
    assert_eq!(
        motion,
        ["Hair gently moves", "lantern rises", "ripples form"]
    );
    assert_eq!(c.motion[1].span, Span::new(3, 28, 13));

    let audio: Vec<(AudioKind, &str)> = c
        .audio
        .iter()
        .map(|a| (a.kind, a.description.as_str()))
        .collect();
    assert_eq!(
        audio,
        [
            (AudioKind::Ambient, "Crickets in the background"),
            (AudioKind::Effect, "soft water splash"),
            (AudioKind::Effect, "wind chime"),
        ]
    );
    assert!(c.audio.iter().all(|a| a.at.is_none()));

    let style: Vec<StyleKind> = c.style.iter().map(|s| s.kind).collect();
    assert_eq!(
        style,
        [
            StyleKind::Lighting,
            StyleKind::Palette,
            StyleKind::Grain { enabled: false },
            StyleKind::Vignette { enabled: true }
        ]
    );
    assert!(
        c.negatives.is_empty(),
        "\"no grain\" is a style setting, not a negative"
    );

    assert_eq!(
        s.conditioning_text(&plan),
        "A young girl releases a lantern by a riverside at dusk. Hair gently moves; lantern rises; ripples form. \
         Camera: Slow push-in, 50mm depth-of-field, hand-held feel. \
         Style: Soft lighting, warm tones, no grain, subtle vignette. \
         Ambient sound: Crickets in the background. Sound effects: soft water splash, wind chime."
    );
}

#[test]
fn prose_only_prompts() {
    let p = guide_prompts();
    let plan = parse(&p[1]).unwrap().plan;
    let c = &plan.shots[0].content;
    assert_eq!(c.scene[0].text, "me walking through a forest at sunset");
    assert_eq!(c.audio.len(), 1);
    assert_eq!(c.audio[0].kind, AudioKind::Music);
    assert_eq!(c.audio[0].description, "gentle guitar music");
    assert_eq!(c.audio[0].span, Span::new(1, 40, 19));
    assert!(c.camera.is_empty());

    let plan = parse(&p[2]).unwrap().plan;
    let c = &plan.shots[0].content;
    // "a path curving left" is scenery, not a camera move.
    assert!(c.camera.moves.is_empty());
    assert_eq!(
        c.scene[0].text,
        "A forest in autumn, golden light, rustling leaves, a path curving left"
    );
    assert_eq!(c.audio[0].kind, AudioKind::Music);
    assert_eq!(c.audio[0].description, "soft piano");
}

#[test]
fn kitchen_door_slam_needs_a_long_enough_clip() {
    let src = &guide_prompts()[3];
    // Default clip is 4 s: the slam at 0:05 is past the end.
    let err = parse(src).unwrap_err();
    assert_eq!(err.errors.len(), 1);
    let e = &err.errors[0];
    assert_eq!(e.code, "cue-beyond-end");
    assert_eq!(e.span, Span::new(1, 36, 5));
    assert_eq!(e.message, "cue at 5.0 s is beyond the clip end (4.0 s)");
    assert!(e.hint.as_deref().unwrap().contains("Duration: 6s"));

    let plan = parse_with(src, &eight()).unwrap().plan;
    let c = &plan.shots[0].content;
    assert_eq!(c.scene[0].text, "A kitchen at night");
    assert_eq!(c.audio.len(), 1);
    assert_eq!(c.audio[0].description, "A door slam");
    assert_eq!(c.audio[0].kind, AudioKind::Effect);
    let at = c.audio[0].at.unwrap();
    assert_eq!((at.start_s, at.end_s), (5.0, None));
    assert_eq!(
        c.camera.moves[0].movement,
        CameraMove::Truck {
            direction: Some(Horizontal::Left),
            speed: Speed::Slow
        }
    );
    let neg: Vec<&str> = c.negatives.iter().map(|n| n.text.as_str()).collect();
    assert_eq!(neg, ["close-ups", "product logos"]);
    assert_eq!(c.negatives[0].span, Span::new(1, 72, 9));
    // Negated framing is not a framing.
    assert!(c.camera.framing.is_none());
    let text = plan.shots[0].conditioning_text(&plan);
    assert!(text.contains("A door slam at 5.0 s"), "{text}");
    assert!(text.ends_with("Avoid: close-ups, product logos."), "{text}");
}

#[test]
fn basketball_static_then_pan_up_and_timed_clang() {
    let src = &guide_prompts()[4];
    let plan = parse(src).unwrap().plan;
    let c = &plan.shots[0].content;
    assert_eq!(c.scene.len(), 2);
    let moves: Vec<CameraMove> = c.camera.moves.iter().map(|m| m.movement).collect();
    assert_eq!(
        moves,
        [
            CameraMove::Static,
            CameraMove::Tilt {
                direction: Some(Vertical::Up),
                speed: Speed::Normal
            }
        ]
    );
    assert_eq!(c.camera.framing.as_ref().unwrap().value, Framing::Wide);
    assert_eq!(c.camera.phrases[1].text, "then pan up");
    let clang = c
        .audio
        .iter()
        .find(|a| a.description == "the rim clangs")
        .unwrap();
    let at = clang.at.unwrap();
    assert_eq!(at.start_s, 2.0);
    assert_eq!(at.span, Span::new(3, 43, 5));
    assert_eq!(c.audio.len(), 3);
    assert!(c.audio.iter().all(|a| a.kind == AudioKind::Effect));
}
