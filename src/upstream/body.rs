//! What is wrong with an answer that is not the JSON expected, said so that an administrator
//! knows where to look: an empty answer, an HTML page (a login page of a proxy or single sign-on,
//! an error page), bytes that are not UTF-8 (a legacy Vietnamese encoding), JSON nested too
//! deeply, or JSON that is simply malformed.
//!
//! Pure functions over bytes; nothing here reads the network, and no message quotes the body
//! (it may hold personal data): only its shape, an offset, a line and a column.

/// Why `body` could not be read as JSON, given the parser's error.
pub fn not_json(body: &[u8], e: &serde_json::Error) -> String {
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(body.len());
    let head = &body[start..];
    if head.is_empty() {
        return "the answer is empty, not JSON".to_string();
    }
    if looks_like_html(head) {
        return "the answer is an HTML page, not JSON (a login page of a proxy or single sign-on, \
                or an error page?): check base_url and the credentials"
            .to_string();
    }
    if let Err(u) = std::str::from_utf8(body) {
        return format!(
            "the answer is not valid UTF-8 (an invalid byte at offset {}): the contract's JSON is \
             UTF-8; a legacy encoding (TCVN3, VNI, Windows-1258) must be converted by the vendor",
            u.valid_up_to()
        );
    }
    let text = e.to_string();
    if text.contains("recursion limit") {
        return format!(
            "the JSON is nested more than 128 levels deep (line {}, column {})",
            e.line(),
            e.column()
        );
    }
    format!("the answer is not valid JSON: {text}")
}

/// Whether an answer (from its first non-blank byte) is an HTML document.
fn looks_like_html(head: &[u8]) -> bool {
    let lower: Vec<u8> = head
        .iter()
        .take(512)
        .map(|b| b.to_ascii_lowercase())
        .collect();
    lower.starts_with(b"<!doctype")
        || lower.starts_with(b"<html")
        || lower.starts_with(b"<head")
        || lower.starts_with(b"<body")
        || (lower.starts_with(b"<") && lower.windows(5).any(|w| w == b"<html"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn why(body: &[u8]) -> String {
        let e = serde_json::from_slice::<serde_json::Value>(body).unwrap_err();
        not_json(body, &e)
    }

    #[test]
    fn each_kind_of_non_json_answer_has_its_own_words() {
        assert!(why(b"").contains("empty"));
        assert!(why(b"  \n ").contains("empty"));
        let login = b"<!DOCTYPE html><html><head><title>Dang nhap</title></head><body><form></form></body></html>";
        let w = why(login);
        assert!(w.contains("HTML page") && w.contains("base_url"), "{w}");
        assert!(!w.contains("Dang nhap"), "the body is never quoted: {w}");
        assert!(why(b"\n<html lang=\"vi\">").contains("HTML page"));
        // "Hồ sơ" in Windows-1258-like bytes: not UTF-8.
        let w = why(b"{\"data\": [{\"Ten\": \"H\xd2 s\xf5\"}]}");
        assert!(
            w.contains("not valid UTF-8") && w.contains("offset 20"),
            "{w}"
        );
        let deep = "[".repeat(200) + &"]".repeat(200);
        let w = why(deep.as_bytes());
        assert!(w.contains("nested more than 128 levels"), "{w}");
        let w = why(b"{\"data\": [1, 2,, 3]}");
        assert!(w.starts_with("the answer is not valid JSON"), "{w}");
    }
}
