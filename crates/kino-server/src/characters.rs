//! Character mentions in prompts: `@char_…` names a registered character (cameo).

/// The character ids mentioned in `prompt` (`@char_` followed by 28 hex digits), in order,
/// without repeats.
pub fn mentions(prompt: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = prompt;
    while let Some(at) = rest.find("@char_") {
        let tail = &rest[at + 1..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let id = &tail[..end];
        if crate::ids::is_id("char", id) && !out.iter().any(|o| o == id) {
            out.push(id.to_string());
        }
        rest = &tail[end..];
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_each_mention_once() {
        let a = "char_0123456789ab0123456789abcdef";
        let text = format!("@{a} waves to @{a}, then @char_nothex and @{a}.");
        assert_eq!(super::mentions(&text), vec![a.to_string()]);
        assert!(super::mentions("email me @ char_x").is_empty());
        assert!(super::mentions("é@char_").is_empty());
    }
}
