//! Audio vocabulary: which kind a sound is, and whether a prose clause is
//! about sound at all.

use crate::plan::AudioKind;
use crate::source::{sl, words};

fn is_speech(w: &str) -> bool {
    matches!(
        w,
        "says"
            | "said"
            | "say"
            | "speaks"
            | "speaking"
            | "spoken"
            | "whispers"
            | "whispering"
            | "whispered"
            | "shouts"
            | "shouting"
            | "yells"
            | "yelling"
            | "narrator"
            | "narrates"
            | "narrating"
            | "narration"
            | "voiceover"
            | "voice"
            | "voices"
            | "dialogue"
            | "talks"
            | "talking"
            | "speech"
            | "announcer"
            | "announces"
            | "asks"
            | "replies"
            | "mutters"
            | "murmurs"
    )
}

fn is_music(w: &str) -> bool {
    matches!(
        w,
        "music"
            | "musical"
            | "song"
            | "songs"
            | "soundtrack"
            | "score"
            | "melody"
            | "melodic"
            | "piano"
            | "guitar"
            | "guitars"
            | "violin"
            | "violins"
            | "cello"
            | "strings"
            | "orchestra"
            | "orchestral"
            | "synth"
            | "synths"
            | "synthesizer"
            | "drum"
            | "drums"
            | "drumming"
            | "beat"
            | "beats"
            | "jazz"
            | "lofi"
            | "choir"
            | "ballad"
            | "harp"
            | "flute"
            | "saxophone"
            | "sax"
            | "trumpet"
            | "tune"
            | "chords"
            | "lullaby"
            | "symphony"
            | "ukulele"
            | "accordion"
            | "banjo"
            | "techno"
            | "opera"
            | "hymn"
            | "bassline"
            | "percussion"
            | "instrumental"
            | "singing"
            | "sings"
    )
}

fn is_ambient(w: &str) -> bool {
    matches!(
        w,
        "background"
            | "ambient"
            | "ambience"
            | "ambiance"
            | "atmosphere"
            | "atmospheric"
            | "bed"
            | "tone"
            | "hum"
            | "humming"
            | "drone"
            | "distant"
            | "crickets"
            | "cicadas"
            | "birdsong"
            | "birds"
            | "chirping"
            | "rain"
            | "breeze"
            | "traffic"
            | "waves"
            | "ocean"
            | "surf"
            | "city"
            | "murmur"
            | "murmuring"
            | "rustling"
            | "rustle"
            | "forest"
            | "insects"
            | "stream"
            | "river"
            | "waterfall"
            | "chatter"
            | "hubbub"
            | "throughout"
            | "constant"
            | "steady"
            | "wind"
    )
}

fn is_sfx(w: &str) -> bool {
    matches!(
        w,
        "slam"
            | "slams"
            | "slamming"
            | "bang"
            | "bangs"
            | "clang"
            | "clangs"
            | "clanging"
            | "clatter"
            | "crash"
            | "crashes"
            | "splash"
            | "splashes"
            | "knock"
            | "knocks"
            | "knocking"
            | "thud"
            | "thuds"
            | "squeak"
            | "squeaks"
            | "squeaking"
            | "squeal"
            | "creak"
            | "creaks"
            | "creaking"
            | "beep"
            | "beeps"
            | "ring"
            | "rings"
            | "ringing"
            | "buzz"
            | "buzzing"
            | "explosion"
            | "explodes"
            | "gunshot"
            | "gunshots"
            | "thunder"
            | "whistle"
            | "whistles"
            | "bark"
            | "barks"
            | "barking"
            | "scream"
            | "screams"
            | "shout"
            | "echo"
            | "echoes"
            | "rumble"
            | "rumbles"
            | "rumbling"
            | "sizzle"
            | "sizzling"
            | "crackle"
            | "crackling"
            | "whisper"
            | "chirp"
            | "chirps"
            | "chirping"
            | "footsteps"
            | "footstep"
            | "roar"
            | "roars"
            | "hiss"
            | "hisses"
            | "honk"
            | "honks"
            | "siren"
            | "sirens"
            | "chime"
            | "chimes"
            | "click"
            | "clicks"
            | "clink"
            | "shatter"
            | "shatters"
            | "thump"
            | "thumps"
            | "boom"
            | "booms"
            | "growl"
            | "growls"
            | "meow"
            | "purr"
            | "clap"
            | "claps"
            | "applause"
            | "groans"
            | "cheers"
    )
}

fn is_sound_words(w: &str) -> bool {
    matches!(
        w,
        "sound"
            | "sounds"
            | "noise"
            | "noises"
            | "audio"
            | "ambience"
            | "ambiance"
            | "ambient"
            | "sfx"
            | "soundscape"
    )
}

/// The kind of a sound description (already lowercased ASCII).
pub(crate) fn classify(lower: &str, a: usize, b: usize) -> AudioKind {
    let text = sl(lower, a, b);
    if text.contains(['"', '“', '”']) {
        return AudioKind::Speech;
    }
    let ws: Vec<&str> = words(lower, a, b)
        .into_iter()
        .map(|(s, e)| sl(lower, s, e))
        .collect();
    if ws.iter().any(|w| is_speech(w)) {
        return AudioKind::Speech;
    }
    if ws.iter().any(|w| is_music(w)) {
        return AudioKind::Music;
    }
    let ambient = ws.iter().enumerate().any(|(i, w)| {
        is_ambient(w) && !(*w == "wind" && ws.get(i + 1).is_some_and(|n| n.starts_with("chime")))
    });
    if ambient {
        return AudioKind::Ambient;
    }
    AudioKind::Effect
}

/// How strongly a prose clause is about sound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Soundness {
    /// Names sound or music outright ("gentle guitar music", "city sounds").
    Explicit,
    /// Has a sound-effect word ("door slam", "rim clangs").
    Effect,
    /// Not about sound.
    None,
}

/// Is the prose clause `lower[a..b]` about sound?
pub(crate) fn soundness(lower: &str, a: usize, b: usize) -> (Soundness, usize) {
    let ws = words(lower, a, b);
    let mut effect = false;
    for &(s, e) in &ws {
        let w = sl(lower, s, e);
        if is_sound_words(w) || is_music(w) {
            return (Soundness::Explicit, ws.len());
        }
        if is_sfx(w) || matches!(w, "crickets" | "cicadas" | "birdsong") {
            effect = true;
        }
    }
    (
        if effect {
            Soundness::Effect
        } else {
            Soundness::None
        },
        ws.len(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> AudioKind {
        let l = s.to_ascii_lowercase();
        classify(&l, 0, l.len())
    }

    #[test]
    fn kinds() {
        assert_eq!(k("Crickets in the background"), AudioKind::Ambient);
        assert_eq!(k("soft water splash"), AudioKind::Effect);
        assert_eq!(k("wind chime"), AudioKind::Effect);
        assert_eq!(k("gentle guitar music"), AudioKind::Music);
        assert_eq!(k("soft piano"), AudioKind::Music);
        assert_eq!(k("the narrator says welcome"), AudioKind::Speech);
        assert_eq!(k("the rim clangs"), AudioKind::Effect);
    }
}
