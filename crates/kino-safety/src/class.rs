//! The content classes a prompt can be refused for.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A content class. The order is the priority used when a prompt falls into several
/// classes: [`crate::Policy::check`] reports the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// Sexualised or endangered minors.
    Minors,
    /// Sexual content and nudity.
    Sexual,
    /// Terrorist or violent-extremist propaganda, recruitment, glorification, attack help.
    Extremism,
    /// Self-harm and suicide.
    SelfHarm,
    /// Graphic violence and gore.
    Violence,
    /// Hate: slurs and dehumanisation of protected groups.
    Hate,
    /// Depicting real, identifiable people (deepfakes of public figures).
    Impersonation,
    /// Copyrighted characters.
    Copyright,
}

impl Class {
    /// Every class, in priority order.
    pub const ALL: [Class; 8] = [
        Class::Minors,
        Class::Sexual,
        Class::Extremism,
        Class::SelfHarm,
        Class::Violence,
        Class::Hate,
        Class::Impersonation,
        Class::Copyright,
    ];

    /// The name used in TOML files, JSON and the labelled set (`self_harm`).
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Minors => "minors",
            Class::Sexual => "sexual",
            Class::Extremism => "extremism",
            Class::SelfHarm => "self_harm",
            Class::Violence => "violence",
            Class::Hate => "hate",
            Class::Impersonation => "impersonation",
            Class::Copyright => "copyright",
        }
    }

    /// Position in [`Class::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The default refusal sentence; `{matched}` is replaced by the matched text.
    pub fn default_reason(self) -> &'static str {
        match self {
            Class::Minors => "The prompt sexualises or endangers a minor, which is never generated.",
            Class::Sexual => "The prompt asks for sexual content or nudity, which this server does not generate.",
            Class::Extremism => "The prompt asks for terrorist or violent-extremist content (propaganda, recruitment, glorification or attack instructions).",
            Class::SelfHarm => "The prompt depicts or encourages self-harm or suicide. If you are struggling, please reach out to someone you trust or a local crisis line.",
            Class::Violence => "The prompt asks for graphic violence or gore.",
            Class::Hate => "The prompt contains hateful or dehumanising content about a group of people.",
            Class::Impersonation => "The prompt depicts a real, identifiable person (\"{matched}\"); videos of real people need their consent.",
            Class::Copyright => "The prompt asks for a copyrighted character (\"{matched}\").",
        }
    }

    /// All class names, comma-separated (for error messages).
    pub fn names() -> String {
        Class::ALL.map(Class::as_str).join(", ")
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Class {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Class::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("unknown class `{s}`; known classes: {}", Class::names()))
    }
}
