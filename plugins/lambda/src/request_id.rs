//! Lambda's request ids: UUIDs (8-4-4-4-12 hex digits), found in log lines
//! by their shape.

/// Whether `s` has the shape of a UUID.
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && [8, 13, 18, 23].iter().all(|&i| b[i] == b'-')
        && [&b[..8], &b[9..13], &b[14..18], &b[19..23], &b[24..]]
            .iter()
            .all(|group| group.iter().all(u8::is_ascii_hexdigit))
}

/// The UUID-shaped words in `line`, in order.
pub fn uuids_in(line: &str) -> impl Iterator<Item = &str> {
    let b = line.as_bytes();
    (0..b.len().saturating_sub(35))
        .filter(move |&i| b[i + 8] == b'-' && b[i + 13] == b'-' && b[i + 23] == b'-')
        .filter_map(move |i| line.get(i..i + 36))
        .filter(|w| is_uuid(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_told_from_look_alikes() {
        let id = "8f5e9a3c-1b2d-4c5e-9f70-123456789abc";
        assert!(is_uuid(id));
        assert!(is_uuid(&id.to_uppercase()));
        assert!(!is_uuid("8f5e9a3c-1b2d-4c5e-9f70-123456789abg"));
        assert!(!is_uuid("8f5e9a3c11b2d-4c5e-9f70-123456789abc"));
        assert!(!is_uuid("req-1"));
        assert!(!is_uuid(""));
        // Multi-byte text of the right length is no UUID (and no panic).
        assert!(!is_uuid(&"é".repeat(18)));
        assert_eq!(
            uuids_in(&format!("a {id}\tMemoryError, then {id}.")).collect::<Vec<_>>(),
            [id, id]
        );
        assert_eq!(uuids_in("no id here, é-ü").count(), 0);
        assert_eq!(uuids_in(&id[..35]).count(), 0);
    }
}
