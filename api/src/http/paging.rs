//! Paging of lists (docs/contract.md §3): `limit` (1–100, default 50) and an opaque `cursor`.

use super::error::ApiError;
use base64::Engine;

/// `limit` of docs/contract.md §3: default 50, 1 to 100.
pub fn page_limit(limit: Option<i64>) -> Result<u64, ApiError> {
    match limit {
        None => Ok(50),
        Some(n @ 1..=100) => Ok(n.unsigned_abs()),
        Some(_) => Err(ApiError::bad_request("limit must be from 1 to 100.")),
    }
}

/// The sequence position in a cursor this service issued; an empty cursor is the first page.
pub fn cursor_seq(cursor: Option<&str>) -> Result<Option<i64>, ApiError> {
    cursor
        .filter(|c| !c.is_empty())
        .map(|c| {
            decode_cursor(c)
                .and_then(|p| p.parse::<i64>().ok())
                .ok_or_else(|| ApiError::bad_request("cursor is not one this service issued; use next_cursor from the previous page."))
        })
        .transpose()
}

/// The code position in an authority-list cursor.
pub fn cursor_code(cursor: Option<&str>) -> Result<Option<String>, ApiError> {
    cursor
        .filter(|c| !c.is_empty())
        .map(|c| {
            decode_cursor(c)
                .ok_or_else(|| ApiError::bad_request("cursor is not one this service issued."))
        })
        .transpose()
}

/// Trims a page fetched with one row more than `limit` and returns the cursor for the next page
/// (the position of the last row kept), or `None` when this was the last page.
pub fn trim_page<T>(
    rows: &mut Vec<T>,
    limit: u64,
    position: impl Fn(&T) -> String,
) -> Option<String> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if rows.len() <= limit {
        return None;
    }
    rows.truncate(limit);
    rows.last().map(|r| encode_cursor(&position(r)))
}

/// Opaque cursor for a position (a sequence number or a code).
pub fn encode_cursor(position: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("c1:{position}"))
}

/// The position in a cursor, if it is one of ours.
pub fn decode_cursor(cursor: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    text.strip_prefix("c1:").map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_trimmed_to_its_limit_and_points_past_its_last_row() {
        let mut rows = vec![5, 4, 3];
        assert_eq!(
            trim_page(&mut rows, 2, |r| r.to_string()),
            Some(encode_cursor("4"))
        );
        assert_eq!(rows, vec![5, 4]);
        let mut rows = vec![5, 4];
        assert_eq!(trim_page(&mut rows, 2, |r| r.to_string()), None);
        assert_eq!(rows, vec![5, 4]);
    }

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        assert_eq!(decode_cursor(&encode_cursor("42")), Some("42".to_owned()));
        assert_eq!(decode_cursor("not-a-cursor!"), None);
        assert_eq!(
            decode_cursor(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("x:1")),
            None
        );
    }
}
