//! Paging of lists (CONTRACT §3): `limit` (1–100, default 50) and an opaque `cursor`.

use super::error::ApiError;
use crate::store;

/// `limit` of CONTRACT §3: default 50, 1 to 100.
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
            store::decode_cursor(c)
                .and_then(|p| p.parse::<i64>().ok())
                .ok_or_else(|| ApiError::bad_request("cursor is not one this service issued; use next_cursor from the previous page."))
        })
        .transpose()
}
