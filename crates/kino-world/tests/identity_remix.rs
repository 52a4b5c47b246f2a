//! Identity across cuts and remix fidelity on world clips: the world's own renderings pass,
//! and spliced, swapped or unchanged clips fail.

use kino_media::VideoFrames;
use kino_world::judge::identity::identity_in_video;
use kino_world::judge::remix::{remix, MAX_TRAJECTORY_ERROR};
use kino_world::vocab::*;
use kino_world::{
    judge_identity, judge_remix, sample, ObjectSpec, RandomOptions, SceneSpec, ShotSpec,
};

/// A red ball and a blue box; wide static shot, then a medium shot from 1.5 s.
fn two_shot_scene() -> SceneSpec {
    let mut spec = SceneSpec::new(vec![
        ObjectSpec::dropped(Kind::Ball, Colour::Red, Size::Medium, -0.5, 2.2),
        ObjectSpec::dropped(Kind::Box, Colour::Blue, Size::Large, 0.5, 1.6),
    ]);
    spec.duration_s = 3.0;
    spec.shots = vec![
        ShotSpec::new(0.0, CameraMove::Static, Speed::Normal, Framing::Wide),
        ShotSpec::new(1.5, CameraMove::Static, Speed::Normal, Framing::Medium),
    ];
    spec
}

fn boundaries(spec: &SceneSpec) -> Vec<usize> {
    spec.shots[1..]
        .iter()
        .map(|s| (s.start_s * spec.fps as f32).round() as usize)
        .collect()
}

fn colours(spec: &SceneSpec) -> Vec<Colour> {
    spec.objects.iter().map(|o| o.colour).collect()
}

/// Frames `..at` of `a`, then frames `at..` of `b`.
fn splice(a: &VideoFrames, b: &VideoFrames, at: usize) -> VideoFrames {
    let mut v = a.slice(0, at);
    v.append(&b.slice(at, b.len())).unwrap();
    v
}

#[test]
fn a_multi_shot_world_clip_keeps_identity() {
    let spec = two_shot_scene();
    let clip = sample(&spec).unwrap();
    let r = identity_in_video(&clip.video, &boundaries(&spec), &colours(&spec));
    assert!(r.kept, "{r:#?}");
    assert_eq!(r.shots.len(), 2);
    assert_eq!(r.carried, vec![Colour::Red, Colour::Blue]);
    assert_eq!(r.checks.len(), 2);
    assert_eq!(r.cuts_at_boundaries, 1, "{r:#?}");
    // The same, read from the world's caption (shot times from the prompt).
    let r = judge_identity(&clip.video, &clip.captions[0], None).unwrap();
    assert!(r.kept, "{}\n{r:#?}", clip.captions[0]);
    assert_eq!(r.boundaries, boundaries(&spec));
}

#[test]
fn random_multi_shot_world_clips_keep_identity() {
    let opts = RandomOptions {
        max_shots: 3,
        allow_style: false,
        ..Default::default()
    };
    let (mut tried, mut kept) = (0, 0);
    for seed in 500..600u64 {
        let spec = SceneSpec::random(seed, &opts).unwrap();
        if spec.shots.len() < 2 {
            continue;
        }
        let Ok(clip) = sample(&spec) else { continue };
        // Only objects whose centre is inside the frame for most of every shot.
        let b = boundaries(&spec);
        let mut edges = vec![0];
        edges.extend(&b);
        edges.push(clip.truth.frames.len());
        let shared: Vec<Colour> = spec
            .objects
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                edges.windows(2).all(|w| {
                    let inside = clip.truth.frames[w[0]..w[1]]
                        .iter()
                        .filter(|f| {
                            let [x, y] = f.objects[*i].pixel;
                            x >= 0.0 && y >= 0.0 && x < spec.width as f32 && y < spec.height as f32
                        })
                        .count();
                    inside * 2 >= w[1] - w[0]
                })
            })
            .map(|(_, o)| o.colour)
            .collect();
        if shared.is_empty() {
            continue;
        }
        tried += 1;
        let r = identity_in_video(&clip.video, &b, &shared);
        kept += r.kept as usize;
        if !r.kept {
            eprintln!("seed {seed}: {:#?}", r.checks);
        }
    }
    eprintln!("{kept}/{tried} multi-shot world clips keep identity");
    assert!(
        tried >= 20,
        "only {tried} multi-shot scenes with a shared object"
    );
    assert!(
        kept as f32 >= 0.8 * tried as f32,
        "{kept}/{tried} world clips keep identity"
    );
}

#[test]
fn swapped_objects_after_the_cut_break_identity() {
    let spec = two_shot_scene();
    let clip = sample(&spec).unwrap();
    let at = boundaries(&spec)[0];
    // After the cut the ball is green: red is gone.
    let mut recoloured = spec.clone();
    recoloured.objects[0].colour = Colour::Green;
    let v = splice(&clip.video, &sample(&recoloured).unwrap().video, at);
    let r = identity_in_video(&v, &[at], &colours(&spec));
    assert!(!r.kept, "{r:#?}");
    assert!(r
        .checks
        .iter()
        .any(|c| !c.pass && c.expected.starts_with("red")));
    // After the cut the red ball is a red bottle: same colour, another shape.
    let mut reshaped = spec.clone();
    reshaped.objects[0].kind = Kind::Bottle;
    let v = splice(&clip.video, &sample(&reshaped).unwrap().video, at);
    let r = identity_in_video(&v, &[at], &colours(&spec));
    assert!(!r.kept, "{r:#?}");
    assert!(r
        .checks
        .iter()
        .any(|c| !c.pass && c.found.contains("Elongated")));
}

#[test]
fn clips_without_objects_or_cuts_do_not_keep_identity() {
    let spec = two_shot_scene();
    let clip = sample(&spec).unwrap();
    // Colours the clip does not show: nothing carried.
    let r = identity_in_video(
        &clip.video,
        &boundaries(&spec),
        &[Colour::Purple, Colour::Orange],
    );
    assert!(r.carried.is_empty() && !r.kept, "{r:#?}");
    // No boundary: no cut to keep identity across.
    let r = identity_in_video(&clip.video, &[], &colours(&spec));
    assert!(!r.kept && r.shots.len() == 1, "{r:#?}");
}

fn remix_scene() -> SceneSpec {
    let mut spec = SceneSpec::new(vec![
        ObjectSpec::dropped(Kind::Ball, Colour::Red, Size::Medium, -0.9, 2.6),
        ObjectSpec::dropped(Kind::Box, Colour::Blue, Size::Large, 0.8, 1.8),
    ]);
    spec.time_of_day = TimeOfDay::Dusk;
    spec.seed = 7;
    spec
}

#[test]
fn a_recoloured_world_rerender_keeps_motion_and_shows_the_new_colour() {
    let spec = remix_scene();
    let source = sample(&spec).unwrap();
    let mut edited = spec.clone();
    edited.objects[0].colour = Colour::Yellow;
    let remixed = sample(&edited).unwrap();
    let r = remix(
        &source.video,
        &colours(&spec),
        &remixed.video,
        &colours(&edited),
    )
    .unwrap();
    assert!(r.pass && r.motion_kept, "{r:#?}");
    assert!(r.trajectory_error.unwrap() < 0.01, "{r:#?}");
    assert!(r.coverage > 0.9, "{r:#?}");
    assert_eq!(r.colour_follows, Some(true));
    assert_eq!(r.colour_checks.len(), 1);
    // The same from the two captions.
    let r = judge_remix(
        &source.video,
        &source.captions[0],
        &remixed.video,
        &remixed.captions[0],
    )
    .unwrap();
    assert!(
        r.pass,
        "{}\n{}\n{r:#?}",
        source.captions[0], remixed.captions[0]
    );
}

#[test]
fn a_different_scene_or_an_unchanged_colour_fails_the_remix() {
    let spec = remix_scene();
    let source = sample(&spec).unwrap();
    let mut edited = spec.clone();
    edited.objects[0].colour = Colour::Yellow;
    // Same colours as the edit, but the objects start elsewhere and move differently.
    let mut other = edited.clone();
    other.objects[0].position = [1.2, 1.2];
    other.objects[0].velocity = [-1.5, 2.0];
    other.objects[1].position = [-1.1, 2.5];
    let moved = sample(&other).unwrap();
    let r = remix(
        &source.video,
        &colours(&spec),
        &moved.video,
        &colours(&edited),
    )
    .unwrap();
    assert!(!r.motion_kept && !r.pass, "{r:#?}");
    assert!(
        r.trajectory_error.unwrap() > 2.0 * MAX_TRAJECTORY_ERROR,
        "{r:#?}"
    );
    assert_eq!(r.colour_follows, Some(true), "the colour itself did change");
    // The source itself as the "remix": motion kept, but the colour did not follow.
    let r = remix(
        &source.video,
        &colours(&spec),
        &source.video,
        &colours(&edited),
    )
    .unwrap();
    assert_eq!(r.colour_follows, Some(false), "{r:#?}");
    assert!(!r.pass);
    // A remix that lost its objects: nothing to compare.
    let empty = remix(
        &source.video,
        &colours(&spec),
        &source.video,
        &[Colour::Purple, Colour::Orange],
    )
    .unwrap();
    assert!(
        empty.trajectory_error.is_none() && !empty.pass,
        "{empty:#?}"
    );
    // Mismatched object lists are an error that names both counts.
    let e = remix(
        &source.video,
        &colours(&spec),
        &source.video,
        &[Colour::Red],
    )
    .unwrap_err();
    assert!(e.to_string().contains("2 objects") && e.to_string().contains("new prompt 1"));
}
