//! Page requests as SQL `LIMIT`/`OFFSET` values.

use hookhaven_core::Page;

/// `(limit, offset)` for a page; no page means every row (`LIMIT NULL` is `LIMIT ALL`).
pub(super) fn limit_offset(page: Option<Page>) -> (Option<i64>, i64) {
    match page {
        None => (None, 0),
        Some(p) => (
            Some(i64::from(p.per_page)),
            i64::try_from(p.offset()).unwrap_or(i64::MAX),
        ),
    }
}

/// A `COUNT(*)` as the trait's `u64`.
pub(super) fn total(count: i64) -> u64 {
    u64::try_from(count).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_become_limit_and_offset() {
        assert_eq!(limit_offset(None), (None, 0));
        let p = Page {
            page: 2,
            per_page: 25,
        };
        assert_eq!(limit_offset(Some(p)), (Some(25), 50));
        let huge = Page {
            page: u32::MAX,
            per_page: u32::MAX,
        };
        assert!(limit_offset(Some(huge)).1 > 0);
    }
}
