//! The operator file shown in docs/safety.md parses and does what the text says.

use std::path::Path;

use kino_safety::{Class, Policy};

fn docs_toml() -> String {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/safety.md"))
            .unwrap();
    let start = doc.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let end = start + doc[start..].find("```").unwrap();
    doc[start..end].to_string()
}

#[test]
fn documented_operator_file_works() {
    let p = Policy::from_toml(&docs_toml()).unwrap();
    assert!(!p.enabled_classes().contains(&Class::Copyright));
    assert!(p.check("Mickey Mouse waves").is_allowed());
    let r = p.check("an ad for Acme Corp").refusal().cloned().unwrap();
    assert_eq!(r.class, Class::Impersonation);
    assert!(r.reason.contains("\"Acme Corp\""), "{}", r.reason);
    assert!(p.check("the Globex tower at dusk").is_allowed());
    assert!(p.check("a zombie film with gore").is_allowed());
    assert!(!p.check("Barack Obama waves").is_allowed());
    assert_eq!(
        p.check("refugees should go home now")
            .refusal()
            .map(|r| r.class),
        Some(Class::Hate)
    );
}

#[test]
fn documented_error_messages() {
    for (toml, want) in [
        ("[classes]\nnudity = {}\n", "policy TOML:2:1: unknown class `nudity`"),
        ("[classes.sexual]\ntreshold = 0.5\n", "policy TOML:2:1: invalid policy TOML: unknown field `treshold`"),
        ("[classes.hate]\nblock = [\"ab*\"]\n", "policy TOML:2:10: invalid pattern `ab*` in `classes.hate.block`"),
        ("[classes.hate]\nblock = [\"@nosuchset\"]\n", "policy TOML:2:10: invalid pattern `@nosuchset` in `classes.hate.block`: no set named `nosuchset`"),
    ] {
        let err = Policy::from_toml(toml).unwrap_err().to_string();
        eprintln!("{err}");
        assert!(err.starts_with(want), "{err}\nwanted: {want}");
    }
}
