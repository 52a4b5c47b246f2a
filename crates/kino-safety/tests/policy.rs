//! The built-in rules, spans, and operator TOML files.

use kino_safety::{Class, Layer, Policy, SafetyError, Verdict};

fn refusal(policy: &Policy, prompt: &str) -> kino_safety::Refusal {
    match policy.check(prompt) {
        Verdict::Refused(r) => {
            assert_eq!(&prompt[r.span.0..r.span.1], r.matched_text, "{prompt}");
            r
        }
        Verdict::Allowed => panic!("expected a refusal: {prompt:?}"),
    }
}

fn allowed(policy: &Policy, prompt: &str) {
    if let Verdict::Refused(r) = policy.check(prompt) {
        panic!("{prompt:?} refused: {r:?}");
    }
}

#[test]
fn policy_is_send_sync_and_cheap_to_share() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Policy>();
}

#[test]
fn brief_near_misses_pass() {
    let p = Policy::default();
    for prompt in [
        "shoot a photo of my dog on the beach",
        "a photographer shoots a model for a magazine cover",
        "a killer app launch event on stage",
        "this party is the bomb, everyone is dancing",
        "kids playing in a park on a sunny afternoon",
        "a horror movie poster with dramatic lighting",
        "cut the onion into thin rings, cooking show",
        "she is dying to see it, jumping up and down",
        "a trump card slapped on a poker table",
        "stars visible to the naked eye over the desert",
        "a minor chord on an old piano",
        "a spider crawls over a man's hand",
        "a sonic boom as a jet passes",
        "no gore, no nudity, family friendly cartoon of a cat",
        "A red ball falls onto a wooden floor at dusk and bounces twice.",
        "",
        "   ",
    ] {
        allowed(&p, prompt);
    }
}

#[test]
fn each_class_is_refused_by_rules() {
    let p = Policy::default();
    for (prompt, class, text) in [
        ("a naked woman in the shower", Class::Sexual, "naked"),
        (
            "a 12 year old girl in lingerie",
            Class::Minors,
            "12 year old girl in lingerie",
        ),
        (
            "ISIS fighters in a recruitment video",
            Class::Extremism,
            "ISIS fighters in a recruitment",
        ),
        (
            "a man slits his wrists in the bath",
            Class::SelfHarm,
            "slits his wrists",
        ),
        ("a zombie movie with extreme gore", Class::Violence, "gore"),
        (
            "a masked figure stabs a man in an alley",
            Class::Violence,
            "stabs a man",
        ),
        (
            "a poster saying immigrants are vermin",
            Class::Hate,
            "immigrants are vermin",
        ),
        (
            "Barack Obama says hello to my mum",
            Class::Impersonation,
            "Barack Obama",
        ),
        (
            "real footage of Jane Doemann crying",
            Class::Impersonation,
            "real footage of Jane Doemann",
        ),
        (
            "Darth Vader dances in the rain",
            Class::Copyright,
            "Darth Vader",
        ),
        (
            "Spiderman swings across the city",
            Class::Copyright,
            "Spiderman",
        ),
    ] {
        let r = refusal(&p, prompt);
        assert_eq!(r.class, class, "{prompt}: {r:?}");
        assert_eq!(r.matched_text, text, "{prompt}: {r:?}");
        assert_eq!(r.layer, Layer::Rule);
        assert!(!r.reason.is_empty() && !r.evidence.is_empty());
    }
}

#[test]
fn reasons_name_the_match() {
    let p = Policy::default();
    let r = refusal(&p, "Pikachu eating ramen");
    assert!(r.reason.contains("\"Pikachu\""), "{}", r.reason);
    let r = refusal(&p, "Taylor Swift waves at me");
    assert!(r.reason.contains("Taylor Swift"), "{}", r.reason);
}

#[test]
fn minors_take_priority_over_sexual() {
    let p = Policy::default();
    let prompt = "a naked teenager on a bed";
    let r = refusal(&p, prompt);
    assert_eq!(r.class, Class::Minors);
    let all = p.check_all(prompt).unwrap();
    let classes: Vec<Class> = all.iter().map(|r| r.class).collect();
    assert_eq!(classes, [Class::Minors, Class::Sexual]);
}

#[test]
fn spans_are_byte_offsets_with_unicode() {
    let p = Policy::default();
    let prompt = "🎬 Ünïcödé scène — «Dárth Váder» dances 💃 in the rain";
    let r = refusal(&p, prompt);
    assert_eq!(r.class, Class::Copyright);
    assert_eq!(r.matched_text, "Dárth Váder");
    let start = prompt.find("Dárth").unwrap();
    assert_eq!(r.span, (start, start + "Dárth Váder".len()));

    let prompt = "日本語のテキスト。 Pokémon battle 🔥";
    let r = refusal(&p, prompt);
    assert_eq!(r.matched_text, "Pokémon");
    assert_eq!(r.span.0, prompt.find("Pokémon").unwrap());

    // Fullwidth letters and a zero-width space inside the word.
    let prompt = "ａ ｎａｋｅｄ man, then na\u{200B}ked again";
    let r = refusal(&p, prompt);
    assert_eq!(r.class, Class::Sexual);
    assert_eq!(r.matched_text, "ｎａｋｅｄ");
}

#[test]
fn common_evasions_are_caught() {
    let p = Policy::default();
    for prompt in [
        "p0rn video in a bedroom",
        "a n a k e d woman",
        "N.A.K.E.D dancer",
        "a n@ked man",
        "Spider Man climbing a wall",
        "DARTHVADER in a cafe",
        "a p\u{043E}rn clip", // Cyrillic о
    ] {
        assert!(!p.check(prompt).is_allowed(), "{prompt}");
    }
}

#[test]
fn verdicts_serialise_to_json() {
    let p = Policy::default();
    let v = serde_json::to_value(p.check("Mickey Mouse waves")).unwrap();
    assert_eq!(v["verdict"], "refused");
    assert_eq!(v["class"], "copyright");
    assert_eq!(v["layer"]["kind"], "rule");
    assert_eq!(v["span"][0], 0);
    let v = serde_json::to_value(p.check("a cat")).unwrap();
    assert_eq!(v["verdict"], "allowed");
}

#[test]
fn operator_toml_adds_terms_exceptions_and_switches_classes() {
    let toml = r#"
        # An operator's policy.
        version = 1
        allow = ["mickey mouse ears"]

        [sets]
        brands = ["acme corp", "globex"]

        [classes.copyright]
        enabled = false

        [classes.impersonation]
        block = ["@brands", "^smithers"]
        allow = ["globex tower"]
        threshold = 0.7
        examples = ["a famous CEO endorsing my product"]
        reason = "No real people or brands here ({matched})."

        [classes.violence]
        unblock = ["gore"]
    "#;
    let p = Policy::from_toml(toml).unwrap();
    assert!(p.check("Darth Vader dances").is_allowed());
    assert!(!p.enabled_classes().contains(&Class::Copyright));
    let r = refusal(&p, "a commercial for Acme Corp");
    assert_eq!(r.class, Class::Impersonation);
    assert_eq!(r.reason, "No real people or brands here (Acme Corp).");
    assert!(p.check("the Globex tower at night").is_allowed());
    assert!(!p.check("Smithers waves").is_allowed());
    assert!(p.check("a smithers' workshop").is_allowed());
    // `gore` was unblocked, the rest of the violence rules remain.
    assert!(p.check("a movie with gore").is_allowed());
    assert!(!p.check("a movie with dismembered bodies").is_allowed());
    // Built-in rules still apply.
    assert!(!p.check("Barack Obama waves").is_allowed());
}

#[test]
fn operator_toml_can_start_from_nothing() {
    let p = Policy::from_toml(
        r#"
        defaults = false
        [classes.sexual]
        block = ["spicy"]
        "#,
    )
    .unwrap();
    assert!(p.check("a naked man").is_allowed());
    assert_eq!(refusal(&p, "a spicy scene").class, Class::Sexual);
}

#[test]
fn malformed_toml_reports_line_and_column() {
    let err = Policy::from_toml("[classes.sexual]\nblock = [\"a\",\n  oops\n]\n").unwrap_err();
    let SafetyError::Toml { location, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(location.line, 3, "{err}");
    assert!(err.to_string().contains("policy TOML:3:"), "{err}");
}

#[test]
fn unknown_class_names_the_field() {
    let err = Policy::from_toml("\n[classes.nudity]\nenabled = false\n").unwrap_err();
    match &err {
        SafetyError::UnknownClass { location, name, .. } => {
            assert_eq!(name, "nudity");
            assert_eq!(location.line, 2);
        }
        other => panic!("{other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("classes.nudity") && msg.contains("self_harm"),
        "{msg}"
    );
}

#[test]
fn unknown_field_is_named() {
    let err = Policy::from_toml("[classes.sexual]\ntreshold = 0.5\n").unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("treshold") && msg.contains(":2:"), "{msg}");
    let err = Policy::from_toml("[classes.sexual]\nthreshold = \"high\"\n").unwrap_err();
    assert!(err.to_string().contains(":2:"), "{err}");
}

#[test]
fn bad_values_and_patterns_have_locations() {
    let cases = [
        ("[classes.hate]\nblock = [\"ok\", \"ab*\"]\n", 2, "ab*"),
        ("[classes.hate]\nblock = [\"@nosuchset\"]\n", 2, "nosuchset"),
        ("[classes.hate]\nthreshold = 1.5\n", 2, "threshold"),
        (
            "[classes.hate]\nunblock = [\"not there\"]\n",
            2,
            "not there",
        ),
        ("version = 2\n", 1, "version"),
        ("[[classes.hate.combo]]\nall = [[\"x\"]]\n", 2, "combo"),
        ("[classes.hate]\nallow = [\"<nobody>\"]\n", 2, "<nobody>"),
    ];
    for (toml, line, needle) in cases {
        let err = Policy::from_toml(toml).unwrap_err();
        let loc = err.location().unwrap_or_else(|| panic!("{err:?}"));
        assert_eq!(loc.line, line, "{toml}: {err}");
        assert!(err.to_string().contains(needle), "{toml}: {err}");
    }
}

#[test]
fn from_file_names_the_file() {
    let dir = std::env::temp_dir().join(format!("kino-safety-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("policy.toml");
    std::fs::write(&path, "[classes.copyright]\nenabled = nope\n").unwrap();
    let err = Policy::from_file(&path).unwrap_err();
    assert!(err.to_string().contains("policy.toml:2:"), "{err}");
    std::fs::write(&path, "[classes.copyright]\nenabled = false\n").unwrap();
    let p = Policy::from_file(&path).unwrap();
    assert!(p.check("Mickey Mouse").is_allowed());
    let err = Policy::from_file(dir.join("missing.toml")).unwrap_err();
    assert!(matches!(err, SafetyError::Io { .. }) && err.to_string().contains("missing.toml"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn builtin_toml_is_the_default_policy() {
    let a = Policy::from_toml(Policy::builtin_toml()).unwrap();
    // Layering the built-in file over itself changes no verdict.
    for prompt in ["Mickey Mouse", "a cat", "a naked man", "kids playing"] {
        assert_eq!(a.check(prompt), Policy::default().check(prompt), "{prompt}");
    }
}

/// Every curated name, written as a prompt, is refused with its class: a guard against an
/// exception that swallows a name (an `allow` stem colliding with a blocked one).
#[test]
fn every_curated_name_is_refused() {
    let builtin: toml::Table = toml::from_str(Policy::builtin_toml()).unwrap();
    let sets = builtin["sets"].as_table().unwrap();
    let p = Policy::default();
    for (set, class) in [
        ("public_figure", Class::Impersonation),
        ("characters", Class::Copyright),
    ] {
        for entry in sets[set].as_array().unwrap() {
            let pattern = entry.as_str().unwrap();
            // First alternative of each element, `^`/`=` markers dropped, capitalised.
            let words: Vec<String> = pattern
                .split_whitespace()
                .map(|w| {
                    let w = w.split('|').next().unwrap().trim_start_matches(['^', '=']);
                    let mut c = w.chars();
                    c.next()
                        .map(|f| f.to_uppercase().chain(c).collect())
                        .unwrap_or_default()
                })
                .collect();
            let prompt = format!("a video of {} waving at the camera", words.join(" "));
            match p.check(&prompt) {
                Verdict::Refused(r) => assert_eq!(r.class, class, "{prompt}: {r:?}"),
                Verdict::Allowed => panic!("{pattern:?}: {prompt:?} is allowed"),
            }
        }
    }
}
