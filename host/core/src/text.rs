//! Text from outside — what a rule or the model wrote — made safe to show:
//! one line, no control characters, no terminal escapes, no bidirectional
//! overrides. Applied once, where such text enters the host, so terminals,
//! SNS e-mails, Markdown reports and logs all get the same clean text. A leaf.

/// `text` on one line with every control character neutralised: line breaks
/// and tabs become spaces; other C0 controls and DEL become their visible
/// Control Pictures (ESC → `␛`), so an ANSI escape shows as text instead of
/// acting; C1 controls and bidirectional overrides become `�`.
pub fn clean(text: &str) -> String {
    if !text.chars().any(needs_cleaning) {
        return text.to_owned();
    }
    text.chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' | '\u{2028}' | '\u{2029}' | '\u{85}' => ' ',
            '\u{0}'..='\u{1f}' => char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}'),
            '\u{7f}' => '\u{2421}',
            _ if needs_cleaning(c) => '\u{fffd}',
            c => c,
        })
        .collect()
}

fn needs_cleaning(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{61c}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_line_breaks_cannot_act() {
        let hostile = "ok\u{1b}[2J\u{1b}]0;owned\u{7}\nSubject: fake\r\n\u{202e}gnp.exe\u{9b}31m";
        let clean = clean(hostile);
        assert!(!clean.chars().any(needs_cleaning), "{clean:?}");
        assert!(!clean.contains('\n') && !clean.contains('\u{1b}'));
        assert!(
            clean.contains("␛[2J"),
            "the escape shows as text: {clean:?}"
        );
        assert!(clean.contains("Subject: fake"), "the words stay: {clean:?}");
    }

    #[test]
    fn ordinary_text_is_unchanged() {
        for s in ["OOM at 512 MB → 768 MB", "日本語 ✓", ""] {
            assert_eq!(clean(s), s);
        }
    }
}
